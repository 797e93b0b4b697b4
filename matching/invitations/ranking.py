"""How invitation candidates are scored: one function for the organiser's suggestions and for the score
recorded on each sent invitation, so both always agree.

    final = Σ w_c · s_c / Σ w_c   over the components c that are available for this request

- **similarity** (RALM): the look-alike probability of the candidate against the activity's seeds, its
  participants other than the organiser (the organiser alone when nobody else has joined yet). Available
  when a RALM version is active and at least one seed has an embedding or features; a candidate without a
  stored embedding scores 0 (not encoded yet: ranked behind people we know something about).
- **acceptance** (DIN/ETA): the probability that the candidate accepts, from the scorer configured by
  settings.VICINO_ACCEPTANCE_SCORER for the active model registered under ACCEPTANCE_MODEL_NAME. Available
  only when both exist; otherwise left out (see `acceptance_scorer_active`).
- **distance**: a score per distance bucket between the candidate's position and the venue, both snapped
  to ~1 km cells first (matching.nearby.privacy: the one grid nearby uses too, so the two surfaces cannot
  be combined into a finer one). The continuous distance is never used: ranking by it would leak more than
  the bucket shown. No current location scores 0.

The weights come from `invitation_ranking_config`, the one place experiments plug into.
"""

from __future__ import annotations

import importlib
import logging
import threading
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol

import numpy as np
from django.conf import settings

from activities.models import Activity
from matching import serving
from matching.experiments.services import experiment_config_for
from matching.index import candidate_scores, lookalike_probabilities
from matching.models import ModelVersion
from matching.nearby import privacy
from matching.services import SeedSetError, seed_summary_get

logger = logging.getLogger(__name__)

COMPONENTS = ("similarity", "acceptance", "distance")
#: The registry name (ModelVersion.name) whose active version the acceptance scorer serves.
ACCEPTANCE_MODEL_NAME = "ranker"  # the DIN + ETA ranker of matching.ranking (train_ranker)
#: Score of each distance bucket, index as matching.nearby.privacy DistanceBucket.rank (< 1 km … 25+ km).
DISTANCE_BUCKET_SCORES: tuple[float, ...] = (1.0, 0.8, 0.6, 0.4, 0.2, 0.0)


# Config: the experiments hook -------------------------------------------------------------------------


@dataclass(frozen=True)
class InvitationRankingConfig:
    """What may vary per organiser: the blend weights and the candidate radius. `source` says where it came
    from ("settings", or an experiment's key and variant), and is recorded on each invitation."""

    weights: Mapping[str, float]
    radius_km: float
    source: str = "settings"


def invitation_ranking_config(*, organiser_id: int) -> InvitationRankingConfig:
    """The ranking config for `organiser_id`'s suggestions and invitations.

    Outside an experiment: the settings' defaults. In a running "invitations" experiment, the organiser's
    variant may set the blend (w_s similarity, w_a acceptance, w_d distance) and radius_km; the first
    exposure is logged by matching.experiments.
    """
    variant = experiment_config_for(user_id=organiser_id, surface="invitations")
    overrides: dict[str, Any] = {}
    weights = {
        component: variant[key]
        for key, component in (("w_s", "similarity"), ("w_a", "acceptance"), ("w_d", "distance"))
        if variant.get(key) is not None
    }
    if weights:
        overrides["weights"] = weights
    if variant.get("radius_km") is not None:
        overrides["radius_km"] = variant["radius_km"]
    if variant.get("experiment"):
        overrides["source"] = f"experiment:{variant['experiment']}:{variant['variant']}"
    return ranking_config_from(overrides)


def ranking_config_from(overrides: Mapping[str, Any]) -> InvitationRankingConfig:
    """Defaults from settings, with `overrides` applied. Unknown components or negative weights raise."""
    weights = {**settings.VICINO_INVITATION_WEIGHTS, **dict(overrides.get("weights") or {})}
    unknown = set(weights) - set(COMPONENTS)
    if unknown or any(not np.isfinite(w) or w < 0 for w in weights.values()):
        raise ValueError(f"invitation weights must be non-negative, over {COMPONENTS}; got {weights}")
    if sum(weights.values()) <= 0:
        raise ValueError("at least one invitation weight must be positive")
    return InvitationRankingConfig(
        weights=weights,
        radius_km=float(overrides.get("radius_km", settings.VICINO_INVITATION_RADIUS_KM)),
        source=str(overrides.get("source", "settings")),
    )


# The acceptance hook ----------------------------------------------------------------------------------


class AcceptanceScorer(Protocol):
    """What the DIN/ETA side provides: acceptance probabilities for candidates of one activity.

    `version` is the model version it serves (recorded on invitations). Calling it returns
    {user id: probability in [0, 1]}; a candidate it knows nothing about may be absent (scored 0).
    """

    version: str

    def __call__(
        self, *, activity: Activity, user_ids: Sequence[int], now: datetime
    ) -> Mapping[int, float]: ...


_scorers: dict[tuple[int, str], AcceptanceScorer] = {}
_scorers_lock = threading.Lock()


def _loader():
    module_name, _, attribute = settings.VICINO_ACCEPTANCE_SCORER.partition(":")
    return getattr(importlib.import_module(module_name), attribute)


def acceptance_scorer_active() -> AcceptanceScorer | None:
    """The acceptance scorer of the active ACCEPTANCE_MODEL_NAME version, or None.

    None, and suggestions simply leave acceptance out, when settings.VICINO_ACCEPTANCE_SCORER is empty (no
    DIN/ETA wiring installed) or no acceptance model is active. The loader ("module:callable", called as
    `loader(model_version=ModelVersion)`) runs once per version and process; activating another version
    switches over on the next request, like RALM.
    """
    if not settings.VICINO_ACCEPTANCE_SCORER:
        return None
    pointer = serving.active_version_pointer(name=ACCEPTANCE_MODEL_NAME)
    if pointer is None:
        return None
    key = (pointer["id"], pointer["version"])
    with _scorers_lock:
        if key in _scorers:
            return _scorers[key]
    scorer = _loader()(model_version=ModelVersion.objects.get(pk=pointer["id"]))
    with _scorers_lock:
        _scorers.clear()  # one active version at a time
        _scorers[key] = scorer
    return scorer


def acceptance_scorers_clear() -> None:
    with _scorers_lock:
        _scorers.clear()


# Scoring ----------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class CandidatePosition:
    """A candidate's current position: used here for the snapped distance bucket, never returned."""

    user_id: int
    latitude: float | None
    longitude: float | None


@dataclass(frozen=True)
class CandidateScore:
    user_id: int
    #: None: the component is not available for this request (see the module doc).
    similarity: float | None
    acceptance: float | None
    distance: float
    #: Index into matching.nearby.privacy.DISTANCE_BUCKET_LABELS; None without a current location.
    distance_bucket: int | None
    final: float

    def details(self) -> dict[str, float | int | None]:
        return {
            "similarity": self.similarity,
            "acceptance": self.acceptance,
            "distance": self.distance,
            "distance_bucket": self.distance_bucket,
            "final": self.final,
        }


@dataclass(frozen=True)
class InvitationScoring:
    config: InvitationRankingConfig
    #: The weights actually applied: the config's, over the available components, rescaled to sum to 1.
    weights: dict[str, float]
    #: {"ralm": version or None, "acceptance": version or None}
    model_versions: dict[str, str | None]
    seed_user_ids: list[int]
    scores: dict[int, CandidateScore] = field(default_factory=dict)

    @property
    def model_version_label(self) -> str:
        """ "ralm:<v>" and/or "acceptance:<v>" joined by "+", for Invitation.model_version."""
        parts = [f"{name}:{version}" for name, version in self.model_versions.items() if version]
        return "+".join(parts)


def invitation_seed_ids(*, activity: Activity, participant_ids: Sequence[int]) -> list[int]:
    """The look-alike seeds of an activity: its participants but the organiser, else the organiser."""
    others = sorted(set(participant_ids) - {activity.organiser_id})
    return others or [activity.organiser_id]


def _similarities(*, seed_ids: Sequence[int], user_ids: Sequence[int]) -> tuple[dict[int, float] | None, str]:
    model = serving.ralm_active()
    if model is None or not user_ids:
        return (None, "") if model is None else ({}, model.version)
    try:
        summary = seed_summary_get(
            model_version=ModelVersion.objects.get(pk=model.model_version_id), seed_user_ids=seed_ids
        )
    except SeedSetError:
        return None, ""  # no seed is known to the model yet: nothing to be alike to
    ids, raw = candidate_scores(model=model, summary=summary, user_ids=user_ids)
    probabilities = lookalike_probabilities(model=model, scores=raw)
    return dict(zip(ids.tolist(), probabilities.tolist(), strict=True)), model.version


def invitation_candidates_score(
    *,
    activity: Activity,
    candidates: Sequence[CandidatePosition],
    seed_ids: Sequence[int],
    config: InvitationRankingConfig,
    now: datetime,
) -> InvitationScoring:
    """Score candidates for an activity (see the module doc): a fixed number of queries for any count."""
    user_ids = [candidate.user_id for candidate in candidates]
    similarity, ralm_version = _similarities(seed_ids=seed_ids, user_ids=user_ids)
    scorer = acceptance_scorer_active()
    acceptance = (
        {int(k): float(v) for k, v in scorer(activity=activity, user_ids=user_ids, now=now).items()}
        if scorer is not None and user_ids
        else None
    )
    if scorer is not None and acceptance is None:
        acceptance = {}
    available = {
        "similarity": similarity is not None,
        "acceptance": acceptance is not None,
        "distance": True,
    }
    raw_weights = {name: float(config.weights.get(name, 0.0)) for name in COMPONENTS if available[name]}
    total = sum(raw_weights.values())
    if total <= 0:  # e.g. an experiment weighting only a component that is not available
        raw_weights, total = {"distance": 1.0}, 1.0
    weights = {name: weight / total for name, weight in raw_weights.items()}

    venue = (activity.latitude, activity.longitude)
    scores: dict[int, CandidateScore] = {}
    for candidate in candidates:
        bucket = (
            None
            if candidate.latitude is None or candidate.longitude is None
            else privacy.snapped_distance_rank_between(*venue, candidate.latitude, candidate.longitude)
        )
        components = {
            "similarity": None if similarity is None else similarity.get(candidate.user_id, 0.0),
            "acceptance": None
            if acceptance is None
            else min(1.0, max(0.0, acceptance.get(candidate.user_id, 0.0))),
            "distance": 0.0 if bucket is None else DISTANCE_BUCKET_SCORES[bucket],
        }
        final = sum(weight * (components[name] or 0.0) for name, weight in weights.items())
        scores[candidate.user_id] = CandidateScore(
            user_id=candidate.user_id,
            similarity=components["similarity"],
            acceptance=components["acceptance"],
            distance=components["distance"],
            distance_bucket=bucket,
            final=float(final),
        )
    return InvitationScoring(
        config=config,
        weights=weights,
        model_versions={
            "ralm": ralm_version or None,
            "acceptance": scorer.version if scorer is not None else None,
        },
        seed_user_ids=list(seed_ids),
        scores=scores,
    )
