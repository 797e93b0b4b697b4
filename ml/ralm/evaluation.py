"""Offline evaluation of RALM on a check-in log, split by time, against the baselines the issue names.

**Time.** One split time t (a quantile of the check-in times, 0.8 by default). Evaluation asks: given the
people who visited a place P before t (the seeds), who among the others in P's area will visit P for the
first time after t? Everything the models learn comes from before t:

- features of a person "as of c" read only check-ins strictly before c (`user_features_as_of`);
- stage 1 (next-place prediction) learns from check-ins before the first look-alike cut c₁ < t, each with
  its person's features at the latest snapshot before it; the sampler's negative pool is the places seen
  before c₁;
- stage 2 and the concatenation classifier learn from look-alike tasks cut at c₁ (and any later cuts < t):
  seeds visited P before c, positives first visit P in [c, t), negatives had not visited P by t; people
  are encoded from their features as of c;
- evaluation tasks: seeds visited P before t, positives first visit P after t, negatives never do; people
  are encoded from their features as of t.

Stage 1 stops at c₁, not t, so that the look-alike stage never trains on embeddings that were themselves
fitted to its own labels (the first visits in [c₁, t)): it would learn to trust the embeddings more than it
can at evaluation time, where the labels are new to every model.

**Candidates.** A person's home is the place they checked in at most before the cut (ties: the lower id).
The area of P is every active person whose home lies within `area_km` of P, or the `min_area_people`
nearest homes when fewer qualify. Positives and negatives both come from the area (the same population),
so geography alone does not separate them; negatives are sampled among those who did not visit P, never
from the seeds or positives. By default (`present_candidates_only`) a candidate must also check in
somewhere during the label window: the app ranks only people it currently sees nearby (stale people are
excluded before any model runs), and without this rule "is this person still active at all" dominates the
task rather than look-alike similarity. The label window is read for this and for the labels only, never
for features or training.

**Fields** (the app's six groups, as far as check-ins allow; see `field_specs`):

- geographic (dense): home and centroid coordinates (standardised), radius of gyration, distinct places;
  home_cell (categorical): the ~AREA_CELL_DEGREES grid cell of the home;
- behavioural (dense): activity counts (all, 7, 30, 90 days), exploration (distinct / all, share of new
  places in the last 30 days), recency, tenure, and the hour-of-week histogram (local solar time);
- preference: category shares (dense; an "unknown" column where categories are missing) and the most
  visited places (multi-valued, up to `max_places_per_user`);
- social, only with friendships (Yelp): degree, active-friend share and friends' activity (dense), and the
  friends themselves (multi-valued). Friendships carry no time: the graph is the one the data set ships.
- demographic: none in these data sets. Contextual: the request's moment is the same for every person in a
  look-alike comparison, so it cannot change a ranking; it is left out.

**Compared**, on the same evaluation tasks and the same stage-1 embeddings:

- RALM: trained stage 2, seeds summarised by k-means into k centroids (the serving path);
- RALM over all seeds, without k-means (the same model): the cost of clustering;
- RALM with average pooling instead of attention (global and local pooled by weighted means), trained alike;
- cosine to the mean seed embedding (stage 1 embeddings, no training);
- the blog's two-tower concatenation classifier: MLP(mean seed) ‖ MLP(target) → MLP → logit, trained alike
  (its "self-attention" and "productive attention" over a length-1 sequence are identities, see the issue);
- random scores.

Metrics per task: AUC (`ml.metrics.auc`), precision@K and recall@K; averaged over tasks.
"""

from __future__ import annotations

import hashlib
import json
import math
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ml.datasets.checkins import CheckinLog
from ml.layers import MLP, masked_mean
from ml.metrics import auc
from ml.ralm.config import FieldSpec, LookalikeConfig, TrainConfig, UserTowerConfig
from ml.ralm.lookalike import LookalikeModel
from ml.ralm.train import LookalikeTasks, train_lookalike, train_user_tower
from ml.ralm.user_tower import UserRepresentationModel

DAY = 86_400.0
HOURS_PER_WEEK = 168
AREA_CELL_DEGREES = 0.02  # about 2.2 km north–south
EARTH_RADIUS_KM = 6371.0

#: progress(stage, done, total): the command turns it into progress bars.
Progress = Callable[[str, int, int], None]

METHODS = (
    "ralm",
    "ralm_all_seeds",
    "ralm_average_pooling",
    "cosine_mean_seed",
    "two_tower_concat",
    "random",
)
METHOD_LABELS = {
    "ralm": "RALM (attention, k-means k={k})",
    "ralm_all_seeds": "RALM over all seeds, no k-means",
    "ralm_average_pooling": "RALM with average pooling",
    "cosine_mean_seed": "cosine to the mean seed (stage 1)",
    "two_tower_concat": "blog two-tower concatenation",
    "random": "random",
}


class EvaluationDataError(ValueError):
    """The log is too small or too short to build the tasks the evaluation needs."""


@dataclass(frozen=True)
class EvaluationConfig:
    split_quantile: float = 0.8
    #: Look-alike training cuts, as quantiles of the check-in times; each must fall before the split.
    train_cut_quantiles: tuple[float, ...] = (0.6,)
    #: Stage-1 snapshots: features are recomputed at this many moments before the first cut.
    snapshots: int = 12
    k: int = 20
    embedding_dim: int = 32
    field_dim: int = 32
    tower_hidden_dims: tuple[int, ...] = (64,)
    lookalike_hidden_dim: int = 32
    tower_epochs: int = 4
    lookalike_epochs: int = 8
    batch_size: int = 256
    learning_rate: float = 3e-3
    max_places_per_user: int = 50
    max_friends_per_user: int = 50
    area_km: float = 10.0
    min_area_people: int = 200
    #: Candidates must check in somewhere in the label window: the app ranks only people it currently
    #: sees nearby (stale ones are excluded before any model runs), so a person never seen again is not a
    #: candidate there either.
    present_candidates_only: bool = True
    min_seeds: int = 5
    max_seeds: int = 128
    eval_negatives: int = 100
    train_negatives_per_positive: int = 5
    max_train_tasks: int | None = None
    max_eval_tasks: int | None = None
    ks: tuple[int, ...] = (10, 50)
    seed: int = 0

    def __post_init__(self) -> None:
        if not 0.0 < self.split_quantile < 1.0:
            raise ValueError("split_quantile must lie in (0, 1)")
        if not self.train_cut_quantiles:
            raise ValueError("at least one training cut is needed")
        if any(not 0.0 < q < self.split_quantile for q in self.train_cut_quantiles):
            raise ValueError("every train cut quantile must lie in (0, split_quantile)")
        if self.snapshots < 1 or self.k < 1 or self.min_seeds < 1 or self.max_seeds < self.min_seeds:
            raise ValueError("snapshots, k, min_seeds ≥ 1 and max_seeds ≥ min_seeds are needed")


# --- features ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class FeatureContext:
    """What every snapshot shares: place metadata (static) and the vocabularies of the fields.

    place_category_indptr / indices / weights: CSR rows per place over n_categories + 1 columns (the last
    is "unknown"), weights summing to 1 per place. home cells: grid cells of homes as of the split (built
    from check-ins before it only), ids 1 … (0 = unknown).
    """

    n_users: int
    n_places: int
    n_categories: int
    place_latitude: np.ndarray
    place_longitude: np.ndarray
    place_utc_offset_hours: np.ndarray
    place_category_indptr: np.ndarray
    place_category_indices: np.ndarray
    place_category_weights: np.ndarray
    latitude_mean: float
    latitude_std: float
    longitude_mean: float
    longitude_std: float
    home_cells: dict[tuple[int, int], int]
    friends_indptr: np.ndarray | None
    friends_indices: np.ndarray | None
    max_places_per_user: int
    max_friends_per_user: int

    @property
    def has_social(self) -> bool:
        return self.friends_indptr is not None


@dataclass(frozen=True)
class UserFeatures:
    """Everyone's fields as of `at`: fields {name: (n_users, …)}; active: (n_users,) bool, at least one
    check-in before `at`; home: (n_users, 2) lat/lon of the most visited place (NaN when inactive)."""

    at: float
    fields: dict[str, np.ndarray]
    active: np.ndarray
    home: np.ndarray


def _cell(latitude: np.ndarray, longitude: np.ndarray) -> np.ndarray:
    return np.stack(
        [np.floor(latitude / AREA_CELL_DEGREES), np.floor(longitude / AREA_CELL_DEGREES)], axis=1
    ).astype(np.int64)


def _csr(n_rows: int, rows: np.ndarray, columns: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    order = np.lexsort((columns, rows))
    indptr = np.zeros(n_rows + 1, dtype=np.int64)
    np.cumsum(np.bincount(rows, minlength=n_rows), out=indptr[1:])
    return indptr, columns[order]


def _expand(indptr: np.ndarray, rows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """For each entry of `rows`, every CSR position of that row: (owner index, CSR position)."""
    lengths = indptr[rows + 1] - indptr[rows]
    owners = np.repeat(np.arange(rows.shape[0]), lengths)
    offsets = np.arange(owners.shape[0]) - np.repeat(np.cumsum(lengths) - lengths, lengths)
    return owners, indptr[rows][owners] + offsets


def feature_context_build(log: CheckinLog, *, split: float, config: EvaluationConfig) -> FeatureContext:
    """The shared part of every snapshot's features; vocabularies from check-ins before `split` only."""
    n_categories = log.n_categories
    if log.place_category_pairs is not None and log.place_category_pairs.shape[0] > 0:
        places, categories = log.place_category_pairs[:, 0], log.place_category_pairs[:, 1]
    else:
        places = categories = np.empty(0, dtype=np.int64)
    unknown = np.setdiff1d(np.arange(log.n_places), places)
    places = np.concatenate([places, unknown])
    categories = np.concatenate([categories, np.full(unknown.shape[0], n_categories)])
    indptr, indices = _csr(log.n_places, places, categories)
    weights = (1.0 / np.diff(indptr))[np.repeat(np.arange(log.n_places), np.diff(indptr))]

    early = log.times < split
    # Coordinates are standardised over the places checked in before the split: in the NYC layout the
    # place list itself comes from check-ins, so a place first visited later is future information.
    seen = np.unique(log.places[early]) if early.any() else np.arange(log.n_places)
    latitude, longitude = log.place_latitude[seen], log.place_longitude[seen]
    homes = _homes(log.users[early], log.places[early], log.n_users, log.n_places)
    known = homes >= 0
    cells = _cell(log.place_latitude[homes[known]], log.place_longitude[homes[known]])
    home_cells = {(int(a), int(b)): index + 1 for index, (a, b) in enumerate(np.unique(cells, axis=0))}

    friends_indptr = friends_indices = None
    if log.friendships is not None:
        a, b = log.friendships[:, 0], log.friendships[:, 1]
        friends_indptr, friends_indices = _csr(log.n_users, np.concatenate([a, b]), np.concatenate([b, a]))

    return FeatureContext(
        n_users=log.n_users,
        n_places=log.n_places,
        n_categories=n_categories,
        place_latitude=log.place_latitude,
        place_longitude=log.place_longitude,
        place_utc_offset_hours=np.round(log.place_longitude / 15.0),
        place_category_indptr=indptr,
        place_category_indices=indices,
        place_category_weights=weights,
        latitude_mean=float(latitude.mean()),
        latitude_std=float(latitude.std()) or 1.0,
        longitude_mean=float(longitude.mean()),
        longitude_std=float(longitude.std()) or 1.0,
        home_cells=home_cells,
        friends_indptr=friends_indptr,
        friends_indices=friends_indices,
        max_places_per_user=config.max_places_per_user,
        max_friends_per_user=config.max_friends_per_user,
    )


def _pair_counts(users: np.ndarray, places: np.ndarray, n_places: int) -> tuple[np.ndarray, ...]:
    """Distinct (user, place) pairs ordered by user, then count descending, then place: (users, places,
    counts); then, in np.unique's order, each pair's user and each check-in's pair index."""
    keys, inverse, counts = np.unique(users * n_places + places, return_inverse=True, return_counts=True)
    pair_users, pair_places = keys // n_places, keys % n_places
    order = np.lexsort((pair_places, -counts, pair_users))
    return pair_users[order], pair_places[order], counts[order], pair_users, inverse


def _homes(users: np.ndarray, places: np.ndarray, n_users: int, n_places: int) -> np.ndarray:
    """(n_users,) the most visited place of each person (−1 when none); ties go to the lower place id."""
    homes = np.full(n_users, -1, dtype=np.int64)
    if users.shape[0] == 0:
        return homes
    pair_users, pair_places, *_ = _pair_counts(users, places, n_places)
    first = np.r_[True, pair_users[1:] != pair_users[:-1]]
    homes[pair_users[first]] = pair_places[first]
    return homes


def _top_per_row(rows: np.ndarray, values: np.ndarray, n_rows: int, width: int) -> np.ndarray:
    """rows sorted ascending (within a row, values in priority order) → (n_rows, width) int64, values + 1
    in the first slots of each row, 0 padding."""
    out = np.zeros((n_rows, width), dtype=np.int64)
    if rows.shape[0] == 0:
        return out
    starts = np.r_[0, np.flatnonzero(rows[1:] != rows[:-1]) + 1]
    rank = np.arange(rows.shape[0]) - np.repeat(starts, np.diff(np.r_[starts, rows.shape[0]]))
    keep = rank < width
    out[rows[keep], rank[keep]] = values[keep] + 1
    return out


def _log_scaled(values: np.ndarray, scale: float) -> np.ndarray:
    return (np.log1p(values) / math.log1p(scale)).astype(np.float32)


def user_features_as_of(log: CheckinLog, context: FeatureContext, *, at: float) -> UserFeatures:
    """Every person's fields computed from the check-ins strictly before `at` (and the static friendship
    graph and place metadata). Nothing at or after `at` is read."""
    before = log.times < at
    users, places, times = log.users[before], log.places[before], log.times[before]
    n_users = context.n_users
    count = np.bincount(users, minlength=n_users).astype(np.float64)
    active = count > 0
    safe = np.maximum(count, 1.0)

    latitude, longitude = context.place_latitude[places], context.place_longitude[places]
    centroid_lat = np.bincount(users, weights=latitude, minlength=n_users) / safe
    centroid_lon = np.bincount(users, weights=longitude, minlength=n_users) / safe
    dy = (latitude - centroid_lat[users]) * 110.57
    dx = (longitude - centroid_lon[users]) * 111.32 * np.cos(np.radians(centroid_lat[users]))
    gyration_km = np.sqrt(np.bincount(users, weights=dx * dx + dy * dy, minlength=n_users) / safe)

    pair_users, pair_places, pair_counts, unique_users, inverse = _pair_counts(
        users, places, context.n_places
    )
    distinct = np.bincount(pair_users, minlength=n_users).astype(np.float64)
    homes = np.full(n_users, -1, dtype=np.int64)
    if pair_users.shape[0]:
        first = np.r_[True, pair_users[1:] != pair_users[:-1]]
        homes[pair_users[first]] = pair_places[first]
    home = np.full((n_users, 2), np.nan)
    home[active] = np.stack(
        [context.place_latitude[homes[active]], context.place_longitude[homes[active]]], axis=1
    )
    home_lat = np.where(active, home[:, 0], context.latitude_mean)
    home_lon = np.where(active, home[:, 1], context.longitude_mean)
    geographic = np.stack(
        [
            (home_lat - context.latitude_mean) / context.latitude_std,
            (home_lon - context.longitude_mean) / context.longitude_std,
            (np.where(active, centroid_lat, context.latitude_mean) - context.latitude_mean)
            / context.latitude_std,
            (np.where(active, centroid_lon, context.longitude_mean) - context.longitude_mean)
            / context.longitude_std,
            _log_scaled(gyration_km, 50.0),
            _log_scaled(distinct, 500.0),
        ],
        axis=1,
    ).astype(np.float32)
    home_cell = np.zeros(n_users, dtype=np.int64)
    cells = _cell(home[active, 0], home[active, 1])
    home_cell[active] = [context.home_cells.get((int(a), int(b)), 0) for a, b in cells]

    def recent(days: float) -> np.ndarray:
        return np.bincount(users[times >= at - days * DAY], minlength=n_users).astype(np.float64)

    last = np.full(n_users, -np.inf)
    np.maximum.at(last, users, times)
    first_seen = np.full(n_users, np.inf)
    np.minimum.at(first_seen, users, times)
    # First visit of each (person, place) pair: how much of the last 30 days went to places new to them.
    pair_first = np.full(unique_users.shape[0], np.inf)
    np.minimum.at(pair_first, inverse, times)
    new_recent = np.bincount(unique_users[pair_first >= at - 30 * DAY], minlength=n_users).astype(np.float64)
    recent_30 = recent(30)
    local = times + context.place_utc_offset_hours[places] * 3600.0
    # 1970-01-01 was a Thursday: weekday (Monday 0) = (days + 3) mod 7.
    hour_of_week = ((np.floor(local / DAY).astype(np.int64) + 3) % 7) * 24 + (
        np.floor(local / 3600.0).astype(np.int64) % 24
    )
    week = np.bincount(users * HOURS_PER_WEEK + hour_of_week, minlength=n_users * HOURS_PER_WEEK)
    week = week.reshape(n_users, HOURS_PER_WEEK) / safe[:, None]
    behavioural = np.concatenate(
        [
            np.stack(
                [
                    _log_scaled(count, 1000.0),
                    _log_scaled(recent(7), 50.0),
                    _log_scaled(recent_30, 200.0),
                    _log_scaled(recent(90), 500.0),
                    distinct / safe,
                    new_recent / np.maximum(recent_30, 1.0),
                    np.where(active, _log_scaled(np.maximum(at - last, 0.0) / DAY, 365.0), 1.0),
                    np.where(active, _log_scaled(np.maximum(at - first_seen, 0.0) / DAY, 3650.0), 0.0),
                ],
                axis=1,
            ),
            week,
        ],
        axis=1,
    ).astype(np.float32)

    owners, positions = _expand(context.place_category_indptr, pair_places)
    columns = context.n_categories + 1
    shares = np.bincount(
        pair_users[owners] * columns + context.place_category_indices[positions],
        weights=pair_counts[owners] * context.place_category_weights[positions],
        minlength=n_users * columns,
    ).reshape(n_users, columns)
    fields: dict[str, np.ndarray] = {
        "geographic": geographic,
        "home_cell": home_cell,
        "behavioural": behavioural,
        "preference": (shares / safe[:, None]).astype(np.float32),
        "places": _top_per_row(pair_users, pair_places, n_users, context.max_places_per_user),
    }

    if context.has_social:
        indptr, indices = context.friends_indptr, context.friends_indices
        degree = np.diff(indptr).astype(np.float64)
        owners, positions = _expand(indptr, np.arange(n_users))
        friends = indices[positions]
        active_friends = np.bincount(owners, weights=active[friends].astype(np.float64), minlength=n_users)
        friend_checkins = np.bincount(owners, weights=count[friends], minlength=n_users)
        fields["social"] = np.stack(
            [
                _log_scaled(degree, 100.0),
                active_friends / np.maximum(degree, 1.0),
                _log_scaled(friend_checkins, 1000.0),
            ],
            axis=1,
        ).astype(np.float32)
        # The most active friends first (as of `at`), then by id.
        ranked = np.lexsort((friends, -count[friends], owners))
        fields["friends"] = _top_per_row(
            owners[ranked], friends[ranked], n_users, context.max_friends_per_user
        )

    return UserFeatures(at=float(at), fields=fields, active=active, home=home)


def field_specs(context: FeatureContext) -> tuple[FieldSpec, ...]:
    """The user tower's fields for this context, in the order `user_features_as_of` fills them."""
    specs = [
        FieldSpec("geographic", "dense", dim=6),
        FieldSpec("home_cell", "categorical", vocab_size=len(context.home_cells) + 1),
        FieldSpec("behavioural", "dense", dim=8 + HOURS_PER_WEEK),
        FieldSpec("preference", "dense", dim=context.n_categories + 1),
        FieldSpec("places", "multi", vocab_size=context.n_places + 1),
    ]
    if context.has_social:
        specs += [
            FieldSpec("social", "dense", dim=3),
            FieldSpec("friends", "multi", vocab_size=context.n_users + 1),
        ]
    return tuple(specs)


def _to_tensors(fields: dict[str, np.ndarray]) -> dict[str, Tensor]:
    return {name: torch.from_numpy(np.ascontiguousarray(values)) for name, values in fields.items()}


# --- look-alike tasks -------------------------------------------------------------------------------


@dataclass(frozen=True)
class LookalikeTask:
    """One place P: seeds (user ids, sorted) who visited P before the cut; candidates (user ids, in a
    seeded random order so that ties favour no class) with labels 1 = first visit to P in the window."""

    place: int
    seeds: np.ndarray
    candidates: np.ndarray
    labels: np.ndarray


def first_visits(log: CheckinLog) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Every (user, place) pair's first visit: (users, places, times), ordered by place then user."""
    keys, index = np.unique(log.users * log.n_places + log.places, return_index=True)
    # np.unique returns the first occurrence, and the log is sorted by time: index is the first visit.
    users, places = keys // log.n_places, keys % log.n_places
    order = np.lexsort((users, places))
    return users[order], places[order], log.times[index][order]


def haversine_km(lat1: np.ndarray, lon1: np.ndarray, lat2: float, lon2: float) -> np.ndarray:
    lat1, lon1 = np.radians(lat1), np.radians(lon1)
    lat2, lon2 = math.radians(lat2), math.radians(lon2)
    a = np.sin((lat2 - lat1) / 2) ** 2 + np.cos(lat1) * math.cos(lat2) * np.sin((lon2 - lon1) / 2) ** 2
    return 2 * EARTH_RADIUS_KM * np.arcsin(np.sqrt(np.clip(a, 0.0, 1.0)))


def area_people(
    *,
    features: UserFeatures,
    latitude: float,
    longitude: float,
    area_km: float,
    minimum: int,
    present: np.ndarray | None = None,
) -> np.ndarray:
    """The active people (and present ones, when `present` is given) whose home lies within area_km of
    (latitude, longitude); when fewer than `minimum` do, the `minimum` nearest homes instead (a sparse area
    widens until it can fill a task). Sorted ids."""
    eligible = features.active if present is None else features.active & present
    pool = np.flatnonzero(eligible)
    distance = haversine_km(features.home[pool, 0], features.home[pool, 1], latitude, longitude)
    inside = distance <= area_km
    if int(inside.sum()) >= minimum:
        return pool[inside]
    return np.sort(pool[np.lexsort((pool, distance))[:minimum]])


def lookalike_tasks_build(
    log: CheckinLog,
    *,
    features: UserFeatures,
    seeds_before: float,
    positives_until: float,
    config: EvaluationConfig,
    rng: np.random.Generator,
    negatives: int | None = None,
    negatives_per_positive: int | None = None,
    max_tasks: int | None = None,
) -> list[LookalikeTask]:
    """Tasks cut at `seeds_before` (the features must be as of the same moment).

    Seeds: visited P before seeds_before (at least config.min_seeds, at most config.max_seeds, sampled).
    The candidates come from P's area (`area_people`), so that positives and negatives are the same
    population: positives are those whose first visit to P falls in [seeds_before, positives_until);
    negatives are sampled among those who had not visited P before positives_until (so never a seed or a
    positive): `negatives` per task, or `negatives_per_positive` × positives.
    Check-ins at or after positives_until are not read.
    """
    if features.at != seeds_before:
        raise ValueError("the features must be computed as of the cut the seeds are taken at")
    present = None
    if config.present_candidates_only:
        window = (log.times >= seeds_before) & (log.times < positives_until)
        present = np.bincount(log.users[window], minlength=log.n_users) > 0
    users, places, times = first_visits(log)
    known = times < positives_until
    users, places, times = users[known], places[known], times[known]
    bounds = np.flatnonzero(np.diff(places)) + 1
    eligible = []
    for start, stop in zip(np.r_[0, bounds], np.r_[bounds, places.shape[0]], strict=True):
        visitors, when = users[start:stop], times[start:stop]
        seeds = visitors[when < seeds_before]
        newcomers = visitors[(when >= seeds_before) & features.active[visitors]]
        if seeds.shape[0] >= config.min_seeds and newcomers.shape[0] > 0:
            eligible.append((int(places[start]), seeds, newcomers, visitors))
    if max_tasks is not None and len(eligible) > max_tasks:
        chosen = np.sort(rng.choice(len(eligible), max_tasks, replace=False))
        eligible = [eligible[i] for i in chosen]
    tasks = []
    for place, seeds, newcomers, visitors in eligible:
        area = area_people(
            features=features,
            latitude=float(log.place_latitude[place]),
            longitude=float(log.place_longitude[place]),
            area_km=config.area_km,
            minimum=config.min_area_people,
            present=present,
        )
        positives = newcomers[np.isin(newcomers, area)]
        pool = area[~np.isin(area, visitors)]
        if positives.shape[0] == 0 or pool.shape[0] == 0:
            continue
        if seeds.shape[0] > config.max_seeds:
            seeds = rng.choice(seeds, config.max_seeds, replace=False)
        wanted = negatives if negatives is not None else (negatives_per_positive or 1) * positives.shape[0]
        sampled = np.sort(rng.choice(pool, min(wanted, pool.shape[0]), replace=False))
        candidates = np.concatenate([positives, sampled])
        labels = np.concatenate([np.ones(positives.shape[0], np.int64), np.zeros(sampled.shape[0], np.int64)])
        order = rng.permutation(candidates.shape[0])
        tasks.append(LookalikeTask(place, np.sort(seeds), candidates[order], labels[order]))
    return tasks


def tasks_to_tensors(tasks: list[LookalikeTask], embeddings: np.ndarray) -> LookalikeTasks:
    """Tasks + everyone's embeddings (n_users, d) → padded `LookalikeTasks` for the training loops."""
    width = max(task.seeds.shape[0] for task in tasks)
    vectors = torch.from_numpy(embeddings)
    seeds = torch.zeros(len(tasks), width, embeddings.shape[1])
    mask = torch.zeros(len(tasks), width, dtype=torch.bool)
    for position, task in enumerate(tasks):
        seeds[position, : task.seeds.shape[0]] = vectors[torch.from_numpy(task.seeds)]
        mask[position, : task.seeds.shape[0]] = True
    set_index = np.concatenate([np.full(task.candidates.shape[0], i) for i, task in enumerate(tasks)])
    candidates = np.concatenate([task.candidates for task in tasks])
    labels = np.concatenate([task.labels for task in tasks])
    return LookalikeTasks(
        seeds=seeds,
        seed_mask=mask,
        set_index=torch.from_numpy(set_index.astype(np.int64)),
        targets=vectors[torch.from_numpy(candidates)],
        labels=torch.from_numpy(labels),
    )


# --- metrics ----------------------------------------------------------------------------------------


def precision_recall_at_k(labels: np.ndarray, scores: np.ndarray, k: int) -> tuple[float, float]:
    """Precision@k = positives in the top k / k; recall@k = positives in the top k / all positives.
    Equal scores keep the candidates' order (which the task shuffled)."""
    labels = np.asarray(labels)
    top = np.argsort(-np.asarray(scores, dtype=np.float64), kind="stable")[:k]
    hits = float(labels[top].sum())
    return hits / k, hits / max(float(labels.sum()), 1.0)


# --- the compared models ----------------------------------------------------------------------------


class MeanPooling(nn.Module):
    """Average pooling in place of RALM's global attention: forward(seeds (B, S, d), weights (B, S),
    mask (B, S)) → (weighted mean (B, d), weights normalised (B, S))."""

    def forward(self, seeds: Tensor, weights: Tensor, mask: Tensor) -> tuple[Tensor, Tensor]:
        normalised = torch.where(mask, weights, torch.zeros_like(weights))
        normalised = normalised / normalised.sum(-1, keepdim=True).clamp_min(torch.finfo(weights.dtype).tiny)
        return torch.einsum("bs,bsd->bd", normalised, seeds), normalised


class TargetBlindMeanPooling(nn.Module):
    """Average pooling in place of the local attention: forward(seeds (B or 1, S, d), weights, mask,
    targets (B, d)) → (weighted mean (B, d), weights (B, S)); the target is ignored."""

    def __init__(self) -> None:
        super().__init__()
        self.pool = MeanPooling()

    def forward(self, seeds: Tensor, weights: Tensor, mask: Tensor, targets: Tensor) -> tuple[Tensor, Tensor]:
        pooled, normalised = self.pool(seeds, weights, mask.expand_as(weights))
        batch = targets.shape[0]
        return pooled.expand(batch, -1), normalised.expand(batch, -1)


def average_pooling_ralm(config: LookalikeConfig) -> LookalikeModel:
    """RALM's look-alike tower with both attentions replaced by average pooling (the ablation)."""
    model = LookalikeModel(config)
    model.global_attention = MeanPooling()
    model.local_attention = TargetBlindMeanPooling()
    return model


class ConcatClassifier(nn.Module):
    """The blog's rendering: a seed tower over the MEAN seed, a target tower, concatenated, an MLP head.

    forward(targets (B, d), seed_means (B, d)) → logits (B,).
    """

    def __init__(self, input_dim: int, hidden_dim: int, *, dropout: float, seed: int) -> None:
        super().__init__()
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            self.seed_tower = MLP(input_dim, [hidden_dim], dropout=dropout)
            self.target_tower = MLP(input_dim, [hidden_dim], dropout=dropout)
            self.head = MLP(2 * hidden_dim, [hidden_dim, 1], dropout=dropout, activate_last=False)

    def forward(self, targets: Tensor, seed_means: Tensor) -> Tensor:
        joined = torch.cat([self.seed_tower(seed_means), self.target_tower(targets)], dim=-1)
        return self.head(joined).squeeze(-1)


@torch.no_grad()
def _calibrate_output_bias(
    model: ConcatClassifier, targets: Tensor, seed_means: Tensor, labels: Tensor
) -> None:
    """Shift the head's output bias so the mean prediction starts at the label rate, as
    `ml.ralm.train.calibrate_logit_bias` does for RALM: both compared models start from the prior."""
    rate = float(labels.mean())
    if not 0.0 < rate < 1.0:
        return
    model.eval()
    mean_logit = float(model(targets, seed_means).mean())
    output = model.head.layers[-1]
    output.bias += math.log(rate / (1.0 - rate)) - mean_logit


def train_concat_classifier(
    model: ConcatClassifier, tasks: LookalikeTasks, config: TrainConfig, *, progress: Progress | None = None
) -> list[float]:
    """Binary cross-entropy on the same (seed set, target, label) triples as RALM's stage 2."""
    seed_means = masked_mean(tasks.seeds, tasks.seed_mask)
    labels = tasks.labels.to(torch.float32)
    losses = []
    _calibrate_output_bias(model, tasks.targets, seed_means[tasks.set_index], labels)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(config.seed)
        generator = torch.Generator().manual_seed(config.seed)
        optimiser = torch.optim.Adam(
            model.parameters(), lr=config.learning_rate, weight_decay=config.weight_decay
        )
        model.train()
        for epoch in range(config.epochs):
            total, count = 0.0, 0
            for batch in torch.randperm(labels.shape[0], generator=generator).split(config.batch_size):
                if batch.numel() < 2:
                    continue
                logits = model(tasks.targets[batch], seed_means[tasks.set_index[batch]])
                loss = F.binary_cross_entropy_with_logits(logits, labels[batch])
                optimiser.zero_grad()
                loss.backward()
                optimiser.step()
                total += loss.item() * batch.numel()
                count += batch.numel()
            losses.append(total / max(count, 1))
            if progress is not None:
                progress("blog two-tower", epoch + 1, config.epochs)
    model.eval()
    return losses


# --- the pipeline -----------------------------------------------------------------------------------


@dataclass
class EvaluationResult:
    """Per method: mean (and standard error over tasks) of each metric; plus what the run was."""

    dataset: str
    metrics: dict[str, dict[str, float]]
    info: dict[str, object] = field(default_factory=dict)
    user_tower: UserRepresentationModel | None = None
    lookalike: LookalikeModel | None = None

    def kmeans_auc_cost(self) -> float:
        """AUC over all seeds minus AUC with k-means (positive = clustering costs AUC)."""
        return self.metrics["ralm_all_seeds"]["auc"] - self.metrics["ralm"]["auc"]


def _iso(moment: float) -> str:
    return datetime.fromtimestamp(moment, tz=UTC).isoformat()


def split_times(log: CheckinLog, config: EvaluationConfig) -> tuple[float, list[float]]:
    """(split t, the look-alike training cuts ascending), all as unix seconds: quantiles of the times."""
    split = float(np.quantile(log.times, config.split_quantile))
    cuts = sorted(float(np.quantile(log.times, q)) for q in config.train_cut_quantiles)
    if cuts[-1] >= split or cuts[0] <= float(log.times.min()):
        raise EvaluationDataError("the training cuts must fall strictly inside the training period")
    return split, cuts


def tower_examples(
    log: CheckinLog, snapshot_times: list[float], end: float
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Stage-1 examples: each check-in in [snapshot j, snapshot j + 1) (the last runs to `end`) by someone
    already active at snapshot j → (snapshot index, user, place)."""
    bounds = [*snapshot_times, end]
    snapshot = np.searchsorted(np.asarray(bounds), log.times, side="right") - 1
    usable = (log.times >= bounds[0]) & (log.times < end)
    first_time = np.full(log.n_users, np.inf)
    np.minimum.at(first_time, log.users, log.times)
    rows = np.flatnonzero(usable)
    rows = rows[first_time[log.users[rows]] < np.asarray(bounds)[snapshot[rows]]]
    return snapshot[rows], log.users[rows], log.places[rows]


@torch.no_grad()
def encode_users(
    model: UserRepresentationModel, features: UserFeatures, batch_size: int = 4096
) -> np.ndarray:
    """Everyone's stage-1 embedding from their features: (n_users, embedding_dim) float32, eval mode."""
    model.eval()
    inputs = _to_tensors(features.fields)
    n = features.active.shape[0]
    parts = [
        model({name: values[start : start + batch_size] for name, values in inputs.items()}).embeddings
        for start in range(0, n, batch_size)
    ]
    return torch.cat(parts).numpy().astype(np.float32)


def _train_config(config: EvaluationConfig, epochs: int) -> TrainConfig:
    return TrainConfig(
        epochs=epochs, batch_size=config.batch_size, learning_rate=config.learning_rate, seed=config.seed
    )


def _lookalike_config(config: EvaluationConfig) -> LookalikeConfig:
    return LookalikeConfig(
        input_dim=config.embedding_dim,
        hidden_dim=config.lookalike_hidden_dim,
        attention_dim=max(4, config.lookalike_hidden_dim // 2),
        k=config.k,
        seed=config.seed,
    )


@torch.no_grad()
def _score_task(
    task: LookalikeTask, embeddings: Tensor, models: TrainedLookalikes, rng: np.random.Generator
) -> dict[str, np.ndarray]:
    seeds = embeddings[torch.from_numpy(task.seeds)]
    targets = embeddings[torch.from_numpy(task.candidates)]
    ralm, averaged, concat = models.ralm, models.average_pooling, models.two_tower
    mean_seed = seeds.mean(0, keepdim=True)
    return {
        "ralm": ralm.score_with_summary(targets, ralm.summarise_seeds(seeds)).scores.numpy(),
        "ralm_all_seeds": ralm(targets, seeds.unsqueeze(0)).scores.numpy(),
        "ralm_average_pooling": averaged.score_with_summary(
            targets, averaged.summarise_seeds(seeds)
        ).scores.numpy(),
        "cosine_mean_seed": F.cosine_similarity(targets, mean_seed.expand_as(targets), dim=-1).numpy(),
        "two_tower_concat": concat(targets, mean_seed.expand_as(targets)).numpy(),
        "random": rng.random(task.candidates.shape[0]),
    }


def stage1_train(
    log: CheckinLog, context: FeatureContext, *, end: float, config: EvaluationConfig, report: Progress
) -> tuple[UserRepresentationModel, dict[str, object]]:
    """Stage 1 on next-place prediction: features at `config.snapshots` moments spread over the check-ins
    before `end`, each check-in in [snapshot, next snapshot) predicted from its person's features at the
    snapshot; the negatives' pool is the places checked in before `end`."""
    early_times = log.times[log.times < end]
    if early_times.shape[0] < 10:
        raise EvaluationDataError(f"only {early_times.shape[0]} check-ins before the first training cut")
    snapshot_times = sorted(
        {float(np.quantile(early_times, j / (config.snapshots + 1))) for j in range(1, config.snapshots + 1)}
    )
    snapshot_features = []
    for position, moment in enumerate(snapshot_times):
        snapshot_features.append(user_features_as_of(log, context, at=moment))
        report("features", position + 1, len(snapshot_times))
    snapshot_index, example_users, example_places = tower_examples(log, snapshot_times, end)
    if example_users.shape[0] < 2:
        raise EvaluationDataError("fewer than two stage-1 examples before the first training cut")
    inputs = _to_tensors(
        {
            name: np.stack([features.fields[name] for features in snapshot_features])[
                snapshot_index, example_users
            ]
            for name in snapshot_features[0].fields
        }
    )
    counts = torch.bincount(torch.from_numpy(log.places[log.times < end] + 1), minlength=log.n_places + 1)
    tower = UserRepresentationModel(
        UserTowerConfig(
            fields=field_specs(context),
            n_places=log.n_places + 1,
            field_dim=config.field_dim,
            attention_dim=max(4, config.field_dim // 2),
            hidden_dims=config.tower_hidden_dims,
            embedding_dim=config.embedding_dim,
            seed=config.seed,
        )
    )
    losses = train_user_tower(
        tower,
        inputs,
        torch.from_numpy(example_places + 1),
        counts,
        _train_config(config, config.tower_epochs),
        progress=lambda epoch, epochs, loss: report("stage 1: next place", epoch, epochs),
    )
    info = {"stage1_snapshots": len(snapshot_times), "stage1_examples": int(example_users.shape[0]),
            "stage1_losses": losses}  # fmt: skip
    return tower, info


def training_tasks_build(
    log: CheckinLog,
    context: FeatureContext,
    tower: UserRepresentationModel,
    *,
    cuts: list[float],
    split: float,
    config: EvaluationConfig,
    rng: np.random.Generator,
) -> tuple[LookalikeTasks, int]:
    """Look-alike training triples from every cut (people encoded as of that cut, labels before `split`)
    → (padded tasks, number of tasks)."""
    tasks: list[LookalikeTask] = []
    tables: list[np.ndarray] = []
    for cut in cuts:
        features = user_features_as_of(log, context, at=cut)
        built = lookalike_tasks_build(
            log,
            features=features,
            seeds_before=cut,
            positives_until=split,
            config=config,
            rng=rng,
            negatives_per_positive=config.train_negatives_per_positive,
        )
        table = encode_users(tower, features)
        tasks += built
        tables += [table] * len(built)
    if config.max_train_tasks is not None and len(tasks) > config.max_train_tasks:
        chosen = np.sort(rng.choice(len(tasks), config.max_train_tasks, replace=False))
        tasks, tables = [tasks[i] for i in chosen], [tables[i] for i in chosen]
    if not tasks:
        raise EvaluationDataError("no place has enough seeds before the training cut and newcomers after it")
    return _tasks_with_own_embeddings(tasks, tables), len(tasks)


@dataclass
class TrainedLookalikes:
    """The stage-2 models compared, trained on the same triples; losses per epoch of each."""

    ralm: LookalikeModel
    average_pooling: LookalikeModel
    two_tower: ConcatClassifier
    losses: dict[str, list[float]]


def lookalike_models_train(
    training: LookalikeTasks, config: EvaluationConfig, report: Progress
) -> TrainedLookalikes:
    lookalike_config = _lookalike_config(config)
    train_config = _train_config(config, config.lookalike_epochs)
    ralm = LookalikeModel(lookalike_config)
    ralm_losses = train_lookalike(
        ralm,
        training,
        train_config,
        progress=lambda epoch, epochs, loss: report("stage 2: RALM", epoch, epochs),
    )
    averaged = average_pooling_ralm(lookalike_config)
    averaged_losses = train_lookalike(
        averaged,
        training,
        train_config,
        progress=lambda epoch, epochs, loss: report("stage 2: average pooling", epoch, epochs),
    )
    concat = ConcatClassifier(
        config.embedding_dim, config.lookalike_hidden_dim, dropout=lookalike_config.dropout, seed=config.seed
    )
    concat_losses = train_concat_classifier(concat, training, train_config, progress=report)
    return TrainedLookalikes(
        ralm,
        averaged,
        concat,
        {"ralm": ralm_losses, "average_pooling": averaged_losses, "two_tower": concat_losses},
    )


def methods_evaluate(
    tasks: list[LookalikeTask],
    embeddings: np.ndarray,
    models: TrainedLookalikes,
    config: EvaluationConfig,
    report: Progress,
) -> dict[str, dict[str, float]]:
    """Every method's mean AUC, precision@K and recall@K over `tasks` (and the AUC's standard error)."""
    table = torch.from_numpy(embeddings)
    per_task: dict[str, dict[str, list[float]]] = {method: {} for method in METHODS}
    score_rng = np.random.default_rng(config.seed + 1)
    for position, task in enumerate(tasks):
        scores = _score_task(task, table, models, score_rng)
        for method in METHODS:
            values = per_task[method]
            values.setdefault("auc", []).append(auc(task.labels, scores[method]))
            for k in config.ks:
                precision, recall = precision_recall_at_k(task.labels, scores[method], k)
                values.setdefault(f"precision@{k}", []).append(precision)
                values.setdefault(f"recall@{k}", []).append(recall)
        if (position + 1) % 50 == 0 or position + 1 == len(tasks):
            report("evaluation tasks", position + 1, len(tasks))
    ralm_aucs = np.asarray(per_task["ralm"]["auc"])
    metrics = {}
    for method in METHODS:
        values = per_task[method]
        aucs = np.asarray(values["auc"])
        # Paired over the same tasks: RALM's AUC minus this method's, and that difference's standard error.
        delta = ralm_aucs - aucs
        metrics[method] = {
            **{name: float(np.mean(v)) for name, v in values.items()},
            "auc_stderr": _stderr(aucs),
            "ralm_auc_minus_this": float(delta.mean()),
            "ralm_auc_minus_this_stderr": _stderr(delta),
        }
    return metrics


def _stderr(values: np.ndarray) -> float:
    return float(values.std(ddof=1) / math.sqrt(values.shape[0])) if values.shape[0] > 1 else 0.0


def ralm_evaluate(
    log: CheckinLog, config: EvaluationConfig | None = None, *, progress: Progress | None = None
) -> EvaluationResult:
    """Train on the log's early period, evaluate on its later period (see the module doc)."""
    config = config or EvaluationConfig()
    report: Progress = progress or (lambda stage, done, total: None)
    split, cuts = split_times(log, config)
    rng = np.random.default_rng(config.seed)
    context = feature_context_build(log, split=split, config=config)
    tower, stage1_info = stage1_train(log, context, end=cuts[0], config=config, report=report)
    training, n_train_tasks = training_tasks_build(
        log, context, tower, cuts=cuts, split=split, config=config, rng=rng
    )
    models = lookalike_models_train(training, config, report)

    features = user_features_as_of(log, context, at=split)
    eval_tasks = lookalike_tasks_build(
        log,
        features=features,
        seeds_before=split,
        positives_until=math.inf,
        config=config,
        rng=rng,
        negatives=config.eval_negatives,
        max_tasks=config.max_eval_tasks,
    )
    if not eval_tasks:
        raise EvaluationDataError("no place has enough seeds before the split and newcomers after it")
    metrics = methods_evaluate(eval_tasks, encode_users(tower, features), models, config, report)

    info: dict[str, object] = {
        **log.summary(),
        "split": _iso(split),
        "train_cuts": [_iso(cut) for cut in cuts],
        **stage1_info,
        "train_tasks": n_train_tasks,
        "train_triples": int(training.labels.shape[0]),
        "losses": models.losses,
        "eval_tasks": len(eval_tasks),
        "eval_positives_per_task": float(np.mean([task.labels.sum() for task in eval_tasks])),
        "eval_candidates_per_task": float(np.mean([task.candidates.shape[0] for task in eval_tasks])),
        "eval_seeds_per_task": float(np.mean([task.seeds.shape[0] for task in eval_tasks])),
        "eval_tasks_clustered": int(sum(task.seeds.shape[0] > config.k for task in eval_tasks)),
        "alpha": float(models.ralm.alpha.detach()),
        "beta": float(models.ralm.beta.detach()),
        "fields": [spec.name for spec in tower.config.fields],
        "config": asdict(config),
    }
    return EvaluationResult(log.name, metrics, info, user_tower=tower, lookalike=models.ralm)


def _tasks_with_own_embeddings(tasks: list[LookalikeTask], embeddings: list[np.ndarray]) -> LookalikeTasks:
    """Like `tasks_to_tensors`, but each task's people encoded as of its own cut."""
    if all(table is embeddings[0] for table in embeddings):
        return tasks_to_tensors(tasks, embeddings[0])
    parts = [tasks_to_tensors([task], table) for task, table in zip(tasks, embeddings, strict=True)]
    width = max(part.seeds.shape[1] for part in parts)
    dim = parts[0].seeds.shape[2]
    seeds = torch.zeros(len(parts), width, dim)
    mask = torch.zeros(len(parts), width, dtype=torch.bool)
    for position, part in enumerate(parts):
        seeds[position, : part.seeds.shape[1]] = part.seeds[0]
        mask[position, : part.seeds.shape[1]] = part.seed_mask[0]
    return LookalikeTasks(
        seeds=seeds,
        seed_mask=mask,
        set_index=torch.cat([torch.full_like(part.set_index, i) for i, part in enumerate(parts)]),
        targets=torch.cat([part.targets for part in parts]),
        labels=torch.cat([part.labels for part in parts]),
    )


# --- reporting --------------------------------------------------------------------------------------

#: The feature-schema version recorded for models trained here: their fields come from a check-in file,
#: not from the app's schema (whose versions start at 1), so the app's serving refuses them.
EVALUATION_FEATURE_SCHEMA_VERSION = 0


def evaluation_feature_signature(fields: tuple[FieldSpec, ...]) -> str:
    """A fingerprint of the evaluation fields, recorded with the saved models."""
    text = json.dumps([asdict(spec) for spec in fields], sort_keys=True)
    return "ralm-eval:" + hashlib.sha256(text.encode()).hexdigest()[:16]


def metrics_table(result: EvaluationResult) -> str:
    """The comparison as a Markdown table: one row per method, AUC (± standard error over tasks), the paired
    AUC difference to RALM, precision@K and recall@K."""
    config: dict = result.info["config"]
    ks, k = config["ks"], config["k"]
    header = ["method", "AUC", "RALM − this (paired)"] + [f"P@{n}" for n in ks] + [f"R@{n}" for n in ks]
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join(["---"] + ["---:"] * (len(header) - 1)) + "|"]
    for method in METHODS:
        values = result.metrics[method]
        delta = (
            "—"
            if method == "ralm"
            else f"{values['ralm_auc_minus_this']:+.4f} ± {values['ralm_auc_minus_this_stderr']:.4f}"
        )
        cells = [
            METHOD_LABELS[method].format(k=k),
            f"{values['auc']:.4f} ± {values['auc_stderr']:.4f}",
            delta,
            *[f"{values[f'precision@{n}']:.4f}" for n in ks],
            *[f"{values[f'recall@{n}']:.4f}" for n in ks],
        ]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def report_section(result: EvaluationResult, *, command: str, seconds: float, cpu_seconds: float) -> str:
    """A Markdown section for one data set: what was run, on what, and the comparison table."""
    info: dict = result.info
    config: dict = info["config"]
    k = config["k"]
    cost = result.kmeans_auc_cost()
    losing = [
        METHOD_LABELS[method].format(k=k)
        for method in METHODS
        if method not in ("ralm", "ralm_all_seeds") and result.metrics[method]["ralm_auc_minus_this"] <= 0
    ]
    clustered = info["eval_tasks_clustered"]
    verdict = "above every baseline's" if not losing else f"NOT above: {', '.join(losing)}"
    lines = [
        f"### {result.dataset}",
        "",
        f"`{command}` — {seconds:.0f} s wall, {cpu_seconds:.0f} s CPU on this machine "
        f"({info['checkins']:,} check-ins, "
        f"{info['users']:,} people, {info['places']:,} places; {info['first'][:10]} → {info['last'][:10]}).",
        "",
        f"- split at {info['split']} (quantile {config['split_quantile']}); look-alike training cuts "
        f"{', '.join(info['train_cuts'])}; stage 1 learns from {info['stage1_examples']:,} check-ins over "
        f"{info['stage1_snapshots']} feature snapshots before the first cut",
        f"- fields: {', '.join(info['fields'])}",
        f"- training: {info['train_tasks']:,} look-alike tasks, {info['train_triples']:,} triples",
        f"- evaluation: {info['eval_tasks']:,} tasks; per task on average {info['eval_seeds_per_task']:.1f} "
        f"seeds, {info['eval_positives_per_task']:.2f} positives among "
        f"{info['eval_candidates_per_task']:.1f} candidates; {clustered:,} tasks have over k = {k} seeds",
        f"- learned α = {info['alpha']:.3f}, β = {info['beta']:.3f}",
        f"- k-means cost: AUC over all seeds − AUC with k-means = {cost:+.4f} "
        f"({'within' if cost <= 0.005 else 'OVER'} the 0.005 budget)",
        f"- RALM's AUC is {verdict} (paired differences in the table).",
        "",
        metrics_table(result),
        "",
    ]
    return "\n".join(lines)
