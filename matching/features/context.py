"""Contextual features: the moment and the place of a request.

Computed at request time (`contextual_features`), and as an as-of snapshot at each person's own position by
`features_as_of`, for training. Weather and traffic come through a `ContextProvider`; the default,
`UnknownContextProvider`, knows neither, so those values are the schema's missing value with their
indicator set. Nothing here invents a reading.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Protocol, runtime_checkable

import numpy as np
from django.db.models import Q
from django.utils import timezone

from activities.models import Activity, ActivityStatus
from matching.features.schema import SCHEMA
from ml.features import schema as fs
from users import geo, taxonomy

CONTEXTUAL = SCHEMA.group("contextual")
_COLUMN = {name: CONTEXTUAL.index(name) for name in CONTEXTUAL.names}
_ACTIVITY_TYPE_INDEX = {name: index for index, name in enumerate(taxonomy.ACTIVITY_TYPES)}
#: Degrees of latitude spanned by the nearby radius: the band the activities query reads.
_RADIUS_DEGREES_LAT = fs.NEARBY_ACTIVITY_RADIUS_KM / geo.KM_PER_DEGREE_LAT


@dataclass(frozen=True)
class WeatherReading:
    temperature_c: float
    precipitation_mm_per_h: float


@runtime_checkable
class ContextProvider(Protocol):
    """Where weather and traffic come from. Return None when unknown: never guess."""

    def weather(self, *, latitude: float, longitude: float, at: datetime) -> WeatherReading | None: ...

    def traffic(self, *, latitude: float, longitude: float, at: datetime) -> float | None:
        """Congestion from 0 (free flow) to 1 (standstill)."""
        ...


class UnknownContextProvider:
    """The default provider: it knows no weather and no traffic."""

    def weather(self, *, latitude: float, longitude: float, at: datetime) -> WeatherReading | None:
        return None

    def traffic(self, *, latitude: float, longitude: float, at: datetime) -> float | None:
        return None


@dataclass(frozen=True)
class UpcomingActivities:
    """Activities that were open at `at` and start within the horizon, sorted by latitude.

    latitude, longitude: (m,) float64 degrees; type_index: (m,) int64 into taxonomy.ACTIVITY_TYPES.
    """

    latitude: np.ndarray
    longitude: np.ndarray
    type_index: np.ndarray

    @classmethod
    def empty(cls) -> UpcomingActivities:
        return cls(np.zeros(0), np.zeros(0), np.zeros(0, dtype=np.int64))


def upcoming_activities(*, at: datetime, min_latitude: float, max_latitude: float) -> UpcomingActivities:
    """One query: activities open at `at`, starting in [at, at + horizon), in a band of latitudes
    widened by the nearby radius.

    "Open at `at`": created before `at`, and not cancelled, or cancelled after `at` (an activity keeps no
    status history; an update at or after `at` is the best evidence the cancellation came later).
    """
    rows = list(
        Activity.objects.filter(
            starts_at__gte=at,
            starts_at__lt=at + timedelta(days=fs.NEARBY_ACTIVITY_HORIZON_DAYS),
            created_at__lt=at,
            latitude__gte=min_latitude - _RADIUS_DEGREES_LAT,
            latitude__lte=max_latitude + _RADIUS_DEGREES_LAT,
        )
        .filter(~Q(status=ActivityStatus.CANCELLED) | Q(updated_at__gte=at))
        .order_by("latitude", "longitude", "pk")
        .values_list("latitude", "longitude", "activity_type")
    )
    if not rows:
        return UpcomingActivities.empty()
    latitudes, longitudes, types = zip(*rows, strict=True)
    return UpcomingActivities(
        latitude=np.array(latitudes, dtype=np.float64),
        longitude=np.array(longitudes, dtype=np.float64),
        type_index=np.array([_ACTIVITY_TYPE_INDEX.get(kind, -1) for kind in types], dtype=np.int64),
    )


def _local_calendar(*, at: datetime, offsets_h: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(n,) whole-hour UTC offsets → (n,) fractional local hour, (n,) weekday (Monday 0), (n,) month 1–12."""
    utc = at.astimezone(UTC)
    hours = np.zeros(offsets_h.shape)
    weekdays = np.zeros(offsets_h.shape)
    months = np.zeros(offsets_h.shape)
    # At most 25 distinct offsets: one datetime each, then broadcast.
    for offset in np.unique(offsets_h):
        local = utc + timedelta(hours=int(offset))
        where = offsets_h == offset
        hours[where] = local.hour + local.minute / 60 + (local.second + local.microsecond / 1e6) / 3600
        weekdays[where] = local.weekday()
        months[where] = local.month
    return hours, weekdays, months


def _finite(value: object) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        return None
    return float(value)


def contextual_rows(
    *,
    at: datetime,
    latitude: np.ndarray,
    longitude: np.ndarray,
    known: np.ndarray,
    activities: UpcomingActivities,
    provider: ContextProvider,
) -> np.ndarray:
    """The contextual group for n positions at one moment.

    latitude, longitude: (n,) float64 degrees (ignored where not known); known: (n,) bool.
    Returns (n, CONTEXTUAL.dim) float64.
    """
    n = latitude.shape[0]
    out = np.tile(CONTEXTUAL.missing_vector().astype(np.float64), (n, 1))
    offsets = np.where(known, fs.solar_utc_offset_hours(longitude=np.where(known, longitude, 0.0)), 0)
    hours, weekdays, months = _local_calendar(at=at, offsets_h=offsets)
    for unit, value, period in (
        ("hour", hours, 24.0),
        ("weekday", weekdays, 7.0),
        ("month", months - 1, 12.0),
    ):
        sin, cos = fs.cyclical(value=value, period=period)
        out[:, _COLUMN[f"{unit}_sin"]] = sin
        out[:, _COLUMN[f"{unit}_cos"]] = cos

    out[:, _COLUMN["location_missing"]] = np.where(known, 0.0, 1.0)
    type_count = len(taxonomy.ACTIVITY_TYPES)
    for row in np.flatnonzero(known):
        lat, lon = float(latitude[row]), float(longitude[row])
        # Activities are sorted by latitude: only the band within the radius needs a distance.
        lo, hi = np.searchsorted(activities.latitude, [lat - _RADIUS_DEGREES_LAT, lat + _RADIUS_DEGREES_LAT])
        if hi > lo:
            distances = geo.haversine_km_many(
                lat, lon, activities.latitude[lo:hi], activities.longitude[lo:hi]
            )
            near = distances <= fs.NEARBY_ACTIVITY_RADIUS_KM
            types = activities.type_index[lo:hi][near]
            out[row, _COLUMN["nearby_activities"]] = min(int(near.sum()) / fs.NEARBY_ACTIVITY_COUNT_CAP, 1.0)
            out[row, _COLUMN["nearby_activity_diversity"]] = np.unique(types[types >= 0]).size / type_count
        else:
            out[row, _COLUMN["nearby_activities"]] = 0.0
            out[row, _COLUMN["nearby_activity_diversity"]] = 0.0

        reading = provider.weather(latitude=lat, longitude=lon, at=at)
        temperature = _finite(getattr(reading, "temperature_c", None))
        precipitation = _finite(getattr(reading, "precipitation_mm_per_h", None))
        if temperature is not None and precipitation is not None:
            low, high = fs.TEMPERATURE_RANGE_C
            out[row, _COLUMN["temperature"]] = min(max((temperature - low) / (high - low), 0.0), 1.0)
            out[row, _COLUMN["precipitation"]] = min(
                max(precipitation, 0.0) / fs.PRECIPITATION_CAP_MM_PER_H, 1.0
            )
            out[row, _COLUMN["weather_missing"]] = 0.0
        congestion = _finite(provider.traffic(latitude=lat, longitude=lon, at=at))
        if congestion is not None:
            out[row, _COLUMN["traffic_congestion"]] = min(max(congestion, 0.0), 1.0)
            out[row, _COLUMN["traffic_missing"]] = 0.0
    return out


def contextual_features(
    *,
    at: datetime,
    latitude: float | None,
    longitude: float | None,
    provider: ContextProvider | None = None,
) -> np.ndarray:
    """The contextual group for a request at (latitude, longitude) and `at`: (CONTEXTUAL.dim,) float32.

    An unknown position (None) gives UTC time features and the location indicator; one query otherwise.
    """
    if timezone.is_naive(at):
        raise ValueError("at must be timezone-aware")
    known = latitude is not None and longitude is not None
    if known and not (-90.0 <= latitude <= 90.0 and -180.0 <= longitude <= 180.0):
        raise ValueError(f"({latitude}, {longitude}) is not a position")
    activities = (
        upcoming_activities(at=at, min_latitude=latitude, max_latitude=latitude)
        if known
        else UpcomingActivities.empty()
    )
    row = contextual_rows(
        at=at,
        latitude=np.array([latitude if known else 0.0], dtype=np.float64),
        longitude=np.array([longitude if known else 0.0], dtype=np.float64),
        known=np.array([known]),
        activities=activities,
        provider=provider or UnknownContextProvider(),
    )
    return row[0].astype(np.float32)
