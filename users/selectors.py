"""Reads for users: the social graph, blocks, and a person's own view of themselves."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from django.db.models import Case, IntegerField, Q, Value, When

from users import geo
from users.models import Block, Follow, Location, Place, Profile, User


def blocked_user_ids(*, user: User) -> set[int]:
    """Everyone `user` blocked and everyone who blocked `user`: a block hides both ways."""
    made = Block.objects.filter(blocker_id=user.pk).values_list("blocked_id", flat=True)
    received = Block.objects.filter(blocked_id=user.pk).values_list("blocker_id", flat=True)
    return set(made.union(received))


def friend_ids(*, user: User) -> set[int]:
    """People `user` follows who follow `user` back (mutual follows), in one query."""
    followers = Follow.objects.filter(followee_id=user.pk).values("follower_id")
    return set(
        Follow.objects.filter(follower_id=user.pk, followee_id__in=followers).values_list(
            "followee_id", flat=True
        )
    )


@dataclass(frozen=True)
class Me:
    user: User
    profile: Profile
    #: The caller's own exact location: only ever shown to its owner.
    location: Location | None


def me_get(*, user: User) -> Me:
    """The caller, their profile and their own location, in one query."""
    fresh = User.objects.select_related("profile", "location").get(pk=user.pk)
    try:
        profile = fresh.profile
    except Profile.DoesNotExist:  # e.g. a superuser made by createsuperuser: show the defaults
        profile = Profile(user=fresh)
    try:
        location = fresh.location
    except Location.DoesNotExist:
        location = None
    return Me(user=fresh, profile=profile, location=location)


def person_public_name(*, user_id: int) -> str:
    """The name others see for a person (display name, else username); "" for nobody."""
    row = User.objects.filter(pk=user_id).values_list("display_name", "username").first()
    return (row[0] or row[1]) if row else ""


def username_canonical(*, username: str) -> str | None:
    """The stored spelling of a case-insensitively matching username (an exact match wins)."""
    return (
        User.objects.filter(username__iexact=username)
        .annotate(
            exact=Case(When(username=username, then=Value(0)), default=Value(1), output_field=IntegerField())
        )
        .order_by("exact", "pk")
        .values_list("username", flat=True)
        .first()
    )


#: The most venues a venue picker lists at once, and the widest circle it searches.
VENUE_LIST_LIMIT = 30
VENUE_MAX_RADIUS_KM = 10.0


def venue_list_near(
    *, latitude: float, longitude: float, radius_km: float, query: str = "", limit: int = VENUE_LIST_LIMIT
) -> list[Place]:
    """Public venues (never a home) within `radius_km`, nearest first, each with `distance_km` set.

    A geohash-prefix prefilter (indexed) narrows the rows; the exact great-circle distance decides.
    """
    radius_km = min(radius_km, VENUE_MAX_RADIUS_KM)
    prefix = Q()
    for cell in geo.cells_covering(latitude, longitude, radius_km):
        prefix |= Q(geohash__startswith=cell)
    candidates = Place.objects.filter(prefix).exclude(place_type="home")
    if query.strip():
        candidates = candidates.filter(name__icontains=query.strip())
    rows = list(candidates.values_list("pk", "latitude", "longitude"))
    if not rows:
        return []
    ids, lats, lons = zip(*rows, strict=True)
    distances = geo.haversine_km_many(latitude, longitude, np.array(lats), np.array(lons))
    nearest = [
        (float(distance), pk)
        for distance, pk in sorted(zip(distances, ids, strict=True))
        if distance <= radius_km
    ][:limit]
    places = Place.objects.in_bulk([pk for _distance, pk in nearest])
    for distance, pk in nearest:
        places[pk].distance_km = distance
    return [places[pk] for _distance, pk in nearest]


def venue_get(*, place_id: int) -> Place | None:
    """A public venue by id (None for a home or an unknown id)."""
    return Place.objects.exclude(place_type="home").filter(pk=place_id).first()
