"""ml.ranking.train: DIN and ETA training with BCE + λ·MBA, ragged long histories, determinism."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from ml.metrics import auc
from ml.ranking import DIN, ETA, DINConfig, ETAConfig, SparseFeature
from ml.ranking.train import (
    RaggedHistory,
    RankingSamples,
    RankTrainConfig,
    batch_order,
    predict_ranker,
    ranking_frequencies,
    train_ranker,
)

ITEMS = (SparseFeature("item", 41), SparseFeature("category", 5))
USERS = (SparseFeature("user", 31),)


@pytest.fixture(autouse=True)
def one_thread():
    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(previous)


def item_features(ids: torch.Tensor) -> torch.Tensor:
    """Item i (1–40) has category 1 + i % 4; id 0 stays padding."""
    return torch.stack([ids, torch.where(ids == 0, 0, 1 + ids % 4)], -1)


def toy_events(people: int = 30, length: int = 24, seed: int = 0):
    """Each person mostly visits items of one category; their events stored once, flat."""
    rng = np.random.default_rng(seed)
    values, starts, ends, owners = [], [], [], []
    for person in range(1, people + 1):
        favourite = person % 4
        liked = [i for i in range(1, 41) if i % 4 == favourite]
        events = [rng.choice(liked) if rng.random() < 0.8 else rng.integers(1, 41) for _ in range(length)]
        start = len(values)
        values.extend(events)
        for position in range(1, length):
            starts.append(start)
            ends.append(start + position)
            owners.append(person)
    flat = item_features(torch.tensor(values))
    return flat, torch.tensor(starts), torch.tensor(ends), torch.tensor(owners), rng


def toy_samples(seed: int = 0) -> RankingSamples:
    """Label 1: the target is of the person's favourite category; 0: another category."""
    flat, starts, ends, owners, rng = toy_events(seed=seed)
    labels = torch.tensor(rng.integers(0, 2, size=owners.shape[0]))
    favourite = owners % 4
    target_ids = []
    for person_favourite, label in zip(favourite.tolist(), labels.tolist(), strict=True):
        pool = [i for i in range(1, 41) if (i % 4 == person_favourite) == bool(label)]
        target_ids.append(int(rng.choice(pool)))
    history = RaggedHistory(flat, starts, ends)
    return RankingSamples(
        target=item_features(torch.tensor(target_ids)),
        history=history,
        labels=labels,
        user=owners.unsqueeze(1),
        long_history=history,
        short_length=3,
    )


def din_config(**overrides) -> DINConfig:
    values = {
        "item_features": ITEMS,
        "user_features": USERS,
        "embedding_dim": 4,
        "attention_dims": (8, 4),
        "output_dims": (16, 8),
    }
    values.update(overrides)
    return DINConfig(**values)


def eta_config(**overrides) -> ETAConfig:
    values = {
        "item_features": ITEMS,
        "user_features": USERS,
        "embedding_dim": 4,
        "attention_dims": (8, 4),
        "output_dims": (16, 8),
        "top_k": 4,
        "hash_bits": 32,
    }
    values.update(overrides)
    return ETAConfig(**values)


def test_ragged_history_windows_are_post_padded_most_recent_last():
    values = item_features(torch.arange(1, 11))
    history = RaggedHistory(values, starts=torch.tensor([0, 2, 5]), ends=torch.tensor([3, 2, 10]))
    batch = history.batch(torch.tensor([0, 1, 2]))
    assert batch.shape == (3, 5, 2)
    assert batch[0, :, 0].tolist() == [1, 2, 3, 0, 0]
    assert batch[1, :, 0].tolist() == [0, 0, 0, 0, 0]  # an empty window is all padding
    assert batch[2, :, 0].tolist() == [6, 7, 8, 9, 10]
    cut = history.batch(torch.tensor([2, 0]), max_length=2)
    assert cut[:, :, 0].tolist() == [[9, 10], [2, 3]]  # the latest two events


def test_frequencies_count_targets_real_history_slots_and_users_only():
    samples = toy_samples()
    counts = ranking_frequencies(samples, DIN(din_config()))
    windows = samples.history.batch(torch.arange(len(samples)), samples.short_length)
    real = windows[..., 0][windows[..., 0] != 0]
    expected = torch.bincount(torch.cat([samples.target[:, 0], real]), minlength=41).float()
    expected[0] = 0
    assert torch.equal(counts["item"], expected)
    assert counts["item"][0] == 0 and counts["category"][0] == 0
    assert counts["user"].sum() == len(samples)


@pytest.mark.parametrize("kind", ["din", "eta"])
def test_training_learns_and_repeats_exactly_with_its_seed(kind):
    samples = toy_samples()
    build = (lambda: DIN(din_config())) if kind == "din" else (lambda: ETA(eta_config()))
    config = RankTrainConfig(epochs=6, batch_size=64, learning_rate=0.01, mba_lambda=0.01, seed=3)
    model = build()
    losses = train_ranker(model, samples, config)
    assert losses[-1] < losses[0]
    again = build()
    assert train_ranker(again, samples, config) == losses
    for (name, first), (_, second) in zip(
        model.state_dict().items(), again.state_dict().items(), strict=True
    ):
        assert torch.equal(first, second), name
    held_out = toy_samples(seed=1)
    assert auc(held_out.labels.numpy(), predict_ranker(model, held_out)) > 0.75


def test_mba_lambda_reaches_the_loss_and_only_the_rows_read():
    samples = toy_samples()
    plain = train_ranker(DIN(din_config()), samples, RankTrainConfig(epochs=1, batch_size=64))
    penalised = train_ranker(
        DIN(din_config()), samples, RankTrainConfig(epochs=1, batch_size=64, mba_lambda=1.0)
    )
    assert penalised[0] > plain[0]  # the penalty is part of the reported loss
    model = ETA(eta_config())
    frequencies = ranking_frequencies(samples, model)
    rows = torch.arange(4)
    target = samples.target[rows]
    short = samples.history.batch(rows, samples.short_length)
    penalty = model.mba_regularization(frequencies, target, short, None, samples.user[rows])
    penalty.backward()
    touched = torch.nonzero(model.items.tables["item"].weight.grad.abs().sum(-1) > 0).squeeze(-1)
    read = torch.unique(torch.cat([target[:, 0], short[..., 0][short[..., 0] != 0]]))
    assert torch.equal(touched, read)  # not the long history's rows, not the rest of the table


def test_eta_reads_a_ragged_long_history_like_a_padded_one():
    samples = toy_samples()
    model = ETA(eta_config())
    train_ranker(model, samples, RankTrainConfig(epochs=1, batch_size=64))
    rows = torch.arange(len(samples))
    padded = RankingSamples(
        target=samples.target,
        history=samples.history.batch(rows, samples.short_length),
        labels=samples.labels,
        user=samples.user,
        long_history=samples.long_history.batch(rows),
    )
    assert np.allclose(predict_ranker(model, samples, batch_size=7), predict_ranker(model, padded), atol=1e-6)


def test_length_buckets_cover_every_row_once_with_batches_of_similar_length():
    lengths = torch.tensor([1, 900, 3, 850, 2, 870, 4, 5, 880, 6, 7, 860])
    starts = torch.zeros(12, dtype=torch.int64)
    history = RaggedHistory(torch.ones(1000, 2, dtype=torch.int64), starts, starts + lengths)
    samples = RankingSamples(
        target=torch.ones(12, 2, dtype=torch.int64),
        history=history,
        labels=torch.zeros(12),
        long_history=history,
    )
    plain = batch_order(samples, RankTrainConfig(batch_size=3), torch.Generator().manual_seed(0))
    config = RankTrainConfig(batch_size=3, length_bucket_batches=4)
    bucketed = batch_order(samples, config, torch.Generator().manual_seed(0))
    for batches in (plain, bucketed):
        assert sorted(torch.cat(batches).tolist()) == list(range(12))
    # One window of 4 batches holds everything here: sorted, each batch is all-short or all-long.
    assert sorted(sorted(lengths[batch].tolist()) for batch in bucketed) == [
        [1, 2, 3], [4, 5, 6], [7, 850, 860], [870, 880, 900],
    ]  # fmt: skip
    again = batch_order(samples, config, torch.Generator().manual_seed(0))
    assert all(torch.equal(a, b) for a, b in zip(bucketed, again, strict=True))
    # The padded width a batch pays is its longest row: far less in total than in random batches.
    width = sum(int(lengths[batch].max()) for batch in bucketed)
    assert width < sum(int(lengths[batch].max()) for batch in plain)
