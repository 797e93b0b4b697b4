"""Cell rosters (matching.nearby.rosters): nearby's candidates from Redis-cached rosters are exactly the
candidates of a walk over the database, and what must apply at once does, cached or not. On PostgreSQL and
Redis."""

from __future__ import annotations

from datetime import timedelta

import numpy as np
import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone
from django_redis import get_redis_connection

from matching.nearby import privacy, rosters, selectors
from matching.nearby.tastes import taste_vector
from tests.clients import api_client_for
from tests.factories import BlockFactory
from tests.matching.nearby_builders import NYC, forget_rosters_around, offset, person_at, result_ids
from users import taxonomy
from users.models import Location, Profile, User
from users.services import location_update, profile_update

URL = "/api/nearby/"


pytestmark = pytest.mark.usefixtures("nearby_models")  # tests/matching/conftest.py


def _builds(context: CaptureQueriesContext) -> int:
    return sum("vicino_nearby_rosters" in query["sql"] for query in context.captured_queries)


def _random_city(me: User, *, people: int, seed: int) -> None:
    """People with random tastes scattered up to 7 km around NYC, located over the last day, some hidden,
    inactive, marketers, stale, or blocked by or blocking `me`."""
    rng = np.random.default_rng(seed)
    now = timezone.now()
    for index, (north, east) in enumerate(rng.uniform(-7, 7, size=(people, 2))):
        kind = index % 10
        person = person_at(
            offset(NYC, north_km=north, east_km=east),
            updated_at=now
            - timedelta(seconds=int(rng.integers(0, 99_999)))
            - timedelta(days=4 * (kind == 3)),
            is_active=kind != 4,
            role=User.Role.MARKETER if kind == 5 else User.Role.PERSON,
            interests={str(key): float(rng.random()) for key in rng.choice(taxonomy.INTERESTS, 3)},
            activities={str(key): float(rng.random()) for key in rng.choice(taxonomy.ACTIVITY_TYPES, 2)},
        )
        if kind == 6:
            Profile.objects.filter(user=person).update(hide_from_nearby=True)
        if kind == 7:
            BlockFactory(blocker=me, blocked=person)
        if kind == 8:
            BlockFactory(blocker=person, blocked=me)


def _walk_by_hand(me: User, *, radius_km: float, cap: int) -> list[tuple[int, float]]:
    """The candidates as the module doc defines them, straight from the tables: [(id, snapped km)]."""
    ring = privacy.cells_within(privacy.snap_cell_at(*NYC), radius_km)
    position_of = {cell: position for position, cell in enumerate(ring.cells(0, len(ring)))}
    fresh_after = timezone.now() - timedelta(hours=72)
    read = []
    for location in (
        Location.objects.exclude(user=me).filter(updated_at__gte=fresh_after).select_related("user__profile")
    ):
        position = position_of.get(privacy.snap_cell(location.geohash))
        if position is not None:
            read.append((position, -location.updated_at.timestamp(), location.user_id, location.user))
    read.sort(key=lambda row: row[:3])
    blocked = set(me.blocks_made.values_list("blocked_id", flat=True)) | set(
        me.blocks_received.values_list("blocker_id", flat=True)
    )
    return [
        (user_id, float(ring.distances_km[position]), tuple(_taste(user)))
        for position, _t, user_id, user in read[:cap]
        if user.is_active
        and user.role != User.Role.MARKETER
        and not user.profile.hide_from_nearby
        and user_id not in blocked
    ]


def _taste(user: User) -> list[float]:
    return taste_vector(
        interests=user.profile.interests, activity_preferences=user.profile.activity_preferences
    ).tolist()


def _pool(me: User, *, radius_km: float, cap: int) -> list[tuple[int, float]]:
    blocked = selectors._me_get(user_id=me.pk, model_version_id=None).blocked
    pool = selectors.nearby_pool(
        user_id=me.pk,
        blocked=blocked,
        centre=privacy.snap_cell_at(*NYC),
        radius_km=radius_km,
        fresh_after=timezone.now() - timedelta(hours=72),
        cap=cap,
    )
    return list(
        zip(pool.user_ids.tolist(), pool.distances_km.tolist(), map(tuple, pool.tastes.tolist()), strict=True)
    )


@pytest.mark.django_db
def test_cold_cached_and_embedded_rosters_give_exactly_the_walk_the_module_doc_defines(monkeypatch):
    me = person_at(NYC)
    _random_city(me, people=160, seed=3)
    for radius, cap in ((3.0, 300), (6.0, 300), (6.0, 11), (6.0, 40), (2.0, 300)):
        expected = _walk_by_hand(me, radius_km=radius, cap=cap)
        assert expected, (radius, cap)

        forget_rosters_around(NYC, radius_km=radius)
        with CaptureQueriesContext(connection) as cold_queries:
            cold = _pool(me, radius_km=radius, cap=cap)
        with CaptureQueriesContext(connection) as warm_queries:
            warm = _pool(me, radius_km=radius, cap=cap)
        assert cold == expected, (radius, cap)
        assert warm == expected, (radius, cap)
        assert _builds(cold_queries) >= 1 and _builds(warm_queries) == 0

        # The embedded demo's build (the ORM, by geohash prefix), uncached.
        forget_rosters_around(NYC, radius_km=radius)
        monkeypatch.setattr(rosters, "cell_rosters_build_postgresql", rosters.cell_rosters_build_orm)
        assert _pool(me, radius_km=radius, cap=cap) == expected, (radius, cap)
        monkeypatch.undo()


@pytest.mark.django_db
def test_a_dense_cap_reads_only_the_cells_it_needs():
    me = person_at(NYC)
    centre_lat, centre_lon = privacy.snap_cell_centre(privacy.snap_cell_at(*NYC))
    for i in range(8):
        person_at((centre_lat + 0.0001 * i, centre_lon - 0.0002 * i))
    for i in range(5):
        person_at(offset((centre_lat, centre_lon), east_km=1.0 + 0.1 * i))
    with CaptureQueriesContext(connection) as queries:
        pool = _pool(me, radius_km=5, cap=6)
    assert len(pool) == 6 and all(km == 0.0 for _id, km, _taste in pool)
    # Only the own cell was built: its roster holds cap + 1 people (the asker may be among them).
    client = get_redis_connection("default")
    keys = client.keys("vicino:nearby:roster:*")
    assert [key.decode().rsplit(":", 1)[1] for key in keys] == [privacy.snap_cell_at(*NYC)]
    assert _builds(queries) == 1


@pytest.mark.django_db
def test_people_asking_from_the_same_cells_share_the_rosters():
    askers = [person_at(offset(NYC, east_km=0.05 * i)) for i in range(6)]
    for i in range(20):
        person_at(offset(NYC, north_km=0.3 * i - 3))
    with CaptureQueriesContext(connection) as first:
        assert result_ids(api_client_for(askers[0]).get(URL))
    with CaptureQueriesContext(connection) as others:
        for asker in askers[1:]:
            ids = result_ids(api_client_for(asker).get(URL))
            assert asker.pk not in ids and askers[0].pk in ids
    assert _builds(first) >= 1 and _builds(others) == 0


@pytest.mark.django_db
def test_rosters_live_the_configured_seconds(settings):
    settings.VICINO_NEARBY_ROSTER_SECONDS = 7
    me = person_at(NYC)
    person_at(offset(NYC, east_km=0.3))
    result_ids(api_client_for(me).get(URL))
    client = get_redis_connection("default")
    keys = client.keys("vicino:nearby:roster:*")
    assert keys and all(0 < client.ttl(key) <= 7 for key in keys)


@pytest.mark.django_db
def test_a_roster_survives_the_cache_exactly_and_another_generation_or_width_is_a_miss():
    music = taste_vector(interests={"music": 1}, activity_preferences={}).astype(">f4").tobytes()
    people = [
        (7, 1.7e9, True, np.arange(4, dtype=np.float32).tobytes(), "Zoë “Z” 🌍", 1990, True, music),
        (3, 1.6e9, False, None, "Ada", None, False, None),
        (9, 1.5e9, True, b"\x00" * 8, "short vector", 2001, True, b"\x01"),  # other widths: none
    ]  # fmt: skip
    roster = rosters.roster_from_people(people, width=4)
    assert roster.has_embedding.tolist() == [True, False, False]
    back = rosters.Roster.from_bytes(roster.to_bytes(generation=5), generation=5, width=4)
    assert back is not None and back.names == ["Zoë “Z” 🌍", "Ada", "short vector"]
    assert roster.tastes[0].tolist() == taste_vector(interests={"music": 1}, activity_preferences={}).tolist()
    assert not roster.tastes[1:].any()
    for field in ("user_ids", "located_at", "listed", "has_embedding", "birth_years", "show_age_group"):
        assert getattr(back, field).tolist() == getattr(roster, field).tolist(), field
    assert np.array_equal(back.embeddings, roster.embeddings) and np.array_equal(back.tastes, roster.tastes)
    assert back.birth_years.tolist() == [1990, -1, 2001]
    assert rosters.Roster.from_bytes(roster.to_bytes(generation=5), generation=6, width=4) is None
    assert rosters.Roster.from_bytes(roster.to_bytes(generation=5), generation=5, width=8) is None
    assert rosters.Roster.from_bytes(b"VNR2", generation=5, width=4) is None
    assert rosters.Roster.from_bytes(roster.to_bytes(generation=5)[:-40], generation=5, width=4) is None
    assert (
        rosters.Roster.from_bytes(b"VNR1" + roster.to_bytes(generation=5)[4:], generation=5, width=4) is None
    )
    nobody = rosters.roster_from_people([], width=0)
    back = rosters.Roster.from_bytes(nobody.to_bytes(generation=0), generation=0, width=0)
    assert back is not None and len(back) == 0 and back.names == [] and back.embeddings.shape == (0, 0)


def _stored_tastes(users: list[User]) -> dict[int, bytes]:
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT u.id, p.nearby_taste FROM users_user u LEFT JOIN users_profile p ON p.user_id = u.id "
            "WHERE u.id = ANY(%s)",
            [[user.pk for user in users]],
        )
        return {user_id: raw for user_id, raw in cursor.fetchall()}


@pytest.mark.django_db
def test_the_database_keeps_each_profiles_taste_vector_as_python_makes_it():
    odd = [
        ({"music": 0.7, "pets": 1, "reading": 0.123456789}, {"climbing": 0.3333333333333333}),
        ({"music": True, "pets": "1", "reading": None, "arts": [1], "movies": {"a": 1}}, {"climbing": False}),
        ({"music": -3, "pets": 7.5, "reading": 1e300, "arts": -1e300, "not_a_taste": 1}, {"cycling": 0}),
        ({}, {}),
        # Every key its own weight: the column's keys are the taxonomy's, in its order.
        (
            {key: (i + 1) / 64 for i, key in enumerate(taxonomy.INTERESTS)},
            {key: 1 - (i + 1) / 64 for i, key in enumerate(taxonomy.ACTIVITY_TYPES)},
        ),
    ]
    people = [person_at(offset(NYC, east_km=0.01 * i)) for i in range(len(odd))]
    for person, (interests, activities) in zip(people, odd, strict=True):
        Profile.objects.filter(user=person).update(interests=interests, activity_preferences=activities)
    stored = _stored_tastes(people)
    for person, (interests, activities) in zip(people, odd, strict=True):
        expected = taste_vector(interests=interests, activity_preferences=activities)
        assert np.frombuffer(stored[person.pk], dtype=">f4").tolist() == expected.tolist(), interests
    # Kept up to date by the database, however the profile is written.
    profile_update(user=people[3], data={"interests": {"coffee": 0.5}})
    assert np.frombuffer(_stored_tastes([people[3]])[people[3].pk], dtype=">f4").tolist() == (
        taste_vector(interests={"coffee": 0.5}, activity_preferences={}).tolist()
    )


@pytest.mark.django_db
def test_a_build_that_raced_with_a_change_is_never_served():
    me = person_at(NYC)
    other = person_at(offset(NYC, east_km=0.1))
    cell = privacy.snap_cell_at(*NYC)
    cached = rosters.cell_rosters_cached(cells=[cell], size=301, model_version_id=None, width=0)
    assert cached.found == {}
    built = rosters.cell_rosters_build(
        cells=[cell], known=[-1], needed=301, size=301,
        fresh_after=timezone.now() - timedelta(hours=72), model_version_id=None, width=0,
    )  # fmt: skip
    assert sorted(built[0].user_ids.tolist()) == sorted([me.pk, other.pk])
    # The other person hides while the build was under way: its roster, stored after, must not be served.
    rosters.cell_rosters_forget(cells=[cell])
    rosters.cell_rosters_store(
        rosters={cell: (built[0], cached.generations[0])}, size=301, model_version_id=None
    )
    assert rosters.cell_rosters_cached(cells=[cell], size=301, model_version_id=None, width=0).found == {}
    # A build after the change is.
    generation = rosters.cell_rosters_cached(
        cells=[cell], size=301, model_version_id=None, width=0
    ).generations
    rosters.cell_rosters_store(rosters={cell: (built[0], generation[0])}, size=301, model_version_id=None)
    assert rosters.cell_rosters_cached(cells=[cell], size=301, model_version_id=None, width=0).found


# What applies at once, though the rosters are cached ---------------------------------------------------


@pytest.mark.django_db
def test_hiding_from_nearby_and_coming_back_apply_at_once(django_capture_on_commit_callbacks):
    me = person_at(NYC)
    other = person_at(offset(NYC, east_km=0.2))
    assert result_ids(api_client_for(me).get(URL)) == [other.pk]
    with django_capture_on_commit_callbacks(execute=True):
        profile_update(user=other, data={"hide_from_nearby": True})
    assert result_ids(api_client_for(me).get(URL)) == []
    with django_capture_on_commit_callbacks(execute=True):
        profile_update(user=other, data={"hide_from_nearby": False})
    assert result_ids(api_client_for(me).get(URL)) == [other.pk]


@pytest.mark.django_db
def test_a_block_made_after_the_rosters_were_cached_applies_at_once():
    me = person_at(NYC)
    other = person_at(offset(NYC, east_km=0.2))
    assert result_ids(api_client_for(me).get(URL)) == [other.pk]
    assert result_ids(api_client_for(other).get(URL)) == [me.pk]
    BlockFactory(blocker=other, blocked=me)
    assert result_ids(api_client_for(me).get(URL)) == []
    assert result_ids(api_client_for(other).get(URL)) == []


@pytest.mark.django_db
def test_someone_who_moves_cell_through_the_api_shows_in_the_new_one_at_once(
    django_capture_on_commit_callbacks,
):
    me = person_at(NYC)
    mover = person_at(offset(NYC, north_km=3.0), updated_at=timezone.now() - timedelta(hours=2))
    before = api_client_for(me).get(URL).json()["results"]
    assert [(row["id"], row["distance"]["key"]) for row in before] == [(mover.pk, "2-5")]
    with django_capture_on_commit_callbacks(execute=True):
        location_update(user=mover, latitude=NYC[0], longitude=NYC[1])
    after = api_client_for(me).get(URL).json()["results"]
    assert [(row["id"], row["distance"]["key"]) for row in after] == [(mover.pk, "lt1")]


@pytest.mark.django_db
def test_someone_coming_back_to_the_same_cell_shows_at_once(django_capture_on_commit_callbacks):
    me = person_at(NYC)
    returning = person_at(offset(NYC, east_km=0.1), updated_at=timezone.now() - timedelta(days=5))
    assert (
        result_ids(api_client_for(me).get(URL)) == []
    )  # stale: not listed, and the cell's roster is now cached
    with django_capture_on_commit_callbacks(execute=True):
        location_update(
            user=returning, latitude=offset(NYC, east_km=0.1)[0], longitude=offset(NYC, east_km=0.1)[1]
        )
    assert result_ids(api_client_for(me).get(URL)) == [returning.pk]


@pytest.mark.django_db
def test_pings_within_a_cell_keep_the_roster(django_capture_on_commit_callbacks):
    me = person_at(NYC)
    pinging = person_at(offset(NYC, east_km=0.1), updated_at=timezone.now() - timedelta(minutes=5))
    assert result_ids(api_client_for(me).get(URL)) == [pinging.pk]
    with django_capture_on_commit_callbacks(execute=True):
        location_update(
            user=pinging, latitude=offset(NYC, east_km=0.12)[0], longitude=offset(NYC, east_km=0.12)[1]
        )
    with CaptureQueriesContext(connection) as queries:
        assert result_ids(api_client_for(me).get(URL)) == [pinging.pk]
    assert _builds(queries) == 0


@pytest.mark.django_db
def test_deactivation_a_new_name_and_a_deleted_account_apply_at_once(django_capture_on_commit_callbacks):
    me = person_at(NYC)
    renamed, deactivated, deleted = (person_at(offset(NYC, east_km=0.1 * i)) for i in range(1, 4))
    client = api_client_for(me)
    assert sorted(result_ids(client.get(URL))) == sorted([renamed.pk, deactivated.pk, deleted.pk])
    with django_capture_on_commit_callbacks(execute=True):
        profile_update(user=renamed, data={"display_name": "Grace"})
        deactivated.is_active = False
        deactivated.save()  # as the admin saves it: every field
        deleted.delete()
    rows = client.get(URL).json()["results"]
    assert [(row["id"], row["display_name"]) for row in rows] == [(renamed.pk, "Grace")]
    # A login (last_login only) leaves the rosters alone.
    with django_capture_on_commit_callbacks(execute=True):
        renamed.last_login = timezone.now()
        renamed.save(update_fields=["last_login"])
    with CaptureQueriesContext(connection) as queries:
        client.get(URL)
    assert _builds(queries) == 0
