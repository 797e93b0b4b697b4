"""Writes for nearby people: serving the list (it logs the experiment exposure and impressions) and waves."""

from __future__ import annotations

from django.conf import settings
from django.db import transaction

from config.api import ApplicationError
from matching.experiments.models import ExperimentSurface
from matching.experiments.services import experiment_config_for, experiment_impressions_record
from matching.nearby.selectors import NearbyPage, nearby_people_list
from users.models import Block, InteractionEvent, User
from users.signals import person_features_changed_announce


def nearby_people_serve(
    *, user: User, radius_km: float | None = None, limit: int, with_friends: bool = False
) -> NearbyPage:
    """The nearby list under the person's experiment variant. A radius the request leaves out comes from
    the variant, else VICINO_NEARBY_DEFAULT_RADIUS_KM."""
    config = experiment_config_for(user_id=user.pk, surface=ExperimentSurface.NEARBY)
    if radius_km is None:
        radius_km = config.get("radius_km") or settings.VICINO_NEARBY_DEFAULT_RADIUS_KM
    page = nearby_people_list(
        user=user, radius_km=radius_km, limit=limit, with_friends=with_friends, config=config
    )
    experiment_impressions_record(config=config, count=len(page.results))
    return page


def _not_found() -> ApplicationError:
    return ApplicationError("No such person.", code="not_found", status_code=404)


@transaction.atomic
def person_wave(*, actor: User, target_id: int) -> InteractionEvent:
    """Wave at someone: one `wave` event (an experiment outcome, and a social feature for both).

    A blocked pair, in either direction, gets the same 404 as a missing person: a wave must not tell
    anyone that they were blocked.
    """
    if target_id == actor.pk:
        raise ApplicationError("You cannot wave at yourself.", field="id", code="invalid")
    target = User.objects.filter(pk=target_id, is_active=True).first()
    if target is None:
        raise _not_found()
    if (
        Block.objects.filter(blocker_id=actor.pk, blocked_id=target_id).exists()
        or Block.objects.filter(blocker_id=target_id, blocked_id=actor.pk).exists()
    ):
        raise _not_found()
    event = InteractionEvent.objects.create(kind=InteractionEvent.Kind.WAVE, actor=actor, target=target)
    person_features_changed_announce(sender=InteractionEvent, user_ids=[actor.pk, target_id])
    return event
