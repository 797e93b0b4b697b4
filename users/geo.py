"""Geohash and distance helpers (python-geohash underneath).

Pure Python and numpy, no Django import, so services, selectors, tasks and benchmarks share one
implementation.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import geohash
import numpy as np

#: The geohash base-32 alphabet. It is *not* int(x, 32)'s alphabet (which has a, i, l, o and lacks w-z).
GEOHASH_ALPHABET = "0123456789bcdefghjkmnpqrstuvwxyz"
_CHAR_VALUE = {ch: i for i, ch in enumerate(GEOHASH_ALPHABET)}
MAX_PRECISION = 12
EARTH_RADIUS_KM = 6371.0088  # IUGG mean radius
KM_PER_DEGREE_LAT = math.pi * EARTH_RADIUS_KM / 180.0
_JUST_BELOW_NORTH_POLE = math.nextafter(90.0, 0.0)


def encode(latitude: float, longitude: float, precision: int = MAX_PRECISION) -> str:
    if not 1 <= precision <= MAX_PRECISION:
        raise ValueError(f"precision must be within 1..{MAX_PRECISION}, got {precision}")
    # Rounding to 1e-10 degrees (~0.01 mm) changes no 12-character cell, and sidesteps a bug in the C
    # extension that mis-encodes some vanishingly small magnitudes (e.g. 6.3e-195 lands in the wrong cell).
    latitude, longitude = round(latitude, 10), round(longitude, 10)
    # Geohash covers latitudes [-90, 90): the North Pole belongs to the cell just below it.
    latitude = min(latitude, _JUST_BELOW_NORTH_POLE)
    return geohash.encode(latitude, longitude, precision)


def decode(cell: str) -> tuple[float, float]:
    """The centre (latitude, longitude) of a geohash cell."""
    lat, lon, _lat_err, _lon_err = geohash.decode_exactly(cell)
    return lat, lon


def bounds(cell: str) -> tuple[float, float, float, float]:
    """(south, west, north, east) of a geohash cell."""
    lat, lon, lat_err, lon_err = geohash.decode_exactly(cell)
    return lat - lat_err, lon - lon_err, lat + lat_err, lon + lon_err


def neighbours(cell: str) -> list[str]:
    """The 8 cells around `cell` (fewer at the poles)."""
    return list(geohash.neighbors(cell))


def cell_size_degrees(precision: int) -> tuple[float, float]:
    """(height, width) in degrees of a cell of the given precision."""
    bits = 5 * precision
    lon_bits = (bits + 1) // 2
    lat_bits = bits // 2
    return 180.0 / 2**lat_bits, 360.0 / 2**lon_bits


def cell_size_km(precision: int, latitude: float) -> tuple[float, float]:
    """(height, width) in km of a cell at `latitude`."""
    height_deg, width_deg = cell_size_degrees(precision)
    return height_deg * KM_PER_DEGREE_LAT, width_deg * KM_PER_DEGREE_LAT * math.cos(math.radians(latitude))


def precision_for_radius(radius_km: float, latitude: float = 0.0) -> int:
    """The finest precision whose cell, with its 8 neighbours, still covers a circle of `radius_km`.

    A point anywhere in the centre cell reaches at most one cell-size in each direction, so the
    3x3 block covers the circle when both cell sides are at least the radius. Widths shrink with
    latitude, so the check uses the circle's most poleward latitude.
    """
    if not radius_km > 0 or math.isinf(radius_km):
        raise ValueError(f"radius_km must be a positive finite number, got {radius_km}")
    worst_lat = min(89.9, abs(latitude) + radius_km / KM_PER_DEGREE_LAT)
    for precision in range(MAX_PRECISION, 0, -1):
        height_km, width_km = cell_size_km(precision, worst_lat)
        if height_km >= radius_km and width_km >= radius_km:
            return precision
    return 1


def cells_covering(latitude: float, longitude: float, radius_km: float) -> list[str]:
    """Geohash cells (centre cell and its neighbours) that together cover the circle."""
    precision = precision_for_radius(radius_km, latitude)
    centre = encode(latitude, longitude, precision)
    return sorted({centre, *neighbours(centre)})


def haversine_km(lat1: float, lon1: float, lat2: float, lon2: float) -> float:
    """Great-circle distance in km."""
    phi1, phi2 = math.radians(lat1), math.radians(lat2)
    dphi = phi2 - phi1
    dlmb = math.radians(lon2 - lon1)
    a = math.sin(dphi / 2) ** 2 + math.cos(phi1) * math.cos(phi2) * math.sin(dlmb / 2) ** 2
    return 2 * EARTH_RADIUS_KM * math.asin(min(1.0, math.sqrt(a)))


def haversine_km_many(
    lat: float | np.ndarray,
    lon: float | np.ndarray,
    lats: Sequence[float] | np.ndarray,
    lons: Sequence[float] | np.ndarray,
) -> np.ndarray:
    """Distances in km, vectorised: from one point to many, or pairwise when `lat` and `lon` are arrays
    too (numpy broadcasting)."""
    phi1 = np.radians(np.asarray(lat, dtype=np.float64))
    lmb1 = np.radians(np.asarray(lon, dtype=np.float64))
    phi2 = np.radians(np.asarray(lats, dtype=np.float64))
    lmb2 = np.radians(np.asarray(lons, dtype=np.float64))
    a = np.sin((phi2 - phi1) / 2) ** 2 + np.cos(phi1) * np.cos(phi2) * np.sin((lmb2 - lmb1) / 2) ** 2
    return 2 * EARTH_RADIUS_KM * np.arcsin(np.minimum(1.0, np.sqrt(a)))


def geohash_to_int(cell: str) -> int:
    """The integer a geohash spells in its own base-32 alphabet (5 bits per character)."""
    value = 0
    for ch in cell:
        try:
            value = (value << 5) | _CHAR_VALUE[ch]
        except KeyError:
            raise ValueError(f"{ch!r} is not a geohash character (alphabet {GEOHASH_ALPHABET})") from None
    return value


def geohash_numeric(cell: str, precision: int) -> float:
    """The geohash truncated to `precision`, as a number in [0, 1): its integer over 32**precision.

    Cells that share a prefix are numerically close, so models can read the value as a feature.
    """
    if len(cell) < precision:
        raise ValueError(f"geohash {cell!r} is shorter than precision {precision}")
    return geohash_to_int(cell[:precision]) / float(32**precision)


# Privacy: distances to other people ----------------------------------------------------------------

#: Side of the grid cells positions are snapped to before any distance to another person is computed.
SNAP_CELL_KM = 1.0
_SNAP_LAT_STEP = SNAP_CELL_KM / KM_PER_DEGREE_LAT
#: Upper bounds (km) of the distance buckets shown to people; past the last one, "25+ km".
DISTANCE_BUCKET_BOUNDS_KM: tuple[float, ...] = (1.0, 2.0, 5.0, 10.0, 25.0)
DISTANCE_BUCKET_LABELS: tuple[str, ...] = ("<1 km", "1–2 km", "2–5 km", "5–10 km", "10–25 km", "25+ km")


def snap_to_grid(latitude: float, longitude: float) -> tuple[float, float]:
    """The centre of the ~SNAP_CELL_KM × SNAP_CELL_KM grid cell holding the point.

    Rows are SNAP_CELL_KM tall; each row is cut into cells SNAP_CELL_KM wide at the row's centre latitude,
    so every point of a cell snaps to the same centre, whatever the query it is part of.
    """
    row = math.floor((latitude + 90.0) / _SNAP_LAT_STEP)
    centre_lat = min(90.0, -90.0 + (row + 0.5) * _SNAP_LAT_STEP)
    lon_step = min(360.0, _SNAP_LAT_STEP / max(math.cos(math.radians(centre_lat)), 1e-6))
    column = math.floor((longitude + 180.0) / lon_step)
    centre_lon = -180.0 + (column + 0.5) * lon_step
    if centre_lon > 180.0:  # the last, narrower cell of a row
        centre_lon = (-180.0 + column * lon_step + 180.0) / 2
    return centre_lat, centre_lon


def distance_bucket_index(distance_km: float) -> int:
    """0 for < 1 km … len(DISTANCE_BUCKET_BOUNDS_KM) for 25+ km."""
    for index, bound in enumerate(DISTANCE_BUCKET_BOUNDS_KM):
        if distance_km < bound:
            return index
    return len(DISTANCE_BUCKET_BOUNDS_KM)


def snapped_distance_bucket(
    latitude: float, longitude: float, other_latitude: float, other_longitude: float
) -> int:
    """The bucket index of the distance between two positions, each snapped to its grid cell first."""
    a = snap_to_grid(latitude, longitude)
    b = snap_to_grid(other_latitude, other_longitude)
    return distance_bucket_index(haversine_km(a[0], a[1], b[0], b[1]))
