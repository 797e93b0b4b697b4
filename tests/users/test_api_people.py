"""What people do to each other: wave, like, follow, block, report."""

from __future__ import annotations

import pytest
from rest_framework.test import APIClient

from tests.factories import BlockFactory, FollowFactory, MarketerFactory, UserFactory
from users.models import Block, Follow, InteractionEvent, Report
from users.selectors import blocked_user_ids, friend_ids


def _url(person_id, action: str) -> str:
    return f"/api/people/{person_id}/{action}/"


@pytest.mark.django_db
@pytest.mark.parametrize("kind", ["wave", "like"])
def test_a_gesture_is_logged_as_an_event_and_announces_both_people(
    kind, person_client, person, django_capture_on_commit_callbacks
):
    other = UserFactory()
    with django_capture_on_commit_callbacks() as callbacks:
        response = person_client.post(_url(other.pk, kind))
    assert response.status_code == 201, response.content
    assert set(response.json()) == {"id", "kind", "at"} and response.json()["id"] == other.pk
    event = InteractionEvent.objects.get()
    assert (event.kind, event.actor_id, event.target_id) == (kind, person.pk, other.pk)
    assert len(callbacks) == 1  # the feature refresh of both, once committed


@pytest.mark.django_db
def test_follow_is_idempotent_and_two_follows_make_friends(person_client, person):
    other = UserFactory()
    assert person_client.post(_url(other.pk, "follow")).json() == {"changed": True}
    assert person_client.post(_url(other.pk, "follow")).json() == {"changed": False}
    assert Follow.objects.filter(follower=person, followee=other).count() == 1
    assert friend_ids(user=person) == set()
    FollowFactory(follower=other, followee=person)
    assert friend_ids(user=person) == {other.pk}
    assert person_client.delete(_url(other.pk, "follow")).json() == {"changed": True}
    assert friend_ids(user=person) == set()


@pytest.mark.django_db
def test_a_block_hides_both_ways_cuts_follows_and_only_its_maker_lifts_it(person_client, person):
    other = UserFactory()
    FollowFactory(follower=person, followee=other)
    FollowFactory(follower=other, followee=person)

    assert person_client.post(_url(other.pk, "block")).json() == {"changed": True}

    assert blocked_user_ids(user=person) == {other.pk} and blocked_user_ids(user=other) == {person.pk}
    assert not Follow.objects.exists()
    # The blocked person cannot reach the blocker, and learns nothing more than "no such person".
    blocked_client = APIClient()
    blocked_client.force_authenticate(other)
    for action in ("wave", "follow", "block"):
        response = blocked_client.post(_url(person.pk, action))
        assert response.status_code == 404 and response.json()["error"]["fields"] == {
            "person": ["No such person."]
        }
    assert blocked_client.delete(_url(person.pk, "block")).json() == {"changed": False}  # not theirs
    assert Block.objects.count() == 1
    assert person_client.delete(_url(other.pk, "block")).json() == {"changed": True}
    assert blocked_user_ids(user=person) == set()


@pytest.mark.django_db
def test_reporting_records_the_reason_and_blocks(person_client, person):
    other = UserFactory()
    response = person_client.post(
        _url(other.pk, "report"), {"reason": "spam", "details": "sells stuff"}, format="json"
    )
    assert response.status_code == 201, response.content
    report = Report.objects.get()
    assert (report.reporter_id, report.reported_id, report.reason, report.details) == (
        person.pk,
        other.pk,
        "spam",
        "sells stuff",
    )
    assert Block.objects.filter(blocker=person, blocked=other).exists()


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("action", "body", "status", "field"),
    [
        ("report", {"reason": "because"}, 400, "reason"),
        ("report", {"reason": "spam", "details": "x" * 1001}, 400, "details"),
        ("report", {}, 400, "reason"),
    ],
)
def test_bad_report_input_names_the_field(person_client, action, body, status, field):
    other = UserFactory()
    response = person_client.post(_url(other.pk, action), body, format="json")
    assert response.status_code == status
    assert field in response.json()["error"]["fields"]
    assert not Report.objects.exists()


@pytest.mark.django_db
def test_acting_on_yourself_an_unknown_or_deactivated_person_is_a_clear_4xx(person_client, person):
    gone = UserFactory(is_active=False)
    assert person_client.post(_url(person.pk, "wave")).json()["error"]["code"] == "self"
    assert person_client.post(_url(10**9, "wave")).status_code == 404
    assert person_client.post(_url(10**30, "wave")).status_code == 404  # beyond a bigint
    assert person_client.delete(_url(10**30, "block")).json() == {"changed": False}
    assert person_client.post(_url(gone.pk, "follow")).status_code == 404
    assert person_client.post(_url(UserFactory().pk, "block")).status_code == 200
    assert not InteractionEvent.objects.exists() and not Follow.objects.exists()


@pytest.mark.django_db
def test_people_actions_need_a_signed_in_person_or_organiser():
    other = UserFactory()
    marketer = APIClient()
    marketer.force_authenticate(MarketerFactory())
    for action in ("wave", "like", "follow", "block", "report"):
        assert APIClient().post(_url(other.pk, action)).status_code == 401
        assert marketer.post(_url(other.pk, action), {"reason": "spam"}, format="json").status_code == 403


@pytest.mark.django_db
def test_an_existing_block_made_by_the_other_side_still_hides_them(person_client, person):
    other = UserFactory()
    BlockFactory(blocker=other, blocked=person)
    assert person_client.post(_url(other.pk, "like")).status_code == 404
