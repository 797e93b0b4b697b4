"""Training RALM on the app's own data: the check-ins (Visit) and the six feature groups.

Time is split at two moments of the visit log, t_train < t_val (by default the 60 % and 80 % quantiles of
the visit times):

- **Stage 1** (next-place prediction) learns from the check-in transitions that END before t_train: the
  person's features as of t_train (`features_as_of`, nothing after t_train counts) → the place of each of
  their check-ins after the first one. Negatives are drawn by frequency rank among the places seen before
  t_train only.
- **Stage 2** (look-alike) learns from tasks with seeds = the people who visited a place before t_train,
  positives = people whose FIRST visit to it falls in [t_train, t_val), negatives = people of the same area
  (geohash cell of precision AREA_PRECISION, by where they check in most) who had not visited it by t_val.
  Everyone is encoded from their features as of t_train.
- **Validation** repeats the construction one period later (seeds before t_val, positives first visiting
  after t_val, people encoded from features as of t_val), scores through the serving path (k-means
  summary, `score_with_summary`) and reports the AUC averaged over tasks, next to the cosine to the mean
  seed embedding (a baseline) on the same tasks.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime

import numpy as np
import torch

from matching.features import SCHEMA, features_as_of
from matching.serving import tower_inputs, user_embeddings_encode
from ml.ralm import (
    LookalikeConfig,
    LookalikeModel,
    LookalikeTasks,
    TrainConfig,
    UserRepresentationModel,
    UserTowerConfig,
    fields_from_schema,
    train_lookalike,
    train_user_tower,
)
from users.models import Visit

AREA_PRECISION = 5  # geohash cells about 4.9 km × 4.9 km
Progress = Callable[[str, int, int, float], None]


@dataclass(frozen=True)
class RalmTrainingOptions:
    embedding_dim: int = 32
    field_dim: int = 32
    hidden_dim: int = 32
    k: int = 20
    tower_epochs: int = 3
    lookalike_epochs: int = 4
    batch_size: int = 256
    learning_rate: float = 3e-3
    train_quantile: float = 0.6
    val_quantile: float = 0.8
    min_seeds: int = 3
    max_seeds: int = 64
    max_positives: int = 32
    negatives_per_positive: int = 2
    max_train_tasks: int = 600
    max_val_tasks: int = 300
    seed: int = 0


@dataclass(frozen=True)
class VisitLog:
    """Every check-in, ordered by (person, time). Places are re-indexed 1 … n_places − 1 (0 = padding)."""

    user_ids: np.ndarray  # (n,) int64
    places: np.ndarray  # (n,) int64 in 1 … n_places − 1
    times: np.ndarray  # (n,) float64 unix seconds
    place_areas: np.ndarray  # (n_places,) object: geohash prefix of each place ("" for padding)
    n_places: int


@dataclass
class RalmTrainingResult:
    user_tower: UserRepresentationModel
    lookalike: LookalikeModel
    metrics: dict = field(default_factory=dict)


class TrainingDataError(ValueError):
    """Too little data to train or validate on."""


def visit_log_load() -> VisitLog:
    rows = list(
        Visit.objects.order_by("user_id", "visited_at", "pk").values_list(
            "user_id", "place_id", "visited_at", "place__geohash"
        )
    )
    if len(rows) < 10:
        raise TrainingDataError(f"only {len(rows)} check-ins: RALM needs a visit history to learn from")
    user_ids = np.fromiter((row[0] for row in rows), dtype=np.int64, count=len(rows))
    raw_places = np.fromiter((row[1] for row in rows), dtype=np.int64, count=len(rows))
    times = np.fromiter((row[2].timestamp() for row in rows), dtype=np.float64, count=len(rows))
    distinct, places = np.unique(raw_places, return_inverse=True)
    areas = np.empty(distinct.shape[0] + 1, dtype=object)
    areas[0] = ""
    for place, row in zip(places, rows, strict=True):
        areas[place + 1] = row[3][:AREA_PRECISION]
    return VisitLog(user_ids, places.astype(np.int64) + 1, times, areas, int(distinct.shape[0]) + 1)


def _features(*, people: np.ndarray, at: float) -> np.ndarray:
    batch = features_as_of(user_ids=people.tolist(), at=datetime.fromtimestamp(at, tz=UTC))
    return np.concatenate([batch.groups[group.name] for group in SCHEMA.groups], axis=1).astype(np.float32)


def _home_areas(log: VisitLog, people: np.ndarray, before: float) -> np.ndarray:
    """(len(people),) the area each person checked in most before `before` ("" when never)."""
    areas = np.full(people.shape[0], "", dtype=object)
    position = {int(user_id): row for row, user_id in enumerate(people)}
    counts: dict[int, dict[str, int]] = {}
    for user_id, place, at in zip(log.user_ids, log.places, log.times, strict=True):
        if at < before:
            tally = counts.setdefault(int(user_id), {})
            area = log.place_areas[place]
            tally[area] = tally.get(area, 0) + 1
    for user_id, tally in counts.items():
        areas[position[user_id]] = max(sorted(tally), key=tally.__getitem__)
    return areas


def lookalike_tasks_build(
    *,
    log: VisitLog,
    people: np.ndarray,
    embeddings: np.ndarray,
    seeds_before: float,
    positives_before: float,
    max_tasks: int,
    options: RalmTrainingOptions,
    rng: np.random.Generator,
) -> LookalikeTasks:
    """(seed set, target, label) triples as the module doc describes; `embeddings` row i is people[i]."""
    row_of = {int(user_id): row for row, user_id in enumerate(people)}
    areas = _home_areas(log, people, seeds_before)
    by_area: dict[str, np.ndarray] = {
        area: np.flatnonzero(areas == area) for area in set(areas.tolist()) if area
    }
    # First visit of each (place, person).
    order = np.lexsort((log.times, log.user_ids, log.places))
    place_sorted, user_sorted, time_sorted = log.places[order], log.user_ids[order], log.times[order]
    first = np.ones(order.shape[0], dtype=bool)
    first[1:] = (place_sorted[1:] != place_sorted[:-1]) | (user_sorted[1:] != user_sorted[:-1])
    place_sorted, user_sorted, time_sorted = place_sorted[first], user_sorted[first], time_sorted[first]
    bounds = np.flatnonzero(np.diff(place_sorted)) + 1
    candidates = []
    for start, stop in zip(np.r_[0, bounds], np.r_[bounds, place_sorted.shape[0]], strict=True):
        times, users = time_sorted[start:stop], user_sorted[start:stop]
        seeds = users[times < seeds_before]
        positives = users[(times >= seeds_before) & (times < positives_before)]
        if seeds.shape[0] >= options.min_seeds and positives.shape[0] > 0:
            candidates.append((int(place_sorted[start]), seeds, positives, users[times < positives_before]))
    if not candidates:
        raise TrainingDataError("no place has enough seeds before the split and newcomers after it")
    if len(candidates) > max_tasks:
        candidates = [candidates[i] for i in np.sort(rng.choice(len(candidates), max_tasks, replace=False))]

    seed_rows, set_index, targets, labels = [], [], [], []
    for position, (place, seeds, positives, visitors) in enumerate(candidates):
        if seeds.shape[0] > options.max_seeds:
            seeds = rng.choice(seeds, options.max_seeds, replace=False)
        if positives.shape[0] > options.max_positives:
            positives = rng.choice(positives, options.max_positives, replace=False)
        seen = np.array([row_of[int(user_id)] for user_id in visitors])
        pool = by_area.get(log.place_areas[place], np.empty(0, dtype=np.int64))
        pool = np.setdiff1d(pool, seen)
        wanted = positives.shape[0] * options.negatives_per_positive
        if pool.shape[0] < wanted:
            pool = np.setdiff1d(np.arange(people.shape[0]), seen)  # a sparse area: anyone who did not go
        negatives = rng.choice(pool, min(wanted, pool.shape[0]), replace=False)
        seed_rows.append(np.array([row_of[int(user_id)] for user_id in seeds]))
        positive_rows = [row_of[int(user_id)] for user_id in positives]
        targets += positive_rows + negatives.tolist()
        labels += [1] * len(positive_rows) + [0] * negatives.shape[0]
        set_index += [position] * (len(positive_rows) + negatives.shape[0])

    width = max(rows.shape[0] for rows in seed_rows)
    seed_tensor = torch.zeros(len(seed_rows), width, embeddings.shape[1])
    mask = torch.zeros(len(seed_rows), width, dtype=torch.bool)
    vectors = torch.from_numpy(embeddings)
    for position, rows in enumerate(seed_rows):
        seed_tensor[position, : rows.shape[0]] = vectors[rows]
        mask[position, : rows.shape[0]] = True
    return LookalikeTasks(
        seeds=seed_tensor,
        seed_mask=mask,
        set_index=torch.tensor(set_index, dtype=torch.int64),
        targets=vectors[torch.tensor(targets, dtype=torch.int64)],
        labels=torch.tensor(labels, dtype=torch.int64),
    )


def auc(scores: np.ndarray, labels: np.ndarray) -> float:
    """P(score of a positive > score of a negative), ties counting half (Mann–Whitney)."""
    positives, negatives = scores[labels == 1], scores[labels == 0]
    greater = (positives[:, None] > negatives[None, :]).mean()
    ties = (positives[:, None] == negatives[None, :]).mean()
    return float(greater + 0.5 * ties)


@torch.no_grad()
def lookalike_evaluate(model: LookalikeModel, tasks: LookalikeTasks) -> dict[str, float]:
    """Mean per-task AUC of RALM (through the serving summary) and of the cosine to the mean seed."""
    model.eval()
    ralm, baseline = [], []
    for position in range(tasks.seeds.shape[0]):
        rows = tasks.set_index == position
        labels = tasks.labels[rows].numpy()
        if labels.min() == labels.max():
            continue
        seeds = tasks.seeds[position][tasks.seed_mask[position]]
        targets = tasks.targets[rows]
        summary = model.summarise_seeds(seeds)
        ralm.append(auc(model.score_with_summary(targets, summary).scores.numpy(), labels))
        cosine = torch.nn.functional.cosine_similarity(targets, seeds.mean(0, keepdim=True), dim=-1)
        baseline.append(auc(cosine.numpy(), labels))
    if not ralm:
        raise TrainingDataError("no validation task has both a positive and a negative")
    return {"auc": float(np.mean(ralm)), "mean_seed_cosine_auc": float(np.mean(baseline)), "tasks": len(ralm)}


def ralm_train(*, options: RalmTrainingOptions, progress: Progress | None = None) -> RalmTrainingResult:
    """Both stages on the app's visits and features, then the validation on the later period."""
    log = visit_log_load()
    t_train, t_val = np.quantile(log.times, [options.train_quantile, options.val_quantile])
    people = np.unique(log.user_ids)
    rng = np.random.default_rng(options.seed)
    features_train = _features(people=people, at=float(t_train))
    features_val = _features(people=people, at=float(t_val))
    row_of = np.searchsorted(people, log.user_ids)

    # Stage 1: every check-in before t_train that follows another of the same person.
    follows = np.zeros(log.user_ids.shape[0], dtype=bool)
    follows[1:] = log.user_ids[1:] == log.user_ids[:-1]
    transitions = np.flatnonzero(follows & (log.times < t_train))
    if transitions.shape[0] < 2:
        raise TrainingDataError("fewer than two check-in transitions before the training split")
    counts = torch.bincount(torch.from_numpy(log.places[log.times < t_train]), minlength=log.n_places)
    tower_config = UserTowerConfig(
        fields=fields_from_schema(SCHEMA),
        n_places=log.n_places,
        field_dim=options.field_dim,
        attention_dim=max(4, options.field_dim // 2),
        hidden_dims=(2 * options.embedding_dim,),
        embedding_dim=options.embedding_dim,
        seed=options.seed,
    )
    user_tower = UserRepresentationModel(tower_config)
    inputs = tower_inputs(features_train[row_of[transitions]])
    train_config = TrainConfig(
        epochs=options.tower_epochs,
        batch_size=options.batch_size,
        learning_rate=options.learning_rate,
        seed=options.seed,
    )
    tower_losses = train_user_tower(
        user_tower,
        inputs,
        torch.from_numpy(log.places[transitions]),
        counts,
        train_config,
        progress=(lambda e, n, loss: progress("stage 1: next place", e, n, loss)) if progress else None,
    )

    # Stage 2.
    embeddings_train = user_embeddings_encode(user_tower=user_tower, matrix=features_train)
    embeddings_val = user_embeddings_encode(user_tower=user_tower, matrix=features_val)
    common = {"log": log, "people": people, "options": options, "rng": rng}
    train_tasks = lookalike_tasks_build(
        embeddings=embeddings_train,
        seeds_before=float(t_train),
        positives_before=float(t_val),
        max_tasks=options.max_train_tasks,
        **common,
    )
    val_tasks = lookalike_tasks_build(
        embeddings=embeddings_val,
        seeds_before=float(t_val),
        positives_before=float("inf"),
        max_tasks=options.max_val_tasks,
        **common,
    )
    lookalike = LookalikeModel(
        LookalikeConfig(
            input_dim=options.embedding_dim,
            hidden_dim=options.hidden_dim,
            attention_dim=max(4, options.hidden_dim // 2),
            k=options.k,
            seed=options.seed,
        )
    )
    lookalike_losses = train_lookalike(
        lookalike,
        train_tasks,
        TrainConfig(
            epochs=options.lookalike_epochs,
            batch_size=options.batch_size,
            learning_rate=options.learning_rate,
            seed=options.seed,
        ),
        progress=(lambda e, n, loss: progress("stage 2: look-alike", e, n, loss)) if progress else None,
    )
    validation = lookalike_evaluate(lookalike, val_tasks)
    training = lookalike_evaluate(lookalike, train_tasks)
    metrics = {
        "val_auc": validation["auc"],
        "val_mean_seed_cosine_auc": validation["mean_seed_cosine_auc"],
        "val_tasks": validation["tasks"],
        "train_auc": training["auc"],
        "train_tasks": int(train_tasks.seeds.shape[0]),
        "train_triples": int(train_tasks.labels.shape[0]),
        "tower_losses": tower_losses,
        "lookalike_losses": lookalike_losses,
        "tower_examples": int(transitions.shape[0]),
        "people": int(people.shape[0]),
        "places": log.n_places - 1,
        "visits": int(log.times.shape[0]),
        "t_train": datetime.fromtimestamp(float(t_train), tz=UTC).isoformat(),
        "t_val": datetime.fromtimestamp(float(t_val), tz=UTC).isoformat(),
        "options": asdict(options),
    }
    return RalmTrainingResult(user_tower=user_tower.eval(), lookalike=lookalike.eval(), metrics=metrics)
