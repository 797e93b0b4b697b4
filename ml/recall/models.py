"""Two-tower recall models of the DSSM family: one user vector, one item vector, score = similarity / τ.

    user (B, U) ─embed─┐
    history (B, L) ─embed (the item-id table)─► masked mean ─┴─► user tower MLP ─► u (B, d)
    items (N, F) ─embed─► item tower MLP ─► v (N, d)            (YoutubeDNN: v = the item-id embedding row)
    logits = sim(u, v) / τ,   sim = cosine (u, v L2-normalised) or dot

Architectures (`TwoTowerConfig.architecture`); what differs is the item side and the training recipe
(`ml.recall.train.default_recipe`):
- "dssm" (Huang et al., CIKM 2013): an MLP tower on each side;
- "youtube_dnn" (Covington et al., RecSys 2016): a user tower against an item embedding table (the item
  vector IS the id's embedding, the output layer of the paper's softmax), so user_dims[-1] must equal
  embedding_dim; list-wise sampled softmax;
- "youtube_sbc" (Yi et al., RecSys 2019): DSSM towers trained with an in-batch softmax whose logits are
  corrected by the streaming estimate of each item's in-batch probability (logQ);
- "facebook_dssm" (Huang et al., KDD 2020, EBR): DSSM towers trained pair-wise with a hinge on the cosine.

The temperature really divides the similarity in `logits` (unlike torch-rechub's DSSM, which comments the
division out); ranking by logits or by similarity is the same, so the FAISS export stores the (normalised)
vectors and searches by inner product. The user's history reads the item-id table of the item side
(shared, as in the reference implementations), masked on padding id 0, so padding never moves a vector.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any, Literal

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ml.layers import MLP, masked_mean, padding_mask
from ml.ranking.din import SparseFeature, initialise_embeddings

Architecture = Literal["dssm", "youtube_dnn", "youtube_sbc", "facebook_dssm"]
ARCHITECTURES: tuple[str, ...] = ("dssm", "youtube_dnn", "youtube_sbc", "facebook_dssm")
Similarity = Literal["cosine", "dot"]


@dataclass(frozen=True)
class TwoTowerConfig:
    """item_features[0] is the item id (0 = padding); user_features are categorical (0 = missing).

    user_dims / item_dims are the tower widths, the last one being the vector's dimension d (the item
    tower's is unused by "youtube_dnn", whose item vector is the embedding_dim-wide id embedding).
    """

    architecture: Architecture
    user_features: tuple[SparseFeature, ...]
    item_features: tuple[SparseFeature, ...]
    embedding_dim: int = 16
    user_dims: tuple[int, ...] = (64, 32)
    item_dims: tuple[int, ...] = (64, 32)
    similarity: Similarity = "cosine"
    temperature: float = 0.05
    use_history: bool = True
    batch_norm: bool = True
    dropout: float = 0.0
    #: standard deviation of the normal initialisation of every embedding; None = PyTorch's N(0, 1).
    embedding_std: float | None = None
    seed: int = 0

    def __post_init__(self) -> None:
        if self.architecture not in ARCHITECTURES:
            raise ValueError(f"architecture must be one of {ARCHITECTURES}, not {self.architecture!r}")
        if self.similarity not in ("cosine", "dot"):
            raise ValueError(f"similarity must be 'cosine' or 'dot', not {self.similarity!r}")
        if not self.temperature > 0:
            raise ValueError("temperature must be positive")
        names = [feature.name for feature in (*self.user_features, *self.item_features)]
        if not self.item_features or len(set(names)) != len(names):
            raise ValueError(f"need at least one item feature and distinct feature names, got {names}")
        if not self.user_features and not self.use_history:
            raise ValueError("the user tower needs user features or the history")
        if not self.user_dims or not self.item_dims:
            raise ValueError("each tower needs at least one layer")
        if self.item_side == "tower" and self.item_dims[-1] != self.user_dims[-1]:
            raise ValueError(f"the towers must end at the same width: {self.user_dims} vs {self.item_dims}")
        if self.architecture == "youtube_dnn" and self.user_dims[-1] != self.embedding_dim:
            raise ValueError(
                f"youtube_dnn scores the user vector against the item-id embeddings: user_dims[-1] "
                f"({self.user_dims[-1]}) must equal embedding_dim ({self.embedding_dim})"
            )

    @property
    def item_side(self) -> Literal["tower", "table"]:
        return "table" if self.architecture == "youtube_dnn" else "tower"

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> TwoTowerConfig:
        data = dict(data)
        for key in ("user_features", "item_features"):
            data[key] = tuple(SparseFeature(**feature) for feature in data.get(key, ()))
        for key in ("user_dims", "item_dims"):
            if key in data:
                data[key] = tuple(data[key])
        return cls(**data)


class TwoTowerModel(nn.Module):
    """forward(user: (B, U) int64, history: (B, L) int64 item ids, items: (B, K, F) int64) → logits (B, K).

    `user_vectors` (B, d) and `item_vectors` (…, d) are the two towers (unit length under cosine);
    `similarity` is their raw cosine / dot product and `logits` = similarity / temperature.
    """

    def __init__(self, config: TwoTowerConfig) -> None:
        super().__init__()
        self.config = config
        dim = config.embedding_dim
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(config.seed)
            self.user_tables = nn.ModuleDict(
                {f.name: nn.Embedding(f.vocab_size, dim) for f in config.user_features}
            )
            self.item_tables = nn.ModuleDict(
                {f.name: nn.Embedding(f.vocab_size, dim) for f in config.item_features}
            )
            user_in = len(config.user_features) * dim + (dim if config.use_history else 0)
            self.user_tower = MLP(
                user_in,
                config.user_dims,
                batch_norm=config.batch_norm,
                dropout=config.dropout,
                activate_last=False,
            )
            self.item_tower = (
                MLP(
                    len(config.item_features) * dim,
                    config.item_dims,
                    batch_norm=config.batch_norm,
                    dropout=config.dropout,
                    activate_last=False,
                )
                if config.item_side == "tower"
                else None
            )
            # after the towers, so a model with another init std starts from the same tower weights
            initialise_embeddings(self.user_tables, config.embedding_std)
            initialise_embeddings(self.item_tables, config.embedding_std)

    @property
    def id_table(self) -> nn.Embedding:
        return self.item_tables[self.config.item_features[0].name]

    @property
    def vector_dim(self) -> int:
        return self.config.user_dims[-1]

    def _normalise(self, vectors: Tensor) -> Tensor:
        return F.normalize(vectors, dim=-1) if self.config.similarity == "cosine" else vectors

    def user_vectors(self, user: Tensor | None, history: Tensor | None) -> Tensor:
        """user: (B, U) int64, history: (B, L) int64 item ids (0 = padding) → (B, d)."""
        parts = [self.user_tables[f.name](user[:, i]) for i, f in enumerate(self.config.user_features)]
        if self.config.use_history:
            parts.append(masked_mean(self.id_table(history), padding_mask(history)))
        return self._normalise(self.user_tower(torch.cat(parts, dim=-1)))

    def item_vectors(self, items: Tensor) -> Tensor:
        """items: (…, F) int64 item features → (…, d). The whole (…) goes through the tower at once, so
        positives and negatives share one set of BatchNorm statistics."""
        if self.item_tower is None:
            return self._normalise(self.id_table(items[..., 0]))
        embedded = torch.cat(
            [self.item_tables[f.name](items[..., i]) for i, f in enumerate(self.config.item_features)],
            dim=-1,
        )
        return self._normalise(self.item_tower(embedded))

    def similarity(self, users: Tensor, items: Tensor) -> Tensor:
        """users (B, d), items (B, K, d) → (B, K) cosine or dot product (before the temperature)."""
        return torch.einsum("bd,bkd->bk", users, items)

    def logits(self, similarity: Tensor) -> Tensor:
        return similarity / self.config.temperature

    def forward(self, user: Tensor | None, history: Tensor | None, items: Tensor) -> Tensor:
        return self.logits(self.similarity(self.user_vectors(user, history), self.item_vectors(items)))
