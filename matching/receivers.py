"""What matching does when `users` and `activities` announce a change (see users.signals).

The senders use send_robust after commit and log a receiver's exception, so a failure here never
breaks the request that changed something; the nightly full refresh catches up anyway.
"""

from __future__ import annotations

from matching import services
from matching.nearby import privacy, rosters
from users.models import Profile


def features_refresh_on_location_changed(sender, *, user_id: int, **kwargs) -> None:
    services.feature_refresh_schedule(user_ids=[user_id])


def features_refresh_on_person_features_changed(sender, *, user_ids: list[int], **kwargs) -> None:
    services.feature_refresh_schedule(user_ids=user_ids)


def nearby_rosters_forget_on_location_changed(
    sender, *, geohash: str, previous_geohash: str | None = None, **kwargs
) -> None:
    """Someone who changed cell shows in the new one, and no longer in the old, at once."""
    cells = {privacy.snap_cell(geohash)}
    if previous_geohash is not None:
        cells.add(privacy.snap_cell(previous_geohash))
    if previous_geohash is None or len(cells) > 1:
        rosters.cell_rosters_forget(cells=cells)


def nearby_rosters_forget_on_person_features_changed(sender, *, user_ids: list[int], **kwargs) -> None:
    """A profile change (hiding from nearby above all) applies to the nearby list at once."""
    if sender is Profile:
        rosters.cell_rosters_forget_people(user_ids=user_ids)
