"""The nearby privacy suite: what the API tells about where others are, and what an attacker can make of it.

- no nearby answer (nor a wave's) holds a coordinate or a geohash of anyone else;
- walking the querier across a kilometre in 10 m steps changes a victim's bucket only when the querier
  changes snap cell, and then by one bucket at most;
- an automated trilateration attacker spoofs 200 positions around each of 50 victims through the API and
  uses everything the answers hold (buckets and their flips, presence, list order, similarity, score):
  each of its strategies misses by at least 300 m in the median. The same strategies, fed buckets of
  *exact* distances instead, find the victims to within a few tens of metres: the attacker is competent,
  the snapping is what stops it;
- impossible speeds are refused.
"""

from __future__ import annotations

import math
from datetime import timedelta

import numpy as np
import pytest
from django.utils import timezone
from rest_framework.test import APIClient

from matching import services
from matching.nearby import privacy
from tests.clients import api_client_for
from tests.factories import BlockFactory, UserFactory
from tests.matching.feature_store_people import random_batch
from tests.matching.nearby_builders import NYC, offset, person_at
from tests.matching.ralm_builders import tiny_ralm_register
from users import geo
from users.models import LocationPing

NEARBY = "/api/nearby/"
LOCATION = "/api/me/location/"
COORDINATE_KEYS = {"latitude", "longitude", "lat", "lon", "lng", "geohash", "location", "position", "cell"}


pytestmark = pytest.mark.usefixtures("nearby_models")  # tests/matching/conftest.py


def _move(client: APIClient, position: tuple[float, float]) -> None:
    response = client.post(LOCATION, {"latitude": position[0], "longitude": position[1]}, format="json")
    assert response.status_code == 200, response.json()


def _walk(value, path=""):
    """Every (path, key or None, leaf) of a JSON document."""
    if isinstance(value, dict):
        for key, item in value.items():
            yield path, key, None
            yield from _walk(item, f"{path}.{key}")
    elif isinstance(value, list):
        for index, item in enumerate(value):
            yield from _walk(item, f"{path}[{index}]")
    else:
        yield path, None, value


# Nothing to read off ---------------------------------------------------------------------------------


@pytest.mark.django_db
def test_no_answer_holds_a_coordinate_or_a_geohash_of_anyone_else():
    me = person_at(NYC, interests={"music": 1.0})
    others = [
        person_at(offset(NYC, north_km=n, east_km=e), interests={"music": 0.5})
        for n, e in ((0.3, 0.1), (1.4, -0.7), (3.3, 2.2), (-4.1, 0.9))
    ]
    client = api_client_for(me)
    answers = [
        client.get(NEARBY).json(),
        client.get(f"{NEARBY}?radius_km=50&limit=100&with_friends=true").json(),
        client.post(f"/api/people/{others[0].pk}/wave/").json(),
    ]
    assert len(answers[1]["results"]) == len(others)

    for other in others:
        location = other.location
        numbers = [location.latitude, location.longitude]
        prefixes = {location.geohash[:n] for n in range(4, 13)} | {privacy.snap_cell(location.geohash)}
        for answer in answers:
            for path, key, leaf in _walk(answer):
                assert key is None or key.lower() not in COORDINATE_KEYS, path
                if isinstance(leaf, int | float) and not isinstance(leaf, bool):
                    # Not the position, not its digits shifted (e.g. micro-degrees).
                    assert all(abs(leaf - n) > 1e-4 and abs(leaf - n * 1e6) > 1 for n in numbers), (
                        path,
                        leaf,
                    )
                if isinstance(leaf, str):
                    assert not any(prefix in leaf for prefix in prefixes), (path, leaf)


@pytest.mark.django_db
def test_walking_a_kilometre_in_10_m_steps_changes_a_bucket_only_when_the_grid_does():
    start = offset(NYC, north_km=0.2, east_km=-0.5)
    walker = person_at(start)
    # Victims near bucket edges in every direction, where an exact distance would flip often.
    victims = {
        person_at(offset(start, north_km=n, east_km=e)).pk: offset(start, north_km=n, east_km=e)
        for n, e in ((0.0, 1.0), (0.7, 0.7), (-1.98, 0.3), (2.0, 1.0), (-3.5, -3.5), (0.1, 4.98), (5.5, 7.0))
    }
    client = api_client_for(walker)
    history: list[tuple[str, dict[int, privacy.DistanceBucket]]] = []
    for step in range(101):  # 0 m … 1,000 m east
        here = offset(start, east_km=0.01 * step)
        _move(client, here)
        rows = client.get(f"{NEARBY}?radius_km=25&limit=100").json()["results"]
        buckets = {
            row["id"]: next(b for b in privacy.DISTANCE_BUCKETS if b.key == row["distance"]["key"])
            for row in rows
        }
        assert set(buckets) == set(victims)
        history.append((privacy.snap_cell_at(*here), buckets))

    cells_crossed = sum(1 for (a, _), (b, _) in zip(history, history[1:], strict=False) if a != b)
    assert 1 <= cells_crossed <= 2  # a kilometre is about one cell width (0.93 km here)
    for (cell_before, before), (cell_after, after) in zip(history, history[1:], strict=False):
        for victim, bucket in after.items():
            if cell_before == cell_after:
                assert bucket == before[victim]  # the same cell, the same answer
            else:
                assert abs(bucket.rank - before[victim].rank) <= 1
            # …and it is exactly the bucket between the two cells, whatever the exact positions.
            expected = privacy.snapped_distance_bucket(cell_after, privacy.snap_cell_at(*victims[victim]))
            assert bucket == expected


@pytest.mark.django_db
def test_an_impossible_speed_is_refused_and_the_list_stays_where_it_was():
    me = person_at(NYC)
    neighbour = person_at(offset(NYC, east_km=0.5))
    client = api_client_for(me)
    _move(client, NYC)
    before = client.get(NEARBY).json()
    pings = LocationPing.objects.filter(user=me).count()

    far = offset(NYC, north_km=300)  # 300 km a moment later
    response = client.post(LOCATION, {"latitude": far[0], "longitude": far[1]}, format="json")

    assert response.status_code == 400 and response.json()["error"]["code"] == "impossible_speed"
    assert LocationPing.objects.filter(user=me).count() == pings
    assert client.get(NEARBY).json() == before and before["results"][0]["id"] == neighbour.pk


# The trilateration attacker ------------------------------------------------------------------------

VICTIMS = 50
SPOOFS_PER_VICTIM = 200
QUERY_RADIUS_KM = 4.0
#: Victims live in this box (km east, km north of NYC); the attacker walks a grid over it and its margin.
VICTIM_BOX_KM = (4.0, 3.0)
SPOOF_STEP_KM = 0.6  # under the speed check's 1 km of GPS noise: every spoofed move is accepted
SPOOF_MARGIN_KM = 4.2
#: The attacker knows roughly where each victim is: its prior is centred up to this far from the truth.
PRIOR_OFFSET_KM = 0.8
HYPOTHESIS_SPAN_KM, HYPOTHESIS_STEP_KM = 4.5, 0.05
MIN_MEDIAN_ERROR_KM = 0.300
CONTROL_MAX_MEDIAN_KM = 0.150
BUCKET_EDGES = [b.low_km for b in privacy.DISTANCE_BUCKETS[1:]]


def _xy(positions: np.ndarray, origin: tuple[float, float]) -> np.ndarray:
    """(n, 2) latitude/longitude → (n, 2) km east and north of `origin` (flat within a few km)."""
    positions = np.atleast_2d(positions)
    north = (positions[:, 0] - origin[0]) * geo.KM_PER_DEGREE_LAT
    east = (positions[:, 1] - origin[1]) * geo.KM_PER_DEGREE_LAT * math.cos(math.radians(origin[0]))
    return np.stack([east, north], axis=1)


def _latlon(xy: np.ndarray, origin: tuple[float, float]) -> np.ndarray:
    latitude = origin[0] + xy[:, 1] / geo.KM_PER_DEGREE_LAT
    longitude = origin[1] + xy[:, 0] / (geo.KM_PER_DEGREE_LAT * math.cos(math.radians(origin[0])))
    return np.stack([latitude, longitude], axis=1)


def _serpentine() -> np.ndarray:
    """(n, 2) km: a grid over the victims' box and its margin, in an order whose steps are SPOOF_STEP_KM."""
    east = np.arange(
        -VICTIM_BOX_KM[0] - SPOOF_MARGIN_KM, VICTIM_BOX_KM[0] + SPOOF_MARGIN_KM + 1e-9, SPOOF_STEP_KM
    )
    north = np.arange(
        -VICTIM_BOX_KM[1] - SPOOF_MARGIN_KM, VICTIM_BOX_KM[1] + SPOOF_MARGIN_KM + 1e-9, SPOOF_STEP_KM
    )
    return np.array([(x, y) for row, y in enumerate(north) for x in (east if row % 2 == 0 else east[::-1])])


def _bucket_rank(km: np.ndarray) -> np.ndarray:
    return np.searchsorted(BUCKET_EDGES, km, side="right")


def _estimators(
    *,
    spoofs: np.ndarray,
    ranks: np.ndarray,
    positions: np.ndarray,
    hypotheses: np.ndarray,
    snapped: np.ndarray | None,
) -> dict[str, np.ndarray]:
    """The attacker's estimates (km x/y) from what it saw at each spoofed position, in walking order.

    spoofs (m, 2) km; ranks (m,) the victim's bucket rank, −1 where it was absent; positions (m,) its
    place in the list (−1 absent); hypotheses (h, 2) km, candidate victim positions; snapped (h, m) the
    bucket rank each hypothesis would have shown at each spoof under the snapping rule (the attacker
    knows the algorithm), or None to skip that strategy.
    """
    present = ranks >= 0
    distances = np.linalg.norm(hypotheses[:, None, :] - spoofs[None, :, :], axis=2)  # (h, m)
    estimates = {}

    # 1. Annuli: each answer puts the victim in a ring (or beyond the radius); keep the hypotheses that
    #    agree with the most answers and take their centroid.
    low = np.array([0.0, *BUCKET_EDGES])[np.maximum(ranks, 0)]
    high = np.array([*BUCKET_EDGES, np.inf])[np.maximum(ranks, 0)]
    agree = np.where(present, (distances >= low) & (distances < high), distances > QUERY_RADIUS_KM)
    votes = agree.sum(axis=1)
    estimates["annuli"] = hypotheses[votes == votes.max()].mean(axis=0)

    # 2. Bucket flips: where the bucket changes between neighbouring spoofed positions, the victim is at
    #    that bucket's edge from their midpoint; fit those circles by least squares.
    flips = [
        ((spoofs[i] + spoofs[i + 1]) / 2, BUCKET_EDGES[min(ranks[i], ranks[i + 1])])
        for i in range(len(ranks) - 1)
        if present[i] and present[i + 1] and ranks[i] != ranks[i + 1]
        and np.linalg.norm(spoofs[i] - spoofs[i + 1]) < 1.0
    ]  # fmt: skip
    if flips:
        midpoints = np.array([m for m, _edge in flips])
        edges = np.array([edge for _m, edge in flips])
        residual = np.linalg.norm(hypotheses[:, None, :] - midpoints[None, :, :], axis=2) - edges[None, :]
        estimates["flips"] = hypotheses[np.argmin((residual**2).sum(axis=1))]

    # 3. List order: the higher the victim ranks and the nearer its bucket, the closer the spoof.
    weights = np.where(present, (1.0 / (1 + np.maximum(positions, 0))) * (6 - np.maximum(ranks, 0)), 0.0)
    estimates["order"] = (spoofs * weights[:, None]).sum(axis=0) / weights.sum()

    # 4. Knowing the grid: every hypothesis whose snapped answers match all of them; their centroid.
    if snapped is not None:
        consistent = (snapped == ranks[None, :]).all(axis=1)
        assert consistent.any()  # the rule is the server's: the truth is always consistent
        estimates["grid-aware"] = hypotheses[consistent].mean(axis=0)
    return estimates


def _distribution(errors_km: list[float]) -> str:
    metres = np.asarray(errors_km) * 1000
    quantiles = np.percentile(metres, [0, 10, 25, 50, 75, 90, 100])
    names = ("min", "p10", "p25", "median", "p75", "p90", "max")
    return " ".join(f"{name}={value:,.0f}" for name, value in zip(names, quantiles, strict=True))


@pytest.mark.django_db
def test_a_trilateration_attacker_learns_no_more_than_the_victims_cell(capsys):
    rng = np.random.default_rng(20261122)
    # A city around the victims: people whose list positions and similarities the attacker also sees.
    crowd = [
        person_at(offset(NYC, east_km=float(e), north_km=float(n)), interests={"music": float(rng.random())})
        for e, n in rng.uniform(-12, 12, size=(150, 2))
    ]
    truths_xy = rng.uniform(-1, 1, size=(VICTIMS, 2)) * np.array(VICTIM_BOX_KM)
    truths = [offset(NYC, east_km=float(e), north_km=float(n)) for e, n in truths_xy]
    victims = [person_at(p, interests={"music": float(rng.random()), "pets": 0.5}) for p in truths]
    attacker = UserFactory()
    for blocker in rng.choice(len(crowd), size=5, replace=False):  # some blocks, as in any city
        BlockFactory(blocker=crowd[int(blocker)], blocked=attacker)
    everyone = [u.pk for u in [*crowd, *victims, attacker]]
    services.feature_vectors_store(batch=random_batch(user_ids=everyone, at=timezone.now(), seed=7))
    version = tiny_ralm_register(version="v1", seed=3)
    services.user_embeddings_encode_all(model_version_id=version.pk)
    services.model_version_activate(name="ralm", version="v1")

    # The walk: one spoofed position after another, through the API, and everything each answer says.
    walk_xy = _serpentine()
    walk = _latlon(walk_xy, NYC)
    client = api_client_for(attacker)
    answers: list[
        dict[int, tuple[int, int, float]]
    ] = []  # {victim id: (bucket rank, list position, similarity)}
    for latitude, longitude in walk:
        _move(client, (float(latitude), float(longitude)))
        rows = client.get(f"{NEARBY}?radius_km={QUERY_RADIUS_KM}&limit=100").json()["results"]
        assert len(rows) < 100  # nothing cut by the limit: absence means beyond the radius
        ranks = {b.key: b.rank for b in privacy.DISTANCE_BUCKETS}
        answers.append(
            {row["id"]: (ranks[row["distance"]["key"]], i, row["similarity"]) for i, row in enumerate(rows)}
        )
    walk_cells = [privacy.snap_cell_at(*p) for p in walk]

    errors: dict[str, list[float]] = {}
    control_errors: dict[str, list[float]] = {}
    for victim, truth_xy in zip(victims, truths_xy, strict=True):
        prior_xy = truth_xy + rng.uniform(-1, 1, size=2) * PRIOR_OFFSET_KM
        # The 200 spoofed positions around this victim: the walk's nearest to the prior, in walking order.
        chosen = np.sort(
            np.argsort(np.linalg.norm(walk_xy - prior_xy, axis=1), kind="stable")[:SPOOFS_PER_VICTIM]
        )
        seen = [answers[i].get(victim.pk) for i in chosen]
        ranks = np.array([-1 if a is None else a[0] for a in seen])
        positions = np.array([-1 if a is None else a[1] for a in seen])
        assert (ranks >= 0).sum() > 20, "the victim must be in view for the attack to mean anything"
        # The similarity never moved with the spoofed position: it says nothing about where anyone is.
        assert len({a[2] for a in seen if a is not None}) == 1

        spoofs = walk_xy[chosen]
        ticks = np.arange(-HYPOTHESIS_SPAN_KM, HYPOTHESIS_SPAN_KM + 1e-9, HYPOTHESIS_STEP_KM)
        hypotheses = prior_xy + np.stack(np.meshgrid(ticks, ticks), axis=-1).reshape(-1, 2)
        hypothesis_cells = privacy.snap_cells_from_indexes(*_grid_indexes(_latlon(hypotheses, NYC)))
        snapped = _snapped_ranks(hypothesis_cells, [walk_cells[i] for i in chosen])
        for name, estimate in _estimators(
            spoofs=spoofs, ranks=ranks, positions=positions, hypotheses=hypotheses, snapped=snapped
        ).items():
            errors.setdefault(name, []).append(float(np.linalg.norm(estimate - truth_xy)))

        # The control: the same attacker against buckets of exact distances (what snapping prevents).
        exact = np.linalg.norm(spoofs - truth_xy, axis=1)
        exact_ranks = np.where(exact <= QUERY_RADIUS_KM, _bucket_rank(exact), -1)
        for name, estimate in _estimators(
            spoofs=spoofs, ranks=exact_ranks, positions=positions, hypotheses=hypotheses, snapped=None
        ).items():
            if name != "order":
                control_errors.setdefault(name, []).append(float(np.linalg.norm(estimate - truth_xy)))

    with capsys.disabled():
        print(f"\n\nTrilateration attacker: {VICTIMS} victims × {SPOOFS_PER_VICTIM} spoofed positions each "
              f"({len(walk)} API queries), error in metres")  # fmt: skip
        for name, values in errors.items():
            print(f"  {name:<11} {_distribution(values)}")
        print("  control, the same attacker against buckets of exact distances:")
        for name, values in control_errors.items():
            print(f"  {name:<11} {_distribution(values)}")
    for name, values in errors.items():
        assert len(values) == VICTIMS
        assert np.median(values) >= MIN_MEDIAN_ERROR_KM, (name, _distribution(values))
    for name, values in control_errors.items():
        assert np.median(values) < CONTROL_MAX_MEDIAN_KM, (name, _distribution(values))


def _grid_indexes(latlon: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    rows = np.floor((latlon[:, 0] + 90.0) / privacy.SNAP_CELL_DEGREES).astype(np.int64)
    columns = np.floor((latlon[:, 1] + 180.0) / privacy.SNAP_CELL_DEGREES).astype(np.int64)
    return rows, columns


def _snapped_ranks(hypothesis_cells: list[str], spoof_cells: list[str]) -> np.ndarray:
    """(h, m) the bucket rank the server would answer for a victim in each hypothesis's cell seen from each
    spoofed position's cell, −1 beyond the query radius; computed per distinct cell pair."""
    unique_h, inverse_h = np.unique(hypothesis_cells, return_inverse=True)
    unique_s, inverse_s = np.unique(spoof_cells, return_inverse=True)
    centres_h = np.array([privacy.snap_cell_centre(c) for c in unique_h])
    centres_s = np.array([privacy.snap_cell_centre(c) for c in unique_s])
    km = geo.haversine_km_many(
        centres_h[:, None, 0], centres_h[:, None, 1], centres_s[None, :, 0], centres_s[None, :, 1]
    )
    ranks = np.where(km <= QUERY_RADIUS_KM, _bucket_rank(km), -1)
    return ranks[inverse_h][:, inverse_s]


def test_the_hypothesis_grid_helpers_agree_with_the_server_rule():
    rng = np.random.default_rng(5)
    latlon = np.stack([rng.uniform(40.6, 40.9, 500), rng.uniform(-74.1, -73.8, 500)], axis=1)
    cells = privacy.snap_cells_from_indexes(*_grid_indexes(latlon))
    assert cells == [privacy.snap_cell_at(lat, lon) for lat, lon in latlon]
    spoof_cells = cells[:7]
    ranks = _snapped_ranks(cells, spoof_cells)
    for i in (0, 17, 499):
        for j in range(7):
            km = privacy.snapped_distance_km(cells[i], spoof_cells[j])
            assert ranks[i, j] == (privacy.distance_bucket(km).rank if km <= QUERY_RADIUS_KM else -1)


@pytest.mark.django_db
def test_stale_positions_of_victims_vanish_rather_than_linger():
    me = person_at(NYC)
    victim = person_at(offset(NYC, east_km=0.3), updated_at=timezone.now() - timedelta(hours=73))
    assert victim.pk not in [row["id"] for row in api_client_for(me).get(NEARBY).json()["results"]]
