"""People placed on the map for the nearby tests: an account, a profile with tastes, and a location."""

from __future__ import annotations

import math
from datetime import datetime

from django.utils import timezone

from matching.nearby import privacy, rosters
from tests.factories import LocationFactory, UserFactory
from users import geo
from users.models import Profile, User

NYC = (40.7484, -73.9857)


def offset(
    origin: tuple[float, float], *, north_km: float = 0.0, east_km: float = 0.0
) -> tuple[float, float]:
    """The position north_km north and east_km east of `origin` (small distances, flat-earth step)."""
    latitude = origin[0] + north_km / geo.KM_PER_DEGREE_LAT
    longitude = origin[1] + east_km / (geo.KM_PER_DEGREE_LAT * math.cos(math.radians(origin[0])))
    return latitude, longitude


def person_at(
    position: tuple[float, float],
    *,
    interests: dict | None = None,
    activities: dict | None = None,
    updated_at: datetime | None = None,
    **user_fields,
) -> User:
    user = UserFactory(**user_fields)
    Profile.objects.filter(user=user).update(
        interests=interests or {}, activity_preferences=activities or {}, birth_year=1994
    )
    LocationFactory(
        user=user, latitude=position[0], longitude=position[1], updated_at=updated_at or timezone.now()
    )
    return user


def forget_rosters_around(position: tuple[float, float], *, radius_km: float) -> None:
    """Make every cached roster within `radius_km` of `position` a miss: what the location and profile
    services do on commit, for people placed straight in the database (person_at)."""
    ring = privacy.cells_within(privacy.snap_cell_at(*position), radius_km)
    rosters.cell_rosters_forget(cells=ring.cells(0, len(ring)))


def result_ids(response) -> list[int]:
    """The ids a 200 nearby answer lists, in order."""
    assert response.status_code == 200, response.json()
    return [row["id"] for row in response.json()["results"]]
