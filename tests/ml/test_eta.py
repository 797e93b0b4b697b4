"""ml.ranking.eta: popcount, SimHash signatures, Hamming top-k retrieval and the ETA model's variants."""

from __future__ import annotations

import pytest
import torch

from ml.ranking.din import SparseFeature
from ml.ranking.eta import ETA, ETAConfig, hamming_distance, pack_bits, popcount64, retrieve_top_k

ITEMS = (SparseFeature("item", 60), SparseFeature("category", 5))


@pytest.fixture(autouse=True)
def one_thread():
    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(previous)


def tiny_config(**overrides) -> ETAConfig:
    values = {
        "item_features": ITEMS,
        "embedding_dim": 4,
        "attention_dims": (8, 4),
        "output_dims": (8,),
        "hash_bits": 70,  # two words, the second one partly used
        "top_k": 3,
    }
    values.update(overrides)
    return ETAConfig(**values)


def random_items(shape, generator):
    return torch.stack(
        [torch.randint(1, 60, shape, generator=generator), torch.randint(1, 5, shape, generator=generator)],
        -1,
    )


def make_batch(batch=5, short=4, long=12, seed=0):
    generator = torch.Generator().manual_seed(seed)
    target = random_items((batch,), generator)
    short_history, long_history = (
        random_items((batch, short), generator),
        random_items((batch, long), generator),
    )
    long_lengths = torch.tensor([0, 2, 5, long, 8])[:batch]
    short_lengths = torch.tensor([1, 0, 4, 2, 3])[:batch]
    long_mask = torch.arange(long) < long_lengths.unsqueeze(1)
    short_mask = torch.arange(short) < short_lengths.unsqueeze(1)
    long_history[~long_mask] = 0
    short_history[~short_mask] = 0
    return target, short_history, long_history, short_mask, long_mask


def test_popcount_matches_python_on_random_int64_including_negatives():
    generator = torch.Generator().manual_seed(0)
    words = torch.randint(-(2**63), 2**63 - 1, (4000,), dtype=torch.int64, generator=generator)
    extremes = torch.tensor([0, -1, 1, -(2**63), 2**63 - 1, -2, 2**62, -(2**62)], dtype=torch.int64)
    words = torch.cat([extremes, words, words >> 40])  # sparse and dense bit patterns
    counts = popcount64(words)
    expected = [(int(word) & (2**64 - 1)).bit_count() for word in words]
    assert counts.tolist() == expected
    assert counts.dtype == torch.int64


def test_pack_bits_puts_bit_j_in_word_j_over_64():
    generator = torch.Generator().manual_seed(1)
    bits = torch.rand(20, 130, generator=generator) < 0.5
    words = pack_bits(bits)
    assert words.shape == (20, 3)
    for row in range(20):
        for w in range(3):
            expected = sum(1 << j for j in range(64) if w * 64 + j < 130 and bits[row, w * 64 + j])
            assert int(words[row, w]) & (2**64 - 1) == expected


def test_hamming_distance_counts_differing_bits():
    generator = torch.Generator().manual_seed(2)
    query, keys = (
        torch.rand(4, 100, generator=generator) < 0.5,
        torch.rand(4, 9, 100, generator=generator) < 0.5,
    )
    distance = hamming_distance(pack_bits(query), pack_bits(keys))
    assert torch.equal(distance, (keys != query.unsqueeze(1)).sum(-1))


def test_simhash_gives_closer_vectors_a_smaller_hamming_distance_on_average():
    model = ETA(tiny_config(hash_bits=256))
    generator = torch.Generator().manual_seed(3)
    query = torch.randn(200, 8, generator=generator)
    near = query + 0.2 * torch.randn(200, 8, generator=generator)
    middle = query + 1.0 * torch.randn(200, 8, generator=generator)
    far = torch.randn(200, 8, generator=generator)
    signature = model.signatures(query)
    distances = [
        hamming_distance(signature, model.signatures(keys).unsqueeze(1)).float().mean()
        for keys in (near, middle, far)
    ]
    assert distances[0] < distances[1] < distances[2]
    # Charikar: E[Hamming] = m·θ/π; unrelated vectors sit near m/2.
    assert abs(float(distances[2]) - 128) < 10
    assert torch.equal(model.signatures(query), model.signatures(query * 3.0))  # direction only


def test_the_projection_is_a_fixed_seeded_buffer():
    first, second = ETA(tiny_config(hash_seed=7, seed=1)), ETA(tiny_config(hash_seed=7, seed=2))
    assert "projection" in dict(first.named_buffers())
    assert "projection" not in dict(first.named_parameters())
    assert torch.equal(first.projection, second.projection)
    assert not torch.equal(first.projection, ETA(tiny_config(hash_seed=8)).projection)


def test_top_k_never_returns_padding_while_real_items_remain():
    generator = torch.Generator().manual_seed(4)
    for _ in range(50):
        cost = torch.randint(0, 5, (6, 10), generator=generator)
        mask = torch.rand(6, 10, generator=generator) < 0.4
        cost[~mask] = 0  # padding looks nearest of all: it must still come last
        indices, taken = retrieve_top_k(cost, mask, 4)
        real = mask.sum(1)
        assert torch.equal(taken.sum(1), real.clamp_max(4))
        assert torch.equal(torch.gather(mask, 1, indices), taken)
        assert torch.all(taken[:, :-1] >= taken[:, 1:])  # real ones first
        for row in range(6):
            chosen = cost[row, indices[row][taken[row]]]
            rest = cost[row][mask[row]].sort().values
            assert torch.equal(chosen.sort().values, rest[: len(chosen)])  # the k smallest real costs


def test_top_k_breaks_ties_toward_recent_items():
    indices, taken = retrieve_top_k(torch.tensor([[1, 0, 1, 0, 1]]), torch.ones(1, 5, dtype=torch.bool), 3)
    assert indices.tolist() == [[3, 1, 4]] and taken.all()


@pytest.mark.parametrize("training", [False, True])
def test_eta_with_k_at_least_the_length_equals_full_attention(training):
    batch = make_batch()
    eta = ETA(tiny_config(long_mode="eta", top_k=50)).train(training)
    full = ETA(tiny_config(long_mode="full")).train(training)
    with torch.no_grad():
        assert torch.allclose(eta(*batch), full(*batch), atol=1e-5)
        small_k = ETA(tiny_config(long_mode="eta", top_k=2)).train(training)(*batch)
    assert not torch.allclose(small_k, full(*batch), atol=1e-5)  # retrieval does select


@pytest.mark.parametrize("mode", ["eta", "full", "sim_hard", "avg"])
def test_padded_positions_cannot_change_a_score(mode):
    model = ETA(tiny_config(long_mode=mode)).eval()
    target, short_history, long_history, short_mask, long_mask = make_batch()
    generator = torch.Generator().manual_seed(9)
    short_noise = torch.where(
        short_mask.unsqueeze(-1), short_history, random_items(short_mask.shape, generator)
    )
    long_noise = torch.where(long_mask.unsqueeze(-1), long_history, random_items(long_mask.shape, generator))
    with torch.no_grad():
        reference = model(target, short_history, long_history, short_mask, long_mask)
        scrambled = model(target, short_noise, long_noise, short_mask, long_mask)
        declared_real = model(target, short_noise, long_noise, short_mask, torch.ones_like(long_mask))
    assert torch.equal(reference, scrambled)
    if mode != "sim_hard":  # counter-check; same-category filtering may drop every scrambled slot
        assert not torch.allclose(reference, declared_real)


def test_precomputed_signatures_and_a_shared_history_give_the_same_scores():
    model = ETA(tiny_config()).eval()
    target, short_history, long_history, short_mask, long_mask = make_batch()
    with torch.no_grad():
        reference = model(target, short_history, long_history, short_mask, long_mask)
        cached = model.item_signatures(long_history)
        assert cached.shape == (5, 12, model.signature_words) and cached.dtype == torch.int64
        precomputed = model(
            target, short_history, long_history, short_mask, long_mask, long_signatures=cached
        )
        assert torch.equal(reference, precomputed)
        # Serving: many candidates against one person's long history, embedded and hashed once.
        person = long_history[3:4]
        shared = model(target, short_history, person, short_mask, long_mask[3:4])
        repeated = model(
            target, short_history, person.expand(5, -1, -1), short_mask, long_mask[3:4].expand(5, -1)
        )
    assert torch.allclose(shared, repeated, atol=1e-6)


def test_sim_hard_attends_only_to_the_targets_category():
    model = ETA(tiny_config(long_mode="sim_hard", top_k=20)).eval()
    target, short_history, long_history, short_mask, long_mask = make_batch()
    other = long_history[..., 1] != target[:, 1].unsqueeze(1)
    changed = long_history.clone()
    changed[..., 0] = torch.where(other & long_mask, (changed[..., 0] % 59) + 1, changed[..., 0])
    with torch.no_grad():
        reference = model(target, short_history, long_history, short_mask, long_mask)
        assert torch.equal(reference, model(target, short_history, changed, short_mask, long_mask))
        same = ~other & long_mask
        changed_same = long_history.clone()
        changed_same[..., 0] = torch.where(same, (changed_same[..., 0] % 59) + 1, changed_same[..., 0])
        moved = model(target, short_history, changed_same, short_mask, long_mask)
    assert not torch.allclose(reference[same.any(1)], moved[same.any(1)])


def test_eta_trains_end_to_end_and_the_short_and_long_units_are_separate():
    model = ETA(tiny_config())
    assert model.short_attention is not model.long_attention
    batch = make_batch()
    labels = torch.tensor([1.0, 0.0, 1.0, 0.0, 1.0])
    optimiser = torch.optim.Adam(model.parameters(), lr=0.01)
    first = None
    for _ in range(30):
        loss = torch.nn.functional.binary_cross_entropy_with_logits(model(*batch), labels)
        optimiser.zero_grad()
        loss.backward()
        assert model.long_attention.unit.layers[0].weight.grad.abs().sum() > 0
        optimiser.step()
        first = loss.item() if first is None else first
    assert loss.item() < 0.5 * first
