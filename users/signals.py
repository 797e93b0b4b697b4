"""Signals `users` sends for layers above it to hook into.

`users` sits at the bottom of the import order (users ← activities ← matching), so it cannot call
the geo index or the feature refresh itself: it announces the fact and they subscribe.
"""

from __future__ import annotations

from django.dispatch import Signal

#: Sent on commit after a person's position was recorded (sender: users.models.Location).
#: Keyword arguments: user_id (int), geohash (str, full precision), recorded_at (aware datetime).
#: Receivers run after the transaction committed; an exception in one is logged, never raised to
#: the request that moved.
location_changed = Signal()
