"""The embedding index: the people whose stored embedding is most like a query, by inner product.

**Exact up to EXACT_LIMIT (1,000,000) people: FAISS IndexFlatIP.** A brute-force inner product over
every stored vector. With 32-dim float32 embeddings a million people take 128 MB and a top-1,000 query one
pass over them (BLAS-backed, tens of milliseconds on one core), so up to that size exactness costs little
and there is nothing to train or tune, and nothing to go stale when people are added.

**IVF beyond: FAISS IndexIVFFlat (inner product).** The vectors are partitioned into `nlist` ≈ 4·√n
cells by a k-means quantiser trained on a seeded sample of at most TRAIN_POINTS_PER_CELL·nlist vectors; a
query scans only the `nprobe` cells nearest to it. The vectors are kept unquantised (Flat), so the scores
of what is returned are exact; only recall is approximate: a true neighbour in an unscanned cell is missed.
nprobe defaults to nlist / 16 (about 6 % of the vectors scanned; raise it for recall, lower it for speed);
nprobe = nlist scans everything and is exact again.

The index holds the stored universal user embeddings (RALM stage 1, `UserEmbedding`) of one model
version, as they are: queries must be vectors of that space. Look-alike scoring of a known candidate list
(nearby, invitations) does not need the index: `candidate_scores` scores them against a seed summary with
RALM's own score.

**Kept fresh per process.** `embedding_index_active` keeps one built index per process for the active
version, tagged with that version's embedding revision: a counter in the shared cache that every write of
stored embeddings bumps on commit (matching.services). A request that finds another version active, or
the revision moved, rebuilds the index; so activating a version, or re-encoding people after their
features changed, reaches every process's index without a restart or a message.
"""

from __future__ import annotations

import math
import threading
from collections.abc import Sequence
from dataclasses import dataclass

import faiss
import numpy as np
import torch
from django.core.cache import cache

from matching.selectors import user_embedding_matrix
from matching.serving import LoadedRalm, embedding_revision_key, ralm_active
from ml.ralm import SeedSummary

EXACT_LIMIT = 1_000_000
TRAIN_POINTS_PER_CELL = 64


@dataclass
class EmbeddingIndex:
    """FAISS index over (n, d) float32 vectors, row i standing for person user_ids[i]."""

    user_ids: np.ndarray
    index: faiss.Index

    @property
    def size(self) -> int:
        return int(self.user_ids.shape[0])

    @property
    def exact(self) -> bool:
        return isinstance(self.index, faiss.IndexFlat)

    @classmethod
    def build(
        cls,
        *,
        user_ids: np.ndarray,
        vectors: np.ndarray,
        exact_limit: int = EXACT_LIMIT,
        nlist: int | None = None,
        nprobe: int | None = None,
        seed: int = 0,
    ) -> EmbeddingIndex:
        """Exact IndexFlatIP up to `exact_limit` people, IndexIVFFlat beyond (see the module doc)."""
        user_ids = np.ascontiguousarray(user_ids, dtype=np.int64).reshape(-1)
        vectors = np.ascontiguousarray(vectors, dtype=np.float32)
        if vectors.ndim != 2 or vectors.shape[0] != user_ids.shape[0]:
            raise ValueError(f"need (n, d) vectors for n ids, got {vectors.shape} for {user_ids.shape[0]}")
        n, dim = vectors.shape
        if n <= exact_limit:
            index: faiss.Index = faiss.IndexFlatIP(dim)
        else:
            cells = nlist or max(1, int(4 * math.sqrt(n)))
            quantiser = faiss.IndexFlatIP(dim)
            index = faiss.IndexIVFFlat(quantiser, dim, cells, faiss.METRIC_INNER_PRODUCT)
            sample = min(n, cells * TRAIN_POINTS_PER_CELL)
            rows = np.random.default_rng(seed).choice(n, size=sample, replace=False) if sample < n else None
            index.cp.seed = seed
            index.train(vectors if rows is None else vectors[np.sort(rows)])
            index.nprobe = nprobe or max(1, cells // 16)
        index.add(vectors)
        return cls(user_ids=user_ids, index=index)

    def search(self, query_vectors: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        """query_vectors (q, d) → (user ids (q, k) int64, scores (q, k) float32), best first.

        Fewer than k people (or, with IVF, in the scanned cells): the tail is id −1, score −inf.
        """
        queries = np.ascontiguousarray(np.atleast_2d(query_vectors), dtype=np.float32)
        if k < 1:
            raise ValueError("k must be ≥ 1")
        scores, rows = self.index.search(queries, k)
        found = rows >= 0
        ids = np.where(found, self.user_ids[np.where(found, rows, 0)], -1)
        return ids.astype(np.int64), np.where(found, scores, -np.inf).astype(np.float32)


def embedding_index_build(*, model_version_id: int, **options) -> EmbeddingIndex:
    """The index over every stored embedding of a model version (options: see EmbeddingIndex.build)."""
    user_ids, vectors = user_embedding_matrix(model_version_id=model_version_id)
    if user_ids.shape[0] == 0:
        raise ValueError(f"model version {model_version_id} has no stored embeddings: encode them first")
    return EmbeddingIndex.build(user_ids=user_ids, vectors=vectors, **options)


_active_index: dict[str, tuple[int, int, EmbeddingIndex]] = {}
_active_index_lock = threading.Lock()


def embedding_index_active(*, name: str = "ralm") -> EmbeddingIndex | None:
    """The index over the active version's stored embeddings, built once per process and rebuilt when
    the active version or its embeddings change (see the module doc). None when no version is active or
    nobody is encoded under it yet."""
    model = ralm_active(name=name)
    if model is None:
        return None
    revision = int(cache.get(embedding_revision_key(model_version_id=model.model_version_id)) or 0)
    with _active_index_lock:
        held = _active_index.get(name)
        if held is not None and held[:2] == (model.model_version_id, revision):
            return held[2]
        # Built under the lock: concurrent requests wait for one build instead of each building a copy.
        try:
            index = embedding_index_build(model_version_id=model.model_version_id)
        except ValueError:
            return None
        _active_index[name] = (model.model_version_id, revision, index)
        return index


def active_indexes_clear() -> None:
    """Forget every process-held index (tests; or to free memory)."""
    with _active_index_lock:
        _active_index.clear()


def candidate_scores(
    *, model: LoadedRalm, summary: SeedSummary, user_ids: Sequence[int]
) -> tuple[np.ndarray, np.ndarray]:
    """RALM look-alike scores of the given candidates against a summarised seed set.

    Returns (user ids int64 (m,), scores float32 (m,)) in ascending id order; candidates without a stored
    embedding under `model`'s version are left out (they have not been encoded yet). One query.
    """
    ids, vectors = user_embedding_matrix(model_version_id=model.model_version_id, user_ids=user_ids)
    if ids.shape[0] == 0:
        return ids, np.empty(0, dtype=np.float32)
    return ids, embedding_scores(model=model, summary=summary, vectors=vectors)


def embedding_scores(*, model: LoadedRalm, summary: SeedSummary, vectors: np.ndarray) -> np.ndarray:
    """RALM look-alike scores (m,) float32 of stored embeddings (m, d) against a summarised seed set."""
    if vectors.shape[0] == 0:
        return np.empty(0, dtype=np.float32)
    with torch.no_grad():
        scores = model.lookalike.score_with_summary(torch.from_numpy(vectors), summary).scores
    return scores.numpy().astype(np.float32)


def lookalike_probabilities(*, model: LoadedRalm, scores: np.ndarray) -> np.ndarray:
    """RALM scores (m,) → (m,) float64 look-alike probabilities in (0, 1): the sigmoid of the logits the
    model was trained on. Monotonic in the score, so rankings are the same; blends need the [0, 1] scale.
    The sigmoid is taken in float64, where it saturates far later than in float32: fewer ties at the top."""
    with torch.no_grad():
        logits = model.lookalike.logits(torch.from_numpy(np.asarray(scores, dtype=np.float32)))
    return 1.0 / (1.0 + np.exp(-logits.numpy().astype(np.float64)))
