"""The three training modes of a two-tower model, as losses over a row's positive and its negatives.

Sampled forms take logits (B, 1 + K): column 0 is the row's positive, columns 1… its K negatives.

- point-wise: binary cross-entropy, the positive labelled 1 and every negative 0;
- pair-wise: BPR, −log σ(s⁺ − s⁻), or a hinge max(0, m − sim⁺ + sim⁻) on the raw similarity (the margin
  is in cosine units, as in Facebook's EBR, so it does not depend on the temperature);
- list-wise: softmax cross-entropy over [positive, negatives]. When the negatives were drawn from a
  non-uniform q, subtracting log(K·q_j) from every logit (positive included; Bengio & Senécal 2008, as in
  TensorFlow's sampled softmax) makes the sampled softmax estimate the full one.

The in-batch softmax (`in_batch_logits`) uses the other rows' positives as negatives: the logit of row i
against column j is corrected to s_ij − log p̂_j (Yi et al. 2019: the similarity over the temperature,
then minus log p̂), and a column holding the same item as row i's own positive (an "accidental hit": two
rows of the batch share their item) is masked out for row i, since it is not a negative.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor


def pointwise_bce(logits: Tensor) -> Tensor:
    """logits (B, 1 + K) → mean BCE over all B·(1 + K) entries, labels [1, 0, …, 0]."""
    labels = torch.zeros_like(logits)
    labels[:, 0] = 1.0
    return F.binary_cross_entropy_with_logits(logits, labels)


def pairwise_bpr(logits: Tensor) -> Tensor:
    """logits (B, 1 + K) → mean over the B·K pairs of −log σ(s⁺ − s⁻)."""
    return F.softplus(logits[:, 1:] - logits[:, :1]).mean()


def pairwise_hinge(similarity: Tensor, margin: float) -> Tensor:
    """similarity (B, 1 + K), raw cosine / dot → mean over the B·K pairs of max(0, margin − sim⁺ + sim⁻)."""
    return F.relu(margin - similarity[:, :1] + similarity[:, 1:]).mean()


def sampled_softmax(logits: Tensor, log_expected_count: Tensor | None = None) -> Tensor:
    """logits (B, 1 + K), log_expected_count (B, 1 + K) = log(K·q_j) or None → mean cross-entropy with the
    positive (column 0) as the class."""
    if log_expected_count is not None:
        logits = logits - log_expected_count
    target = torch.zeros(logits.shape[0], dtype=torch.long, device=logits.device)
    return F.cross_entropy(logits, target)


def in_batch_logits(logits: Tensor, item_ids: Tensor, log_probability: Tensor | None = None) -> Tensor:
    """logits (B, B): row i's user against column j's positive item, already over the temperature;
    item_ids (B,) each row's positive; log_probability (B,) log p̂ of each column's item, or None.

    Returns (B, B): logits − log p̂_j (broadcast over rows), with every off-diagonal (i, j) where
    item_ids[j] == item_ids[i] set to the dtype's most negative finite value (it then gets no probability
    and no gradient, and a row stays finite)."""
    corrected = logits if log_probability is None else logits - log_probability.unsqueeze(0)
    same_item = item_ids.unsqueeze(0) == item_ids.unsqueeze(1)
    accidental = same_item & ~torch.eye(item_ids.shape[0], dtype=torch.bool, device=logits.device)
    return corrected.masked_fill(accidental, torch.finfo(corrected.dtype).min)


def in_batch_softmax(logits: Tensor, item_ids: Tensor, log_probability: Tensor | None = None) -> Tensor:
    """Mean cross-entropy of `in_batch_logits`, row i's class being column i."""
    corrected = in_batch_logits(logits, item_ids, log_probability)
    target = torch.arange(corrected.shape[0], device=corrected.device)
    return F.cross_entropy(corrected, target)
