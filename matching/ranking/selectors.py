"""Activities for you, and the probability that people accept an activity.

**`activities_for_you_list(user=, limit=)`**

1. *Candidates*: upcoming open activities the person may join: not started, not full, not already joined
   (so not their own either: an organiser is their activity's first participant), organiser not blocked
   in either direction (`activities.selectors.activity_queryset`), at most CANDIDATE_POOL of the soonest.
2. *Recall*, when a recall model is active: the two-tower similarity of the person (their recent places
   and usual area) to each candidate, described in the shared content space (`content`); the best
   RECALL_K go on.
3. *Ranking*, when a ranker is active: DIN + ETA's probability that the person joins each of those, from
   their whole history of check-ins and activities; best first.
4. *Fallback*, when neither model is active (or an artefact cannot be served, which is logged): by the
   distance from the person's current location to the venue, in the privacy buckets (< 1, 1–2, 2–5,
   5–10, 10–25, 25+ km; unknown location last), then by the soonest start. With only a recall model the
   recall similarity orders the list; with only a ranker, the ranker orders every candidate.

Each result carries reasons read from the person's OWN history and the activity's public venue ("You often
go to parks and the outdoors", "You've been to Central Park before"), never anything about other people,
and no coordinates but the venue's. A fixed number of queries whatever the number of candidates.

**`acceptance_probabilities(activity=, user_ids=)`** → {user id: P(accept) in [0, 1]}

DIN + ETA's probability that each candidate accepts an invitation to the activity, from their histories
(their participation in this very activity, if any, is left out of their history: it would be the answer).
Every id passed gets a probability; a person without any history is scored on the activity's content
alone. Returns {} when no ranker is active (or it cannot be served) or `user_ids` is empty: callers treat
a missing id as "no model opinion". Three queries (the active version on a cold cache, check-ins,
participations) whatever the number of candidates. This signature is a contract with the invitation
suggestions: keep it.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

import numpy as np
from django.db.models import F
from django.utils import timezone

from activities.models import Activity, ActivityStatus
from activities.selectors import activity_queryset
from matching import serving
from matching.ranking.artefacts import LoadedRanker, LoadedRecall, ranker_active, recall_active
from matching.ranking.content import (
    RawItems,
    activity_category_and_interest,
    area_of,
    category_name,
    slot_ids,
    slot_name,
)
from matching.ranking.events import EventLog, event_log_load
from matching.ranking.scoring import (
    ranker_probabilities_for_people,
    ranker_probabilities_for_person,
    recall_similarities,
)
from users import geo
from users.models import Location, User

logger = logging.getLogger(__name__)

CANDIDATE_POOL = 2000
RECALL_K = 200
MAX_REASONS = 3
#: Upper bounds (km) of the distance buckets the app may show; the last bucket is "25+ km".
DISTANCE_BUCKETS_KM: tuple[float, ...] = (1.0, 2.0, 5.0, 10.0, 25.0)
DISTANCE_BUCKET_LABELS: tuple[str, ...] = ("< 1 km", "1–2 km", "2–5 km", "5–10 km", "10–25 km", "25+ km")

#: How a reason names a place type ("You often go to …"); types absent here make no reason.
CATEGORY_PHRASES: dict[str, str] = {
    "outdoors": "parks and the outdoors",
    "sports": "sports venues and gyms",
    "food": "cafés and restaurants",
    "nightlife": "bars and nightlife",
    "entertainment": "entertainment venues",
    "arts": "museums and galleries",
    "shopping": "shops",
    "health": "health and wellness places",
    "education": "places of learning",
    "travel": "travel spots",
}
SLOT_PHRASES: dict[str, str] = {
    f"{day}_{part}": f"{day} {part}s"
    for day in ("weekday", "weekend")
    for part in ("morning", "afternoon", "evening", "night")
}
#: A reason is given when at least this share of the person's history (and MIN_EVENTS events) shows it.
CATEGORY_SHARE, AREA_SHARE, SLOT_SHARE, MIN_EVENTS = 0.2, 0.3, 0.3, 3


@dataclass(frozen=True)
class ActivityForYou:
    """One suggestion: the activity (annotated like the activity list: participant_count, joined), its
    score (the ranker's probability, else the recall similarity; None in the fallback), why, and what
    ordered it: "ranker" (recall then ranker, or the ranker alone), "recall" or "fallback"."""

    activity: Activity
    score: float | None
    reasons: tuple[str, ...]
    ranked_by: str


def distance_bucket(km: float | None) -> int:
    """Index into DISTANCE_BUCKET_LABELS; len(labels) for an unknown distance (sorted last)."""
    if km is None:
        return len(DISTANCE_BUCKET_LABELS)
    for index, bound in enumerate(DISTANCE_BUCKETS_KM):
        if km < bound:
            return index
    return len(DISTANCE_BUCKETS_KM)


def _served(loader, label: str):
    """The active model, or None when none is active or its artefact cannot be served (logged: an
    operator must see it, but the person still gets a list)."""
    try:
        return loader()
    except serving.ModelArtefactError:
        logger.exception("the active %s model cannot be served; ranking without it", label)
        return None


def _eligible_candidates(*, user: User, now: datetime) -> list[tuple]:
    return list(
        activity_queryset(viewer=user)
        .filter(status=ActivityStatus.OPEN, starts_at__gt=now, joined=False)
        .filter(participant_count__lt=F("capacity"))
        .exclude(organiser_id=user.pk)
        .order_by("starts_at", "pk")
        .values_list("pk", "activity_type", "place_id", "geohash", "latitude", "longitude", "starts_at")[
            :CANDIDATE_POOL
        ]
    )


def activity_items(rows: Sequence[tuple]) -> RawItems:
    """(pk, activity_type, place_id, geohash, latitude, longitude, starts_at) rows → their content."""
    content = [activity_category_and_interest(row[1]) for row in rows]
    return RawItems(
        place_ids=np.array([row[2] or 0 for row in rows], dtype=np.int64),
        categories=np.array([c for c, _i in content], dtype=np.int64),
        interests=np.array([i for _c, i in content], dtype=np.int64),
        areas=np.array([area_of(row[3]) for row in rows], dtype=object),
        slots=slot_ids(
            seconds=np.array([row[6].timestamp() for row in rows], dtype=np.float64),
            longitude=np.array([row[5] for row in rows], dtype=np.float64),
        ),
    )


def _history(
    log: EventLog, *, user_id: int, before: float, leave_out_activity: int | None = None
) -> RawItems:
    rows = (log.user_ids == user_id) & log.is_history & (log.times < before)
    if leave_out_activity is not None:
        rows &= log.activity_ids != leave_out_activity
    return log.items.take(np.flatnonzero(rows))


def _share(values: np.ndarray, value) -> float:
    return float(np.mean(values == value)) if values.shape[0] else 0.0


def reasons_for(
    *,
    history: RawItems,
    item: RawItems,
    activity: Activity,
    distance_label: str | None = None,
    ranked: bool = False,
) -> tuple[str, ...]:
    """Why this activity suits the person, from their own history (never other people) and the public
    venue. `item` is the activity's one-row content; `ranked` says a model ordered it."""
    reasons = []
    enough = len(history) >= MIN_EVENTS
    place_id = int(item.place_ids[0])
    if place_id and activity.place is not None and bool(np.any(history.place_ids == place_id)):
        reasons.append(f"You've been to {activity.place.name} before")
    category = category_name(int(item.categories[0]))
    if (
        enough
        and category in CATEGORY_PHRASES
        and _share(history.categories, item.categories[0]) >= CATEGORY_SHARE
    ):
        reasons.append(f"You often go to {CATEGORY_PHRASES[category]}")
    if enough and _share(history.areas, item.areas[0]) >= AREA_SHARE:
        reasons.append("In an area you often visit")
    slot = slot_name(int(item.slots[0]))
    if enough and slot in SLOT_PHRASES and _share(history.slots, item.slots[0]) >= SLOT_SHARE:
        reasons.append(f"At a time you're often out: {SLOT_PHRASES[slot]}")
    if distance_label is not None:
        reasons.append(f"{distance_label} from you")
    if not reasons:
        reasons.append("Like places you go" if ranked and len(history) else "Coming up soon")
    return tuple(reasons[:MAX_REASONS])


def _order_by_models(
    *, recall: LoadedRecall | None, ranker: LoadedRanker | None, history: RawItems, items: RawItems
) -> tuple[np.ndarray, np.ndarray]:
    """(candidate positions best first, their scores)."""
    positions = np.arange(len(items))
    scores = np.zeros(len(items), dtype=np.float64)
    if recall is not None:
        similarity = recall_similarities(recall, history=history, candidates=items)
        # Best first; ties by the soonest start (candidates come soonest first, the sort is stable).
        positions = np.argsort(-similarity, kind="stable")[:RECALL_K]
        scores = similarity[positions]
    if ranker is not None:
        probabilities = ranker_probabilities_for_person(
            ranker, history=history, candidates=items.take(positions)
        )
        order = np.argsort(-probabilities, kind="stable")
        positions, scores = positions[order], probabilities[order]
    return positions, scores


def activities_for_you_list(*, user: User, limit: int) -> list[ActivityForYou]:
    """Up to `limit` activities for the person, best first (see the module doc)."""
    now = timezone.now()
    candidates = _eligible_candidates(user=user, now=now)
    if not candidates or limit < 1:
        return []
    recall = _served(recall_active, "recall")
    ranker = _served(ranker_active, "ranker")
    log = event_log_load(user_ids=[user.pk], answers=False)
    history = _history(log, user_id=user.pk, before=now.timestamp())
    items = activity_items(candidates)
    distances: dict[int, str] = {}
    if recall is None and ranker is None:
        ranked_by = "fallback"
        location = Location.objects.filter(user_id=user.pk).values_list("latitude", "longitude").first()
        buckets = []
        for row in candidates:
            km = None if location is None else geo.haversine_km(location[0], location[1], row[4], row[5])
            buckets.append(distance_bucket(km))
            if km is not None:
                distances[row[0]] = DISTANCE_BUCKET_LABELS[buckets[-1]]
        # Candidates come soonest first, so a stable sort on the bucket keeps the soonest first within it.
        positions = np.argsort(np.asarray(buckets), kind="stable")
        scores = None
    else:
        ranked_by = "ranker" if ranker is not None else "recall"
        positions, scores = _order_by_models(recall=recall, ranker=ranker, history=history, items=items)
    chosen = positions[:limit]
    ids = [candidates[p][0] for p in chosen]
    activities = activity_queryset(viewer=user).in_bulk(ids)
    results = []
    for rank, position in enumerate(chosen.tolist()):
        activity = activities.get(candidates[position][0])
        if activity is None:  # cancelled or deleted between the two queries
            continue
        results.append(
            ActivityForYou(
                activity=activity,
                score=None if scores is None else float(scores[rank]),
                reasons=reasons_for(
                    history=history,
                    item=items.take(np.array([position])),
                    activity=activity,
                    distance_label=distances.get(activity.pk),
                    ranked=ranked_by != "fallback",
                ),
                ranked_by=ranked_by,
            )
        )
    return results


def acceptance_probabilities(*, activity: Activity, user_ids: Sequence[int]) -> dict[int, float]:
    """{user id: DIN + ETA probability in [0, 1] that they accept an invitation to `activity`}; {} when no
    ranker is active. See the module doc: this signature is used by the invitation suggestions."""
    ids = sorted({int(user_id) for user_id in user_ids})
    if not ids:
        return {}
    ranker = _served(ranker_active, "ranker")
    if ranker is None:
        return {}
    now = timezone.now().timestamp()
    log = event_log_load(user_ids=ids, answers=False)
    histories = [
        _history(log, user_id=user_id, before=now, leave_out_activity=activity.pk) for user_id in ids
    ]
    candidate = activity_items(
        [
            (
                activity.pk, activity.activity_type, activity.place_id, activity.geohash, activity.latitude,
                activity.longitude, activity.starts_at,
            )
        ]
    )  # fmt: skip
    probabilities = ranker_probabilities_for_people(ranker, histories=histories, candidate=candidate)
    return {user_id: float(p) for user_id, p in zip(ids, probabilities, strict=True)}


@dataclass(frozen=True)
class RankerAcceptanceScorer:
    """The invitation suggestions' acceptance component (matching.invitations.ranking.AcceptanceScorer):
    the active ranker's acceptance_probabilities."""

    version: str

    def __call__(self, *, activity: Activity, user_ids: Sequence[int], now) -> dict[int, float]:
        return acceptance_probabilities(activity=activity, user_ids=user_ids)


def ranker_acceptance_scorer(*, model_version) -> RankerAcceptanceScorer:
    """settings.VICINO_ACCEPTANCE_SCORER's default: loaded once per active ranker version and process."""
    return RankerAcceptanceScorer(version=model_version.version)
