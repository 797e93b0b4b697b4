"""RALM serving speed: scoring candidates against a cached seed set, and the embedding index's top-k.

One process, embeddings precomputed, the app's default model sizes (32-dim embeddings, 32-dim transform,
k = 20 centroids). Two measurements the README quotes:

1. **Look-alike scoring.** 2,000 candidate embeddings against a 500-seed set. Each timed request does
   what a warm nearby / suggestions request does after reading the candidates' embeddings: fetch the seed
   set's summary from Redis (raw float32 bytes, matching.seed_cache), decode it, and score every candidate
   with RALM's global + local attention over the k centroids. Target: median ≤ 5 ms. For contrast it also
   times the cold path (k-means over the 500 transformed seeds, once per seed set and model version) and
   scoring against all 500 seeds without k-means.
2. **Index top-k.** The FAISS index (matching.index.EmbeddingIndex) over 1,000,000 people's 32-dim
   embeddings, one query for the top 1,000. Target: median ≤ 50 ms. The IVF index the module switches to
   past its exact limit is timed too, with its recall@1,000 against the exact answer.

Each is timed with 1 and 2 threads (this machine has 2 cores; web processes usually run 1).

    .venv/bin/python benchmarks/ralm_serving.py [--repeats 300]

Needs Redis (REDIS_URL, default redis://127.0.0.1:6379/7); no database.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
os.environ.setdefault("REDIS_URL", "redis://127.0.0.1:6379/7")
os.environ.setdefault("DATABASE_URL", "postgres://postgres@127.0.0.1:5432/postgres")  # never queried
os.environ.setdefault("SECRET_KEY", "benchmark-only-not-a-secret")

import django  # noqa: E402

django.setup()

import faiss  # noqa: E402
import numpy as np  # noqa: E402
import torch  # noqa: E402

from benchmarks.common import markdown_table, write_result  # noqa: E402
from matching import seed_cache  # noqa: E402
from matching.index import EmbeddingIndex  # noqa: E402
from ml.ralm import LookalikeConfig, LookalikeModel  # noqa: E402

EMBEDDING_DIM = 32
CANDIDATES = 2_000
SEEDS = 500
INDEX_PEOPLE = 1_000_000
TOP_K = 1_000
TARGET_SCORING_MS = 5.0
TARGET_INDEX_MS = 50.0


def _median_ms(function, repeats: int) -> tuple[float, float]:
    """(median, p95) wall time of function() in ms, after a few untimed warm-up calls."""
    for _ in range(5):
        function()
    times = []
    for _ in range(repeats):
        started = time.perf_counter()
        function()
        times.append((time.perf_counter() - started) * 1000)
    times.sort()
    return statistics.median(times), times[int(0.95 * (len(times) - 1))]


def _unit_rows(rng: np.random.Generator, n: int) -> np.ndarray:
    rows = rng.standard_normal((n, EMBEDDING_DIM), dtype=np.float32)
    return rows / np.linalg.norm(rows, axis=1, keepdims=True)


def scoring(repeats: int, threads: int) -> list[list[str]]:
    torch.set_num_threads(threads)
    rng = np.random.default_rng(0)
    model = LookalikeModel(LookalikeConfig(input_dim=EMBEDDING_DIM, hidden_dim=32, attention_dim=16, k=20))
    model.eval()
    seeds = torch.from_numpy(_unit_rows(rng, SEEDS))
    candidates = torch.from_numpy(_unit_rows(rng, CANDIDATES))
    key = seed_cache.seed_summary_key(
        model_version_id=0, name="benchmark", version="v1", seed_user_ids=range(1, SEEDS + 1)
    )

    def cold() -> None:
        with torch.no_grad():
            model.summarise_seeds(seeds)

    summary = model.summarise_seeds(seeds)
    seed_cache.seed_summary_cache(key=key, summary=summary)

    def warm() -> torch.Tensor:
        cached = seed_cache.seed_summary_cached(key=key)
        with torch.no_grad():
            return model.score_with_summary(candidates, cached).scores

    def all_seeds() -> torch.Tensor:
        with torch.no_grad():
            return model(candidates, seeds.unsqueeze(0)).scores

    assert warm().shape == (CANDIDATES,)
    rows = []
    for label, function, count in (
        (f"warm: Redis summary + score {CANDIDATES:,} vs k=20 centroids", warm, repeats),
        (f"no k-means: score {CANDIDATES:,} vs all {SEEDS} seeds", all_seeds, max(20, repeats // 5)),
        (f"cold: summarise {SEEDS} seeds (transform + global + k-means)", cold, max(20, repeats // 10)),
    ):
        median, p95 = _median_ms(function, count)
        rows.append([label, str(threads), f"{median:.2f}", f"{p95:.2f}"])
    return rows


def index(repeats: int) -> tuple[list[list[str]], dict]:
    rng = np.random.default_rng(1)
    vectors = _unit_rows(rng, INDEX_PEOPLE)
    user_ids = np.arange(1, INDEX_PEOPLE + 1, dtype=np.int64)
    queries = _unit_rows(rng, 64)
    started = time.perf_counter()
    exact = EmbeddingIndex.build(user_ids=user_ids, vectors=vectors)
    exact_build = time.perf_counter() - started
    started = time.perf_counter()
    ivf = EmbeddingIndex.build(user_ids=user_ids, vectors=vectors, exact_limit=INDEX_PEOPLE - 1)
    ivf_build = time.perf_counter() - started
    truth, _ = exact.search(queries, TOP_K)
    found, _ = ivf.search(queries, TOP_K)
    recall = float(np.mean([len(set(t) & set(f)) / TOP_K for t, f in zip(truth, found, strict=True)]))
    rows = []
    for threads in (1, 2):
        faiss.omp_set_num_threads(threads)
        for label, built in (
            ("exact (IndexFlatIP)", exact),
            (f"IVF (nlist {ivf.index.nlist}, nprobe {ivf.index.nprobe})", ivf),
        ):
            position = iter(range(10**9))

            def query(built=built, position=position) -> None:
                built.search(queries[next(position) % len(queries)], TOP_K)

            median, p95 = _median_ms(query, repeats)
            rows.append([label, str(threads), f"{median:.2f}", f"{p95:.2f}"])
    return rows, {"exact_build_s": exact_build, "ivf_build_s": ivf_build, "ivf_recall": recall}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=300)
    options = parser.parse_args()

    sys.stderr.write("look-alike scoring …\n")
    score_rows = scoring(options.repeats, 1) + scoring(options.repeats, 2)
    sys.stderr.write(f"building the {INDEX_PEOPLE:,}-person indexes …\n")
    index_rows, built = index(max(30, options.repeats // 5))

    header = ["operation", "threads", "median ms", "p95 ms"]
    warm_1 = float(score_rows[0][2])
    exact_1 = float(index_rows[0][2])
    verdicts = [
        f"- scoring {CANDIDATES:,} candidates against {SEEDS} seeds (cached centroids), 1 thread: "
        f"median {warm_1:.2f} ms, {'meets' if warm_1 <= TARGET_SCORING_MS else 'MISSES'} the "
        f"≤ {TARGET_SCORING_MS:g} ms target",
        f"- top {TOP_K:,} of {INDEX_PEOPLE:,} (exact), 1 thread: median {exact_1:.2f} ms, "
        f"{'meets' if exact_1 <= TARGET_INDEX_MS else 'MISSES'} the ≤ {TARGET_INDEX_MS:g} ms target",
        f"- index build: exact {built['exact_build_s']:.1f} s, IVF {built['ivf_build_s']:.1f} s; "
        f"IVF recall@{TOP_K:,} against exact: {built['ivf_recall']:.3f}",
    ]
    body = (
        f"{os.cpu_count()} CPU cores, torch {torch.__version__}, faiss {faiss.__version__}; "
        f"{EMBEDDING_DIM}-dim embeddings; host load average at the end "
        f"{os.getloadavg()[0]:.1f} (other jobs share the cores: the wall times count their share).\n\n"
        f"## Look-alike scoring ({CANDIDATES:,} candidates, {SEEDS} seeds)\n\n"
        + markdown_table(header, score_rows)
        + f"\n\n## Embedding index (top {TOP_K:,} of {INDEX_PEOPLE:,})\n\n"
        + markdown_table(header, index_rows)
        + "\n\n"
        + "\n".join(verdicts)
        + "\n"
    )
    sys.stdout.write(body)
    path = write_result(
        name="ralm_serving",
        title="RALM serving: scoring and the embedding index",
        command=".venv/bin/python benchmarks/ralm_serving.py",
        body=body,
    )
    sys.stderr.write(f"written to {path}\n")


if __name__ == "__main__":
    main()
