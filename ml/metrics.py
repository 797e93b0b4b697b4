"""Ranking-quality metrics for binary labels: AUC and GAUC, in numpy, tie-aware.

AUC is the Mann–Whitney statistic: the probability that a random positive outscores a random negative, a tie
counting one half. With midranks r (tied scores share the mean of the ranks they span),

    AUC = (Σ_{positives} r − n⁺(n⁺ + 1)/2) / (n⁺ · n⁻).

GAUC (DIN §6.1) is the per-user AUC averaged with each user's impression count as weight,
Σ_u n_u·AUC_u / Σ_u n_u, over the users who have both a positive and a negative: a single-class user has no
AUC and is skipped (counting them as 0.5 or 1 would reward or punish the model for nothing).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike


@dataclass(frozen=True)
class GroupAUC:
    """Per group (sorted group keys): AUC (NaN for a single-class group), positives and negatives."""

    groups: np.ndarray
    auc: np.ndarray
    positives: np.ndarray
    negatives: np.ndarray


def _binary_labels(labels: ArrayLike) -> np.ndarray:
    values = np.asarray(labels).reshape(-1)
    if not np.isin(values, (0, 1)).all():
        raise ValueError("labels must be 0 or 1")
    return values.astype(bool)


def group_auc(labels: ArrayLike, scores: ArrayLike, groups: ArrayLike) -> GroupAUC:
    """The tie-aware AUC of every group at once (one sort, no Python loop over groups)."""
    y = _binary_labels(labels)
    s = np.asarray(scores, dtype=np.float64).reshape(-1)
    keys, g = np.unique(np.asarray(groups).reshape(-1), return_inverse=True)
    if not (y.shape == s.shape == g.shape):
        raise ValueError(f"labels, scores and groups differ in length: {y.shape}, {s.shape}, {g.shape}")
    if np.isnan(s).any():
        raise ValueError("scores contain NaN")
    order = np.lexsort((s, g))  # by group, then by score
    y, s, g = y[order], s[order], g[order]
    n = s.shape[0]
    # A run of equal (group, score) pairs is one tie block; its members share their midrank.
    starts_block = np.ones(n, dtype=bool)
    starts_block[1:] = (g[1:] != g[:-1]) | (s[1:] != s[:-1])
    block = np.cumsum(starts_block) - 1
    block_start = np.flatnonzero(starts_block)
    block_size = np.bincount(block)
    group_start = np.searchsorted(g, np.arange(keys.shape[0]))  # first sorted index of each group
    # 1-based rank within the group of the block's first member, then the mean over the block.
    midrank = (block_start - group_start[g[block_start]] + 1) + (block_size - 1) / 2.0
    ranks = midrank[block]
    count = np.bincount(g, minlength=keys.shape[0]).astype(np.float64)
    positives = np.bincount(g, weights=y.astype(np.float64), minlength=keys.shape[0])
    negatives = count - positives
    positive_ranks = np.bincount(g, weights=ranks * y, minlength=keys.shape[0])
    with np.errstate(invalid="ignore", divide="ignore"):
        auc = (positive_ranks - positives * (positives + 1) / 2.0) / (positives * negatives)
    auc[(positives == 0) | (negatives == 0)] = np.nan
    return GroupAUC(keys, auc, positives.astype(np.int64), negatives.astype(np.int64))


def auc(labels: ArrayLike, scores: ArrayLike) -> float:
    """Tie-aware ROC AUC of scores against 0/1 labels; ValueError when only one class is present."""
    y = _binary_labels(labels)
    result = group_auc(y, scores, np.zeros(y.shape[0], dtype=np.int64))
    if result.auc.size == 0 or np.isnan(result.auc[0]):
        raise ValueError("AUC needs at least one positive and one negative")
    return float(result.auc[0])


def gauc(labels: ArrayLike, scores: ArrayLike, users: ArrayLike) -> float:
    """Impression-weighted mean of per-user AUC over users with both classes; ValueError if there are none."""
    result = group_auc(labels, scores, users)
    valid = ~np.isnan(result.auc)
    if not valid.any():
        raise ValueError("GAUC needs at least one user with both a positive and a negative")
    impressions = (result.positives + result.negatives)[valid].astype(np.float64)
    return float((result.auc[valid] * impressions).sum() / impressions.sum())
