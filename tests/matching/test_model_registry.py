"""The model registry: one active version per name, hot activation, schema checks and artefact files."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from django.conf import settings as django_settings
from django.db import IntegrityError, connection, transaction

from matching import services, serving
from matching.features import SCHEMA
from matching.models import ModelVersion
from matching.selectors import model_version_active
from matching.serving import ModelArtefactError, ralm_active, ralm_artefact_load, ralm_artefact_save
from ml.ralm import save_model
from tests.matching.ralm_builders import tiny_ralm, tiny_ralm_register

ROOT = Path(__file__).resolve().parents[2]


pytestmark = pytest.mark.usefixtures("model_dir")  # tests/matching/conftest.py


def _features(rows: int = 4) -> torch.Tensor:
    return torch.rand(rows, SCHEMA.total_dim, generator=torch.Generator().manual_seed(7))


def _embeddings(model: serving.LoadedRalm, matrix: torch.Tensor) -> torch.Tensor:
    return torch.from_numpy(
        serving.user_embeddings_encode(user_tower=model.user_tower, matrix=matrix.numpy())
    )


# One active per name ------------------------------------------------------------------------------


@pytest.mark.django_db
def test_the_database_allows_one_active_version_per_name():
    fields = {"artefact_path": "x", "feature_schema_version": SCHEMA.version, "status": "active"}
    ModelVersion.objects.create(name="ralm", version="a", **fields)
    ModelVersion.objects.create(name="din", version="a", **fields)  # another name may have its own
    ModelVersion.objects.create(name="ralm", version="b", **{**fields, "status": "retired"})
    with pytest.raises(IntegrityError), transaction.atomic():
        ModelVersion.objects.create(name="ralm", version="c", **fields)
    with pytest.raises(IntegrityError), transaction.atomic():
        ModelVersion.objects.filter(name="ralm", version="b").update(status="active")
    with pytest.raises(IntegrityError), transaction.atomic():
        ModelVersion.objects.create(name="ralm", version="a", **{**fields, "status": "candidate"})


@pytest.mark.django_db
def test_activation_retires_the_previous_version_atomically():
    first, second = tiny_ralm_register(version="v1", seed=1), tiny_ralm_register(version="v2", seed=2)
    assert (first.status, second.status) == ("candidate", "candidate")
    assert model_version_active(name="ralm") is None

    services.model_version_activate(name="ralm", version="v1")
    services.model_version_activate(name="ralm", version="v2")

    statuses = dict(ModelVersion.objects.values_list("version", "status"))
    assert statuses == {"v1": "retired", "v2": "active"}
    active = model_version_active(name="ralm")
    assert active.version == "v2" and active.activated_at is not None
    with pytest.raises(ModelVersion.DoesNotExist):
        services.model_version_activate(name="ralm", version="v9")


# Hot activation -----------------------------------------------------------------------------------


@pytest.mark.django_db(transaction=True)
def test_activating_a_version_switches_what_this_process_serves_without_a_restart():
    tiny_ralm_register(version="v1", seed=1)
    tiny_ralm_register(version="v2", seed=2)
    assert ralm_active(name="ralm") is None

    services.model_version_activate(name="ralm", version="v1")
    served = ralm_active(name="ralm")
    assert served.version == "v1"
    v1_embeddings = _embeddings(served, _features())
    assert ralm_active(name="ralm") is served  # loaded once, then served from the process cache

    services.model_version_activate(name="ralm", version="v2")
    served = ralm_active(name="ralm")
    assert served.version == "v2"
    assert not torch.allclose(_embeddings(served, _features()), v1_embeddings)


@pytest.mark.django_db(transaction=True)
def test_an_activation_made_by_another_process_switches_this_running_process(model_dir):
    tiny_ralm_register(version="v1", seed=1)
    tiny_ralm_register(version="v2", seed=2)
    services.model_version_activate(name="ralm", version="v1")
    assert ralm_active(name="ralm").version == "v1"  # loaded and cached here
    expected = _embeddings(serving.ralm_artefact_load(model_version=ModelVersion.objects.get(version="v2")),
                           _features())  # fmt: skip

    db = django_settings.DATABASES["default"]
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "config.settings_test",
        "DATABASE_URL": f"postgres://{db['USER']}@{db['HOST']}:{db['PORT']}/{connection.settings_dict['NAME']}",
        "REDIS_URL": django_settings.REDIS_URL,
        "VICINO_MODEL_DIR": str(model_dir),
    }
    script = (
        "import django; django.setup()\n"
        "from matching.services import model_version_activate\n"
        "model_version_activate(name='ralm', version='v2')\n"
    )
    subprocess.run([sys.executable, "-c", script], cwd=ROOT, env=env, check=True, timeout=120)

    served = ralm_active(name="ralm")  # no restart, no cache clearing in this process
    assert served.version == "v2"
    assert torch.allclose(_embeddings(served, _features()), expected)


# Feature-schema checks --------------------------------------------------------------------------


@pytest.mark.django_db
def test_a_version_registered_for_another_feature_schema_is_refused_with_a_clear_error():
    tower, lookalike = tiny_ralm(seed=0)
    ralm_artefact_save(artefact_path="ralm/old", user_tower=tower, lookalike=lookalike)
    with pytest.raises(ModelArtefactError, match=f"feature schema v{SCHEMA.version + 1}.*retrain"):
        services.model_version_register(
            name="ralm", version="old", artefact_path="ralm/old", metrics={},
            feature_schema_version=SCHEMA.version + 1,
        )  # fmt: skip
    assert not ModelVersion.objects.exists()

    # A row that got in anyway (registered before a schema bump) cannot be activated, nor served.
    active = tiny_ralm_register(version="current")
    services.model_version_activate(name="ralm", version="current")
    ModelVersion.objects.create(
        name="ralm", version="old", artefact_path="ralm/old", feature_schema_version=SCHEMA.version + 1
    )
    with pytest.raises(ModelArtefactError, match="retrain"):
        services.model_version_activate(name="ralm", version="old")
    assert model_version_active(name="ralm") == active
    assert ralm_active(name="ralm").version == "current"


@pytest.mark.django_db
def test_files_trained_on_another_schema_are_refused_even_when_the_row_says_otherwise(model_dir):
    tower, lookalike = tiny_ralm(seed=0)
    directory = model_dir / "ralm" / "mislabelled"
    directory.mkdir(parents=True)
    save_model(tower, directory / serving.USER_TOWER_FILE, feature_schema_version=SCHEMA.version + 1)
    save_model(lookalike, directory / serving.LOOKALIKE_FILE, feature_schema_version=SCHEMA.version + 1)
    with pytest.raises(ModelArtefactError, match=f"trained on feature schema version {SCHEMA.version + 1}"):
        services.model_version_register(
            name="ralm", version="mislabelled", artefact_path="ralm/mislabelled", metrics={},
            feature_schema_version=SCHEMA.version,
        )  # fmt: skip


# Artefacts ----------------------------------------------------------------------------------------


@pytest.mark.django_db
def test_an_artefact_round_trips_to_the_same_weights_and_scores(model_dir):
    model_version = tiny_ralm_register(version="v1", seed=3)
    tower, lookalike = tiny_ralm(seed=3)
    loaded = ralm_artefact_load(model_version=model_version)

    assert sorted(path.name for path in (model_dir / "ralm" / "v1").iterdir()) == [
        "lookalike.json", "lookalike.safetensors", "user_tower.json", "user_tower.safetensors",
    ]  # fmt: skip
    for original, copy in ((tower, loaded.user_tower), (lookalike, loaded.lookalike)):
        assert original.state_dict().keys() == copy.state_dict().keys()
        assert all(torch.equal(value, copy.state_dict()[key]) for key, value in original.state_dict().items())
    features = _features(6)
    embeddings = _embeddings(loaded, features)
    seeds, targets = embeddings[:4], embeddings[4:]
    summary = loaded.lookalike.summarise_seeds(seeds)
    assert torch.equal(
        loaded.lookalike.score_with_summary(targets, summary).scores,
        lookalike.score_with_summary(targets, lookalike.summarise_seeds(seeds)).scores,
    )


@pytest.mark.django_db
def test_artefact_paths_stay_inside_the_model_directory():
    tower, lookalike = tiny_ralm(seed=0)
    for path in ("../elsewhere", "/absolute/path", ""):
        with pytest.raises(ModelArtefactError):
            ralm_artefact_save(artefact_path=path, user_tower=tower, lookalike=lookalike)
    with pytest.raises(ModelArtefactError, match="needs both"):
        services.model_version_register(
            name="ralm", version="ghost", artefact_path="ralm/ghost", metrics={},
            feature_schema_version=SCHEMA.version,
        )  # fmt: skip
