"""SQL expressions the feature computation needs on both PostgreSQL and the embedded SQLite."""

from __future__ import annotations

import json
from collections.abc import Sequence

from django.db import NotSupportedError
from django.db.models import BigIntegerField, BooleanField, Case, Func


class EpochMicroseconds(Func):
    """A datetime column as integer microseconds since the Unix epoch (NULL stays NULL).

    Why not fetch datetimes: Django's PostgreSQL loader parses every timestamptz in Python (~10 µs a
    value), which dominated the feature computation; an integer loads in C. Integers also keep window
    edges exact (float seconds would not round-trip microseconds).
    """

    arity = 1
    output_field = BigIntegerField()

    def get_db_converters(self, connection):
        # Both backends already return int (or None): skipping the per-row int() matters at 100k rows.
        return []

    def as_sql(self, compiler, connection, **extra_context):
        raise NotSupportedError(f"EpochMicroseconds supports PostgreSQL and SQLite, not {connection.vendor}")

    def as_postgresql(self, compiler, connection, **extra_context):
        # EXTRACT(EPOCH …) is numeric (exact to the microsecond) since PostgreSQL 14.
        sql, params = compiler.compile(self.source_expressions[0])
        return f"(EXTRACT(EPOCH FROM {sql}) * 1000000)::bigint", params

    def as_sqlite(self, compiler, connection, **extra_context):
        # Django stores 'YYYY-MM-DD HH:MM:SS[.ffffff]' in UTC. Whole seconds from the first 19 characters
        # (strftime would round a fraction to milliseconds, and .9996 into the next second), then the
        # microseconds, padded to six digits when absent.
        sql, params = compiler.compile(self.source_expressions[0])
        return (
            f"(CAST(strftime(%s, substr({sql}, 1, 19)) AS INTEGER) * 1000000"
            f" + CAST(substr({sql} || '000000', 21, 6) AS INTEGER))",
            ("%s", *params, *params),
        )


def int_array_literal(values: Sequence[int]) -> str:
    """PostgreSQL's text form of an int array, for `= ANY(%s::bigint[])`: the driver passes one string,
    where it would adapt a Python list element by element (~10x slower for a few hundred ids)."""
    return "{" + ",".join(str(int(value)) for value in values) + "}"


class IdIn(Func):
    """`column IN (ids)` bound as ONE parameter: an array on PostgreSQL, a JSON list on SQLite.

    Why not `__in`: a 2,000-id IN list costs Django a prepared value per id and psycopg a parse of a
    12 kB query string each time, and on SQLite it would meet the bound-variable limit; one parameter does
    neither. Usable in filter() like a lookup: `.filter(IdIn("user_id", ids=ids))`.
    """

    arity = 1
    conditional = True
    output_field = BooleanField()

    def __init__(self, expression, *, ids: Sequence[int]) -> None:
        super().__init__(expression)
        self.ids = [int(value) for value in ids]

    def get_db_converters(self, connection):
        return []

    def as_sql(self, compiler, connection, **extra_context):
        raise NotSupportedError(f"IdIn supports PostgreSQL and SQLite, not {connection.vendor}")

    def as_postgresql(self, compiler, connection, **extra_context):
        sql, params = compiler.compile(self.source_expressions[0])
        return f"{sql} = ANY(%s::bigint[])", (*params, int_array_literal(self.ids))

    def as_sqlite(self, compiler, connection, **extra_context):
        sql, params = compiler.compile(self.source_expressions[0])
        # `sql` is a compiled column reference; the ids travel as a bound parameter.
        return f"{sql} IN (SELECT value FROM json_each(%s))", (*params, json.dumps(self.ids))  # noqa: S608


class IntegerCase(Case):
    """A CASE that yields integers the database already returns as int: no per-row conversion in Python."""

    def get_db_converters(self, connection):
        return []
