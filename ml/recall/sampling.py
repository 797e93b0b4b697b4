"""Negatives for two-tower training: training-period items, never one of the person's own positives.

q(j) ∝ count_j^power over the items seen in the TRAINING period (count > 0): power 0 is uniform over those
items ("random"), power 0.75 the smoothed popularity of word2vec ("popularity"). Items never seen in
training, and the padding id 0, are never drawn, so nothing from the test period leaks into training.

A draw that hits one of the person's training positives (or the row's own positive) is redrawn from the
same q until none does, so a negative is drawn from q restricted to the items the person never interacted
with. The caller draws a fresh set every epoch (`ml.recall.train` does), so the model never memorises one
fixed set of negatives.
"""

from __future__ import annotations

import torch
from torch import Tensor

from ml.layers import PADDING_INDEX

MAX_RESAMPLE_ROUNDS = 1000


class NegativeSampler:
    """item_counts: (V,) training-period counts by item id; user_positives: (P, 2) int64 rows
    (person key, item id) of every training positive — the items each person must never get as a negative.
    """

    def __init__(self, item_counts: Tensor, user_positives: Tensor, *, power: float = 0.0) -> None:
        counts = torch.as_tensor(item_counts).to(torch.float64).flatten().clone()
        counts[PADDING_INDEX] = 0.0
        self.vocabulary_size = counts.numel()
        self.pool = torch.nonzero(counts > 0, as_tuple=True)[0]
        if self.pool.numel() < 2:
            raise ValueError("need at least two items seen in training to draw negatives")
        weights = counts[self.pool].pow(power)
        self.pool_probs = weights / weights.sum()
        #: (V,) probability of each item id under q (0 outside the pool).
        self.item_probs = torch.zeros(self.vocabulary_size, dtype=torch.float64)
        self.item_probs[self.pool] = self.pool_probs
        pairs = torch.as_tensor(user_positives, dtype=torch.int64).reshape(-1, 2)
        self._positive_keys = torch.unique(self._keys(pairs[:, 0], pairs[:, 1]))  # sorted

    def _keys(self, users: Tensor, items: Tensor) -> Tensor:
        return users.to(torch.int64) * self.vocabulary_size + items.to(torch.int64)

    def _is_positive(self, users: Tensor, items: Tensor) -> Tensor:
        keys = self._keys(users, items)
        if self._positive_keys.numel() == 0:
            return torch.zeros_like(keys, dtype=torch.bool)
        where = torch.searchsorted(self._positive_keys, keys).clamp_max(self._positive_keys.numel() - 1)
        return self._positive_keys[where] == keys

    def sample(
        self,
        users: Tensor,
        num_negatives: int,
        *,
        generator: torch.Generator,
        positives: Tensor | None = None,
    ) -> Tensor:
        """users: (B,) person keys (and optionally positives (B,) ids that must be avoided too) →
        (B, num_negatives) int64 item ids, deterministic given the generator's state."""
        users = users.reshape(-1).to(torch.int64)
        batch = users.shape[0]
        if batch == 0 or num_negatives == 0:
            return torch.zeros(batch, num_negatives, dtype=torch.int64)
        probs = self.pool_probs.to(torch.float32)
        draws = torch.multinomial(probs, batch * num_negatives, replacement=True, generator=generator)
        items = self.pool[draws].reshape(batch, num_negatives)
        rows = users.unsqueeze(1).expand_as(items)
        for _ in range(MAX_RESAMPLE_ROUNDS):
            bad = self._is_positive(rows, items)
            if positives is not None:
                bad |= items == positives.reshape(-1, 1)
            count = int(bad.sum())
            if count == 0:
                return items
            redraw = torch.multinomial(probs, count, replacement=True, generator=generator)
            items = items.masked_scatter(bad, self.pool[redraw])
        raise RuntimeError("could not draw negatives outside a person's positives: is the pool too small?")

    def log_expected_count(self, ids: Tensor, num_negatives: int) -> Tensor:
        """(…) item ids → (…) float32 log(num_negatives · q(id)), the logQ correction of a sampled softmax.
        An id outside the pool (a positive first seen after training) reads the smallest pooled q, since
        log 0 would make its corrected logit infinite."""
        probs = self.item_probs[ids].clamp_min(float(self.pool_probs.min()))
        return torch.log(num_negatives * probs).to(torch.float32)
