"""ml.recall: logQ correction, accidental hits, temperature, the streaming frequency estimator, negatives,
the full-corpus evaluator and the training loop of every mode."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from ml.io import load_model, save_model
from ml.ranking.din import SparseFeature
from ml.recall import (
    NegativeSampler,
    RecallSamples,
    RecallTrainConfig,
    StreamingFrequencyEstimator,
    TwoTowerConfig,
    TwoTowerModel,
    default_recipe,
    encode_items,
    encode_users,
    full_ranking_metrics,
    in_batch_logits,
    in_batch_softmax,
    model_item_index,
    pairwise_bpr,
    pairwise_hinge,
    pointwise_bce,
    sampled_softmax,
    train_two_tower,
)


@pytest.fixture(autouse=True)
def one_thread():
    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(previous)


# --- losses ------------------------------------------------------------------------------------------
def test_in_batch_logq_subtracts_log_p_of_each_column_and_nothing_else():
    logits = torch.tensor([[2.0, 0.5, -1.0], [0.3, 1.5, 0.2], [-0.4, 0.9, 3.0]])
    ids = torch.tensor([10, 11, 12])  # no two rows share an item: nothing is masked
    p = torch.tensor([0.5, 0.1, 0.02])
    corrected = in_batch_logits(logits, ids, torch.log(p))
    expected = logits - torch.log(p).unsqueeze(0)
    assert torch.allclose(corrected, expected)
    assert corrected[0, 2] - logits[0, 2] == pytest.approx(-math.log(0.02), abs=1e-6)  # rare column gains
    assert torch.equal(in_batch_logits(logits, ids, None), logits)  # without p̂ the logits are untouched
    loss = in_batch_softmax(logits, ids, torch.log(p))
    assert loss == pytest.approx(F.cross_entropy(expected, torch.arange(3)).item(), rel=1e-6)


def test_accidental_hits_are_masked_off_the_diagonal_only():
    logits = torch.randn(4, 4, requires_grad=True)
    ids = torch.tensor([3, 5, 3, 7])  # rows 0 and 2 have the same positive
    corrected = in_batch_logits(logits, ids, torch.zeros(4))
    minimum = torch.finfo(torch.float32).min
    assert corrected[0, 2] == minimum and corrected[2, 0] == minimum
    assert corrected[0, 0] == logits[0, 0] and corrected[2, 2] == logits[2, 2]
    unmasked = torch.ones(4, 4, dtype=torch.bool)
    unmasked[0, 2] = unmasked[2, 0] = False
    assert torch.equal(corrected[unmasked], logits[unmasked])
    loss = in_batch_softmax(logits, ids)
    loss.backward()
    assert logits.grad[0, 2] == 0 and logits.grad[2, 0] == 0  # a masked hit gets no gradient
    by_hand = torch.stack(
        [
            -torch.log_softmax(logits.detach()[row][unmasked[row]], 0)[
                int(torch.nonzero(torch.arange(4)[unmasked[row]] == row))
            ]
            for row in range(4)
        ]
    ).mean()
    assert loss.item() == pytest.approx(by_hand.item(), rel=1e-6)


def test_sampled_softmax_logq_is_subtracted_from_every_candidate():
    logits = torch.tensor([[1.0, 2.0, 0.0]])
    log_q = torch.log(torch.tensor([[2 * 0.1, 2 * 0.6, 2 * 0.3]]))
    corrected = logits - log_q
    assert sampled_softmax(logits, log_q).item() == pytest.approx(
        -torch.log_softmax(corrected, -1)[0, 0].item(), rel=1e-6
    )
    assert sampled_softmax(logits, log_q) < sampled_softmax(logits)  # the popular negative is discounted


def test_point_and_pair_losses_match_their_definitions():
    logits = torch.tensor([[2.0, -1.0, 0.5]])
    assert pointwise_bce(logits).item() == pytest.approx(
        (F.softplus(torch.tensor(-2.0)) + F.softplus(torch.tensor(-1.0)) + F.softplus(torch.tensor(0.5)))
        .div(3)
        .item()
    )
    assert pairwise_bpr(logits).item() == pytest.approx(
        (F.softplus(torch.tensor(-3.0)) + F.softplus(torch.tensor(-1.5))).div(2).item()
    )
    similarity = torch.tensor([[0.5, 0.45, 0.1]])
    assert pairwise_hinge(similarity, 0.2).item() == pytest.approx((0.15 + 0.0) / 2)


# --- the model ---------------------------------------------------------------------------------------
USERS = (SparseFeature("user_id", 12), SparseFeature("age", 4))
ITEMS = (SparseFeature("item_id", 30), SparseFeature("genre", 5))


def tiny_config(**overrides) -> TwoTowerConfig:
    values = {
        "architecture": "dssm",
        "user_features": USERS,
        "item_features": ITEMS,
        "embedding_dim": 8,
        "user_dims": (16, 8),
        "item_dims": (16, 8),
    }
    values.update(overrides)
    return TwoTowerConfig(**values)


def item_table() -> torch.Tensor:
    ids = torch.arange(30)
    return torch.stack([ids, torch.where(ids == 0, 0, 1 + ids % 4)], -1)


def test_temperature_divides_the_similarity():
    cold, warm = (TwoTowerModel(tiny_config(temperature=t)).eval() for t in (0.05, 1.0))
    user = torch.tensor([[1, 2], [3, 1]])
    history = torch.tensor([[4, 5, 0], [6, 0, 0]])
    items = item_table()[torch.tensor([[1, 2, 3], [4, 5, 6]])]
    with torch.no_grad():
        cold_logits, warm_logits = cold(user, history, items), warm(user, history, items)
        similarity = cold.similarity(cold.user_vectors(user, history), cold.item_vectors(items))
    assert torch.allclose(warm_logits, similarity)  # same seed, same weights: τ = 1 is the cosine
    assert torch.allclose(cold_logits, similarity / 0.05)
    assert similarity.abs().max() <= 1.0 + 1e-6  # cosine
    dot = TwoTowerModel(tiny_config(similarity="dot", temperature=0.5)).eval()
    with torch.no_grad():
        u, v = dot.user_vectors(user, history), dot.item_vectors(items)
        assert torch.allclose(dot(user, history, items), torch.einsum("bd,bkd->bk", u, v) / 0.5)


def test_temperature_changes_what_training_learns():
    samples, sampler = toy_samples()
    config = RecallTrainConfig(mode="list", negatives="random", epochs=1, batch_size=32)
    first = TwoTowerModel(tiny_config(temperature=0.05))
    second = TwoTowerModel(tiny_config(temperature=1.0))
    loss_cold = train_two_tower(first, samples, config, sampler=sampler)
    loss_warm = train_two_tower(second, samples, config, sampler=sampler)
    assert loss_cold != pytest.approx(loss_warm)
    assert not torch.allclose(first.item_tables["item_id"].weight, second.item_tables["item_id"].weight)


def test_history_padding_cannot_move_the_user_vector():
    model = TwoTowerModel(tiny_config()).eval()
    user = torch.tensor([[1, 2]])
    with torch.no_grad():
        short = model.user_vectors(user, torch.tensor([[4, 5]]))
        padded = model.user_vectors(user, torch.tensor([[4, 5, 0, 0, 0]]))
        other = model.user_vectors(user, torch.tensor([[4, 6]]))
    assert torch.allclose(short, padded, atol=1e-6)
    assert not torch.allclose(short, other)


def test_youtube_dnn_scores_against_the_item_id_table():
    config = tiny_config(architecture="youtube_dnn", user_dims=(16, 8))
    model = TwoTowerModel(config).eval()
    assert model.item_tower is None
    with torch.no_grad():
        vectors = model.item_vectors(item_table()[1:4])
        assert torch.allclose(vectors, F.normalize(model.item_tables["item_id"].weight[1:4], dim=-1))
    with pytest.raises(ValueError, match="embedding_dim"):
        tiny_config(architecture="youtube_dnn", user_dims=(16, 12))


def test_embedding_std_sets_the_spread_of_every_table_and_round_trips():
    default = TwoTowerModel(tiny_config())
    small_config = tiny_config(embedding_std=0.01)
    small = TwoTowerModel(small_config)
    assert TwoTowerConfig.from_dict(small_config.to_dict()) == small_config
    for tables in ("user_tables", "item_tables"):
        for name, table in getattr(small, tables).items():
            assert 0.003 < table.weight.std().item() < 0.03, name
            assert getattr(default, tables)[name].weight.std().item() > 0.5, name
    # the towers start from the same weights: only the embeddings' initialisation differs
    assert torch.equal(default.user_tower.layers[0].weight, small.user_tower.layers[0].weight)


def test_config_round_trips_and_the_model_file_loads_with_identical_scores(tmp_path):
    config = tiny_config(architecture="facebook_dssm", temperature=0.1)
    assert TwoTowerConfig.from_dict(config.to_dict()) == config
    model = TwoTowerModel(config)
    samples, sampler = toy_samples()
    train_two_tower(model, samples, default_recipe("facebook_dssm", epochs=1), sampler=sampler)
    save_model(model, tmp_path / "recall.safetensors", feature_schema_version=1)
    loaded = load_model(tmp_path / "recall.safetensors", feature_schema_version=1, expected_config=config)
    assert isinstance(loaded, TwoTowerModel)
    assert np.array_equal(encode_items(loaded, item_table()), encode_items(model, item_table()))


# --- the streaming frequency estimator ---------------------------------------------------------------
def test_streaming_estimator_converges_to_the_period_of_a_periodic_stream():
    estimator = StreamingFrequencyEstimator(100, alpha=0.05)
    for step in range(1, 2001):
        ids = [7] + ([9] if step % 4 == 0 else []) + ([11] if step % 10 == 0 else [])
        estimator.update(torch.tensor(ids + ids), step)  # a repeat within a step counts once
    p = estimator.probability(torch.tensor([7, 9, 11, 50]))
    assert p[0] == pytest.approx(1.0)
    assert p[1] == pytest.approx(0.25, rel=1e-3)
    assert p[2] == pytest.approx(0.1, rel=1e-3)
    assert p[3] == 1.0  # never seen: no correction yet


def test_streaming_estimator_converges_on_a_random_stream():
    generator = torch.Generator().manual_seed(0)
    truth = torch.tensor([0.6, 0.2, 0.05, 0.02])
    estimator = StreamingFrequencyEstimator(16, alpha=0.01)
    stream = torch.rand(8000, 4, generator=generator) < truth
    for step, present in enumerate(stream, start=1):
        estimator.update(torch.nonzero(present).squeeze(-1) + 1, step)
    estimate = estimator.probability(torch.tensor([1, 2, 3, 4]))
    assert torch.allclose(estimate, truth, rtol=0.2)
    assert torch.all(estimate[:-1] > estimate[1:])  # the order of the frequencies is right


def test_streaming_estimator_first_sighting_and_collisions():
    estimator = StreamingFrequencyEstimator(5, alpha=0.5)
    estimator.update(torch.tensor([2]), 4)
    assert estimator.probability(torch.tensor([2])).item() == pytest.approx(1 / 4)  # gap since step 0
    estimator.update(torch.tensor([2]), 6)
    assert estimator.probability(torch.tensor([2])).item() == pytest.approx(1 / (0.5 * 4 + 0.5 * 2))
    assert estimator.probability(torch.tensor([7])) == estimator.probability(torch.tensor([2]))  # 7 mod 5
    with pytest.raises(ValueError, match="before"):
        estimator.update(torch.tensor([1]), 5)


# --- negatives ---------------------------------------------------------------------------------------
def test_negatives_avoid_the_persons_positives_and_untrained_items():
    counts = torch.tensor([0, 5, 5, 5, 0, 5, 5, 100])  # items 4 (and 0, padding) never seen in training
    positives = torch.tensor([[0, 1], [0, 2], [1, 7]])
    sampler = NegativeSampler(counts, positives, power=0.0)
    generator = torch.Generator().manual_seed(0)
    drawn = sampler.sample(
        torch.tensor([0, 1] * 200), 5, generator=generator, positives=torch.tensor([3, 5] * 200)
    )
    person0, person1 = drawn[0::2], drawn[1::2]
    assert not torch.isin(person0, torch.tensor([0, 1, 2, 3, 4])).any()
    assert not torch.isin(person1, torch.tensor([0, 4, 5, 7])).any()
    assert set(person0.unique().tolist()) == {5, 6, 7}  # uniform over the rest: everything shows up


def test_popularity_negatives_follow_count_to_the_three_quarters():
    counts = torch.tensor([0, 1, 16, 81])
    sampler = NegativeSampler(counts, torch.zeros(0, 2, dtype=torch.long), power=0.75)
    expected = torch.tensor([1.0, 8.0, 27.0]) / 36.0
    assert torch.allclose(sampler.pool_probs.float(), expected)
    drawn = sampler.sample(
        torch.zeros(20000, dtype=torch.long), 1, generator=torch.Generator().manual_seed(1)
    )
    frequencies = torch.bincount(drawn.flatten(), minlength=4)[1:].float() / drawn.numel()
    assert torch.allclose(frequencies, expected, atol=0.015)
    assert sampler.log_expected_count(torch.tensor([3]), 4).item() == pytest.approx(math.log(4 * 27 / 36))


# --- the evaluator -----------------------------------------------------------------------------------
def test_evaluator_on_a_hand_built_case():
    # Items on a line of angles; inner products with user (1, 0) rank items 0 > 1 > 2 > 3 > 4.
    angles = np.array([0.0, 0.3, 0.6, 0.9, 1.2])
    items = np.stack([np.cos(angles), np.sin(angles)], 1) * np.array([[1.0], [3.0], [0.5], [2.0], [1.0]])
    users = np.array([[1.0, 0.0], [1.0, 0.0], [0.0, 1.0]])
    # person 0: item 2 is the target and item 0 was seen → ranking 1, 2, 3, 4: target at rank 2.
    # person 1: targets {3, 4}, nothing seen → ranking 0, 1, 2, 3, 4: targets at ranks 4 and 5.
    # person 2: no target → skipped.
    metrics = full_ranking_metrics(
        users,
        items,
        targets=[np.array([2]), np.array([3, 4]), np.array([], dtype=np.int64)],
        seen=[np.array([0]), np.array([], dtype=np.int64), np.array([1])],
        ks=(1, 2, 4),
        normalise=True,
    )
    assert metrics["users"] == 2
    assert metrics["hit@1"] == 0.0
    assert metrics["hit@2"] == pytest.approx(0.5)
    assert metrics["hit@4"] == pytest.approx(1.0)
    assert metrics["recall@4"] == pytest.approx((1 + 0.5) / 2)
    assert metrics["ndcg@2"] == pytest.approx((1 / math.log2(3)) / 2)
    ideal_two = 1 + 1 / math.log2(3)
    assert metrics["ndcg@4"] == pytest.approx((1 / math.log2(3) + (1 / math.log2(5)) / ideal_two) / 2)
    # Without normalising, inner products follow the lengths: item 1 (length 3) comes first.
    raw = full_ranking_metrics(
        users[:1],
        items,
        targets=[np.array([1])],
        seen=[np.array([], dtype=np.int64)],
        ks=(1,),
        normalise=False,
    )
    assert raw["hit@1"] == 1.0 and raw["ndcg@1"] == 1.0


def test_evaluator_counts_ties_half_instead_of_trusting_the_index_order():
    items = np.ones((10, 3))  # a degenerate model: every item scores the same
    users = np.ones((2, 3))
    metrics = full_ranking_metrics(
        users,
        items,
        targets=[np.array([0]), np.array([9])],
        seen=[np.array([5]), np.array([], dtype=np.int64)],
        ks=(1, 5, 6),
        normalise=True,
    )
    # person 0: 8 other unseen items tie with the target → rank 1 + 8/2 = 5; person 1: 1 + 9/2 = 5.5
    assert metrics["hit@1"] == 0.0
    assert metrics["hit@5"] == pytest.approx(0.5)
    assert metrics["hit@6"] == 1.0
    assert metrics["ndcg@6"] == pytest.approx((1 / math.log2(6) + 1 / math.log2(6.5)) / 2)


def test_a_capped_search_depth_gives_the_same_metrics_when_deep_enough():
    rng = np.random.default_rng(3)
    users, items = rng.normal(size=(30, 4)), rng.normal(size=(300, 4))
    seen = [rng.choice(300, size=10, replace=False) for _ in range(30)]
    targets = [rng.choice(np.setdiff1d(np.arange(300), s), size=2, replace=False) for s in seen]
    exhaustive = full_ranking_metrics(users, items, targets, seen, ks=(5, 20), normalise=True)
    capped = full_ranking_metrics(users, items, targets, seen, ks=(5, 20), normalise=True, depth=30)
    assert capped == pytest.approx(exhaustive)


def test_evaluator_matches_a_brute_force_ranking():
    rng = np.random.default_rng(0)
    users = rng.normal(size=(40, 6)).astype(np.float32)
    items = rng.normal(size=(200, 6)).astype(np.float32)
    seen = [rng.choice(200, size=rng.integers(0, 30), replace=False) for _ in range(40)]
    targets = [rng.choice(np.setdiff1d(np.arange(200), s), size=1) for s in seen]
    metrics = full_ranking_metrics(users, items, targets, seen, ks=(10, 50), normalise=False)
    scores = users @ items.T
    hits10, ndcg50 = [], []
    for u in range(40):
        scores[u, seen[u]] = -np.inf
        rank = int((scores[u] > scores[u, targets[u][0]]).sum()) + 1
        hits10.append(rank <= 10)
        ndcg50.append(1 / np.log2(rank + 1) if rank <= 50 else 0.0)
    assert metrics["hit@10"] == pytest.approx(np.mean(hits10))
    assert metrics["recall@10"] == pytest.approx(np.mean(hits10))
    assert metrics["ndcg@50"] == pytest.approx(np.mean(ndcg50), rel=1e-5)


# --- training ----------------------------------------------------------------------------------------
def toy_samples(n_people: int = 12, per_person: int = 12, seed: int = 0):
    """Person p likes the items of genre 1 + p % 4 (items 1–29, genre 1 + id % 4); histories are the
    person's earlier positives."""
    rng = np.random.default_rng(seed)
    person, user, history, items = [], [], [], []
    for p in range(1, n_people):
        liked = [i for i in range(1, 30) if 1 + i % 4 == 1 + p % 4]
        chosen = rng.choice(liked, size=per_person)
        for position, item in enumerate(chosen):
            earlier = list(chosen[max(0, position - 5) : position])
            person.append(p)
            user.append([p, 1 + p % 3])
            history.append(earlier + [0] * (5 - len(earlier)))
            items.append(item)
    samples = RecallSamples(
        person=torch.tensor(person),
        user=torch.tensor(user),
        history=torch.tensor(history),
        items=torch.tensor(items),
        item_features=item_table(),
    )
    counts = torch.bincount(samples.items, minlength=30)
    pairs = torch.stack([samples.person, samples.items], -1)
    return samples, NegativeSampler(counts, pairs, power=0.0)


@pytest.mark.parametrize(
    ("architecture", "overrides"),
    [
        ("dssm", {"mode": "point"}),
        ("dssm", {"mode": "pair"}),
        ("dssm", {"mode": "list"}),
        ("youtube_dnn", {}),
        ("youtube_sbc", {}),
        ("facebook_dssm", {}),
    ],
)
def test_every_mode_learns_the_toy_preferences_and_repeats_with_its_seed(architecture, overrides):
    samples, sampler = toy_samples()
    extra = {"user_dims": (16, 8)} if architecture == "youtube_dnn" else {}
    config = default_recipe(architecture, epochs=12, batch_size=32, learning_rate=0.01, **overrides)
    model = TwoTowerModel(tiny_config(architecture=architecture, temperature=0.2, **extra))
    losses = train_two_tower(model, samples, config, sampler=sampler)
    assert losses[-1] < losses[0]
    again = TwoTowerModel(tiny_config(architecture=architecture, temperature=0.2, **extra))
    assert train_two_tower(again, samples, config, sampler=sampler) == losses
    # Each person's top 7 of the 29 items should be mostly of their genre (7 of 29 is the chance rate).
    people = torch.arange(1, 12)
    user_vectors = encode_users(
        model, torch.stack([people, 1 + people % 3], -1), torch.zeros(11, 1, dtype=torch.long)
    )
    scores = user_vectors @ encode_items(model, item_table()[1:]).T
    top = np.argsort(-scores, axis=1)[:, :7] + 1
    precision = np.mean([(1 + top[row] % 4 == 1 + int(people[row]) % 4).mean() for row in range(11)])
    assert precision > 0.6
    index = model_item_index(model, item_table()[1:])
    assert index.ntotal == 29


def test_negatives_are_redrawn_every_epoch():
    samples, sampler = toy_samples()
    drawn: list[torch.Tensor] = []

    class RecordingSampler(NegativeSampler):
        def sample(self, *args, **kwargs):
            result = super().sample(*args, **kwargs)
            drawn.append(result.clone())
            return result

    recording = RecordingSampler(
        torch.bincount(samples.items, minlength=30), torch.stack([samples.person, samples.items], -1)
    )
    train_two_tower(TwoTowerModel(tiny_config()), samples, RecallTrainConfig(epochs=3), sampler=recording)
    assert len(drawn) == 3
    assert not torch.equal(drawn[0], drawn[1]) and not torch.equal(drawn[1], drawn[2])
    del sampler


def test_in_batch_training_masks_duplicates_and_uses_streaming_logq():
    samples, _ = toy_samples()
    config = RecallTrainConfig(mode="list", negatives="in_batch", epochs=2, batch_size=64)
    with_logq = TwoTowerModel(tiny_config(architecture="youtube_sbc"))
    without = TwoTowerModel(tiny_config(architecture="youtube_sbc"))
    first = train_two_tower(with_logq, samples, config)
    second = train_two_tower(
        without, samples, RecallTrainConfig(**{**config.to_dict(), "logq_correction": False})
    )
    assert all(math.isfinite(loss) for loss in first + second)
    assert first != second  # the correction reaches the loss
    with pytest.raises(ValueError, match="list"):
        RecallTrainConfig(mode="pair", negatives="in_batch")
