"""ml.sampling: negatives by training-period frequency rank, p(k) = (log(k+2) − log(k+1)) / log(D+1)."""

from __future__ import annotations

import math

import pytest
import torch

from ml.sampling import FrequencyRankSampler, rank_probabilities

#: χ² critical value at p = 0.001 for 19 degrees of freedom (20 items); a correct sampler exceeds it
#: one time in a thousand, and the generator is seeded, so the test is deterministic anyway.
CHI2_19_DF_P001 = 43.82


@pytest.fixture(autouse=True)
def few_threads():
    previous = torch.get_num_threads()
    torch.set_num_threads(2)
    yield
    torch.set_num_threads(previous)


def _counts() -> torch.Tensor:
    """Ids 1…20 seen in training with counts in scrambled order (rank ≠ id); id 0 padding; 21, 22 unseen."""
    generator = torch.Generator().manual_seed(3)
    counts = torch.zeros(23)
    counts[1:21] = (torch.randperm(20, generator=generator) + 1).to(torch.float32) * 7
    return counts


def _chi_square(observed: torch.Tensor, expected_probs: torch.Tensor) -> float:
    expected = expected_probs * observed.sum()
    return float(((observed - expected) ** 2 / expected).sum())


def test_rank_probabilities_follow_the_formula_and_sum_to_one():
    probs = rank_probabilities(20)
    for k in (0, 1, 7, 19):
        assert math.isclose(
            float(probs[k]), (math.log(k + 2) - math.log(k + 1)) / math.log(21), rel_tol=1e-12
        )
    assert math.isclose(float(probs.sum()), 1.0, rel_tol=1e-12)
    assert torch.all(probs[:-1] > probs[1:])


def test_ranks_come_from_counts_not_ids_and_ties_break_by_id():
    counts = torch.tensor([0.0, 5.0, 50.0, 5.0, 1.0])
    sampler = FrequencyRankSampler(counts)
    assert sampler.rank_to_item.tolist() == [2, 1, 3, 4]
    assert float(sampler.item_probs[2]) == pytest.approx(float(rank_probabilities(4)[0]))
    assert float(sampler.item_probs[0]) == 0.0


def test_empirical_frequencies_match_p_of_rank():
    sampler = FrequencyRankSampler(_counts())
    generator = torch.Generator().manual_seed(0)
    # Positive id 21 is outside the pool, so nothing is excluded and the draws should follow p(k) itself.
    draws = sampler.sample(torch.full((2000,), 21), 50, generator=generator).flatten()
    observed = torch.bincount(draws, minlength=23)[sampler.rank_to_item].to(torch.float64)
    assert _chi_square(observed, sampler.rank_probs) < CHI2_19_DF_P001
    # A sampler by raw count (or uniform) would fail the same test by a wide margin.
    by_count = _counts()[sampler.rank_to_item].to(torch.float64)
    assert _chi_square(observed, by_count / by_count.sum()) > 100 * CHI2_19_DF_P001


def test_excluding_the_positive_resamples_from_the_conditional_distribution():
    sampler = FrequencyRankSampler(_counts())
    top = int(sampler.rank_to_item[0])
    generator = torch.Generator().manual_seed(1)
    draws = sampler.sample(torch.full((2000,), top), 50, generator=generator).flatten()
    assert not bool((draws == top).any())
    observed = torch.bincount(draws, minlength=23)[sampler.rank_to_item[1:]].to(torch.float64)
    conditional = sampler.rank_probs[1:] / (1 - sampler.rank_probs[0])
    # 19 items left: 18 degrees of freedom, whose 0.001 critical value is below 19 df's.
    assert _chi_square(observed, conditional) < CHI2_19_DF_P001


def test_never_the_positive_never_padding_never_an_unseen_item():
    sampler = FrequencyRankSampler(_counts())
    generator = torch.Generator().manual_seed(2)
    positives = torch.randint(1, 21, (5000,), generator=generator)
    negatives = sampler.sample(positives, 10, generator=generator)
    assert negatives.shape == (5000, 10)
    assert not bool((negatives == positives.unsqueeze(1)).any())
    assert bool(((negatives >= 1) & (negatives <= 20)).all())


def test_same_generator_seed_same_sample():
    sampler = FrequencyRankSampler(_counts())
    positives = torch.arange(1, 21)
    first = sampler.sample(positives, 10, generator=torch.Generator().manual_seed(9))
    second = sampler.sample(positives, 10, generator=torch.Generator().manual_seed(9))
    assert torch.equal(first, second)


def test_a_pool_of_one_item_is_refused():
    with pytest.raises(ValueError, match="at least two items"):
        FrequencyRankSampler(torch.tensor([0.0, 4.0, 0.0]))


def test_log_expected_count_is_finite_for_items_outside_the_pool():
    sampler = FrequencyRankSampler(_counts())
    corrections = sampler.log_expected_count(torch.tensor([int(sampler.rank_to_item[0]), 21, 0]), 10)
    assert torch.isfinite(corrections).all()
    assert float(corrections[0]) == pytest.approx(math.log(10 * float(sampler.rank_probs[0])), rel=1e-5)
