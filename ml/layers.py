"""Small building blocks shared by the models: an MLP tower and masked softmax / pooling helpers.

Masks are boolean and True where a value is real. Integer id tensors use 0 as padding, so
`padding_mask(ids)` is `ids != 0`. Every helper keeps a fully masked row finite: its weights are all zero
(not NaN, not uniform), so a person with no history or an empty seed set cannot poison a batch.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import torch
from torch import Tensor, nn

PADDING_INDEX = 0


def padding_mask(ids: Tensor) -> Tensor:
    """(…) int ids → (…) bool, True where the id is not the padding index 0."""
    return ids != PADDING_INDEX


def masked_softmax(logits: Tensor, mask: Tensor | None, dim: int = -1) -> Tensor:
    """Softmax of `logits` over `dim`, restricted to `mask`; fully masked slices come out all zero.

    logits: (…); mask: bool, broadcastable to logits, True = take part. Returns (…) like logits.

    Masked logits are filled with the dtype's most negative finite value rather than −inf, so that a fully
    masked slice gives a finite (uniform) softmax instead of NaN, in the forward and in the backward pass;
    multiplying by the mask then zeroes it.
    """
    if mask is None:
        return torch.softmax(logits, dim=dim)
    mask = mask.expand_as(logits)
    filled = logits.masked_fill(~mask, torch.finfo(logits.dtype).min)
    return torch.softmax(filled, dim=dim) * mask.to(logits.dtype)


def masked_mean(values: Tensor, mask: Tensor | None, dim: int = -2) -> Tensor:
    """Mean of `values` over `dim` counting only masked-in rows; zero where nothing is masked in.

    values: (…, L, d) with dim = −2 (the default); mask: (…, L) bool. Returns (…, d).
    """
    if mask is None:
        return values.mean(dim=dim)
    weights = mask.to(values.dtype).unsqueeze(-1)
    total = (values * weights).sum(dim=dim)
    count = weights.sum(dim=dim).clamp_min(1.0)
    return total / count


def log_weights(weights: Tensor) -> Tensor:
    """(…) non-negative weights → (…) log(weight), with log 0 kept finite (the caller masks zero weights)."""
    return torch.log(weights.clamp_min(torch.finfo(weights.dtype).tiny))


class MLP(nn.Module):
    """A tower: per layer Linear → BatchNorm (optional) → activation → Dropout (optional).

    forward(x: (…, in_dim), mask: (…) bool | None) → (…, dims[-1]).

    With `activate_last=False` the last layer is a bare Linear (an output such as an embedding should not be
    clipped by PReLU's kink or renormalised by BatchNorm). Leading dimensions are flattened for BatchNorm.
    With a mask, only the masked-in rows go through the layers and the other rows come out as zeros: padded
    rows (a short seed set) then never enter BatchNorm's batch statistics, so padding cannot change results.
    `activation(width)` builds each layer's activation (default PReLU); DIN passes its data-adaptive Dice,
    which keeps batch statistics of its own and so benefits from the same row selection.
    """

    def __init__(
        self,
        in_dim: int,
        dims: Sequence[int],
        *,
        batch_norm: bool = True,
        dropout: float = 0.0,
        activate_last: bool = True,
        activation: Callable[[int], nn.Module] = nn.PReLU,
    ) -> None:
        super().__init__()
        if not dims:
            raise ValueError("an MLP needs at least one layer")
        layers: list[nn.Module] = []
        previous = in_dim
        for position, width in enumerate(dims):
            layers.append(nn.Linear(previous, width))
            last = position == len(dims) - 1
            if not last or activate_last:
                if batch_norm:
                    layers.append(nn.BatchNorm1d(width))
                layers.append(activation(width))
                if dropout > 0:
                    layers.append(nn.Dropout(dropout))
            previous = width
        self.layers = nn.Sequential(*layers)
        self.in_dim = in_dim
        self.out_dim = previous

    def forward(self, x: Tensor, mask: Tensor | None = None) -> Tensor:
        leading = x.shape[:-1]
        flat = x.reshape(-1, self.in_dim)
        if mask is None:
            return self.layers(flat).reshape(*leading, self.out_dim)
        keep = mask.reshape(-1)
        out = flat.new_zeros(flat.shape[0], self.out_dim)
        if bool(keep.any()):
            out = out.index_put((keep.nonzero(as_tuple=True)[0],), self.layers(flat[keep]))
        return out.reshape(*leading, self.out_dim)
