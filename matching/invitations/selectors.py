"""Whom an organiser could invite to their activity, best first, with reasons; never where they are.

Candidates are the people whose current, fresh location lies within the ranking config's radius of the
venue (geohash cells covering the circle, then the exact great-circle filter, nearest first up to
settings.VICINO_INVITATION_CANDIDATE_CAP, all in one query). Left out:

- the organiser, the participants, and anyone already invited (whatever the answer);
- anyone a block separates from the organiser or from a participant, in either direction;
- people who do not accept invitations, who hide from nearby, or whose account is inactive;
- people whose stated time preferences clash with the activity's time (`time_preferences_clash`);
- people whose skill at the activity's type differs from its level by more than 1 (unknown skill passes).

The exact distance only selects and caps candidates; scores and answers use the ~1 km snapped bucket.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import numpy as np
from django.conf import settings
from django.db.models import Q
from django.utils import timezone

from activities.models import Activity, ActivityStatus, Invitation, InvitationStatus, Participation
from activities.selectors import distance_km_expression, invitation_effective_status
from config.api import ApplicationError
from matching.invitations.ranking import (
    CandidatePosition,
    CandidateScore,
    InvitationScoring,
    invitation_candidates_score,
    invitation_ranking_config,
    invitation_seed_ids,
)
from matching.nearby import privacy
from ml.features.schema import AGE_GROUPS, DAY_PARTS, age_group_index, day_part_index, solar_utc_offset_hours
from users import geo
from users.models import Block, Location, Profile, User

#: A stated time preference below this weight for the activity's day kind or part of day is a clash.
TIME_CLASH_BELOW = 0.2
#: A reason is given for a preference at least this strong.
STRONG_PREFERENCE = 0.5
SIMILAR_REASON_AT = 0.6
LIKELY_REASON_AT = 0.5
MAX_SHARED_INTERESTS = 3
SKILL_TOLERANCE = 1
DAY_KINDS = ("weekday", "weekend")
PART_NAMES = tuple(name for name, _start, _end in DAY_PARTS)
AGE_GROUP_LABELS = tuple(
    f"under {high + 1}" if low is None else (f"{low}+" if high is None else f"{low}–{high}")
    for _suffix, low, high in AGE_GROUPS
)


def _forbidden(message: str) -> ApplicationError:
    return ApplicationError(message, code="permission_denied", status_code=403)


def organised_activity_get(*, activity_id: int, organiser: User, lock: bool = False) -> Activity:
    """The activity, if `organiser` organises it and it still takes people: else 404, 403 or 400."""
    qs = Activity.objects.select_for_update() if lock else Activity.objects
    activity = qs.filter(pk=activity_id).first()
    if activity is None:
        raise ApplicationError("No such activity.", code="not_found", status_code=404)
    if activity.organiser_id != organiser.pk:
        raise _forbidden("Only this activity's organiser can invite people to it.")
    if activity.status != ActivityStatus.OPEN:
        raise ApplicationError(f"This activity is {activity.status}.", code="not_open")
    if activity.starts_at <= timezone.now():
        raise ApplicationError("This activity has already started.", code="started")
    return activity


# Time and skill ---------------------------------------------------------------------------------------


def activity_time_slot(*, activity: Activity) -> tuple[str, str]:
    """(day kind, part of day) of the activity's start in local solar time at the venue, as the features
    read times (ml.features.schema): weekday/weekend, morning/afternoon/evening/night."""
    offset = int(solar_utc_offset_hours(longitude=np.array([activity.longitude]))[0])
    local = activity.starts_at.astimezone(UTC) + timedelta(hours=offset)
    part = int(day_part_index(local_hours=np.array([local.hour + local.minute / 60]))[0])
    return ("weekend" if local.weekday() >= 5 else "weekday"), PART_NAMES[part]


def time_preferences_clash(*, preferences: Mapping[str, float], day_kind: str, part: str) -> bool:
    """True when the person stated when they are free (some positive weight among the day kinds, or among
    the parts of the day) and gives the activity's day kind or part less than TIME_CLASH_BELOW. Nothing
    stated is no clash: we do not know."""
    for keys, wanted in ((DAY_KINDS, day_kind), (PART_NAMES, part)):
        stated = any(float(preferences.get(key) or 0.0) > 0 for key in keys)
        if stated and float(preferences.get(wanted) or 0.0) < TIME_CLASH_BELOW:
            return True
    return False


def skill_fits(*, skills: Mapping[str, int], activity: Activity) -> bool:
    if activity.skill_level is None:
        return True
    skill = skills.get(activity.activity_type)
    return skill is None or abs(int(skill) - activity.skill_level) <= SKILL_TOLERANCE


# Candidates -------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Candidate:
    user_id: int
    latitude: float
    longitude: float
    name: str
    birth_year: int | None
    show_age_group: bool
    time_preferences: dict
    skills: dict
    activity_preferences: dict
    interests: dict


def _candidates(*, activity: Activity, radius_km: float, now: datetime) -> list[_Candidate]:
    taking_part = Participation.objects.filter(activity=activity).values("user_id")
    sides = Q(pk__in=taking_part) | Q(pk=activity.organiser_id)
    blocked = Block.objects.filter(blocker__in=User.objects.filter(sides)).values("blocked_id")
    blocking = Block.objects.filter(blocked__in=User.objects.filter(sides)).values("blocker_id")
    cells = geo.cells_covering(activity.latitude, activity.longitude, radius_km)
    prefix = Q()
    for cell in cells:
        prefix |= Q(geohash__startswith=cell)
    rows = (
        Location.objects.filter(
            prefix,
            updated_at__gte=now - timedelta(days=settings.VICINO_INVITATION_LOCATION_MAX_AGE_DAYS),
            user__is_active=True,
            user__profile__allow_invitations=True,
            user__profile__hide_from_nearby=False,
        )
        .exclude(user_id=activity.organiser_id)
        .exclude(user_id__in=taking_part)
        .exclude(user_id__in=Invitation.objects.filter(activity=activity).values("invitee_id"))
        .exclude(user_id__in=blocked)
        .exclude(user_id__in=blocking)
        .annotate(
            distance_km=distance_km_expression(latitude=activity.latitude, longitude=activity.longitude)
        )
        .filter(distance_km__lte=radius_km)
        .order_by("distance_km", "user_id")
        .values_list(
            "user_id",
            "latitude",
            "longitude",
            "user__display_name",
            "user__username",
            "user__profile__birth_year",
            "user__profile__show_age_group",
            "user__profile__time_preferences",
            "user__profile__skills",
            "user__profile__activity_preferences",
            "user__profile__interests",
        )[: settings.VICINO_INVITATION_CANDIDATE_CAP]
    )
    day_kind, part = activity_time_slot(activity=activity)
    candidates = []
    for row in rows:
        (user_id, lat, lon, display, username, birth, show_age, times, skills, likes, interests) = row
        if time_preferences_clash(preferences=times or {}, day_kind=day_kind, part=part):
            continue
        if not skill_fits(skills=skills or {}, activity=activity):
            continue
        candidates.append(
            _Candidate(
                user_id, lat, lon, display or username, birth, show_age, times or {}, skills or {},
                likes or {}, interests or {},
            )
        )  # fmt: skip
    return candidates


# Reasons ----------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Reason:
    code: str
    text: str


def _reasons(
    *,
    candidate: _Candidate,
    score: CandidateScore,
    activity: Activity,
    slot: tuple[str, str],
    seed_interests: Mapping[str, float],
) -> list[Reason]:
    label = activity.activity_type.replace("_", " ")
    reasons = []
    if score.similarity is not None and score.similarity >= SIMILAR_REASON_AT:
        reasons.append(Reason("similar_to_participants", "Similar to the people taking part"))
    if score.acceptance is not None and score.acceptance >= LIKELY_REASON_AT:
        reasons.append(Reason("likely_to_accept", "Likely to accept"))
    if float(candidate.activity_preferences.get(activity.activity_type) or 0.0) >= STRONG_PREFERENCE:
        reasons.append(Reason("likes_activity", f"Likes {label}"))
    skill = candidate.skills.get(activity.activity_type)
    if skill is not None and activity.skill_level is not None:
        reasons.append(
            Reason(
                "skill_fits", f"Plays {label} at level {skill}; this activity is level {activity.skill_level}"
            )
        )
    day_kind, part = slot
    if all(float(candidate.time_preferences.get(key) or 0.0) >= STRONG_PREFERENCE for key in slot):
        reasons.append(Reason("free_then", f"Usually free on {day_kind} {part}s"))
    shared = sorted(
        (
            key
            for key, weight in candidate.interests.items()
            if float(weight or 0.0) >= STRONG_PREFERENCE and seed_interests.get(key, 0.0) >= STRONG_PREFERENCE
        ),
        key=lambda key: (-seed_interests[key], key),
    )[:MAX_SHARED_INTERESTS]
    if shared:
        names = ", ".join(key.replace("_", " ") for key in shared)
        reasons.append(Reason("shared_interests", f"Shares interests with the participants: {names}"))
    if score.distance_bucket is not None:
        reasons.append(
            Reason("nearby", f"{privacy.DISTANCE_BUCKET_LABELS[score.distance_bucket]} from the venue")
        )
    return reasons


def _seed_interests(*, seed_ids: Sequence[int]) -> dict[str, float]:
    """The participants' mean interest weights (absent = 0)."""
    rows = list(Profile.objects.filter(user_id__in=seed_ids).values_list("interests", flat=True))
    totals: dict[str, float] = {}
    for interests in rows:
        for key, weight in (interests or {}).items():
            totals[key] = totals.get(key, 0.0) + float(weight or 0.0)
    return {key: total / len(rows) for key, total in totals.items()} if rows else {}


def age_group_label(*, birth_year: int | None, show: bool, today_year: int) -> str | None:
    if birth_year is None or not show:
        return None
    index = int(age_group_index(ages=np.array([today_year - birth_year]))[0])
    return AGE_GROUP_LABELS[index] if index >= 0 else None


# The list ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class InvitationSuggestion:
    user_id: int
    display_name: str
    age_group: str | None
    distance_bucket: str | None
    score: CandidateScore
    reasons: list[Reason]


@dataclass(frozen=True)
class InvitationSuggestions:
    activity: Activity
    scoring: InvitationScoring
    results: list[InvitationSuggestion]


def invitation_suggestions_list(
    *, activity_id: int, organiser: User, limit: int = 20
) -> InvitationSuggestions:
    """The best `limit` people to invite to the activity, best first (ties: lower user id first).

    Only the activity's organiser may ask. A fixed number of queries, whatever the number of candidates.
    """
    now = timezone.now()
    activity = organised_activity_get(activity_id=activity_id, organiser=organiser)
    config = invitation_ranking_config(organiser_id=organiser.pk)
    participant_ids = list(Participation.objects.filter(activity=activity).values_list("user_id", flat=True))
    seed_ids = invitation_seed_ids(activity=activity, participant_ids=participant_ids)
    candidates = _candidates(activity=activity, radius_km=config.radius_km, now=now)
    scoring = invitation_candidates_score(
        activity=activity,
        candidates=[CandidatePosition(c.user_id, c.latitude, c.longitude) for c in candidates],
        seed_ids=seed_ids,
        config=config,
        now=now,
    )
    ranked = sorted(candidates, key=lambda c: (-scoring.scores[c.user_id].final, c.user_id))[:limit]
    seed_interests = _seed_interests(seed_ids=seed_ids) if ranked else {}
    slot = activity_time_slot(activity=activity)
    results = []
    for candidate in ranked:
        score = scoring.scores[candidate.user_id]
        results.append(
            InvitationSuggestion(
                user_id=candidate.user_id,
                display_name=candidate.name,
                age_group=age_group_label(
                    birth_year=candidate.birth_year, show=candidate.show_age_group, today_year=now.year
                ),
                distance_bucket=(
                    None
                    if score.distance_bucket is None
                    else privacy.DISTANCE_BUCKET_LABELS[score.distance_bucket]
                ),
                score=score,
                reasons=_reasons(
                    candidate=candidate,
                    score=score,
                    activity=activity,
                    slot=slot,
                    seed_interests=seed_interests,
                ),
            )
        )
    return InvitationSuggestions(activity=activity, scoring=scoring, results=results)


# What became of the invitations -----------------------------------------------------------------------


@dataclass(frozen=True)
class ActivityInvitations:
    activity: Activity
    #: Newest first, each with `effective_status` ("expired" for a "sent" one whose activity started) and
    #: the invitee (names only are shown).
    invitations: list[Invitation]
    counts: dict[str, int]

    @property
    def total(self) -> int:
        return len(self.invitations)

    @property
    def answered(self) -> int:
        return self.counts.get("accepted", 0) + self.counts.get("declined", 0)

    @property
    def acceptance_rate(self) -> float | None:
        """Accepted / invited (None before anyone is invited)."""
        return self.counts.get("accepted", 0) / self.total if self.total else None


def activity_invitations_list(*, activity_id: int, organiser: User) -> ActivityInvitations:
    """Everyone the organiser invited to their activity, with each answer, in two queries. Only the
    activity's organiser may read them (404 for an unknown activity, 403 for someone else's), whatever its
    status: the answers stay readable after it started."""
    activity = Activity.objects.filter(pk=activity_id).select_related("place").first()
    if activity is None:
        raise ApplicationError("No such activity.", code="not_found", status_code=404)
    if activity.organiser_id != organiser.pk:
        raise _forbidden("Only this activity's organiser can see its invitations.")
    invitations = list(
        Invitation.objects.filter(activity=activity)
        .select_related("invitee")
        .annotate(effective_status=invitation_effective_status())
        .order_by("-created_at", "-pk")
    )
    counts = {status: 0 for status in InvitationStatus.values}
    for invitation in invitations:
        counts[invitation.effective_status] += 1
    return ActivityInvitations(activity=activity, invitations=invitations, counts=counts)
