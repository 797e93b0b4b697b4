"""Training loops for DIN and ETA: binary cross-entropy plus λ · mini-batch-aware L2.

    loss = BCE(logit, label) + λ · Σ_tables Σ_{rows j in the batch} ‖w_j‖² / n_j

with n_j the number of times id j occurs in the TRAINING samples (`ranking_frequencies`; targets, real
history slots and user fields), as in DIN §4.2: only the rows a batch reads are regularised, so the cost
of the penalty follows the batch, not the vocabulary.

Samples (`RankingSamples`) hold the short history as a padded (N, L, F) tensor and, for ETA, the long
history either padded the same way or as a `RaggedHistory` (every earlier event of a person stored once,
each sample a window of it), gathered per batch and padded only to the batch's longest: a long history of
"every earlier check-in" would not fit in memory padded to the longest person's.

Both loops are deterministic given the config's seed (`torch.random.fork_rng`, a seeded generator for the
shuffling) and leave the caller's RNG as it was. They return the mean loss per epoch and call
`progress(epoch, epochs, loss)` after each epoch.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor

from ml.layers import PADDING_INDEX
from ml.ranking.din import DIN, feature_frequencies
from ml.ranking.eta import ETA

Progress = Callable[[int, int, float], None]
RankingModel = DIN | ETA


@dataclass(frozen=True)
class RaggedHistory:
    """Per-sample windows into flat event sequences: sample i's history is values[starts[i]:ends[i]]
    (oldest first). values: (T, F) int64 item features; starts, ends: (N,) int64."""

    values: Tensor
    starts: Tensor
    ends: Tensor

    def __len__(self) -> int:
        return int(self.starts.shape[0])

    @property
    def lengths(self) -> Tensor:
        return self.ends - self.starts

    def batch(self, rows: Tensor, max_length: int | None = None) -> Tensor:
        """(B,) sample rows → (B, L, F) int64, most recent last, post-padded with 0 to the longest of the
        batch (or cut to the latest `max_length`)."""
        starts, ends = self.starts[rows], self.ends[rows]
        if max_length is not None:
            starts = torch.maximum(starts, ends - max_length)
        lengths = ends - starts
        width = max(int(lengths.max()) if lengths.numel() else 0, 1)
        offsets = torch.arange(width)
        real = offsets.unsqueeze(0) < lengths.unsqueeze(1)
        index = (starts.unsqueeze(1) + offsets).clamp_max(max(self.values.shape[0] - 1, 0))
        gathered = self.values[index]
        return gathered.masked_fill(~real.unsqueeze(-1), PADDING_INDEX)


History = Tensor | RaggedHistory


@dataclass(frozen=True)
class RankingSamples:
    """N labelled samples. target: (N, F) int64 item features; history: (N, L, F) short history (0 =
    padding) or a RaggedHistory; labels: (N,) 0/1; user: (N, U) int64 or None; dense: (N, E) or None;
    long_history: ETA's long history (padded tensor or RaggedHistory) or None for DIN."""

    target: Tensor
    history: History
    labels: Tensor
    user: Tensor | None = None
    dense: Tensor | None = None
    long_history: History | None = None
    #: cut a ragged short history to its latest `short_length` events.
    short_length: int | None = None

    def __len__(self) -> int:
        return int(self.labels.shape[0])


def _gather(history: History, rows: Tensor, max_length: int | None = None) -> Tensor:
    if isinstance(history, RaggedHistory):
        return history.batch(rows, max_length)
    return history[rows]


@dataclass(frozen=True)
class RankTrainConfig:
    epochs: int = 5
    batch_size: int = 256
    learning_rate: float = 1e-3
    #: λ of the mini-batch-aware L2; 0 switches it off.
    mba_lambda: float = 0.0
    #: Batches of similar long-history length (a ragged long history only; see `batch_order`). 0 = off.
    length_bucket_batches: int = 0
    seed: int = 0


def ranking_frequencies(samples: RankingSamples, model: RankingModel) -> dict[str, Tensor]:
    """Feature name → (vocab_size,) occurrence counts over the TRAINING samples: targets, real short
    history slots and user fields (the ids MBA regularises). Padding is not counted."""
    config = model.config
    counts: dict[str, Tensor] = {}
    history = samples.history
    if isinstance(history, RaggedHistory):
        # every sample's window, counted as often as the window reads it
        rows = torch.arange(len(history))
        parts = [history.batch(rows[i : i + 4096], samples.short_length) for i in range(0, len(rows), 4096)]
        flat = torch.cat([part.reshape(-1, part.shape[-1]) for part in parts])
    else:
        flat = history.reshape(-1, history.shape[-1])
    real = flat[flat[:, 0] != PADDING_INDEX]
    for i, feature in enumerate(config.item_features):
        ids = torch.cat([samples.target[:, i], real[:, i]])
        counts[feature.name] = feature_frequencies(ids, feature.vocab_size)
    if samples.user is not None:
        for i, feature in enumerate(config.user_features):
            counts[feature.name] = feature_frequencies(samples.user[:, i], feature.vocab_size)
    return counts


def _forward(model: RankingModel, samples: RankingSamples, rows: Tensor) -> tuple[Tensor, Tensor, Tensor]:
    """logits (B,) of the rows, with the target and the short history they read (for MBA)."""
    target = samples.target[rows]
    short = _gather(samples.history, rows, samples.short_length)
    user = None if samples.user is None else samples.user[rows]
    dense = None if samples.dense is None else samples.dense[rows]
    if isinstance(model, ETA):
        if samples.long_history is None:
            raise ValueError("ETA needs samples.long_history")
        long = _gather(samples.long_history, rows)
        return model(target, short, long, user=user, dense=dense), target, short
    return model(target, short, user=user, dense=dense), target, short


def batch_order(samples: RankingSamples, config: RankTrainConfig, generator: torch.Generator) -> list[Tensor]:
    """One epoch's batches of sample rows, in a fresh random order.

    A ragged long history is padded to the longest row of each batch, so one long-lived person in a
    batch makes every row of it pay for their history. With `length_bucket_batches` = b > 0, the shuffled
    rows are cut into windows of b batches, each window is sorted by long-history length before it is
    cut into batches, and the batches are then shuffled: every batch is still a random draw from its
    window and the order of batches is random, but a batch holds rows of similar length (a common trick
    for padded sequences; with histories of mean 130 and maximum 1,000+ it makes ETA's epoch several
    times cheaper).
    """
    order = torch.randperm(len(samples), generator=generator)
    history = samples.long_history
    if config.length_bucket_batches <= 0 or not isinstance(history, RaggedHistory):
        return list(order.split(config.batch_size))
    window = config.length_bucket_batches * config.batch_size
    lengths = history.lengths
    batches: list[Tensor] = []
    for chunk in order.split(window):
        chunk = chunk[torch.argsort(lengths[chunk], stable=True)]
        batches += list(chunk.split(config.batch_size))
    shuffle = torch.randperm(len(batches), generator=generator)
    return [batches[i] for i in shuffle.tolist()]


def train_ranker(
    model: RankingModel,
    samples: RankingSamples,
    config: RankTrainConfig,
    *,
    frequencies: dict[str, Tensor] | None = None,
    epoch_samples: Callable[[int], RankingSamples] | None = None,
    progress: Progress | None = None,
) -> list[float]:
    """Train DIN or ETA in place on `samples`; returns the mean (BCE + λ·MBA) loss of each epoch.

    `frequencies` defaults to `ranking_frequencies(samples, model)`: pass the training samples only.
    `epoch_samples(epoch)`, when given, supplies each epoch's samples instead of `samples` (e.g. the same
    positives with freshly drawn negatives), so negatives are not fixed once for the whole training."""
    if config.mba_lambda > 0 and frequencies is None:
        frequencies = ranking_frequencies(samples, model)
    losses: list[float] = []
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(config.seed)
        generator = torch.Generator().manual_seed(config.seed)
        optimiser = torch.optim.Adam(model.parameters(), lr=config.learning_rate)
        model.train()
        for epoch in range(config.epochs):
            current = samples if epoch_samples is None else epoch_samples(epoch)
            labels = current.labels.to(torch.float32)
            total, count = 0.0, 0
            for rows in batch_order(current, config, generator):
                if rows.numel() < 2:  # Dice has no batch variance for one row; it waits for next epoch
                    continue
                logits, target, short = _forward(model, current, rows)
                loss = F.binary_cross_entropy_with_logits(logits, labels[rows])
                if config.mba_lambda > 0:
                    user = None if current.user is None else current.user[rows]
                    penalty = model.mba_regularization(frequencies, target, short, None, user)
                    loss = loss + config.mba_lambda * penalty
                optimiser.zero_grad()
                loss.backward()
                optimiser.step()
                total += loss.item() * rows.numel()
                count += rows.numel()
            losses.append(total / max(count, 1))
            if progress is not None:
                progress(epoch + 1, config.epochs, losses[-1])
    model.eval()
    return losses


@torch.no_grad()
def predict_ranker(model: RankingModel, samples: RankingSamples, *, batch_size: int = 2048) -> np.ndarray:
    """(N,) float64 click / acceptance probabilities, in eval mode (Dice on its running statistics)."""
    model.eval()
    scores = []
    for rows in torch.arange(len(samples)).split(batch_size):
        logits, _, _ = _forward(model, samples, rows)
        scores.append(torch.sigmoid(logits).to(torch.float64))
    return torch.cat(scores).numpy()
