"""ml.layers: the MLP tower and the masked helpers, on their own."""

from __future__ import annotations

import pytest
import torch

from ml.layers import MLP, masked_mean, masked_softmax, padding_mask


@pytest.fixture(autouse=True)
def few_threads():
    previous = torch.get_num_threads()
    torch.set_num_threads(2)
    yield
    torch.set_num_threads(previous)


def test_masked_softmax_sums_to_one_over_kept_slots_and_zero_elsewhere():
    logits = torch.tensor([[1.0, 2.0, 3.0, 100.0], [0.5, -1.0, 4.0, 2.0]])
    mask = torch.tensor([[True, True, True, False], [True, False, True, True]])
    weights = masked_softmax(logits, mask)
    assert torch.allclose(weights.sum(-1), torch.ones(2))
    assert torch.all(weights[~mask] == 0)
    assert torch.allclose(weights[0, :3], torch.softmax(logits[0, :3], -1))


def test_fully_masked_rows_give_zeros_and_finite_gradients():
    logits = torch.randn(2, 3, requires_grad=True)
    mask = torch.tensor([[False, False, False], [True, False, True]])
    weights = masked_softmax(logits, mask)
    assert torch.equal(weights[0], torch.zeros(3))
    (weights * torch.arange(3.0)).sum().backward()
    assert torch.isfinite(logits.grad).all()


def test_masked_mean_ignores_padding_and_is_zero_without_values():
    values = torch.tensor([[[1.0, 1.0], [3.0, 5.0], [99.0, 99.0]], [[7.0, 7.0], [8.0, 8.0], [9.0, 9.0]]])
    mask = torch.tensor([[True, True, False], [False, False, False]])
    pooled = masked_mean(values, mask)
    assert torch.equal(pooled, torch.tensor([[2.0, 3.0], [0.0, 0.0]]))


def test_padding_mask_is_index_zero():
    assert torch.equal(padding_mask(torch.tensor([0, 3, 0, 1])), torch.tensor([False, True, False, True]))


def test_mlp_layer_order_and_bare_last_layer():
    mlp = MLP(4, [8, 3], batch_norm=True, dropout=0.1, activate_last=False)
    kinds = [type(layer).__name__ for layer in mlp.layers]
    assert kinds == ["Linear", "BatchNorm1d", "PReLU", "Dropout", "Linear"]
    assert mlp(torch.randn(2, 5, 4)).shape == (2, 5, 3)


def test_mlp_mask_keeps_padding_out_of_batch_statistics():
    torch.manual_seed(0)
    mlp = MLP(4, [6], batch_norm=True).train()
    real = torch.randn(5, 4)
    garbage = torch.full((3, 4), 1e4)
    padded = torch.cat([real, garbage]).unsqueeze(0)
    mask = torch.tensor([[True] * 5 + [False] * 3])
    out = mlp(padded, mask)
    assert torch.equal(out[0, 5:], torch.zeros(3, 6))
    assert torch.allclose(out[0, :5], mlp(real), atol=1e-6)
