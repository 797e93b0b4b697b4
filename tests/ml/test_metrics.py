"""ml.metrics: tie-aware AUC and impression-weighted GAUC on hand-computed cases."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from ml.metrics import auc, gauc, group_auc


def pairwise_auc(labels, scores):
    """The definition: the share of (positive, negative) pairs ordered right, ties counting one half."""
    pos = [s for y, s in zip(labels, scores, strict=True) if y == 1]
    neg = [s for y, s in zip(labels, scores, strict=True) if y == 0]
    wins = sum(1.0 if p > n else 0.5 if p == n else 0.0 for p, n in itertools.product(pos, neg))
    return wins / (len(pos) * len(neg))


def test_auc_counts_a_tie_as_one_half():
    # Pairs (positive, negative): .9>.1, .9>.5, .5>.1 win; .5 = .5 ties → 3.5 / 4.
    assert auc([1, 0, 1, 0], [0.9, 0.1, 0.5, 0.5]) == pytest.approx(0.875)


def test_auc_extremes_and_all_tied():
    assert auc([0, 0, 1, 1], [0.1, 0.2, 0.3, 0.4]) == 1.0
    assert auc([1, 1, 0, 0], [0.1, 0.2, 0.3, 0.4]) == 0.0
    assert auc([1, 0, 1, 0, 0], [0.3] * 5) == 0.5


def test_auc_matches_the_pairwise_definition_with_many_ties():
    rng = np.random.default_rng(0)
    for _ in range(20):
        labels = rng.integers(0, 2, size=40)
        labels[:2] = (0, 1)
        scores = rng.integers(0, 6, size=40) / 5.0  # six distinct values: ties everywhere
        assert auc(labels, scores) == pytest.approx(pairwise_auc(labels, scores))


def test_auc_needs_both_classes_and_binary_labels():
    with pytest.raises(ValueError, match="positive and one negative"):
        auc([1, 1, 1], [0.1, 0.2, 0.3])
    with pytest.raises(ValueError, match="0 or 1"):
        auc([1, 2, 0], [0.1, 0.2, 0.3])


def test_gauc_weights_by_impressions_and_skips_single_class_users():
    # user 7: labels 1,0,0 at .5,.5,.1 → (0.5 + 1) / 2 = 0.75 over 3 impressions.
    # user 3: labels 0,1 at .9,.2 → 0.0 over 2 impressions.
    # user 5: only positives, 4 impressions: no AUC, must not count (with it the mean would move).
    users = [7, 3, 5, 7, 5, 3, 5, 7, 5]
    labels = [1, 0, 1, 0, 1, 1, 1, 0, 1]
    scores = [0.5, 0.9, 0.2, 0.5, 0.4, 0.2, 0.9, 0.1, 0.3]
    assert gauc(labels, scores, users) == pytest.approx((3 * 0.75 + 2 * 0.0) / 5)
    per_user = group_auc(labels, scores, users)
    assert per_user.groups.tolist() == [3, 5, 7]
    assert per_user.auc[0] == 0.0 and np.isnan(per_user.auc[1]) and per_user.auc[2] == 0.75
    assert per_user.positives.tolist() == [1, 4, 1] and per_user.negatives.tolist() == [1, 0, 2]


def test_gauc_equals_the_per_user_loop_on_random_data():
    rng = np.random.default_rng(1)
    users = rng.integers(0, 12, size=300)
    labels = rng.integers(0, 2, size=300)
    scores = rng.integers(0, 8, size=300).astype(float)
    total, weight = 0.0, 0
    for user in np.unique(users):
        rows = users == user
        if labels[rows].min() != labels[rows].max():
            total += rows.sum() * pairwise_auc(labels[rows], scores[rows])
            weight += rows.sum()
    assert gauc(labels, scores, users) == pytest.approx(total / weight)


def test_gauc_without_any_two_class_user_is_an_error():
    with pytest.raises(ValueError, match="both a positive and a negative"):
        gauc([1, 0, 1], [0.1, 0.2, 0.3], ["a", "b", "c"])
