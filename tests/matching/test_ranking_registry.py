"""The model registry serves the ranker and the recall model like RALM: registered with checks, activated
hot, cached per process, and refused when the files do not fit."""

from __future__ import annotations

import json

import pytest
import torch

from matching import services, serving
from matching.features import SCHEMA
from matching.models import ModelVersion
from matching.ranking.artefacts import (
    CONTENT_FILE,
    RANKER_FILE,
    RANKER_NAME,
    RECALL_NAME,
    LoadedRanker,
    LoadedRecall,
    ranker_active,
    ranker_artefact_save,
    recall_active,
)
from matching.serving import ModelArtefactError
from ml.io import save_model
from tests.matching.ralm_builders import tiny_ralm_register
from tests.matching.ranking_builders import (
    tiny_ranker,
    tiny_ranker_register,
    tiny_recall,
    tiny_recall_register,
    tiny_vocabulary,
)

VOCABULARY = tiny_vocabulary(place_ids=[11, 12, 13])


pytestmark = pytest.mark.usefixtures("model_dir")  # tests/matching/conftest.py


def _weights(model: torch.nn.Module) -> torch.Tensor:
    return torch.cat([tensor.flatten().float() for tensor in model.state_dict().values()])


@pytest.mark.django_db(transaction=True)
def test_ranker_and_recall_activate_hot_like_ralm():
    tiny_ranker_register(version="v1", vocabulary=VOCABULARY, seed=1)
    tiny_ranker_register(version="v2", vocabulary=VOCABULARY, seed=2)
    tiny_recall_register(version="v1", vocabulary=VOCABULARY, seed=1)
    assert ranker_active() is None and recall_active() is None

    services.model_version_activate(name=RANKER_NAME, version="v1")
    services.model_version_activate(name=RECALL_NAME, version="v1")
    served = ranker_active()
    assert isinstance(served, LoadedRanker) and served.version == "v1"
    assert isinstance(recall_active(), LoadedRecall)
    assert ranker_active() is served  # loaded once, then from the process cache
    first = _weights(served.model)

    services.model_version_activate(name=RANKER_NAME, version="v2")  # no restart, no cache clearing
    served = ranker_active()
    assert served.version == "v2" and not torch.equal(_weights(served.model), first)
    statuses = dict(ModelVersion.objects.filter(name=RANKER_NAME).values_list("version", "status"))
    assert statuses == {"v1": "retired", "v2": "active"}
    assert torch.equal(
        _weights(served.model), _weights(tiny_ranker(VOCABULARY, seed=2))
    )  # the files hold the trained weights, exactly


@pytest.mark.django_db(transaction=True)
def test_serving_three_kinds_at_once_keeps_each_loaded():
    tiny_ralm_register(version="v1")
    tiny_ranker_register(version="v1", vocabulary=VOCABULARY)
    tiny_recall_register(version="v1", vocabulary=VOCABULARY)
    for name in ("ralm", RANKER_NAME, RECALL_NAME):
        services.model_version_activate(name=name, version="v1")
    loaded = (serving.ralm_active(), ranker_active(), recall_active())
    # Serving one kind does not evict the others (the cache keeps versions per name).
    assert (serving.ralm_active(), ranker_active(), recall_active()) == loaded
    assert all(first is again for first, again in zip(loaded, (serving.ralm_active(), ranker_active(),
                                                                recall_active()), strict=True))  # fmt: skip
    with pytest.raises(ModelArtefactError, match="not a RALM"):
        serving.ralm_active(name=RANKER_NAME)
    # Older versions of one name go, least recently served first; other names stay.
    for version in ("v2", "v3"):
        tiny_ranker_register(version=version, vocabulary=VOCABULARY)
        services.model_version_activate(name=RANKER_NAME, version=version)
        ranker_active()
    assert ranker_active().version == "v3"
    assert serving.ralm_active() is loaded[0] and recall_active() is loaded[2]


@pytest.mark.django_db
def test_a_vocabulary_that_does_not_fit_the_model_is_refused(model_dir):
    model = tiny_ranker(VOCABULARY)
    ranker_artefact_save(artefact_path="ranker/bad", model=model, vocabulary=VOCABULARY)
    content = json.loads((model_dir / "ranker" / "bad" / CONTENT_FILE).read_text())
    content["place_ids"].append(99)  # one place more than the item table has rows for
    (model_dir / "ranker" / "bad" / CONTENT_FILE).write_text(json.dumps(content))
    with pytest.raises(ModelArtefactError, match="item features"):
        services.model_version_register(
            name=RANKER_NAME, version="bad", artefact_path="ranker/bad", metrics={},
            feature_schema_version=SCHEMA.version,
        )  # fmt: skip
    (model_dir / "ranker" / "bad" / CONTENT_FILE).unlink()
    with pytest.raises(ModelArtefactError, match="missing"):
        services.model_version_register(
            name=RANKER_NAME, version="bad", artefact_path="ranker/bad", metrics={},
            feature_schema_version=SCHEMA.version,
        )  # fmt: skip
    with pytest.raises(ModelArtefactError, match="item features"):
        ranker_artefact_save(
            artefact_path="ranker/other", model=model, vocabulary=tiny_vocabulary(place_ids=[1, 2, 3, 4])
        )
    assert not ModelVersion.objects.exists()


@pytest.mark.django_db
def test_a_recall_model_under_the_ranker_name_and_an_unknown_name_are_refused(model_dir):
    directory = model_dir / "ranker" / "swapped"
    directory.mkdir(parents=True)
    save_model(
        tiny_recall(VOCABULARY),
        directory / RANKER_FILE,
        feature_schema_version=SCHEMA.version,
        feature_schema_signature=SCHEMA.signature(),
    )
    VOCABULARY.save(directory / CONTENT_FILE)
    with pytest.raises(ModelArtefactError, match="TwoTowerModel, not a ETA"):
        services.model_version_register(
            name=RANKER_NAME, version="swapped", artefact_path="ranker/swapped", metrics={},
            feature_schema_version=SCHEMA.version,
        )  # fmt: skip
    with pytest.raises(ModelArtefactError, match="no artefact kind"):
        services.model_version_register(
            name="mystery", version="v1", artefact_path="ranker/swapped", metrics={},
            feature_schema_version=SCHEMA.version,
        )  # fmt: skip


@pytest.mark.django_db
def test_a_ranker_for_another_feature_schema_names_its_training_command():
    tiny_ranker_register(version="current", vocabulary=VOCABULARY)
    ModelVersion.objects.create(
        name=RANKER_NAME,
        version="old",
        artefact_path="ranker/current",
        feature_schema_version=SCHEMA.version + 1,
    )
    with pytest.raises(ModelArtefactError, match=r"retrain it \(train_ranker\)"):
        services.model_version_activate(name=RANKER_NAME, version="old")
    assert ranker_active() is None
