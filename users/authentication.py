"""API token authentication: DRF's, with the token and its user read in one plain query.

The ORM compiles a `select_related` get afresh on every request, and on small requests (nearby, me) that
compilation cost more CPU than the query. The answers are DRF's own: 401 "Invalid token." for an unknown
key, "User inactive or deleted." for an inactive user. (Off PostgreSQL, in the embedded demo, the ORM
path is used as is: SQLite needs the ORM's value converters.)
"""

from __future__ import annotations

import functools

from django.db import connection
from django.utils.translation import gettext_lazy as _
from rest_framework import authentication, exceptions
from rest_framework.authtoken.models import Token

from users.models import User


@functools.cache
def _user_columns() -> tuple[str, ...]:
    return tuple(field.attname for field in User._meta.concrete_fields)


@functools.cache
def _token_sql() -> str:
    quote = connection.ops.quote_name
    columns = ", ".join(f"u.{quote(field.column)}" for field in User._meta.concrete_fields)
    return (
        f"SELECT {columns}, t.{quote('created')} FROM {quote(Token._meta.db_table)} t "  # noqa: S608
        f"JOIN {quote(User._meta.db_table)} u ON u.{quote('id')} = t.{quote('user_id')} "
        f"WHERE t.{quote('key')} = %s"
    )


class TokenAuthentication(authentication.TokenAuthentication):
    def authenticate_credentials(self, key):
        if connection.vendor != "postgresql":
            return super().authenticate_credentials(key)
        with connection.cursor() as cursor:
            cursor.execute(_token_sql(), [key])
            row = cursor.fetchone()
        if row is None:
            raise exceptions.AuthenticationFailed(_("Invalid token."))
        columns = _user_columns()
        user = User.from_db(connection.alias, columns, row[: len(columns)])
        if not user.is_active:
            raise exceptions.AuthenticationFailed(_("User inactive or deleted."))
        token = Token.from_db(connection.alias, ("key", "user_id", "created"), (key, user.pk, row[-1]))
        token.user = user
        return user, token
