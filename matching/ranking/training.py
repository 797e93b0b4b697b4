"""Training the acceptance ranker (DIN + ETA) and the two-tower recall on the app's own event log.

**The split.** One moment t_split, the `split_quantile` (default 0.8) of the positive events' times.
Everything a model learns from lies before it: the vocabulary (places and areas numbered from events before
t_split only), the training targets, the negative pools, the item frequencies of MBA and of the samplers.
Validation targets are the events at or after t_split; their histories are everything before the target,
which is what serving sees, and is scored by a model fitted before t_split.

**Ranker samples** (`ranker_data_build`). Each positive event (a visit, a join, an accepted invitation) of
a person with at least one earlier history event is a label-1 sample: the target is the event's item, the
short history the latest `short_length` history events strictly before it (DIN), the long history up to
`long_length` of them (ETA: "every earlier event", cut only for memory). Each positive gets
`negatives_per_positive` label-0 samples with the same history and moment:
- for a join or acceptance, first the other activities that were open when the person joined (created
  before, starting after) and that they did not join;
- then places of the same area (geohash cell, `content.AREA_PRECISION`) from the training period's
  catalogue that the person had not been to before that moment, drawn uniformly (any place of the
  catalogue when the area has too few).
A declined invitation is a label-0 sample of its own. Positives are subsampled to `max_train_positives` /
`max_val_positives` (seeded) for time; activity events are always kept: they are the rare, direct evidence.

**Recall samples** (`recall_data_build`). Each positive event before t_split whose place has an id is a
(person, history of earlier item ids, item) training positive; the person's one user feature is their most
visited area before t_split. Validation ranks the whole catalogue (every place with an id) for every person
with history before t_split, against the places they first went to at or after t_split (new to them:
places already visited are filtered from their ranking, so a revisit can neither help nor hurt).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field, replace
from datetime import UTC, datetime

import numpy as np
import torch
from django.utils import timezone

from activities.models import Activity
from matching.ranking.content import (
    FIRST_ID,
    ITEM_FEATURES,
    RECALL_ITEM_FEATURES,
    UNKNOWN,
    ContentVocabulary,
    RawItems,
    activity_category_and_interest,
    area_of,
    padded,
    slot_ids,
)
from matching.ranking.events import ACTIVITY_KINDS, EventKind, EventLog, Histories, event_log_load
from ml.metrics import auc, gauc
from ml.ranking import DIN, ETA, DINConfig, ETAConfig, SparseFeature
from ml.ranking.train import RaggedHistory, RankingSamples, RankTrainConfig, predict_ranker, train_ranker
from ml.recall import (
    ARCHITECTURES,
    NegativeSampler,
    RecallSamples,
    TwoTowerConfig,
    TwoTowerModel,
    default_recipe,
    encode_items,
    encode_users,
    full_ranking_metrics,
    train_two_tower,
)
from ml.recall.train import SAMPLER_POWER

Progress = Callable[[str, int, int, float], None]

#: Where the app trains an architecture differently from its paper's recipe (ml.recall.default_recipe):
#: DSSM's 4 uniform negatives lost to 10 popularity^0.75 negatives (logQ-corrected) on the NYC check-ins,
#: Hit@50 0.38 → 0.40 on new places (docs/ranking.md).
APP_RECIPES: dict[str, dict] = {"dssm": {"negatives": "popularity", "num_negatives": 10}}


class TrainingDataError(ValueError):
    """Too little data to train or validate on."""


@dataclass(frozen=True)
class RankerTrainingOptions:
    short_length: int = 20
    long_length: int = 1024
    top_k: int = 16
    hash_bits: int = 64
    embedding_dim: int = 8
    attention_dims: tuple[int, ...] = (64, 32)
    output_dims: tuple[int, ...] = (64, 32)
    epochs: int = 3
    batch_size: int = 512
    learning_rate: float = 3e-3
    mba_lambda: float = 1e-5
    #: Batches drawn from windows of this many, sorted by history length (ml.ranking.train.batch_order).
    length_bucket_batches: int = 16
    negatives_per_positive: int = 2
    max_train_positives: int = 12_000
    max_val_positives: int = 3_000
    split_quantile: float = 0.8
    min_place_count: int = 2
    #: Also train DIN alone (short history only) on the same samples, as a comparison in the metrics.
    compare_din: bool = False
    seed: int = 0


@dataclass(frozen=True)
class RecallTrainingOptions:
    #: One of ml.recall.ARCHITECTURES, or "all": train each (with APP_RECIPES or its paper's recipe) and
    #: keep the best. DSSM is what evaluated best on the NYC check-ins (docs/ranking.md).
    architecture: str = "dssm"
    #: Overrides of the recipe, for every architecture trained (None: APP_RECIPES, else the paper's).
    mode: str | None = None
    negatives: str | None = None
    num_negatives: int | None = None
    embedding_dim: int = 32
    tower_dims: tuple[int, ...] = (64, 32)
    similarity: str = "cosine"
    temperature: float = 0.05
    #: Normal init std of every embedding table. PyTorch's N(0, 1) moves ~100× too slowly under a cosine and
    #: Adam 1e-3; 0.01 is what a validation split of MovieLens-100K chose (docs/benchmarks/peers_ml100k.md).
    embedding_std: float | None = 0.01
    history_length: int = 50
    epochs: int = 5
    batch_size: int = 512
    learning_rate: float = 3e-3
    max_train_samples: int = 60_000
    split_quantile: float = 0.8
    min_place_count: int = 2
    ks: tuple[int, ...] = (10, 50, 100)
    seed: int = 0


# The split and the vocabulary ------------------------------------------------------------------------


def split_time(log: EventLog, quantile: float) -> float:
    positives = log.times[log.is_positive]
    if positives.shape[0] < 10:
        raise TrainingDataError(
            f"only {positives.shape[0]} check-ins, joins or accepted invitations: nothing to learn from"
        )
    if not 0.0 < quantile < 1.0:
        raise TrainingDataError("the split quantile must lie strictly between 0 and 1")
    return float(np.quantile(positives, quantile))


def vocabulary_build(
    log: EventLog, *, before: float, min_place_count: int, serving: dict
) -> ContentVocabulary:
    """Places and areas of the history events strictly before `before`: nothing later is numbered."""
    rows = np.flatnonzero(log.is_history & (log.times < before))
    return ContentVocabulary.build(
        place_ids=log.items.place_ids[rows],
        areas=log.items.areas[rows].tolist(),
        min_place_count=min_place_count,
        serving=serving,
    )


@dataclass(frozen=True)
class Catalogue:
    """The training period's distinct places with their content, by area, to draw negatives from."""

    items: RawItems  # one row per place (slot unused)
    by_area: dict[str, np.ndarray]  # area → rows of `items`

    @classmethod
    def build(cls, log: EventLog, *, before: float) -> Catalogue:
        rows = np.flatnonzero(log.is_history & (log.times < before) & (log.items.place_ids != 0))
        _, first = np.unique(log.items.place_ids[rows], return_index=True)
        items = log.items.take(rows[first])
        if len(items) < 2:
            raise TrainingDataError("fewer than two places in the training period: no negatives to draw")
        by_area: dict[str, list[int]] = {}
        for row, area in enumerate(items.areas.tolist()):
            by_area.setdefault(area, []).append(row)
        return cls(items, {area: np.asarray(rows_, dtype=np.int64) for area, rows_ in by_area.items()})


# Ranker samples ----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class RankerSampleSet:
    """Labelled ranking samples before vocabulary lookup; histories are windows [start, end) (short) and
    [long_start, end) (long) into `Histories`."""

    user_ids: np.ndarray
    times: np.ndarray
    targets: RawItems
    labels: np.ndarray
    starts: np.ndarray
    long_starts: np.ndarray
    ends: np.ndarray
    #: the target is an activity (a join, an acceptance, a decline, or a co-open activity as negative)
    is_activity: np.ndarray

    def __len__(self) -> int:
        return int(self.labels.shape[0])


def _subsample(rows: np.ndarray, keep: np.ndarray, limit: int, rng: np.random.Generator) -> np.ndarray:
    """rows, with every `keep` row and at most `limit` of the others (sorted)."""
    must, others = rows[keep], rows[~keep]
    if others.shape[0] > limit:
        others = rng.choice(others, limit, replace=False)
    return np.sort(np.concatenate([must, others]))


def _co_open_activities(*, log: EventLog, rows: np.ndarray) -> dict[int, list[tuple[int, RawItems]]]:
    """For each join/accept row: [(activity id, its content)] of activities open at that moment and not
    joined by the person, from one query."""
    wanted = rows[np.isin(log.kinds[rows], (EventKind.JOIN, EventKind.ACCEPT))]
    if wanted.shape[0] == 0:
        return {}
    times = log.times[wanted]
    low = datetime.fromtimestamp(float(times.min()), tz=UTC)
    high = datetime.fromtimestamp(float(times.max()), tz=UTC)
    activities = list(
        Activity.objects.filter(created_at__lte=high, starts_at__gt=low).values_list(
            "pk", "created_at", "starts_at", "activity_type", "place_id", "geohash", "longitude"
        )
    )
    if not activities:
        return {}
    content = {
        pk: RawItems(
            place_ids=np.array([place_id or 0], dtype=np.int64),
            categories=np.array([activity_category_and_interest(kind)[0]], dtype=np.int64),
            interests=np.array([activity_category_and_interest(kind)[1]], dtype=np.int64),
            areas=np.array([area_of(geohash)], dtype=object),
            slots=slot_ids(seconds=np.array([starts.timestamp()]), longitude=np.array([longitude])),
        )
        for pk, _created, starts, kind, place_id, geohash, longitude in activities
    }
    joined: dict[int, set[int]] = {}
    for row in np.flatnonzero(np.isin(log.kinds, ACTIVITY_KINDS) & (log.kinds != EventKind.DECLINE)):
        joined.setdefault(int(log.user_ids[row]), set()).add(int(log.activity_ids[row]))
    result = {}
    for row in wanted:
        at = float(log.times[row])
        mine = joined.get(int(log.user_ids[row]), set())
        result[int(row)] = [
            (pk, content[pk])
            for pk, created, starts, *_rest in activities
            if created.timestamp() <= at < starts.timestamp() and pk not in mine
        ]
    return result


class _FirstVisits:
    """When each person first had each place in their history: `seen_before` answers "had this person
    been to this place before t?" for many (person, place, t) at once."""

    def __init__(self, histories: Histories) -> None:
        users = np.repeat(histories.people, histories.ends - histories.starts)
        places = histories.items.place_ids
        self.stride = int(places.max(initial=0)) + 1
        keys = users * self.stride + places
        order = np.lexsort((histories.times, keys))
        keys, times = keys[order], histories.times[order]
        first = np.r_[True, keys[1:] != keys[:-1]] if keys.shape[0] else np.zeros(0, dtype=bool)
        self.keys, self.times = keys[first], times[first]

    def seen_before(self, users: np.ndarray, places: np.ndarray, times: np.ndarray) -> np.ndarray:
        keys = users * self.stride + places
        position = np.minimum(np.searchsorted(self.keys, keys), max(self.keys.shape[0] - 1, 0))
        if self.keys.shape[0] == 0:
            return np.zeros(keys.shape, dtype=bool)
        return (self.keys[position] == keys) & (self.times[position] < times)


def _place_negatives(
    *,
    catalogue: Catalogue,
    first_visits: _FirstVisits,
    users: np.ndarray,
    times: np.ndarray,
    targets: np.ndarray,
    areas: np.ndarray,
    wanted: np.ndarray,
    rng: np.random.Generator,
) -> tuple[np.ndarray, np.ndarray]:
    """Catalogue rows of place negatives: wanted[i] for query i, from its area's places (the whole
    catalogue when the area runs short), never the target nor a place the person had been to before.
    Returns (query index, catalogue row) pairs."""
    out_query: list[np.ndarray] = []
    out_row: list[np.ndarray] = []
    remaining = wanted.astype(np.int64).copy()
    everyone = np.arange(len(catalogue.items))
    pools = {area: catalogue.by_area.get(area, everyone) for area in np.unique(areas).tolist()}
    for attempt in range(6):
        # Two rounds within the area, then the whole catalogue.
        need = np.flatnonzero(remaining > 0)
        if need.shape[0] == 0:
            break
        width = int(remaining[need].max()) * 3
        drawn = np.empty((need.shape[0], width), dtype=np.int64)
        for area in np.unique(areas[need]).tolist():
            group = np.flatnonzero(areas[need] == area)
            pool = pools[area] if attempt < 2 else everyone
            drawn[group] = pool[rng.integers(pool.shape[0], size=(group.shape[0], width))]
        places = catalogue.items.place_ids[drawn]
        query_users = np.repeat(users[need], width).reshape(drawn.shape)
        query_times = np.repeat(times[need], width).reshape(drawn.shape)
        valid = (places != targets[need, None]) & ~first_visits.seen_before(query_users, places, query_times)
        # The first remaining[i] valid draws of each row (drawn with replacement: a row may repeat a place,
        # rarely, as a sampled softmax's negatives may).
        taken = valid & (np.cumsum(valid, axis=1) <= remaining[need, None])
        row_index, column = np.nonzero(taken)
        out_query.append(need[row_index])
        out_row.append(drawn[row_index, column])
        remaining[need] -= taken.sum(axis=1)
    if not out_query:
        return np.empty(0, dtype=np.int64), np.empty(0, dtype=np.int64)
    query, rows = np.concatenate(out_query), np.concatenate(out_row)
    order = np.argsort(query, kind="stable")
    return query[order], rows[order]


def ranker_samples_build(
    *,
    log: EventLog,
    histories: Histories,
    rows: np.ndarray,
    catalogue: Catalogue,
    negatives_per_positive: int,
    rng: np.random.Generator,
    first_visits: _FirstVisits | None = None,
) -> RankerSampleSet:
    """Samples for the target events `rows` of the log (positives get negatives; declines are negatives)."""
    first_visits = _FirstVisits(histories) if first_visits is None else first_visits
    starts, ends = histories.window_end(user_ids=log.user_ids[rows], times=log.times[rows])
    has_history = ends > starts
    rows, starts, ends = rows[has_history], starts[has_history], ends[has_history]
    kinds = log.kinds[rows]
    users, times = log.user_ids[rows], log.times[rows]
    # The targets themselves: positives label 1, declines label 0.
    parts = [log.items.take(rows)]
    source = [np.arange(rows.shape[0])]
    labels = [(kinds != EventKind.DECLINE).astype(np.int64)]
    is_activity = [np.isin(kinds, ACTIVITY_KINDS)]
    # Activity negatives: what else was open when they joined.
    co_open = _co_open_activities(log=log, rows=rows)
    wanted = np.where(kinds == EventKind.DECLINE, 0, negatives_per_positive).astype(np.int64)
    activity_source, activity_parts = [], []
    for position, row in enumerate(rows.tolist()):
        for _pk, content in co_open.get(row, [])[:negatives_per_positive]:
            activity_source.append(position)
            activity_parts.append(content)
            wanted[position] -= 1
    if activity_parts:
        parts.append(RawItems.concatenate(activity_parts))
        source.append(np.asarray(activity_source, dtype=np.int64))
        labels.append(np.zeros(len(activity_parts), dtype=np.int64))
        is_activity.append(np.ones(len(activity_parts), dtype=bool))
    # Place negatives, at the target's moment (its time slot).
    query, catalogue_rows = _place_negatives(
        catalogue=catalogue,
        first_visits=first_visits,
        users=users,
        times=times,
        targets=log.items.place_ids[rows],
        areas=log.items.areas[rows],
        wanted=wanted,
        rng=rng,
    )
    drawn = catalogue.items.take(catalogue_rows)
    parts.append(replace(drawn, slots=log.items.slots[rows][query]))
    source.append(query)
    labels.append(np.zeros(query.shape[0], dtype=np.int64))
    is_activity.append(np.zeros(query.shape[0], dtype=bool))
    source_rows = np.concatenate(source)
    return RankerSampleSet(
        user_ids=users[source_rows],
        times=times[source_rows],
        targets=RawItems.concatenate(parts),
        labels=np.concatenate(labels),
        starts=starts[source_rows],
        long_starts=starts[source_rows],
        ends=ends[source_rows],
        is_activity=np.concatenate(is_activity),
    )


@dataclass(frozen=True)
class RankerData:
    vocabulary: ContentVocabulary
    histories: Histories
    history_ids: np.ndarray  # (H, F) model ids of every history event
    train: RankerSampleSet
    val: RankerSampleSet
    t_split: float
    log_size: int
    people: int


def ranker_data_build(*, log: EventLog, options: RankerTrainingOptions) -> RankerData:
    """The split, the vocabulary and the train / validation samples (see the module doc)."""
    t_split = split_time(log, options.split_quantile)
    rng = np.random.default_rng(options.seed)
    vocabulary = vocabulary_build(
        log,
        before=t_split,
        min_place_count=options.min_place_count,
        serving={"short_length": options.short_length, "long_length": options.long_length},
    )
    histories = Histories.from_log(log)
    catalogue = Catalogue.build(log, before=t_split)
    targets = np.flatnonzero(log.is_positive | (log.kinds == EventKind.DECLINE))
    activity = np.isin(log.kinds[targets], ACTIVITY_KINDS)
    before = log.times[targets] < t_split
    train_rows = _subsample(targets[before], activity[before], options.max_train_positives, rng)
    val_rows = _subsample(targets[~before], activity[~before], options.max_val_positives, rng)
    common = {
        "log": log,
        "histories": histories,
        "first_visits": _FirstVisits(histories),
        "catalogue": catalogue,
        "negatives_per_positive": options.negatives_per_positive,
        "rng": rng,
    }
    train = ranker_samples_build(rows=train_rows, **common)
    val = ranker_samples_build(rows=val_rows, **common)
    if len(train) == 0 or train.labels.min() == train.labels.max():
        raise TrainingDataError("the training period has no positive with a history, or no negative")
    if len(val) == 0 or val.labels.min() == val.labels.max():
        raise TrainingDataError("the validation period has no positive with a history, or no negative")
    long_cut = np.maximum(train.starts, train.ends - options.long_length)
    train = replace(train, long_starts=long_cut)
    val = replace(val, long_starts=np.maximum(val.starts, val.ends - options.long_length))
    return RankerData(
        vocabulary=vocabulary,
        histories=histories,
        history_ids=vocabulary.encode(histories.items, ITEM_FEATURES),
        train=train,
        val=val,
        t_split=t_split,
        log_size=len(log),
        people=int(np.unique(log.user_ids).shape[0]),
    )


def ranking_samples(data: RankerData, samples: RankerSampleSet, *, short_length: int) -> RankingSamples:
    """The ml form: targets and labels as tensors, both histories as windows of one shared tensor."""
    values = torch.from_numpy(data.history_ids)
    return RankingSamples(
        target=torch.from_numpy(data.vocabulary.encode(samples.targets, ITEM_FEATURES)),
        history=RaggedHistory(values, torch.from_numpy(samples.starts), torch.from_numpy(samples.ends)),
        labels=torch.from_numpy(samples.labels),
        long_history=RaggedHistory(
            values, torch.from_numpy(samples.long_starts), torch.from_numpy(samples.ends)
        ),
        short_length=short_length,
    )


def history_match_scores(data: RankerData, samples: RankerSampleSet) -> np.ndarray:
    """The no-model baseline (and the fallback's reasons): the share of the person's history in the
    target's category, plus 1 when they have been to the target place before."""
    scores = np.zeros(len(samples), dtype=np.float64)
    categories = data.histories.items.categories
    places = data.histories.items.place_ids
    for i in range(len(samples)):
        start, end = samples.long_starts[i], samples.ends[i]
        if end <= start:
            continue
        share = float(np.mean(categories[start:end] == samples.targets.categories[i]))
        place = samples.targets.place_ids[i]
        scores[i] = share + float(place != 0 and bool(np.any(places[start:end] == place)))
    return scores


def _auc_or_none(labels: np.ndarray, scores: np.ndarray, users: np.ndarray | None = None) -> float | None:
    try:
        return auc(labels, scores) if users is None else gauc(labels, scores, users)
    except ValueError:
        return None  # one class only


def _train_auc(
    model: ETA, data: RankerData, train: RankingSamples, options: RankerTrainingOptions
) -> float | None:
    """AUC on at most 5,000 training samples (seeded): enough to see over- or under-fitting, at a fraction
    of the cost of scoring every long history again."""
    rows = np.arange(len(data.train))
    if rows.shape[0] > 5000:
        rows = np.sort(np.random.default_rng(options.seed).choice(rows, 5000, replace=False))
    subset = replace(data.train, **{
        name: getattr(data.train, name)[rows]
        for name in ("user_ids", "times", "labels", "starts", "long_starts", "ends", "is_activity")
    }, targets=data.train.targets.take(rows))  # fmt: skip
    return _auc_or_none(
        subset.labels, predict_ranker(model, ranking_samples(data, subset, short_length=options.short_length))
    )


@dataclass
class RankerTrainingResult:
    model: ETA
    vocabulary: ContentVocabulary
    metrics: dict = field(default_factory=dict)


def ranker_config(vocabulary: ContentVocabulary, options: RankerTrainingOptions) -> ETAConfig:
    return ETAConfig(
        item_features=vocabulary.features(ITEM_FEATURES),
        embedding_dim=options.embedding_dim,
        attention_dims=options.attention_dims,
        output_dims=options.output_dims,
        long_mode="eta",
        hash_bits=options.hash_bits,
        top_k=options.top_k,
        category_feature="category",
        seed=options.seed,
        hash_seed=options.seed,
    )


def ranker_train(
    *, options: RankerTrainingOptions, progress: Progress | None = None, log: EventLog | None = None
) -> RankerTrainingResult:
    """Build the data, train ETA (and DIN alone with compare_din), validate on the later period."""
    started = time.perf_counter()
    log = event_log_load() if log is None else log
    data = ranker_data_build(log=log, options=options)
    read_seconds = time.perf_counter() - started
    train = ranking_samples(data, data.train, short_length=options.short_length)
    val = ranking_samples(data, data.val, short_length=options.short_length)
    train_config = RankTrainConfig(
        epochs=options.epochs,
        batch_size=options.batch_size,
        learning_rate=options.learning_rate,
        mba_lambda=options.mba_lambda,
        length_bucket_batches=options.length_bucket_batches,
        seed=options.seed,
    )
    model = ETA(ranker_config(data.vocabulary, options))
    fit_started = time.perf_counter()
    losses = train_ranker(
        model,
        train,
        train_config,
        progress=(lambda e, n, loss: progress("DIN+ETA", e, n, loss)) if progress else None,
    )
    fit_seconds = time.perf_counter() - fit_started
    scores = predict_ranker(model, val)
    labels, users = data.val.labels, data.val.user_ids
    baseline = history_match_scores(data, data.val)
    activity = data.val.is_activity
    metrics: dict = {
        "val_auc": _auc_or_none(labels, scores),
        "val_gauc": _auc_or_none(labels, scores, users),
        "val_baseline_auc": _auc_or_none(labels, baseline),
        "val_baseline_gauc": _auc_or_none(labels, baseline, users),
        "val_activity_samples": int(activity.sum()),
        "val_activity_auc": _auc_or_none(labels[activity], scores[activity]),
        "val_activity_baseline_auc": _auc_or_none(labels[activity], baseline[activity]),
        "train_auc": _train_auc(model, data, train, options),
        "losses": losses,
        "fit_seconds": round(fit_seconds, 2),
        "read_seconds": round(read_seconds, 2),
    }
    if options.compare_din:
        din = DIN(
            DINConfig(
                item_features=data.vocabulary.features(ITEM_FEATURES),
                embedding_dim=options.embedding_dim,
                attention_dims=options.attention_dims,
                output_dims=options.output_dims,
                seed=options.seed,
            )
        )
        din_started = time.perf_counter()
        din_samples = replace(train, long_history=None)
        train_ranker(
            din, din_samples, train_config,
            progress=(lambda e, n, loss: progress("DIN alone", e, n, loss)) if progress else None,
        )  # fmt: skip
        din_scores = predict_ranker(din, replace(val, long_history=None))
        metrics["din_val_auc"] = _auc_or_none(labels, din_scores)
        metrics["din_val_gauc"] = _auc_or_none(labels, din_scores, users)
        metrics["din_fit_seconds"] = round(time.perf_counter() - din_started, 2)
    metrics.update(
        {
            "train_samples": len(data.train),
            "train_positives": int(data.train.labels.sum()),
            "val_samples": len(data.val),
            "val_positives": int(labels.sum()),
            "val_people": int(np.unique(users).shape[0]),
            "events": data.log_size,
            "people": data.people,
            "places_with_ids": len(data.vocabulary.place_ids),
            "areas": len(data.vocabulary.areas),
            "mean_long_history": float(np.mean(data.train.ends - data.train.long_starts)),
            "t_split": datetime.fromtimestamp(data.t_split, tz=UTC).isoformat(),
            "trained_at": timezone.now().isoformat(),
            "options": asdict(options),
        }
    )
    return RankerTrainingResult(model=model.eval(), vocabulary=data.vocabulary, metrics=metrics)


# Recall ------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class RecallData:
    vocabulary: ContentVocabulary
    samples: RecallSamples
    #: (P, 2) (person row, item id) of every training positive: never a negative for that person
    positives: torch.Tensor
    item_counts: torch.Tensor
    #: validation: per person with training history, the user inputs and target / seen item rows
    val_user: torch.Tensor
    val_history: torch.Tensor
    val_targets: list[np.ndarray]
    val_seen: list[np.ndarray]
    t_split: float
    people: int


def item_feature_table(vocabulary: ContentVocabulary, catalogue: RawItems) -> torch.Tensor:
    """(V, 4) int64: the recall item features of every item id (row 0 padding, row 1 UNKNOWN)."""
    table = np.zeros((vocabulary.item_vocab_size, len(RECALL_ITEM_FEATURES)), dtype=np.int64)
    table[UNKNOWN] = UNKNOWN
    encoded = vocabulary.encode(catalogue, RECALL_ITEM_FEATURES)
    known = encoded[:, 0] >= FIRST_ID
    table[encoded[known, 0]] = encoded[known]
    return torch.from_numpy(table)


def home_area_ids(vocabulary: ContentVocabulary, histories: Histories, ends: np.ndarray) -> np.ndarray:
    """(P,) the area id each person's history before `ends` (per person) holds most (UNKNOWN if none)."""
    result = np.full(histories.people.shape[0], UNKNOWN, dtype=np.int64)
    areas = vocabulary.encode(histories.items, ("area",))[:, 0]
    for p in range(histories.people.shape[0]):
        window = areas[histories.starts[p] : ends[p]]
        window = window[window >= FIRST_ID]
        if window.shape[0]:
            values, counts = np.unique(window, return_counts=True)
            result[p] = values[np.argmax(counts)]
    return result


def recall_data_build(*, log: EventLog, options: RecallTrainingOptions) -> RecallData:
    t_split = split_time(log, options.split_quantile)
    rng = np.random.default_rng(options.seed)
    vocabulary = vocabulary_build(
        log,
        before=t_split,
        min_place_count=options.min_place_count,
        serving={"history_length": options.history_length},
    )
    histories = Histories.from_log(log)
    item_ids = vocabulary.encode(histories.items, ("item",))[:, 0]
    catalogue = Catalogue.build(log, before=t_split)
    split_ends = np.array(
        [
            start + np.searchsorted(histories.times[start:end], t_split, side="left")
            for start, end in zip(histories.starts, histories.ends, strict=True)
        ],
        dtype=np.int64,
    )
    home = home_area_ids(vocabulary, histories, split_ends)

    # Training positives: history events before t_split with a known item, positives only (not organising).
    positive_rows = np.flatnonzero(log.is_positive & (log.times < t_split))
    hist_starts, hist_ends = histories.window_end(
        user_ids=log.user_ids[positive_rows], times=log.times[positive_rows]
    )
    targets = vocabulary.encode(log.items.take(positive_rows), ("item",))[:, 0]
    keep = targets >= FIRST_ID
    positive_rows, hist_starts, hist_ends, targets = (
        positive_rows[keep], hist_starts[keep], hist_ends[keep], targets[keep]
    )  # fmt: skip
    if positive_rows.shape[0] < 2:
        raise TrainingDataError("fewer than two training positives at places with an id")
    if positive_rows.shape[0] > options.max_train_samples:
        chosen = np.sort(rng.choice(positive_rows.shape[0], options.max_train_samples, replace=False))
        positive_rows, hist_starts, hist_ends, targets = (
            positive_rows[chosen], hist_starts[chosen], hist_ends[chosen], targets[chosen]
        )  # fmt: skip
    person_rows = np.searchsorted(histories.people, log.user_ids[positive_rows])
    history = padded(
        [item_ids[s:e] for s, e in zip(hist_starts, hist_ends, strict=True)],
        width=options.history_length,
        features=1,
    )[..., 0]
    samples = RecallSamples(
        person=torch.from_numpy(person_rows.astype(np.int64)),
        user=torch.from_numpy(home[person_rows].reshape(-1, 1)),
        history=torch.from_numpy(history),
        items=torch.from_numpy(targets.astype(np.int64)),
        item_features=item_feature_table(vocabulary, catalogue.items),
    )
    all_train = np.flatnonzero(log.is_positive & (log.times < t_split))
    all_items = vocabulary.encode(log.items.take(all_train), ("item",))[:, 0]
    known = all_items >= FIRST_ID
    pairs = np.stack(
        [np.searchsorted(histories.people, log.user_ids[all_train][known]), all_items[known]], axis=1
    )
    counts = torch.bincount(torch.from_numpy(all_items[known]), minlength=vocabulary.item_vocab_size)

    # Validation: everyone with history before t_split; targets = places new to them from t_split on.
    val_people = np.flatnonzero(split_ends > histories.starts)
    val_targets, val_seen, val_histories = [], [], []
    for p in val_people:
        before = item_ids[histories.starts[p] : split_ends[p]]
        after = item_ids[split_ends[p] : histories.ends[p]]
        seen = np.unique(before[before >= FIRST_ID])
        new = np.setdiff1d(np.unique(after[after >= FIRST_ID]), seen)
        val_targets.append(new - FIRST_ID)  # rows of the catalogue matrix (item id − FIRST_ID)
        val_seen.append(seen - FIRST_ID)
        val_histories.append(before)
    return RecallData(
        vocabulary=vocabulary,
        samples=samples,
        positives=torch.from_numpy(pairs.astype(np.int64)),
        item_counts=counts,
        val_user=torch.from_numpy(home[val_people].reshape(-1, 1)),
        val_history=torch.from_numpy(padded(val_histories, width=options.history_length, features=1)[..., 0]),
        val_targets=val_targets,
        val_seen=val_seen,
        t_split=t_split,
        people=int(histories.people.shape[0]),
    )


def recall_evaluate(model: TwoTowerModel, data: RecallData, ks: tuple[int, ...]) -> dict[str, float]:
    """Exact full-catalogue Hit@K / Recall@K / NDCG@K on the later period (ml.recall.evaluate)."""
    catalogue = data.samples.item_features[FIRST_ID:]
    users = encode_users(model, data.val_user, data.val_history)
    items = encode_items(model, catalogue)
    return full_ranking_metrics(
        users, items, data.val_targets, data.val_seen, ks=ks, normalise=model.config.similarity == "cosine"
    )


def popularity_metrics(data: RecallData, ks: tuple[int, ...]) -> dict[str, float]:
    """The same evaluation for "most visited in the training period first" (no model)."""
    counts = data.item_counts[FIRST_ID:].numpy().astype(np.float32).reshape(-1, 1)
    users = np.ones((len(data.val_targets), 1), dtype=np.float32)
    return full_ranking_metrics(users, counts, data.val_targets, data.val_seen, ks=ks, normalise=False)


@dataclass
class RecallTrainingResult:
    model: TwoTowerModel
    vocabulary: ContentVocabulary
    #: (V, 4) the recall features of every item id: the catalogue, for the FAISS export
    item_features: torch.Tensor
    metrics: dict = field(default_factory=dict)


def recall_config(
    architecture: str, vocabulary: ContentVocabulary, options: RecallTrainingOptions
) -> TwoTowerConfig:
    return TwoTowerConfig(
        architecture=architecture,
        user_features=(SparseFeature("home_area", vocabulary.area_vocab_size),),
        item_features=vocabulary.features(RECALL_ITEM_FEATURES),
        embedding_dim=options.embedding_dim if architecture != "youtube_dnn" else options.tower_dims[-1],
        user_dims=options.tower_dims,
        item_dims=options.tower_dims,
        similarity=options.similarity,
        temperature=options.temperature,
        embedding_std=options.embedding_std,
        seed=options.seed,
    )


def recall_train(
    *, options: RecallTrainingOptions, progress: Progress | None = None, log: EventLog | None = None
) -> RecallTrainingResult:
    """Build the data, train the architecture(s), evaluate each on the later period, keep the best by
    Hit@50 (then NDCG@50)."""
    started = time.perf_counter()
    log = event_log_load() if log is None else log
    data = recall_data_build(log=log, options=options)
    read_seconds = time.perf_counter() - started
    if options.architecture == "all":
        architectures = ARCHITECTURES
    elif options.architecture in ARCHITECTURES:
        architectures = (options.architecture,)
    else:
        raise ValueError(
            f"architecture must be one of {ARCHITECTURES} or 'all', not {options.architecture!r}"
        )
    overrides = {
        key: value
        for key, value in (
            ("mode", options.mode), ("negatives", options.negatives), ("num_negatives", options.num_negatives)
        )
        if value is not None
    }  # fmt: skip
    ks = tuple(sorted(set(options.ks)))
    selection_k = 50 if 50 in ks else ks[-1]
    candidates = []
    for architecture in architectures:
        recipe = default_recipe(
            architecture,
            epochs=options.epochs,
            batch_size=options.batch_size,
            learning_rate=options.learning_rate,
            seed=options.seed,
            **{**APP_RECIPES.get(architecture, {}), **overrides},
        )
        sampler = None
        if recipe.negatives != "in_batch":
            sampler = NegativeSampler(data.item_counts, data.positives, power=SAMPLER_POWER[recipe.negatives])
        model = TwoTowerModel(recall_config(architecture, data.vocabulary, options))
        fit_started = time.perf_counter()
        losses = train_two_tower(
            model, data.samples, recipe, sampler=sampler,
            progress=(lambda e, n, loss, a=architecture: progress(a, e, n, loss)) if progress else None,
        )  # fmt: skip
        evaluation = recall_evaluate(model, data, ks)
        candidates.append(
            (
                (evaluation[f"hit@{selection_k}"], evaluation[f"ndcg@{selection_k}"]),
                architecture,
                model,
                {
                    "architecture": architecture,
                    "recipe": recipe.to_dict(),
                    "losses": losses,
                    "fit_seconds": round(time.perf_counter() - fit_started, 2),
                    **evaluation,
                },
            )
        )
    candidates.sort(key=lambda candidate: candidate[0], reverse=True)
    _key, architecture, model, best = candidates[0]
    metrics = {
        **best,
        "selected_by": f"hit@{selection_k}, then ndcg@{selection_k}" if len(candidates) > 1 else "only one",
        "compared": [candidate[3] for candidate in candidates] if len(candidates) > 1 else [],
        "popularity": popularity_metrics(data, ks),
        "train_samples": len(data.samples),
        "catalogue": int(data.samples.item_features.shape[0] - FIRST_ID),
        "val_people": int(best["users"]),
        "people": data.people,
        "read_seconds": round(read_seconds, 2),
        "t_split": datetime.fromtimestamp(data.t_split, tz=UTC).isoformat(),
        "trained_at": timezone.now().isoformat(),
        "options": asdict(options),
    }
    return RecallTrainingResult(
        model=model.eval(),
        vocabulary=data.vocabulary,
        item_features=data.samples.item_features,
        metrics=metrics,
    )
