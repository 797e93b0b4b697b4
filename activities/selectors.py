"""Reads for activities. Venues are public, so activity coordinates are exact; organisers' are never shown."""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

from django.core.exceptions import ValidationError
from django.db.models import (
    Case,
    CharField,
    Count,
    DateTimeField,
    Exists,
    F,
    FloatField,
    OuterRef,
    Q,
    QuerySet,
    Value,
    When,
)
from django.db.models.functions import ASin, Cos, Least, Power, Radians, Sin, Sqrt
from django.http import Http404
from django.utils import timezone

from activities.filters import ActivityFilter
from activities.models import Activity, ActivityStatus, Invitation, InvitationStatus, Participation
from users import geo
from users.models import Block, User


def activity_queryset(*, viewer: User) -> QuerySet[Activity]:
    """Activities as `viewer` may see them: with participant_count and joined, minus blocked organisers.

    Everything is annotated or joined in the one query, so a list costs the same whatever its length.
    """
    return (
        Activity.objects.select_related("organiser", "place")
        .annotate(
            participant_count=Count("participations", distinct=True),
            joined=Exists(Participation.objects.filter(activity=OuterRef("pk"), user_id=viewer.pk)),
        )
        # A block hides both people from each other everywhere, whoever blocked whom.
        .exclude(organiser_id__in=Block.objects.filter(blocker_id=viewer.pk).values("blocked_id"))
        .exclude(organiser_id__in=Block.objects.filter(blocked_id=viewer.pk).values("blocker_id"))
    )


def distance_km_expression(
    *, latitude: float, longitude: float, latitude_field: str = "latitude", longitude_field: str = "longitude"
) -> Any:
    """Haversine distance in km from a point to each row's (latitude_field, longitude_field), in SQL."""
    phi = math.radians(latitude)
    lam = math.radians(longitude)
    half_dphi = (Radians(F(latitude_field)) - Value(phi)) / Value(2.0)
    half_dlam = (Radians(F(longitude_field)) - Value(lam)) / Value(2.0)
    a = Power(Sin(half_dphi), 2) + Value(math.cos(phi)) * Cos(Radians(F(latitude_field))) * Power(
        Sin(half_dlam), 2
    )
    return Value(2 * geo.EARTH_RADIUS_KM) * ASin(Least(Value(1.0), Sqrt(a), output_field=FloatField()))


def activities_within(
    qs: QuerySet[Activity], *, latitude: float, longitude: float, radius_km: float
) -> QuerySet:
    """Cheap geohash-prefix prefilter (indexed), then the exact great-circle distance."""
    cells = geo.cells_covering(latitude, longitude, radius_km)
    prefix = Q()
    for cell in cells:
        prefix |= Q(geohash__startswith=cell)
    return (
        qs.filter(prefix)
        .annotate(distance_km=distance_km_expression(latitude=latitude, longitude=longitude))
        .filter(distance_km__lte=radius_km)
    )


def activity_list(*, viewer: User, filters: Mapping[str, Any] | None = None) -> QuerySet[Activity]:
    """Upcoming open activities by default; `filters` may set activity_type, status, starts_after,
    starts_before, and near=(latitude, longitude) with radius_km."""
    filters = dict(filters or {})
    near = filters.pop("near", None)
    radius_km = filters.pop("radius_km", None)
    filters.setdefault("status", ActivityStatus.OPEN)

    qs = activity_queryset(viewer=viewer)
    if filters.get("starts_after") is None:
        qs = qs.filter(starts_at__gt=timezone.now())  # upcoming unless the caller asks otherwise
    filterset = ActivityFilter(data=filters, queryset=qs)
    if not filterset.is_valid():
        raise ValidationError(filterset.errors.as_data())
    qs = filterset.qs
    if near is not None:
        qs = activities_within(qs, latitude=near[0], longitude=near[1], radius_km=radius_km)
    return qs.order_by("starts_at", "pk")


def activity_get(*, activity_id: int, viewer: User) -> Activity:
    """One activity as `viewer` may see it, or 404 (also when a block separates viewer and organiser)."""
    try:
        return activity_queryset(viewer=viewer).get(pk=activity_id)
    except Activity.DoesNotExist:
        raise Http404("No such activity.") from None


def activity_list_organised(*, organiser: User) -> QuerySet[Activity]:
    """Every activity `organiser` organises, whatever its status: upcoming first (soonest), then past."""
    upcoming_start = Case(
        When(starts_at__gt=timezone.now(), then=F("starts_at")), output_field=DateTimeField()
    )
    return (
        activity_queryset(viewer=organiser)
        .filter(organiser_id=organiser.pk)
        .order_by(upcoming_start.asc(nulls_last=True), F("starts_at").desc(), "pk")
    )


def invitation_effective_status() -> Case:
    """An invitation's status as people see it, for `.annotate(effective_status=…)`: one still "sent" when
    its activity has started is expired already (beat writes that down every few minutes)."""
    return Case(
        When(status=InvitationStatus.SENT, activity__starts_at__lte=timezone.now(), then=Value("expired")),
        default=F("status"),
        output_field=CharField(),
    )


def _invitations_received(*, invitee: User) -> QuerySet[Invitation]:
    return (
        Invitation.objects.filter(invitee=invitee)
        .select_related("activity", "activity__organiser", "activity__place")
        .annotate(effective_status=invitation_effective_status())
    )


def invitation_inbox_list(*, invitee: User, status: str | None = None) -> QuerySet[Invitation]:
    """The invitations `invitee` received, newest first, each with its activity and organiser, in one query.

    Filtered by `effective_status` (see `invitation_get`). Invitations from someone a block now separates
    from the invitee are left out, as their activities are everywhere else.
    """
    qs = (
        _invitations_received(invitee=invitee)
        .exclude(activity__organiser_id__in=Block.objects.filter(blocker_id=invitee.pk).values("blocked_id"))
        .exclude(activity__organiser_id__in=Block.objects.filter(blocked_id=invitee.pk).values("blocker_id"))
    )
    if status is not None:
        qs = qs.filter(effective_status=status)
    return qs.order_by("-created_at", "-pk")


def invitation_get(*, invitation_id: int, invitee: User) -> Invitation:
    """One invitation `invitee` received, with `effective_status`: "expired" for a "sent" one whose activity
    has started. Someone else's is a 404."""
    try:
        return _invitations_received(invitee=invitee).get(pk=invitation_id)
    except Invitation.DoesNotExist:
        raise Http404("No such invitation.") from None
