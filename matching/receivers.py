"""What matching does when `users` and `activities` announce a change (see users.signals).

The senders use send_robust after commit and log a receiver's exception, so a failure here never
breaks the request that changed something; the nightly full refresh catches up anyway.
"""

from __future__ import annotations

from matching import services


def features_refresh_on_location_changed(sender, *, user_id: int, **kwargs) -> None:
    services.feature_refresh_schedule(user_ids=[user_id])


def features_refresh_on_person_features_changed(sender, *, user_ids: list[int], **kwargs) -> None:
    services.feature_refresh_schedule(user_ids=user_ids)
