from __future__ import annotations

import math
import random

import geohash as pygeohash
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from users import geo

latitudes = st.floats(min_value=-85, max_value=85, allow_nan=False)
longitudes = st.floats(min_value=-179.9, max_value=179.9, allow_nan=False)


def test_numeric_value_uses_the_geohash_alphabet_not_int_base_32():
    # 'b' is the 11th geohash character (value 10); int('b', 32) would say 11.
    assert geo.geohash_to_int("b") == 10
    assert geo.geohash_to_int("z") == 31
    assert geo.geohash_to_int("10") == 32
    assert geo.geohash_to_int("dr5ru") == (12 << 20) | (23 << 15) | (5 << 10) | (23 << 5) | 26
    with pytest.raises(ValueError, match="not a geohash character"):
        geo.geohash_to_int("dr5ra")  # 'a' is not in the alphabet


@given(latitudes, longitudes, st.integers(min_value=1, max_value=12))
def test_numeric_value_matches_the_interleaved_bits(lat, lon, precision):
    cell = geo.encode(lat, lon, precision)
    # geo.encode snaps to 1e-10 degrees first (see its comment); compare on the same snapped point.
    expected = pygeohash.encode_uint64(round(lat, 10), round(lon, 10)) >> (64 - 5 * precision)
    assert geo.geohash_to_int(cell) == expected


def test_numeric_value_is_normalised_and_ordered_like_the_cells():
    values = [geo.geohash_numeric(c, 6) for c in ("000000", "dr5ru7", "dr5ru8", "zzzzzz")]
    assert values[0] == 0.0 and values[-1] < 1.0
    assert values == sorted(values)
    assert geo.geohash_numeric("dr5ru7xyz", 6) == geo.geohash_numeric("dr5ru7", 6)
    with pytest.raises(ValueError):
        geo.geohash_numeric("dr5", 6)


@given(latitudes, longitudes)
def test_decode_returns_a_centre_within_half_a_cell(lat, lon):
    for precision in (5, 7, 9):
        cell = geo.encode(lat, lon, precision)
        height, width = geo.cell_size_degrees(precision)
        c_lat, c_lon = geo.decode(cell)
        assert abs(c_lat - lat) <= height / 2 + 1e-9
        assert abs(c_lon - lon) <= width / 2 + 1e-9
        south, west, north, east = geo.bounds(cell)
        # 1e-9: encode snaps to 1e-10 degrees, which may move a point onto the neighbouring edge.
        assert south - 1e-9 <= lat <= north + 1e-9 and west - 1e-9 <= lon <= east + 1e-9


def test_haversine_known_distances():
    # JFK to LAX is 3,974 km on the mean-radius sphere (about 3,983 km on the ellipsoid).
    assert geo.haversine_km(40.6413, -73.7781, 33.9416, -118.4085) == pytest.approx(3974, abs=5)
    assert geo.haversine_km(0, 0, 0, 1) == pytest.approx(111.195, abs=0.01)
    assert geo.haversine_km(10, 10, 10, 10) == 0.0
    # Across the antimeridian the short way round.
    assert geo.haversine_km(0, 179.5, 0, -179.5) == pytest.approx(111.195, abs=0.01)


def test_vectorised_haversine_agrees_with_scalar():
    rng = random.Random(7)
    points = [(rng.uniform(-80, 80), rng.uniform(-180, 180)) for _ in range(200)]
    many = geo.haversine_km_many(40.7, -74.0, [p[0] for p in points], [p[1] for p in points])
    for (lat, lon), d in zip(points, many, strict=True):
        assert d == pytest.approx(geo.haversine_km(40.7, -74.0, lat, lon), rel=1e-9)


def test_precision_shrinks_as_the_radius_grows():
    precisions = [geo.precision_for_radius(r, 40.7) for r in (0.05, 0.5, 2, 10, 50, 500)]
    assert precisions == sorted(precisions, reverse=True)
    assert geo.precision_for_radius(0.5, 40.7) == 6  # ~1.2 x 0.9 km cells at NYC
    assert geo.precision_for_radius(5, 40.7) == 4
    for bad in (0, -1, math.inf, math.nan):
        with pytest.raises(ValueError):
            geo.precision_for_radius(bad)


@settings(max_examples=300)
@given(
    latitudes,
    longitudes,
    st.floats(min_value=0.05, max_value=50),
    st.floats(min_value=0, max_value=360),
    st.floats(min_value=0, max_value=1),
)
def test_covering_cells_contain_every_point_within_the_radius(lat, lon, radius_km, bearing_deg, fraction):
    cells = geo.cells_covering(lat, lon, radius_km)
    assert 1 <= len(cells) <= 9
    # A point at `fraction * radius` in direction `bearing` (flat-earth step, 0.99 to stay strictly inside).
    d = radius_km * fraction * 0.99
    dlat = d * math.cos(math.radians(bearing_deg)) / geo.KM_PER_DEGREE_LAT
    dlon = d * math.sin(math.radians(bearing_deg)) / (geo.KM_PER_DEGREE_LAT * math.cos(math.radians(lat)))
    p_lat, p_lon = lat + dlat, ((lon + dlon + 180) % 360) - 180
    if geo.haversine_km(lat, lon, p_lat, p_lon) > radius_km:
        return  # the flat step overshot near a pole; only points inside the circle must be covered
    precision = len(cells[0])
    assert geo.encode(p_lat, p_lon, precision) in cells
