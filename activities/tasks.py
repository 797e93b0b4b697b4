"""Periodic activity housekeeping, scheduled by beat (settings.CELERY_BEAT_SCHEDULE). Services do the work."""

from __future__ import annotations

from celery import shared_task
from django.utils import timezone

from activities import services


@shared_task(name="activities.tasks.invitations_expire")
def invitations_expire() -> int:
    """Expire invitations nobody answered before their activity started."""
    return services.invitations_expire_started(now=timezone.now())


@shared_task(name="activities.tasks.activities_complete")
def activities_complete() -> int:
    """Mark open activities that have ended as completed."""
    return services.activities_complete_finished(now=timezone.now())
