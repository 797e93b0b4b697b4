"""features_as_of: nothing at or after the cut-off counts, a fixed number of queries, rows in order."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import numpy as np
import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from matching.features import MAX_CHUNK, SCHEMA, FeatureBatch, compute, features_as_of
from tests.factories import ActivityFactory
from tests.matching.feature_builders import (
    befriend,
    current_location,
    event,
    follow,
    person,
    ping,
    place,
    session,
    visit,
)
from users.models import Location

pytestmark = pytest.mark.django_db

AT = datetime(2026, 6, 15, 12, 0, tzinfo=UTC)
DAY, HOUR = timedelta(days=1), timedelta(hours=1)
#: people, profile, pings, visits, events made, events received, sessions, follows (touching; among
#: friends; friends' events), activities nearby.
QUERIES_PER_CALL = 10


def populate(count: int, *, seed: int = 0) -> list:
    """`count` people with some of everything before AT: pings, visits, events, sessions, friends."""
    rng = np.random.default_rng(seed)
    venues = [place(kind) for kind in ("home", "work", "shopping", "transport", "food")]
    people = [
        person(birth_year=1990 + index % 30, gender="female", interests={"music": 0.5}, languages=["en"])
        for index in range(count)
    ]
    for index, user in enumerate(people):
        for hours in rng.choice(np.arange(2, 24 * 50), size=3, replace=False):
            ping(user, 40.7 + rng.normal() * 0.02, -73.98 + rng.normal() * 0.02, AT - int(hours) * HOUR)
        for hours in rng.choice(np.arange(2, 24 * 50), size=2, replace=False):
            visit(user, venues[int(rng.integers(len(venues)))], AT - int(hours) * HOUR)
        other = people[(index + 1) % count]
        if other is not user:
            befriend(user, other, AT - 90 * DAY)
            event("wave", user, AT - int(rng.integers(1, 24 * 20)) * HOUR, target=other)
            event("message", other, AT - int(rng.integers(1, 24 * 20)) * HOUR, target=user)
        event("join", user, AT - int(rng.integers(1, 24 * 5)) * HOUR)
        session(user, AT - int(rng.integers(1, 24 * 20)) * HOUR, float(rng.integers(1, 60)))
    ActivityFactory(
        latitude=40.71,
        longitude=-73.98,
        starts_at=AT + 2 * DAY,
        ends_at=AT + 2 * DAY + HOUR,
        created_at=AT - 3 * DAY,
    )
    return people


def test_data_at_or_after_the_cut_off_changes_nothing():
    people = populate(6)
    ids = [user.pk for user in people]
    settled = person()  # positioned by a current location only (no ping history)
    current_location(settled, 40.7, -73.99, updated_at=AT - DAY)
    ids.append(settled.pk)
    before = features_as_of(user_ids=ids, at=AT)

    # Everything that feeds a feature, exactly AT and after it.
    newcomer = person()
    venue = place("entertainment")
    for user in people:
        for moment in (AT, AT + HOUR):
            ping(user, 48.85, 2.35, moment)
            visit(user, venue, moment)
            event("like", user, moment, target=newcomer)
            event("view", newcomer, moment, target=user)
            session(user, moment, 30)
        befriend(user, newcomer, AT)
        follow(user, settled, AT + DAY)
    Location.objects.update_or_create(
        user=people[0],
        defaults={"latitude": 48.85, "longitude": 2.35, "geohash": "u09tvw0f64r7", "updated_at": AT},
    )
    befriend(people[0], people[3], AT + HOUR)  # would join two circles
    ActivityFactory(
        latitude=40.7, longitude=-73.98, starts_at=AT + DAY, ends_at=AT + DAY + HOUR, created_at=AT
    )

    after = features_as_of(user_ids=ids, at=AT)
    for group in SCHEMA.groups:
        assert after.groups[group.name].tobytes() == before.groups[group.name].tobytes(), group.name

    # The additions are not inert: two days later every stored group but the profile-based ones moves.
    later = features_as_of(user_ids=ids, at=AT + 2 * DAY)
    for name in ("geographic", "behavioural", "social", "contextual"):
        assert not np.array_equal(later.groups[name], before.groups[name]), name


def _count_queries(ids: list[int]) -> int:
    with CaptureQueriesContext(connection) as captured:
        features_as_of(user_ids=ids, at=AT)
    return len(captured.captured_queries)


def test_a_fixed_number_of_queries_whatever_the_number_of_people(django_assert_max_num_queries):
    few = [user.pk for user in populate(3, seed=1)]
    many = [user.pk for user in populate(30, seed=2)]
    with django_assert_max_num_queries(QUERIES_PER_CALL):
        features_as_of(user_ids=few, at=AT)
    with django_assert_max_num_queries(QUERIES_PER_CALL):
        features_as_of(user_ids=many, at=AT)
    assert _count_queries(few) == _count_queries(many) == _count_queries(few + many) == QUERIES_PER_CALL


def test_rows_follow_the_ids_asked_for():
    a, b, c = populate(3, seed=3)
    batch = features_as_of(user_ids=[c.pk, a.pk, c.pk, b.pk], at=AT)
    assert isinstance(batch, FeatureBatch)
    assert batch.user_ids.dtype == np.int64 and batch.user_ids.tolist() == [c.pk, a.pk, c.pk, b.pk]
    assert (batch.as_of, batch.schema_version, len(batch)) == (AT, SCHEMA.version, 4)
    assert list(batch.groups) == [group.name for group in SCHEMA.groups]
    single = {user.pk: features_as_of(user_ids=[user.pk], at=AT) for user in (a, b, c)}
    for row, user_id in enumerate(batch.user_ids.tolist()):
        for group in SCHEMA.groups:
            array = batch.groups[group.name]
            assert array.dtype == np.float32 and array.shape == (4, group.dim)
            assert array.flags.c_contiguous and np.isfinite(array).all()
            assert array[row].tobytes() == single[user_id].groups[group.name][0].tobytes(), group.name
    assert batch.matrix().shape == (4, SCHEMA.total_dim)
    assert (
        batch.matrix()[1].tobytes()
        == np.concatenate([batch.groups[g.name][1] for g in SCHEMA.groups]).tobytes()
    )


def test_chunks_give_the_same_rows(monkeypatch):
    ids = [user.pk for user in populate(7, seed=4)]
    whole = features_as_of(user_ids=ids, at=AT)
    assert MAX_CHUNK >= 2_000
    monkeypatch.setattr(compute, "MAX_CHUNK", 3)
    chunked = features_as_of(user_ids=ids, at=AT)
    for group in SCHEMA.groups:
        assert chunked.groups[group.name].tobytes() == whole.groups[group.name].tobytes(), group.name


def test_unknown_ids_naive_times_and_no_ids(django_assert_num_queries):
    user = person()
    with pytest.raises(ValueError, match=r"unknown user ids: \[987654321\]"):
        features_as_of(user_ids=[user.pk, 987654321], at=AT)
    with pytest.raises(ValueError, match="timezone-aware"):
        features_as_of(user_ids=[user.pk], at=datetime(2026, 6, 15, 12))
    with django_assert_num_queries(0):
        empty = features_as_of(user_ids=[], at=AT)
    assert empty.user_ids.shape == (0,)
    assert {name: array.shape for name, array in empty.groups.items()} == {
        group.name: (0, group.dim) for group in SCHEMA.groups
    }
