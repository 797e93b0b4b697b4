"""Writes for matching: the feature store, coalesced per-person refreshes and full-refresh runs; the model
registry, stored user embeddings and cached seed summaries.

Features come from `matching.features.features_as_of`, which is set-based (a constant number of queries
per call), so everything here works on batches of people, never one query per person.
"""

from __future__ import annotations

import logging
import shutil
from collections.abc import Callable, Iterable, Mapping, Sequence
from datetime import datetime

import numpy as np
import torch
from django.conf import settings
from django.core.cache import cache
from django.db import connection, transaction
from django.db.models import Count, F, Max, Window
from django.db.models.functions import Mod, RowNumber
from django.utils import timezone

from matching import seed_cache, serving
from matching.features import SCHEMA, FeatureBatch, features_as_of
from matching.models import (
    STORED_DTYPE,
    STORED_GROUPS,
    FeatureRefreshChunk,
    FeatureRefreshRun,
    FeatureStoreError,
    FeatureVector,
    ModelVersion,
    UserEmbedding,
)
from matching.selectors import feature_group_dims, feature_matrix, user_embedding_matrix
from ml.ralm import LookalikeModel, SeedSummary, UserRepresentationModel, load_model, save_model
from ml.ralm.evaluation import EVALUATION_FEATURE_SCHEMA_VERSION
from users.models import User

logger = logging.getLogger(__name__)

#: People per features_as_of call (and per chunk of a full refresh): large enough that the per-call
#: queries are amortised, small enough that a chunk's arrays stay a few MB.
FEATURE_CHUNK_SIZE = 2000
#: The coalescing gate outlives the scheduled refresh by this much, so a healthy but busy queue still
#: coalesces, while a refresh lost with its message (broker restart) blocks new ones for at most this long.
FEATURE_REFRESH_GATE_GRACE_SECONDS = 15 * 60
#: Bound parameters per upsert statement: under SQLite's 32,766 and PostgreSQL's 65,535.
_MAX_STATEMENT_PARAMS = 30_000


# The store --------------------------------------------------------------------------------------


def _batch_check(*, batch: FeatureBatch) -> np.ndarray:
    if batch.schema_version != SCHEMA.version:
        raise FeatureStoreError(
            f"the batch was computed with schema v{batch.schema_version}, the code defines v{SCHEMA.version}"
        )
    user_ids = np.asarray(batch.user_ids)
    if user_ids.ndim != 1 or user_ids.dtype.kind not in "iu":
        raise FeatureStoreError(
            f"user_ids must be a 1-d integer array, got {user_ids.dtype} {user_ids.shape}"
        )
    if len(np.unique(user_ids)) != len(user_ids):
        raise FeatureStoreError("user_ids repeat a person: one upsert cannot write a row twice")
    if timezone.is_naive(batch.as_of):
        raise FeatureStoreError("as_of must be an aware datetime")
    for name, dim in feature_group_dims().items():
        matrix = batch.groups.get(name)
        if matrix is None:
            raise FeatureStoreError(f"the batch has no {name!r} group")
        if matrix.shape != (len(user_ids), dim):
            raise FeatureStoreError(
                f"the {name!r} group has shape {matrix.shape}; schema v{SCHEMA.version} needs "
                f"({len(user_ids)}, {dim})"
            )
        if not np.isfinite(matrix).all():
            # The schema has an explicit value for missing data; NaN or inf here is a bug upstream.
            raise FeatureStoreError(f"the {name!r} group contains NaN or infinite values")
    return user_ids


def _upsert_sql(*, rows: int) -> str:
    quote = connection.ops.quote_name
    table = quote(FeatureVector._meta.db_table)
    columns = ", ".join(
        quote(c) for c in ["user_id", "schema_version", *STORED_GROUPS, "as_of", "computed_at"]
    )
    values = ", ".join(["(" + ", ".join(["%s"] * (len(STORED_GROUPS) + 4)) + ")"] * rows)
    updates = ", ".join(f"{quote(c)} = EXCLUDED.{quote(c)}" for c in [*STORED_GROUPS, "as_of", "computed_at"])
    # A slow chunk of a nightly run must not overwrite a fresher per-person refresh; an equal as_of
    # rewrites the row (the same bytes), which is what makes a retry idempotent.
    fresher = f"{table}.{quote('as_of')} <= EXCLUDED.{quote('as_of')}"
    conflict = f"{quote('user_id')}, {quote('schema_version')}"
    # Only quoted identifiers and placeholders are interpolated; every value is a bound parameter.
    sql = f"INSERT INTO {table} ({columns}) VALUES {values} ON CONFLICT ({conflict}) DO UPDATE SET {updates}"  # noqa: S608
    return f"{sql} WHERE {fresher}"


@transaction.atomic
def feature_vectors_store(*, batch: FeatureBatch) -> int:
    """Upsert the batch's six groups, one row per (person, schema version). Returns rows written.

    One INSERT ... ON CONFLICT DO UPDATE per batch (split only past the database's parameter limit).
    Idempotent: storing the same batch again leaves the same vectors and as_of. A row with a later
    as_of than the batch's is kept as it is. The batch is checked against the schema first: wrong
    shapes or non-finite values raise FeatureStoreError and nothing is written.
    """
    user_ids = _batch_check(batch=batch)
    if len(user_ids) == 0:
        return 0
    # Rows in user-id order: two transactions upserting overlapping people then lock rows in the same
    # order and cannot deadlock.
    order = np.argsort(user_ids, kind="stable")
    user_ids = user_ids[order]
    fields = {field.name: field for field in FeatureVector._meta.concrete_fields}
    encoded = {
        name: [row.tobytes() for row in np.ascontiguousarray(batch.groups[name][order], dtype=STORED_DTYPE)]
        for name in STORED_GROUPS
    }
    as_of = fields["as_of"].get_db_prep_save(batch.as_of, connection)
    computed_at = fields["computed_at"].get_db_prep_save(timezone.now(), connection)
    binary = fields[STORED_GROUPS[0]]
    params_per_row = 2 + len(STORED_GROUPS) + 2
    rows_per_statement = _MAX_STATEMENT_PARAMS // params_per_row
    written = 0
    with connection.cursor() as cursor:
        for start in range(0, len(user_ids), rows_per_statement):
            stop = min(start + rows_per_statement, len(user_ids))
            params: list = []
            for i in range(start, stop):
                params += [int(user_ids[i]), batch.schema_version]
                params += [binary.get_db_prep_save(encoded[name][i], connection) for name in STORED_GROUPS]
                params += [as_of, computed_at]
            cursor.execute(_upsert_sql(rows=stop - start), params)
            written += max(cursor.rowcount, 0)
    return written


def _features_of_existing(*, user_ids: list[int], at: datetime) -> FeatureBatch | None:
    """features_as_of for these people, skipping any whose account was deleted since they were listed."""
    try:
        return features_as_of(user_ids=user_ids, at=at)
    except ValueError:
        # features_as_of refuses ids with no user. A deletion during a nightly run must not fail the
        # chunk; anything else (the same people still there) is a real error and is raised.
        existing = list(User.objects.filter(pk__in=user_ids).order_by("pk").values_list("pk", flat=True))
        if len(existing) == len(user_ids):
            raise
        return features_as_of(user_ids=existing, at=at) if existing else None


def feature_refresh_people(
    *, user_ids: Sequence[int], at: datetime, chunk_size: int = FEATURE_CHUNK_SIZE
) -> int:
    """Compute these people's features as of `at` and store them, chunk_size people per batch."""
    ids = sorted(set(user_ids))
    written = 0
    for start in range(0, len(ids), chunk_size):
        batch = _features_of_existing(user_ids=ids[start : start + chunk_size], at=at)
        written += feature_vectors_store(batch=batch) if batch is not None else 0
        _embeddings_follow_features(user_ids=ids[start : start + chunk_size])
    return written


def _embeddings_follow_features(*, user_ids: Sequence[int]) -> None:
    # The features are stored whatever happens here; a model that cannot be served is the registry's
    # problem (activation refuses one), and the nightly refresh re-encodes everyone anyway.
    try:
        user_embeddings_refresh_active(user_ids=user_ids)
    except serving.ModelArtefactError:
        logger.exception("could not re-encode %d people under the active RALM", len(user_ids))


# Coalesced per-person refresh -------------------------------------------------------------------


def feature_refresh_gate_key(*, user_id: int) -> str:
    return f"features:pending:{user_id}"


def feature_refresh_schedule(*, user_ids: Iterable[int]) -> list[int]:
    """Schedule a refresh for each person unless one is already pending. Returns those scheduled.

    The gate is a cache key added atomically (SET NX): the first event of a burst adds it and enqueues
    the refresh with a countdown of VICINO_FEATURE_REFRESH_DELAY_SECONDS; later events find it and do
    nothing. The refresh deletes the gate before it reads anything, so an event committed after that
    schedules a new refresh and is never lost.
    """
    from matching.tasks import features_refresh_person  # tasks import this module

    delay = settings.VICINO_FEATURE_REFRESH_DELAY_SECONDS
    scheduled = []
    for user_id in sorted(set(user_ids)):
        key = feature_refresh_gate_key(user_id=user_id)
        if not cache.add(key, 1, timeout=delay + FEATURE_REFRESH_GATE_GRACE_SECONDS):
            continue
        try:
            features_refresh_person.apply_async(args=[user_id], countdown=delay)
        except Exception:
            cache.delete(key)  # nothing is pending after all: let the next event try again
            raise
        scheduled.append(user_id)
    return scheduled


def feature_refresh_person(*, user_id: int, at: datetime | None = None) -> int:
    """Recompute one person's features as of now (or `at`) and store them. Returns rows written (0/1)."""
    # Open the gate before reading: events committed from here on schedule their own refresh.
    cache.delete(feature_refresh_gate_key(user_id=user_id))
    if not User.objects.filter(pk=user_id).exists():
        return 0  # deleted since the event; the row went with them (CASCADE)
    return feature_refresh_people(user_ids=[user_id], at=at or timezone.now())


# Full refresh runs ------------------------------------------------------------------------------


def _people():
    # Deactivated accounts are never ranked or exported, so they are not worth computing.
    return User.objects.filter(is_active=True)


@transaction.atomic
def feature_refresh_run_create(
    *, at: datetime | None = None, chunk_size: int = FEATURE_CHUNK_SIZE, request_id: str | None = None
) -> FeatureRefreshRun:
    """Plan a full refresh as of `at`: the run and its chunks, each a range of user ids.

    Chunks are ranges [first_user_id, end_user_id) cut at every chunk_size-th active person, so each
    holds chunk_size people (the last the rest) however sparse the ids are, and a task message carries
    only (run id, chunk index). The cut points come from one window query: memory grows with the number
    of chunks, not people. With a request_id (a Celery task id), a second call returns the first run.
    """
    if chunk_size < 1:
        raise ValueError("chunk_size must be at least 1")
    at = at or timezone.now()
    if timezone.is_naive(at):
        raise ValueError("at must be an aware datetime")
    if request_id is not None:
        existing = FeatureRefreshRun.objects.filter(request_id=request_id).first()
        if existing is not None:
            return existing

    # One query, one snapshot: the cut points, the head count and the last id cannot disagree.
    plan = list(
        _people()
        .annotate(
            position=Window(RowNumber(), order_by=F("pk").asc()),
            total=Window(Count("pk")),
            last_id=Window(Max("pk")),
        )
        .annotate(slot=Mod(F("position") - 1, chunk_size))
        .filter(slot=0)
        .order_by("pk")
        .values_list("pk", "total", "last_id")
    )
    cuts = [pk for pk, _total, _last in plan]
    total, last_id = plan[0][1:] if plan else (0, None)
    run = FeatureRefreshRun.objects.create(
        as_of=at,
        schema_version=SCHEMA.version,
        chunk_size=chunk_size,
        total_people=total,
        total_chunks=len(cuts),
        request_id=request_id,
    )
    ends = [*cuts[1:], last_id + 1] if cuts else []
    FeatureRefreshChunk.objects.bulk_create(
        FeatureRefreshChunk(
            run=run,
            index=index,
            first_user_id=first,
            end_user_id=end,
            people=min(chunk_size, total - index * chunk_size),
        )
        for index, (first, end) in enumerate(zip(cuts, ends, strict=True))
    )
    return run


@transaction.atomic
def feature_refresh_run_begin(*, run_id: int) -> list[int]:
    """Mark the run running and return the indexes of its chunks still to do.

    Calling it again (a redelivered fan-out, or resuming a failed run) returns only the unfinished
    chunks, so the work already counted is not redone.
    """
    run = FeatureRefreshRun.objects.select_for_update().get(pk=run_id)
    if run.status == FeatureRefreshRun.Status.SUCCEEDED:
        return []
    if run.schema_version != SCHEMA.version:
        raise FeatureStoreError(
            f"run {run_id} was planned for schema v{run.schema_version}, code is v{SCHEMA.version}"
        )
    run.status = FeatureRefreshRun.Status.RUNNING
    run.started_at = run.started_at or timezone.now()
    run.finished_at = None
    run.error = ""
    run.save(update_fields=["status", "started_at", "finished_at", "error"])
    return list(run.chunks.filter(finished_at__isnull=True).order_by("index").values_list("index", flat=True))


def feature_refresh_chunk_compute(*, run_id: int, index: int) -> int:
    """Compute and store one chunk of a run, then count it. Returns the rows written.

    Safe to run twice (acks_late redelivers a chunk whose worker died): the rows are rewritten with the
    same as_of, and the progress is added only by the attempt that flips finished_at from NULL, in the
    same transaction as the store, so it is counted exactly once.
    """
    chunk = FeatureRefreshChunk.objects.select_related("run").get(run_id=run_id, index=index)
    FeatureRefreshChunk.objects.filter(pk=chunk.pk).update(attempts=F("attempts") + 1)
    user_ids = list(
        _people()
        .filter(pk__gte=chunk.first_user_id, pk__lt=chunk.end_user_id)
        .order_by("pk")
        .values_list("pk", flat=True)
    )
    batch = _features_of_existing(user_ids=user_ids, at=chunk.run.as_of) if user_ids else None
    with transaction.atomic():
        stored = feature_vectors_store(batch=batch) if batch is not None else 0
        claimed = FeatureRefreshChunk.objects.filter(pk=chunk.pk, finished_at__isnull=True).update(
            finished_at=timezone.now(), stored=stored
        )
        if claimed:
            # Last in the transaction: every chunk updates this one row, so hold its lock briefly.
            FeatureRefreshRun.objects.filter(pk=run_id).update(
                done_chunks=F("done_chunks") + 1, done_people=F("done_people") + chunk.people
            )
    if user_ids:
        _embeddings_follow_features(user_ids=user_ids)
    return stored


@transaction.atomic
def feature_refresh_run_finish(*, run_id: int) -> FeatureRefreshRun:
    """Close the run: succeeded when every chunk is counted, else failed naming the missing ones."""
    run = FeatureRefreshRun.objects.select_for_update().get(pk=run_id)
    if run.status in (FeatureRefreshRun.Status.SUCCEEDED, FeatureRefreshRun.Status.FAILED):
        return run
    missing = list(run.chunks.filter(finished_at__isnull=True).values_list("index", flat=True)[:20])
    run.finished_at = timezone.now()
    if missing or run.done_chunks != run.total_chunks:
        run.status = FeatureRefreshRun.Status.FAILED
        run.error = f"chunks not finished: {missing}"
    else:
        run.status = FeatureRefreshRun.Status.SUCCEEDED
    run.save(update_fields=["status", "finished_at", "error"])
    return run


@transaction.atomic
def feature_refresh_run_fail(*, run_id: int, error: str) -> None:
    """Record that a chunk gave up; the chunks already done stay counted and a resume skips them."""
    FeatureRefreshRun.objects.filter(pk=run_id).exclude(status=FeatureRefreshRun.Status.SUCCEEDED).update(
        status=FeatureRefreshRun.Status.FAILED, finished_at=timezone.now(), error=error[:2000]
    )


def feature_refresh_run_start(
    *, at: datetime | None = None, chunk_size: int = FEATURE_CHUNK_SIZE
) -> FeatureRefreshRun:
    """Plan a full refresh and hand it to the workers once the plan is committed; poll the run's progress."""
    from matching.tasks import features_refresh_all  # tasks import this module

    with transaction.atomic():
        run = feature_refresh_run_create(at=at, chunk_size=chunk_size)
        transaction.on_commit(lambda: features_refresh_all.apply_async(kwargs={"run_id": run.pk}))
    return run


def feature_refresh_run_execute(
    *, run_id: int, on_chunk: Callable[[FeatureRefreshChunk], None] | None = None
) -> FeatureRefreshRun:
    """Run a planned refresh here, chunk by chunk, with the same services the Celery tasks use."""
    for index in feature_refresh_run_begin(run_id=run_id):
        try:
            feature_refresh_chunk_compute(run_id=run_id, index=index)
        except Exception as exc:
            feature_refresh_run_fail(run_id=run_id, error=f"chunk {index}: {exc!r}")
            raise
        if on_chunk is not None:
            on_chunk(FeatureRefreshChunk.objects.get(run_id=run_id, index=index))
    return feature_refresh_run_finish(run_id=run_id)


# Model registry ---------------------------------------------------------------------------------


def model_version_register(
    *, name: str, version: str, artefact_path: str, metrics: dict, feature_schema_version: int
) -> ModelVersion:
    """Register a trained artefact as a candidate. The artefact must exist and be loadable now: a registry
    row pointing at nothing, or at files for other features, would only fail later, at activation."""
    model_version = ModelVersion(
        name=name,
        version=version,
        artefact_path=artefact_path,
        metrics=metrics,
        feature_schema_version=feature_schema_version,
    )
    model_version.full_clean(validate_constraints=False)
    serving.model_artefact_load(model_version=model_version)  # the kind comes from the name
    model_version.save()
    return model_version


@transaction.atomic
def model_version_activate(*, name: str, version: str) -> ModelVersion:
    """Make `version` the one served for `name`, retiring the previous active one, in one transaction.

    Every process switches to it on its next request once the transaction commits (matching.serving).
    Raises ModelArtefactError, leaving the registry as it was, if the version cannot be served.
    """
    # Lock every version of the name: two concurrent activations serialise here instead of tripping the
    # one-active constraint.
    versions = {row.version: row for row in ModelVersion.objects.select_for_update().filter(name=name)}
    if version not in versions:
        raise ModelVersion.DoesNotExist(f"no model {name!r} version {version!r}")
    target = versions[version]
    # Refuses a schema mismatch or broken files, and loads the version here.
    loaded = serving.model_loaded(model_version=target)
    if target.status == ModelVersion.Status.ACTIVE:
        transaction.on_commit(lambda: serving.active_version_publish(model_version=target))
        return target
    ModelVersion.objects.filter(name=name, status=ModelVersion.Status.ACTIVE).update(
        status=ModelVersion.Status.RETIRED
    )
    target.status = ModelVersion.Status.ACTIVE
    target.activated_at = timezone.now()
    target.save(update_fields=["status", "activated_at"])
    transaction.on_commit(lambda: serving.active_version_publish(model_version=target))
    if isinstance(loaded, serving.LoadedRalm):  # only RALM serves from stored embeddings
        transaction.on_commit(lambda: _embeddings_encode_if_missing(model_version=target))
    logger.info("model %s %s activated", name, version)
    return target


def _embeddings_encode_if_missing(*, model_version: ModelVersion) -> None:
    """A version activated before anyone was encoded under it (train_ralm without --encode, or an
    activation from the admin) gets everyone encoded by the workers, so it does not serve from nothing."""
    from matching.tasks import embeddings_encode_all  # tasks import this module

    if not UserEmbedding.objects.filter(model_version=model_version).exists():
        embeddings_encode_all.delay(model_version.pk)


# User embeddings --------------------------------------------------------------------------------

#: People per encoding chunk: one feature_matrix read, one tower forward pass and one upsert.
EMBEDDING_CHUNK_SIZE = 5000


def user_embedding_chunks_plan(*, chunk_size: int = EMBEDDING_CHUNK_SIZE) -> list[tuple[int, int]]:
    """[first_user_id, end_user_id) ranges, chunk_size people with stored features each, covering all."""
    if chunk_size < 1:
        raise ValueError("chunk_size must be at least 1")
    ids = np.fromiter(
        FeatureVector.objects.filter(schema_version=SCHEMA.version)
        .order_by("user_id")
        .values_list("user_id", flat=True)
        .iterator(chunk_size=10_000),
        dtype=np.int64,
    )
    if ids.shape[0] == 0:
        return []
    cuts = ids[::chunk_size].tolist()
    return list(zip(cuts, [*cuts[1:], int(ids[-1]) + 1], strict=True))


def user_embeddings_encode_range(*, model_version_id: int, first_user_id: int, end_user_id: int) -> int:
    """Encode everyone with stored features and first_user_id <= id < end_user_id, and upsert their rows.

    Idempotent: a redelivered chunk rewrites the same rows (same features → same vectors).
    Returns the rows written.
    """
    return _embeddings_encode(
        model_version=ModelVersion.objects.get(pk=model_version_id),
        rows=FeatureVector.objects.filter(
            schema_version=SCHEMA.version, user_id__gte=first_user_id, user_id__lt=end_user_id
        ),
    )


def user_embeddings_encode_people(*, model_version: ModelVersion, user_ids: Sequence[int]) -> int:
    """Encode these people (those with stored features) under a version and upsert their rows."""
    return _embeddings_encode(
        model_version=model_version,
        rows=FeatureVector.objects.filter(schema_version=SCHEMA.version, user_id__in=sorted(set(user_ids))),
    )


def user_embeddings_refresh_active(*, user_ids: Sequence[int]) -> int:
    """Re-encode these people under the active RALM, if one is active: called right after their features
    were stored, so the embeddings nearby, invitations and campaigns read never lag their features."""
    model = serving.ralm_active()
    if model is None or not user_ids:
        return 0
    return user_embeddings_encode_people(
        model_version=ModelVersion.objects.get(pk=model.model_version_id), user_ids=user_ids
    )


def _embeddings_encode(*, model_version: ModelVersion, rows) -> int:
    model = serving.ralm_loaded(model_version=model_version)
    model_version_id = model_version.pk
    as_of = dict(rows.values_list("user_id", "as_of"))
    if not as_of:
        return 0
    user_ids, matrix = feature_matrix(user_ids=sorted(as_of))
    vectors = serving.user_embeddings_encode(user_tower=model.user_tower, matrix=matrix)
    encoded = vectors.astype(STORED_DTYPE)
    now = timezone.now()
    UserEmbedding.objects.bulk_create(
        [
            UserEmbedding(
                user_id=int(user_id),
                model_version_id=model_version_id,
                vector=encoded[row].tobytes(),
                features_as_of=as_of[int(user_id)],
                computed_at=now,
            )
            for row, user_id in enumerate(user_ids)
        ],
        update_conflicts=True,
        unique_fields=["model_version", "user"],
        update_fields=["vector", "features_as_of", "computed_at"],
        batch_size=2000,
    )
    transaction.on_commit(lambda: serving.embedding_revision_bump(model_version_id=model_version_id))
    return len(user_ids)


def user_embeddings_encode_all(
    *,
    model_version_id: int,
    chunk_size: int = EMBEDDING_CHUNK_SIZE,
    on_chunk: Callable[[int], None] | None = None,
) -> int:
    """Encode everyone here, chunk by chunk, with the service the Celery chunks use. Returns rows written."""
    written = 0
    for first, end in user_embedding_chunks_plan(chunk_size=chunk_size):
        stored = user_embeddings_encode_range(
            model_version_id=model_version_id, first_user_id=first, end_user_id=end
        )
        written += stored
        if on_chunk is not None:
            on_chunk(stored)
    return written


# Seed summaries ---------------------------------------------------------------------------------


class SeedSetError(ValueError):
    """A seed set that cannot be summarised: none of its people has an embedding or features."""


def seed_summary_get(
    *,
    model_version: ModelVersion,
    seed_user_ids: Sequence[int],
    known_embeddings: Mapping[int, np.ndarray] | None = None,
) -> SeedSummary:
    """The seed set's RALM summary (global vector, k-means centroids, weights) under a model version.

    Read from Redis when another request computed it (see matching.seed_cache), else computed and cached:
    seeds are taken from `known_embeddings` (stored embeddings the caller has already read), else from
    their stored embeddings, or encoded from their stored features when they have no embedding yet;
    seeds with neither are left out.
    """
    key = seed_cache.seed_summary_key(
        model_version_id=model_version.pk,
        name=model_version.name,
        version=model_version.version,
        seed_user_ids=seed_user_ids,
    )
    cached = seed_cache.seed_summary_cached(key=key)
    if cached is not None:
        return cached
    model = serving.ralm_loaded(model_version=model_version)
    wanted = sorted({int(user_id) for user_id in seed_user_ids})
    stored = {user_id: vector for user_id, vector in (known_embeddings or {}).items() if user_id in wanted}
    unknown = [user_id for user_id in wanted if user_id not in stored]
    if unknown:
        ids, vectors = user_embedding_matrix(model_version_id=model_version.pk, user_ids=unknown)
        stored.update(zip(ids.tolist(), vectors, strict=True))
    # Stored embeddings in user id order, whoever read them: k-means starts from the seeds' order.
    parts = [np.stack([stored[user_id] for user_id in sorted(stored)])] if stored else []
    missing = [user_id for user_id in wanted if user_id not in stored]
    if missing:
        _ids, matrix = feature_matrix(user_ids=missing)
        if matrix.shape[0]:
            parts.append(serving.user_embeddings_encode(user_tower=model.user_tower, matrix=matrix))
    if not parts:
        raise SeedSetError(f"none of the {len(wanted)} seeds has an embedding or stored features")
    seeds = torch.from_numpy(np.concatenate(parts, axis=0))
    summary = model.lookalike.summarise_seeds(seeds)
    seed_cache.seed_summary_cache(key=key, summary=summary)
    return summary


# Offline evaluations ----------------------------------------------------------------------------

#: Registry names of offline evaluations start with this, so they never share a name with a served model.
EVALUATION_NAME_PREFIX = "ralm-eval-"


def ralm_evaluation_register(
    *,
    name: str,
    version: str,
    metrics: dict,
    user_tower: UserRepresentationModel,
    lookalike: LookalikeModel,
    feature_signature: str,
) -> ModelVersion:
    """Record an offline evaluation (`manage.py evaluate_ralm`) in the model registry, with its models.

    Its models read fields computed from a check-in file, not the app's feature schema, so the row carries
    feature_schema_version EVALUATION_FEATURE_SCHEMA_VERSION (0; the app's versions start at 1): serving's
    schema check (`serving.ralm_artefact_load`) refuses to activate or load it, as it would any model
    trained on other features. The name must start with EVALUATION_NAME_PREFIX. The artefacts are written
    under VICINO_MODEL_DIR/<name>/<version>/ with that version and signature in their headers, and read
    back before the row is saved.
    """
    if not name.startswith(EVALUATION_NAME_PREFIX):
        raise ValueError(f"evaluation names start with {EVALUATION_NAME_PREFIX!r}, got {name!r}")
    artefact_path = f"{name}/{version}"
    model_version = ModelVersion(
        name=name,
        version=version,
        artefact_path=artefact_path,
        metrics=metrics,
        feature_schema_version=EVALUATION_FEATURE_SCHEMA_VERSION,
    )
    model_version.full_clean(validate_constraints=False)
    if ModelVersion.objects.filter(name=name, version=version).exists():
        raise ValueError(f"{name} {version} is already registered")
    directory = serving.artefact_directory(artefact_path=artefact_path)
    if directory.exists():
        raise ValueError(f"{directory} already exists")
    directory.mkdir(parents=True)
    try:
        for model, filename in ((user_tower, serving.USER_TOWER_FILE), (lookalike, serving.LOOKALIKE_FILE)):
            save_model(
                model,
                directory / filename,
                feature_schema_version=EVALUATION_FEATURE_SCHEMA_VERSION,
                feature_schema_signature=feature_signature,
            )
            load_model(
                directory / filename,
                feature_schema_version=EVALUATION_FEATURE_SCHEMA_VERSION,
                feature_schema_signature=feature_signature,
            )
        model_version.save()
    except Exception:
        shutil.rmtree(directory, ignore_errors=True)  # nothing registered: leave no orphan files
        raise
    return model_version
