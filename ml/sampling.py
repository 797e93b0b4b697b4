"""Negative sampling by frequency rank, as in word2vec-style sampled softmax (and RALM's stage 1).

Items are ranked by how often they occur in the TRAINING period (rank k = 0 is the most frequent) and a
negative is drawn with the log-uniform (Zipfian) probability

    p(k) = (log(k + 2) − log(k + 1)) / log(D + 1),      k = 0 … D − 1,

where D is the number of items seen in the training period. The sum telescopes to log(D + 1) / log(D + 1) = 1.
Only the rank matters, not the count: two items with counts 1000 and 10 at neighbouring ranks are drawn
almost equally often. Items never seen in the training period (and the padding id 0) are never drawn, so
later check-ins cannot leak into the negatives. Ties in count are ranked by ascending id, so the ranking,
hence the sample, is deterministic.

The positive is excluded by RESAMPLING: every draw that hits its row's positive is redrawn from the same
distribution until none does. The result is exactly p conditioned on "not the positive", i.e.
p(j) / (1 − p(pos)) for j ≠ pos. Negatives of one row are drawn with replacement (they may repeat), as in
TensorFlow's sampled softmax with unique=False; `log_expected_count` gives the matching logQ correction.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor

from ml.layers import PADDING_INDEX

#: Redraw rounds before giving up; p(pos) ≤ log 2 / log 3 ≈ 0.63 once D ≥ 2, so 0.63**200 never happens.
MAX_RESAMPLE_ROUNDS = 200


def rank_probabilities(vocabulary_size: int) -> Tensor:
    """(D,) float64: p(k) = (log(k+2) − log(k+1)) / log(D+1) for ranks k = 0 … D−1."""
    if vocabulary_size < 1:
        raise ValueError("the vocabulary needs at least one item")
    ranks = torch.arange(vocabulary_size, dtype=torch.float64)
    return (torch.log(ranks + 2.0) - torch.log(ranks + 1.0)) / math.log(vocabulary_size + 1.0)


class FrequencyRankSampler:
    """Draws item ids by training-period frequency rank, never the row's positive.

    counts: (V,) training-period occurrence counts indexed by item id (id 0 is padding and is ignored);
    items with count 0 are outside the pool.
    """

    def __init__(self, counts: Tensor) -> None:
        counts = torch.as_tensor(counts).to(torch.float64).flatten().clone()
        if counts.numel() == 0 or bool((counts < 0).any()):
            raise ValueError("counts must be a non-empty vector of non-negative frequencies")
        counts[PADDING_INDEX] = 0.0
        seen = torch.nonzero(counts > 0, as_tuple=True)[0]
        if seen.numel() < 2:
            raise ValueError("need at least two items seen in the training period to sample a negative")
        # Stable sort on −count: equal counts stay in ascending id order.
        order = torch.sort(-counts[seen], stable=True).indices
        #: (D,) item ids by rank: rank_to_item[0] is the most frequent item.
        self.rank_to_item = seen[order]
        self.vocabulary_size = int(seen.numel())
        self.rank_probs = rank_probabilities(self.vocabulary_size)
        #: (V,) the probability of drawing each item id (0 for padding and unseen items).
        self.item_probs = torch.zeros(counts.numel(), dtype=torch.float64)
        self.item_probs[self.rank_to_item] = self.rank_probs

    def sample(self, positives: Tensor, num_negatives: int, *, generator: torch.Generator) -> Tensor:
        """positives: (B,) int64 item ids → (B, num_negatives) int64 negative ids, none equal to its row's
        positive. Deterministic given the generator's state."""
        positives = positives.reshape(-1).to(torch.int64)
        batch = positives.shape[0]
        if batch == 0 or num_negatives == 0:
            return torch.zeros(batch, num_negatives, dtype=torch.int64)
        probs = self.rank_probs.to(torch.float32)
        ranks = torch.multinomial(probs, batch * num_negatives, replacement=True, generator=generator)
        items = self.rank_to_item[ranks].reshape(batch, num_negatives)
        for _ in range(MAX_RESAMPLE_ROUNDS):
            collisions = items == positives.unsqueeze(1)
            count = int(collisions.sum())
            if count == 0:
                return items
            redraw = torch.multinomial(probs, count, replacement=True, generator=generator)
            items = items.masked_scatter(collisions, self.rank_to_item[redraw])
        raise RuntimeError("could not draw negatives distinct from the positive; is the pool degenerate?")

    def log_expected_count(self, ids: Tensor, num_negatives: int) -> Tensor:
        """(…) item ids → (…) log(num_negatives · p(id)): the logQ correction subtracted from sampled logits,
        so that the sampled softmax estimates the full softmax rather than one biased toward popular items.
        Ids outside the pool (a positive first seen after the training period) get the rarest pooled item's
        probability instead of 0: log 0 would turn their corrected logit into +inf."""
        probs = self.item_probs[ids].clamp_min(float(self.rank_probs[-1]))
        return torch.log(num_negatives * probs).to(torch.float32)
