"""The beat tasks run through a real Celery worker process on Redis (not eagerly)."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from activities import tasks
from activities.models import Activity, Invitation
from tests.celery_worker import running_worker
from tests.factories import ActivityFactory, InvitationFactory


@pytest.mark.django_db(transaction=True)
def test_housekeeping_tasks_run_on_a_real_worker():
    now = timezone.now()
    started = ActivityFactory()
    Activity.objects.filter(pk=started.pk).update(
        starts_at=now - timedelta(hours=3), ends_at=now - timedelta(hours=1)
    )
    upcoming = ActivityFactory()
    stale = InvitationFactory(activity=started)
    fresh = InvitationFactory(activity=upcoming)

    with running_worker() as queue:
        expired = tasks.invitations_expire.apply_async(queue=queue).get(timeout=60)
        completed = tasks.activities_complete.apply_async(queue=queue).get(timeout=60)
        # Idempotent: a second run (e.g. a redelivery after a worker crash) changes nothing.
        again = tasks.invitations_expire.apply_async(queue=queue).get(timeout=60)

    assert (expired, completed, again) == (1, 1, 0)
    assert Invitation.objects.get(pk=stale.pk).status == "expired"
    assert Invitation.objects.get(pk=fresh.pk).status == "sent"
    assert Activity.objects.get(pk=started.pk).status == "completed"
    assert Activity.objects.get(pk=upcoming.pk).status == "open"
