"""A stand-in acceptance scorer for testing the hook in matching.invitations.ranking, not a model: the
DIN/ETA wiring that really fills this role is built on another branch."""

from __future__ import annotations

from dataclasses import dataclass

from users.models import Profile


@dataclass(frozen=True)
class ActivityLikingScorer:
    """P(accept) = how much the person says they like the activity's type (their profile's weight)."""

    version: str

    def __call__(self, *, activity, user_ids, now):
        rows = Profile.objects.filter(user_id__in=user_ids).values_list("user_id", "activity_preferences")
        return {user_id: float((likes or {}).get(activity.activity_type, 0.0)) for user_id, likes in rows}


def activity_liking_scorer(*, model_version) -> ActivityLikingScorer:
    return ActivityLikingScorer(version=model_version.version)
