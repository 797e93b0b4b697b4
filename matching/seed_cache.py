"""Seed-set summaries (RALM's global vector, k-means centroids, weights) cached in Redis as raw floats.

A summary depends only on the seed set and the model, so it is computed once and shared by every process:

    key    vicino:seedsummary:v1:<model version id>:<sha256 of "name|version|sorted seed ids">
    value  header  b"VSS1" + uint32 dim + uint32 k          (12 bytes, little-endian)
           body    float32 global (dim) · centroids (k × dim, row-major) · weights (k), little-endian

Never a pickle: nothing read from Redis can execute code, and a value that is not exactly this layout
(wrong magic, or a length that disagrees with its header) is ignored and recomputed. The raw connection of
django-redis is used because the cache's JSON serializer cannot hold bytes. Without Redis (the embedded
mode's local-memory cache) there is nothing shared to cache in, and summaries are recomputed every time.
"""

from __future__ import annotations

import hashlib
import struct
from collections.abc import Iterable

import numpy as np
import torch

from config.cache import redis_raw
from ml.ralm import SeedSummary

MAGIC = b"VSS1"
_HEADER = struct.Struct("<4sII")
_DTYPE = np.dtype("<f4")
#: Seed sets change slowly (a person's friends, an activity's participants); an hour bounds staleness
#: after their embeddings are re-encoded.
SEED_SUMMARY_TTL_SECONDS = 60 * 60


def seed_summary_key(*, model_version_id: int, name: str, version: str, seed_user_ids: Iterable[int]) -> str:
    seeds = ",".join(str(user_id) for user_id in sorted({int(user_id) for user_id in seed_user_ids}))
    digest = hashlib.sha256(f"{name}|{version}|{seeds}".encode()).hexdigest()
    return f"vicino:seedsummary:v1:{model_version_id}:{digest}"


def seed_summary_encode(summary: SeedSummary) -> bytes:
    global_vector = summary.global_vector.detach().cpu().numpy().astype(_DTYPE)
    centroids = summary.centroids.detach().cpu().numpy().astype(_DTYPE)
    weights = summary.weights.detach().cpu().numpy().astype(_DTYPE)
    k, dim = centroids.shape
    if global_vector.shape != (dim,) or weights.shape != (k,):
        raise ValueError(f"inconsistent summary: global {global_vector.shape}, centroids {centroids.shape}")
    return _HEADER.pack(MAGIC, dim, k) + global_vector.tobytes() + centroids.tobytes() + weights.tobytes()


def seed_summary_decode(raw: bytes) -> SeedSummary | None:
    """The summary in `raw`, or None when it is not exactly the layout above."""
    if len(raw) < _HEADER.size:
        return None
    magic, dim, k = _HEADER.unpack_from(raw)
    if magic != MAGIC or len(raw) != _HEADER.size + _DTYPE.itemsize * (dim + k * dim + k):
        return None
    values = np.frombuffer(raw, dtype=_DTYPE, offset=_HEADER.size).astype(np.float32)
    return SeedSummary(
        global_vector=torch.from_numpy(values[:dim].copy()),
        centroids=torch.from_numpy(values[dim : dim + k * dim].reshape(k, dim).copy()),
        weights=torch.from_numpy(values[dim + k * dim :].copy()),
    )


def seed_summary_cached(*, key: str) -> SeedSummary | None:
    client = redis_raw()
    raw = client.get(key) if client is not None else None
    return seed_summary_decode(raw) if raw is not None else None


def seed_summary_cache(*, key: str, summary: SeedSummary) -> None:
    client = redis_raw()
    if client is not None:
        client.set(key, seed_summary_encode(summary), ex=SEED_SUMMARY_TTL_SECONDS)
