"""RALM in pure PyTorch: look-alike attention over seed sets, k-means, the user tower, training and files."""

from __future__ import annotations

import json

import pytest
import torch

from ml.features.schema import build_schema
from ml.ralm import (
    FieldSpec,
    LookalikeConfig,
    LookalikeModel,
    LookalikeTasks,
    ModelFileError,
    TrainConfig,
    UserRepresentationModel,
    UserTowerConfig,
    fields_from_schema,
    kmeans,
    load_model,
    save_model,
    train_lookalike,
    train_user_tower,
)
from ml.ralm.io import sidecar_path
from ml.ralm.kmeans import cluster_means
from tests.ml.test_feature_schema import VOCABULARIES

D_IN = 8


@pytest.fixture(autouse=True)
def few_threads():
    previous = torch.get_num_threads()
    torch.set_num_threads(2)
    yield
    torch.set_num_threads(previous)


def _model(**overrides) -> LookalikeModel:
    config = LookalikeConfig(input_dim=D_IN, hidden_dim=8, attention_dim=4, k=3, dropout=0.0, **overrides)
    return LookalikeModel(config).eval()


def _randn(*shape: int, seed: int) -> torch.Tensor:
    return torch.randn(*shape, generator=torch.Generator().manual_seed(seed))


# --- the look-alike score over a seed SET ------------------------------------------------------------
def test_score_is_invariant_to_the_order_of_the_seeds():
    model = _model()
    seeds, targets = _randn(3, 6, D_IN, seed=1), _randn(3, D_IN, seed=2)
    weights = torch.rand(3, 6, generator=torch.Generator().manual_seed(3)) + 0.5
    mask = torch.ones(3, 6, dtype=torch.bool)
    mask[1, 4:] = False
    reference = model(targets, seeds, mask, weights).scores
    for seed in range(3):
        order = torch.randperm(6, generator=torch.Generator().manual_seed(seed))
        permuted = model(targets, seeds[:, order], mask[:, order], weights[:, order]).scores
        assert torch.allclose(permuted, reference, atol=1e-6)


def test_padded_seed_sets_score_exactly_like_unpadded_ones_whatever_the_padding_holds():
    model = _model()
    small, large = _randn(3, D_IN, seed=4), _randn(5, D_IN, seed=5)
    targets = _randn(2, D_IN, seed=6)
    seeds = torch.full((2, 7, D_IN), float("nan"))  # garbage in every padded slot
    seeds[0, :3], seeds[1, :5] = small, large
    seeds[1, 5] = 1e6
    mask = torch.zeros(2, 7, dtype=torch.bool)
    mask[0, :3], mask[1, :5] = True, True
    batched = model(targets, seeds, mask)
    alone_small = model(targets[:1], small.unsqueeze(0)).scores
    alone_large = model(targets[1:], large.unsqueeze(0)).scores
    assert torch.allclose(batched.scores, torch.cat([alone_small, alone_large]), atol=1e-6)
    assert torch.equal(batched.local_weights[~mask], torch.zeros(int((~mask).sum())))
    assert torch.allclose(batched.local_weights.sum(-1), torch.ones(2))
    assert torch.allclose(batched.global_weights.sum(-1), torch.ones(2))


def test_padding_stays_out_of_batchnorm_in_training_mode_too():
    model = _model().train()
    seeds, targets = _randn(1, 4, D_IN, seed=7), _randn(3, D_IN, seed=8)
    padded = torch.cat([seeds, torch.full((1, 3, D_IN), 1e3)], dim=1)
    mask = torch.tensor([[True] * 4 + [False] * 3])
    assert torch.allclose(model(targets, padded, mask).scores, model(targets, seeds).scores, atol=1e-6)


def test_an_empty_seed_set_scores_zero_not_nan():
    model = _model()
    out = model(_randn(2, D_IN, seed=9), _randn(2, 3, D_IN, seed=10), torch.zeros(2, 3, dtype=torch.bool))
    assert torch.equal(out.scores, torch.zeros(2))


def test_local_attention_shifts_toward_a_seed_that_resembles_the_target():
    model = _model()
    seeds = _randn(1, 6, D_IN, seed=11)
    target = _randn(1, D_IN, seed=12)
    before = model(target, seeds).local_weights[0]
    relevant = seeds.clone()
    relevant[0, 2] = target[0]  # one seed now looks exactly like the target
    after = model(target, relevant).local_weights[0]
    assert after[2] > before[2]
    assert int(after.argmax()) == 2
    # The global attention does not look at the target, so swapping the target changes nothing there.
    other = _randn(1, D_IN, seed=13)
    assert torch.equal(model(other, relevant).global_weights, model(target, relevant).global_weights)


def test_score_mixes_global_and_local_cosines_with_alpha_and_beta():
    model = _model(learn_alpha_beta=False)
    assert "mixing" not in dict(model.named_parameters())
    seeds, target = _randn(1, 5, D_IN, seed=14), _randn(1, D_IN, seed=15)
    global_vec, transformed, weights = model.seed_summary(seeds)
    user = model.encode(target)
    local_weights = model(target, seeds).local_weights
    local_vec = torch.einsum("bs,bsd->bd", local_weights, transformed)
    cos = torch.nn.functional.cosine_similarity
    expected = 0.3 * cos(user, global_vec) + 0.7 * cos(user, local_vec)
    assert torch.allclose(model(target, seeds).scores, expected, atol=1e-6)


# --- k-means and weighted seeds ----------------------------------------------------------------------
def test_kmeans_returns_k_centroids_that_are_the_means_of_their_members():
    points = torch.cat([_randn(10, 4, seed=16) + offset for offset in (0.0, 8.0, -8.0, 16.0)])
    result = kmeans(points, 4, seed=0)
    assert result.centroids.shape == (4, 4)
    assert float(result.weights.sum()) == 40
    assert torch.equal(
        result.weights, torch.bincount(result.assignment, minlength=4).to(result.weights.dtype)
    )
    for cluster in range(4):
        members = points[result.assignment == cluster]
        assert torch.allclose(result.centroids[cluster], members.mean(0), atol=1e-5)
    # Well-separated blobs are recovered: every blob of 10 lands in one cluster.
    assert sorted(result.weights.tolist()) == [10.0] * 4
    # Each point belongs to its nearest centroid (a converged Lloyd step).
    assert torch.equal(torch.cdist(points, result.centroids).argmin(1), result.assignment)


def test_kmeans_is_deterministic_and_caps_k_at_the_seeds():
    points = _randn(30, 4, seed=17)
    first, second = kmeans(points, 5, seed=3), kmeans(points, 5, seed=3)
    assert torch.equal(first.centroids, second.centroids)
    assert torch.equal(first.assignment, second.assignment)
    few = kmeans(points[:4], 20, seed=0)
    assert few.centroids.shape == (4, 4) and torch.equal(few.weights, torch.ones(4))
    # Three copies of one point and two others: only 3 distinct points, so k = 3, never an empty cluster.
    duplicated = torch.cat([points[:1].repeat(3, 1), points[1:3]])
    clusters = kmeans(duplicated, 5, seed=0)
    assert sorted(clusters.weights.tolist()) == [1.0, 1.0, 3.0]


def test_kmeans_never_returns_an_empty_cluster_on_awkward_data():
    # One far outlier and a tight blob: naive Lloyd iterations can empty a cluster here.
    points = torch.cat([torch.zeros(1, 2) + 100.0, _randn(20, 2, seed=18) * 0.01])
    for seed in range(5):
        result = kmeans(points, 6, seed=seed)
        assert bool((result.weights > 0).all()) and float(result.weights.sum()) == 21


def test_a_seed_duplicated_three_times_equals_one_seed_of_weight_three():
    model = _model()
    seeds, targets = _randn(1, 3, D_IN, seed=19), _randn(4, D_IN, seed=20)
    tripled = torch.cat([seeds[:, :1].repeat(1, 3, 1), seeds[:, 1:]], dim=1)
    weighted = model(targets, seeds, seed_weights=torch.tensor([[3.0, 1.0, 1.0]]))
    repeated = model(targets, tripled)
    assert torch.allclose(weighted.scores, repeated.scores, atol=1e-6)
    assert torch.allclose(weighted.local_weights[:, 0], repeated.local_weights[:, :3].sum(-1), atol=1e-6)
    # …and the weights matter: ignoring them gives another score.
    assert not torch.allclose(model(targets, seeds).scores, repeated.scores, atol=1e-4)


def test_kmeans_centroids_with_their_sizes_reproduce_the_full_seed_set():
    model = _model()
    seeds, targets = _randn(3, D_IN, seed=21), _randn(5, D_IN, seed=22)
    # Seed 0 three times, seed 1 twice: k-means (k = 3) collapses each into one centroid of that weight.
    full = torch.cat([seeds[:1].repeat(3, 1), seeds[1:2].repeat(2, 1), seeds[2:]])
    summary = model.summarise_seeds(full, k=3)
    assert sorted(summary.weights.tolist()) == [1.0, 2.0, 3.0]
    clustered = model.score_with_summary(targets, summary).scores
    assert torch.allclose(clustered, model(targets, full.unsqueeze(0)).scores, atol=1e-5)


def test_clustering_tight_groups_barely_moves_the_score():
    model = _model()
    centres = _randn(4, D_IN, seed=23) * 3
    noise = _randn(40, D_IN, seed=24) * 0.01
    seeds = centres.repeat_interleave(10, dim=0) + noise
    targets = _randn(16, D_IN, seed=25)
    clustered = model.score_with_summary(targets, model.summarise_seeds(seeds, k=4)).scores
    exact = model(targets, seeds.unsqueeze(0)).scores
    assert (clustered - exact).abs().max() < 5e-3


def test_cluster_means_are_differentiable_means_under_a_fixed_assignment():
    vectors = _randn(1, 4, 3, seed=26).requires_grad_()
    assignment = torch.tensor([[0, 1, 0, 1]])
    mask = torch.tensor([[True, True, True, False]])
    centroids, sizes = cluster_means(vectors, assignment, mask, k=2)
    assert torch.equal(sizes, torch.tensor([[2.0, 1.0]]))
    assert torch.allclose(centroids[0, 0], vectors[0, [0, 2]].mean(0))
    assert torch.allclose(centroids[0, 1], vectors[0, 1])
    centroids.sum().backward()
    assert float(vectors.grad[0, 3].abs().sum()) == 0.0


# --- stage 1: the user tower -------------------------------------------------------------------------
def _tower_config(**overrides) -> UserTowerConfig:
    defaults = dict(
        fields=(
            FieldSpec("signal", "dense", dim=6),
            FieldSpec("noise", "dense", dim=6),
            FieldSpec("city", "categorical", vocab_size=5, embedding_dim=4),
            FieldSpec("visited", "multi", vocab_size=9),
        ),
        n_places=7,
        field_dim=8,
        attention_dim=4,
        hidden_dims=(16,),
        embedding_dim=8,
        dropout=0.0,
    )
    return UserTowerConfig(**{**defaults, **overrides})


def _toy_check_ins(n: int, *, seed: int) -> tuple[dict[str, torch.Tensor], torch.Tensor]:
    """Next place = 1 + the index of the hottest of the first 6 'signal' values; everything else is noise."""
    generator = torch.Generator().manual_seed(seed)
    places = torch.randint(1, 7, (n,), generator=generator)
    signal = torch.randn(n, 6, generator=generator) * 0.1
    signal[torch.arange(n), places - 1] += 3.0
    inputs = {
        "signal": signal,
        "noise": torch.randn(n, 6, generator=generator),
        "city": torch.randint(0, 5, (n,), generator=generator),
        "visited": torch.randint(0, 9, (n, 3), generator=generator),
    }
    return inputs, places


def test_fields_from_schema_are_the_six_groups_as_dense_fields():
    schema = build_schema(**VOCABULARIES)
    fields = fields_from_schema(schema)
    assert [(spec.name, spec.kind, spec.dim) for spec in fields] == [
        (name, "dense", dim) for name, dim in schema.dims.items()
    ]


def test_multi_valued_fields_pool_real_ids_only():
    model = UserRepresentationModel(_tower_config()).eval()
    inputs, _ = _toy_check_ins(2, seed=27)
    inputs["visited"] = torch.tensor([[3, 5, 0, 0], [0, 0, 0, 0]])
    shorter = {**inputs, "visited": torch.tensor([[5, 3], [0, 0]])}
    assert torch.allclose(model(inputs).embeddings, model(shorter).embeddings, atol=1e-6)
    encoder = model.tower.encoders["visited"]
    assert torch.equal(encoder(torch.zeros(1, 4, dtype=torch.int64)), encoder.project(torch.zeros(1, 8)))


def test_attention_merge_weights_sum_to_one_over_fields_and_respond_to_an_informative_field():
    config = _tower_config()
    model = UserRepresentationModel(config)
    inputs, places = _toy_check_ins(768, seed=28)
    weights = model.eval()(inputs).field_weights
    assert weights.shape == (768, 4)
    assert torch.allclose(weights.sum(-1), torch.ones(768), atol=1e-6)
    before = weights.mean(0)
    counts = torch.bincount(places, minlength=config.n_places).to(torch.float32)
    train_user_tower(model, inputs, places, counts, TrainConfig(epochs=15, batch_size=64, learning_rate=1e-2))
    after = model(inputs).field_weights.mean(0)
    # Only 'signal' predicts the next place: training moves the merge's weight onto it.
    assert after[0] > before[0] + 0.1
    assert int(after.argmax()) == 0


def test_sampled_softmax_loss_decreases_on_a_toy_problem():
    config = _tower_config()
    model = UserRepresentationModel(config)
    inputs, places = _toy_check_ins(512, seed=29)
    counts = torch.bincount(places, minlength=config.n_places).to(torch.float32)
    seen: list[tuple[int, int, float]] = []
    losses = train_user_tower(
        model,
        inputs,
        places,
        counts,
        TrainConfig(epochs=6, batch_size=64, learning_rate=1e-2),
        progress=lambda epoch, epochs, loss: seen.append((epoch, epochs, loss)),
    )
    assert len(losses) == 6 and [entry[0] for entry in seen] == [1, 2, 3, 4, 5, 6]
    assert losses[-1] < 0.5 * losses[0]
    # The learned embedding ranks the true next place first for most check-ins.
    users = model(inputs).embeddings
    all_places = torch.arange(1, config.n_places).expand(512, -1)
    predicted = model.head(users, all_places).argmax(1) + 1
    assert float((predicted == places).float().mean()) > 0.9


# --- stage 2: training -------------------------------------------------------------------------------
def _toy_tasks(*, seed: int) -> LookalikeTasks:
    """Seed sets drawn around one of 4 centres; positives near the same centre, negatives near another."""
    generator = torch.Generator().manual_seed(seed)
    centres = torch.randn(4, D_IN, generator=generator) * 2
    n_sets, size = 24, 12
    seeds = torch.randn(n_sets, size, D_IN, generator=generator)  # padding slots keep this noise
    mask = torch.zeros(n_sets, size, dtype=torch.bool)
    set_index, targets, labels = [], [], []
    for position in range(n_sets):
        centre = position % 4
        count = 4 + position % 9
        seeds[position, :count] = centres[centre] + 0.5 * torch.randn(count, D_IN, generator=generator)
        mask[position, :count] = True
        for label in (1, 0, 1, 0):
            where = centre if label else (centre + 1 + position % 3) % 4
            targets.append(centres[where] + 0.5 * torch.randn(D_IN, generator=generator))
            set_index.append(position)
            labels.append(float(label))
    return LookalikeTasks(seeds, mask, torch.tensor(set_index), torch.stack(targets), torch.tensor(labels))


def test_lookalike_training_learns_the_toy_task_and_reclusters_each_epoch(monkeypatch):
    import ml.ralm.train as train_module

    calls: list[int] = []
    original = train_module.cluster_seed_sets

    def counting(*args, **kwargs):
        calls.append(kwargs["seed"])
        return original(*args, **kwargs)

    monkeypatch.setattr(train_module, "cluster_seed_sets", counting)
    model = LookalikeModel(LookalikeConfig(input_dim=D_IN, hidden_dim=8, attention_dim=4, k=3))
    tasks = _toy_tasks(seed=30)
    losses = train_lookalike(model, tasks, TrainConfig(epochs=8, batch_size=32, learning_rate=1e-2))
    assert len(calls) == 8
    assert losses[-1] < losses[0]
    scores = model(tasks.targets, tasks.seeds[tasks.set_index], tasks.seed_mask[tasks.set_index]).scores
    positives, negatives = scores[tasks.labels == 1], scores[tasks.labels == 0]
    auc = float((positives.unsqueeze(1) > negatives.unsqueeze(0)).float().mean())
    assert auc > 0.9


def test_the_same_seed_gives_identical_training():
    def run(seed: int) -> tuple[list[float], dict[str, torch.Tensor]]:
        model = LookalikeModel(LookalikeConfig(input_dim=D_IN, hidden_dim=8, attention_dim=4, k=3, seed=seed))
        losses = train_lookalike(model, _toy_tasks(seed=31), TrainConfig(epochs=3, batch_size=32, seed=seed))
        return losses, model.state_dict()

    first_losses, first_state = run(0)
    second_losses, second_state = run(0)
    assert first_losses == second_losses
    assert all(torch.equal(first_state[name], second_state[name]) for name in first_state)
    other_losses, _ = run(1)
    assert other_losses != first_losses


def test_the_same_seed_gives_identical_user_tower_training():
    def run() -> tuple[list[float], dict[str, torch.Tensor]]:
        config = _tower_config(dropout=0.2)
        model = UserRepresentationModel(config)
        inputs, places = _toy_check_ins(256, seed=32)
        counts = torch.bincount(places, minlength=config.n_places).to(torch.float32)
        losses = train_user_tower(model, inputs, places, counts, TrainConfig(epochs=2, batch_size=64))
        return losses, model.state_dict()

    (first_losses, first_state), (second_losses, second_state) = run(), run()
    assert first_losses == second_losses
    assert all(torch.equal(first_state[name], second_state[name]) for name in first_state)


# --- files -------------------------------------------------------------------------------------------
def _trained_lookalike() -> tuple[LookalikeModel, LookalikeTasks]:
    model = LookalikeModel(LookalikeConfig(input_dim=D_IN, hidden_dim=8, attention_dim=4, k=3))
    tasks = _toy_tasks(seed=33)
    train_lookalike(model, tasks, TrainConfig(epochs=1, batch_size=32))  # moves BatchNorm's running stats
    return model, tasks


def test_save_load_round_trip_gives_identical_scores(tmp_path):
    model, tasks = _trained_lookalike()
    path = tmp_path / "ralm.safetensors"
    save_model(model, path, feature_schema_version=1, feature_schema_signature="abc")
    loaded = load_model(path, feature_schema_version=1, feature_schema_signature="abc")
    assert isinstance(loaded, LookalikeModel) and not loaded.training
    seeds, mask = tasks.seeds[tasks.set_index], tasks.seed_mask[tasks.set_index]
    assert torch.equal(loaded(tasks.targets, seeds, mask).scores, model(tasks.targets, seeds, mask).scores)
    header = json.loads(sidecar_path(path).read_text())
    assert header["feature_schema_version"] == 1 and header["config"]["k"] == 3


def test_user_tower_round_trip(tmp_path):
    config = _tower_config()
    model = UserRepresentationModel(config).eval()
    inputs, _ = _toy_check_ins(8, seed=34)
    save_model(model, tmp_path / "tower.safetensors", feature_schema_version=2)
    loaded = load_model(tmp_path / "tower.safetensors", feature_schema_version=2, expected_config=config)
    assert torch.equal(loaded(inputs).embeddings, model(inputs).embeddings)


def test_a_schema_version_mismatch_fails_clearly(tmp_path):
    model, _ = _trained_lookalike()
    path = tmp_path / "ralm.safetensors"
    save_model(model, path, feature_schema_version=1, feature_schema_signature="abc")
    with pytest.raises(ModelFileError, match="feature schema version 1.*version 2"):
        load_model(path, feature_schema_version=2)
    with pytest.raises(ModelFileError, match="signature"):
        load_model(path, feature_schema_version=1, feature_schema_signature="xyz")
    with pytest.raises(ModelFileError, match="config"):
        load_model(path, feature_schema_version=1, expected_config=LookalikeConfig(input_dim=D_IN, k=20))


def test_a_sidecar_that_does_not_match_its_weights_is_refused(tmp_path):
    model, _ = _trained_lookalike()
    path = tmp_path / "ralm.safetensors"
    save_model(model, path, feature_schema_version=1)
    sidecar = sidecar_path(path)
    header = json.loads(sidecar.read_text())
    header["config"]["k"] = 7
    sidecar.write_text(json.dumps(header))
    with pytest.raises(ModelFileError, match="header inside the weights differs"):
        load_model(path, feature_schema_version=1)
    path.write_bytes(path.read_bytes()[:-4] + b"\0\0\0\0")
    with pytest.raises(ModelFileError, match="SHA-256"):
        load_model(path, feature_schema_version=1)
