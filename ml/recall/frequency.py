"""Streaming item-frequency estimation (Yi et al., RecSys 2019, "Sampling-Bias-Corrected Neural Modeling
for Large Corpus Item Recommendations", Algorithm 2).

An in-batch softmax uses the other rows' positives as negatives, so an item is a negative about as often
as it occurs in batches: popular items are over-punished unless each logit is corrected by log p_j, the
probability that item j is in a batch. p_j is not known in advance in a stream, so the paper estimates it
from the gaps between the steps at which j is seen:

    A[h(j)]  the last step at which j was seen
    B[h(j)]  an exponential moving average of the gap between two sightings:
             B ← (1 − α)·B + α·(t − A),   then A ← t
    p̂_j = 1 / B[h(j)]

both arrays of `buckets` slots indexed by a hash h (here j mod buckets: ids are dense vocabulary indices,
so with buckets ≥ the vocabulary no two items share a slot; with fewer slots, colliding items pool their
sightings and are over-estimated together, as in the paper).

Each step counts an item at most once (the estimate is the probability of being IN a batch, the quantity
the in-batch softmax needs), and steps count from 1. The paper leaves the first value of B open: here the
first sighting at step t sets B = t, the gap since the stream began (step 0), instead of averaging it with
an arbitrary prior; from then on the moving average applies.
"""

from __future__ import annotations

import torch
from torch import Tensor


class StreamingFrequencyEstimator:
    """update(ids, step) records a batch; probability(ids) reads p̂ = 1/B (1 for a slot never seen)."""

    def __init__(self, buckets: int, *, alpha: float = 0.01) -> None:
        if buckets < 1:
            raise ValueError("buckets must be positive")
        if not 0 < alpha <= 1:
            raise ValueError("alpha must be in (0, 1]")
        self.buckets = buckets
        self.alpha = alpha
        self.last_step = torch.zeros(buckets, dtype=torch.int64)  # A
        self.gap = torch.zeros(buckets, dtype=torch.float64)  # B; 0 = never seen
        self.step = 0

    def slots(self, ids: Tensor) -> Tensor:
        return torch.remainder(ids.reshape(-1).to(torch.int64), self.buckets)

    def update(self, ids: Tensor, step: int | None = None) -> None:
        """Record that the items `ids` (any shape; repeats count once) were in the batch of `step`
        (default: the previous step + 1). Steps must not go backwards."""
        step = self.step + 1 if step is None else int(step)
        if step < self.step or step < 1:
            raise ValueError(f"step {step} comes before the last recorded step {self.step} (or is < 1)")
        slots = torch.unique(self.slots(ids))
        elapsed = (step - self.last_step[slots]).to(torch.float64)
        previous = self.gap[slots]
        self.gap[slots] = torch.where(
            previous > 0, (1.0 - self.alpha) * previous + self.alpha * elapsed, elapsed
        )
        self.last_step[slots] = step
        self.step = step

    def probability(self, ids: Tensor) -> Tensor:
        """(…) ids → (…) float32 p̂ in (0, 1]; a never-seen slot reads 1 (no correction to apply yet)."""
        gap = self.gap[self.slots(ids)].reshape(ids.shape)
        return (1.0 / gap.clamp_min(1.0)).to(torch.float32)

    def log_probability(self, ids: Tensor) -> Tensor:
        return torch.log(self.probability(ids))
