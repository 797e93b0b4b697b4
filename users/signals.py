"""Signals `users` sends for layers above it to hook into.

`users` sits at the bottom of the import order (users ← activities ← matching), so it cannot call
the geo index or the feature refresh itself: it announces the fact and they subscribe.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from functools import partial

from django.db import transaction
from django.dispatch import Signal

logger = logging.getLogger(__name__)

#: Sent on commit after a person's position was recorded (sender: users.models.Location).
#: Keyword arguments: user_id (int), geohash (str, full precision) and recorded_at (aware datetime) of where
#: the person is now, previous_geohash and previous_recorded_at of where they were before (None for their
#: first position).
#: Receivers run after the transaction committed; an exception in one is logged, never raised to
#: the request that moved.
location_changed = Signal()

#: Sent on commit after something that feeds people's features changed other than their position: their
#: profile, or an activity they joined or left (sender: the model written). Keyword argument: user_ids
#: (sorted list of int). Receivers' exceptions are logged, never raised, as for location_changed.
person_features_changed = Signal()


def _person_features_changed_send(*, sender: type, user_ids: list[int]) -> None:
    for receiver, result in person_features_changed.send_robust(sender=sender, user_ids=user_ids):
        if isinstance(result, Exception):
            logger.error(
                "person_features_changed receiver %r failed for users %s", receiver, user_ids, exc_info=result
            )


def person_features_changed_announce(*, sender: type, user_ids: Iterable[int]) -> None:
    """Send person_features_changed once the current transaction commits (at once outside one)."""
    transaction.on_commit(
        partial(_person_features_changed_send, sender=sender, user_ids=sorted(set(user_ids)))
    )
