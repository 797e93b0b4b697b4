"""Campaign build tasks. Thin: matching.campaigns.services does the work; these route it through Celery.

Imported by matching.tasks, so Celery's autodiscovery (which imports `<app>.tasks`) registers them.
Every task is idempotent: acks_late redelivers the task of a worker that died, and a resume re-dispatches
whatever did not finish.
"""

from __future__ import annotations

from celery import Task, chord, group, shared_task
from celery.exceptions import Retry
from django.conf import settings

from matching.campaigns import services
from matching.tasks import _RETRY


@shared_task(name="matching.campaigns.tasks.campaign_build", **_RETRY)
def campaign_build(campaign_id: int) -> int:
    """Plan the build (once) and fan its unfinished chunks out as a chord whose body ranks the result.

    Returns the number of chunks dispatched. Never waits for them: a worker blocked on its own subtasks
    could deadlock the pool.
    """
    try:
        services.campaign_plan(campaign_id=campaign_id)
    except services.CampaignBuildError as exc:
        services.campaign_build_fail(campaign_id=campaign_id, error=str(exc))
        return 0
    pending = services.campaign_chunks_pending(campaign_id=campaign_id)
    if not pending:
        services.campaign_build_finish(campaign_id=campaign_id)  # nobody eligible, or all done already
        return 0
    chord(
        group(campaign_chunk.si(campaign_id, index) for index in pending), campaign_finish.si(campaign_id)
    ).apply_async()
    return len(pending)


class _ChunkTask(Task):
    def __call__(self, campaign_id: int, index: int) -> int:
        # As for the feature refresh's chunks: the chord's finish will never run once a chunk gives up, so
        # the campaign itself must say that it failed, and why (the chunks already done stay done).
        try:
            return super().__call__(campaign_id, index)
        except Retry:
            raise
        except Exception as exc:
            services.campaign_build_fail(campaign_id=campaign_id, error=f"chunk {index}: {exc!r}")
            raise


@shared_task(name="matching.campaigns.tasks.campaign_chunk", base=_ChunkTask, **_RETRY)
def campaign_chunk(campaign_id: int, index: int) -> int:
    """Score one chunk; its members are written once however often it is delivered."""
    return services.campaign_chunk_score(campaign_id=campaign_id, index=index)


@shared_task(name="matching.campaigns.tasks.campaign_finish", **_RETRY)
def campaign_finish(campaign_id: int) -> str:
    """The chord's body: rank the audience and compute its statistics."""
    return services.campaign_build_finish(campaign_id=campaign_id).status


@shared_task(name="matching.campaigns.tasks.campaigns_resume_stalled")
def campaigns_resume_stalled() -> int:
    """Beat: resume the builds that made no progress for settings.VICINO_CAMPAIGN_STALL_SECONDS."""
    return len(services.campaigns_resume_stalled(stall_seconds=settings.VICINO_CAMPAIGN_STALL_SECONDS))
