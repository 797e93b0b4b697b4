"""`manage.py train_ralm` on a small synthetic city: a registered, loadable, active model with its metrics."""

from __future__ import annotations

from io import StringIO

import pytest
from django.core.management import CommandError, call_command
from django.utils import timezone

from matching import services, serving
from matching.features import SCHEMA
from matching.models import ModelVersion, UserEmbedding
from users.demo import synthetic_city_dataset
from users.importers import checkins_load
from users.models import User

TINY = ["--embedding-dim", "8", "--hidden-dim", "8", "--k", "4", "--tower-epochs", "1",
        "--lookalike-epochs", "1", "--max-train-tasks", "40"]  # fmt: skip


pytestmark = pytest.mark.usefixtures("model_dir")  # tests/matching/conftest.py


@pytest.mark.django_db
def test_train_ralm_registers_an_active_loadable_model_with_its_validation_auc(
    model_dir, django_capture_on_commit_callbacks
):
    checkins_load(dataset=synthetic_city_dataset(people=40))
    people = list(User.objects.values_list("pk", flat=True))
    services.feature_refresh_people(user_ids=people, at=timezone.now())
    out = StringIO()

    # Committed, the way the command's own transaction would be: activation publishes on commit.
    with django_capture_on_commit_callbacks(execute=True):
        call_command("train_ralm", "--model-version", "t1", "--activate", "--encode", *TINY, stdout=out,
                     stderr=StringIO())  # fmt: skip

    model_version = ModelVersion.objects.get(name="ralm", version="t1")
    assert (model_version.status, model_version.artefact_path) == ("active", "ralm/t1")
    assert model_version.feature_schema_version == SCHEMA.version
    metrics = model_version.metrics
    assert 0.0 <= metrics["val_auc"] <= 1.0 and metrics["val_tasks"] > 0
    assert metrics["train_tasks"] > 0 and len(metrics["tower_losses"]) == 1
    assert metrics["people"] == 40 and metrics["t_train"] < metrics["t_val"]
    loaded = serving.ralm_artefact_load(model_version=model_version)
    assert loaded.embedding_dim == 8 and loaded.lookalike.config.k == 4
    assert serving.ralm_active(name="ralm").version == "t1"
    assert UserEmbedding.objects.filter(model_version=model_version).count() == len(people)
    table = out.getvalue()
    assert "validation AUC, RALM" in table and f"{metrics['val_auc']:.4f}" in table

    with pytest.raises(CommandError, match="already registered"):
        call_command("train_ralm", "--model-version", "t1", *TINY, stdout=StringIO(), stderr=StringIO())
    # The demo's re-run: a version is active, so nothing is trained or registered.
    out = StringIO()
    call_command(
        "train_ralm", "--model-version", "t2", "--if-none-active", *TINY, stdout=out, stderr=StringIO()
    )
    assert "t1 is already active" in out.getvalue()
    assert not ModelVersion.objects.filter(version="t2").exists()
