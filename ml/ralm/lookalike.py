"""RALM stage 2: how much a target person looks like a SET of seed people.

    seeds (S, d_in) ─┐                          ┌─ global attention (self-attention pooling) ─ g ─┐
                     ├─ shared transform T ─────┤                                                 ├─ score
    target (d_in) ───┘                          └─ local attention (bilinear, target-aware) ─── l ┘

    score = α · cos(e_u, g) + β · cos(e_u, l)

The seeds stay a set throughout: every operation is a masked, weighted sum over seeds, so the score does
not depend on their order, and padded slots (mask False) contribute nothing.

**Global attention** (depends on the seeds only, so a seed set's global vector is computed once and cached):
self-attentive pooling, logit_s = vᵀ tanh(W_g e_s + b_g) + log w_s, a = softmax_s(logit), g = Σ a_s e_s.
This is the paper's E_s·softmax(tanh(E_sᵀ W_g)) with a hidden attention layer (W_g: attention_dim × d, then
the query v) so that the importance of a seed is a learned non-linear function of the seed itself.

**Local attention** (depends on the target): logit_s = tanh(e_sᵀ W_l e_u) + log w_s,
a = softmax_s(logit), l = Σ a_s e_s. W_l starts as the identity, i.e. as dot-product attention, so seeds
like the target already weigh more before training.

**Seed weights (k-means centroids).** Let m seeds share one embedding e with logit λ. In a softmax over all
seeds they take the mass m·exp(λ) / Z and contribute m·exp(λ)·e / Z to the pooled vector. A single slot
holding e with logit λ + log m takes exp(λ + log m) / Z = m·exp(λ) / Z, the same mass, and Z is unchanged
term by term, so the pooled vector is identical: adding log(weight) to the logits is exact for duplicated
seeds. A k-means centroid of m similar seeds is the first-order version of the same thing (their
exp(λ_i) are replaced by exp(λ(centroid)), exact when the cluster is tight). Zero weights are masked.

In training the seed clusters are recomputed every epoch (`ml.ralm.train`), because the shared transform,
hence the space they are clustered in, keeps changing; within an epoch centroids are recomputed as the means
of their members' current transforms, so gradients reach the transform through the seeds too.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ml.layers import MLP, log_weights, masked_softmax
from ml.ralm.config import LookalikeConfig
from ml.ralm.kmeans import kmeans


@dataclass(frozen=True)
class LookalikeOutput:
    """scores: (B,); global_weights: (B or 1, S); local_weights: (B, S) (zero on padded slots)."""

    scores: Tensor
    global_weights: Tensor
    local_weights: Tensor


@dataclass(frozen=True)
class SeedSummary:
    """A seed set reduced for serving; plain float tensors, so a cache can store them as raw arrays.

    global_vector: (d,); centroids: (k, d), already through the shared transform; weights: (k,) the number
    of seeds each centroid stands for.
    """

    global_vector: Tensor
    centroids: Tensor
    weights: Tensor


#: Same guard as F.cosine_similarity's default: a zero vector has cosine 0 with everything.
_COSINE_EPS = 1e-8


def _seed_mask(weights: Tensor, mask: Tensor | None) -> Tensor:
    keep = weights > 0
    return keep if mask is None else keep & mask


class GlobalAttention(nn.Module):
    """Self-attentive pooling over a weighted, masked seed set.

    forward(seeds: (B, S, d), weights: (B, S), mask: (B, S) bool) → (pooled (B, d), attention (B, S)).
    """

    def __init__(self, dim: int, attention_dim: int) -> None:
        super().__init__()
        self.project = nn.Linear(dim, attention_dim)
        self.query = nn.Linear(attention_dim, 1, bias=False)

    def forward(self, seeds: Tensor, weights: Tensor, mask: Tensor) -> tuple[Tensor, Tensor]:
        logits = self.query(torch.tanh(self.project(seeds))).squeeze(-1) + log_weights(weights)
        attention = masked_softmax(logits, mask)
        return torch.einsum("bs,bsd->bd", attention, seeds), attention


class LocalAttention(nn.Module):
    """Target-aware bilinear attention over a weighted, masked seed set.

    forward(seeds: (B or 1, S, d), weights: (B or 1, S), mask: (B or 1, S), targets: (B, d))
      → (pooled (B, d), attention (B, S)). A seed batch of 1 is shared by all B targets (serving: many
    candidates against one seed set).
    """

    def __init__(self, dim: int) -> None:
        super().__init__()
        self.bilinear = nn.Parameter(torch.eye(dim))

    def forward(self, seeds: Tensor, weights: Tensor, mask: Tensor, targets: Tensor) -> tuple[Tensor, Tensor]:
        batch = targets.shape[0]
        if seeds.shape[0] == 1:
            # One seed set for all targets (serving): e_sᵀ W_l e_u = (W_lᵀ e_s)ᵀ e_u, so the bilinear form
            # is applied to the S seeds (or k centroids) once instead of to each of the B targets.
            shared = seeds[0]
            keys = shared @ self.bilinear  # (S, d): row s is W_lᵀ e_s
            logits = torch.tanh(targets @ keys.T) + log_weights(weights)
            attention = masked_softmax(logits, mask)
            return attention @ shared, attention
        queries = targets @ self.bilinear.T  # (B, d): W_l e_u
        logits = torch.tanh(torch.einsum("bsd,bd->bs", seeds, queries)) + log_weights(weights)
        attention = masked_softmax(logits, mask.expand(batch, -1))
        return torch.einsum("bs,bsd->bd", attention, seeds), attention


class LookalikeModel(nn.Module):
    """RALM's look-alike tower.

    forward(targets: (B, d_in), seeds: (B or 1, S, d_in), seed_mask: (B or 1, S) bool | None,
            seed_weights: (B or 1, S) | None) → LookalikeOutput with scores (B,).

    `seed_summary` + `score_summary` split the same computation into the cacheable seed part and the
    per-target part; `summarise_seeds` adds the k-means step for serving.
    """

    def __init__(self, config: LookalikeConfig) -> None:
        super().__init__()
        self.config = config
        # Seeded initialisation that leaves the global RNG as it was: no hidden global state.
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(config.seed)
            self.transform = MLP(
                config.input_dim,
                [config.hidden_dim],
                batch_norm=config.batch_norm,
                dropout=config.dropout,
                activate_last=True,
            )
            self.global_attention = GlobalAttention(config.hidden_dim, config.attention_dim)
            self.local_attention = LocalAttention(config.hidden_dim)
        mixing = torch.tensor([config.alpha, config.beta])
        if config.learn_alpha_beta:
            self.mixing = nn.Parameter(mixing)
        else:
            self.register_buffer("mixing", mixing)
        self.logit_scale = nn.Parameter(torch.tensor(float(config.logit_scale)))
        self.logit_bias = nn.Parameter(torch.zeros(()))

    @property
    def alpha(self) -> Tensor:
        return self.mixing[0]

    @property
    def beta(self) -> Tensor:
        return self.mixing[1]

    def encode(self, users: Tensor, mask: Tensor | None = None) -> Tensor:
        """(…, d_in) → (…, hidden_dim): the shared transform; masked-out rows come out as zeros and never
        enter BatchNorm statistics."""
        return self.transform(users, mask)

    def seed_summary(
        self, seeds: Tensor, seed_weights: Tensor | None = None, mask: Tensor | None = None
    ) -> tuple[Tensor, Tensor, Tensor]:
        """The target-independent part: seeds (B, S, d_in) → (global_vec (B, h), transformed_seeds (B, S, h),
        weights (B, S)) with weights zeroed on padded slots."""
        weights = torch.ones(seeds.shape[:-1], dtype=seeds.dtype) if seed_weights is None else seed_weights
        keep = _seed_mask(weights, mask)
        weights = torch.where(keep, weights, torch.zeros_like(weights))
        transformed = self.encode(seeds, keep)
        global_vec, _ = self.global_attention(transformed, weights, keep)
        return global_vec, transformed, weights

    def score_summary(
        self,
        targets: Tensor,
        global_vec: Tensor,
        seed_vectors: Tensor,
        seed_weights: Tensor,
        *,
        encoded: bool = False,
    ) -> tuple[Tensor, Tensor]:
        """The per-target part: targets (B, d_in) (or (B, h) when `encoded`), global_vec (B or 1, h),
        seed_vectors (B or 1, S, h) already transformed (seeds or centroids), seed_weights (B or 1, S) with 0
        on padding → (scores (B,), local attention (B, S))."""
        users = targets if encoded else self.encode(targets)
        keep = seed_weights > 0
        local_vec, local_weights = self.local_attention(seed_vectors, seed_weights, keep, users)
        # Cosines as dot products of unit vectors: the target side is normalised once for both terms.
        unit_users = F.normalize(users, dim=-1, eps=_COSINE_EPS)
        unit_global = F.normalize(global_vec, dim=-1, eps=_COSINE_EPS)
        global_cos = (unit_users * unit_global).sum(-1)
        local_cos = (unit_users * F.normalize(local_vec, dim=-1, eps=_COSINE_EPS)).sum(-1)
        return self.alpha * global_cos + self.beta * local_cos, local_weights

    def forward(
        self,
        targets: Tensor,
        seeds: Tensor,
        seed_mask: Tensor | None = None,
        seed_weights: Tensor | None = None,
    ) -> LookalikeOutput:
        weights = torch.ones(seeds.shape[:-1], dtype=seeds.dtype) if seed_weights is None else seed_weights
        keep = _seed_mask(weights, seed_mask)
        weights = torch.where(keep, weights, torch.zeros_like(weights))
        transformed = self.encode(seeds, keep)
        global_vec, global_weights = self.global_attention(transformed, weights, keep)
        scores, local_weights = self.score_summary(targets, global_vec, transformed, weights)
        return LookalikeOutput(scores, global_weights, local_weights)

    def logits(self, scores: Tensor) -> Tensor:
        """(B,) scores → (B,) logits for a sigmoid / BCE loss; monotonic, so ranking can ignore it."""
        return self.logit_scale * scores + self.logit_bias

    @torch.no_grad()
    def summarise_seeds(self, seeds: Tensor, *, k: int | None = None, seed: int | None = None) -> SeedSummary:
        """One seed set (S, d_in) → its SeedSummary: the global vector over ALL seeds (it is computed once
        per seed set, so it needn't be approximated) and k-means centroids of the transformed seeds with
        their sizes, for the O(k) local attention. Eval mode only: in training mode BatchNorm would
        normalise by this seed set's own statistics and dropout would make the cached summary random."""
        if self.training:
            raise RuntimeError("summarise_seeds needs the model in eval mode (call model.eval())")
        global_vec, transformed, _ = self.seed_summary(seeds.unsqueeze(0))
        clusters = kmeans(
            transformed[0],
            self.config.k if k is None else k,
            seed=self.config.seed if seed is None else seed,
            max_iterations=self.config.kmeans_iterations,
        )
        return SeedSummary(global_vec[0], clusters.centroids, clusters.weights)

    def score_with_summary(self, targets: Tensor, summary: SeedSummary) -> LookalikeOutput:
        """targets (B, d_in) against one summarised seed set → LookalikeOutput (global_weights empty)."""
        scores, local_weights = self.score_summary(
            targets,
            summary.global_vector.unsqueeze(0),
            summary.centroids.unsqueeze(0),
            summary.weights.unsqueeze(0),
        )
        return LookalikeOutput(scores, torch.empty(1, 0), local_weights)
