"""Deterministic k-means over seed embeddings: RALM's seed clustering.

A seed set of n people becomes k ≤ n centroids, each weighted by how many seeds it stands for, so that
scoring a target costs O(k) instead of O(n). The weights matter: the local attention adds log(weight) to a
centroid's logit, so a centroid of 40 seeds counts like 40 seeds (see `ml.ralm.lookalike`).

k-means++ seeding and Lloyd iterations, all random choices drawn from a seeded torch.Generator, so the same
seeds and `seed` always give the same clusters. The returned centroids are exactly the (weighted) means of
the members the returned assignment gives them, and no cluster is ever empty: a cluster that empties
during the iterations is re-seeded with the point farthest from its centroid.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor


@dataclass(frozen=True)
class KMeansResult:
    """centroids: (k, d); weights: (k,) cluster sizes (sums of point weights; Σ = n, or Σ point weights);
    assignment: (n,) int64 cluster index of every point."""

    centroids: Tensor
    weights: Tensor
    assignment: Tensor


def _squared_distances(points: Tensor, centroids: Tensor) -> Tensor:
    """(n, d), (k, d) → (n, k) squared Euclidean distances, computed without the ‖a‖²−2ab+‖b‖² shortcut
    so that a point's distance to itself is exactly 0 (duplicates must land in one cluster)."""
    return torch.cdist(points, centroids, compute_mode="donot_use_mm_for_euclid_dist").pow(2)


def _means(points: Tensor, point_weights: Tensor, assignment: Tensor, k: int) -> tuple[Tensor, Tensor]:
    """Weighted means and total weights per cluster: (k, d), (k,)."""
    sizes = torch.zeros(k, dtype=points.dtype).index_add_(0, assignment, point_weights)
    sums = torch.zeros(k, points.shape[1], dtype=points.dtype)
    sums.index_add_(0, assignment, points * point_weights.unsqueeze(1))
    return sums / sizes.clamp_min(torch.finfo(points.dtype).tiny).unsqueeze(1), sizes


def kmeans(
    points: Tensor,
    k: int,
    *,
    seed: int = 0,
    max_iterations: int = 50,
    point_weights: Tensor | None = None,
) -> KMeansResult:
    """Cluster points: (n, d) into min(k, distinct points) clusters.

    point_weights: optional (n,) positive weights (a point standing for several people); default all 1.
    k > n gives k = n (every seed its own centroid, weight 1). Fewer distinct points than k (duplicated
    seeds) lowers k to the number of distinct points, since more clusters would have to be empty.
    """
    if points.ndim != 2 or points.shape[0] == 0:
        raise ValueError(f"kmeans needs a non-empty (n, d) tensor, got shape {tuple(points.shape)}")
    if k < 1:
        raise ValueError("k must be ≥ 1")
    points = points.detach()
    n = points.shape[0]
    if point_weights is None:
        point_weights = torch.ones(n, dtype=points.dtype)
    point_weights = point_weights.detach().to(points.dtype)
    distinct = int(torch.unique(points, dim=0).shape[0])
    if k >= n and distinct == n:
        # Every point its own cluster: what Lloyd's iterations would end at, without running them.
        return KMeansResult(points.clone(), point_weights.clone(), torch.arange(n))
    k = min(k, n, distinct)
    generator = torch.Generator().manual_seed(seed)

    # k-means++: the first centre by weight, each next one with probability ∝ weight · D² to the nearest.
    first = int(torch.multinomial(point_weights, 1, generator=generator))
    chosen = [first]
    nearest = _squared_distances(points, points[first : first + 1]).squeeze(1)
    for _ in range(1, k):
        scores = point_weights * nearest
        # Only points at distance > 0 may be chosen, so duplicates never become two centres.
        following = int(torch.multinomial(scores, 1, generator=generator))
        chosen.append(following)
        nearest = torch.minimum(
            nearest, _squared_distances(points, points[following : following + 1]).squeeze(1)
        )
    centroids = points[chosen].clone()

    assignment = _squared_distances(points, centroids).argmin(dim=1)
    for _ in range(max_iterations):
        centroids, sizes = _means(points, point_weights, assignment, k)
        empty = torch.nonzero(sizes == 0, as_tuple=True)[0]
        if empty.numel() > 0:
            # Re-seed each empty cluster with the point currently farthest from its own centroid.
            distances = (points - centroids[assignment]).pow(2).sum(dim=1)
            farthest = torch.argsort(distances, descending=True, stable=True)[: empty.numel()]
            centroids[empty] = points[farthest]
        updated = _squared_distances(points, centroids).argmin(dim=1)
        if empty.numel() == 0 and torch.equal(updated, assignment):
            break
        assignment = updated
    centroids, sizes = _means(points, point_weights, assignment, k)
    if bool((sizes == 0).any()):
        # Possible only if the iteration cap hit right after a re-seed; drop the empty clusters.
        keep = sizes > 0
        remap = torch.cumsum(keep.to(torch.int64), 0) - 1
        return KMeansResult(centroids[keep], sizes[keep], remap[assignment])
    return KMeansResult(centroids, sizes, assignment)


def cluster_means(vectors: Tensor, assignment: Tensor, mask: Tensor, k: int) -> tuple[Tensor, Tensor]:
    """Differentiable centroids under a fixed assignment, batched over seed sets.

    vectors: (B, S, d); assignment: (B, S) int64 in [0, k) (ignored where mask is False); mask: (B, S) bool.
    Returns (centroids (B, k, d), sizes (B, k)); a cluster index a set does not use has size 0 and a zero
    centroid, which the attention masks through its zero weight.
    """
    members = torch.nn.functional.one_hot(assignment.clamp(0, k - 1), k).to(vectors.dtype)
    members = members * mask.unsqueeze(-1).to(vectors.dtype)  # (B, S, k)
    sizes = members.sum(dim=1)
    sums = torch.einsum("bsk,bsd->bkd", members, vectors)
    return sums / sizes.clamp_min(1.0).unsqueeze(-1), sizes
