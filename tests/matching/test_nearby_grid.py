"""The snapping grid and the distance buckets of matching.nearby.privacy, and its SQL twin in PostgreSQL."""

from __future__ import annotations

import importlib

import numpy as np
import pytest
from django.db import connection

from matching.nearby import privacy
from users import geo

migration = importlib.import_module("matching.migrations.0003_nearby_experiments")


def _random_positions(count: int, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return np.stack([rng.uniform(-85, 85, count), rng.uniform(-180, 180, count)], axis=1)


def test_a_snap_cell_is_the_29_bit_geohash_square_around_the_position():
    for latitude, longitude in _random_positions(2000):
        cell = privacy.snap_cell_at(latitude, longitude)
        south, west, north, east = geo.bounds(cell)
        # The even 6-character cell is the southern half; with its partner it spans one square of 0.011°.
        assert north - south == pytest.approx(privacy.SNAP_CELL_DEGREES / 2)
        assert south <= latitude < south + privacy.SNAP_CELL_DEGREES and west <= longitude < east
        assert privacy.snap_cell(geo.encode(latitude, longitude)) == cell  # from any precision ≥ 6
        row, column = privacy.snap_cell_index(cell)
        assert privacy.snap_cell_from_index(row, column) == cell


def test_vectorised_cell_keys_equal_the_scalar_ones():
    rng = np.random.default_rng(1)
    rows, columns = rng.integers(0, privacy.SNAP_ROWS, 3000), rng.integers(0, privacy.SNAP_COLUMNS, 3000)
    expected = [privacy.snap_cell_from_index(int(r), int(c)) for r, c in zip(rows, columns, strict=True)]
    assert privacy.snap_cells_from_indexes(rows, columns) == expected


@pytest.mark.parametrize("radius_km", [0.5, 2.0, 5.0, 17.0])
def test_cells_within_are_every_cell_whose_centre_is_in_the_radius_nearest_first(radius_km):
    centre = privacy.snap_cell_at(40.7484, -73.9857)
    ring = privacy.cells_within(centre, radius_km)
    cells = ring.cells(0, len(ring))
    assert cells[0] == centre and len(set(cells)) == len(cells)
    assert np.all(np.diff(ring.distances_km) >= 0) and ring.distances_km[-1] <= radius_km
    for cell, km in zip(cells[:50], ring.distances_km[:50], strict=False):
        assert privacy.snapped_distance_km(centre, cell) == pytest.approx(km, abs=1e-9)
    # Nothing missed: a brute force over a wider square finds the same cells.
    row, column = privacy.snap_cell_index(centre)
    span = int(radius_km / 0.9) + 3
    brute = {
        privacy.snap_cell_from_index(row + dr, column + dc)
        for dr in range(-span, span + 1)
        for dc in range(-span, span + 1)
        if privacy.snapped_distance_km(centre, privacy.snap_cell_from_index(row + dr, column + dc))
        <= radius_km
    }
    assert set(cells) == brute


def test_buckets_cover_every_distance_once_and_score_from_the_bucket_alone():
    for km in (0.0, 0.99, 1.0, 1.99, 2.0, 4.99, 5.0, 9.99, 10.0, 24.99, 25.0, 1e4):
        matching = [b for b in privacy.DISTANCE_BUCKETS if b.contains(km)]
        assert matching == [privacy.distance_bucket(km)]
    assert [privacy.bucket_distance_score(b) for b in privacy.DISTANCE_BUCKETS] == pytest.approx(
        [1.0, 0.8, 0.6, 0.4, 0.2, 0.0]
    )
    with pytest.raises(ValueError):
        privacy.distance_bucket(float("nan"))


def test_the_migration_indexes_the_same_expression_the_code_queries():
    assert migration.SNAP_CELL.format(column="geohash") == privacy.snap_cell_sql("geohash")


@pytest.mark.django_db
def test_postgresql_computes_the_same_snap_cells_as_python():
    geohashes = [geo.encode(float(lat), float(lon)) for lat, lon in _random_positions(500, seed=3)]
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT {privacy.snap_cell_sql('g')} FROM unnest(%s::text[])"  # noqa: S608
            " WITH ORDINALITY AS t(g, i) ORDER BY i",
            [geohashes],
        )
        in_sql = [row[0] for row in cursor.fetchall()]
    assert in_sql == [privacy.snap_cell(g) for g in geohashes]
