"""Writes for nearby people: serving the list logs the experiment exposure and impressions. (Waves and the
other person-to-person actions are users.services.)"""

from __future__ import annotations

from django.conf import settings

from matching.experiments.models import ExperimentSurface
from matching.experiments.services import experiment_config_for, experiment_impressions_record
from matching.nearby.selectors import NearbyPage, nearby_people_list
from users.models import User


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
