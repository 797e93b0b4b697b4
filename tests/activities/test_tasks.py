"""The periodic transitions: expire invitations of started activities, complete ended activities."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.conf import settings
from django.utils import timezone

from activities import services, tasks
from activities.models import Activity, Invitation
from config.celery import app as celery_app
from tests.factories import ActivityFactory, InvitationFactory


def _activity(*, starts_in: timedelta, lasts: timedelta = timedelta(hours=2), **kwargs) -> Activity:
    starts_at = timezone.now() + starts_in
    return ActivityFactory(starts_at=starts_at, ends_at=starts_at + lasts, **kwargs)


@pytest.mark.django_db
def test_invitations_of_started_activities_expire_in_one_update(django_assert_num_queries):
    started = _activity(starts_in=-timedelta(minutes=10))
    upcoming = _activity(starts_in=timedelta(days=1))
    stale = InvitationFactory.create_batch(3, activity=started)
    answered = InvitationFactory(activity=started, status="accepted", responded_at=timezone.now())
    fresh = InvitationFactory(activity=upcoming)
    now = timezone.now()

    with django_assert_num_queries(3):  # SAVEPOINT, UPDATE, RELEASE
        count = services.invitations_expire_started(now=now)

    assert count == 3
    assert set(Invitation.objects.filter(status="expired").values_list("pk", flat=True)) == {
        i.pk for i in stale
    }
    assert Invitation.objects.get(pk=answered.pk).status == "accepted"
    assert Invitation.objects.get(pk=fresh.pk).status == "sent"
    assert all(
        i.updated_at == now and i.responded_at is None for i in Invitation.objects.filter(status="expired")
    )
    assert services.invitations_expire_started(now=now) == 0  # idempotent


@pytest.mark.django_db
def test_ended_open_activities_complete_in_one_update(django_assert_num_queries):
    ended = _activity(starts_in=-timedelta(hours=3))
    running = _activity(starts_in=-timedelta(hours=1))
    cancelled = _activity(starts_in=-timedelta(hours=3), status="cancelled")
    upcoming = _activity(starts_in=timedelta(hours=1))

    with django_assert_num_queries(3):  # SAVEPOINT, UPDATE, RELEASE
        count = services.activities_complete_finished(now=timezone.now())

    assert count == 1
    statuses = dict(Activity.objects.values_list("pk", "status"))
    assert statuses == {
        ended.pk: "completed",
        running.pk: "open",
        cancelled.pk: "cancelled",
        upcoming.pk: "open",
    }
    assert services.activities_complete_finished(now=timezone.now()) == 0


@pytest.mark.django_db
def test_the_tasks_call_the_services_and_return_their_counts():
    started = _activity(starts_in=-timedelta(hours=3))
    InvitationFactory(activity=started)
    assert tasks.invitations_expire.apply().get() == 1
    assert tasks.activities_complete.apply().get() == 1
    assert Activity.objects.get(pk=started.pk).status == "completed"


def test_every_beat_entry_names_a_registered_task():
    celery_app.loader.import_default_modules()
    for entry in settings.CELERY_BEAT_SCHEDULE.values():
        assert entry["task"] in celery_app.tasks, entry["task"]
    assert {"activities.tasks.invitations_expire", "activities.tasks.activities_complete"} <= {
        entry["task"] for entry in settings.CELERY_BEAT_SCHEDULE.values()
    }
