"""Database constraints hold even when application code is bypassed."""

from __future__ import annotations

import pytest
from django.db import IntegrityError, transaction
from django.db.utils import DatabaseError

from tests.factories import (
    ActivityFactory,
    BlockFactory,
    FollowFactory,
    InvitationFactory,
    LocationFactory,
    ParticipationFactory,
    PlaceFactory,
    UserFactory,
)
from users.models import InteractionEvent, Location, LocationPing, Profile, User

pytestmark = pytest.mark.django_db


def _violates(fn) -> None:
    with pytest.raises(IntegrityError), transaction.atomic():
        fn()


@pytest.mark.parametrize("lat,lon", [(91, 0), (-90.0001, 0), (0, 180.5), (0, -181)])
def test_coordinates_are_range_checked_by_the_database(lat, lon):
    _violates(lambda: LocationFactory(latitude=lat, longitude=lon, geohash="s0000"))
    _violates(lambda: PlaceFactory(latitude=lat, longitude=lon, geohash="s0000"))
    _violates(lambda: ActivityFactory(latitude=lat, longitude=lon, geohash="s0000"))


def test_profile_ranges_are_checked():
    user = UserFactory()
    for field, value in [
        ("birth_year", 1800),
        ("income_level", 6),
        ("city_level", 0),
        ("education_level", 7),
    ]:

        def update(field=field, value=value):
            Profile.objects.filter(user=user).update(**{field: value})

        _violates(update)


def test_email_is_unique_ignoring_case():
    UserFactory(email="Ada@Example.org")
    _violates(lambda: UserFactory(email="ada@example.org"))
    # Imported people have no e-mail at all, and there may be many of them.
    UserFactory(email="")
    UserFactory(email="")


def test_usernames_are_unique_ignoring_case():
    UserFactory(username="Bob")
    _violates(lambda: UserFactory(username="bob", email="other@example.org"))


def test_role_must_be_known():
    user = UserFactory()
    _violates(lambda: User.objects.filter(pk=user.pk).update(role="admin"))


def test_no_self_follow_self_block_or_duplicates():
    a, b = UserFactory(), UserFactory()
    _violates(lambda: FollowFactory(follower=a, followee=a))
    _violates(lambda: BlockFactory(blocker=a, blocked=a))
    FollowFactory(follower=a, followee=b)
    _violates(lambda: FollowFactory(follower=a, followee=b))
    FollowFactory(follower=b, followee=a)  # the reverse direction is a different row: mutual friendship


def test_events_need_the_right_subject():
    a, b = UserFactory(), UserFactory()
    _violates(lambda: InteractionEvent.objects.create(kind="wave", actor=a))
    _violates(lambda: InteractionEvent.objects.create(kind="join", actor=a, target=b))
    _violates(lambda: InteractionEvent.objects.create(kind="like", actor=a, target=a))
    InteractionEvent.objects.create(kind="wave", actor=a, target=b)
    InteractionEvent.objects.create(kind="join", actor=a, activity_id=1)


def test_history_and_events_are_append_only_on_postgres():
    a, b = UserFactory(), UserFactory()
    ping = LocationPing.objects.create(user=a, latitude=40.7, longitude=-74.0, geohash="dr5regw3pp")
    event = InteractionEvent.objects.create(kind="wave", actor=a, target=b)
    with pytest.raises(DatabaseError, match="append-only"), transaction.atomic():
        LocationPing.objects.filter(pk=ping.pk).update(latitude=41.0)
    with pytest.raises(DatabaseError, match="append-only"), transaction.atomic():
        InteractionEvent.objects.filter(pk=event.pk).update(kind="like")
    # Deleting the person still removes their history (account deletion must be possible).
    a.delete()
    assert not LocationPing.objects.filter(pk=ping.pk).exists()


def test_activity_time_capacity_and_skill_are_checked():
    activity = ActivityFactory()
    _violates(lambda: type(activity).objects.filter(pk=activity.pk).update(ends_at=activity.starts_at))
    _violates(lambda: ActivityFactory(capacity=1))
    _violates(lambda: ActivityFactory(skill_level=6))
    _violates(lambda: ActivityFactory(activity_type="quidditch"))


def test_one_participation_and_one_invitation_per_person_and_activity():
    participation = ParticipationFactory()
    _violates(lambda: ParticipationFactory(activity=participation.activity, user=participation.user))
    invitation = InvitationFactory()
    _violates(lambda: InvitationFactory(activity=invitation.activity, invitee=invitation.invitee))


def test_an_answered_invitation_has_a_response_time():
    invitation = InvitationFactory()
    _violates(lambda: type(invitation).objects.filter(pk=invitation.pk).update(status="accepted"))


def test_geohash_prefix_search_uses_the_index():
    from django.db import connection

    for i in range(50):
        LocationFactory(latitude=40.70 + i * 0.001, longitude=-74.0)
    with connection.cursor() as cursor:
        cursor.execute("SET enable_seqscan = off")
        plan = Location.objects.filter(geohash__startswith="dr5r").explain()
        cursor.execute("SET enable_seqscan = on")
    assert "location_geohash_prefix" in plan


def test_timestamps_are_timezone_aware():
    location = LocationFactory()
    location.refresh_from_db()
    assert location.updated_at.tzinfo is not None
