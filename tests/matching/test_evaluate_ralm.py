"""`manage.py evaluate_ralm` on tiny generated data sets in both layouts: metrics recorded, doc written."""

from __future__ import annotations

from io import StringIO

import pytest
from django.core.management import CommandError, call_command

from matching import services
from matching.models import ModelVersion
from matching.serving import ModelArtefactError
from tests.ml.checkin_builders import tiny_city, write_lbsn, write_nyc_csv

TINY = ["--tower-epochs", "1", "--lookalike-epochs", "1", "--snapshots", "3", "--min-seeds", "2",
        "--eval-negatives", "10", "--embedding-dim", "8", "--k", "4"]  # fmt: skip


pytestmark = pytest.mark.usefixtures("model_dir")  # tests/matching/conftest.py


@pytest.mark.django_db
def test_evaluate_ralm_on_both_layouts_records_metrics_and_writes_one_section_each(tmp_path, model_dir):
    city = tiny_city()
    nyc = write_nyc_csv(city, tmp_path / "nyc" / "derived" / "checkins.csv")
    lbsn = write_lbsn(city, tmp_path / "Yelp_9", prefix="Yelp")
    doc = tmp_path / "ralm_evaluation.md"
    outputs = {}
    for path, version in ((nyc.parent.parent, "v1"), (lbsn, "v1")):
        out = StringIO()
        call_command("evaluate_ralm", str(path), *TINY, "--model-version", version, "--doc", str(doc),
                     stdout=out, stderr=StringIO())  # fmt: skip
        outputs[path] = out.getvalue()

    rows = {row.name: row for row in ModelVersion.objects.all()}
    assert set(rows) == {"ralm-eval-foursquare-nyc", "ralm-eval-yelp-9"}
    for row in rows.values():
        assert row.feature_schema_version == 0 and row.artefact_path == f"{row.name}/v1"
        ralm = row.metrics["methods"]["ralm"]
        assert 0.0 <= ralm["auc"] <= 1.0 and "precision@10" in ralm and "recall@50" in ralm
        assert set(row.metrics["methods"]) >= {"random", "cosine_mean_seed", "two_tower_concat"}
        assert row.metrics["eval_tasks"] > 0
        assert (model_dir / row.artefact_path / "lookalike.safetensors").is_file()
        # Trained on the file's fields, not the app's: serving refuses it through the schema check.
        with pytest.raises(ModelArtefactError, match="feature schema v0"):
            services.model_version_activate(name=row.name, version="v1")
    assert "social" in rows["ralm-eval-yelp-9"].metrics["fields"]
    assert "social" not in rows["ralm-eval-foursquare-nyc"].metrics["fields"]

    text = doc.read_text()
    assert text.startswith("# RALM offline evaluation")
    assert text.count("### foursquare-nyc") == 1 and text.count("### yelp-9") == 1
    nyc_auc = rows["ralm-eval-foursquare-nyc"].metrics["methods"]["ralm"]["auc"]
    assert f"{nyc_auc:.4f}" in text and f"{nyc_auc:.4f}" in outputs[nyc.parent.parent]

    # A second run of one data set replaces its own section and keeps the other one.
    call_command("evaluate_ralm", str(lbsn), *TINY, "--seed", "1", "--no-register", "--doc", str(doc),
                 stdout=StringIO(), stderr=StringIO())  # fmt: skip
    text = doc.read_text()
    assert text.count("### yelp-9") == 1 and "--seed 1" in text and text.count("### foursquare-nyc") == 1
    assert ModelVersion.objects.count() == 2


@pytest.mark.django_db
def test_evaluate_ralm_names_a_path_that_holds_no_data_set(tmp_path):
    (tmp_path / "empty").mkdir()
    with pytest.raises(CommandError, match=str(tmp_path / "empty")):
        call_command("evaluate_ralm", str(tmp_path / "empty"), stdout=StringIO(), stderr=StringIO())
    with pytest.raises(CommandError, match="--split"):
        call_command("evaluate_ralm", str(tmp_path), "--split", "1.5", stdout=StringIO(), stderr=StringIO())
    with pytest.raises(CommandError, match="--train-cuts"):
        call_command(
            "evaluate_ralm", str(tmp_path), "--train-cuts", "0.9", stdout=StringIO(), stderr=StringIO()
        )
