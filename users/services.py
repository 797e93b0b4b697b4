"""Writes for users: sign-up, log-in tokens, profiles, locations, and what people do to each other (wave,
like, follow, block, report). Each function is one transaction."""

from __future__ import annotations

import logging
import math
import re
from collections.abc import Mapping
from datetime import date, datetime
from functools import partial
from typing import Any

from django.contrib.auth import authenticate
from django.contrib.auth.models import update_last_login
from django.contrib.auth.password_validation import validate_password
from django.core.exceptions import ValidationError as DjangoValidationError
from django.db import IntegrityError, transaction
from django.utils import timezone
from rest_framework.authtoken.models import Token

from config.api import ApplicationError
from users import geo, taxonomy
from users.models import (
    Block,
    EventKind,
    Follow,
    InteractionEvent,
    Location,
    LocationPing,
    Profile,
    Report,
    Role,
    User,
)
from users.selectors import blocked_user_ids, username_canonical
from users.signals import location_changed, person_features_changed_announce

logger = logging.getLogger(__name__)

# Accounts -----------------------------------------------------------------------------------------

#: Marketers see audiences built from everyone's data: staff grant that role, nobody takes it.
SELF_ASSIGNABLE_ROLES: tuple[str, ...] = (Role.PERSON, Role.ORGANISER)
INVALID_CREDENTIALS = "Unable to log in with the provided username and password."
#: Usernames the dataset importers and the demo generator create (tests/users/test_import.py checks this
#: list against them). Nobody may sign up as one: a later import would adopt that account.
RESERVED_USERNAME_PREFIXES: tuple[str, ...] = ("nyc_", "yelp_", "synth_")


def _taken_fields(*, username: str, email: str) -> list[str]:
    taken = []
    if User.objects.filter(username__iexact=username).exists():
        taken.append("username")
    if email and User.objects.filter(email__iexact=email).exists():
        taken.append("email")
    return taken


def _raise_taken(field: str) -> None:
    raise ApplicationError(f"A user with that {field} already exists.", field=field, code="unique")


def _constraint_name(exc: IntegrityError) -> str:
    diag = getattr(exc.__cause__, "diag", None)
    return getattr(diag, "constraint_name", None) or ""


@transaction.atomic
def user_signup(
    *, username: str, email: str, password: str, display_name: str = "", role: str = Role.PERSON
) -> User:
    """Create an account and its profile. Usernames and emails are unique whatever their case."""
    if role not in SELF_ASSIGNABLE_ROLES:
        raise ApplicationError(
            f"{role!r} cannot be chosen at sign-up; choose one of {', '.join(SELF_ASSIGNABLE_ROLES)}.",
            field="role",
        )
    username = User.normalize_username(username)
    email = User.objects.normalize_email(email)
    if username.lower().startswith(RESERVED_USERNAME_PREFIXES):
        raise ApplicationError(
            f"Usernames starting with {', '.join(RESERVED_USERNAME_PREFIXES)} are reserved.", field="username"
        )
    for field in _taken_fields(username=username, email=email):
        _raise_taken(field)

    user = User(username=username, email=email, display_name=display_name, role=role)
    try:
        validate_password(password, user=user)
    except DjangoValidationError as exc:
        raise ApplicationError(" ".join(exc.messages), field="password", code="password_invalid") from exc
    user.set_password(password)

    try:
        with transaction.atomic():  # a savepoint: a lost race must not poison the outer transaction
            user.save()
            Profile.objects.create(user=user)
    except IntegrityError as exc:
        # Someone else signed up with the same name or email between the check and the insert.
        constraint = _constraint_name(exc)
        if "email" in constraint:
            _raise_taken("email")
        taken = _taken_fields(username=username, email=email)
        _raise_taken(taken[0] if taken else "username")
    return user


@transaction.atomic
def auth_token_get(*, user: User) -> Token:
    token, _created = Token.objects.get_or_create(user=user)
    return token


@transaction.atomic
def auth_login(*, username: str, password: str) -> tuple[User, Token]:
    """Check credentials and hand out the user's API token. The error never says which part was wrong."""
    # Usernames are unique case-insensitively, so "Alice" may log in as "alice". An unknown name still
    # goes through authenticate(), which runs the password hasher: the timing does not reveal it.
    canonical = username_canonical(username=username) or username
    user = authenticate(request=None, username=canonical, password=password)
    if user is None:
        raise ApplicationError(INVALID_CREDENTIALS, code="invalid_credentials")
    update_last_login(None, user)
    return user, auth_token_get(user=user)


@transaction.atomic
def auth_logout(*, user: User) -> int:
    """Revoke the user's API token(s). Returns how many were deleted."""
    deleted, _ = Token.objects.filter(user=user).delete()
    return deleted


# Profile ------------------------------------------------------------------------------------------

MIN_AGE, MAX_AGE = 16, 110
MAX_LANGUAGES = 10
LANGUAGE_CODE = re.compile(r"^[a-z]{2}$")

#: {profile field: the vocabulary its keys come from}; values are weights in [0, 1].
WEIGHTED_PREFERENCES: dict[str, tuple[str, ...]] = {
    "interests": taxonomy.INTERESTS,
    "activity_preferences": taxonomy.ACTIVITY_TYPES,
    "place_type_preferences": taxonomy.PLACE_TYPES,
    "time_preferences": taxonomy.TIME_PREFERENCES,
}
INTEGER_RANGES: dict[str, tuple[int, int]] = {
    "income_level": (1, 5),
    "city_level": (1, 5),
    "years_at_residence": (0, 120),
    "education_level": (min(Profile.Education.values), max(Profile.Education.values)),
}
TEXT_CHOICES: dict[str, list[str]] = {
    "gender": Profile.Gender.values,
    "occupation": Profile.Occupation.values,
    "marital_status": Profile.MaritalStatus.values,
}
BOOLEAN_FIELDS = ("hide_from_nearby", "show_age_group", "allow_invitations", "marketing_opt_out")
PROFILE_FIELDS = frozenset(
    {
        "birth_year",
        "languages",
        "skills",
        "bio",
        *WEIGHTED_PREFERENCES,
        *INTEGER_RANGES,
        *TEXT_CHOICES,
        *BOOLEAN_FIELDS,
    }
)
USER_FIELDS = frozenset({"display_name"})


def birth_year_range(*, today: date) -> tuple[int, int]:
    """Birth years whose holders are MIN_AGE..MAX_AGE this year (age counted in whole years)."""
    return today.year - MAX_AGE, today.year - MIN_AGE


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _validate_weights(field: str, weights: Any, vocabulary: tuple[str, ...]) -> dict[str, float]:
    if not isinstance(weights, Mapping):
        raise ApplicationError("Expected an object of {key: weight}.", field=field)
    clean = {}
    for key, weight in weights.items():
        if key not in vocabulary:
            raise ApplicationError(
                f"{key!r} is not a known key; choose from {', '.join(vocabulary)}.", field=f"{field}.{key}"
            )
        if isinstance(weight, bool) or not isinstance(weight, int | float) or not 0 <= weight <= 1:
            raise ApplicationError("The weight must be a number between 0 and 1.", field=f"{field}.{key}")
        clean[key] = float(weight)
    return clean


def _validate_skills(skills: Any) -> dict[str, int]:
    if not isinstance(skills, Mapping):
        raise ApplicationError("Expected an object of {activity type: level}.", field="skills")
    for key, level in skills.items():
        if key not in taxonomy.ACTIVITY_TYPES:
            raise ApplicationError(
                f"{key!r} is not an activity type; choose from {', '.join(taxonomy.ACTIVITY_TYPES)}.",
                field=f"skills.{key}",
            )
        if not _is_int(level) or not taxonomy.SKILL_MIN <= level <= taxonomy.SKILL_MAX:
            raise ApplicationError(
                f"The skill level must be an integer {taxonomy.SKILL_MIN}..{taxonomy.SKILL_MAX}.",
                field=f"skills.{key}",
            )
    return dict(skills)


def _validate_languages(languages: Any) -> list[str]:
    if not isinstance(languages, list | tuple):
        raise ApplicationError("Expected a list of language codes.", field="languages")
    unique = list(dict.fromkeys(languages))  # keep the person's order, drop repeats
    for index, code in enumerate(unique):
        if not isinstance(code, str) or not LANGUAGE_CODE.match(code):
            raise ApplicationError(
                "Use two-letter lowercase ISO 639-1 codes such as 'en'.", field=f"languages[{index}]"
            )
    if len(unique) > MAX_LANGUAGES:
        raise ApplicationError(f"At most {MAX_LANGUAGES} languages.", field="languages")
    return unique


def _clean_profile_value(field: str, value: Any, *, today: date) -> Any:
    if field in WEIGHTED_PREFERENCES:
        return _validate_weights(field, value, WEIGHTED_PREFERENCES[field])
    if field == "skills":
        return _validate_skills(value)
    if field == "languages":
        return _validate_languages(value)
    if field == "birth_year":
        if value is None:
            return None
        low, high = birth_year_range(today=today)
        if not _is_int(value) or not low <= value <= high:
            raise ApplicationError(
                f"Must be between {low} and {high} (an age of {MIN_AGE} to {MAX_AGE}).", field="birth_year"
            )
        return value
    if field in INTEGER_RANGES:
        low, high = INTEGER_RANGES[field]
        if value is not None and (not _is_int(value) or not low <= value <= high):
            raise ApplicationError(f"Must be an integer from {low} to {high}.", field=field)
        return value
    if field in TEXT_CHOICES:
        if value != "" and value not in TEXT_CHOICES[field]:
            raise ApplicationError(f"Choose one of {', '.join(TEXT_CHOICES[field])} (or '').", field=field)
        return value
    if field in BOOLEAN_FIELDS:
        if not isinstance(value, bool):
            raise ApplicationError("Must be true or false.", field=field)
        return value
    if field == "bio":
        max_length = Profile._meta.get_field("bio").max_length
        if not isinstance(value, str) or len(value) > max_length:
            raise ApplicationError(f"At most {max_length} characters.", field="bio")
        return value
    raise ApplicationError("Not a profile field.", field=field)  # pragma: no cover - guarded by the caller


@transaction.atomic
def profile_update(*, user: User, data: Mapping[str, Any], today: date | None = None) -> Profile:
    """Update the person's profile (and display name) from `data`; only the keys present change."""
    today = today or timezone.localdate()
    unknown = set(data) - PROFILE_FIELDS - USER_FIELDS
    if unknown:
        field = sorted(unknown)[0]
        raise ApplicationError("Not a profile field.", field=field)

    clean = {
        field: _clean_profile_value(field, value, today=today)
        for field, value in data.items()
        if field in PROFILE_FIELDS
    }
    if "display_name" in data:
        display_name = data["display_name"]
        max_length = User._meta.get_field("display_name").max_length
        if not isinstance(display_name, str) or len(display_name) > max_length:
            raise ApplicationError(f"At most {max_length} characters.", field="display_name")

    profile, _ = Profile.objects.select_for_update().get_or_create(user=user)
    if clean:
        for field, value in clean.items():
            setattr(profile, field, value)
        profile.save(update_fields=[*clean, "updated_at"])
        person_features_changed_announce(sender=Profile, user_ids=[user.pk])
    if "display_name" in data:
        user.display_name = data["display_name"]
        user.save(update_fields=["display_name"])
    return profile


# Location -----------------------------------------------------------------------------------------

#: Faster than any airliner: a position implying this speed since the last one is spoofed or broken.
MAX_SPEED_KMH = 1000.0
#: Jumps shorter than this are GPS noise (a fix wandering between towers), never rejected for speed.
GPS_NOISE_KM = 1.0


def _require_coordinates(*, latitude: Any, longitude: Any) -> None:
    for field, value, limit in (("latitude", latitude, 90), ("longitude", longitude, 180)):
        if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
            raise ApplicationError("A finite number is required.", field=field)
        if not -limit <= value <= limit:
            raise ApplicationError(f"Must be between -{limit} and {limit}.", field=field)


def _check_plausible_speed(*, previous: Location, latitude: float, longitude: float, at: datetime) -> None:
    distance_km = geo.haversine_km(previous.latitude, previous.longitude, latitude, longitude)
    if distance_km < GPS_NOISE_KM:
        return
    hours = abs((at - previous.updated_at).total_seconds()) / 3600.0
    speed_kmh = math.inf if hours == 0 else distance_km / hours
    if speed_kmh > MAX_SPEED_KMH:
        minutes = hours * 60
        raise ApplicationError(
            f"This position is {distance_km:,.0f} km from the previous one, recorded {minutes:,.1f} minutes "
            f"apart: that implies travelling faster than {MAX_SPEED_KMH:,.0f} km/h, so it was rejected.",
            field="latitude",
            code="impossible_speed",
        )


def _announce_location_changed(
    *,
    user_id: int,
    geohash: str,
    recorded_at: datetime,
    previous_geohash: str | None,
    previous_recorded_at: datetime | None,
) -> None:
    for receiver, result in location_changed.send_robust(
        sender=Location,
        user_id=user_id,
        geohash=geohash,
        recorded_at=recorded_at,
        previous_geohash=previous_geohash,
        previous_recorded_at=previous_recorded_at,
    ):
        if isinstance(result, Exception):
            logger.error(
                "location_changed receiver %r failed for user %s", receiver, user_id, exc_info=result
            )


@transaction.atomic
def location_update(
    *,
    user: User,
    latitude: float,
    longitude: float,
    accuracy_m: float | None = None,
    recorded_at: datetime | None = None,
    source: str = LocationPing.Source.APP,
) -> Location:
    """Record where the person is: upsert the current Location and append a LocationPing.

    A fix older than the current location is kept in the history but does not move the person.
    After commit, `users.signals.location_changed` is sent so geo indexes and features can refresh.
    """
    _require_coordinates(latitude=latitude, longitude=longitude)
    if accuracy_m is not None and (
        isinstance(accuracy_m, bool)
        or not isinstance(accuracy_m, int | float)
        or not 0 <= accuracy_m < math.inf
    ):
        raise ApplicationError("Must be a finite number of metres, 0 or more.", field="accuracy_m")
    recorded_at = recorded_at or timezone.now()
    if timezone.is_naive(recorded_at):
        raise ApplicationError("Must include a time zone.", field="recorded_at")

    # Serialise this person's updates: the speed check must compare against the position that is
    # really the latest. NO KEY UPDATE does not block rows elsewhere that merely reference the user.
    User.objects.select_for_update(no_key=True).filter(pk=user.pk).values_list("pk", flat=True).get()
    previous = Location.objects.filter(user=user).first()
    previous_geohash = previous.geohash if previous is not None else None
    previous_recorded_at = previous.updated_at if previous is not None else None
    if previous is not None:
        _check_plausible_speed(previous=previous, latitude=latitude, longitude=longitude, at=recorded_at)

    geohash = geo.encode(latitude, longitude)
    try:
        with transaction.atomic():
            LocationPing.objects.create(
                user=user,
                latitude=latitude,
                longitude=longitude,
                geohash=geohash,
                accuracy_m=accuracy_m,
                recorded_at=recorded_at,
                source=source,
            )
    except IntegrityError as exc:
        raise ApplicationError(
            "A position is already recorded for this instant.", field="recorded_at", code="duplicate"
        ) from exc

    if previous is None:
        current = Location.objects.create(
            user=user,
            latitude=latitude,
            longitude=longitude,
            geohash=geohash,
            accuracy_m=accuracy_m,
            updated_at=recorded_at,
        )
    elif recorded_at >= previous.updated_at:
        previous.latitude, previous.longitude, previous.geohash = latitude, longitude, geohash
        previous.accuracy_m, previous.updated_at = accuracy_m, recorded_at
        previous.save(update_fields=["latitude", "longitude", "geohash", "accuracy_m", "updated_at"])
        current = previous
    else:
        current = previous

    transaction.on_commit(
        partial(
            _announce_location_changed,
            user_id=user.pk,
            geohash=current.geohash,
            recorded_at=current.updated_at,
            previous_geohash=previous_geohash,
            previous_recorded_at=previous_recorded_at,
        )
    )
    return current


# People and people --------------------------------------------------------------------------------

#: What one person can send another from a nearby card. Messages have their own flow.
GESTURE_KINDS: tuple[str, ...] = (EventKind.WAVE, EventKind.LIKE)


def _other_person(*, actor: User, target_id: Any) -> User:
    """The active person `target_id` as `actor` may act on them: not themselves, and not blocked either way.

    A blocked or unknown person answers the same 404, so nobody can probe who blocked them.
    """
    if not _is_int(target_id) or isinstance(target_id, bool):
        raise ApplicationError("person must be a user id", field="person", code="invalid")
    if int(target_id) == actor.pk:
        raise ApplicationError("You cannot do that to yourself.", field="person", code="self")
    in_range = 0 < int(target_id) < 2**63  # beyond a bigint nobody exists; the database would refuse it
    target = User.objects.filter(pk=int(target_id), is_active=True).first() if in_range else None
    if target is None or target.pk in blocked_user_ids(user=actor):
        raise ApplicationError("No such person.", field="person", code="not_found", status_code=404)
    return target


@transaction.atomic
def person_gesture_send(
    *, actor: User, target_id: Any, kind: str, metadata: Mapping | None = None
) -> InteractionEvent:
    """A wave or a like, logged as an interaction event (which feeds the social features and experiments)."""
    if kind not in GESTURE_KINDS:
        raise ApplicationError(f"kind must be one of {', '.join(GESTURE_KINDS)}", field="kind")
    target = _other_person(actor=actor, target_id=target_id)
    event = InteractionEvent.objects.create(
        kind=kind, actor=actor, target=target, metadata=dict(metadata or {})
    )
    person_features_changed_announce(sender=InteractionEvent, user_ids=[actor.pk, target.pk])
    return event


@transaction.atomic
def follow_set(*, actor: User, target_id: Any, following: bool) -> bool:
    """Follow or unfollow; idempotent. Returns whether anything changed."""
    target = _other_person(actor=actor, target_id=target_id)
    if following:
        _follow, changed = Follow.objects.get_or_create(follower=actor, followee=target)
    else:
        changed = Follow.objects.filter(follower=actor, followee=target).delete()[0] > 0
    if changed:
        person_features_changed_announce(sender=Follow, user_ids=[actor.pk, target.pk])
    return changed


def _block(*, actor: User, target: User) -> bool:
    _block_row, created = Block.objects.get_or_create(blocker=actor, blocked=target)
    # A block cuts every tie: neither keeps following the other.
    unfollowed = Follow.objects.filter(follower=actor, followee=target).delete()[0]
    unfollowed += Follow.objects.filter(follower=target, followee=actor).delete()[0]
    if created or unfollowed:
        person_features_changed_announce(sender=Block, user_ids=[actor.pk, target.pk])
    return created


@transaction.atomic
def block_create(*, actor: User, target_id: Any) -> bool:
    """Block someone: both disappear from each other's nearby lists, suggestions and invitations.
    Idempotent; returns whether the block is new."""
    return _block(actor=actor, target=_other_person(actor=actor, target_id=target_id))


@transaction.atomic
def block_delete(*, actor: User, target_id: Any) -> bool:
    """Lift a block the actor made (not one made against them). Idempotent."""
    if not _is_int(target_id) or isinstance(target_id, bool):
        raise ApplicationError("person must be a user id", field="person", code="invalid")
    if not 0 < int(target_id) < 2**63:
        return False
    deleted = Block.objects.filter(blocker=actor, blocked_id=int(target_id)).delete()[0] > 0
    if deleted:
        person_features_changed_announce(sender=Block, user_ids=[actor.pk, int(target_id)])
    return deleted


@transaction.atomic
def report_create(*, actor: User, target_id: Any, reason: str, details: str = "") -> Report:
    """Report someone to the moderators; they are blocked at the same time, so the reporter stops seeing
    them at once."""
    if reason not in Report.Reason.values:
        raise ApplicationError(f"reason must be one of {', '.join(Report.Reason.values)}", field="reason")
    if len(details) > 1000:
        raise ApplicationError("details must be at most 1000 characters", field="details")
    target = _other_person(actor=actor, target_id=target_id)
    report = Report.objects.create(reporter=actor, reported=target, reason=reason, details=details)
    _block(actor=actor, target=target)
    logger.info("person %s reported person %s (%s)", actor.pk, target.pk, reason)
    return report
