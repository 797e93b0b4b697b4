"""Full-corpus, exact evaluation of a recall model, and the FAISS export of its item vectors.

Every item of the corpus is scored for every test person by an exact inner-product search (FAISS
IndexFlatIP; vectors L2-normalised first when the model scores by cosine, so inner product = cosine). The
items the person interacted with in training are removed from their ranking, ties count half (see
`full_ranking_metrics`), then for each K:

    Hit@K    = 1 if any target is in the top K, else 0
    Recall@K = |targets ∩ top K| / |targets|
    NDCG@K   = Σ_{targets at rank r ≤ K} 1/log2(r + 1)  /  Σ_{r=1}^{min(|targets|, K)} 1/log2(r + 1)

averaged over the people who have at least one target. With one target per person (leave-last-out)
Hit@K = Recall@K and NDCG@K = 1/log2(rank + 1) when the target ranks within K. Never a sampled set of
negatives: a metric on 100 sampled items says little about a ranking of the whole corpus.
"""

from __future__ import annotations

from collections.abc import Sequence

import faiss
import numpy as np
import torch
from torch import Tensor

from ml.recall.models import TwoTowerModel


def normalise_rows(vectors: np.ndarray) -> np.ndarray:
    vectors = np.ascontiguousarray(vectors, dtype=np.float32)
    norms = np.linalg.norm(vectors, axis=1, keepdims=True)
    return vectors / np.maximum(norms, np.float32(1e-12))


def item_index(item_vectors: np.ndarray, *, normalise: bool) -> faiss.IndexFlatIP:
    """An exact inner-product FAISS index over (n, d) item vectors (row i = item i of the caller's list),
    L2-normalised first when `normalise` (cosine models)."""
    vectors = normalise_rows(item_vectors) if normalise else np.ascontiguousarray(item_vectors, np.float32)
    index = faiss.IndexFlatIP(vectors.shape[1])
    index.add(vectors)
    return index


@torch.no_grad()
def encode_items(model: TwoTowerModel, item_features: Tensor, *, batch_size: int = 4096) -> np.ndarray:
    """(n, F) item features → (n, d) float32 item vectors, in eval mode."""
    model.eval()
    parts = [model.item_vectors(chunk) for chunk in item_features.split(batch_size)]
    return torch.cat(parts).numpy().astype(np.float32)


@torch.no_grad()
def encode_users(
    model: TwoTowerModel, user: Tensor | None, history: Tensor | None, *, batch_size: int = 4096
) -> np.ndarray:
    """(n, U) user features and (n, L) histories → (n, d) float32 user vectors, in eval mode."""
    model.eval()
    n = (user if user is not None else history).shape[0]
    parts = []
    for start in range(0, n, batch_size):
        rows = slice(start, start + batch_size)
        parts.append(
            model.user_vectors(
                None if user is None else user[rows], None if history is None else history[rows]
            )
        )
    return torch.cat(parts).numpy().astype(np.float32)


def model_item_index(model: TwoTowerModel, item_features: Tensor) -> faiss.IndexFlatIP:
    """The FAISS export of a trained model: its item vectors, normalised when it scores by cosine."""
    return item_index(encode_items(model, item_features), normalise=model.config.similarity == "cosine")


def full_ranking_metrics(
    user_vectors: np.ndarray,
    item_vectors: np.ndarray,
    targets: Sequence[np.ndarray],
    seen: Sequence[np.ndarray],
    *,
    ks: Sequence[int] = (10, 50, 100),
    normalise: bool,
    depth: int | None = None,
) -> dict[str, float]:
    """Hit@K, Recall@K and NDCG@K (keys "hit@10", "recall@10", "ndcg@10", …) plus "users".

    user_vectors (m, d); item_vectors (n, d), row i = item i; targets[u] / seen[u]: item rows of person u
    (the test targets, and the training items removed from u's ranking). People without targets are
    skipped. Seen items are removed even when they are targets, so keep the two disjoint.

    Ties count half, as in AUC: a target with g unseen items scoring strictly higher and e scoring the
    same takes rank 1 + g + e/2 (other targets count among them), so a model that scores everything alike
    gets no credit from the order the index happens to return equal scores in. The search is exhaustive
    (depth = every item) unless `depth` caps it for a large corpus: a target outside the top `depth`
    then counts as a miss, exact as long as depth ≥ max K + the longest seen list.
    """
    if len(targets) != user_vectors.shape[0] or len(seen) != user_vectors.shape[0]:
        raise ValueError("need one targets array and one seen array per user vector")
    ks = sorted(set(int(k) for k in ks))
    n_items = item_vectors.shape[0]
    items = normalise_rows(item_vectors) if normalise else np.ascontiguousarray(item_vectors, np.float32)
    queries = normalise_rows(user_vectors) if normalise else np.ascontiguousarray(user_vectors, np.float32)
    index = faiss.IndexFlatIP(items.shape[1])
    index.add(items)
    depth = n_items if depth is None else min(n_items, depth)
    scores, ranked = index.search(queries, depth)
    sums = {f"{name}@{k}": 0.0 for k in ks for name in ("hit", "recall", "ndcg")}
    users = 0
    for row in range(queries.shape[0]):
        wanted = np.unique(np.asarray(targets[row], dtype=np.int64))
        if wanted.size == 0:
            continue
        users += 1
        excluded = np.asarray(seen[row], dtype=np.int64)
        keep = (ranked[row] >= 0) & ~np.isin(ranked[row], excluded)
        candidates, candidate_scores = ranked[row][keep], scores[row][keep]  # unseen items, best first
        ranks = np.full(wanted.size, np.inf)  # a target removed as seen, or beyond `depth`, is a miss
        for position, target in enumerate(wanted):
            found = np.flatnonzero(candidates == target)
            if found.size == 0:
                continue
            # the target's score as the index computed it, so it compares equal to itself
            score = candidate_scores[found[0]]
            higher = np.count_nonzero(candidate_scores > score)
            equal = np.count_nonzero(candidate_scores == score) - 1
            ranks[position] = 1 + higher + equal / 2
        ideal_discounts = 1.0 / np.log2(np.arange(2, ks[-1] + 2))
        for k in ks:
            within = ranks <= k
            sums[f"hit@{k}"] += float(within.any())
            sums[f"recall@{k}"] += float(within.sum()) / wanted.size
            gain = float((1.0 / np.log2(ranks[within] + 1)).sum())
            sums[f"ndcg@{k}"] += gain / ideal_discounts[: min(wanted.size, k)].sum()
    result = {key: value / max(users, 1) for key, value in sums.items()}
    result["users"] = float(users)
    return result
