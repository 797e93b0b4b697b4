"""Sending invitations: idempotent, within the organiser's daily limit, each with the score that led to it."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone

from activities.models import Invitation, Participation
from config.api import ApplicationError
from matching.invitations.ranking import (
    CandidatePosition,
    invitation_candidates_score,
    invitation_ranking_config,
    invitation_seed_ids,
)
from matching.invitations.selectors import organised_activity_get
from users.models import Block, InteractionEvent, Location, User

LIMIT_WINDOW = timedelta(hours=24)
#: Invitation.model_version's column width.
MODEL_VERSION_MAX_LENGTH = Invitation._meta.get_field("model_version").max_length


@dataclass(frozen=True)
class InvitationOutcome:
    user_id: int
    #: None when the person already takes part (nobody invites a participant).
    invitation: Invitation | None
    created: bool
    participating: bool


def _invitable(*, user_ids: Sequence[int], organiser: User) -> None:
    """Every id must be someone the organiser may invite; all the wrong ones are named, by position."""
    users = {
        user.pk: user
        for user in User.objects.filter(pk__in=set(user_ids))
        .select_related("profile")
        .only("pk", "is_active", "profile__allow_invitations")
    }
    separated = set(
        Block.objects.filter(blocker_id=organiser.pk, blocked_id__in=users).values_list(
            "blocked_id", flat=True
        )
    ) | set(
        Block.objects.filter(blocked_id=organiser.pk, blocker_id__in=users).values_list(
            "blocker_id", flat=True
        )
    )
    errors: dict[str, list[str]] = {}
    for index, user_id in enumerate(user_ids):
        user = users.get(user_id)
        if user is None:
            errors[f"user_ids[{index}]"] = ["No person has this id."]
        elif user_id == organiser.pk:
            errors[f"user_ids[{index}]"] = ["You cannot invite yourself."]
        elif not user.is_active or user_id in separated or not _allows_invitations(user):
            # One message for every reason: the organiser must not learn who blocked them.
            errors[f"user_ids[{index}]"] = ["This person cannot be invited."]
    if errors:
        raise ValidationError(errors)


def _allows_invitations(user: User) -> bool:
    try:
        return user.profile.allow_invitations
    except User.profile.RelatedObjectDoesNotExist:
        return True  # no profile row: the defaults, which allow them


@transaction.atomic
def invitations_send(
    *, activity_id: int, organiser: User, user_ids: Sequence[int], now: datetime | None = None
) -> list[InvitationOutcome]:
    """Invite people to the organiser's activity; one outcome per distinct id, in the order given.

    Idempotent: someone already invited keeps their invitation (whatever its state) and nothing is added;
    someone already taking part is reported as such. New invitations count against the organiser's limit
    of settings.VICINO_INVITATIONS_PER_DAY in any 24 hours; a request that would pass it is refused whole
    (429). Each new invitation records its score, the model versions and the components
    (matching.invitations.ranking), exactly as the suggestions computed them.
    """
    now = now or timezone.now()
    activity = organised_activity_get(activity_id=activity_id, organiser=organiser, lock=True)
    user_ids = list(dict.fromkeys(int(user_id) for user_id in user_ids))
    if not user_ids:
        raise ApplicationError("Give at least one person.", field="user_ids")
    _invitable(user_ids=user_ids, organiser=organiser)

    existing = {
        invitation.invitee_id: invitation
        for invitation in Invitation.objects.filter(activity=activity, invitee_id__in=user_ids)
    }
    participating = set(
        Participation.objects.filter(activity=activity, user_id__in=user_ids).values_list(
            "user_id", flat=True
        )
    )
    new_ids = [user_id for user_id in user_ids if user_id not in existing and user_id not in participating]

    if new_ids:
        # The organiser's row lock serialises their concurrent sends (to any activity), so the count
        # checked is the count added to.
        User.objects.select_for_update().filter(pk=organiser.pk).exists()
        limit = settings.VICINO_INVITATIONS_PER_DAY
        sent = Invitation.objects.filter(invited_by=organiser, created_at__gt=now - LIMIT_WINDOW).count()
        if sent + len(new_ids) > limit:
            remaining = max(0, limit - sent)
            raise ApplicationError(
                f"You can send {remaining} more invitation{'s' if remaining != 1 else ''} in the next 24 "
                f"hours (the limit is {limit}); this request has {len(new_ids)} new people.",
                field="user_ids",
                code="invitation_limit",
                status_code=429,
            )
        positions = dict(
            (user_id, (lat, lon))
            for user_id, lat, lon in Location.objects.filter(user_id__in=new_ids).values_list(
                "user_id", "latitude", "longitude"
            )
        )
        participant_ids = list(
            Participation.objects.filter(activity=activity).values_list("user_id", flat=True)
        )
        scoring = invitation_candidates_score(
            activity=activity,
            candidates=[
                CandidatePosition(user_id, *positions.get(user_id, (None, None))) for user_id in new_ids
            ],
            seed_ids=invitation_seed_ids(activity=activity, participant_ids=participant_ids),
            config=invitation_ranking_config(organiser_id=organiser.pk),
            now=now,
        )
        label = scoring.model_version_label
        created = Invitation.objects.bulk_create(
            [
                Invitation(
                    activity=activity,
                    invitee_id=user_id,
                    invited_by=organiser,
                    score=scoring.scores[user_id].final,
                    model_version=label[:MODEL_VERSION_MAX_LENGTH],
                    score_details={
                        "components": scoring.scores[user_id].details(),
                        "weights": scoring.weights,
                        "model_versions": scoring.model_versions,
                        "config_source": scoring.config.source,
                    },
                    created_at=now,
                )
                for user_id in new_ids
            ]
        )
        InteractionEvent.objects.bulk_create(
            InteractionEvent(
                kind=InteractionEvent.Kind.INVITE_SENT,
                actor=organiser,
                target_id=invitation.invitee_id,
                activity_id=activity.pk,
                occurred_at=now,
            )
            for invitation in created
        )
        existing.update({invitation.invitee_id: invitation for invitation in created})

    fresh = set(new_ids)
    return [
        InvitationOutcome(
            user_id=user_id,
            invitation=existing.get(user_id),
            created=user_id in fresh,
            participating=user_id in participating,
        )
        for user_id in user_ids
    ]
