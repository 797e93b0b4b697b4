"""Streaming, idempotent loaders for public check-in datasets (and the demo generator, same path).

A dataset reader turns its files into three record streams: places (`PlaceRecord`), check-ins in file
order (`CheckinRecord`) and friendship edges. `checkins_load` writes them, whatever their origin:

1. places, with their place type and interests from `users.category_map`;
2. a first pass over the check-ins tallies, per person, the place types, interests and times of day they
   visited, and their last check-in *by time* (files need not be sorted);
3. people (unusable password, role person) and profiles whose preferences are those tallies, each
   normalised so the strongest is 1.0;
4. a second pass writes one Visit and one LocationPing (source "import") per check-in;
5. the current Location is the last check-in; friendships become two Follows (mutual).

Memory stays bounded by the number of people and places, never by the number of check-ins: check-ins are
read twice from disk instead of being held. Every write is a `bulk_create` in batches, one transaction per
batch, skipping rows that hit a unique constraint, so a second run adds nothing. Bulk writes bypass
`users.signals.location_changed`: after an import, rebuild features in bulk rather than per person.
"""

from __future__ import annotations

import csv
import time
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from itertools import islice
from pathlib import Path
from zoneinfo import ZoneInfo

from django.contrib.auth.hashers import make_password
from django.db import transaction

from users import geo
from users.category_map import FALLBACK, CategoryMapping, category_mapping, yelp_category_mapping
from users.models import Follow, Location, LocationPing, Place, Profile, User, Visit
from users.taxonomy import INTERESTS, PLACE_TYPES, TIME_PREFERENCES

BATCH_SIZE = 5_000
NYC_SOURCE = "foursquare-nyc"
YELP_SOURCE = "yelp"
NYC_DIR = Path("foursquare-nyc")
NYC_CHECKINS_FILE = NYC_DIR / "derived" / "nyc_checkins_full_derived.csv"
NYC_GETNEXT_FILES = (NYC_DIR / "getnext_NYC_val.csv", NYC_DIR / "getnext_NYC_test.csv")
NYC_TIMEZONE = ZoneInfo("America/New_York")
YELP_DIR = Path("lbsn-yelp-liu2017")
#: A GETNext check-in names the venue of a derived row lacking one only if the two positions agree this
#: closely: the raw TSMC2014 coordinates vary per check-in by up to ~150 m around the STAN per-POI point.
GETNEXT_MATCH_TOLERANCE_KM = 0.25
PLACE_NAME_GEOHASH_PRECISION = 6

#: The tables an import writes, as reported in its summary: label → model.
IMPORT_TABLES = {
    "users": User,
    "profiles": Profile,
    "places": Place,
    "visits": Visit,
    "pings": LocationPing,
    "locations": Location,
    "follows": Follow,
}

#: (phase, rows just processed, total rows in the phase if known)
ProgressCallback = Callable[[str, int, int | None], None]


class ImportDataError(Exception):
    """A dataset is missing or malformed; the message names the file and what to do."""


@dataclass(frozen=True, slots=True)
class PlaceRecord:
    external_id: str
    name: str
    category: str
    mapping: CategoryMapping
    latitude: float
    longitude: float


@dataclass(frozen=True, slots=True)
class CheckinRecord:
    #: The dataset's own person id; the username is the dataset's prefix + this.
    person: str
    #: The external_id of a PlaceRecord of the same dataset.
    place: str
    at: datetime


def _no_edges() -> Iterable[tuple[str, str]]:
    return ()


@dataclass(frozen=True)
class CheckinDataset:
    """One source of check-ins, as `checkins_load` consumes it."""

    source: str
    username_prefix: str
    places: Sequence[PlaceRecord]
    #: Called once per pass; each call streams every check-in again, in the same order.
    checkins: Callable[[], Iterable[CheckinRecord]]
    #: Undirected friendship edges, each listed once: every one becomes two follows.
    friendships: Callable[[], Iterable[tuple[str, str]]] = _no_edges
    #: Directed (follower, followee) edges: one follow each.
    follows: Callable[[], Iterable[tuple[str, str]]] = _no_edges
    #: Where the check-ins happened, for time-of-day preferences; None when times carry no local meaning.
    local_timezone: ZoneInfo | None = None
    checkin_count_hint: int | None = None
    notes: tuple[str, ...] = ()


@dataclass(frozen=True)
class ImportResult:
    source: str
    rows_read: dict[str, int]
    #: Check-ins naming an unknown place or person outside the --people limit.
    checkins_skipped: int
    people_selected: int
    counts_before: dict[str, int]
    counts_after: dict[str, int]
    seconds: float
    notes: tuple[str, ...] = ()

    @property
    def added(self) -> dict[str, int]:
        return {table: self.counts_after[table] - self.counts_before[table] for table in self.counts_after}


# --- writing ---------------------------------------------------------------------------------------


def table_counts() -> dict[str, int]:
    return {label: model.objects.count() for label, model in IMPORT_TABLES.items()}


@dataclass(slots=True)
class _PersonTally:
    checkins: int = 0
    place_types: Counter[str] = field(default_factory=Counter)
    interests: Counter[str] = field(default_factory=Counter)
    times: Counter[str] = field(default_factory=Counter)
    last_at: datetime | None = None
    last_place: str = ""


def _part_of_day(hour: int) -> str:
    if 5 <= hour < 12:
        return "morning"
    if 12 <= hour < 17:
        return "afternoon"
    if 17 <= hour < 22:
        return "evening"
    return "night"


def _normalised_strengths(counts: Counter[str], vocabulary: Sequence[str]) -> dict[str, float]:
    """{key: count / max count}, in vocabulary order so the stored JSON is the same on every run."""
    strongest = max(counts.values(), default=0)
    if strongest <= 0:
        return {}
    return {key: round(counts[key] / strongest, 3) for key in vocabulary if counts[key] > 0}


def _time_preferences(times: Counter[str]) -> dict[str, float]:
    # A week has five weekdays and two weekend days: compare per-day rates, or everyone "prefers" weekdays.
    day_rates = Counter({"weekday": times["weekday"] / 5, "weekend": times["weekend"] / 2})
    parts = Counter({part: times[part] for part in ("morning", "afternoon", "evening", "night")})
    strengths = {
        **_normalised_strengths(day_rates, TIME_PREFERENCES),
        **_normalised_strengths(parts, TIME_PREFERENCES),
    }
    return {key: strengths[key] for key in TIME_PREFERENCES if key in strengths}


def _person_sort_key(person: str) -> tuple[int, int, str]:
    return (0, int(person), "") if person.isdigit() else (1, 0, person)


def _chunks(items: Iterable, size: int) -> Iterator[list]:
    iterator = iter(items)
    while chunk := list(islice(iterator, size)):
        yield chunk


def _bulk_insert_ignoring_duplicates(model: type, objects: list, *, batch_size: int) -> None:
    with transaction.atomic():
        model.objects.bulk_create(objects, batch_size=batch_size, ignore_conflicts=True)


def _tally(
    *, dataset: CheckinDataset, mappings: dict[str, CategoryMapping], on_progress: ProgressCallback | None
) -> tuple[dict[str, _PersonTally], int, int]:
    tallies: dict[str, _PersonTally] = {}
    rows_read = skipped = 0
    pending_progress = 0
    for record in dataset.checkins():
        rows_read += 1
        pending_progress += 1
        if pending_progress == BATCH_SIZE and on_progress:
            on_progress("read check-ins", pending_progress, dataset.checkin_count_hint)
            pending_progress = 0
        mapping = mappings.get(record.place)
        if mapping is None:
            skipped += 1
            continue
        tally = tallies.get(record.person)
        if tally is None:
            tally = tallies[record.person] = _PersonTally()
        tally.checkins += 1
        tally.place_types[mapping.place_type] += 1
        tally.interests.update(mapping.interests)
        if dataset.local_timezone is not None:
            local = record.at.astimezone(dataset.local_timezone)
            tally.times["weekend" if local.weekday() >= 5 else "weekday"] += 1
            tally.times[_part_of_day(local.hour)] += 1
        # Strictly later only: among check-ins in the same minute the first one read stays, as for pings.
        if tally.last_at is None or record.at > tally.last_at:
            tally.last_at, tally.last_place = record.at, record.place
    if pending_progress and on_progress:
        on_progress("read check-ins", pending_progress, dataset.checkin_count_hint)
    return tallies, rows_read, skipped


def _user_ids(*, usernames: Sequence[str]) -> dict[str, int]:
    ids: dict[str, int] = {}
    # Chunked: SQLite builds without a raised variable limit refuse IN lists of more than 999 values.
    for chunk in _chunks(usernames, 900):
        ids.update(User.objects.filter(username__in=chunk).values_list("username", "id"))
    return ids


def checkins_load(
    *,
    dataset: CheckinDataset,
    people_limit: int | None = None,
    batch_size: int = BATCH_SIZE,
    on_progress: ProgressCallback | None = None,
) -> ImportResult:
    """Write a dataset's places, people, visits, pings, locations and follows; rerunning adds nothing.

    `people_limit` keeps the first N people in the dataset's own id order (numeric ids numerically), with
    their check-ins and the friendships among them; every place is still written.
    """
    started = time.perf_counter()
    counts_before = table_counts()

    places = {record.external_id: record for record in dataset.places}
    for chunk in _chunks(places.values(), batch_size):
        _bulk_insert_ignoring_duplicates(
            Place,
            [
                Place(
                    source=dataset.source,
                    external_id=record.external_id,
                    name=record.name[:200],
                    category=record.category[:120],
                    place_type=record.mapping.place_type,
                    latitude=record.latitude,
                    longitude=record.longitude,
                    geohash=geo.encode(record.latitude, record.longitude),
                )
                for record in chunk
            ],
            batch_size=batch_size,
        )
    place_ids = dict(Place.objects.filter(source=dataset.source).values_list("external_id", "id"))

    tallies, checkins_read, skipped = _tally(
        dataset=dataset,
        mappings={key: record.mapping for key, record in places.items()},
        on_progress=on_progress,
    )
    friendships_read = 0
    people = set(tallies)
    for first, second in dataset.friendships():
        friendships_read += 1
        people.update((first, second))
    for follower, followee in dataset.follows():
        people.update((follower, followee))
    selected = sorted(people, key=_person_sort_key)[:people_limit]
    selected_people = set(selected)

    # An account nobody can log in to: the person exists only as data.
    unusable_password = make_password(None)
    usernames = [dataset.username_prefix + person for person in selected]
    for chunk in _chunks(usernames, batch_size):
        _bulk_insert_ignoring_duplicates(
            User,
            [
                User(username=username, password=unusable_password, role=User.Role.PERSON)
                for username in chunk
            ],
            batch_size=batch_size,
        )
    user_ids = _user_ids(usernames=usernames)
    # Usernames are unique regardless of case: an account "NYC_7" would silently keep "nyc_7" out.
    taken = [username for username in usernames if username not in user_ids]
    if taken:
        raise ImportDataError(
            f"{len(taken)} username(s) are taken by other accounts in another case, e.g. {taken[0]!r}; "
            "rename those accounts and rerun"
        )
    person_user_ids = {person: user_ids[dataset.username_prefix + person] for person in selected}

    profiles = [
        Profile(
            user_id=person_user_ids[person],
            interests=_normalised_strengths(tally.interests, INTERESTS),
            place_type_preferences=_normalised_strengths(tally.place_types, PLACE_TYPES),
            time_preferences=_time_preferences(tally.times),
        )
        for person in selected
        for tally in [tallies.get(person, _PersonTally())]
    ]
    for chunk in _chunks(profiles, batch_size):
        with transaction.atomic():
            # The tallied preferences are the import's own output, so a rerun rewrites them (to the same
            # values); fields the import does not own, such as demographics, are left alone.
            Profile.objects.bulk_create(
                chunk,
                batch_size=batch_size,
                update_conflicts=True,
                unique_fields=["user"],
                update_fields=["interests", "place_type_preferences", "time_preferences"],
            )

    skipped += _write_checkins(
        dataset=dataset,
        places=places,
        place_ids=place_ids,
        person_user_ids=person_user_ids,
        batch_size=batch_size,
        on_progress=on_progress,
        total=sum(tallies[person].checkins for person in selected if person in tallies),
    )

    locations = []
    for person, tally in tallies.items():
        if person not in selected_people or tally.last_at is None:
            continue
        last_place = places[tally.last_place]
        locations.append(
            Location(
                user_id=person_user_ids[person],
                latitude=last_place.latitude,
                longitude=last_place.longitude,
                geohash=geo.encode(last_place.latitude, last_place.longitude),
                updated_at=tally.last_at,
            )
        )
    for chunk in _chunks(locations, batch_size):
        # Never overwrite: a position recorded since (in the app) is newer than any historical check-in.
        _bulk_insert_ignoring_duplicates(Location, chunk, batch_size=batch_size)

    _write_follows(
        dataset=dataset, person_user_ids=person_user_ids, batch_size=batch_size, on_progress=on_progress
    )

    return ImportResult(
        source=dataset.source,
        rows_read={"check-ins": checkins_read, "places": len(places), "friendships": friendships_read},
        checkins_skipped=skipped,
        people_selected=len(selected),
        counts_before=counts_before,
        counts_after=table_counts(),
        seconds=time.perf_counter() - started,
        notes=dataset.notes,
    )


def _write_checkins(
    *,
    dataset: CheckinDataset,
    places: dict[str, PlaceRecord],
    place_ids: dict[str, int],
    person_user_ids: dict[str, int],
    batch_size: int,
    on_progress: ProgressCallback | None,
    total: int,
) -> int:
    """Visits and pings, one batch per transaction. Returns the check-ins left out by the people limit."""
    place_geohashes = {key: geo.encode(record.latitude, record.longitude) for key, record in places.items()}
    visits: list[Visit] = []
    pings: list[LocationPing] = []
    rows = outside_limit = 0

    def flush() -> None:
        with transaction.atomic():
            Visit.objects.bulk_create(visits, batch_size=batch_size, ignore_conflicts=True)
            # The unique (user, recorded_at) constraint drops a second check-in in the same minute; the
            # first one read stays.
            LocationPing.objects.bulk_create(pings, batch_size=batch_size, ignore_conflicts=True)
        if on_progress:
            on_progress("write check-ins", rows, total)
        visits.clear()
        pings.clear()

    for record in dataset.checkins():
        place = places.get(record.place)
        if place is None:
            continue  # counted by the tally pass
        user_id = person_user_ids.get(record.person)
        if user_id is None:
            outside_limit += 1
            continue
        rows += 1
        visits.append(Visit(user_id=user_id, place_id=place_ids[record.place], visited_at=record.at))
        pings.append(
            LocationPing(
                user_id=user_id,
                latitude=place.latitude,
                longitude=place.longitude,
                geohash=place_geohashes[record.place],
                recorded_at=record.at,
                source=LocationPing.Source.IMPORT,
            )
        )
        if len(visits) >= batch_size:
            flush()
            rows = 0
    if visits:
        flush()
    return outside_limit


def _directed_edges(dataset: CheckinDataset) -> Iterator[tuple[str, str]]:
    for first, second in dataset.friendships():
        # A friendship is mutual: two directed follows.
        yield first, second
        yield second, first
    yield from dataset.follows()


def _write_follows(
    *,
    dataset: CheckinDataset,
    person_user_ids: dict[str, int],
    batch_size: int,
    on_progress: ProgressCallback | None,
) -> None:
    follows: list[Follow] = []
    for follower, followee in _directed_edges(dataset):
        follower_id, followee_id = person_user_ids.get(follower), person_user_ids.get(followee)
        if follower_id is None or followee_id is None or follower_id == followee_id:
            continue
        follows.append(Follow(follower_id=follower_id, followee_id=followee_id))
        if len(follows) >= batch_size:
            _bulk_insert_ignoring_duplicates(Follow, follows, batch_size=batch_size)
            if on_progress:
                on_progress("write follows", len(follows), None)
            follows = []
    if follows:
        _bulk_insert_ignoring_duplicates(Follow, follows, batch_size=batch_size)
        if on_progress:
            on_progress("write follows", len(follows), None)


def import_summary_table(*, result: ImportResult) -> str:
    """The summary a command prints: what was read, and rows added per table (COUNT after − before)."""
    read = ", ".join(f"{count:,} {label}" for label, count in result.rows_read.items())
    lines = [
        f"{result.source}: read {read}; {result.people_selected:,} people; {result.seconds:.1f} s",
        f"{'table':<10} {'before':>10} {'after':>10} {'added':>10}",
    ]
    for table, added in result.added.items():
        lines.append(
            f"{table:<10} {result.counts_before[table]:>10,} {result.counts_after[table]:>10,} {added:>10,}"
        )
    written = result.rows_read["check-ins"] - result.checkins_skipped
    lines.append(
        f"check-ins skipped (unknown place, outside --people): {result.checkins_skipped:,}; "
        f"pings not added (already present, or same person and minute): {written - result.added['pings']:,}; "
        f"visits not added (already present, or repeated): {written - result.added['visits']:,}"
    )
    lines += [f"note: {note}" for note in result.notes]
    return "\n".join(lines)


# --- Foursquare NYC --------------------------------------------------------------------------------


def _require(path: Path, *, what: str) -> Path:
    if not path.is_file():
        raise ImportDataError(
            f"{what} not found: {path}. Point VICINO_DATA_DIR (or --data-dir) at the folder holding "
            "foursquare-nyc/ and lbsn-yelp-liu2017/ (see docs/data.md)."
        )
    return path


def _csv_rows(path: Path, *, columns: Sequence[str]) -> Iterator[tuple[int, list[str], dict[str, int]]]:
    """(line number, row, column index) for each data row, after checking the header has `columns`."""
    with path.open(newline="", encoding="utf-8") as handle:
        reader = csv.reader(handle)
        header = next(reader, None)
        if header is None:
            raise ImportDataError(f"{path} is empty")
        index = {name: position for position, name in enumerate(header)}
        missing = [name for name in columns if name not in index]
        if missing:
            raise ImportDataError(f"{path} lacks column(s) {', '.join(missing)}; header is {header}")
        for row in reader:
            yield reader.line_num, row, index


def _parse_float(value: str, *, path: Path, line: int) -> float:
    try:
        return float(value)
    except ValueError:
        raise ImportDataError(f"{path}:{line}: {value!r} is not a number") from None


def _valid_coordinates(latitude: float, longitude: float) -> bool:
    return -90 <= latitude <= 90 and -180 <= longitude <= 180


def place_name(
    *, category: str, mapping: CategoryMapping, latitude: float, longitude: float, fallback: str
) -> str:
    # No dataset here has venue names. A public venue is told apart by its ~1 km cell; a home, or a venue
    # whose category is unknown (it may be one), is never named after where it is.
    if not category or mapping.private:
        return f"{category or 'Venue'} · {fallback}"
    return f"{category} · {geo.encode(latitude, longitude, PLACE_NAME_GEOHASH_PRECISION)}"


@dataclass(slots=True)
class _NycPoi:
    latitude: float
    longitude: float
    venue_id: str
    category: str


def _getnext_venues(
    *, paths: Sequence[Path], known_venues: set[str] | None
) -> tuple[dict[str, str], dict[tuple[str, str], list[tuple[str, float, float]]]]:
    """Venue → category from GETNext, and (user, minute) → check-ins at venues the derived file lacks."""
    categories: dict[str, str] = {}
    unknown_venue_checkins: dict[tuple[str, str], list[tuple[str, float, float]]] = {}
    for path in paths:
        for line, row, col in _csv_rows(
            path, columns=("user_id", "POI_id", "POI_catname", "latitude", "longitude", "UTC_time")
        ):
            venue_id = row[col["POI_id"]]
            categories.setdefault(venue_id, row[col["POI_catname"]])
            if known_venues is not None and venue_id not in known_venues:
                # "2012-11-09 21:54:47+00:00" → "2012-11-09T21:54", the derived file's minute.
                minute = row[col["UTC_time"]][:16].replace(" ", "T")
                unknown_venue_checkins.setdefault((row[col["user_id"]], minute), []).append(
                    (
                        venue_id,
                        _parse_float(row[col["latitude"]], path=path, line=line),
                        _parse_float(row[col["longitude"]], path=path, line=line),
                    )
                )
    return categories, unknown_venue_checkins


NYC_COLUMNS = (
    "user_id",
    "poi_idx",
    "utc_time",
    "latitude",
    "longitude",
    "venue_id",
    "category_id",
    "category_name",
)


def foursquare_nyc_dataset(*, data_dir: Path) -> CheckinDataset:
    """Foursquare NYC (TSMC2014, GETNext-filtered): the derived full table, venues filled from GETNext.

    The derived table lacks venue and category for the POIs seen only in GETNext's unavailable train
    split. The GETNext val/test files still name some of them: a derived row lacking a venue that has a
    GETNext check-in by the same person in the same minute, within GETNEXT_MATCH_TOLERANCE_KM, gets that
    venue (each venue and each POI matched at most once, closest pairs first).
    """
    checkins_path = _require(data_dir / NYC_CHECKINS_FILE, what="Foursquare NYC check-ins")
    getnext_paths = [path for path in (data_dir / name for name in NYC_GETNEXT_FILES) if path.is_file()]

    # The POIs first: which venues the derived table already knows decides which GETNext rows matter.
    pois: dict[str, _NycPoi] = {}
    rows = 0
    for line, row, col in _csv_rows(checkins_path, columns=NYC_COLUMNS):
        rows += 1
        poi_idx = row[col["poi_idx"]]
        if poi_idx not in pois:
            pois[poi_idx] = _NycPoi(
                latitude=_parse_float(row[col["latitude"]], path=checkins_path, line=line),
                longitude=_parse_float(row[col["longitude"]], path=checkins_path, line=line),
                venue_id=row[col["venue_id"]],
                category=row[col["category_name"]],
            )
    known_venues = {poi.venue_id for poi in pois.values() if poi.venue_id}
    getnext_categories, unknown_venue_checkins = _getnext_venues(
        paths=getnext_paths, known_venues=known_venues
    )

    categories_filled = 0
    for poi in pois.values():
        if poi.venue_id and not poi.category and getnext_categories.get(poi.venue_id):
            poi.category = getnext_categories[poi.venue_id]
            categories_filled += 1

    venues_filled = 0
    if unknown_venue_checkins:
        candidates: set[tuple[float, str, str]] = set()
        for _line, row, col in _csv_rows(checkins_path, columns=NYC_COLUMNS):
            if row[col["venue_id"]]:
                continue
            for venue_id, latitude, longitude in unknown_venue_checkins.get(
                (row[col["user_id"]], row[col["utc_time"]][:16]), ()
            ):
                poi = pois[row[col["poi_idx"]]]
                distance = geo.haversine_km(poi.latitude, poi.longitude, latitude, longitude)
                if distance <= GETNEXT_MATCH_TOLERANCE_KM:
                    candidates.add((distance, row[col["poi_idx"]], venue_id))
        matched_venues: set[str] = set()
        for _distance, poi_idx, venue_id in sorted(candidates):
            poi = pois[poi_idx]
            if poi.venue_id or venue_id in matched_venues:
                continue
            poi.venue_id, poi.category = venue_id, getnext_categories.get(venue_id, "")
            matched_venues.add(venue_id)
            venues_filled += 1

    places = []
    for poi_idx, poi in pois.items():
        if not _valid_coordinates(poi.latitude, poi.longitude):
            continue
        mapping = category_mapping(poi.category)
        places.append(
            PlaceRecord(
                external_id=poi.venue_id or f"poi-{poi_idx}",
                name=place_name(
                    category=poi.category,
                    mapping=mapping,
                    latitude=poi.latitude,
                    longitude=poi.longitude,
                    fallback=f"NYC #{poi_idx}",
                ),
                category=poi.category,
                mapping=mapping,
                latitude=poi.latitude,
                longitude=poi.longitude,
            )
        )
    place_key_by_poi = {poi_idx: poi.venue_id or f"poi-{poi_idx}" for poi_idx, poi in pois.items()}

    def checkins() -> Iterator[CheckinRecord]:
        for line, row, col in _csv_rows(checkins_path, columns=NYC_COLUMNS):
            try:
                at = datetime.fromisoformat(row[col["utc_time"]])
            except ValueError:
                raise ImportDataError(
                    f"{checkins_path}:{line}: bad utc_time {row[col['utc_time']]!r}"
                ) from None
            yield CheckinRecord(
                person=row[col["user_id"]], place=place_key_by_poi[row[col["poi_idx"]]], at=at.astimezone(UTC)
            )

    notes = [f"GETNext files used: {len(getnext_paths)} of {len(NYC_GETNEXT_FILES)}"]
    if venues_filled or categories_filled:
        notes.append(
            f"venue ids filled from GETNext: {venues_filled} places; categories filled: "
            f"{venues_filled + categories_filled} places"
        )
    uncategorised = sum(1 for poi in pois.values() if not poi.category)
    notes.append(f"places without a known category (place type 'other'): {uncategorised:,}")
    return CheckinDataset(
        source=NYC_SOURCE,
        username_prefix="nyc_",
        places=places,
        checkins=checkins,
        local_timezone=NYC_TIMEZONE,
        checkin_count_hint=rows,
        notes=tuple(notes),
    )


# --- Yelp (Liu et al. 2017 layout) -----------------------------------------------------------------


def _tsv_rows(path: Path, *, fields: int) -> Iterator[tuple[int, list[str]]]:
    with path.open(newline="", encoding="utf-8") as handle:
        for line, text in enumerate(handle, start=1):
            row = text.split()
            if not row:
                continue
            if len(row) < fields:
                raise ImportDataError(f"{path}:{line}: expected {fields} tab-separated fields, got {text!r}")
            yield line, row


def _find_by_suffix(folder: Path, suffix: str, *, required: bool) -> Path | None:
    matches = sorted(folder.rglob(f"*{suffix}")) if folder.is_dir() else []
    if not matches:
        if required:
            raise ImportDataError(
                f"no *{suffix} file under {folder}. Point VICINO_DATA_DIR (or --data-dir) at the folder "
                "holding lbsn-yelp-liu2017/ (see docs/data.md)."
            )
        return None
    if len({path.parent for path in matches}) > 1:
        raise ImportDataError(
            f"several *{suffix} files under {folder}: {', '.join(map(str, matches))}; keep one set"
        )
    return matches[0]


def yelp_dataset(*, data_dir: Path) -> CheckinDataset:
    """Yelp LBSN in the Liu et al. (PVLDB 2017) layout: files found by suffix, whatever their prefix."""
    folder = data_dir / YELP_DIR
    checkins_path = _find_by_suffix(folder, "_check_ins.txt", required=True)
    coordinates_path = _find_by_suffix(folder, "_poi_coos.txt", required=True)
    categories_path = _find_by_suffix(folder, "_poi_categories.txt", required=False)
    friendships_path = _find_by_suffix(folder, "_social_relations.txt", required=False)
    files_used = (checkins_path, coordinates_path, categories_path, friendships_path)

    category_ids: dict[str, list[str]] = {}
    if categories_path is not None:
        for _line, row in _tsv_rows(categories_path, fields=2):
            category_ids.setdefault(row[0], []).append(row[1])

    places = []
    for line, row in _tsv_rows(coordinates_path, fields=3):
        latitude = _parse_float(row[1], path=coordinates_path, line=line)
        longitude = _parse_float(row[2], path=coordinates_path, line=line)
        if not _valid_coordinates(latitude, longitude):
            continue
        ids = category_ids.get(row[0], [])
        mapping = yelp_category_mapping(int(ids[0])) if ids else FALLBACK
        category = f"yelp:{','.join(ids)}" if ids else ""
        if len(category) > 120:
            category = category[: category.rfind(",", 0, 120)]
        places.append(
            PlaceRecord(
                external_id=row[0],
                name=f"Yelp venue {row[0]} · {geo.encode(latitude, longitude, PLACE_NAME_GEOHASH_PRECISION)}",
                category=category,
                mapping=mapping,
                latitude=latitude,
                longitude=longitude,
            )
        )

    def checkins() -> Iterator[CheckinRecord]:
        for line, row in _tsv_rows(checkins_path, fields=3):
            seconds = _parse_float(row[2], path=checkins_path, line=line)
            yield CheckinRecord(person=row[0], place=row[1], at=datetime.fromtimestamp(seconds, tz=UTC))

    def friendships() -> Iterator[tuple[str, str]]:
        if friendships_path is None:
            return
        for _line, row in _tsv_rows(friendships_path, fields=2):
            yield row[0], row[1]

    return CheckinDataset(
        source=YELP_SOURCE,
        username_prefix="yelp_",
        places=places,
        checkins=checkins,
        friendships=friendships,
        # Yelp times are review dates (every one 16:00 UTC) in several cities: no time of day to learn.
        local_timezone=None,
        notes=(f"files: {', '.join(path.name for path in files_used if path)}",),
    )


DATASET_READERS: dict[str, Callable[..., CheckinDataset]] = {
    NYC_SOURCE: foursquare_nyc_dataset,
    YELP_SOURCE: yelp_dataset,
}
