"""Tastes: a person's interests and activity preferences (the preference feature group, read from the
profile) as one vector, for the profile similarity, the diversity clusters and the shared-taste reasons."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

import numpy as np

from users import taxonomy

#: A taste counts as shared, and as a reason, when both weigh it at least this much.
SHARED_TASTE_THRESHOLD = 0.5
TASTES: tuple[tuple[str, str, tuple[str, ...]], ...] = (
    ("interests", "interest", taxonomy.INTERESTS),
    ("activity_preferences", "activity", taxonomy.ACTIVITY_TYPES),
)
_TASTE_INDEX = {
    (field, key): offset
    for offset, (field, key) in enumerate(
        (field, key) for field, _kind, vocabulary in TASTES for key in vocabulary
    )
}
_TASTE_KEYS = list(_TASTE_INDEX)
_KINDS = {field: kind for field, kind, _vocabulary in TASTES}
TASTE_DIM = len(_TASTE_INDEX)
_INTEREST_OFFSETS = {key: offset for (field, key), offset in _TASTE_INDEX.items() if field == "interests"}
_ACTIVITY_OFFSETS = {
    key: offset for (field, key), offset in _TASTE_INDEX.items() if field == "activity_preferences"
}


def _mapping(value: Mapping[str, Any] | str | None) -> Mapping[str, Any]:
    # Raw queries hand jsonb back as text (JSONField decodes it).
    if value is None:
        return {}
    return json.loads(value) if isinstance(value, str) else value


def taste_vector(
    *, interests: Mapping[str, Any] | str | None, activity_preferences: Mapping[str, Any] | str | None
) -> np.ndarray:
    """(TASTE_DIM,) float32: interests then activity preferences in taxonomy order, as the preference
    feature group holds them. Each a profile field: a mapping, its JSON text, or None. Weights are clamped
    to [0, 1]; anything but a number counts as 0."""
    vector = [0.0] * TASTE_DIM
    for offsets, values in ((_INTEREST_OFFSETS, interests), (_ACTIVITY_OFFSETS, activity_preferences)):
        for key, weight in _mapping(values).items():
            offset = offsets.get(key)
            if offset is not None and isinstance(weight, int | float) and not isinstance(weight, bool):
                vector[offset] = min(max(float(weight), 0.0), 1.0)
    return np.array(vector, dtype=np.float32)


def dominant_tastes(tastes: np.ndarray) -> list[int]:
    """Each row's strongest taste (its offset), or -1 for a row with none: the diversity clusters."""
    return np.where(tastes.max(axis=1) > 0, tastes.argmax(axis=1), -1).tolist()


def shared_tastes(*, mine: np.ndarray, theirs: np.ndarray) -> list[tuple[str, str]]:
    """[(kind, key)] both weigh at least SHARED_TASTE_THRESHOLD, strongest shared first."""
    both = np.minimum(mine, theirs)
    offsets = np.flatnonzero(both >= SHARED_TASTE_THRESHOLD)
    ordered = sorted(offsets.tolist(), key=lambda offset: (-float(both[offset]), offset))
    return [(_KINDS[_TASTE_KEYS[offset][0]], _TASTE_KEYS[offset][1]) for offset in ordered]
