"""Writes for activities: create, edit, join, leave, answer invitations, and the periodic state transitions.

Capacity is enforced with the activity row locked (SELECT ... FOR UPDATE): joins and accepted invitations
on the same activity queue up behind each other, so the count they check is the count they add to.
Sending invitations is matching's job (it ranks whom to invite); answering them is here.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from datetime import datetime
from typing import Any

from django.db import IntegrityError, transaction
from django.utils import timezone

from activities.models import Activity, ActivityStatus, Invitation, InvitationStatus, Participation
from config.api import ApplicationError
from users import geo, taxonomy
from users.models import InteractionEvent, Place, Role, User
from users.selectors import blocked_user_ids
from users.signals import person_features_changed_announce

CAPACITY_MIN, CAPACITY_MAX = 2, 500
TEXT_LIMITS = {"title": 120, "subtype": 60, "description": 2000}
EDITABLE_FIELDS = frozenset(
    {
        "activity_type",
        "subtype",
        "title",
        "description",
        "latitude",
        "longitude",
        "place_id",
        "starts_at",
        "ends_at",
        "skill_level",
        "capacity",
    }
)


def _forbidden(message: str) -> ApplicationError:
    return ApplicationError(message, code="permission_denied", status_code=403)


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _validate_fields(values: Mapping[str, Any]) -> None:
    """Field-level rules, for the fields present in `values`."""
    if "activity_type" in values and values["activity_type"] not in taxonomy.ACTIVITY_TYPES:
        raise ApplicationError(
            f"Choose one of {', '.join(taxonomy.ACTIVITY_TYPES)}.",
            field="activity_type",
            code="invalid_choice",
        )
    for field, limit in TEXT_LIMITS.items():
        if field in values and (not isinstance(values[field], str) or len(values[field]) > limit):
            raise ApplicationError(f"At most {limit} characters.", field=field)
    if "title" in values and not values["title"].strip():
        raise ApplicationError("A title is required.", field="title")
    for field, limit in (("latitude", 90), ("longitude", 180)):
        value = values.get(field)
        if value is not None and (not _is_number(value) or not -limit <= value <= limit):
            raise ApplicationError(f"Must be a finite number between -{limit} and {limit}.", field=field)
    if "capacity" in values:
        capacity = values["capacity"]
        if not _is_int(capacity) or not CAPACITY_MIN <= capacity <= CAPACITY_MAX:
            raise ApplicationError(
                f"Must be an integer from {CAPACITY_MIN} to {CAPACITY_MAX} (organiser included).",
                field="capacity",
            )
    skill = values.get("skill_level")
    if skill is not None and (not _is_int(skill) or not taxonomy.SKILL_MIN <= skill <= taxonomy.SKILL_MAX):
        raise ApplicationError(
            f"Must be an integer from {taxonomy.SKILL_MIN} to {taxonomy.SKILL_MAX}.", field="skill_level"
        )
    for field in ("starts_at", "ends_at"):
        if field in values and (not isinstance(values[field], datetime) or timezone.is_naive(values[field])):
            raise ApplicationError("Must be a date-time with a time zone.", field=field)


def _validate_schedule(
    *, starts_at: datetime, ends_at: datetime, now: datetime, starts_changed: bool
) -> None:
    if starts_changed and starts_at <= now:
        raise ApplicationError("Must be in the future.", field="starts_at")
    if ends_at <= starts_at:
        raise ApplicationError("Must be after starts_at.", field="ends_at")


def _place(place_id: Any) -> Place:
    if not _is_int(place_id):
        raise ApplicationError("Must be the id of a place.", field="place_id")
    try:
        place = Place.objects.get(pk=place_id)
    except Place.DoesNotExist:
        raise ApplicationError("No place has this id.", field="place_id", code="does_not_exist") from None
    if place.place_type == "home":
        # Activity venues are shown exactly to everyone; a home (e.g. Foursquare's "Home (private)")
        # is somebody's private position, so it can never become a venue.
        raise ApplicationError("A private home cannot be an activity's venue.", field="place_id")
    return place


def _resolve_position(
    *, latitude: float | None, longitude: float | None, place: Place | None
) -> tuple[float, float]:
    """The activity's coordinates: those given, else the place's. Both or neither must be given."""
    if latitude is None and longitude is None:
        if place is None:
            raise ApplicationError("Give latitude and longitude, or a place_id.", field="latitude")
        return place.latitude, place.longitude
    if latitude is None:
        raise ApplicationError("Required together with longitude.", field="latitude")
    if longitude is None:
        raise ApplicationError("Required together with latitude.", field="longitude")
    return latitude, longitude


@transaction.atomic
def activity_create(
    *,
    organiser: User,
    activity_type: str,
    title: str,
    starts_at: datetime,
    ends_at: datetime,
    capacity: int,
    latitude: float | None = None,
    longitude: float | None = None,
    place_id: int | None = None,
    subtype: str = "",
    description: str = "",
    skill_level: int | None = None,
    now: datetime | None = None,
) -> Activity:
    """Create an activity; its organiser is its first participant."""
    if organiser.role != Role.ORGANISER:
        raise _forbidden("Only organisers can create activities.")
    now = now or timezone.now()
    values = {
        "activity_type": activity_type,
        "title": title,
        "subtype": subtype,
        "description": description,
        "latitude": latitude,
        "longitude": longitude,
        "starts_at": starts_at,
        "ends_at": ends_at,
        "capacity": capacity,
        "skill_level": skill_level,
    }
    _validate_fields(values)
    _validate_schedule(starts_at=starts_at, ends_at=ends_at, now=now, starts_changed=True)
    place = _place(place_id) if place_id is not None else None
    latitude, longitude = _resolve_position(latitude=latitude, longitude=longitude, place=place)

    activity = Activity.objects.create(
        organiser=organiser,
        activity_type=activity_type,
        subtype=subtype,
        title=title,
        description=description,
        latitude=latitude,
        longitude=longitude,
        geohash=geo.encode(latitude, longitude),
        place=place,
        starts_at=starts_at,
        ends_at=ends_at,
        skill_level=skill_level,
        capacity=capacity,
        created_at=now,
    )
    Participation.objects.create(activity=activity, user=organiser, joined_at=now)
    return activity


def _locked(activity_id: int) -> Activity:
    try:
        return Activity.objects.select_for_update().get(pk=activity_id)
    except Activity.DoesNotExist:
        raise ApplicationError("No such activity.", code="not_found", status_code=404) from None


@transaction.atomic
def activity_update(
    *, activity_id: int, user: User, data: Mapping[str, Any], now: datetime | None = None
) -> Activity:
    """Change an open activity. Only its organiser may; capacity never drops below who has joined."""
    now = now or timezone.now()
    activity = _locked(activity_id)
    if activity.organiser_id != user.pk:
        raise _forbidden("Only this activity's organiser can change it.")
    if activity.status != ActivityStatus.OPEN:
        raise ApplicationError(f"A {activity.status} activity cannot be changed.", field="status")
    unknown = set(data) - EDITABLE_FIELDS
    if unknown:
        raise ApplicationError("This field cannot be changed.", field=sorted(unknown)[0])
    _validate_fields(data)

    starts_at = data.get("starts_at", activity.starts_at)
    ends_at = data.get("ends_at", activity.ends_at)
    _validate_schedule(
        starts_at=starts_at, ends_at=ends_at, now=now, starts_changed=starts_at != activity.starts_at
    )
    if "capacity" in data:
        joined = activity.participations.count()
        if data["capacity"] < joined:
            raise ApplicationError(
                f"{joined} people have already joined; capacity cannot be lower.", field="capacity"
            )

    if "place_id" in data:
        activity.place = _place(data["place_id"]) if data["place_id"] is not None else None
    if "latitude" in data or "longitude" in data:
        latitude, longitude = _resolve_position(
            latitude=data.get("latitude", activity.latitude),
            longitude=data.get("longitude", activity.longitude),
            place=activity.place,
        )
    elif data.get("place_id") is not None:
        latitude, longitude = activity.place.latitude, activity.place.longitude  # moved to the new venue
    else:
        latitude, longitude = activity.latitude, activity.longitude

    for field in ("activity_type", "subtype", "title", "description", "skill_level", "capacity"):
        if field in data:
            setattr(activity, field, data[field])
    activity.starts_at, activity.ends_at = starts_at, ends_at
    activity.latitude, activity.longitude = latitude, longitude
    activity.geohash = geo.encode(latitude, longitude)
    activity.save()
    return activity


def _participation_add(*, activity: Activity, user: User, now: datetime) -> bool:
    """Add `user` to `activity`, which the caller holds locked (`_locked`). Returns whether they joined now.

    The one place where capacity is checked: joins and accepted invitations both come through here, under
    the same row lock, so the count they check is the count they add to.
    """
    if Participation.objects.filter(activity=activity, user=user).exists():
        return False
    if activity.organiser_id in blocked_user_ids(user=user):
        raise _forbidden("You cannot join this activity.")
    if activity.status != ActivityStatus.OPEN:
        raise ApplicationError(f"This activity is {activity.status}.", code="not_open")
    if activity.starts_at <= now:
        raise ApplicationError("This activity has already started.", code="started")
    if activity.participations.count() >= activity.capacity:
        raise ApplicationError("This activity is full.", code="full", status_code=409)
    try:
        with transaction.atomic():
            Participation.objects.create(activity=activity, user=user, joined_at=now)
    except IntegrityError:  # pragma: no cover - the row lock makes a concurrent duplicate impossible
        return False
    InteractionEvent.objects.create(
        kind=InteractionEvent.Kind.JOIN, actor=user, activity_id=activity.pk, occurred_at=now
    )
    person_features_changed_announce(sender=Participation, user_ids=[user.pk])
    return True


def _invitation_answer(*, invitation: Invitation, status: str, now: datetime) -> None:
    kind = {
        InvitationStatus.ACCEPTED: InteractionEvent.Kind.INVITE_ACCEPTED,
        InvitationStatus.DECLINED: InteractionEvent.Kind.INVITE_DECLINED,
    }[status]
    invitation.status = status
    invitation.responded_at = now
    invitation.save(update_fields=["status", "responded_at", "updated_at"])
    InteractionEvent.objects.create(
        kind=kind,
        actor_id=invitation.invitee_id,
        target_id=invitation.invited_by_id,
        activity_id=invitation.activity_id,
        occurred_at=now,
    )


@transaction.atomic
def activity_join(*, activity_id: int, user: User, now: datetime | None = None) -> tuple[Activity, bool]:
    """Join an open activity that has not started and has room. Returns (activity, joined_now).

    Joining again is a no-op that succeeds. Someone separated from the organiser by a block cannot join.
    Joining while invited answers the invitation: it is accepted.
    """
    now = now or timezone.now()
    activity = _locked(activity_id)  # joins on this activity now queue behind us until commit
    joined_now = _participation_add(activity=activity, user=user, now=now)
    pending = (
        Invitation.objects.select_for_update()
        .filter(activity=activity, invitee=user, status=InvitationStatus.SENT)
        .first()
    )
    if pending is not None:
        _invitation_answer(invitation=pending, status=InvitationStatus.ACCEPTED, now=now)
    return activity, joined_now


def _own_invitation(*, invitation_id: int, user: User) -> Invitation:
    # Someone else's invitation is "not found", not "forbidden": ids must not confirm who was invited.
    invitation = Invitation.objects.filter(pk=invitation_id, invitee=user).first()
    if invitation is None:
        raise ApplicationError("No such invitation.", code="not_found", status_code=404)
    return invitation


def _expired(*, invitation: Invitation, activity: Activity, now: datetime) -> bool:
    # Beat expires invitations every few minutes; until it does, a started activity's are expired already.
    return invitation.status == InvitationStatus.EXPIRED or activity.starts_at <= now


@transaction.atomic
def invitation_accept(
    *, invitation_id: int, user: User, now: datetime | None = None
) -> tuple[Invitation, bool]:
    """Accept an invitation: take a place in the activity. Returns (invitation, accepted_now).

    Capacity is checked exactly as for a join, under the same activity row lock: of many invitees
    accepting the last place at once, one gets it and the others get a 409 "full" (their invitations stay
    open, in case a place frees up). Accepting twice is a no-op that succeeds.
    """
    now = now or timezone.now()
    activity = _locked(_own_invitation(invitation_id=invitation_id, user=user).activity_id)
    invitation = Invitation.objects.select_for_update().get(pk=invitation_id)
    if invitation.status == InvitationStatus.ACCEPTED:
        return invitation, False
    if invitation.status == InvitationStatus.DECLINED:
        raise ApplicationError("You declined this invitation.", code="declined", status_code=409)
    if _expired(invitation=invitation, activity=activity, now=now):
        raise ApplicationError(
            "This invitation has expired: the activity has started.", code="expired", status_code=409
        )
    _participation_add(activity=activity, user=user, now=now)
    _invitation_answer(invitation=invitation, status=InvitationStatus.ACCEPTED, now=now)
    return invitation, True


@transaction.atomic
def invitation_decline(
    *, invitation_id: int, user: User, now: datetime | None = None
) -> tuple[Invitation, bool]:
    """Decline an invitation. Returns (invitation, declined_now); declining twice is a no-op."""
    now = now or timezone.now()
    _own_invitation(invitation_id=invitation_id, user=user)
    invitation = Invitation.objects.select_for_update().select_related("activity").get(pk=invitation_id)
    if invitation.status == InvitationStatus.DECLINED:
        return invitation, False
    if invitation.status == InvitationStatus.ACCEPTED:
        raise ApplicationError(
            "You accepted this invitation; leave the activity instead.", code="accepted", status_code=409
        )
    if _expired(invitation=invitation, activity=invitation.activity, now=now):
        raise ApplicationError(
            "This invitation has expired: the activity has started.", code="expired", status_code=409
        )
    _invitation_answer(invitation=invitation, status=InvitationStatus.DECLINED, now=now)
    return invitation, True


@transaction.atomic
def activity_leave(*, activity_id: int, user: User, now: datetime | None = None) -> tuple[Activity, bool]:
    """Leave an activity before it starts. Returns (activity, left_now); leaving twice is a no-op."""
    now = now or timezone.now()
    activity = _locked(activity_id)
    if activity.organiser_id == user.pk:
        raise ApplicationError(
            "The organiser cannot leave their own activity.", code="organiser_cannot_leave"
        )
    participation = Participation.objects.filter(activity=activity, user=user).first()
    if participation is None:
        return activity, False
    if activity.starts_at <= now:
        raise ApplicationError("This activity has already started.", code="started")
    participation.delete()
    person_features_changed_announce(sender=Participation, user_ids=[user.pk])
    return activity, True


@transaction.atomic
def invitations_expire_started(*, now: datetime) -> int:
    """Invitations still unanswered when their activity starts expire. One UPDATE; returns the count."""
    return Invitation.objects.filter(status=InvitationStatus.SENT, activity__starts_at__lte=now).update(
        status=InvitationStatus.EXPIRED, updated_at=now
    )


@transaction.atomic
def activities_complete_finished(*, now: datetime) -> int:
    """Open activities that have ended are completed. One UPDATE; returns the count."""
    return Activity.objects.filter(status=ActivityStatus.OPEN, ends_at__lte=now).update(
        status=ActivityStatus.COMPLETED, updated_at=now
    )
