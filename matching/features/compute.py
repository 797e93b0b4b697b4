"""`features_as_of`: the six feature groups of many people, as of one moment, with set-based SQL.

A call reads 10 queries per chunk of up to `MAX_CHUNK` people, whatever the chunk's size: each table is
read once for the whole chunk (GROUP BY aggregates, or the chunk's rows in one query) and grouped by person
with numpy. Ids travel as one bound parameter (`sql.IdIn`) and times as integer microseconds
(`sql.EpochMicroseconds`), which keeps the per-row cost in C. Nothing at or after `at` counts: every
event, ping, visit, session and follow is filtered with `< at`. Profiles keep no history, so demographic
and preference features are the profile as it is now (the schema says so).

Python loops per person remain only where they are cheap and bounded by the chunk: reading profile JSON,
one geohash per person, and the distance from each person's centre to their own pings (users.geo measures
from one origin at a time).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import numpy as np
from django.db.models import Count, Exists, IntegerField, Max, OuterRef, Q, Value, When
from django.utils import timezone

from matching.features.context import (
    ContextProvider,
    UnknownContextProvider,
    UpcomingActivities,
    contextual_rows,
    upcoming_activities,
)
from matching.features.schema import CITY_LEVELS, INCOME_LEVELS, SCHEMA
from matching.features.sql import EpochMicroseconds, IdIn, IntegerCase
from ml.features import schema as fs
from users import geo, taxonomy
from users.models import (
    PERSON_EVENT_KINDS,
    AppSession,
    EventKind,
    Follow,
    InteractionEvent,
    LocationPing,
    Profile,
    User,
    Visit,
)

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MICROSECOND = timedelta(microseconds=1)
_US_PER_DAY = 86_400_000_000
_US_PER_HOUR = 3_600_000_000
_NO_TIME = int(np.iinfo(np.int64).min)

#: People per round of queries: bounds the rows held in memory at once. Callers pass chunks of about
#: 2,000 (matching.services); a longer list is split here, 10 queries per part.
MAX_CHUNK = 5_000

_GEO = SCHEMA.group("geographic")
_BEH = SCHEMA.group("behavioural")
_SOC = SCHEMA.group("social")
_DEM = SCHEMA.group("demographic")
_PREF = SCHEMA.group("preference")
_KIND_INDEX = {kind: index for index, kind in enumerate(EventKind.values)}
_PERSON_KINDS = np.array([_KIND_INDEX[kind] for kind in PERSON_EVENT_KINDS], dtype=np.int64)
#: A visit's place type as its index in VISIT_SHARE_PLACE_TYPES (−1 for the others), computed by the
#: database: an integer per row loads far faster than a string.
_VISIT_SHARE_CASE = IntegerCase(
    *(When(place__place_type=name, then=Value(i)) for i, name in enumerate(fs.VISIT_SHARE_PLACE_TYPES)),
    default=Value(-1),
    output_field=IntegerField(),
)
_PREFERENCE_FIELDS = (
    ("interests", "interest", taxonomy.INTERESTS),
    ("activity_preferences", "activity", taxonomy.ACTIVITY_TYPES),
    ("place_type_preferences", "place_type", taxonomy.PLACE_TYPES),
    ("time_preferences", "time", taxonomy.TIME_PREFERENCES),
)
_PROFILE_FIELDS = (
    "birth_year",
    "gender",
    "education_level",
    "income_level",
    "occupation",
    "marital_status",
    "city_level",
    "years_at_residence",
    "languages",
    *(field for field, _prefix, _vocabulary in _PREFERENCE_FIELDS),
)


@dataclass(frozen=True)
class FeatureBatch:
    """Features of n people as of one moment.

    user_ids: (n,) int64, in the order asked for; groups: {group: (n, dim) float32} for all six groups,
    in schema order.
    """

    user_ids: np.ndarray
    groups: dict[str, np.ndarray]
    as_of: datetime
    schema_version: int

    def __len__(self) -> int:
        return int(self.user_ids.shape[0])

    def matrix(self) -> np.ndarray:
        """(n, SCHEMA.total_dim) float32: the groups side by side, in schema order."""
        return np.concatenate([self.groups[group.name] for group in SCHEMA.groups], axis=1)


def features_as_of(
    *, user_ids: Sequence[int], at: datetime, context_provider: ContextProvider | None = None
) -> FeatureBatch:
    """The six groups for `user_ids` as of `at`: only data strictly before `at` counts.

    Rows follow `user_ids` (repeats repeat). Raises ValueError for an id with no user, or a naive `at`.
    The contextual group is the snapshot at each person's own position as of `at`.
    """
    if timezone.is_naive(at):
        raise ValueError("at must be timezone-aware")
    requested = np.asarray(list(user_ids), dtype=np.int64).reshape(-1)
    unique, inverse = np.unique(requested, return_inverse=True)
    provider = context_provider or UnknownContextProvider()
    chunks = [
        _chunk_features(ids=unique[start : start + MAX_CHUNK], at=at, provider=provider)
        for start in range(0, unique.shape[0], MAX_CHUNK)
    ]
    groups = {}
    for group in SCHEMA.groups:
        columns = (
            np.concatenate([chunk[group.name] for chunk in chunks]) if chunks else np.zeros((0, group.dim))
        )
        groups[group.name] = np.ascontiguousarray(columns[inverse], dtype=np.float32)
    return FeatureBatch(user_ids=requested, groups=groups, as_of=at, schema_version=SCHEMA.version)


# --- helpers ------------------------------------------------------------------------------------------
def _columns(rows: list[tuple], count: int) -> list[tuple]:
    """Rows of a values_list → `count` column tuples (empty tuples for no rows)."""
    return list(zip(*rows, strict=True)) if rows else [()] * count


def _micros(values: Iterable[int | None]) -> np.ndarray:
    """EpochMicroseconds values (None for NULL) → (k,) int64, _NO_TIME for NULL."""
    return np.array([_NO_TIME if value is None else value for value in values], dtype=np.int64)


def _rows_of(ids: np.ndarray, user_ids: Sequence[int]) -> np.ndarray:
    """(k,) user ids, all in the chunk → (k,) row positions in the sorted chunk `ids`."""
    return np.searchsorted(ids, np.asarray(user_ids, dtype=np.int64))


def _members(ids: np.ndarray, user_ids: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(k,) user ids, some outside the chunk → (k,) bool "in the chunk", (k,) row (valid where in)."""
    rows = np.minimum(np.searchsorted(ids, user_ids), ids.shape[0] - 1)
    return ids[rows] == user_ids, rows


def _safe_divide(numerator: np.ndarray, denominator: np.ndarray) -> np.ndarray:
    """Elementwise numerator / denominator, 0 where the denominator is 0."""
    return np.divide(
        numerator,
        denominator,
        out=np.zeros(np.broadcast(numerator, denominator).shape),
        where=denominator > 0,
    )


def _day_part_shares(
    *, rows: np.ndarray, parts: np.ndarray, weights: np.ndarray, totals: np.ndarray, n: int
) -> np.ndarray:
    """(k,) row, (k,) day-part index, (k,) weight, (n,) total weight per row → (n, 4) weighted shares."""
    sums = np.bincount(rows * len(fs.DAY_PARTS) + parts, weights=weights, minlength=n * len(fs.DAY_PARTS))
    return _safe_divide(sums.reshape(n, len(fs.DAY_PARTS)), totals[:, None])


def _local_day_parts(*, micros: np.ndarray, offsets_h: np.ndarray) -> np.ndarray:
    """(k,) epoch microseconds, (k,) whole-hour UTC offsets → (k,) day-part index in local solar time."""
    local_hours = np.mod(micros + offsets_h * _US_PER_HOUR, _US_PER_DAY) / _US_PER_HOUR
    return fs.day_part_index(local_hours=local_hours)


# --- one chunk ----------------------------------------------------------------------------------------
@dataclass
class _Chunk:
    ids: np.ndarray  # (n,) int64, sorted and unique
    at: datetime
    at_us: int  # `at` in epoch microseconds
    latitude: np.ndarray | None = None  # (n,) position as of `at`
    longitude: np.ndarray | None = None
    known: np.ndarray | None = None  # (n,) bool
    offsets_h: np.ndarray | None = None  # (n,) local solar offset, 0 (UTC) where unknown

    @property
    def n(self) -> int:
        return int(self.ids.shape[0])


def _chunk_features(*, ids: np.ndarray, at: datetime, provider: ContextProvider) -> dict[str, np.ndarray]:
    chunk = _Chunk(ids=ids, at=at, at_us=(at - _EPOCH) // _MICROSECOND)
    profiles, locations = _people(chunk)
    # First: it settles each person's position as of `at`, which local times and the context read.
    geographic = _geographic(chunk, locations=locations)
    made = _events_made(chunk)
    window_start = at - timedelta(days=max(fs.SOCIAL_WINDOW_DAYS, max(fs.BEHAVIOUR_WINDOWS_DAYS)))
    groups = {
        "geographic": geographic,
        "behavioural": _behavioural(chunk, made=made),
        "social": _social(chunk, made=made, window_start=window_start),
        "demographic": _demographic(chunk, profiles=profiles),
        "preference": _preference(chunk, profiles=profiles),
    }
    if chunk.known.any():
        known_lat = chunk.latitude[chunk.known]
        activities = upcoming_activities(
            at=at, min_latitude=float(known_lat.min()), max_latitude=float(known_lat.max())
        )
    else:
        activities = UpcomingActivities.empty()
    groups["contextual"] = contextual_rows(
        at=at,
        latitude=chunk.latitude,
        longitude=chunk.longitude,
        known=chunk.known,
        activities=activities,
        provider=provider,
    )
    return groups


@dataclass(frozen=True)
class _CurrentLocations:
    """Each row's current Location: (n,) latitude, longitude (NaN without one), updated_at epoch µs
    (_NO_TIME without one)."""

    latitude: np.ndarray
    longitude: np.ndarray
    updated_us: np.ndarray


def _people(chunk: _Chunk) -> tuple[list[tuple | None], _CurrentLocations]:
    """One query: every person's profile fields and current location. Raises for unknown ids.

    Returns per row the profile tuple (None without a profile), and the current locations.
    """
    rows = list(
        User.objects.filter(IdIn("pk", ids=chunk.ids))
        .annotate(location_updated_us=EpochMicroseconds("location__updated_at"))
        .values_list(
            "pk",
            "profile__pk",
            *(f"profile__{field}" for field in _PROFILE_FIELDS),
            "location__latitude",
            "location__longitude",
            "location_updated_us",
        )
    )
    if len(rows) != chunk.n:
        found = np.array([row[0] for row in rows], dtype=np.int64)
        unknown = np.setdiff1d(chunk.ids, found)
        raise ValueError(f"unknown user ids: {unknown[:20].tolist()}")
    profiles: list[tuple | None] = [None] * chunk.n
    latitude, longitude = np.full(chunk.n, np.nan), np.full(chunk.n, np.nan)
    updated_us = np.full(chunk.n, _NO_TIME, dtype=np.int64)
    for row in rows:
        index = int(np.searchsorted(chunk.ids, row[0]))
        if row[1] is not None:
            profiles[index] = row[2 : 2 + len(_PROFILE_FIELDS)]
        if row[-1] is not None:
            latitude[index], longitude[index], updated_us[index] = row[-3:]
    return profiles, _CurrentLocations(latitude, longitude, updated_us)


# --- geographic ---------------------------------------------------------------------------------------
def _geographic(chunk: _Chunk, *, locations: _CurrentLocations) -> np.ndarray:
    n, at = chunk.n, chunk.at
    out = np.tile(_GEO.missing_vector().astype(np.float64), (n, 1))
    column = _GEO.index

    # The whole history before `at`, one row per distinct position with its number of pings, in order of
    # each position's latest ping: the person's last row is their position as of `at`. People return to
    # the same spots, so this is several times fewer rows than pings (the NYC check-ins: 4x) and exact.
    positions = list(
        LocationPing.objects.filter(IdIn("user_id", ids=chunk.ids), recorded_at__lt=at)
        .values("user_id", "latitude", "longitude")
        .annotate(pings=Count("pk"), last_us=EpochMicroseconds(Max("recorded_at")))
        .order_by("user_id", "last_us")
        .values_list("user_id", "latitude", "longitude", "pings")
    )
    users, lats, lons, pings = _columns(positions, 4)
    rows = _rows_of(chunk.ids, users)
    lats = np.array(lats, dtype=np.float64)
    lons = np.array(lons, dtype=np.float64)
    pings = np.array(pings, dtype=np.float64)
    counts = np.bincount(rows, minlength=n)  # distinct positions
    ping_counts = np.bincount(rows, weights=pings, minlength=n)
    ends = np.cumsum(counts)

    latitude, longitude = np.zeros(n), np.zeros(n)
    has_ping = counts > 0
    latitude[has_ping], longitude[has_ping] = lats[ends[has_ping] - 1], lons[ends[has_ping] - 1]
    # Without a ping before `at`, a current location last moved before `at` is still where they were.
    fallback = ~has_ping & (locations.updated_us != _NO_TIME) & (locations.updated_us < chunk.at_us)
    latitude[fallback], longitude[fallback] = locations.latitude[fallback], locations.longitude[fallback]
    known = has_ping | fallback
    chunk.latitude, chunk.longitude, chunk.known = latitude, longitude, known
    chunk.offsets_h = np.where(known, fs.solar_utc_offset_hours(longitude=longitude), 0)

    out[known, column("latitude")] = latitude[known] / 90.0
    out[known, column("longitude")] = longitude[known] / 180.0
    geohash_columns = [column(f"geohash_{precision}") for precision in fs.GEOHASH_PRECISIONS]
    finest = max(fs.GEOHASH_PRECISIONS)
    for row in np.flatnonzero(known):
        cell = geo.encode(float(latitude[row]), float(longitude[row]), finest)
        out[row, geohash_columns] = [geo.geohash_numeric(cell, p) for p in fs.GEOHASH_PRECISIONS]
    out[:, column("location_missing")] = np.where(known, 0.0, 1.0)

    # Spread over every ping (positions weighted by their pings); the centre is the mean position (fine
    # away from the antimeridian).
    centre_lat = _safe_divide(np.bincount(rows, weights=pings * lats, minlength=n), ping_counts)
    centre_lon = _safe_divide(np.bincount(rows, weights=pings * lons, minlength=n), ping_counts)
    with_history = ping_counts >= 2
    # Each distinct position's distance from its own person's centre, for the whole chunk at once.
    distances = geo.haversine_km_many(centre_lat[rows], centre_lon[rows], lats, lons)
    gyration = np.sqrt(
        _safe_divide(np.bincount(rows, weights=pings * distances**2, minlength=n), ping_counts)
    )
    radius = np.zeros(n)
    np.maximum.at(radius, rows, distances)
    out[with_history, column("location_stability")] = 1.0 - np.minimum(
        gyration[with_history] / fs.STABILITY_SPREAD_CAP_KM, 1.0
    )
    out[with_history, column("activity_radius")] = np.minimum(
        radius[with_history] / fs.ACTIVITY_RADIUS_CAP_KM, 1.0
    )
    out[:, column("history_missing")] = np.where(with_history, 0.0, 1.0)

    visits = list(
        Visit.objects.filter(IdIn("user_id", ids=chunk.ids), visited_at__lt=at)
        .order_by("user_id", "visited_at")
        .annotate(visited_us=EpochMicroseconds("visited_at"), share=_VISIT_SHARE_CASE)
        .values_list("user_id", "visited_us", "share")
    )
    users, times, shares = _columns(visits, 3)
    rows = _rows_of(chunk.ids, users)
    micros = _micros(times)
    counts = np.bincount(rows, minlength=n)
    latest = np.zeros(n, dtype=np.int64)
    latest[counts > 0] = micros[np.cumsum(counts)[counts > 0] - 1]
    # Decayed from each person's latest visit: the same shares as from `at`, but 0.95^(years of days)
    # cannot underflow to 0/0.
    weights = fs.decay_weights(age_days=(latest[rows] - micros) / _US_PER_DAY)
    totals = np.bincount(rows, weights=weights, minlength=n)
    shares = np.array(shares, dtype=np.int64)
    for position, place_type in enumerate(fs.VISIT_SHARE_PLACE_TYPES):
        mask = shares == position
        sums = np.bincount(rows[mask], weights=weights[mask], minlength=n)
        out[:, column(f"visit_share_{place_type}")] = _safe_divide(sums, totals)
    out[:, column("visits_missing")] = np.where(counts > 0, 0.0, 1.0)
    return out


# --- behavioural --------------------------------------------------------------------------------------
@dataclass(frozen=True)
class _Events:
    """Events the chunk's people made in the widest window, each (k,): row, kind index, epoch µs, age
    before `at` in µs (int64, for exact window edges) and in days (float64, for the decay)."""

    rows: np.ndarray
    kinds: np.ndarray
    micros: np.ndarray
    age_us: np.ndarray
    age_days: np.ndarray

    def within(self, *, days: int) -> np.ndarray:
        """(k,) bool: the event lies in [at − days, at)."""
        return self.age_us <= days * _US_PER_DAY


def _events_made(chunk: _Chunk) -> _Events:
    widest = max(*fs.BEHAVIOUR_WINDOWS_DAYS, fs.SOCIAL_WINDOW_DAYS)
    events = list(
        InteractionEvent.objects.filter(
            IdIn("actor_id", ids=chunk.ids),
            occurred_at__gte=chunk.at - timedelta(days=widest),
            occurred_at__lt=chunk.at,
        )
        .order_by("actor_id", "occurred_at", "kind")
        .annotate(occurred_us=EpochMicroseconds("occurred_at"))
        .values_list("actor_id", "occurred_us", "kind")
    )
    actors, times, kinds = _columns(events, 3)
    micros = _micros(times)
    age_us = chunk.at_us - micros
    return _Events(
        rows=_rows_of(chunk.ids, actors),
        kinds=np.array([_KIND_INDEX[kind] for kind in kinds], dtype=np.int64),
        micros=micros,
        age_us=age_us,
        age_days=age_us / _US_PER_DAY,
    )


def _behavioural(chunk: _Chunk, *, made: _Events) -> np.ndarray:
    n = chunk.n
    out = np.tile(_BEH.missing_vector().astype(np.float64), (n, 1))
    column = _BEH.index
    kind_count = len(EventKind.values)
    parts = _local_day_parts(micros=made.micros, offsets_h=chunk.offsets_h[made.rows])
    weights = fs.decay_weights(age_days=made.age_days)
    for window in fs.BEHAVIOUR_WINDOWS_DAYS:
        inside = made.within(days=window)
        rows = made.rows[inside]
        decayed = np.bincount(rows, weights=weights[inside], minlength=n)
        out[:, column(f"interactions_{window}d")] = fs.capped_ratio(
            decayed, cap=fs.interaction_cap(window_days=window)
        )
        distinct = np.unique(rows * kind_count + made.kinds[inside]) // kind_count
        out[:, column(f"interaction_diversity_{window}d")] = np.bincount(distinct, minlength=n) / kind_count
        shares = _day_part_shares(
            rows=rows, parts=parts[inside], weights=weights[inside], totals=decayed, n=n
        )
        for position, (part, _start, _end) in enumerate(fs.DAY_PARTS):
            out[:, column(f"{part}_share_{window}d")] = shares[:, position]
        out[:, column(f"no_interactions_{window}d")] = np.where(np.bincount(rows, minlength=n) > 0, 0.0, 1.0)

    sessions = list(
        AppSession.objects.filter(
            IdIn("user_id", ids=chunk.ids),
            started_at__gte=chunk.at - timedelta(days=fs.APP_WINDOW_DAYS),
            started_at__lt=chunk.at,
        )
        .order_by("user_id", "started_at", "ended_at")
        .annotate(started_us=EpochMicroseconds("started_at"), ended_us=EpochMicroseconds("ended_at"))
        .values_list("user_id", "started_us", "ended_us")
    )
    users, starts, ends = _columns(sessions, 3)
    rows = _rows_of(chunk.ids, users)
    started = _micros(starts)
    ended = _micros(ends)
    # An unended session has no known length: it counts as a session of 0 minutes, never a guessed one.
    minutes = np.where(ended == _NO_TIME, 0.0, (np.minimum(ended, chunk.at_us) - started) / 60e6)
    weights = fs.decay_weights(age_days=(chunk.at_us - started) / _US_PER_DAY)
    per_day = fs.decayed_days(days=fs.APP_WINDOW_DAYS)
    totals = np.bincount(rows, weights=weights, minlength=n)
    daily_minutes = np.bincount(rows, weights=weights * minutes, minlength=n) / per_day
    out[:, column("app_minutes_per_day")] = fs.capped_ratio(daily_minutes, cap=fs.MINUTES_PER_DAY)
    out[:, column("app_sessions_per_day")] = fs.capped_ratio(
        totals / per_day, cap=fs.APP_SESSIONS_PER_DAY_CAP
    )
    parts = _local_day_parts(micros=started, offsets_h=chunk.offsets_h[rows])
    shares = _day_part_shares(rows=rows, parts=parts, weights=weights, totals=totals, n=n)
    for position, (part, _start, _end) in enumerate(fs.DAY_PARTS):
        out[:, column(f"app_{part}_share")] = shares[:, position]
    out[:, column("app_missing")] = np.where(np.bincount(rows, minlength=n) > 0, 0.0, 1.0)
    return out


# --- social -------------------------------------------------------------------------------------------
def _friend_ids_subquery(chunk: _Chunk):
    """SQL for the ids of the chunk's friends: followees who follow back, both follows before `at`."""
    follows_back = Follow.objects.filter(
        follower_id=OuterRef("followee_id"), followee_id=OuterRef("follower_id"), created_at__lt=chunk.at
    )
    return (
        Follow.objects.filter(IdIn("follower_id", ids=chunk.ids), created_at__lt=chunk.at)
        .filter(Exists(follows_back))
        .values("followee_id")
    )


def _social(chunk: _Chunk, *, made: _Events, window_start: datetime) -> np.ndarray:
    n, at = chunk.n, chunk.at
    out = np.tile(_SOC.missing_vector().astype(np.float64), (n, 1))
    column = _SOC.index

    # Every follow touching the chunk; an edge's reverse touches the chunk too, so reciprocity is exact.
    follows = list(
        Follow.objects.filter(Q(IdIn("follower_id", ids=chunk.ids)) | Q(IdIn("followee_id", ids=chunk.ids)))
        .filter(created_at__lt=at)
        .values_list("follower_id", "followee_id")
    )
    followers, followees = (np.array(column_, dtype=np.int64) for column_ in _columns(follows, 2))
    nodes, compact = np.unique(np.concatenate([followers, followees]), return_inverse=True)
    width = max(nodes.shape[0], 1)
    source, target = compact[: followers.shape[0]], compact[followers.shape[0] :]
    mutual = np.isin(source * width + target, target * width + source)
    out_member, out_rows = _members(chunk.ids, followers)
    in_member, in_rows = _members(chunk.ids, followees)
    out_degree = np.bincount(out_rows[out_member], minlength=n)
    in_degree = np.bincount(in_rows[in_member], minlength=n)
    friends = np.bincount(out_rows[out_member & mutual], minlength=n)
    mutual_in = np.bincount(in_rows[in_member & mutual], minlength=n)
    touching = out_degree + in_degree
    out[:, column("friend_count")] = fs.capped_ratio(friends, cap=fs.FRIEND_COUNT_CAP)
    out[:, column("network_density")] = _safe_divide((friends + mutual_in).astype(np.float64), touching)
    out[:, column("follows_missing")] = np.where(touching > 0, 0.0, 1.0)

    # Influence and social activity over the social window.
    social_made = made.within(days=fs.SOCIAL_WINDOW_DAYS)
    received = list(
        InteractionEvent.objects.filter(
            IdIn("target_id", ids=chunk.ids), occurred_at__gte=window_start, occurred_at__lt=at
        )
        .values("target_id", "kind")
        .annotate(events=Count("pk"))
        .values_list("target_id", "kind", "events")
        .order_by()
    )
    targets, received_kinds, received_counts = _columns(received, 3)
    received_rows = _rows_of(chunk.ids, targets)
    received_kinds = np.array([_KIND_INDEX[kind] for kind in received_kinds], dtype=np.int64)
    received_counts = np.array(received_counts, dtype=np.float64)
    person_received = np.isin(received_kinds, _PERSON_KINDS)
    received_total = np.bincount(
        received_rows[person_received], weights=received_counts[person_received], minlength=n
    )
    person_sent = social_made & np.isin(made.kinds, _PERSON_KINDS)
    sent_total = np.bincount(made.rows[person_sent], minlength=n).astype(np.float64)
    rate = _safe_divide(received_total, received_total + sent_total)
    out[:, column("influence")] = fs.capped_log(in_degree, cap=fs.FOLLOWERS_LOG_CAP) * rate
    for kind in fs.SOCIAL_ACTIVITY_KINDS:
        index = _KIND_INDEX[kind]
        sent = np.bincount(made.rows[social_made & (made.kinds == index)], minlength=n)
        got = received_kinds == index
        got = np.bincount(received_rows[got], weights=received_counts[got], minlength=n)
        out[:, column(f"{kind}s_sent_{fs.SOCIAL_WINDOW_DAYS}d")] = fs.capped_log(
            sent, cap=fs.SOCIAL_COUNT_LOG_CAP
        )
        out[:, column(f"{kind}s_received_{fs.SOCIAL_WINDOW_DAYS}d")] = fs.capped_log(
            got, cap=fs.SOCIAL_COUNT_LOG_CAP
        )

    # Circles: friend pairs (row, friend id) of the chunk, the friendships among those friends, and how
    # active each friend was.
    pair_rows = out_rows[out_member & mutual]
    pair_friends = followees[out_member & mutual]
    friend_ids = _friend_ids_subquery(chunk)
    among = list(
        Follow.objects.filter(
            follower_id__in=friend_ids, followee_id__in=friend_ids, created_at__lt=at
        ).values_list("follower_id", "followee_id")
    )
    activity = list(
        InteractionEvent.objects.filter(
            actor_id__in=friend_ids, occurred_at__gte=window_start, occurred_at__lt=at
        )
        .values("actor_id")
        .annotate(events=Count("pk"))
        .values_list("actor_id", "events")
        .order_by("actor_id")
    )
    out[:, column("circles")] = fs.capped_ratio(
        _circle_counts(pair_rows=pair_rows, pair_friends=pair_friends, among=among, n=n), cap=fs.CIRCLES_CAP
    )
    active_ids, active_counts = (np.array(column_, dtype=np.int64) for column_ in _columns(activity, 2))
    friend_events = np.zeros(pair_friends.shape[0])
    if active_ids.shape[0]:
        position = np.minimum(np.searchsorted(active_ids, pair_friends), active_ids.shape[0] - 1)
        found = active_ids[position] == pair_friends
        friend_events[found] = active_counts[position[found]]
    mean_events = _safe_divide(np.bincount(pair_rows, weights=friend_events, minlength=n), friends)
    out[:, column("circle_activity")] = fs.capped_log(mean_events, cap=fs.CIRCLE_ACTIVITY_LOG_CAP)
    out[:, column("friends_missing")] = np.where(friends > 0, 0.0, 1.0)
    return out


def _circle_counts(
    *, pair_rows: np.ndarray, pair_friends: np.ndarray, among: list[tuple[int, int]], n: int
) -> np.ndarray:
    """Connected components among each person's friends.

    pair_rows, pair_friends: (p,) the chunk's friendships as (row, friend id); among: directed follows
    between friends of the chunk (a superset of what each person needs). Returns (n,) int64.

    Nodes are the friendship pairs; two nodes (r, a), (r, b) are linked when a and b are friends of each
    other. One union-find over every node of the chunk (hook to the smaller label, then pointer-jump)
    labels each component by its smallest node; a person's circles are their nodes that are their own label.
    """
    if pair_rows.shape[0] == 0:
        return np.zeros(n, dtype=np.int64)
    first, second = (np.array(column_, dtype=np.int64) for column_ in _columns(among, 2))
    ids, compact = np.unique(np.concatenate([pair_friends, first, second]), return_inverse=True)
    width = ids.shape[0]
    friend_c = compact[: pair_friends.shape[0]]
    a = compact[pair_friends.shape[0] : pair_friends.shape[0] + first.shape[0]]
    b = compact[pair_friends.shape[0] + first.shape[0] :]
    # Undirected friendships among friends: each mutual pair once (a < b).
    keep = (a < b) & np.isin(a * width + b, b * width + a)
    a, b = a[keep], b[keep]

    node_keys = np.sort(pair_rows * width + friend_c)  # node i = (row, friend), sorted
    by_friend = np.argsort(friend_c, kind="stable")
    friend_sorted, rows_by_friend = friend_c[by_friend], pair_rows[by_friend]
    # For each friendship (a, b): every person r of the chunk befriending a, then keep those befriending b.
    low = np.searchsorted(friend_sorted, a, side="left")
    high = np.searchsorted(friend_sorted, a, side="right")
    repeats = high - low
    edge = np.repeat(np.arange(a.shape[0]), repeats)
    offsets = np.arange(edge.shape[0]) - np.repeat(np.cumsum(repeats) - repeats, repeats)
    candidate_rows = rows_by_friend[np.repeat(low, repeats) + offsets]
    key_b = candidate_rows * width + b[edge]
    node_b = np.minimum(np.searchsorted(node_keys, key_b), node_keys.shape[0] - 1)
    linked = node_keys[node_b] == key_b
    node_a = np.searchsorted(node_keys, candidate_rows * width + a[edge])
    u, v = node_a[linked], node_b[linked]

    labels = np.arange(node_keys.shape[0])
    while u.shape[0]:
        lu, lv = labels[u], labels[v]
        if np.array_equal(lu, lv):
            break
        # Hook the larger root under the smaller; labels only decrease, so this ends.
        np.minimum.at(labels, np.maximum(lu, lv), np.minimum(lu, lv))
        while True:
            jumped = labels[labels]
            if np.array_equal(jumped, labels):
                break
            labels = jumped
    roots = labels == np.arange(node_keys.shape[0])
    return np.bincount(node_keys[roots] // width, minlength=n)


# --- profile-based groups -----------------------------------------------------------------------------
# Rows are filled as Python lists and converted once: numpy scalar writes cost more than the work.
_DEM_COLUMN = {name: _DEM.index(name) for name in _DEM.names}
_PREF_COLUMNS = tuple(
    (
        {value: _PREF.index(f"{prefix}_{value}") for value in vocabulary},
        _PREF.index(f"{field}_missing"),
    )
    for field, prefix, vocabulary in _PREFERENCE_FIELDS
)


def _demographic(chunk: _Chunk, *, profiles: list[tuple | None]) -> np.ndarray:
    column = _DEM_COLUMN
    missing = _DEM.missing_vector().astype(np.float64).tolist()
    year = chunk.at.astimezone(UTC).year
    # Ages as of `at`, for everyone at once; -1 (not born yet, or unknown) finds no group.
    birth_years = np.array(
        [year + 1 if profile is None or profile[0] is None else profile[0] for profile in profiles],
        dtype=np.int64,
    )
    age_groups = fs.age_group_index(ages=year - birth_years).tolist()
    age_columns = [column[f"age_{suffix}"] for suffix, _low, _high in fs.AGE_GROUPS]
    scales = (
        ("education", len(Profile.Education.values), 0),
        ("income", INCOME_LEVELS, 0),
        ("city_level", CITY_LEVELS - 1, 1),  # (level − 1) / (levels − 1)
    )
    rows = []
    for profile, age_group in zip(profiles, age_groups, strict=True):
        values = list(missing)
        rows.append(values)
        if profile is None:
            continue
        _birth, gender, education, income, occupation, marital, city, years, languages = profile[:9]
        if age_group >= 0:
            for position in age_columns:
                values[position] = 0.0
            values[age_columns[age_group]] = 1.0
            values[column["age_missing"]] = 0.0
        for prefix, value in (("gender", gender), ("occupation", occupation), ("marital", marital)):
            position = column.get(f"{prefix}_{value}") if value else None
            if position is not None:
                values[position] = 1.0
                values[column[f"{prefix}_missing"]] = 0.0
        for (name, divisor, offset), level in zip(scales, (education, income, city), strict=True):
            if level is not None:
                values[column[name]] = (level - offset) / divisor
                values[column[f"{name}_missing"]] = 0.0
        if years is not None:
            values[column["years_at_residence"]] = min(years / fs.YEARS_AT_RESIDENCE_CAP, 1.0)
            values[column["years_at_residence_missing"]] = 0.0
        spoken = {
            code
            for code in (languages if isinstance(languages, list) else ())
            if isinstance(code, str) and code
        }
        if spoken:
            values[column["languages"]] = min(len(spoken) / fs.LANGUAGES_CAP, 1.0)
            values[column["languages_missing"]] = 0.0
    return np.array(rows, dtype=np.float64).reshape(chunk.n, _DEM.dim)


def _preference(chunk: _Chunk, *, profiles: list[tuple | None]) -> np.ndarray:
    missing = _PREF.missing_vector().astype(np.float64).tolist()
    first = _PROFILE_FIELDS.index(_PREFERENCE_FIELDS[0][0])
    rows = []
    for profile in profiles:
        values = list(missing)
        rows.append(values)
        if profile is None:
            continue
        for (value_columns, indicator), weights in zip(_PREF_COLUMNS, profile[first:], strict=True):
            if not isinstance(weights, dict):
                continue
            for key, weight in weights.items():
                position = value_columns.get(key)
                if (
                    position is None
                    or isinstance(weight, bool)
                    or not isinstance(weight, int | float)
                    or not math.isfinite(weight)
                ):
                    continue
                values[position] = min(max(float(weight), 0.0), 1.0)
                values[indicator] = 0.0
    return np.array(rows, dtype=np.float64).reshape(chunk.n, _PREF.dim)
