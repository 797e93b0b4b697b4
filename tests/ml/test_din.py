"""ml.ranking.din: masking, Dice, target attention without softmax and mini-batch-aware L2."""

from __future__ import annotations

import pytest
import torch

from ml.ranking.din import DIN, Dice, DINConfig, SparseFeature, TargetAttention, feature_frequencies, mba_l2

ITEMS = (SparseFeature("item", 40), SparseFeature("category", 6))


@pytest.fixture(autouse=True)
def one_thread():
    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(previous)


def tiny_config(**overrides) -> DINConfig:
    values = {
        "item_features": ITEMS,
        "user_features": (SparseFeature("age", 5),),
        "dense_dim": 2,
        "embedding_dim": 4,
        "attention_dims": (8, 4),
        "output_dims": (8,),
    }
    values.update(overrides)
    return DINConfig(**values)


def make_batch(batch=6, length=7, seed=0):
    generator = torch.Generator().manual_seed(seed)
    target = torch.stack(
        [
            torch.randint(1, 40, (batch,), generator=generator),
            torch.randint(1, 6, (batch,), generator=generator),
        ],
        -1,
    )
    history = torch.stack(
        [
            torch.randint(1, 40, (batch, length), generator=generator),
            torch.randint(1, 6, (batch, length), generator=generator),
        ],
        -1,
    )
    lengths = torch.tensor([0, 1, 3, length, 2, 5][:batch])
    mask = torch.arange(length).unsqueeze(0) < lengths.unsqueeze(1)
    history[~mask] = 0
    user = torch.randint(0, 5, (batch, 1), generator=generator)
    dense = torch.randn(batch, 2, generator=generator)
    return target, history, mask, user, dense


def scramble_padding(history, mask, seed=1):
    """The same history with every padded slot (id and category) holding random non-zero ids."""
    generator = torch.Generator().manual_seed(seed)
    noise = torch.stack(
        [
            torch.randint(1, 40, history.shape[:-1], generator=generator),
            torch.randint(1, 6, history.shape[:-1], generator=generator),
        ],
        -1,
    )
    return torch.where(mask.unsqueeze(-1), history, noise)


@pytest.mark.parametrize("activation", ["dice", "prelu"])
@pytest.mark.parametrize("training", [False, True])
def test_padded_positions_cannot_change_a_score(activation, training):
    model = DIN(tiny_config(activation=activation)).train(training)
    target, history, mask, user, dense = make_batch()
    with torch.no_grad():
        reference = model(target, history, mask, user, dense)
        scrambled = model(target, scramble_padding(history, mask), mask, user, dense)
        # id 0 marks padding by default: random categories behind a padded id change nothing either.
        default_mask = model(
            target,
            torch.where(mask.unsqueeze(-1), history, scramble_padding(history, mask) * torch.tensor([0, 1])),
            None,
            user,
            dense,
        )
        longer = torch.cat([history, torch.zeros(6, 4, 2, dtype=torch.long)], dim=1)
        more_padding = model(target, longer, None, user, dense)
    assert torch.equal(reference, scrambled)
    assert torch.equal(reference, default_mask)
    assert torch.allclose(reference, more_padding, atol=1e-6)


def test_the_mask_is_what_protects_the_score():
    """Counter-check: the scrambled slots, declared real, do change the score (the test above can fail)."""
    model = DIN(tiny_config()).eval()
    target, history, mask, user, dense = make_batch()
    with torch.no_grad():
        reference = model(target, history, mask, user, dense)
        unmasked = model(target, scramble_padding(history, mask), torch.ones_like(mask), user, dense)
    assert not torch.allclose(reference[~mask.all(1)], unmasked[~mask.all(1)])


def test_attention_weights_keep_their_intensity():
    """No softmax: the same item twice pools to twice the vector (a softmax would give the same vector)."""
    torch.manual_seed(0)
    attention = TargetAttention(4, (8, 4), torch.nn.PReLU).eval()
    item, query = torch.randn(1, 1, 4), torch.randn(1, 4)
    once, _ = attention(item, query, torch.ones(1, 1, dtype=torch.bool))
    twice, weights = attention(item.repeat(1, 2, 1), query, torch.ones(1, 2, dtype=torch.bool))
    assert torch.allclose(twice, 2 * once)
    assert weights[0, 0] == weights[0, 1]
    padded, padded_weights = attention(
        torch.cat([item, torch.randn(1, 1, 4)], 1), query, torch.tensor([[True, False]])
    )
    assert padded_weights[0, 1] == 0 and torch.allclose(padded, once)


def dice_by_hand(x, mean, var, alpha, epsilon):
    p = torch.sigmoid((x - mean) / torch.sqrt(var + epsilon))
    return p * x + (1 - p) * alpha * x


def test_dice_uses_batch_statistics_in_training_and_updates_the_running_ones():
    dice = Dice(3, epsilon=1e-8, momentum=0.1)
    with torch.no_grad():
        dice.alpha.copy_(torch.tensor([0.1, -0.2, 0.3]))
    x = torch.randn(16, 3) * 2 + 5
    out = dice.train()(x)
    mean, var = x.mean(0), x.var(0, unbiased=False)
    assert torch.allclose(out, dice_by_hand(x, mean, var, dice.alpha, 1e-8), atol=1e-6)
    assert torch.allclose(dice.running_mean, 0.1 * mean, atol=1e-6)
    assert torch.allclose(dice.running_var, 0.9 + 0.1 * x.var(0, unbiased=True), atol=1e-5)
    assert int(dice.num_batches_tracked) == 1


def test_dice_in_eval_uses_running_statistics_so_one_sample_is_deterministic():
    dice = Dice(3)
    for _ in range(30):
        dice.train()(torch.randn(32, 3) * 2 + 5)
    sample = torch.tensor([[4.0, 6.0, 5.5]])
    running = (dice.running_mean.clone(), dice.running_var.clone())
    dice.eval()
    first = dice(sample)
    alone_in_batch = dice(torch.cat([sample, torch.randn(9, 3) * 100]))[:1]
    assert torch.equal(first, alone_in_batch)  # independent of the rest of the batch
    assert torch.allclose(first, dice_by_hand(sample, *running, dice.alpha, dice.epsilon))
    assert torch.equal(dice.running_mean, running[0])  # eval never updates
    trained = dice.train()(sample)  # a one-row batch: its own mean, zero variance → p = 1/2
    assert not torch.allclose(first, trained)
    assert torch.allclose(trained, 0.5 * sample + 0.5 * dice.alpha * sample)
    assert torch.equal(dice.running_mean, running[0])  # one row has no variance: stats untouched


def test_dice_keeps_padded_rows_out_of_its_statistics():
    dice, reference = Dice(2).train(), Dice(2).train()
    real = torch.randn(2, 5, 2)
    mask = torch.tensor([[True, True, True, False, False], [True, False, False, False, False]])
    padded = torch.where(mask.unsqueeze(-1), real, torch.full_like(real, 1e4))
    out = dice(padded, mask)
    expected = reference(real[mask])
    assert torch.allclose(out[mask], expected, atol=1e-6)
    assert torch.allclose(dice.running_mean, reference.running_mean)
    assert torch.allclose(dice.running_var, reference.running_var)


def test_mba_regularises_only_rows_in_the_batch_scaled_by_inverse_frequency():
    weight = torch.randn(10, 3, requires_grad=True)
    frequencies = feature_frequencies(torch.tensor([1, 1, 1, 1, 2, 2, 5, 0, 0, 7]), 10)
    assert frequencies.tolist() == [0, 4, 2, 0, 0, 1, 0, 1, 0, 0]
    ids = torch.tensor([[1, 1, 2], [5, 0, 1], [3, 0, 0]])  # 3 never seen in training; 0 is padding
    penalty = mba_l2(weight, ids, frequencies)
    rows = weight.detach()
    expected = (
        rows[1].pow(2).sum() / 4
        + rows[2].pow(2).sum() / 2
        + rows[5].pow(2).sum() / 1
        + rows[3].pow(2).sum() / 1
    )
    assert torch.allclose(penalty, expected)  # each present row once, however often it occurs
    penalty.backward()
    present = torch.zeros(10, dtype=torch.bool)
    present[[1, 2, 3, 5]] = True
    assert torch.all(weight.grad[~present] == 0)
    assert torch.all(weight.grad[present].abs().sum(-1) > 0)
    assert torch.allclose(weight.grad[1], 2 * rows[1] / 4)


def test_model_mba_ignores_padded_slots_and_reaches_every_table():
    model = DIN(tiny_config())
    target, history, mask, user, _ = make_batch()
    names = ("item", "category", "age")
    frequencies = {name: torch.ones(model.config.item_features[0].vocab_size) * 3 for name in names}
    penalty = model.mba_regularization(frequencies, target, scramble_padding(history, mask), mask, user)
    penalty.backward()
    item_grad = model.items.tables["item"].weight.grad
    in_batch = torch.unique(torch.cat([target[:, 0], history[..., 0][mask]]))
    touched = torch.nonzero(item_grad.abs().sum(-1) > 0).squeeze(-1)
    assert torch.equal(touched, in_batch)
    assert model.items.tables["category"].weight.grad.abs().sum() > 0
    assert model.user_tables["age"].weight.grad.abs().sum() > 0


def test_seed_makes_the_model_repeatable_and_config_round_trips():
    config = tiny_config(seed=3)
    first, second = DIN(config), DIN(DINConfig.from_dict(config.to_dict()))
    assert DINConfig.from_dict(config.to_dict()) == config
    for (name, a), (_, b) in zip(first.state_dict().items(), second.state_dict().items(), strict=True):
        assert torch.equal(a, b), name
    assert not torch.equal(
        DIN(tiny_config(seed=4)).items.tables["item"].weight, first.items.tables["item"].weight
    )


def test_prelu_option_has_no_dice_and_a_batch_trains():
    model = DIN(tiny_config(activation="prelu"))
    assert not any(isinstance(module, Dice) for module in model.modules())
    target, history, mask, user, dense = make_batch()
    labels = torch.tensor([1.0, 0.0, 1.0, 0.0, 1.0, 0.0])
    optimiser = torch.optim.Adam(model.parameters(), lr=0.01)
    losses = []
    for _ in range(30):
        loss = torch.nn.functional.binary_cross_entropy_with_logits(
            model(target, history, mask, user, dense), labels
        )
        optimiser.zero_grad()
        loss.backward()
        optimiser.step()
        losses.append(loss.item())
    assert losses[-1] < losses[0] * 0.5
