"""ETA: End-to-end Target Attention for long user behaviour sequences (Chen et al., arXiv 2209.12212).

    short history (B, Ls, F) ─embed─► DIN target attention ────────────────────────┐
    long history (B, L, F) ─embed─► SimHash ─► Hamming top-k ─► target attention ──┼─► concat ─► MLP ─► logit
    target (B, F) ─embed─► SimHash (query) ───────┘                                 │
    target, user, dense ────────────────────────────────────────────────────────────┘

**SimHash.** A fixed Gaussian random projection R (d × m, a registered buffer drawn from `hash_seed`, never
trained) maps an item embedding e to the m bits sign(e·R) ≥ 0: the angle between two vectors decides the
chance that a hyperplane separates them (Charikar 2002), so a smaller angle means a smaller expected Hamming
distance. The bits are packed 64 to an int64 word (`pack_bits`), so a key costs ⌈m/64⌉ words and the
distance to the query is XOR + popcount per word (`hamming_distance`).

**Retrieval.** The k long-history items nearest to the target in Hamming distance go through DIN's target
attention. Hashing and top-k carry no gradient, but the hashed embeddings are the trained ones, recomputed on
every forward in training, so retrieval follows the model end-to-end, as in the paper. For serving, item
signatures can be precomputed (`ETA.signatures`) and passed to `forward` as `long_signatures`.

**Variants** (`ETAConfig.long_mode`), for the comparison in the benchmark:
- "eta": the above;
- "full": target attention over the whole long sequence (the upper bound ETA approximates);
- "sim_hard": SIM's hard search, the k most recent long-history items of the target's category;
- "avg": masked average pooling of the long sequence.
The short recent sequence always has its own DIN attention unit, separate from the long sequence's.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass
from typing import Any, Literal

import torch
from torch import Tensor, nn

from ml.layers import masked_mean, padding_mask
from ml.ranking.din import (
    Activation,
    ItemEmbedding,
    SparseFeature,
    TargetAttention,
    activation_factory,
    config_fields_from_dict,
    embed_user,
    embedding_mba,
    output_head,
    user_tables,
)

LongMode = Literal["eta", "full", "sim_hard", "avg"]
LONG_MODES: tuple[str, ...] = ("eta", "full", "sim_hard", "avg")
WORD_BITS = 64

_M1 = 0x5555555555555555
_M2 = 0x3333333333333333
_M4 = 0x0F0F0F0F0F0F0F0F
_LOW63 = 0x7FFFFFFFFFFFFFFF


def popcount64(words: Tensor) -> Tensor:
    """(…) int64 → (…) int64: the number of set bits of each word's 64-bit two's-complement pattern.

    torch has no popcount, so this is the SWAR reduction (Hacker's Delight §5-1) with two changes that keep
    every step inside signed int64 without relying on overflow wrapping: the sign bit is counted on its own
    (word < 0) and cleared first, so all later values are non-negative and `>>` (arithmetic in torch) shifts
    in zeros; and the per-byte counts are summed with shifts instead of the usual overflowing multiply.
    """
    if words.dtype != torch.int64:
        raise TypeError(f"popcount64 needs int64 words, got {words.dtype}")
    sign = (words < 0).to(torch.int64)
    x = words & _LOW63
    x = x - ((x >> 1) & _M1)  # 2-bit fields: count of each pair
    x = (x & _M2) + ((x >> 2) & _M2)  # 4-bit fields
    x = (x + (x >> 4)) & _M4  # 8-bit fields, each ≤ 8
    x = x + (x >> 8)
    x = x + (x >> 16)
    x = x + (x >> 32)  # the low byte now holds the sum of all eight byte counts (≤ 63)
    return (x & 0x7F) + sign


#: 2^j for the 16 bits of a chunk: a chunk's value (< 2^16) is exact in float32 (24-bit mantissa).
_CHUNK_WEIGHTS = tuple(float(1 << j) for j in range(16))


def pack_bits(bits: Tensor) -> Tensor:
    """(…, m) bool → (…, ⌈m/64⌉) int64; bit j of the signature is bit j % 64 of word j // 64.

    Each word is assembled from four 16-bit chunks, each chunk's value computed by one float32 matmul
    against (1, 2, …, 2^15) (exact: below 2^24) rather than 64 int64 multiplies per word: this runs over
    every long-history item of every training row, so it dominated ETA's step. The top chunk's bit 15 is
    the word's sign bit and is added as −2⁶³, its two's-complement value, so no step overflows.
    """
    m = bits.shape[-1]
    words = -(-m // WORD_BITS)
    padded = torch.nn.functional.pad(bits.to(torch.float32), (0, words * WORD_BITS - m))
    grouped = padded.reshape(*bits.shape[:-1], words * 4, 16)
    weights = torch.tensor(_CHUNK_WEIGHTS, dtype=torch.float32, device=bits.device)
    chunks = (grouped @ weights).to(torch.int64).reshape(*bits.shape[:-1], words, 4)
    top = chunks[..., 3]
    sign = torch.where(top >= 0x8000, -(1 << 63), 0)
    return chunks[..., 0] | (chunks[..., 1] << 16) | (chunks[..., 2] << 32) | ((top & 0x7FFF) << 48) | sign


def hamming_distance(query: Tensor, keys: Tensor) -> Tensor:
    """query: (…, W) int64, keys: (…, L, W) int64 → (…, L) int64 Hamming distances (XOR, popcount, sum)."""
    return popcount64(torch.bitwise_xor(keys, query.unsqueeze(-2))).sum(-1)


def retrieve_top_k(cost: Tensor, mask: Tensor, k: int) -> tuple[Tensor, Tensor]:
    """The k positions of smallest cost among the real ones; padding only once every real item is taken.

    cost: (B, L) int64 ≥ 0; mask: (B, L) bool. Returns (indices (B, k'), taken (B, k') bool) with
    k' = min(k, L); `taken` is False where a row had fewer than k' real positions.

    Ties are broken toward later positions (histories run oldest to newest, so the more recent item wins),
    which makes the result deterministic. Padded positions get a cost above every real cost, so they can
    only fill the places left over once all real items are in.
    """
    length = cost.shape[-1]
    k = min(k, length)
    padded_cost = cost.max() + 1 if cost.numel() else 0
    cost = torch.where(mask, cost, padded_cost)
    recency = torch.arange(length - 1, -1, -1, device=cost.device)  # 0 for the last position
    key = cost * length + recency  # unique per position: lexicographic (cost, −position)
    indices = torch.topk(key, k, dim=-1, largest=False, sorted=True).indices
    return indices, torch.gather(mask, 1, indices)


@dataclass(frozen=True)
class ETAConfig:
    """item_features[0] is the item id (0 = padding); `category_feature` names the feature SIM-hard matches.

    hash_bits is m, the SimHash signature length; top_k the number of long-history items attended to.
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
    long_mode: LongMode = "eta"
    hash_bits: int = 64
    top_k: int = 32
    category_feature: str = "category"
    seed: int = 0
    hash_seed: int = 0

    def __post_init__(self) -> None:
        names = [feature.name for feature in (*self.item_features, *self.user_features)]
        if not self.item_features or len(set(names)) != len(names):
            raise ValueError(f"ETA needs at least one item feature and distinct feature names, got {names}")
        if self.long_mode not in LONG_MODES:
            raise ValueError(f"long_mode must be one of {LONG_MODES}, not {self.long_mode!r}")
        if self.hash_bits < 1 or self.top_k < 1:
            raise ValueError("hash_bits and top_k must be positive")
        item_names = [feature.name for feature in self.item_features]
        if self.long_mode == "sim_hard" and self.category_feature not in item_names:
            raise ValueError(f"sim_hard needs the item feature {self.category_feature!r}; have {item_names}")

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ETAConfig:
        return cls(**config_fields_from_dict(data))


class ETA(nn.Module):
    """Short history by DIN, long history by ETA (or a comparison variant); one logit per target.

    forward(target: (B, F) int64, short_history: (B, Ls, F) int64, long_history: (B|1, L, F) int64,
            short_mask: (B, Ls) bool | None = None, long_mask: (B|1, L) bool | None = None,
            user: (B, U) int64 | None = None, dense: (B, E) float | None = None,
            long_signatures: (B|1, L, W) int64 | None = None) → logits (B,)

    Masks default to id ≠ 0. A long history with batch size 1 is shared by all B targets (serving: many
    candidates against one person's history) and is embedded and hashed once. `long_signatures`, from
    `signatures` / `item_signatures`, replaces hashing the long history's embeddings ("eta" mode only).
    """

    def __init__(self, config: ETAConfig) -> None:
        super().__init__()
        self.config = config
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(config.seed)
            activation = activation_factory(
                config.activation, epsilon=config.dice_epsilon, momentum=config.dice_momentum
            )
            self.items = ItemEmbedding(config.item_features, config.embedding_dim)
            self.user_tables = user_tables(config)
            dim = self.items.out_dim
            self.short_attention = TargetAttention(dim, config.attention_dims, activation)
            self.long_attention = TargetAttention(dim, config.attention_dims, activation)
            in_dim = 3 * dim + len(config.user_features) * config.embedding_dim + config.dense_dim
            self.output = output_head(in_dim, config, activation)
        # Drawn from its own generator so the hash depends on hash_seed only, not on the model's init.
        generator = torch.Generator().manual_seed(config.hash_seed)
        self.register_buffer("projection", torch.randn(dim, config.hash_bits, generator=generator))
        names = [feature.name for feature in config.item_features]
        self._category_index = (
            names.index(config.category_feature) if config.category_feature in names else -1
        )

    @property
    def signature_words(self) -> int:
        return -(-self.config.hash_bits // WORD_BITS)

    def signatures(self, item_embeddings: Tensor) -> Tensor:
        """(…, D) concatenated item embeddings → (…, W) int64 packed SimHash signatures."""
        with torch.no_grad():
            projected = item_embeddings.detach().to(self.projection.dtype) @ self.projection
            return pack_bits(projected >= 0)

    def item_signatures(self, items: Tensor) -> Tensor:
        """(…, F) int64 item features → (…, W) int64: what a serving cache stores per item."""
        with torch.no_grad():
            return self.signatures(self.items(items))

    def forward(
        self,
        target: Tensor,
        short_history: Tensor,
        long_history: Tensor,
        short_mask: Tensor | None = None,
        long_mask: Tensor | None = None,
        user: Tensor | None = None,
        dense: Tensor | None = None,
        long_signatures: Tensor | None = None,
    ) -> Tensor:
        if short_mask is None:
            short_mask = padding_mask(short_history[..., 0])
        if long_mask is None:
            long_mask = padding_mask(long_history[..., 0])
        query = self.items(target)
        short_pooled, _ = self.short_attention(self.items(short_history), query, short_mask)
        long_pooled = self._long_interest(target, query, long_history, long_mask, long_signatures)
        parts = [
            short_pooled,
            long_pooled,
            query,
            *embed_user(self.user_tables, self.config.user_features, user, dense),
        ]
        return self.output(torch.cat(parts, dim=-1)).squeeze(-1)

    def mba_regularization(
        self,
        frequencies: Mapping[str, Tensor],
        target: Tensor,
        short_history: Tensor,
        short_mask: Tensor | None = None,
        user: Tensor | None = None,
    ) -> Tensor:
        """Mini-batch-aware L2 (as `DIN.mba_regularization`) over the ids of the targets, the short
        history and the user fields. The long history's rows are left out: it reads thousands of rows per
        sample, mostly to hash them, and penalising them all would weigh the long tail over the batch."""
        return embedding_mba(self, frequencies, target, short_history, short_mask, user)

    def _long_interest(
        self, target: Tensor, query: Tensor, history: Tensor, mask: Tensor, signatures: Tensor | None
    ) -> Tensor:
        """(B, D) pooled long-term interest for the configured mode."""
        batch = target.shape[0]
        mode = self.config.long_mode
        if mode == "avg":
            return masked_mean(self.items(history), mask).expand(batch, -1)
        if mode == "full":
            keys = self.items(history).expand(batch, -1, -1)  # (B|1, L, D), embedded once even when shared
            return self.long_attention(keys, query, mask.expand(batch, -1))[0]
        if mode == "eta":
            if signatures is None:
                # Hashing carries no gradient, so the whole long history is embedded without autograd:
                # only the k retrieved items are embedded again below, with it. Same values, same
                # gradients, but backward no longer touches all L positions of every row.
                with torch.no_grad():
                    signatures = self.signatures(self.items(history))
            cost = hamming_distance(
                self.signatures(query), signatures
            )  # (B, L), broadcast over a shared history
        else:  # sim_hard: cost 0 for the target's category, 1 otherwise; the same category comes first
            column = self._category_index
            same = history[..., column] == target[:, column].unsqueeze(1)
            cost = (~same).to(torch.int64)
            mask = mask & same
        cost = cost.expand(batch, -1)
        indices, taken = retrieve_top_k(cost, mask.expand(batch, -1), self.config.top_k)
        picked = torch.gather(
            history.expand(batch, -1, -1), 1, indices.unsqueeze(-1).expand(-1, -1, history.shape[-1])
        )  # (B, k, F) ids of the retrieved items
        return self.long_attention(self.items(picked), query, taken)[0]
