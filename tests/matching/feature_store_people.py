"""Test data for the feature-store tests: people with a history that features read, and row snapshots."""

from __future__ import annotations

from datetime import datetime, timedelta

import numpy as np

from matching.features import SCHEMA, FeatureBatch
from matching.models import STORED_GROUPS, FeatureVector
from matching.selectors import feature_group_dims
from tests.factories import NYC, FollowFactory, LocationFactory, PlaceFactory, UserFactory, VisitFactory
from users import geo
from users.models import LocationPing, Profile, User


def people_with_history(*, count: int, now: datetime) -> list[User]:
    """`count` people with profiles, a current location, pings, visits and follows in the past week."""
    places = [
        PlaceFactory(place_type=kind, latitude=NYC[0] + 0.01 * i, longitude=NYC[1])
        for i, kind in enumerate(("home", "work", "food"))
    ]
    people = []
    for n in range(count):
        person = UserFactory()
        Profile.objects.filter(user=person).update(
            birth_year=1980 + n % 20, gender="female" if n % 2 else "male", languages=["en"],
            interests={"sports": 0.5 + 0.05 * (n % 10)},
        )  # fmt: skip
        latitude, longitude = NYC[0] + 0.001 * n, NYC[1] - 0.001 * n
        LocationFactory(
            user=person, latitude=latitude, longitude=longitude, updated_at=now - timedelta(hours=1)
        )
        for hours in (1, 30, 100):
            ping_latitude = latitude + 0.0001 * hours
            LocationPing.objects.create(
                user=person, latitude=ping_latitude, longitude=longitude,
                geohash=geo.encode(ping_latitude, longitude), recorded_at=now - timedelta(hours=hours),
            )  # fmt: skip
        VisitFactory(user=person, place=places[n % 3], visited_at=now - timedelta(days=1 + n % 5))
        if people:
            FollowFactory(follower=person, followee=people[-1])
        people.append(person)
    return people


def random_batch(*, user_ids: list[int], at: datetime, seed: int = 0) -> FeatureBatch:
    """A batch with the schema's shapes and arbitrary values, for tests of the store alone."""
    rng = np.random.default_rng(seed)
    return FeatureBatch(
        user_ids=np.asarray(user_ids, dtype=np.int64),
        groups={
            name: rng.random((len(user_ids), dim), dtype=np.float32)
            for name, dim in feature_group_dims().items()
        },
        as_of=at,
        schema_version=SCHEMA.version,
    )


def stored_rows() -> dict[int, tuple]:
    """{user id: (schema version, as_of, the stored bytes of each group)}: everything but computed_at."""
    return {
        row.user_id: (row.schema_version, row.as_of, *(bytes(getattr(row, name)) for name in STORED_GROUPS))
        for row in FeatureVector.objects.all()
    }
