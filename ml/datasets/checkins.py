"""Check-in logs from files, for offline evaluation: the two layouts found in the shared data folder.

- **Foursquare NYC** (`foursquare-nyc/derived/nyc_checkins_full_derived.csv`): a CSV with a header holding
  at least `user_id, poi_idx, utc_time, latitude, longitude`; `category_id` / `category_name` are used when
  present (empty for places whose category is unknown).
- **Liu et al. 2017 LBSN layout** (`lbsn-yelp-liu2017/Yelp_3` and any data set laid out the same way):
  tab-separated files without header, found by suffix whatever their prefix:
  `<p>_check_ins.txt` (user, place, unix time), `<p>_poi_coos.txt` (place, latitude, longitude), and the
  optional `<p>_poi_categories.txt` (place, category; multi-label) and `<p>_social_relations.txt`
  (user, user; undirected friendships).

`checkin_log_read(path)` takes a file or a folder and recognises the layout; anything else raises
DatasetLayoutError naming the path. Both layouts give one `CheckinLog`: plain numpy arrays, people and
places re-indexed densely from 0 in the order of their original ids, check-ins sorted by (time, user,
place), so the same files always give the same arrays.
"""

from __future__ import annotations

import csv
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import numpy as np

NYC_REQUIRED_COLUMNS = ("user_id", "poi_idx", "utc_time", "latitude", "longitude")
LBSN_CHECKINS_SUFFIX = "_check_ins.txt"
LBSN_COORDINATES_SUFFIX = "_poi_coos.txt"
LBSN_CATEGORIES_SUFFIX = "_poi_categories.txt"
LBSN_FRIENDSHIPS_SUFFIX = "_social_relations.txt"

LAYOUT_NYC = "foursquare-nyc-csv"
LAYOUT_LBSN = "lbsn-liu2017"


class DatasetLayoutError(ValueError):
    """A path that holds neither layout, or holds a file of a layout that cannot be read."""


@dataclass(frozen=True)
class CheckinLog:
    """Check-ins with their places' coordinates, and optionally categories and friendships.

    users, places: (n,) int64 dense ids (0 … n_users − 1, 0 … n_places − 1); times: (n,) float64 unix
    seconds; sorted by (time, user, place). place_latitude / place_longitude: (n_places,) float64.
    place_category_pairs: (m, 2) int64 (place, category) rows, category ids 0 … n_categories − 1, a place
    may have several (Yelp) or none (unknown) — None when the data set has no categories at all.
    friendships: (f, 2) int64 (user, user) rows with the smaller id first, each pair once — None when the
    data set has no social relations. user_keys / place_keys / category_keys: the original ids (str),
    indexed by the dense ids.
    """

    name: str
    layout: str
    source: Path
    users: np.ndarray
    places: np.ndarray
    times: np.ndarray
    place_latitude: np.ndarray
    place_longitude: np.ndarray
    user_keys: np.ndarray
    place_keys: np.ndarray
    place_category_pairs: np.ndarray | None = None
    category_keys: np.ndarray | None = None
    friendships: np.ndarray | None = None

    @property
    def n_users(self) -> int:
        return int(self.user_keys.shape[0])

    @property
    def n_places(self) -> int:
        return int(self.place_keys.shape[0])

    @property
    def n_categories(self) -> int:
        return 0 if self.category_keys is None else int(self.category_keys.shape[0])

    def summary(self) -> dict[str, object]:
        return {
            "dataset": self.name,
            "layout": self.layout,
            "checkins": int(self.times.shape[0]),
            "users": self.n_users,
            "places": self.n_places,
            "categories": self.n_categories,
            "friendships": 0 if self.friendships is None else int(self.friendships.shape[0]),
            "first": datetime.fromtimestamp(float(self.times.min()), tz=UTC).isoformat(),
            "last": datetime.fromtimestamp(float(self.times.max()), tz=UTC).isoformat(),
        }


def _natural_order(keys: np.ndarray) -> np.ndarray:
    """Indices sorting string ids numerically when they are all integers, else as text."""
    try:
        return np.argsort(np.array([int(key) for key in keys], dtype=np.int64), kind="stable")
    except ValueError:
        return np.argsort(keys, kind="stable")


def _dense_ids(raw: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(n,) original ids (str) → (keys in natural order, (n,) int64 dense ids)."""
    distinct = np.unique(raw)
    keys = distinct[_natural_order(distinct)]
    lookup = {key: index for index, key in enumerate(keys.tolist())}
    return keys, np.fromiter((lookup[key] for key in raw.tolist()), dtype=np.int64, count=raw.shape[0])


def _finish(
    *,
    name: str,
    layout: str,
    source: Path,
    users_raw: np.ndarray,
    places_raw: np.ndarray,
    times: np.ndarray,
    coordinates: dict[str, tuple[float, float]],
    place_categories: dict[str, list[str]] | None,
    friendships_raw: list[tuple[str, str]] | None,
) -> CheckinLog:
    if times.shape[0] == 0:
        raise DatasetLayoutError(f"{source}: no check-ins")
    missing = sorted(set(places_raw.tolist()) - set(coordinates))
    if missing:
        raise DatasetLayoutError(
            f"{source}: {len(missing)} checked-in place(s) have no coordinates, e.g. {missing[:3]}"
        )
    if not np.isfinite(times).all():
        raise DatasetLayoutError(f"{source}: a check-in time is not a finite number")
    user_keys, users = _dense_ids(users_raw)
    place_keys, places = _dense_ids(places_raw)
    latitude = np.array([coordinates[key][0] for key in place_keys], dtype=np.float64)
    longitude = np.array([coordinates[key][1] for key in place_keys], dtype=np.float64)
    order = np.lexsort((places, users, times))

    pairs = category_keys = None
    if place_categories is not None:
        place_index = {key: index for index, key in enumerate(place_keys.tolist())}
        used = sorted(
            {c for key, cats in place_categories.items() if key in place_index for c in cats},
            key=lambda c: (0, int(c), "") if c.lstrip("-").isdigit() else (1, 0, c),
        )
        category_keys = np.array(used, dtype=str)
        category_index = {key: index for index, key in enumerate(used)}
        rows = sorted(
            {
                (place_index[key], category_index[c])
                for key, cats in place_categories.items()
                if key in place_index
                for c in cats
            }
        )
        pairs = np.array(rows, dtype=np.int64).reshape(-1, 2)

    friendships = None
    if friendships_raw is not None:
        user_index = {key: index for index, key in enumerate(user_keys.tolist())}
        # Friends without a single check-in cannot be represented; pairs are made undirected and unique.
        edges = {
            (min(user_index[a], user_index[b]), max(user_index[a], user_index[b]))
            for a, b in friendships_raw
            if a in user_index and b in user_index and a != b
        }
        friendships = np.array(sorted(edges), dtype=np.int64).reshape(-1, 2)

    return CheckinLog(
        name=name,
        layout=layout,
        source=source,
        users=users[order],
        places=places[order],
        times=times[order],
        place_latitude=latitude,
        place_longitude=longitude,
        user_keys=user_keys,
        place_keys=place_keys,
        place_category_pairs=pairs,
        category_keys=category_keys,
        friendships=friendships,
    )


# --- Foursquare NYC CSV ----------------------------------------------------------------------------


def _csv_header(path: Path) -> list[str] | None:
    try:
        with path.open(newline="", encoding="utf-8") as handle:
            return next(csv.reader(handle), None)
    except (OSError, UnicodeDecodeError):
        return None


def _is_nyc_csv(path: Path) -> bool:
    header = _csv_header(path) if path.suffix.lower() == ".csv" else None
    return header is not None and all(column in header for column in NYC_REQUIRED_COLUMNS)


def _parse_utc(value: str, *, path: Path, line: int) -> float:
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        raise DatasetLayoutError(f"{path}:{line}: bad utc_time {value!r}") from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.timestamp()


def _float(value: str, *, path: Path, line: int) -> float:
    try:
        return float(value)
    except ValueError:
        raise DatasetLayoutError(f"{path}:{line}: {value!r} is not a number") from None


def nyc_csv_read(path: Path, *, name: str | None = None) -> CheckinLog:
    """The Foursquare NYC derived CSV. A place's coordinates and category are its first row's."""
    users, places, times = [], [], []
    coordinates: dict[str, tuple[float, float]] = {}
    categories: dict[str, list[str]] = {}
    with path.open(newline="", encoding="utf-8") as handle:
        reader = csv.reader(handle)
        header = next(reader, None) or []
        index = {column: position for position, column in enumerate(header)}
        missing = [column for column in NYC_REQUIRED_COLUMNS if column not in index]
        if missing:
            raise DatasetLayoutError(f"{path} lacks column(s) {', '.join(missing)}; header is {header}")
        # Names, not ids: Foursquare gives one name several ids (284 ids, 192 names in NYC).
        category_column = index.get("category_name", index.get("category_id"))
        for row in reader:
            if not row:
                continue
            line = reader.line_num
            place = row[index["poi_idx"]]
            users.append(row[index["user_id"]])
            places.append(place)
            times.append(_parse_utc(row[index["utc_time"]], path=path, line=line))
            if place not in coordinates:
                coordinates[place] = (
                    _float(row[index["latitude"]], path=path, line=line),
                    _float(row[index["longitude"]], path=path, line=line),
                )
            if category_column is not None and place not in categories and row[category_column]:
                categories[place] = [row[category_column]]
    return _finish(
        name=name or "foursquare-nyc",
        layout=LAYOUT_NYC,
        source=path,
        users_raw=np.array(users, dtype=str),
        places_raw=np.array(places, dtype=str),
        times=np.array(times, dtype=np.float64),
        coordinates=coordinates,
        place_categories=categories if category_column is not None else None,
        friendships_raw=None,
    )


# --- Liu et al. 2017 LBSN layout -------------------------------------------------------------------


def _lbsn_files(folder: Path) -> dict[str, Path] | None:
    """{suffix: file} of one LBSN file set in `folder` (not its subfolders), None when it has none."""
    checkins = sorted(folder.glob(f"*{LBSN_CHECKINS_SUFFIX}"))
    if not checkins:
        return None
    if len(checkins) > 1:
        raise DatasetLayoutError(
            f"{folder} holds several check-in files ({', '.join(p.name for p in checkins)}): pass one of them"
        )
    return _lbsn_siblings(checkins[0])


def _lbsn_siblings(checkins: Path) -> dict[str, Path]:
    prefix = checkins.name[: -len(LBSN_CHECKINS_SUFFIX)]
    files = {LBSN_CHECKINS_SUFFIX: checkins}
    for suffix in (LBSN_COORDINATES_SUFFIX, LBSN_CATEGORIES_SUFFIX, LBSN_FRIENDSHIPS_SUFFIX):
        candidate = checkins.parent / f"{prefix}{suffix}"
        if candidate.is_file():
            files[suffix] = candidate
    if LBSN_COORDINATES_SUFFIX not in files:
        raise DatasetLayoutError(
            f"{checkins} needs its place coordinates in "
            f"{checkins.parent / (prefix + LBSN_COORDINATES_SUFFIX)}"
        )
    return files


def _tsv(path: Path, *, fields: int) -> list[list[str]]:
    rows = []
    with path.open(encoding="utf-8") as handle:
        for line, text in enumerate(handle, start=1):
            row = text.split()
            if not row:
                continue
            if len(row) < fields:
                raise DatasetLayoutError(
                    f"{path}:{line}: expected {fields} tab-separated fields, got {text!r}"
                )
            rows.append(row[:fields])
    return rows


def lbsn_read(files: dict[str, Path], *, name: str | None = None) -> CheckinLog:
    """One LBSN file set (from `_lbsn_files`)."""
    checkins_path = files[LBSN_CHECKINS_SUFFIX]
    rows = _tsv(checkins_path, fields=3)
    times = np.array(
        [_float(row[2], path=checkins_path, line=line) for line, row in enumerate(rows, start=1)],
        dtype=np.float64,
    )
    coordinates_path = files[LBSN_COORDINATES_SUFFIX]
    coordinates = {
        row[0]: (
            _float(row[1], path=coordinates_path, line=line),
            _float(row[2], path=coordinates_path, line=line),
        )
        for line, row in enumerate(_tsv(coordinates_path, fields=3), start=1)
    }
    categories = None
    if LBSN_CATEGORIES_SUFFIX in files:
        categories = {}
        for place, category in _tsv(files[LBSN_CATEGORIES_SUFFIX], fields=2):
            categories.setdefault(place, []).append(category)
    friendships = None
    if LBSN_FRIENDSHIPS_SUFFIX in files:
        friendships = [(a, b) for a, b in _tsv(files[LBSN_FRIENDSHIPS_SUFFIX], fields=2)]
    return _finish(
        name=name or checkins_path.parent.name.lower().replace("_", "-"),
        layout=LAYOUT_LBSN,
        source=checkins_path.parent,
        users_raw=np.array([row[0] for row in rows], dtype=str),
        places_raw=np.array([row[1] for row in rows], dtype=str),
        times=times,
        coordinates=coordinates,
        place_categories=categories,
        friendships_raw=friendships,
    )


# --- detection -------------------------------------------------------------------------------------


def checkin_log_read(path: str | Path, *, name: str | None = None) -> CheckinLog:
    """Read a check-in log from a file or a folder, recognising its layout.

    A file: an NYC-style CSV (by its header) or an LBSN `*_check_ins.txt` (its siblings by prefix).
    A folder: an LBSN file set directly inside it, or exactly one NYC-style CSV inside it or one level down
    (the NYC folder keeps it in derived/). `name` labels the result (default: from the files).
    """
    path = Path(path)
    if not path.exists():
        raise DatasetLayoutError(f"{path} does not exist")
    if path.is_file():
        if path.name.endswith(LBSN_CHECKINS_SUFFIX):
            return lbsn_read(_lbsn_siblings(path), name=name)
        if _is_nyc_csv(path):
            return nyc_csv_read(path, name=name)
        raise DatasetLayoutError(
            f"{path} is neither a Foursquare NYC check-in CSV "
            f"(header with {', '.join(NYC_REQUIRED_COLUMNS)}) "
            f"nor an LBSN *{LBSN_CHECKINS_SUFFIX} file"
        )
    lbsn = _lbsn_files(path)
    csvs = sorted(
        candidate
        for candidate in [*path.glob("*.csv"), *path.glob("*/*.csv")]
        if candidate.is_file() and _is_nyc_csv(candidate)
    )
    if lbsn is not None and csvs:
        raise DatasetLayoutError(
            f"{path} holds both an LBSN file set and NYC-style CSVs ({', '.join(map(str, csvs))}): "
            "pass one file"
        )
    if lbsn is not None:
        return lbsn_read(lbsn, name=name)
    if len(csvs) == 1:
        return nyc_csv_read(csvs[0], name=name)
    if len(csvs) > 1:
        raise DatasetLayoutError(
            f"{path} holds several NYC-style CSVs ({', '.join(map(str, csvs))}): pass one"
        )
    raise DatasetLayoutError(
        f"{path} holds no check-in data set: expected a Foursquare NYC CSV (header with "
        f"{', '.join(NYC_REQUIRED_COLUMNS)}) or LBSN files "
        f"(*{LBSN_CHECKINS_SUFFIX} with *{LBSN_COORDINATES_SUFFIX})"
    )
