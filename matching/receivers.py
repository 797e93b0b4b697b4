"""What matching does when `users` and `activities` announce a change (see users.signals).

The senders use send_robust after commit and log a receiver's exception, so a failure here never
breaks the request that changed something; the nightly full refresh catches up anyway.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from functools import partial

from django.db import transaction

from matching import services
from matching.nearby import privacy, rosters
from users.models import Profile


def features_refresh_on_location_changed(sender, *, user_id: int, **kwargs) -> None:
    services.feature_refresh_schedule(user_ids=[user_id])


def features_refresh_on_person_features_changed(sender, *, user_ids: list[int], **kwargs) -> None:
    services.feature_refresh_schedule(user_ids=user_ids)


#: A fix after this long is someone coming back rather than a ping: their cell's roster is rebuilt, so they
#: show at once even where the roster had them as stale or, in a full cell, left them out as less fresh.
NEARBY_RETURN_AFTER = timedelta(hours=1)


def nearby_rosters_forget_on_location_changed(
    sender,
    *,
    geohash: str,
    recorded_at: datetime,
    previous_geohash: str | None = None,
    previous_recorded_at: datetime | None = None,
    **kwargs,
) -> None:
    """Someone who changed cell shows in the new one, and no longer in the old, at once; so does someone
    who comes back. Pings within the same cell wait for the rosters' expiry (see matching.nearby.rosters)."""
    cells = {privacy.snap_cell(geohash)}
    if previous_geohash is not None:
        cells.add(privacy.snap_cell(previous_geohash))
    returning = previous_recorded_at is None or recorded_at - previous_recorded_at >= NEARBY_RETURN_AFTER
    if len(cells) > 1 or returning:
        rosters.cell_rosters_forget(cells=cells)


def nearby_rosters_forget_on_person_features_changed(sender, *, user_ids: list[int], **kwargs) -> None:
    """A profile change (hiding from nearby above all) applies to the nearby list at once."""
    if sender is Profile:
        rosters.cell_rosters_forget_people(user_ids=user_ids)


#: The account fields a roster holds (whether someone may be listed, and their name).
ROSTER_USER_FIELDS = frozenset({"is_active", "role", "display_name", "username"})


def nearby_rosters_forget_on_user_saved(
    sender, *, instance, created: bool, update_fields=None, **kwargs
) -> None:
    """Deactivation, a role or a name change (the admin's included) applies to the nearby list at once.
    Saves that touch none of those (a login's last_login) leave the rosters alone."""
    if created or (update_fields is not None and not ROSTER_USER_FIELDS & set(update_fields)):
        return
    transaction.on_commit(partial(rosters.cell_rosters_forget_people, user_ids=[instance.pk]))


def nearby_rosters_forget_on_location_deleted(sender, *, instance, **kwargs) -> None:
    """A location deleted (an account deleted with it) leaves its cell's roster at once."""
    transaction.on_commit(partial(rosters.cell_rosters_forget, cells=[privacy.snap_cell(instance.geohash)]))
