"""The feature store: round trips, idempotent upserts, loud failures on wrong shapes, the training export."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta

import numpy as np
import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from matching import selectors, services
from matching.features import SCHEMA, FeatureBatch, features_as_of
from matching.models import STORED_GROUPS, FeatureStoreError, FeatureVector
from tests.factories import UserFactory
from tests.matching.feature_store_people import people_with_history, random_batch, stored_rows

pytestmark = pytest.mark.django_db


def _dims() -> dict[str, int]:
    return selectors.feature_group_dims()


def test_the_store_has_a_column_for_each_of_the_schemas_groups_in_order():
    assert list(SCHEMA.dims) == list(STORED_GROUPS)
    assert selectors.feature_group_dims() == dict(SCHEMA.dims)
    # Request-time in serving; the store keeps its as-of snapshot for training.
    assert not SCHEMA.group("contextual").stored


def test_a_stored_batch_reads_back_exactly():
    people = [UserFactory() for _ in range(3)]
    at = timezone.now() - timedelta(hours=2)
    batch = random_batch(user_ids=[p.pk for p in people], at=at)

    assert services.feature_vectors_store(batch=batch) == 3

    for row, person in enumerate(people):
        stored = selectors.feature_vector_get(user_id=person.pk)
        assert stored.as_of == at
        assert stored.schema_version == SCHEMA.version
        assert list(stored.groups) == list(STORED_GROUPS)
        for name in STORED_GROUPS:
            assert stored.groups[name].dtype == np.float32
            np.testing.assert_array_equal(stored.groups[name], batch.groups[name][row])
    assert selectors.feature_vector_get(user_id=UserFactory().pk) is None


def test_one_upsert_statement_per_batch():
    people = [UserFactory() for _ in range(50)]
    batch = random_batch(user_ids=[p.pk for p in people], at=timezone.now())
    with CaptureQueriesContext(connection) as queries:
        services.feature_vectors_store(batch=batch)
    writes = [q["sql"] for q in queries.captured_queries if "matching_featurevector" in q["sql"]]
    assert len(writes) == 1
    assert writes[0].startswith("INSERT") and "ON CONFLICT" in writes[0]


def test_storing_the_same_batch_twice_changes_nothing_but_computed_at():
    people = [UserFactory() for _ in range(4)]
    batch = random_batch(user_ids=[p.pk for p in reversed(people)], at=timezone.now())
    services.feature_vectors_store(batch=batch)
    first = stored_rows()

    assert services.feature_vectors_store(batch=batch) == 4
    assert stored_rows() == first
    assert FeatureVector.objects.count() == 4


def test_a_later_as_of_replaces_the_row_and_an_earlier_one_never_does():
    person = UserFactory()
    at = timezone.now() - timedelta(hours=1)
    services.feature_vectors_store(batch=random_batch(user_ids=[person.pk], at=at, seed=1))

    newer = random_batch(user_ids=[person.pk], at=at + timedelta(minutes=5), seed=2)
    assert services.feature_vectors_store(batch=newer) == 1
    stored = selectors.feature_vector_get(user_id=person.pk)
    assert stored.as_of == newer.as_of
    np.testing.assert_array_equal(stored.groups["social"], newer.groups["social"][0])

    # A slow chunk of a nightly run, computed as of an earlier instant, must not undo a fresher refresh.
    stale = random_batch(user_ids=[person.pk], at=at - timedelta(minutes=5), seed=3)
    assert services.feature_vectors_store(batch=stale) == 0
    assert selectors.feature_vector_get(user_id=person.pk).as_of == newer.as_of
    assert FeatureVector.objects.filter(user=person).count() == 1


def _groups(batch: FeatureBatch, **groups) -> FeatureBatch:
    merged = {**batch.groups, **groups}
    return replace(batch, groups={name: value for name, value in merged.items() if value is not None})


def _nan_at_0(matrix: np.ndarray) -> np.ndarray:
    spoiled = matrix.copy()
    spoiled[0, 0] = np.nan
    return spoiled


@pytest.mark.parametrize(
    "spoil",
    [
        pytest.param(lambda b: _groups(b, social=b.groups["social"][:, :-1]), id="a-column-short"),
        pytest.param(lambda b: _groups(b, geographic=b.groups["geographic"][:-1]), id="a-row-short"),
        pytest.param(lambda b: _groups(b, contextual=None), id="a-group-missing"),
        pytest.param(lambda b: _groups(b, demographic=_nan_at_0(b.groups["demographic"])), id="nan"),
        pytest.param(lambda b: replace(b, schema_version=SCHEMA.version + 1), id="another-schema"),
        pytest.param(lambda b: replace(b, user_ids=np.r_[b.user_ids[:1], b.user_ids[:1]]), id="repeat"),
        pytest.param(lambda b: replace(b, as_of=b.as_of.replace(tzinfo=None)), id="naive-as-of"),
    ],
)
def test_a_batch_that_does_not_fit_the_schema_is_refused_and_nothing_is_written(spoil):
    people = [UserFactory(), UserFactory()]
    batch = random_batch(user_ids=[p.pk for p in people], at=timezone.now())
    batch = spoil(batch)
    with pytest.raises(FeatureStoreError):
        services.feature_vectors_store(batch=batch)
    assert not FeatureVector.objects.exists()


def test_stored_bytes_of_the_wrong_length_fail_loudly_instead_of_being_misread():
    people = [UserFactory() for _ in range(3)]
    services.feature_vectors_store(batch=random_batch(user_ids=[p.pk for p in people], at=timezone.now()))
    # Four bytes short: still a whole number of float32, so a careless reader would shift every value.
    dim = _dims()["social"]
    FeatureVector.objects.filter(user=people[1]).update(social=np.zeros(dim - 1, dtype="<f4").tobytes())

    with pytest.raises(FeatureStoreError, match=rf"user {people[1].pk}: the stored 'social' vector"):
        selectors.feature_matrix()
    with pytest.raises(FeatureStoreError, match=rf"user {people[1].pk}"):
        selectors.feature_vector_get(user_id=people[1].pk)
    # Other groups and other people are still readable.
    ids, matrix = selectors.feature_matrix(groups=["geographic"])
    assert matrix.shape == (3, _dims()["geographic"])
    assert selectors.feature_vector_get(user_id=people[0].pk) is not None


def test_rows_of_another_schema_version_are_not_decoded_with_this_one():
    person = UserFactory()
    services.feature_vectors_store(batch=random_batch(user_ids=[person.pk], at=timezone.now()))
    with pytest.raises(FeatureStoreError, match="cannot be decoded"):
        selectors.feature_matrix(schema_version=SCHEMA.version + 1)
    with pytest.raises(FeatureStoreError, match="unknown groups"):
        selectors.feature_matrix(groups=["horoscope"])


def test_feature_matrix_orders_rows_by_user_and_columns_by_schema():
    people = [UserFactory() for _ in range(5)]
    ids = [p.pk for p in people]
    shuffled = [ids[3], ids[0], ids[4], ids[1], ids[2]]
    batch = random_batch(user_ids=shuffled, at=timezone.now())
    services.feature_vectors_store(batch=batch)
    dims = _dims()
    by_user = {uid: row for row, uid in enumerate(shuffled)}

    user_ids, matrix = selectors.feature_matrix()
    assert user_ids.dtype == np.int64 and matrix.dtype == np.float32
    assert user_ids.tolist() == sorted(ids)
    assert matrix.shape == (5, sum(dims.values()))
    expected = np.concatenate([batch.groups[name] for name in STORED_GROUPS], axis=1)
    np.testing.assert_array_equal(matrix, expected[[by_user[uid] for uid in sorted(ids)]])

    # Groups come in schema order whatever order they are asked in; user_ids filters rows.
    some = [ids[4], ids[1], 10**12]
    user_ids, matrix = selectors.feature_matrix(groups=["preference", "geographic"], user_ids=some)
    assert user_ids.tolist() == sorted(ids[i] for i in (1, 4))
    assert matrix.shape == (2, dims["geographic"] + dims["preference"])
    row = by_user[ids[1]]
    np.testing.assert_array_equal(
        matrix[0], np.concatenate([batch.groups["geographic"][row], batch.groups["preference"][row]])
    )


def test_feature_matrix_of_nobody_has_the_right_width():
    user_ids, matrix = selectors.feature_matrix(groups=["social"])
    assert user_ids.shape == (0,) and matrix.shape == (0, _dims()["social"])


def test_refreshing_people_stores_what_features_as_of_computes():
    now = timezone.now()
    people = people_with_history(count=5, now=now)
    ids = [p.pk for p in people]
    at = now - timedelta(minutes=30)

    assert services.feature_refresh_people(user_ids=ids, at=at, chunk_size=2) == 5

    expected: FeatureBatch = features_as_of(user_ids=ids, at=at)
    user_ids, matrix = selectors.feature_matrix()
    order = np.argsort(expected.user_ids)
    assert user_ids.tolist() == sorted(ids)
    np.testing.assert_array_equal(
        matrix, np.concatenate([expected.groups[name] for name in STORED_GROUPS], axis=1)[order]
    )
    assert set(FeatureVector.objects.values_list("as_of", flat=True)) == {at}
