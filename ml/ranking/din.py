"""DIN: Deep Interest Network (Zhou et al., KDD 2018, arXiv 1706.06978).

    target (B, F) ─embed─► t (B, D) ─────────────────────────────────────────┐
    history (B, L, F) ─embed─► h (B, L, D) ─► unit a(h_j, t) ─► Σ_j a_j·h_j ─► concat ─► MLP ─► logit
    user (B, U) ─embed─► (B, U·d), dense (B, E) ───────────────────────────────┘

An item is described by several sparse features (its id first, then e.g. its category); their embeddings
are concatenated per position, so the attention is joint over all of them: D = F·embedding_dim. Target and
history read the same tables, as in the paper.

- **Activation unit.** a(h, t) = MLP([h, t, h − t, h ⊙ t]) → (80, 40) → 1. The weights are NOT normalised by
  a softmax: their sum keeps the intensity of the interest (many relevant items ⇒ a larger pooled vector).
- **Padding.** Index 0 of the id feature is reserved for padding; `history_mask` (default: id ≠ 0) decides
  what is real. Padded positions never go through the activation unit (so they cannot reach Dice's batch
  statistics) and their weight is exactly zero, whatever ids the padded slots hold.
- **Dice** (`Dice`): the data-adaptive activation, with mini-batch statistics in training and running
  averages in eval. PReLU is the alternative (`DINConfig.activation`).
- **Mini-batch-aware regularisation** (`mba_l2`, `DIN.mba_regularization`): L2 only on the embedding rows
  that occur in the batch, each scaled by 1 / (its frequency in the training data).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass
from typing import Any, Literal

import torch
from torch import Tensor, nn

from ml.layers import MLP, PADDING_INDEX, padding_mask

Activation = Literal["dice", "prelu"]


@dataclass(frozen=True)
class SparseFeature:
    """A categorical feature with ids in [0, vocab_size); vocab_size counts the reserved id 0."""

    name: str
    vocab_size: int

    def __post_init__(self) -> None:
        if self.vocab_size < 2:
            raise ValueError(f"feature {self.name!r}: vocab_size counts id 0, so it must be ≥ 2")


@dataclass(frozen=True)
class DINConfig:
    """item_features[0] is the item id (its 0 marks padding); the rest (e.g. category) describe the item.

    user_features are categorical user-side fields (0 = missing), dense_dim the width of a float vector of
    user or context features (0 = none).
    """

    item_features: tuple[SparseFeature, ...]
    user_features: tuple[SparseFeature, ...] = ()
    dense_dim: int = 0
    embedding_dim: int = 8
    attention_dims: tuple[int, ...] = (80, 40)
    output_dims: tuple[int, ...] = (200, 80)
    activation: Activation = "dice"
    dice_epsilon: float = 1e-8
    dice_momentum: float = 0.1
    dropout: float = 0.0
    #: standard deviation of the normal initialisation of every embedding; None = PyTorch's N(0, 1).
    embedding_std: float | None = None
    seed: int = 0

    def __post_init__(self) -> None:
        names = [feature.name for feature in (*self.item_features, *self.user_features)]
        if not self.item_features or len(set(names)) != len(names):
            raise ValueError(f"DIN needs at least one item feature and distinct feature names, got {names}")
        if self.activation not in ("dice", "prelu"):
            raise ValueError(f"activation must be 'dice' or 'prelu', not {self.activation!r}")

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> DINConfig:
        return cls(**config_fields_from_dict(data))


def config_fields_from_dict(data: dict[str, Any]) -> dict[str, Any]:
    """A DIN/ETA config's JSON form (lists, plain dicts) → the keyword arguments its dataclass takes."""
    data = dict(data)
    for key in ("item_features", "user_features"):
        data[key] = tuple(SparseFeature(**feature) for feature in data.get(key, ()))
    for key in ("attention_dims", "output_dims"):
        if key in data:
            data[key] = tuple(data[key])
    return data


class Dice(nn.Module):
    """Dice (DIN §4.3): f(s) = p(s)·s + (1 − p(s))·α·s with p(s) = sigmoid((s − E[s]) / sqrt(Var[s] + ε)).

    forward(x: (…, C), mask: (…) bool | None) → (…, C).

    E[s] and Var[s] are per channel, over the rows of the mini-batch in training (those with mask True
    only: padded positions must not shift the statistics) and the running averages in eval, exactly like
    BatchNorm1d(affine=False): the running variance is updated with the unbiased batch variance and
    `momentum`, and a batch with fewer than two real rows leaves the running statistics untouched (its
    variance is undefined). Eval mode is therefore deterministic per sample, independent of the batch.
    Rows outside the mask are still transformed (with the same statistics) so shapes stay fixed; callers
    discard them.
    """

    def __init__(self, num_features: int, *, epsilon: float = 1e-8, momentum: float = 0.1) -> None:
        super().__init__()
        self.num_features = num_features
        self.epsilon = epsilon
        self.momentum = momentum
        # α starts at 0 as in the reference implementation: Dice then starts as a soft, data-centred ReLU.
        self.alpha = nn.Parameter(torch.zeros(num_features))
        self.register_buffer("running_mean", torch.zeros(num_features))
        self.register_buffer("running_var", torch.ones(num_features))
        self.register_buffer("num_batches_tracked", torch.zeros((), dtype=torch.long))

    def forward(self, x: Tensor, mask: Tensor | None = None) -> Tensor:
        flat = x.reshape(-1, self.num_features)
        if mask is None and (not self.training or flat.shape[0] >= 2):
            # Exactly BatchNorm1d(affine=False)'s arithmetic, so its fused kernel does the work: batch
            # statistics (biased variance) in training, the running averages updated with the unbiased
            # variance and `momentum`; the running averages alone in eval.
            normalised = torch.nn.functional.batch_norm(
                flat,
                self.running_mean,
                self.running_var,
                training=self.training,
                momentum=self.momentum,
                eps=self.epsilon,
            ).reshape(x.shape)
            if self.training:
                self.num_batches_tracked += 1
        else:
            if self.training:
                weights = (
                    flat.new_ones(flat.shape[0], 1) if mask is None else mask.reshape(-1, 1).to(flat.dtype)
                )
                real = int(weights.sum().item())
                mean = (flat * weights).sum(0) / max(real, 1)
                var = (((flat - mean) ** 2) * weights).sum(0) / max(real, 1)
                if real >= 2:
                    with torch.no_grad():
                        self.running_mean.lerp_(mean.detach(), self.momentum)
                        self.running_var.lerp_(var.detach() * real / (real - 1), self.momentum)
                        self.num_batches_tracked += 1
            else:
                mean, var = self.running_mean, self.running_var
            normalised = (x - mean) * torch.rsqrt(var + self.epsilon)
        p = torch.sigmoid(normalised)
        # p·x + (1 − p)·α·x, in fewer passes over x (this runs on every history position)
        return x * (self.alpha + p * (1.0 - self.alpha))

    def extra_repr(self) -> str:
        return f"{self.num_features}, epsilon={self.epsilon}, momentum={self.momentum}"


def activation_factory(
    activation: Activation, *, epsilon: float = 1e-8, momentum: float = 0.1
) -> Callable[[int], nn.Module]:
    """The per-layer activation for `ml.layers.MLP`: Dice (with its ε and momentum) or PReLU."""
    if activation == "prelu":
        return nn.PReLU

    def dice(width: int) -> nn.Module:
        return Dice(width, epsilon=epsilon, momentum=momentum)

    return dice


class ItemEmbedding(nn.Module):
    """One table per item feature, concatenated per position.

    forward(ids: (…, F) int64) → (…, F·embedding_dim).
    """

    def __init__(
        self, features: Sequence[SparseFeature], embedding_dim: int, init_std: float | None = None
    ) -> None:
        super().__init__()
        self.features = tuple(features)
        # No padding_idx: padding is handled by masks, so a padded slot's content never matters (and the
        # tests fill padded slots with random ids to prove it).
        self.tables = nn.ModuleDict({f.name: nn.Embedding(f.vocab_size, embedding_dim) for f in features})
        initialise_embeddings(self.tables, init_std)
        self.out_dim = len(self.features) * embedding_dim

    def forward(self, ids: Tensor) -> Tensor:
        parts = [self.tables[f.name](ids[..., i]) for i, f in enumerate(self.features)]
        return torch.cat(parts, dim=-1)


class TargetAttention(nn.Module):
    """DIN's activation unit and weighted sum-pooling, without softmax.

    forward(keys: (B, L, D), query: (B, D), mask: (B, L) bool) → (pooled (B, D), weights (B, L)).

    Only the real positions go through the unit, so padded positions neither get a weight (exactly 0)
    nor enter Dice's batch statistics. A row with no real position pools to zeros.

    The unit's first layer is a Linear on [h, t, h − t, h ⊙ t]; with its weight split into the four
    blocks W = [W_h, W_t, W_d, W_p] that is h·(W_h + W_d)ᵀ + t·(W_t − W_d)ᵀ + (h ⊙ t)·W_pᵀ + b, the same
    function, computed here without building the (positions, 4·D) input and with the target's part once
    per sample instead of once per position.
    """

    def __init__(self, dim: int, hidden_dims: Sequence[int], activation: Callable[[int], nn.Module]) -> None:
        super().__init__()
        self.dim = dim
        # BatchNorm is off: Dice normalises its own input, and PReLU-DIN uses none in the paper either.
        self.unit = MLP(
            4 * dim, (*hidden_dims, 1), batch_norm=False, activate_last=False, activation=activation
        )

    def forward(self, keys: Tensor, query: Tensor, mask: Tensor) -> tuple[Tensor, Tensor]:
        batch, length, dim = keys.shape
        rows, positions = mask.nonzero(as_tuple=True)
        weights = keys.new_zeros(batch, length)
        if rows.numel() > 0:
            first, rest = self.unit.layers[0], self.unit.layers[1:]
            w_key, w_query, w_diff, w_prod = first.weight.split(dim, dim=1)
            real = keys[rows, positions]  # (N, D) the real positions only
            per_sample = query @ (w_query - w_diff).T + first.bias  # (B, h)
            hidden = real @ (w_key + w_diff).T + (real * query[rows]) @ w_prod.T + per_sample[rows]
            weights = weights.index_put((rows, positions), rest(hidden).squeeze(-1))
        pooled = torch.einsum("bl,bld->bd", weights, keys)
        return pooled, weights


def feature_frequencies(ids: Tensor, vocab_size: int) -> Tensor:
    """ids: (…) int64 occurrences of one feature in the TRAINING data → (vocab_size,) float counts.

    The padding id 0 is not counted: it is never regularised."""
    ids = ids.reshape(-1)
    counts = torch.bincount(ids[ids != PADDING_INDEX], minlength=vocab_size).to(torch.float32)
    return counts


def mba_l2(weight: Tensor, ids: Tensor, frequencies: Tensor) -> Tensor:
    """Mini-batch-aware L2 (DIN §4.2): Σ_{j in batch} ‖w_j‖² / n_j, a scalar.

    weight: (V, d) embedding table; ids: (…) int64 ids the batch reads from it (padding 0 and padded slots
    must already be set to 0 or dropped); frequencies: (V,) training-data counts n_j.

    Each row present in the batch counts once, however often it occurs (torch.unique), so the penalty
    approximates the full-table L2 spread over the batches that touch it; rows absent from the batch get no
    gradient at all. A row unseen in training (n_j = 0) is scaled as if seen once.
    """
    present = torch.unique(ids.reshape(-1))
    present = present[present != PADDING_INDEX]
    if present.numel() == 0:
        return weight.new_zeros(())
    scale = 1.0 / frequencies.to(weight.device, weight.dtype)[present].clamp_min(1.0)
    return (weight[present].pow(2).sum(-1) * scale).sum()


def embed_user(
    tables: nn.ModuleDict, features: Sequence[SparseFeature], user: Tensor | None, dense: Tensor | None
) -> list[Tensor]:
    """The user-side inputs of the output MLP: a (B, d) embedding per user feature, then the dense vector."""
    parts = [tables[f.name](user[:, i]) for i, f in enumerate(features)] if features else []
    if dense is not None:
        parts.append(dense)
    return parts


def initialise_embeddings(tables: nn.ModuleDict, std: float | None) -> None:
    """N(0, std²) for every table (None keeps PyTorch's N(0, 1)). A small std starts rare ids near zero,
    where a sum-pooled history of them adds little until training has moved them."""
    if std is not None:
        for table in tables.values():
            nn.init.normal_(table.weight, 0.0, std)


def user_tables(config: Any) -> nn.ModuleDict:
    """One embedding table per user feature; `config` is a DINConfig or an ETAConfig (same fields)."""
    tables = nn.ModuleDict(
        {f.name: nn.Embedding(f.vocab_size, config.embedding_dim) for f in config.user_features}
    )
    initialise_embeddings(tables, config.embedding_std)
    return tables


def output_head(in_dim: int, config: Any, activation: Callable[[int], nn.Module]) -> MLP:
    """The output MLP, (B, in_dim) → (B, 1) logit, shared by DIN and ETA."""
    return MLP(
        in_dim,
        (*config.output_dims, 1),
        batch_norm=False,
        dropout=config.dropout,
        activate_last=False,
        activation=activation,
    )


class DIN(nn.Module):
    """DIN's click / acceptance model.

    forward(target: (B, F) int64, history: (B, L, F) int64, history_mask: (B, L) bool | None = None,
            user: (B, U) int64 | None = None, dense: (B, E) float | None = None) → logits (B,)

    F = len(item_features), U = len(user_features), E = dense_dim; history_mask defaults to id ≠ 0.
    """

    def __init__(self, config: DINConfig) -> None:
        super().__init__()
        self.config = config
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(config.seed)
            activation = activation_factory(
                config.activation, epsilon=config.dice_epsilon, momentum=config.dice_momentum
            )
            self.items = ItemEmbedding(config.item_features, config.embedding_dim, config.embedding_std)
            self.user_tables = user_tables(config)
            self.attention = TargetAttention(self.items.out_dim, config.attention_dims, activation)
            in_dim = (
                2 * self.items.out_dim + len(config.user_features) * config.embedding_dim + config.dense_dim
            )
            self.output = output_head(in_dim, config, activation)

    def forward(
        self,
        target: Tensor,
        history: Tensor,
        history_mask: Tensor | None = None,
        user: Tensor | None = None,
        dense: Tensor | None = None,
    ) -> Tensor:
        if history_mask is None:
            history_mask = padding_mask(history[..., 0])
        query = self.items(target)
        pooled, _ = self.attention(self.items(history), query, history_mask)
        parts = [pooled, query, *embed_user(self.user_tables, self.config.user_features, user, dense)]
        return self.output(torch.cat(parts, dim=-1)).squeeze(-1)

    def mba_regularization(
        self,
        frequencies: Mapping[str, Tensor],
        target: Tensor,
        history: Tensor,
        history_mask: Tensor | None = None,
        user: Tensor | None = None,
    ) -> Tensor:
        """Σ over the embedding tables of `mba_l2` for the ids this batch reads; multiply by λ and add it to
        the loss. `frequencies` maps feature name → (vocab_size,) training counts (`feature_frequencies`);
        tables without an entry are not regularised."""
        return embedding_mba(self, frequencies, target, history, history_mask, user)


def embedding_mba(
    model: nn.Module,
    frequencies: Mapping[str, Tensor],
    target: Tensor,
    history: Tensor,
    history_mask: Tensor | None,
    user: Tensor | None,
) -> Tensor:
    """MBA over a DIN-like model's tables (`model.items`, `model.user_tables`, `model.config`): the item
    tables for the targets and the real history slots, the user tables for the user fields."""
    config = model.config
    item_ids = mba_item_ids(target, history, history_mask)
    total = model.items.tables[config.item_features[0].name].weight.new_zeros(())
    for i, feature in enumerate(config.item_features):
        if feature.name in frequencies:
            total = total + mba_l2(
                model.items.tables[feature.name].weight, item_ids[i], frequencies[feature.name]
            )
    if user is not None:
        for i, feature in enumerate(config.user_features):
            if feature.name in frequencies:
                weight = model.user_tables[feature.name].weight
                total = total + mba_l2(weight, user[:, i], frequencies[feature.name])
    return total


def mba_item_ids(target: Tensor, history: Tensor, history_mask: Tensor | None) -> list[Tensor]:
    """Per item feature, the flat ids a batch really reads: the targets and the unpadded history slots."""
    if history_mask is None:
        history_mask = padding_mask(history[..., 0])
    real = history[history_mask]  # (N, F): padded slots, whatever they hold, are not "in the batch"
    return [torch.cat([target[:, i], real[:, i]]) for i in range(target.shape[-1])]
