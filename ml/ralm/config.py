"""RALM's configuration: plain dataclasses, round-tripped through JSON by `ml.ralm.io`."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any, Literal

from ml.features.schema import FeatureSchema

FieldKind = Literal["dense", "categorical", "multi"]
FIELD_KINDS: tuple[str, ...] = ("dense", "categorical", "multi")


@dataclass(frozen=True)
class FieldSpec:
    """One input field of the user tower.

    - "dense": a float vector of `dim` values (a feature group), through a Linear layer.
    - "categorical": one int id in [0, vocab_size) per person, 0 = missing, through an Embedding.
    - "multi": a padded list of int ids per person (0 = padding), embedded and mean-pooled over real ids.

    `embedding_dim` is the embedding width of a categorical or multi field (default: the tower's
    field_dim); when it differs from field_dim a Linear maps it there, because the attention merge needs
    every field at the same width.
    """

    name: str
    kind: FieldKind
    dim: int | None = None
    vocab_size: int | None = None
    embedding_dim: int | None = None

    def __post_init__(self) -> None:
        if self.kind not in FIELD_KINDS:
            raise ValueError(f"field {self.name!r}: kind must be one of {FIELD_KINDS}, not {self.kind!r}")
        if self.kind == "dense":
            if not self.dim or self.dim < 1 or self.vocab_size is not None:
                raise ValueError(f"dense field {self.name!r} needs dim ≥ 1 and no vocab_size")
        elif not self.vocab_size or self.vocab_size < 2 or self.dim is not None:
            # vocab_size counts the padding id 0, so a usable vocabulary has at least 2 entries.
            raise ValueError(f"{self.kind} field {self.name!r} needs vocab_size ≥ 2 and no dim")


@dataclass(frozen=True)
class UserTowerConfig:
    """Stage 1: fields → attention merge → MLP → universal user embedding; next-place head on top.

    n_places counts the padding id 0: place ids run 1 … n_places − 1.
    """

    fields: tuple[FieldSpec, ...]
    n_places: int
    field_dim: int = 32
    attention_dim: int = 16
    hidden_dims: tuple[int, ...] = (64,)
    embedding_dim: int = 32
    batch_norm: bool = True
    dropout: float = 0.1
    num_negatives: int = 10
    logq_correction: bool = True
    seed: int = 0

    def __post_init__(self) -> None:
        names = [spec.name for spec in self.fields]
        if not names or len(set(names)) != len(names):
            raise ValueError(f"the tower needs fields with distinct names, got {names}")
        if self.n_places < 3:
            raise ValueError("n_places counts padding id 0; at least two real places are needed")

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> UserTowerConfig:
        data = dict(data)
        data["fields"] = tuple(FieldSpec(**spec) for spec in data["fields"])
        data["hidden_dims"] = tuple(data["hidden_dims"])
        return cls(**data)


@dataclass(frozen=True)
class LookalikeConfig:
    """Stage 2: shared transform → global + local attention over the seeds → α·cos + β·cos.

    input_dim is the user embedding width from stage 1; hidden_dim the width after the shared transform.
    k is the number of k-means centroids the seeds are summarised into (k ≥ number of seeds keeps every seed).
    alpha/beta start at the paper's 0.3/0.7 and are learned unless learn_alpha_beta is False.
    logit_scale multiplies the score (a difference of cosines in [−1, 1]) before the sigmoid of the
    training loss; it is learned, and ranking never needs it (it is monotonic).
    """

    input_dim: int
    hidden_dim: int = 32
    attention_dim: int = 16
    k: int = 20
    alpha: float = 0.3
    beta: float = 0.7
    learn_alpha_beta: bool = True
    batch_norm: bool = True
    dropout: float = 0.1
    logit_scale: float = 5.0
    kmeans_iterations: int = 50
    seed: int = 0

    def __post_init__(self) -> None:
        if self.k < 1:
            raise ValueError("k must be ≥ 1")

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> LookalikeConfig:
        return cls(**data)


@dataclass(frozen=True)
class TrainConfig:
    """Optimisation settings shared by both stages."""

    epochs: int = 5
    batch_size: int = 256
    learning_rate: float = 1e-3
    weight_decay: float = 0.0
    seed: int = 0


def fields_from_schema(schema: FeatureSchema) -> tuple[FieldSpec, ...]:
    """The six feature groups of `schema` as dense fields, in group order (geographic 16, … contextual 14)."""
    return tuple(FieldSpec(name=name, kind="dense", dim=dim) for name, dim in schema.dims.items())
