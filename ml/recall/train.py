"""Training a two-tower model in one of the three modes, with fresh negatives every epoch.

`RecallTrainConfig` says how: the mode (point / pair / list), where negatives come from (random or
popularity^0.75 draws of training items via `NegativeSampler`, or the other rows of the batch), how many,
and the pair-wise loss. `default_recipe` gives each architecture the recipe of its paper.

Sampled negatives are drawn for every training row at the start of every epoch (the same row gets a new
set each epoch), from the training items outside the person's positives. A caller that must feed several
models identical negatives (the peer benchmark) passes `negatives_for_epoch` instead of a sampler.

In-batch negatives: each step records the batch's positives in a `StreamingFrequencyEstimator` and, with
`logq_correction`, subtracts log p̂ from every column's logit; rows sharing an item mask each other.

The loop runs inside `torch.random.fork_rng` seeded with the config's seed (shuffling and sampling use
their own seeded generator), so a run repeats exactly and leaves the caller's RNG as it was.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict, dataclass
from typing import Any, Literal

import torch
from torch import Tensor

from ml.recall.frequency import StreamingFrequencyEstimator
from ml.recall.losses import (
    in_batch_softmax,
    pairwise_bpr,
    pairwise_hinge,
    pointwise_bce,
    sampled_softmax,
)
from ml.recall.models import TwoTowerModel
from ml.recall.sampling import NegativeSampler

Mode = Literal["point", "pair", "list"]
Negatives = Literal["random", "popularity", "in_batch"]
PairLoss = Literal["bpr", "hinge"]
Progress = Callable[[int, int, float], None]

#: q ∝ count^power for each kind of sampled negative.
SAMPLER_POWER = {"random": 0.0, "popularity": 0.75}


@dataclass(frozen=True)
class RecallTrainConfig:
    mode: Mode = "list"
    negatives: Negatives = "random"
    num_negatives: int = 4
    pair_loss: PairLoss = "bpr"
    hinge_margin: float = 0.2
    #: list-wise only: subtract log(K·q) from sampled logits, log p̂ from in-batch ones.
    logq_correction: bool = True
    frequency_alpha: float = 0.01
    epochs: int = 10
    batch_size: int = 256
    learning_rate: float = 1e-3
    weight_decay: float = 0.0
    seed: int = 0

    def __post_init__(self) -> None:
        if self.mode not in ("point", "pair", "list"):
            raise ValueError(f"mode must be point, pair or list, not {self.mode!r}")
        if self.negatives not in ("random", "popularity", "in_batch"):
            raise ValueError(f"negatives must be random, popularity or in_batch, not {self.negatives!r}")
        if self.negatives == "in_batch" and self.mode != "list":
            raise ValueError("in-batch negatives are a list-wise (softmax) recipe: use mode='list'")
        if self.pair_loss not in ("bpr", "hinge"):
            raise ValueError(f"pair_loss must be bpr or hinge, not {self.pair_loss!r}")
        if self.negatives != "in_batch" and self.num_negatives < 1:
            raise ValueError("sampled negatives need num_negatives ≥ 1")

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def default_recipe(architecture: str, **overrides: Any) -> RecallTrainConfig:
    """The training recipe each architecture's paper uses (overridable field by field)."""
    recipes = {
        # DSSM: softmax over the clicked document and 4 random unclicked ones.
        "dssm": {"mode": "list", "negatives": "random", "num_negatives": 4},
        # YouTube DNN: sampled softmax over popularity-drawn negatives, corrected by logQ.
        "youtube_dnn": {"mode": "list", "negatives": "popularity", "num_negatives": 20},
        # Sampling-bias-corrected: in-batch softmax with streaming logQ.
        "youtube_sbc": {"mode": "list", "negatives": "in_batch"},
        # Facebook EBR: pair-wise hinge on the cosine.
        "facebook_dssm": {"mode": "pair", "negatives": "random", "num_negatives": 4, "pair_loss": "hinge"},
    }
    if architecture not in recipes:
        raise ValueError(f"unknown architecture {architecture!r}")
    return RecallTrainConfig(**{**recipes[architecture], **overrides})


@dataclass(frozen=True)
class RecallSamples:
    """N training positives. person: (N,) int64 key of the person (their positives are never negatives);
    user: (N, U) int64 user features or None; history: (N, L) int64 item ids before the positive (0 =
    padding) or None; items: (N,) int64 the positive item; item_features: (V, F) int64 the features of
    every item id (row 0 = padding), for positives and negatives alike."""

    person: Tensor
    user: Tensor | None
    history: Tensor | None
    items: Tensor
    item_features: Tensor

    def __len__(self) -> int:
        return int(self.items.shape[0])


def _rows(values: Tensor | None, batch: Tensor) -> Tensor | None:
    return None if values is None else values[batch]


def train_two_tower(
    model: TwoTowerModel,
    samples: RecallSamples,
    config: RecallTrainConfig,
    *,
    sampler: NegativeSampler | None = None,
    negatives_for_epoch: Callable[[int], Tensor] | None = None,
    progress: Progress | None = None,
) -> list[float]:
    """Train `model` in place; returns the mean loss of every epoch.

    Sampled negatives come from `negatives_for_epoch(epoch)` ((N, K) item ids) when given, else from
    `sampler` (built by the caller from the training period only). logQ of sampled negatives needs the
    sampler (its q); with uniform q it is a constant and changes nothing.
    """
    in_batch = config.negatives == "in_batch"
    if not in_batch and sampler is None and negatives_for_epoch is None:
        raise ValueError("sampled negatives need a NegativeSampler or negatives_for_epoch")
    n = len(samples)
    estimator = StreamingFrequencyEstimator(samples.item_features.shape[0], alpha=config.frequency_alpha)
    use_sampled_logq = (
        config.mode == "list" and not in_batch and config.logq_correction and sampler is not None
    )
    losses: list[float] = []
    step = 0
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(config.seed)
        generator = torch.Generator().manual_seed(config.seed)
        optimiser = torch.optim.Adam(
            model.parameters(), lr=config.learning_rate, weight_decay=config.weight_decay
        )
        model.train()
        for epoch in range(config.epochs):
            negatives = None
            if not in_batch:
                if negatives_for_epoch is not None:
                    negatives = negatives_for_epoch(epoch)
                else:
                    negatives = sampler.sample(
                        samples.person, config.num_negatives, generator=generator, positives=samples.items
                    )
            order = torch.randperm(n, generator=generator)
            total, count = 0.0, 0
            for batch in order.split(config.batch_size):
                if batch.numel() < 2:  # BatchNorm cannot normalise one row; it waits for the next epoch
                    continue
                step += 1
                users = model.user_vectors(_rows(samples.user, batch), _rows(samples.history, batch))
                positives = samples.items[batch]
                if in_batch:
                    item_vectors = model.item_vectors(samples.item_features[positives])
                    logits = model.logits(users @ item_vectors.T)
                    estimator.update(positives, step)
                    log_p = estimator.log_probability(positives) if config.logq_correction else None
                    loss = in_batch_softmax(logits, positives, log_p)
                else:
                    candidates = torch.cat([positives.unsqueeze(1), negatives[batch]], dim=1)
                    similarity = model.similarity(
                        users, model.item_vectors(samples.item_features[candidates])
                    )
                    if config.mode == "pair" and config.pair_loss == "hinge":
                        loss = pairwise_hinge(similarity, config.hinge_margin)
                    elif config.mode == "pair":
                        loss = pairwise_bpr(model.logits(similarity))
                    elif config.mode == "point":
                        loss = pointwise_bce(model.logits(similarity))
                    else:
                        log_q = (
                            sampler.log_expected_count(candidates, candidates.shape[1] - 1)
                            if use_sampled_logq
                            else None
                        )
                        loss = sampled_softmax(model.logits(similarity), log_q)
                optimiser.zero_grad()
                loss.backward()
                optimiser.step()
                total += loss.item() * batch.numel()
                count += batch.numel()
            losses.append(total / max(count, 1))
            if progress is not None:
                progress(epoch + 1, config.epochs, losses[-1])
    model.eval()
    return losses
