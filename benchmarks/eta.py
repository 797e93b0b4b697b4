"""Benchmark: ETA against full target attention, SIM-hard, average pooling and DIN on the short history.

    .venv/bin/python benchmarks/eta.py [--data PATH] [--epochs 2] [--skip-checkins] [--skip-sweep]

Two parts, one table each, written to docs/benchmarks/eta.md:

1. **Next-place click on a check-in log** (--data: a file or folder in either layout that
   `manage.py evaluate_ralm` reads, through `ml.datasets.checkin_log_read`: the Foursquare NYC derived CSV,
   the default $VICINO_DATA_DIR/foursquare-nyc/derived/nyc_checkins_full_derived.csv, or a Liu et al. LBSN
   folder such as $VICINO_DATA_DIR/lbsn-yelp-liu2017/Yelp_3). Check-ins sorted by (person, minute, place);
   a place is (place id, category): the NYC category name, or a Yelp place's first (smallest) category
   of several, "unknown" where the data has none. The check-in times are split at the --test-quantile
   (0.8) quantile: later check-ins are test targets; training targets are the check-ins between the
   --train-from quantile (0.7) and the split (earlier ones still make up every history); the test
   targets are a seeded sample of --max-test-clicks (10,000) of the later ones. Each target check-in is
   a click (label 1) and gets --negatives (1) places drawn by popularity^0.75 among the places of the
   training period (never the target itself) as non-clicks (label 0); training negatives are
   redrawn every epoch, test negatives drawn once. Long history = EVERY earlier check-in of the person
   (strictly earlier minute); short history = the latest 20 of them. Vocabularies (places, categories,
   people) come from the training period; anything else maps to one out-of-vocabulary id.
   The five models share one configuration (embedding 16, attention MLP (80, 40), output MLP (200, 80),
   Dice, Adam 1e-3, batch 256) and differ only in how the long history is read: ETA (64-bit SimHash,
   Hamming top-32, then target attention), full target attention over all of it, SIM-hard (the 32 latest
   of the target's category), average pooling, and DIN on the short history alone (no long part).

2. **Synthetic length sweep**, L = 256, 1,024, 4,096, 16,384.
   - Forward time of 1,000 candidates against one person's history of length L (eval mode, the history
     shared by all candidates and embedded once): ETA with its item signatures precomputed (serving) and
     hashing on the fly, against full attention. Candidates go through in chunks of at most 2²⁰
     candidate × position pairs for every variant (full attention would otherwise need L·1,000·4·32
     floats at once). After one untimed warm-up each, the three take turns for --timing-repeats (5)
     rounds, so a burst of load from other jobs hits all three alike; each figure is the median.
   - AUC of the five models. People have 3 interest categories among 200; each history holds 16 events of
     those categories at random positions, and otherwise events of 200 other "noise" categories; a
     clicked target is an item of an interest category, a non-clicked one an item of another of the
     200. Every model is trained once, on --sweep-train-people (4,000) people with histories of
     --sweep-train-length (256) for --sweep-epochs (6), and evaluated at every L on the same 500 test
     people (their histories cut or extended to L), so the AUC shows how each way of reading the long
     history copes when the interest signal is 16 events among L. (1,000 people for 3 epochs at
     L = 1,024, 24 optimiser steps an epoch, left every model at AUC ≈ 0.5; training at 256 makes 4× the
     samples affordable on two shared cores.)

The parts can run as separate commands (--skip-sweep, --skip-checkins): each keeps its section in
var/benchmarks/eta/ and every run rewrites docs/benchmarks/eta.md from the latest of both, with the
verdict.

Target: ETA at least 5× faster than full attention at L = 4,096, and within 0.005 AUC of it.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import platform
import sys
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import torch

REPO_ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO_ROOT))

from ml.datasets import CheckinLog, checkin_log_read  # noqa: E402
from ml.metrics import auc, gauc  # noqa: E402
from ml.ranking import DIN, ETA, DINConfig, ETAConfig, SparseFeature  # noqa: E402
from ml.ranking.train import (  # noqa: E402
    RaggedHistory,
    RankingSamples,
    RankTrainConfig,
    predict_ranker,
    train_ranker,
)
from ml.recall import NegativeSampler  # noqa: E402

from common import markdown_table, write_result  # noqa: E402

DATA_DIR = Path(os.environ.get("VICINO_DATA_DIR", REPO_ROOT.parent.parent / "shared" / "data"))
DEFAULT_DATA = DATA_DIR / "foursquare-nyc" / "derived" / "nyc_checkins_full_derived.csv"
SHORT_LENGTH = 20
EMBEDDING_DIM = 16
TOP_K = 32
HASH_BITS = 64
VARIANTS = ("eta", "full", "sim_hard", "avg", "din_short")
VARIANT_NAMES = {
    "eta": "ETA (SimHash top-k)",
    "full": "full target attention",
    "sim_hard": "SIM-hard (same category)",
    "avg": "average pooling",
    "din_short": "DIN, short history only",
}


# --- check-in data ----------------------------------------------------------------------------------
@dataclass(frozen=True)
class CheckIns:
    """Every check-in sorted by (person, minute, place): dense ids from the reader, minutes since the epoch,
    the place's category (-1 when unknown)."""

    person: np.ndarray
    place: np.ndarray
    minute: np.ndarray
    category: np.ndarray


def checkins_from_log(log: CheckinLog) -> CheckIns:
    """A `CheckinLog` (either layout) in the order the task needs. A place with several categories (Yelp)
    takes its first, the smallest category id; a place without one gets -1."""
    place_category = np.full(log.n_places, -1, dtype=np.int64)
    if log.place_category_pairs is not None and log.place_category_pairs.shape[0]:
        pairs = log.place_category_pairs  # sorted by (place, category): the first row of a place wins
        first = np.flatnonzero(np.r_[True, pairs[1:, 0] != pairs[:-1, 0]])
        place_category[pairs[first, 0]] = pairs[first, 1]
    minute = np.floor(log.times / 60).astype(np.int64)
    order = np.lexsort((log.places, minute, log.users))
    place = log.places[order]
    return CheckIns(log.users[order], place, minute[order], place_category[place])


class Vocabulary:
    """Training values → 1 … n; anything else → n + 1 (out of vocabulary); 0 stays padding."""

    def __init__(self, values: np.ndarray) -> None:
        self.values = np.unique(values)
        self.size = len(self.values) + 2

    def encode(self, raw: np.ndarray) -> np.ndarray:
        where = np.searchsorted(self.values, raw).clip(0, len(self.values) - 1)
        return np.where(self.values[where] == raw, where + 1, self.size - 1).astype(np.int64)


@dataclass(frozen=True)
class CheckinTask:
    events: torch.Tensor  # (T, 2) encoded (place, category) of every check-in, in CheckIns order
    starts: torch.Tensor  # (T,) first event of the person
    ends: torch.Tensor  # (T,) first event of the same minute: everything before is strictly earlier
    person: torch.Tensor  # (T,) encoded person
    raw_person: np.ndarray
    train_rows: torch.Tensor  # check-ins that are training targets
    test_rows: torch.Tensor
    place_category: torch.Tensor  # (place vocab,) category of each encoded place
    sampler: NegativeSampler
    sizes: dict[str, int]


def checkin_task(checkins: CheckIns, *, train_from: float, test_quantile: float) -> CheckinTask:
    n = checkins.person.shape[0]
    split = np.quantile(checkins.minute, test_quantile)
    train_start = np.quantile(checkins.minute, train_from)
    in_training_period = checkins.minute < split
    places = Vocabulary(checkins.place[in_training_period])
    categories = Vocabulary(checkins.category[in_training_period])
    people = Vocabulary(checkins.person[in_training_period])
    place = places.encode(checkins.place)
    category = categories.encode(checkins.category)
    starts = np.empty(n, dtype=np.int64)
    ends = np.empty(n, dtype=np.int64)
    person_start = block_start = 0
    for row in range(n):
        if row == 0 or checkins.person[row] != checkins.person[row - 1]:
            person_start = block_start = row
        elif checkins.minute[row] != checkins.minute[row - 1]:
            block_start = row
        starts[row], ends[row] = person_start, block_start
    has_history = ends > starts
    train_rows = np.flatnonzero(has_history & in_training_period & (checkins.minute >= train_start))
    test_rows = np.flatnonzero(has_history & ~in_training_period)
    place_category = np.zeros(places.size, dtype=np.int64)
    place_category[place] = category  # a place's category is the same on every check-in
    counts = np.bincount(place[in_training_period], minlength=places.size)
    counts[-1] = 0  # the out-of-vocabulary id is never a negative
    sampler = NegativeSampler(torch.from_numpy(counts), torch.zeros(0, 2, dtype=torch.long), power=0.75)
    return CheckinTask(
        events=torch.from_numpy(np.stack([place, category], 1)),
        starts=torch.from_numpy(starts),
        ends=torch.from_numpy(ends),
        person=torch.from_numpy(people.encode(checkins.person)),
        raw_person=checkins.person,
        train_rows=torch.from_numpy(train_rows),
        test_rows=torch.from_numpy(test_rows),
        place_category=torch.from_numpy(place_category),
        sampler=sampler,
        sizes={"place": places.size, "category": categories.size, "person": people.size},
    )


def checkin_samples(
    task: CheckinTask, rows: torch.Tensor, negatives: int, generator: torch.Generator
) -> RankingSamples:
    """The clicks of `rows` and `negatives` sampled non-clicks each, sharing the click's histories."""
    targets = task.events[rows, 0]
    drawn = task.sampler.sample(
        torch.zeros_like(targets), negatives, generator=generator, positives=targets
    )  # (R, negatives)
    place = torch.cat([targets, drawn.T.reshape(-1)])
    every = rows.repeat(negatives + 1)
    history = RaggedHistory(task.events, task.starts[every], task.ends[every])
    labels = torch.cat([torch.ones(rows.shape[0]), torch.zeros(rows.shape[0] * negatives)]).long()
    return RankingSamples(
        target=torch.stack([place, task.place_category[place]], 1),
        history=history,
        labels=labels,
        user=task.person[every].unsqueeze(1),
        long_history=history,
        short_length=SHORT_LENGTH,
    )


def make_model(variant: str, sizes: dict[str, int], seed: int, user: bool = True) -> DIN | ETA:
    """One of the five variants, all with the same embedding, attention and output configuration."""
    items = (SparseFeature("place", sizes["place"]), SparseFeature("category", sizes["category"]))
    users = (SparseFeature("person", sizes["person"]),) if user else ()
    common = {
        "item_features": items,
        "user_features": users,
        "embedding_dim": EMBEDDING_DIM,
        "attention_dims": (80, 40),
        "output_dims": (200, 80),
        "seed": seed,
    }
    if variant == "din_short":
        return DIN(DINConfig(**common))
    return ETA(ETAConfig(**common, long_mode=variant, top_k=TOP_K, hash_bits=HASH_BITS, hash_seed=seed))


def without_long(samples: RankingSamples) -> RankingSamples:
    return RankingSamples(
        target=samples.target,
        history=samples.history,
        labels=samples.labels,
        user=samples.user,
        short_length=samples.short_length,
    )


def run_checkins(args) -> tuple[str, str, str, float]:
    log = checkin_log_read(args.data)
    checkins = checkins_from_log(log)
    task = checkin_task(checkins, train_from=args.train_from, test_quantile=args.test_quantile)
    generator = torch.Generator().manual_seed(12345)
    if args.max_test_clicks and task.test_rows.numel() > args.max_test_clicks:
        keep = torch.randperm(task.test_rows.numel(), generator=generator)[: args.max_test_clicks]
        task = dataclasses.replace(task, test_rows=task.test_rows[torch.sort(keep).values])
    test = checkin_samples(task, task.test_rows, args.negatives, generator)
    lengths = (task.ends - task.starts)[task.test_rows].double()
    note = (
        f"{checkins.person.shape[0]:,} check-ins, {task.sizes['person'] - 2:,} people, "
        f"{task.sizes['place'] - 2:,} places in the training period; {task.train_rows.numel():,} training "
        f"clicks and {task.test_rows.numel():,} test clicks, each with {args.negatives} sampled "
        "non-click(s); "
        f"long history of a test click: mean {lengths.mean():.0f}, max {lengths.max():.0f} check-ins"
    )
    print(note, flush=True)
    rows = []
    for variant in VARIANTS:
        model = make_model(variant, task.sizes, args.seed)
        epoch_generator = torch.Generator().manual_seed(args.seed)
        epochs = [
            checkin_samples(task, task.train_rows, args.negatives, epoch_generator)
            for _ in range(args.epochs)
        ]
        if variant == "din_short":
            epochs = [without_long(samples) for samples in epochs]
        seconds: list[float] = []
        last = [time.perf_counter()]

        def progress(epoch: int, total: int, loss: float, seconds=seconds, last=last) -> None:
            now = time.perf_counter()
            seconds.append(now - last[0])
            last[0] = now

        train_ranker(
            model,
            epochs[0],
            RankTrainConfig(epochs=args.epochs, batch_size=256, learning_rate=1e-3, seed=args.seed),
            epoch_samples=lambda epoch, epochs=epochs: epochs[epoch],
            progress=progress,
        )
        started = time.perf_counter()
        scores = predict_ranker(model, without_long(test) if variant == "din_short" else test, batch_size=512)
        predict_seconds = time.perf_counter() - started
        labels = test.labels.numpy()
        users = task.raw_person[task.test_rows.repeat(args.negatives + 1).numpy()]
        result = [auc(labels, scores), gauc(labels, scores, users)]
        print(
            f"  {VARIANT_NAMES[variant]:28} AUC {result[0]:.4f} GAUC {result[1]:.4f} "
            f"{np.mean(seconds):.0f} s/epoch, test scoring {predict_seconds:.0f} s",
            flush=True,
        )
        rows.append(
            [
                VARIANT_NAMES[variant],
                f"{result[0]:.4f}",
                f"{result[1]:.4f}",
                f"{np.mean(seconds):.0f}",
                f"{predict_seconds:.0f}",
            ]
        )
    full_auc = float(rows[1][1])
    for row in rows:
        row.insert(2, f"{float(row[1]) - full_auc:+.4f}")
    table = markdown_table(
        ["long history read by", "AUC", "Δ AUC vs full", "GAUC", "train s / epoch", "test scoring s"], rows
    )
    eta_auc, full_auc = float(rows[0][1]), float(rows[1][1])
    return log.name, note, table, eta_auc - full_auc


# --- synthetic sweep ---------------------------------------------------------------------------------
SWEEP_LENGTHS = (256, 1024, 4096, 16384)
#: candidate × position pairs per forward call in the timing (every variant alike)
FORWARD_CHUNK_PAIRS = 1 << 20
INTEREST_CATEGORIES = 200  # categories 1 … 200 can be interests; 201 … 400 are noise
ITEMS_PER_CATEGORY = 25
INTEREST_EVENTS = 16


def synthetic_sizes() -> dict[str, int]:
    categories = 2 * INTEREST_CATEGORIES
    return {"place": categories * ITEMS_PER_CATEGORY + 1, "category": categories + 1, "person": 2}


def synthetic_item(category: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """A random item of each category (items 1 … categories·ITEMS_PER_CATEGORY, grouped by category)."""
    return (category - 1) * ITEMS_PER_CATEGORY + 1 + rng.integers(0, ITEMS_PER_CATEGORY, size=category.shape)


def synthetic_people(count: int, length: int, seed: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(histories (count, length, 2), targets (2·count, 2), labels (2·count,)): per person a click and a
    non-click target."""
    rng = np.random.default_rng(seed)
    interests = np.stack([rng.choice(INTEREST_CATEGORIES, 3, replace=False) + 1 for _ in range(count)])
    noise = rng.integers(INTEREST_CATEGORIES + 1, 2 * INTEREST_CATEGORIES + 1, size=(count, length))
    history_category = noise.copy()
    for person in range(count):
        where = rng.choice(length, INTEREST_EVENTS, replace=False)
        history_category[person, where] = interests[person, rng.integers(0, 3, INTEREST_EVENTS)]
    history = np.stack([synthetic_item(history_category, rng), history_category], -1)
    clicked = interests[np.arange(count), rng.integers(0, 3, count)]
    other = rng.integers(1, INTEREST_CATEGORIES + 1, size=count)
    clash = (other[:, None] == interests).any(1)
    while clash.any():
        other[clash] = rng.integers(1, INTEREST_CATEGORIES + 1, size=int(clash.sum()))
        clash = (other[:, None] == interests).any(1)
    target_category = np.concatenate([clicked, other])
    targets = np.stack([synthetic_item(target_category, rng), target_category], -1)
    labels = np.concatenate([np.ones(count), np.zeros(count)]).astype(np.int64)
    return history, targets, labels


def synthetic_samples(histories: np.ndarray, targets: np.ndarray, labels: np.ndarray) -> RankingSamples:
    history = torch.from_numpy(np.concatenate([histories, histories]))
    return RankingSamples(
        target=torch.from_numpy(targets),
        history=history[:, -SHORT_LENGTH:],
        labels=torch.from_numpy(labels),
        long_history=history,
    )


def resize_histories(base: np.ndarray, length: int, seed: int) -> np.ndarray:
    """The same people at another length: cut (keeping the latest events and every interest event) or
    extended with older noise events."""
    count, current, _ = base.shape
    rng = np.random.default_rng(seed)
    if length == current:
        return base
    if length > current:
        category = rng.integers(
            INTEREST_CATEGORIES + 1, 2 * INTEREST_CATEGORIES + 1, size=(count, length - current)
        )
        older = np.stack([synthetic_item(category, rng), category], -1)
        return np.concatenate([older, base], axis=1)
    # shorter: keep every interest event, drop the oldest noise events
    resized = []
    for person in range(count):
        interest = base[person, :, 1] <= INTEREST_CATEGORIES
        drop = current - length
        noise_positions = np.flatnonzero(~interest)[:drop]
        keep = np.ones(current, dtype=bool)
        keep[noise_positions] = False
        resized.append(base[person, keep])
    return np.stack(resized)


def forward_pass(
    model: ETA, candidates: torch.Tensor, history: torch.Tensor, signatures: torch.Tensor | None
) -> float:
    """Seconds for one eval-mode forward of every candidate against the one shared history."""
    chunk = max(1, FORWARD_CHUNK_PAIRS // history.shape[1])
    started = time.perf_counter()
    with torch.no_grad():
        for block in candidates.split(chunk):
            short = history[:, -SHORT_LENGTH:].expand(block.shape[0], -1, -1)
            model(block, short, history, long_signatures=signatures)
    return time.perf_counter() - started


def timed_forwards(runs: dict[str, tuple], repeats: int) -> dict[str, float]:
    """Median seconds of each run (model, candidates, history, signatures) over `repeats` rounds. The runs
    take turns within each round, so a burst of load from other jobs hits all of them alike rather than
    one; every run gets one untimed warm-up pass first."""
    times: dict[str, list[float]] = {name: [] for name in runs}
    for run in runs.values():
        forward_pass(*run)
    for _ in range(repeats):
        for name, run in runs.items():
            times[name].append(forward_pass(*run))
    return {name: float(np.median(values)) for name, values in times.items()}


def run_sweep(args) -> tuple[str, str, dict[str, float]]:
    sizes = synthetic_sizes()
    rng = np.random.default_rng(args.seed)
    train_histories, train_targets, train_labels = synthetic_people(
        args.sweep_train_people, args.sweep_train_length, args.seed
    )
    base_test = synthetic_people(args.sweep_test_people, args.sweep_train_length, args.seed + 1)
    train = synthetic_samples(train_histories, train_targets, train_labels)
    models = {}
    train_seconds = {}
    for variant in VARIANTS:
        model = make_model(variant, sizes, args.seed, user=False)
        started = time.perf_counter()
        train_ranker(
            model,
            without_long(train) if variant == "din_short" else train,
            RankTrainConfig(epochs=args.sweep_epochs, batch_size=256, learning_rate=1e-3, seed=args.seed),
        )
        train_seconds[variant] = (time.perf_counter() - started) / args.sweep_epochs
        models[variant] = model
        print(
            f"  sweep: trained {VARIANT_NAMES[variant]} in {train_seconds[variant]:.0f} s/epoch", flush=True
        )
    rows = []
    at_4096: dict[str, float] = {}
    for length in SWEEP_LENGTHS:
        histories = resize_histories(base_test[0], length, args.seed + length)
        test = synthetic_samples(histories, base_test[1], base_test[2])
        aucs = {}
        for variant, model in models.items():
            scores = predict_ranker(
                model,
                without_long(test) if variant == "din_short" else test,
                batch_size=max(1, (1 << 20) // length),
            )
            aucs[variant] = auc(test.labels.numpy(), scores)
        # timing: one person's history, 1,000 candidates
        person_history = torch.from_numpy(histories[:1])
        categories = rng.integers(1, INTEREST_CATEGORIES + 1, size=1000)
        candidates = torch.from_numpy(np.stack([synthetic_item(categories, rng), categories], -1))
        eta, full = models["eta"], models["full"]
        with torch.no_grad():
            signatures = eta.item_signatures(person_history)
        medians = timed_forwards(
            {
                "eta": (eta, candidates, person_history, signatures),
                "eta_hashing": (eta, candidates, person_history, None),
                "full": (full, candidates, person_history, None),
            },
            repeats=args.timing_repeats,
        )
        eta_precomputed, eta_hashing, full_time = medians["eta"], medians["eta_hashing"], medians["full"]
        print(
            f"  L={length}: ETA {eta_precomputed * 1000:.0f} ms (hashing {eta_hashing * 1000:.0f} ms), "
            f"full {full_time * 1000:.0f} ms, AUC "
            + ", ".join(f"{variant} {value:.4f}" for variant, value in aucs.items()),
            flush=True,
        )
        if length == 4096:
            at_4096 = {
                "speedup": full_time / eta_precomputed,
                "eta_ms": eta_precomputed * 1000,
                "full_ms": full_time * 1000,
                "delta_auc": aucs["eta"] - aucs["full"],
            }
        rows.append(
            [
                f"{length:,}",
                f"{eta_precomputed * 1000:.0f}",
                f"{eta_hashing * 1000:.0f}",
                f"{full_time * 1000:.0f}",
                f"{full_time / eta_precomputed:.1f}×",
                *(f"{aucs[variant]:.4f}" for variant in VARIANTS),
                f"{aucs['eta'] - aucs['full']:+.4f}",
            ]
        )
    header = [
        "L",
        "ETA ms (signatures precomputed)",
        "ETA ms (hashing on the fly)",
        "full ms",
        "speed-up",
        *(f"AUC {VARIANT_NAMES[variant]}" for variant in VARIANTS),
        "Δ AUC ETA − full",
    ]
    note = (
        f"Trained on {len(train):,} samples ({args.sweep_train_people:,} people × click + non-click) with "
        f"histories of {args.sweep_train_length:,}, {args.sweep_epochs} epoch(s); training s/epoch: "
        + ", ".join(f"{VARIANT_NAMES[v]} {train_seconds[v]:.0f}" for v in VARIANTS)
        + f". Tested on {2 * args.sweep_test_people:,} samples at each L."
    )
    return note, markdown_table(header, rows), at_4096


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA)
    parser.add_argument("--epochs", type=int, default=2)
    parser.add_argument("--negatives", type=int, default=1)
    parser.add_argument("--train-from", type=float, default=0.7)
    parser.add_argument("--test-quantile", type=float, default=0.8)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--sweep-train-people", type=int, default=4000)
    parser.add_argument("--sweep-train-length", type=int, default=256)
    parser.add_argument("--sweep-test-people", type=int, default=500)
    parser.add_argument("--sweep-epochs", type=int, default=6)
    parser.add_argument("--timing-repeats", type=int, default=5)
    parser.add_argument("--skip-checkins", "--skip-nyc", dest="skip_checkins", action="store_true")
    parser.add_argument("--skip-sweep", action="store_true")
    parser.add_argument(
        "--max-test-clicks", type=int, default=10000, help="a seeded sample of the test clicks; 0 = all"
    )
    parser.add_argument("--no-write", action="store_true")
    parser.add_argument("--smoke", action="store_true", help="tiny sizes, to check the plumbing")
    args = parser.parse_args()
    if args.smoke:
        args.epochs, args.train_from, args.max_test_clicks = 1, 0.79, 1000
        args.sweep_train_people, args.sweep_test_people, args.sweep_epochs = 200, 100, 1
        args.timing_repeats = 1
        args.no_write = True
    torch.set_num_threads(args.threads)
    command = ("python benchmarks/eta.py " + " ".join(sys.argv[1:])).strip()
    if not args.skip_checkins:
        started, load = time.perf_counter(), os.getloadavg()[0]
        name, note, table, delta = run_checkins(args)
        print(table)
        save_part(
            args,
            "checkins",
            {
                "section": [f"## {name}, next-place click", "", f"Data: `{args.data}`. {note}.", "", table],
                "command": command,
                "minutes": (time.perf_counter() - started) / 60,
                "load": [load, os.getloadavg()[0]],
                "name": name,
                "delta_auc": delta,
            },
        )
    if not args.skip_sweep:
        started, load = time.perf_counter(), os.getloadavg()[0]
        note, table, at_4096 = run_sweep(args)
        print(table)
        save_part(
            args,
            "sweep",
            {
                "section": ["## Synthetic length sweep", "", note, "", table],
                "command": command,
                "minutes": (time.perf_counter() - started) / 60,
                "load": [load, os.getloadavg()[0]],
                **at_4096,
            },
        )
    if not args.no_write:
        path = write_report(args.threads)
        print(f"wrote {path}")


PARTS_DIR = REPO_ROOT / "var" / "benchmarks" / "eta"


def save_part(args, part: str, record: dict) -> None:
    """Keep one part's section (and the figures the verdict needs) in var/, so the two parts can run as
    separate commands (at the same time, on a busy machine) and the report holds the latest of each."""
    if args.no_write:
        return
    PARTS_DIR.mkdir(parents=True, exist_ok=True)
    record["finished"] = f"{datetime.now(UTC):%Y-%m-%d %H:%M} UTC"
    (PARTS_DIR / f"{part}.json").write_text(json.dumps(record, indent=1))


def write_report(threads: int) -> Path:
    parts = {
        part: json.loads((PARTS_DIR / f"{part}.json").read_text())
        for part in ("checkins", "sweep")
        if (PARTS_DIR / f"{part}.json").exists()
    }
    commands = sorted({part["command"] for part in parts.values()})
    body = [
        f"- machine: {os.cpu_count()} CPU cores shared with other jobs (every command under `nice -n 19`), "
        f"{platform.machine()}, Python {platform.python_version()}, torch {torch.__version__} on {threads} "
        "threads",
        f"- every model: embedding 16 per feature, attention MLP (80, 40), output MLP (200, 80), Dice, "
        f"Adam 1e-3, batch 256; ETA: {HASH_BITS}-bit SimHash, top-{TOP_K}; SIM-hard: top-{TOP_K} of the "
        f"target's category; short history: the latest {SHORT_LENGTH}",
    ]
    for name, part in parts.items():
        body.append(
            f"- {name}: `{part['command']}`, {part['minutes']:.1f} min, finished {part['finished']}, "
            f"load average {part['load'][0]:.1f} at the start and {part['load'][1]:.1f} at the end"
        )
    body += ["", "## Verdict", ""]
    if "sweep" in parts:
        sweep = parts["sweep"]
        fast = sweep["speedup"] >= 5
        close = sweep["delta_auc"] >= -0.005
        body.append(
            f"- L = 4,096: ETA is **{sweep['speedup']:.1f}×** faster than full attention "
            f"({sweep['eta_ms']:.0f} ms vs {sweep['full_ms']:.0f} ms for 1,000 candidates, signatures "
            f"precomputed; target ≥ 5×: {'met' if fast else 'MISSED'}); AUC ETA − full "
            f"**{sweep['delta_auc']:+.4f}** (target: at most 0.005 below: {'met' if close else 'MISSED'})"
        )
    if "checkins" in parts:
        delta = parts["checkins"]["delta_auc"]
        body.append(
            f"- {parts['checkins']['name']}: AUC ETA − full **{delta:+.4f}** "
            f"({'within 0.005 of full attention or above' if delta >= -0.005 else 'MORE than 0.005 below'})"
        )
    body += [
        "",
        "Reading the figures:",
        "- Times are wall-clock on two cores shared with other jobs at the load averages above; at a load "
        "well above 2 they are several times what an idle machine gives. ETA and full attention take "
        "turns in the same process, so their ratio is the figure the target reads.",
        "- A row where ETA with precomputed signatures reads slower than hashing on the fly is a timing "
        "artefact, not a cost (hashing does strictly more work on the same path); likely cause, not "
        "profiled: within a round the precomputed run comes right after full attention and pays for its "
        "hundreds of MB of freed buffers in page faults.",
        "- In the synthetic sweep a click is defined by category, which is exactly what SIM-hard retrieves "
        "by: there it is an oracle, not a competitor. Average pooling and the short history alone cannot "
        "see 16 interest events among L and stay near 0.5.",
        "- Full target attention (DIN's unit, sum pooling without softmax, as specified) adds up a weight "
        "for every position: the longer the history beyond what it was trained on, the more the noise "
        "positions' small weights add up, while ETA's top-k hands attention the same number of items at "
        "every L.",
    ]
    for part in parts.values():
        body += ["", *part["section"]]
    return write_result(
        name="eta", title="ETA vs full attention", command=" ; ".join(commands), body="\n".join(body) + "\n"
    )


if __name__ == "__main__":
    main()
