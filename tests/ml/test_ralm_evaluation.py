"""The offline RALM evaluation: no leakage across the time split, task construction, metrics, end to end."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest
import torch

from ml.datasets import checkin_log_read
from ml.datasets.checkins import CheckinLog
from ml.ralm import LookalikeConfig
from ml.ralm.evaluation import (
    METHODS,
    EvaluationConfig,
    average_pooling_ralm,
    encode_users,
    feature_context_build,
    lookalike_tasks_build,
    precision_recall_at_k,
    ralm_evaluate,
    split_times,
    stage1_train,
    training_tasks_build,
    user_features_as_of,
)
from tests.ml.checkin_builders import tiny_city, write_lbsn

DAY = 86_400.0
TINY = EvaluationConfig(
    snapshots=3,
    tower_epochs=1,
    lookalike_epochs=1,
    embedding_dim=8,
    field_dim=8,
    lookalike_hidden_dim=8,
    min_seeds=2,
    eval_negatives=10,
    train_negatives_per_positive=2,
    min_area_people=10,
    k=4,
)


@pytest.fixture(autouse=True)
def one_thread():
    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(previous)


def _log(users, places, times, coordinates, *, n_users=None, friendships=None) -> CheckinLog:
    users, places, times = (
        np.asarray(users, np.int64),
        np.asarray(places, np.int64),
        np.asarray(times, float),
    )
    order = np.lexsort((places, users, times))
    n_users = n_users or int(users.max()) + 1
    coordinates = np.asarray(coordinates, dtype=float)
    return CheckinLog(
        name="hand",
        layout="test",
        source=Path("."),
        users=users[order],
        places=places[order],
        times=times[order],
        place_latitude=coordinates[:, 0],
        place_longitude=coordinates[:, 1],
        user_keys=np.array([str(i) for i in range(n_users)]),
        place_keys=np.array([str(i) for i in range(coordinates.shape[0])]),
        friendships=None if friendships is None else np.asarray(friendships, np.int64),
    )


def _tiny_log(tmp_path) -> CheckinLog:
    return checkin_log_read(write_lbsn(tiny_city(), tmp_path / "tiny"))


def _with_shuffled_future(log: CheckinLog, split: float, seed: int) -> CheckinLog:
    """The same log before `split`; after it the same moments, but who went where is reshuffled."""
    rng = np.random.default_rng(seed)
    later = np.flatnonzero(log.times >= split)
    users, places = log.users.copy(), log.places.copy()
    users[later] = rng.permutation(users[later])
    places[later] = rng.integers(0, log.n_places, later.shape[0])
    return CheckinLog(**{**log.__dict__, "users": users, "places": places})


# --- nothing after the split leaks in ------------------------------------------------------------------
def test_features_as_of_a_moment_read_nothing_at_or_after_it(tmp_path):
    log = _tiny_log(tmp_path)
    split, _cuts = split_times(log, TINY)
    other = _with_shuffled_future(log, split, seed=1)
    context = feature_context_build(log, split=split, config=TINY)
    assert feature_context_build(other, split=split, config=TINY).home_cells == context.home_cells
    before, before_other = (user_features_as_of(x, context, at=split) for x in (log, other))
    for name, values in before.fields.items():
        assert np.array_equal(values, before_other.fields[name]), name
    assert np.array_equal(before.home, before_other.home, equal_nan=True)
    # The futures do differ: features as of a later moment see it.
    late, late_other = (user_features_as_of(x, context, at=math.inf) for x in (log, other))
    assert not np.array_equal(late.fields["places"], late_other.fields["places"])


def test_training_never_sees_anything_after_the_split(tmp_path):
    log = _tiny_log(tmp_path)
    split, cuts = split_times(log, TINY)
    other = _with_shuffled_future(log, split, seed=2)
    trained = []
    for variant in (log, other):
        context = feature_context_build(variant, split=split, config=TINY)
        tower, _info = stage1_train(variant, context, end=cuts[0], config=TINY, report=lambda *a: None)
        training, count = training_tasks_build(
            variant, context, tower, cuts=cuts, split=split, config=TINY, rng=np.random.default_rng(0)
        )
        trained.append((tower.state_dict(), training, count))
    (state, tasks, count), (state_other, tasks_other, count_other) = trained
    assert count == count_other > 0
    assert all(torch.equal(state[name], state_other[name]) for name in state)
    for field in ("seeds", "seed_mask", "set_index", "targets", "labels"):
        assert torch.equal(getattr(tasks, field), getattr(tasks_other, field)), field
    # …while the evaluation tasks, which are about the later period, do change.
    context = feature_context_build(log, split=split, config=TINY)
    evaluation = [
        lookalike_tasks_build(
            variant,
            features=user_features_as_of(variant, context, at=split),
            seeds_before=split,
            positives_until=math.inf,
            config=TINY,
            rng=np.random.default_rng(0),
            negatives=10,
        )
        for variant in (log, other)
    ]
    assert [t.candidates.tolist() for t in evaluation[0]] != [t.candidates.tolist() for t in evaluation[1]]


def test_training_tasks_from_several_cuts_encode_people_as_of_their_own_cut(tmp_path):
    log = _tiny_log(tmp_path)
    config = EvaluationConfig(**{**TINY.__dict__, "train_cut_quantiles": (0.5, 0.65)})
    split, cuts = split_times(log, config)
    context = feature_context_build(log, split=split, config=config)
    tower, _info = stage1_train(log, context, end=cuts[0], config=config, report=lambda *a: None)
    training, count = training_tasks_build(
        log, context, tower, cuts=cuts, split=split, config=config, rng=np.random.default_rng(0)
    )
    rng = np.random.default_rng(0)
    expected_targets, expected_labels, tasks = [], [], 0
    for cut in cuts:
        features = user_features_as_of(log, context, at=cut)
        built = lookalike_tasks_build(
            log, features=features, seeds_before=cut, positives_until=split, config=config, rng=rng,
            negatives_per_positive=config.train_negatives_per_positive,
        )  # fmt: skip
        assert built, "each cut contributes tasks"
        table = torch.from_numpy(encode_users(tower, features))
        expected_targets += [table[torch.from_numpy(task.candidates)] for task in built]
        expected_labels += [torch.from_numpy(task.labels) for task in built]
        tasks += len(built)
    assert count == tasks == training.seeds.shape[0]
    assert torch.equal(training.targets, torch.cat(expected_targets))
    assert torch.equal(training.labels, torch.cat(expected_labels))


# --- look-alike tasks ------------------------------------------------------------------------------
# Place 0 is the target place at the origin; place 1 is a hangout 1 km away; place 2 is 100 km away.
COORDINATES = [(0.0, 0.0), (0.009, 0.0), (0.9, 0.0)]
T = 100 * DAY


def _hand_log() -> CheckinLog:
    rows = [
        # seeds: visited place 0 before T (user 3 also comes back after T: still a seed, never a positive)
        (0, 0, 10), (0, 1, 11), (0, 1, 12), (1, 0, 20), (1, 1, 21), (1, 1, 22), (3, 0, 30), (3, 1, 31),
        (3, 1, 32), (3, 0, 110),
        # positive: lives nearby, first visit to place 0 after T
        (2, 1, 40), (2, 1, 41), (2, 0, 120),
        # positive by visit but lives 100 km away: outside the area, so not a candidate at all
        (8, 2, 42), (8, 2, 43), (8, 0, 125),
        # nearby, active before and after T, never at place 0: the negatives
        (4, 1, 50), (4, 1, 130), (9, 1, 51), (9, 1, 131), (10, 1, 52), (10, 1, 132),
        # nearby but never seen after T: not a candidate (the app would not see them nearby)
        (5, 1, 60),
        # far away, active after T
        (6, 2, 70), (6, 2, 140),
        # only ever active after T: no features as of T, not a candidate
        (7, 1, 150), (7, 0, 151),
    ]  # fmt: skip
    users, places, days = zip(*rows, strict=True)
    return _log(users, places, np.asarray(days) * DAY, COORDINATES)


def _hand_tasks(log: CheckinLog, **overrides):
    config = EvaluationConfig(**{**TINY.__dict__, "min_seeds": 3, "area_km": 10.0, "min_area_people": 1})
    return lookalike_tasks_build(
        log,
        features=user_features_as_of(log, feature_context_build(log, split=T, config=config), at=T),
        seeds_before=T,
        positives_until=overrides.get("positives_until", math.inf),
        config=config,
        rng=np.random.default_rng(0),
        negatives=overrides.get("negatives", 10),
    )


def test_evaluation_tasks_seeds_before_positives_first_visit_after_negatives_same_area():
    log = _hand_log()
    tasks = _hand_tasks(log)
    assert [task.place for task in tasks] == [0]  # place 1 has no newcomer, place 2 too few seeds
    task = tasks[0]
    assert task.seeds.tolist() == [0, 1, 3]
    positives = set(task.candidates[task.labels == 1].tolist())
    negatives = set(task.candidates[task.labels == 0].tolist())
    assert positives == {2}
    assert negatives == {4, 9, 10}
    assert not negatives & (positives | set(task.seeds.tolist()))


def test_negatives_are_sampled_and_never_include_anyone_who_visits():
    log = _hand_log()
    task = _hand_tasks(log, negatives=2)[0]
    negatives = task.candidates[task.labels == 0]
    assert negatives.shape[0] == 2 and set(negatives.tolist()) <= {4, 9, 10}


def test_training_tasks_stop_reading_at_their_horizon():
    log = _hand_log()
    # Positives up to day 135 only, over a 500 km area: user 8 (day 125) now counts, while user 6, whose
    # only later check-in is on day 140, is invisible: not present, so not a negative.
    config = EvaluationConfig(**{**TINY.__dict__, "min_seeds": 3, "area_km": 500.0, "min_area_people": 1})
    features = user_features_as_of(log, feature_context_build(log, split=T, config=config), at=T)
    task = lookalike_tasks_build(
        log,
        features=features,
        seeds_before=T,
        positives_until=135 * DAY,
        config=config,
        rng=np.random.default_rng(0),
        negatives=10,
    )[0]
    assert set(task.candidates[task.labels == 1].tolist()) == {2, 8}
    assert set(task.candidates[task.labels == 0].tolist()) == {4, 9, 10}
    # With a horizon before anyone else shows up, the task has no negatives and is dropped.
    assert (
        lookalike_tasks_build(
            log,
            features=features,
            seeds_before=T,
            positives_until=121 * DAY,
            config=config,
            rng=np.random.default_rng(0),
            negatives=10,
        )
        == []
    )


def test_present_only_candidates_can_be_switched_off():
    log = _hand_log()
    config = EvaluationConfig(
        **{**TINY.__dict__, "min_seeds": 3, "min_area_people": 1, "present_candidates_only": False}
    )
    features = user_features_as_of(log, feature_context_build(log, split=T, config=config), at=T)
    task = lookalike_tasks_build(
        log,
        features=features,
        seeds_before=T,
        positives_until=math.inf,
        config=config,
        rng=np.random.default_rng(0),
        negatives=10,
    )[0]
    assert set(task.candidates[task.labels == 0].tolist()) == {4, 5, 9, 10}


# --- metrics ---------------------------------------------------------------------------------------
def test_precision_and_recall_at_k_on_a_hand_built_ranking():
    labels = np.array([1, 0, 1, 0, 0, 1])
    scores = np.array([0.9, 0.8, 0.1, 0.7, 0.2, 0.85])
    # Ranked: 0 (pos), 5 (pos), 1, 3, 4, 2 (pos).
    assert precision_recall_at_k(labels, scores, 1) == (1.0, pytest.approx(1 / 3))
    assert precision_recall_at_k(labels, scores, 2) == (1.0, pytest.approx(2 / 3))
    assert precision_recall_at_k(labels, scores, 4) == (0.5, pytest.approx(2 / 3))
    assert precision_recall_at_k(labels, scores, 10) == (0.3, 1.0)  # k beyond the list: hits / k
    # Equal scores keep the (shuffled) candidate order: no class is favoured by a tie rule of its own.
    assert precision_recall_at_k(np.array([0, 1]), np.array([0.5, 0.5]), 1) == (0.0, 0.0)


# --- the models and the whole run ------------------------------------------------------------------
def test_average_pooling_ablation_ignores_the_target_when_pooling():
    model = average_pooling_ralm(LookalikeConfig(input_dim=4, hidden_dim=4, attention_dim=2, k=3)).eval()
    seeds = torch.randn(1, 5, 4, generator=torch.Generator().manual_seed(0))
    targets = torch.randn(3, 4, generator=torch.Generator().manual_seed(1))
    output = model(targets, seeds)
    assert torch.allclose(output.local_weights, torch.full((3, 5), 0.2))
    assert torch.allclose(output.global_weights, torch.full((1, 5), 0.2))


def test_the_evaluation_runs_end_to_end_and_repeats_exactly(tmp_path):
    log = _tiny_log(tmp_path)
    first = ralm_evaluate(log, TINY)
    second = ralm_evaluate(log, TINY)
    assert first.metrics == second.metrics
    assert set(first.metrics) == set(METHODS)
    for values in first.metrics.values():
        assert 0.0 <= values["auc"] <= 1.0
        assert 0.0 <= values["precision@10"] <= 1.0 and 0.0 <= values["recall@50"] <= 1.0
    assert first.info["eval_tasks"] > 0 and first.info["train_tasks"] > 0
    assert "friends" in first.info["fields"]  # the LBSN set has social relations
    assert first.kmeans_auc_cost() == pytest.approx(
        first.metrics["ralm_all_seeds"]["auc"] - first.metrics["ralm"]["auc"]
    )
