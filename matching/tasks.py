"""Feature refresh and embedding tasks. Thin: the services do the work; these only route it through Celery.

All of them are idempotent (acks_late redelivers a task whose worker died): see matching.services.
"""

from __future__ import annotations

from celery import Task, chord, group, shared_task
from celery.exceptions import Retry
from django.db import IntegrityError, InterfaceError, OperationalError

from matching import services
from matching.experiments import services as experiment_services

#: Worth another try: a dropped connection or a failover, and a person deleted between being computed
#: and stored (the retry lists the people again). Anything else is a bug to see at once.
TRANSIENT_ERRORS = (OperationalError, InterfaceError, IntegrityError)
_RETRY = {"autoretry_for": TRANSIENT_ERRORS, "retry_backoff": 5, "retry_jitter": True, "max_retries": 3}


@shared_task(name="matching.tasks.features_refresh_person", **_RETRY)
def features_refresh_person(user_id: int) -> int:
    """Recompute one person's features as of now (scheduled, coalesced, by feature_refresh_schedule)."""
    return services.feature_refresh_person(user_id=user_id)


class _RunChunkTask(Task):
    def __call__(self, run_id: int, index: int) -> int:
        # Wraps the retrying body, so it sees only what the retries could not fix. Here rather than in
        # on_failure, which eager mode (the embedded demo) skips when it propagates the exception: the
        # chord's finish will never run, so the run itself must say that it failed and why.
        try:
            return super().__call__(run_id, index)
        except Retry:
            raise
        except Exception as exc:
            services.feature_refresh_run_fail(run_id=run_id, error=f"chunk {index}: {exc!r}")
            raise


@shared_task(name="matching.tasks.features_refresh_chunk", base=_RunChunkTask, **_RETRY)
def features_refresh_chunk(run_id: int, index: int) -> int:
    """Compute and store one chunk of a run; counts its progress once however often it is delivered."""
    return services.feature_refresh_chunk_compute(run_id=run_id, index=index)


@shared_task(name="matching.tasks.features_refresh_finish", **_RETRY)
def features_refresh_finish(run_id: int) -> str:
    """The chord's body: close the run once every chunk has reported."""
    return services.feature_refresh_run_finish(run_id=run_id).status


@shared_task(name="matching.tasks.features_refresh_all", bind=True, **_RETRY)
def features_refresh_all(
    self, run_id: int | None = None, chunk_size: int = services.FEATURE_CHUNK_SIZE
) -> int:
    """Refresh everyone: fan the run's unfinished chunks out as a chord. Returns the run id.

    Beat calls it without a run: it plans one as of now, keyed by this task's id so a redelivery reuses
    it. The chunks and the finish go wherever the app routes them (the default queue of the worker that
    runs this, unless task_routes says otherwise), so any worker can take any chunk. Never waits for
    them: a worker blocked on its own subtasks could deadlock the pool.
    """
    if run_id is None:
        run_id = services.feature_refresh_run_create(chunk_size=chunk_size, request_id=self.request.id).pk
    pending = services.feature_refresh_run_begin(run_id=run_id)
    if not pending:
        services.feature_refresh_run_finish(run_id=run_id)  # nobody to refresh, or already done
        return run_id
    chord(
        group(features_refresh_chunk.si(run_id, index) for index in pending),
        features_refresh_finish.si(run_id),
    ).apply_async()
    return run_id


@shared_task(name="matching.tasks.embeddings_encode_chunk", **_RETRY)
def embeddings_encode_chunk(model_version_id: int, first_user_id: int, end_user_id: int) -> int:
    """Encode and upsert the embeddings of one id range; the same rows whatever the number of deliveries."""
    return services.user_embeddings_encode_range(
        model_version_id=model_version_id, first_user_id=first_user_id, end_user_id=end_user_id
    )


@shared_task(name="matching.tasks.embeddings_encode_all", **_RETRY)
def embeddings_encode_all(model_version_id: int, chunk_size: int = services.EMBEDDING_CHUNK_SIZE) -> int:
    """Encode everyone with stored features under a model version: fan the id ranges out as a group, so
    any worker takes any chunk. Returns the number of chunks; never waits for them (see features_refresh_all).
    """
    ranges = services.user_embedding_chunks_plan(chunk_size=chunk_size)
    if ranges:
        group(embeddings_encode_chunk.si(model_version_id, first, end) for first, end in ranges).apply_async()
    return len(ranges)


@shared_task(name="matching.tasks.experiments_impressions_flush", **_RETRY)
def experiments_impressions_flush() -> int:
    """Move the experiments' impression counters from Redis into the database (beat, every minute)."""
    return experiment_services.experiment_impressions_flush()


# Tasks of matching's sub-packages: imported here so that Celery's autodiscovery (which imports
# `matching.tasks`) registers them. At the bottom: they import _RETRY from this module.
from matching.campaigns import tasks as campaign_tasks  # noqa: E402,F401
