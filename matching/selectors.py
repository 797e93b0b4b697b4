"""Reads for matching: stored feature vectors (one person's, or everyone's as a training matrix), the model
registry and the stored user embeddings."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from itertools import islice

import numpy as np
from django.db import connection

from matching.features import SCHEMA
from matching.features.sql import IdIn, int_array_literal
from matching.models import (
    STORED_DTYPE,
    STORED_GROUPS,
    FeatureRefreshRun,
    FeatureStoreError,
    FeatureVector,
    ModelVersion,
    UserEmbedding,
    group_vector_decode,
)

#: Rows decoded at a time by feature_matrix.
_EXPORT_BLOCK = 10_000


@dataclass(frozen=True)
class StoredFeatures:
    user_id: int
    schema_version: int
    as_of: datetime
    computed_at: datetime
    #: {group: float32 (dim,)} for the six groups, in schema order (contextual: the as-of snapshot).
    groups: dict[str, np.ndarray]


def _readable_version(schema_version: int | None) -> int:
    # Only the schema in the code can say what the bytes mean: older rows need the code of their time.
    version = SCHEMA.version if schema_version is None else schema_version
    if version != SCHEMA.version:
        raise FeatureStoreError(
            f"schema v{version} rows cannot be decoded by this code (schema v{SCHEMA.version}): "
            "recompute them"
        )
    return version


def feature_group_dims() -> dict[str, int]:
    """{group: dim} of the schema's groups, in schema order. The store's columns must match them."""
    groups = SCHEMA.groups.values() if isinstance(SCHEMA.groups, Mapping) else SCHEMA.groups
    dims = {group.name: group.dim for group in groups}
    if tuple(dims) != STORED_GROUPS:
        raise FeatureStoreError(
            f"schema v{SCHEMA.version} has the groups {list(dims)}, but FeatureVector has columns for "
            f"{list(STORED_GROUPS)}: add a migration for the new columns."
        )
    return dims


def feature_vector_get(*, user_id: int, schema_version: int | None = None) -> StoredFeatures | None:
    """The person's stored feature groups under the current schema, or None if none are stored yet."""
    version = _readable_version(schema_version)
    row = FeatureVector.objects.filter(user_id=user_id, schema_version=version).first()
    if row is None:
        return None
    return StoredFeatures(
        user_id=user_id,
        schema_version=version,
        as_of=row.as_of,
        computed_at=row.computed_at,
        groups={
            name: group_vector_decode(raw=getattr(row, name), dim=dim, user_id=user_id, group=name)
            for name, dim in feature_group_dims().items()
        },
    )


def feature_matrix(
    *,
    schema_version: int | None = None,
    groups: Sequence[str] | None = None,
    user_ids: Sequence[int] | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Stored features as a training matrix: (user ids int64 (n,), float32 (n, sum of group dims)).

    Rows are ordered by user id; columns are the requested groups (default: all six)
    concatenated in schema order, whatever order they were asked in. People without a stored row are
    absent. A row whose bytes disagree with the schema raises FeatureStoreError naming the person.
    """
    version = _readable_version(schema_version)
    dims = feature_group_dims()
    wanted = list(dims) if groups is None else [name for name in dims if name in set(groups)]
    unknown = set(groups or ()) - set(dims)
    if unknown:
        raise FeatureStoreError(f"unknown groups: {sorted(unknown)}; the schema has {list(dims)}")
    if not wanted:
        raise FeatureStoreError("ask for at least one group")

    rows = FeatureVector.objects.filter(schema_version=version)
    if user_ids is not None:
        rows = rows.filter(user_id__in=sorted(set(user_ids)))
    width = sum(dims[name] for name in wanted)
    id_blocks, blocks = [np.empty(0, dtype=np.int64)], [np.empty((0, width), dtype=np.float32)]
    # Streamed in blocks (a server-side cursor on PostgreSQL), each decoded at once: peak memory stays
    # near twice the matrix, instead of every row's bytes objects on top of it.
    stream = rows.order_by("user_id").values_list("user_id", *wanted).iterator(chunk_size=_EXPORT_BLOCK)
    while block := list(islice(stream, _EXPORT_BLOCK)):
        ids, *raw_columns = zip(*block, strict=True)
        id_blocks.append(np.asarray(ids, dtype=np.int64))
        blocks.append(
            np.concatenate(
                [
                    _decode_column(raws=raws, user_ids=ids, group=name, dim=dims[name])
                    for name, raws in zip(wanted, raw_columns, strict=True)
                ],
                axis=1,
            )
        )
    return np.concatenate(id_blocks), np.concatenate(blocks, axis=0)


def _decode_column(*, raws: tuple, user_ids: tuple, group: str, dim: int) -> np.ndarray:
    """(len(raws), dim) float32 from one group's stored bytes; the first wrong length raises."""
    expected = dim * STORED_DTYPE.itemsize
    for raw, user_id in zip(raws, user_ids, strict=True):
        if len(raw) != expected:
            group_vector_decode(raw=raw, dim=dim, user_id=user_id, group=group)  # raises, naming the person
    # All lengths checked: one join and one frombuffer for the block, no per-row arrays.
    matrix = np.frombuffer(b"".join(raws), dtype=STORED_DTYPE).reshape(len(raws), dim)
    return matrix.astype(np.float32, copy=False)


def feature_refresh_run_get(*, run_id: int) -> FeatureRefreshRun:
    """A run with its progress counters (`percent`), for polling."""
    return FeatureRefreshRun.objects.get(pk=run_id)


# Model registry and embeddings ------------------------------------------------------------------


def model_version_active(*, name: str) -> ModelVersion | None:
    """The active version of model `name` in the database, or None. Serving reads it through
    matching.serving.model_active, which caches the answer across requests."""
    return ModelVersion.objects.filter(name=name, status=ModelVersion.Status.ACTIVE).first()


def model_version_get(*, name: str, version: str) -> ModelVersion:
    return ModelVersion.objects.get(name=name, version=version)


def model_version_list(*, name: str) -> list[ModelVersion]:
    """Every registered version of model `name`, newest first."""
    return list(ModelVersion.objects.filter(name=name).order_by("-created_at", "-pk"))


def user_embedding_matrix(
    *, model_version_id: int, user_ids: Sequence[int] | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """Stored embeddings of a model version: (user ids int64 (n,), float32 (n, d)), ordered by user id.

    People without a row are absent. Rows of different lengths (a corrupted store) raise FeatureStoreError.
    """
    ids: list[int] = []
    raws: list[bytes] = []
    if user_ids is None:
        # Everyone: streamed through a server-side cursor.
        rows = (
            UserEmbedding.objects.filter(model_version_id=model_version_id)
            .order_by("user_id")
            .values_list("user_id", "vector")
            .iterator(chunk_size=_EXPORT_BLOCK)
        )
    else:
        # A given list (nearby, invitations) is bounded and on the request path: one plain round trip, and
        # the ids as one array parameter, so the statement stays short and the driver caches its parsing
        # (an IN list of 300 placeholders is re-parsed on every call).
        table = connection.ops.quote_name(UserEmbedding._meta.db_table)
        wanted = sorted({int(user_id) for user_id in user_ids})
        with connection.cursor() as cursor:
            if connection.vendor == "postgresql":
                cursor.execute(
                    f"SELECT user_id, vector FROM {table} "  # noqa: S608
                    "WHERE model_version_id = %s AND user_id = ANY(%s::bigint[]) ORDER BY user_id",
                    [model_version_id, int_array_literal(wanted)],
                )
                rows = cursor.fetchall()
            else:
                # One parameter however many ids (SQLite caps bound variables).
                rows = list(
                    UserEmbedding.objects.filter(
                        IdIn("user_id", ids=wanted), model_version_id=model_version_id
                    )
                    .order_by("user_id")
                    .values_list("user_id", "vector")
                )
    for user_id, raw in rows:
        ids.append(user_id)
        raws.append(bytes(raw))
    if not raws:
        return np.empty(0, dtype=np.int64), np.empty((0, 0), dtype=np.float32)
    width = len(raws[0])
    bad = next((user_id for user_id, raw in zip(ids, raws, strict=True) if len(raw) != width), None)
    if bad is not None or width % STORED_DTYPE.itemsize:
        raise FeatureStoreError(
            f"model version {model_version_id}: stored embeddings differ in length (user {bad}); re-encode"
        )
    matrix = np.frombuffer(b"".join(raws), dtype=STORED_DTYPE).reshape(len(raws), width // 4)
    return np.asarray(ids, dtype=np.int64), matrix.astype(np.float32)
