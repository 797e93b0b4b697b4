"""Where other people are, as far as anyone else may know: a ~1 km snapping grid and distance buckets.

**The grid.** A person's position is snapped to a *snap cell*: a geohash cell of 29 bits, i.e. the
6-character geohash with its last latitude bit dropped. That is a square of 180/2^14 ≈ 0.011° in both
latitude and longitude: 1.22 km north–south everywhere, and 1.22 km · cos(latitude) east–west (0.93 km in
New York). Its key is the 6-character geohash whose last character is rounded down to an even alphabet
position (`dr5ru6` and `dr5ru7` are both the cell `dr5ru6`), so it is a pure string function of the
stored geohash and PostgreSQL can index it (see SNAP_CELL_SQL).

**What others see.** The distance between two people is the great-circle distance between the centres of
their snap cells, shown only as a bucket (< 1 km, 1–2, 2–5, 5–10, 10–25, 25+ km), and ranking reads only
the bucket. Everything the nearby list answers is therefore a function of the two cells, never of where
inside them either person is: an attacker who spoofs positions learns at best which cell the victim is in,
and guessing its centre misses by ~400 m in the median (tests/matching/test_nearby_privacy.py measures it).
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass

import numpy as np

from users import geo

#: Geohash characters a snap cell is cut from (its last one rounded down to an even alphabet position).
SNAP_PRECISION = 6
#: Side of a snap cell in degrees of latitude and of longitude (14 latitude bits, 15 longitude bits).
SNAP_CELL_DEGREES = 180.0 / 2**14
SNAP_ROWS = 2**14
SNAP_COLUMNS = 2**15
#: Each alphabet character → the even-positioned character of its pair: drops the 30th geohash bit.
EVEN_ALPHABET = "".join(geo.GEOHASH_ALPHABET[i & ~1] for i in range(len(geo.GEOHASH_ALPHABET)))
_EVEN = dict(zip(geo.GEOHASH_ALPHABET, EVEN_ALPHABET, strict=True))


def snap_cell_sql(column: str) -> str:
    """The SQL expression of a geohash column's snap cell. Constants are inlined (not bound parameters),
    so the expression is character for character the one the expression index is built on, and the
    planner can use it."""
    pairs = f"'{geo.GEOHASH_ALPHABET}', '{EVEN_ALPHABET}'"
    return f"(left({column}, 5) || translate(substr({column}, 6, 1), {pairs}))"


def snap_cell(geohash: str) -> str:
    """The snap cell of a stored geohash (any precision ≥ 6)."""
    if len(geohash) < SNAP_PRECISION:
        raise ValueError(f"a snap cell needs a geohash of at least {SNAP_PRECISION} characters: {geohash!r}")
    try:
        return geohash[: SNAP_PRECISION - 1] + _EVEN[geohash[SNAP_PRECISION - 1]]
    except KeyError:
        raise ValueError(f"{geohash!r} is not a geohash") from None


def snap_cell_at(latitude: float, longitude: float) -> str:
    return snap_cell(geo.encode(latitude, longitude, SNAP_PRECISION))


def snap_cell_centre(cell: str) -> tuple[float, float]:
    """(latitude, longitude) of the centre of a snap cell: the only position of a person others' answers
    are computed from."""
    south, west, _north, _east = geo.bounds(cell)  # the even cell is the southern half of the pair
    return south + SNAP_CELL_DEGREES / 2, west + SNAP_CELL_DEGREES / 2


def snap_cell_index(cell: str) -> tuple[int, int]:
    """(row, column) of a snap cell in the global grid: row 0 at the South Pole, column 0 at −180°."""
    latitude, longitude = snap_cell_centre(cell)
    return (
        int(math.floor((latitude + 90.0) / SNAP_CELL_DEGREES)),
        int(math.floor((longitude + 180.0) / SNAP_CELL_DEGREES)),
    )


def snap_cell_from_index(row: int, column: int) -> str:
    column %= SNAP_COLUMNS
    # The centre is half a cell from every edge: no rounding can put it in a neighbour.
    return snap_cell_at(-90.0 + (row + 0.5) * SNAP_CELL_DEGREES, -180.0 + (column + 0.5) * SNAP_CELL_DEGREES)


_ALPHABET_BYTES = np.frombuffer(geo.GEOHASH_ALPHABET.encode(), dtype=np.uint8)


def snap_cells_from_indexes(rows: np.ndarray, columns: np.ndarray) -> list[str]:
    """snap_cell_from_index for many cells at once: the geohash bits interleaved with numpy.

    A geohash alternates longitude and latitude bits, longitude first; a snap cell is 15 longitude bits
    (the column) and 14 latitude bits (the row), then a 0 where the dropped 30th bit was.
    """
    rows = np.asarray(rows, dtype=np.int64)
    columns = np.asarray(columns, dtype=np.int64) % SNAP_COLUMNS
    value = np.zeros(rows.shape, dtype=np.int64)
    for position in range(29):
        source, top = (columns, 14) if position % 2 == 0 else (rows, 13)
        value |= ((source >> (top - position // 2)) & 1) << (29 - position)
    characters = np.stack([(value >> shift) & 31 for shift in (25, 20, 15, 10, 5, 0)], axis=-1)
    raw = _ALPHABET_BYTES[characters].tobytes()
    return [raw[i : i + 6].decode() for i in range(0, len(raw), 6)]


def snapped_distance_km(cell_a: str, cell_b: str) -> float:
    return geo.haversine_km(*snap_cell_centre(cell_a), *snap_cell_centre(cell_b))


@dataclass(frozen=True)
class CellRing:
    """The snap cells whose centres lie within a radius of a centre cell's, nearest first.

    rows, columns: int64 (n,) grid indexes; distances_km: float64 (n,), ascending (ties by row, column).
    The keys are made the first time any is asked for, all at once: numpy makes 80 for the price of one,
    and rings are cached (cells_within), so people asking from the same cell reuse them.
    """

    rows: np.ndarray
    columns: np.ndarray
    distances_km: np.ndarray

    def __len__(self) -> int:
        return int(self.distances_km.shape[0])

    @functools.cached_property
    def _keys(self) -> list[str]:
        return snap_cells_from_indexes(self.rows, self.columns)

    def cells(self, start: int, stop: int) -> list[str]:
        return self._keys[start:stop]


@functools.lru_cache(maxsize=4096)
def cells_within(centre: str, radius_km: float) -> CellRing:
    """Every snap cell whose centre is within `radius_km` of `centre`'s centre (itself included).

    Cached per process: the answer depends on the two arguments alone, and people query from the same
    few cells over and over. Callers must not modify the arrays."""
    if not radius_km >= 0 or math.isinf(radius_km):
        raise ValueError(f"radius_km must be a finite number ≥ 0, got {radius_km}")
    row, column = snap_cell_index(centre)
    centre_lat, centre_lon = snap_cell_centre(centre)
    cell_km = SNAP_CELL_DEGREES * geo.KM_PER_DEGREE_LAT
    row_span = int(math.ceil(radius_km / cell_km)) + 1
    rows = np.arange(max(0, row - row_span), min(SNAP_ROWS, row + row_span + 1), dtype=np.int64)
    poleward = min(
        89.99,
        max(
            abs(-90.0 + (rows[0] + 0.5) * SNAP_CELL_DEGREES),
            abs(-90.0 + (rows[-1] + 0.5) * SNAP_CELL_DEGREES),
        ),
    )
    column_span = min(
        SNAP_COLUMNS // 2, int(math.ceil(radius_km / (cell_km * math.cos(math.radians(poleward))))) + 1
    )
    columns = np.arange(column - column_span, column + column_span + 1, dtype=np.int64)
    grid_rows, grid_columns = np.meshgrid(rows, columns, indexing="ij")
    grid_rows, grid_columns = grid_rows.ravel(), grid_columns.ravel()
    latitudes = -90.0 + (grid_rows + 0.5) * SNAP_CELL_DEGREES
    longitudes = -180.0 + (grid_columns % SNAP_COLUMNS + 0.5) * SNAP_CELL_DEGREES
    distances = geo.haversine_km_many(centre_lat, centre_lon, latitudes, longitudes)
    inside = distances <= radius_km
    # Nearest first; equal distances in grid order, so the order is a function of the cells alone.
    order = np.lexsort((grid_columns[inside], grid_rows[inside], distances[inside]))
    return CellRing(
        rows=grid_rows[inside][order],
        columns=grid_columns[inside][order] % SNAP_COLUMNS,
        distances_km=distances[inside][order],
    )


# Buckets --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class DistanceBucket:
    key: str
    label: str
    low_km: float
    high_km: float | None
    rank: int

    def contains(self, km: float) -> bool:
        return self.low_km <= km and (self.high_km is None or km < self.high_km)


DISTANCE_BUCKETS: tuple[DistanceBucket, ...] = tuple(
    DistanceBucket(key, label, low, high, rank)
    for rank, (key, label, low, high) in enumerate(
        (
            ("lt1", "< 1 km", 0.0, 1.0),
            ("1-2", "1–2 km", 1.0, 2.0),
            ("2-5", "2–5 km", 2.0, 5.0),
            ("5-10", "5–10 km", 5.0, 10.0),
            ("10-25", "10–25 km", 10.0, 25.0),
            ("25+", "25+ km", 25.0, None),
        )
    )
)


#: The labels in bucket order (index = DistanceBucket.rank).
DISTANCE_BUCKET_LABELS: tuple[str, ...] = tuple(bucket.label for bucket in DISTANCE_BUCKETS)


def snapped_distance_rank_between(
    latitude: float, longitude: float, other_latitude: float, other_longitude: float
) -> int:
    """The bucket rank (0 = < 1 km … 5 = 25+ km) between two exact positions, each snapped to its cell first:
    the one grid every surface uses, so no two surfaces can be combined into a finer one."""
    return snapped_distance_bucket(
        snap_cell_at(latitude, longitude), snap_cell_at(other_latitude, other_longitude)
    ).rank


def distance_bucket(km: float) -> DistanceBucket:
    if not km >= 0:
        raise ValueError(f"a distance is ≥ 0 km, got {km}")
    return next(bucket for bucket in DISTANCE_BUCKETS if bucket.contains(km))


def snapped_distance_bucket(cell_a: str, cell_b: str) -> DistanceBucket:
    """The bucket two people see between them: of the distance between their snap cells' centres."""
    return distance_bucket(snapped_distance_km(cell_a, cell_b))


def bucket_distance_score(bucket: DistanceBucket) -> float:
    """The distance part of the ranking, from the bucket alone: 1 for < 1 km down to 0 for 25+ km, so the
    order leaks no more than the buckets do."""
    return 1.0 - bucket.rank / (len(DISTANCE_BUCKETS) - 1)
