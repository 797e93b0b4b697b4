"""Stored user embeddings, the FAISS index, candidate scoring and the seed-summary cache in Redis."""

from __future__ import annotations

import base64
import json
import time

import numpy as np
import pytest
import torch
from django.utils import timezone
from django_redis import get_redis_connection

from config.celery import app
from matching import seed_cache, services, serving, tasks
from matching.index import EmbeddingIndex, candidate_scores, embedding_index_build
from matching.models import UserEmbedding
from matching.selectors import feature_matrix, user_embedding_matrix
from tests.celery_worker import running_worker
from tests.factories import UserFactory
from tests.matching.feature_store_people import random_batch
from tests.matching.ralm_builders import EMBEDDING_DIM, embed, tiny_ralm_register


@pytest.fixture(autouse=True)
def model_dir(settings, tmp_path, monkeypatch):
    torch.set_num_threads(1)
    directory = tmp_path / "models"
    settings.VICINO_MODEL_DIR = directory
    monkeypatch.setenv("VICINO_MODEL_DIR", str(directory))  # for worker processes started by a test
    serving.loaded_models_clear()
    yield directory
    serving.loaded_models_clear()


def _people_with_features(count: int) -> list[int]:
    ids = [UserFactory().pk for _ in range(count)]
    services.feature_vectors_store(batch=random_batch(user_ids=ids, at=timezone.now(), seed=count))
    return ids


def _rows() -> dict[int, bytes]:
    return {row.user_id: bytes(row.vector) for row in UserEmbedding.objects.all()}


# Encoding everyone --------------------------------------------------------------------------------


@pytest.mark.django_db(transaction=True)
def test_encode_all_on_a_real_worker_stores_one_row_per_person_and_is_idempotent():
    people = _people_with_features(7)
    UserFactory()  # no stored features: nothing to encode
    model_version = tiny_ralm_register(version="v1")

    with running_worker() as queue:
        chunks = tasks.embeddings_encode_all.apply_async(args=[model_version.pk, 3], queue=queue).get(
            timeout=60
        )
        deadline = time.monotonic() + 60
        while UserEmbedding.objects.count() < len(people) and time.monotonic() < deadline:
            time.sleep(0.2)
        first = _rows()
        # Delivered again (acks_late after a worker died): the same rows, rewritten, never duplicated.
        first_range = services.user_embedding_chunks_plan(chunk_size=3)[0]
        assert (
            tasks.embeddings_encode_chunk.apply_async(args=[model_version.pk, *first_range], queue=queue).get(
                timeout=60
            )
            == 3
        )

    assert chunks == 3
    assert sorted(first) == sorted(people)
    again = _rows()
    assert sorted(again) == sorted(first)
    for user_id, raw in first.items():
        np.testing.assert_allclose(np.frombuffer(again[user_id], "<f4"), np.frombuffer(raw, "<f4"), rtol=1e-6)
    assert UserEmbedding.objects.filter(model_version=model_version).count() == len(people)
    user_ids, matrix = feature_matrix(user_ids=people)
    expected = embed(model_version, matrix).numpy()
    ids, stored = user_embedding_matrix(model_version_id=model_version.pk)
    assert ids.tolist() == user_ids.tolist()
    assert stored.shape == (len(people), EMBEDDING_DIM)
    np.testing.assert_allclose(stored, expected, rtol=1e-5, atol=1e-6)


@pytest.mark.django_db
def test_encoding_in_process_chunk_by_chunk_covers_everyone_once():
    people = _people_with_features(5)
    model_version = tiny_ralm_register(version="v1")
    seen = []
    assert (
        services.user_embeddings_encode_all(
            model_version_id=model_version.pk, chunk_size=2, on_chunk=seen.append
        )
        == 5
    )
    assert seen == [2, 2, 1]
    assert sorted(_rows()) == people


# The index ----------------------------------------------------------------------------------------


def _brute_force(vectors: np.ndarray, queries: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    scores = queries @ vectors.T
    order = np.argsort(-scores, axis=1, kind="stable")[:, :k]
    return order, np.take_along_axis(scores, order, axis=1)


def test_the_exact_index_returns_the_true_top_k_by_inner_product():
    rng = np.random.default_rng(0)
    vectors = rng.standard_normal((2000, 16)).astype(np.float32)
    queries = rng.standard_normal((5, 16)).astype(np.float32)
    user_ids = np.arange(2000, dtype=np.int64) * 3 + 11  # ids are not row numbers
    index = EmbeddingIndex.build(user_ids=user_ids, vectors=vectors)

    found, scores = index.search(queries, 50)

    rows, true_scores = _brute_force(vectors, queries, 50)
    assert index.exact
    assert np.array_equal(found, user_ids[rows])
    np.testing.assert_allclose(scores, true_scores, rtol=1e-5, atol=1e-5)
    # Asking for more than there are: the tail is −1 / −inf.
    small = EmbeddingIndex.build(user_ids=user_ids[:3], vectors=vectors[:3])
    ids, tail = small.search(queries[:1], 5)
    assert ids[0, 3:].tolist() == [-1, -1] and np.isneginf(tail[0, 3:]).all()


def test_beyond_the_exact_limit_the_index_is_ivf_and_exact_when_every_cell_is_scanned():
    rng = np.random.default_rng(1)
    vectors = rng.standard_normal((3000, 8)).astype(np.float32)
    queries = rng.standard_normal((4, 8)).astype(np.float32)
    user_ids = np.arange(3000, dtype=np.int64)
    ivf = EmbeddingIndex.build(user_ids=user_ids, vectors=vectors, exact_limit=1000)
    assert not ivf.exact and ivf.index.nlist == int(4 * np.sqrt(3000))
    assert ivf.index.nprobe == ivf.index.nlist // 16

    ivf.index.nprobe = ivf.index.nlist
    found, _ = ivf.search(queries, 20)
    rows, _ = _brute_force(vectors, queries, 20)
    assert np.array_equal(found, user_ids[rows])


@pytest.mark.django_db
def test_the_index_of_a_model_version_holds_its_stored_embeddings():
    people = _people_with_features(6)
    model_version = tiny_ralm_register(version="v1")
    services.user_embeddings_encode_all(model_version_id=model_version.pk)
    _ids, stored = user_embedding_matrix(model_version_id=model_version.pk)

    index = embedding_index_build(model_version_id=model_version.pk)

    found, scores = index.search(stored[:2], 6)
    rows, true_scores = _brute_force(stored, stored[:2], 6)
    assert index.size == 6 and np.array_equal(found, np.asarray(people)[rows])
    np.testing.assert_allclose(scores, true_scores, rtol=1e-5, atol=1e-5)


@pytest.mark.django_db
def test_candidates_are_scored_with_ralm_against_the_seed_summary():
    people = _people_with_features(8)
    model_version = tiny_ralm_register(version="v1")
    services.user_embeddings_encode_all(model_version_id=model_version.pk)
    model = serving.ralm_loaded(model_version=model_version)
    summary = services.seed_summary_get(model_version=model_version, seed_user_ids=people[:4])
    never_encoded = UserFactory().pk

    ids, scores = candidate_scores(
        model=model, summary=summary, user_ids=[people[7], people[5], never_encoded]
    )

    _ids, vectors = user_embedding_matrix(model_version_id=model_version.pk, user_ids=[people[5], people[7]])
    expected = model.lookalike.score_with_summary(torch.from_numpy(vectors), summary).scores.detach().numpy()
    assert ids.tolist() == [people[5], people[7]]
    np.testing.assert_allclose(scores, expected, rtol=1e-6)


# The seed-summary cache ---------------------------------------------------------------------------


@pytest.mark.django_db
def test_seed_summaries_are_cached_in_redis_as_raw_float32_and_read_back(django_assert_num_queries):
    people = _people_with_features(9)
    model_version = tiny_ralm_register(version="v1")
    services.user_embeddings_encode_all(model_version_id=model_version.pk)
    seeds = [people[5], people[1], people[3], people[0], people[7]]

    summary = services.seed_summary_get(model_version=model_version, seed_user_ids=seeds)

    # What it should be: the model's own summary of the seeds' stored embeddings.
    model = serving.ralm_loaded(model_version=model_version)
    _ids, vectors = user_embedding_matrix(model_version_id=model_version.pk, user_ids=seeds)
    direct = model.lookalike.summarise_seeds(torch.from_numpy(vectors))
    assert torch.equal(summary.global_vector, direct.global_vector)
    assert torch.equal(summary.centroids, direct.centroids) and torch.equal(summary.weights, direct.weights)

    key = seed_cache.seed_summary_key(
        model_version_id=model_version.pk, name="ralm", version="v1", seed_user_ids=sorted(seeds)
    )
    raw = get_redis_connection("default").get(key)
    assert raw is not None and not raw.startswith(b"\x80")  # a pickle starts with its protocol opcode
    assert raw[:4] == b"VSS1"
    dim, k = np.frombuffer(raw[4:12], dtype="<u4").tolist()
    values = np.frombuffer(raw[12:], dtype="<f4")
    assert (dim, k) == (8, int(summary.weights.shape[0])) and values.shape == (dim + k * dim + k,)
    assert np.array_equal(values[:dim], summary.global_vector.numpy())
    assert np.array_equal(values[dim : dim + k * dim].reshape(k, dim), summary.centroids.numpy())
    assert np.array_equal(values[dim + k * dim :], summary.weights.numpy())
    ttl = get_redis_connection("default").ttl(key)
    assert 0 < ttl <= seed_cache.SEED_SUMMARY_TTL_SECONDS

    # The second call (seeds in another order) is answered from Redis: no database query at all…
    with django_assert_num_queries(0):
        again = services.seed_summary_get(model_version=model_version, seed_user_ids=list(reversed(seeds)))
    assert torch.equal(again.centroids, summary.centroids)
    # …and it really is what Redis holds: change the value and the next call returns the change.
    changed = type(summary)(summary.global_vector * 2, summary.centroids, summary.weights)
    get_redis_connection("default").set(key, seed_cache.seed_summary_encode(changed))
    assert torch.equal(
        services.seed_summary_get(model_version=model_version, seed_user_ids=seeds).global_vector,
        summary.global_vector * 2,
    )
    # A value that is not exactly the layout is ignored and recomputed, never trusted.
    get_redis_connection("default").set(key, raw[:-4])
    assert torch.equal(
        services.seed_summary_get(model_version=model_version, seed_user_ids=seeds).global_vector,
        summary.global_vector,
    )


@pytest.mark.django_db
def test_seeds_without_a_stored_embedding_are_encoded_from_their_features():
    people = _people_with_features(4)
    model_version = tiny_ralm_register(version="v1")
    summary = services.seed_summary_get(model_version=model_version, seed_user_ids=people)
    _ids, matrix = feature_matrix(user_ids=people)
    direct = serving.ralm_loaded(model_version=model_version).lookalike.summarise_seeds(
        embed(model_version, matrix)
    )
    assert torch.allclose(summary.global_vector, direct.global_vector, atol=1e-6)
    with pytest.raises(services.SeedSetError):
        services.seed_summary_get(model_version=model_version, seed_user_ids=[UserFactory().pk])


# Keeping embeddings and indexes fresh ---------------------------------------------------------------


def _stored_vector(user_id: int, model_version) -> np.ndarray:
    return np.frombuffer(
        bytes(UserEmbedding.objects.get(user_id=user_id, model_version=model_version).vector), "<f4"
    )


@pytest.mark.django_db(transaction=True)
def test_a_features_refresh_re_encodes_the_person_under_the_active_version_only():
    people = _people_with_features(3)
    active = tiny_ralm_register(version="v1")
    candidate = tiny_ralm_register(version="v2", seed=1)
    services.user_embeddings_encode_all(model_version_id=active.pk)
    services.model_version_activate(name="ralm", version="v1")
    before = _stored_vector(people[0], active)
    later = timezone.now()
    # Features that differ from the stored random ones: the refresh computes them from the (empty) history.
    services.feature_refresh_people(user_ids=[people[0]], at=later)

    after = _stored_vector(people[0], active)
    _ids, matrix = feature_matrix(user_ids=[people[0]])
    np.testing.assert_allclose(after, embed(active, matrix).numpy()[0], rtol=1e-5, atol=1e-6)
    assert not np.allclose(after, before)
    assert UserEmbedding.objects.get(user_id=people[0], model_version=active).features_as_of == later
    assert not UserEmbedding.objects.filter(model_version=candidate).exists()  # not served: left alone
    # The others were not touched.
    assert UserEmbedding.objects.filter(model_version=active).count() == 3


@pytest.mark.django_db(transaction=True)
def test_activating_a_version_nobody_is_encoded_under_asks_the_workers_to_encode_everyone():
    redis = get_redis_connection("default")
    queue = app.conf.task_default_queue
    redis.delete(queue)
    _people_with_features(4)
    bare = tiny_ralm_register(version="v1")
    encoded = tiny_ralm_register(version="v2", seed=1)
    services.user_embeddings_encode_all(model_version_id=encoded.pk)
    try:
        services.model_version_activate(name="ralm", version="v1")
        services.model_version_activate(name="ralm", version="v2")  # already encoded: nothing to ask
        messages = [json.loads(raw) for raw in redis.lrange(queue, 0, -1)]
    finally:
        redis.delete(queue)
    assert [(m["headers"]["task"], json.loads(base64.b64decode(m["body"]))[0]) for m in messages] == [
        ("matching.tasks.embeddings_encode_all", [bare.pk])
    ]


@pytest.mark.django_db(transaction=True)
def test_the_process_index_follows_activations_and_re_encodings_without_a_restart():
    from matching.index import active_indexes_clear, embedding_index_active

    active_indexes_clear()
    people = _people_with_features(6)
    assert embedding_index_active() is None  # nothing active
    first = tiny_ralm_register(version="v1")
    second = tiny_ralm_register(version="v2", seed=7)
    services.user_embeddings_encode_all(model_version_id=first.pk)
    services.user_embeddings_encode_all(model_version_id=second.pk)
    services.model_version_activate(name="ralm", version="v1")

    index = embedding_index_active()
    assert index is not None and sorted(index.user_ids.tolist()) == people
    assert embedding_index_active() is index  # held, not rebuilt, while nothing changed
    _ids, first_vectors = user_embedding_matrix(model_version_id=first.pk)
    found, _scores = index.search(first_vectors[:1], 1)
    assert found[0, 0] == people[int(np.argmax(first_vectors @ first_vectors[0]))]

    newcomer = _people_with_features(1)[0]
    services.user_embeddings_encode_people(model_version=first, user_ids=[newcomer])
    grown = embedding_index_active()
    assert grown is not index and newcomer in grown.user_ids.tolist()

    services.model_version_activate(name="ralm", version="v2")
    switched = embedding_index_active()
    _ids, second_vectors = user_embedding_matrix(model_version_id=second.pk)
    np.testing.assert_allclose(switched.index.reconstruct_n(0, switched.size), second_vectors, rtol=1e-6)
    active_indexes_clear()
