"""RALM stage 1: a person's fields → one universal user embedding, learned by next-place prediction.

    fields ─ per-field encoder ─ H (F, d) ─ attention merge ─ (d,) ─ MLP ─ user embedding (e,)
                                                                        └─ next-place head (sampled softmax)

Each of the F fields (the six feature groups, plus any categorical or multi-valued ones) becomes a d-dim
vector h_i. The attention merge weighs them per person: u_i = tanh(W1 h_i), a = softmax_i(W2 u_i),
merged = Σ a_i h_i. The softmax runs over the F fields (not over a length-1 sequence, which would always
give 1), so a person's informative fields can outweigh the rest instead of being concatenated at equal
footing.

Training follows YouTube-DNN: the embedding scores places by a dot product with a place embedding plus a
bias, and a sampled softmax over 1 positive (the next place) and `num_negatives` places drawn by
training-period frequency rank (`ml.sampling`) replaces the softmax over every place.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ml.layers import MLP, PADDING_INDEX, masked_mean, masked_softmax, padding_mask
from ml.ralm.config import FieldSpec, UserTowerConfig


class FieldEncoder(nn.Module):
    """One field → (B, field_dim).

    dense: (B, dim) float → Linear. categorical: (B,) int64, 0 = missing → Embedding(padding_idx=0), so a
    missing value maps to the zero vector. multi: (B, L) int64, 0 = padding → Embedding(padding_idx=0)
    mean-pooled over the real ids (all padding → zeros).
    """

    def __init__(self, spec: FieldSpec, field_dim: int) -> None:
        super().__init__()
        self.spec = spec
        if spec.kind == "dense":
            assert spec.dim is not None
            self.linear = nn.Linear(spec.dim, field_dim)
            return
        assert spec.vocab_size is not None
        width = spec.embedding_dim or field_dim
        self.embedding = nn.Embedding(spec.vocab_size, width, padding_idx=PADDING_INDEX)
        self.project = nn.Linear(width, field_dim) if width != field_dim else nn.Identity()

    def forward(self, values: Tensor) -> Tensor:
        if self.spec.kind == "dense":
            return self.linear(values.to(self.linear.weight.dtype))
        if self.spec.kind == "categorical":
            return self.project(self.embedding(values))
        return self.project(masked_mean(self.embedding(values), padding_mask(values)))


class AttentionMerge(nn.Module):
    """Weighs fields per person: u = tanh(W1·H), a = softmax over fields of W2·u, merged = Σ a_i·h_i.

    forward(fields: (B, F, d)) → (merged (B, d), weights (B, F)); weights sum to 1 over the F fields.
    """

    def __init__(self, field_dim: int, attention_dim: int) -> None:
        super().__init__()
        self.w1 = nn.Linear(field_dim, attention_dim)
        self.w2 = nn.Linear(attention_dim, 1, bias=False)

    def forward(self, fields: Tensor) -> tuple[Tensor, Tensor]:
        weights = masked_softmax(self.w2(torch.tanh(self.w1(fields))).squeeze(-1), None)
        return torch.einsum("bf,bfd->bd", weights, fields), weights


@dataclass(frozen=True)
class UserTowerOutput:
    """embeddings: (B, embedding_dim); field_weights: (B, F) the attention merge weights."""

    embeddings: Tensor
    field_weights: Tensor


class UserTower(nn.Module):
    """forward(inputs: {field name: tensor of that field's shape, batch B}) → UserTowerOutput.

    The MLP's last layer is a bare Linear whose output is the universal user embedding.
    """

    def __init__(self, config: UserTowerConfig) -> None:
        super().__init__()
        self.config = config
        self.encoders = nn.ModuleDict(
            {spec.name: FieldEncoder(spec, config.field_dim) for spec in config.fields}
        )
        self.merge = AttentionMerge(config.field_dim, config.attention_dim)
        self.mlp = MLP(
            config.field_dim,
            [*config.hidden_dims, config.embedding_dim],
            batch_norm=config.batch_norm,
            dropout=config.dropout,
            activate_last=False,
        )

    def forward(self, inputs: dict[str, Tensor]) -> UserTowerOutput:
        missing = [spec.name for spec in self.config.fields if spec.name not in inputs]
        if missing:
            raise KeyError(f"the user tower needs the fields {missing}")
        fields = torch.stack([self.encoders[spec.name](inputs[spec.name]) for spec in self.config.fields], 1)
        merged, weights = self.merge(fields)
        return UserTowerOutput(self.mlp(merged), weights)


class NextPlaceHead(nn.Module):
    """Scores candidate places for a user: logit = ⟨user, place⟩ + bias(place).

    forward(users: (B, e), place_ids: (B, C) int64) → (B, C). Place id 0 is padding: a zero vector and a
    zero bias that never train, and the sampler never draws it.
    """

    def __init__(self, n_places: int, embedding_dim: int) -> None:
        super().__init__()
        self.places = nn.Embedding(n_places, embedding_dim, padding_idx=PADDING_INDEX)
        self.bias = nn.Embedding(n_places, 1, padding_idx=PADDING_INDEX)
        nn.init.normal_(self.places.weight, std=embedding_dim**-0.5)
        nn.init.zeros_(self.bias.weight)

    def forward(self, users: Tensor, place_ids: Tensor) -> Tensor:
        return torch.einsum("be,bce->bc", users, self.places(place_ids)) + self.bias(place_ids).squeeze(-1)


def sampled_softmax_loss(logits: Tensor, log_expected: Tensor | None = None) -> Tensor:
    """Cross-entropy with the true class in column 0: logits (B, 1 + n) → scalar mean loss.

    log_expected: (B, 1 + n) log(expected count) of every column under the sampler; subtracting it (the
    logQ correction) makes the sampled softmax an unbiased-in-the-limit estimate of the full softmax.
    """
    if log_expected is not None:
        logits = logits - log_expected
    return F.cross_entropy(logits, torch.zeros(logits.shape[0], dtype=torch.int64, device=logits.device))


class UserRepresentationModel(nn.Module):
    """The stage-1 model: the user tower and its next-place head.

    forward(inputs) → UserTowerOutput (embeddings (B, e) are what stage 2 and serving use).
    """

    def __init__(self, config: UserTowerConfig) -> None:
        super().__init__()
        self.config = config
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(config.seed)
            self.tower = UserTower(config)
            self.head = NextPlaceHead(config.n_places, config.embedding_dim)

    def forward(self, inputs: dict[str, Tensor]) -> UserTowerOutput:
        return self.tower(inputs)

    def next_place_loss(
        self,
        inputs: dict[str, Tensor],
        positives: Tensor,
        negatives: Tensor,
        log_expected: Tensor | None = None,
    ) -> Tensor:
        """positives (B,), negatives (B, n) place ids, log_expected (B, 1 + n) or None → scalar loss."""
        users = self.tower(inputs).embeddings
        candidates = torch.cat([positives.unsqueeze(1), negatives], dim=1)
        return sampled_softmax_loss(self.head(users, candidates), log_expected)
