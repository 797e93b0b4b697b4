"""Small builders for the feature tests: people with hand-placed pings, visits, events, sessions, follows."""

from __future__ import annotations

from datetime import datetime, timedelta

from matching.features import SCHEMA, FeatureBatch
from tests.factories import LocationFactory, PlaceFactory, UserFactory
from users import geo
from users.models import AppSession, Follow, InteractionEvent, LocationPing, Profile, User, Visit

LONG_AGO = timedelta(days=365)


def person(**profile_fields) -> User:
    user = UserFactory()
    if profile_fields:
        Profile.objects.filter(user=user).update(**profile_fields)
    return user


def ping(user: User, latitude: float, longitude: float, at: datetime) -> LocationPing:
    return LocationPing.objects.create(
        user=user,
        latitude=latitude,
        longitude=longitude,
        geohash=geo.encode(latitude, longitude),
        recorded_at=at,
    )


def current_location(user: User, latitude: float, longitude: float, updated_at: datetime):
    return LocationFactory(user=user, latitude=latitude, longitude=longitude, updated_at=updated_at)


def place(place_type: str, **fields):
    return PlaceFactory(place_type=place_type, **fields)


def visit(user: User, place, at: datetime) -> Visit:
    return Visit.objects.create(user=user, place=place, visited_at=at)


def event(kind: str, actor: User, at: datetime, target: User | None = None) -> InteractionEvent:
    activity_id = None if kind in InteractionEvent.PERSON_KINDS else 1
    return InteractionEvent.objects.create(
        kind=kind, actor=actor, target=target, activity_id=activity_id, occurred_at=at
    )


def session(user: User, start: datetime, minutes: float | None) -> AppSession:
    end = None if minutes is None else start + timedelta(minutes=minutes)
    return AppSession.objects.create(user=user, started_at=start, ended_at=end)


def follow(follower: User, followee: User, at: datetime) -> Follow:
    return Follow.objects.create(follower=follower, followee=followee, created_at=at)


def befriend(first: User, second: User, at: datetime) -> None:
    follow(first, second, at)
    follow(second, first, at)


def value(batch: FeatureBatch, user: User, qualified: str) -> float:
    """One feature of one person: `value(batch, ada, "social.friend_count")`."""
    group, name = qualified.split(".")
    row = int(list(batch.user_ids).index(user.pk))
    return float(batch.groups[group][row, SCHEMA.group(group).index(name)])


def values(batch: FeatureBatch, user: User, group: str) -> dict[str, float]:
    row = int(list(batch.user_ids).index(user.pk))
    return dict(zip(SCHEMA.group(group).names, batch.groups[group][row].tolist(), strict=True))
