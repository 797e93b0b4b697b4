"""The marketer's experiment pages: list, create (errors at their field), start and stop, and the results
with rates, intervals, lift, p-values, the chart's data and the SRM warning."""

from __future__ import annotations

import json
import re

import pytest
from django.test import Client

from matching.experiments import services
from matching.experiments.models import Experiment, ExperimentExposure
from matching.experiments.selectors import experiment_results
from tests.factories import MarketerFactory, UserFactory
from users.models import EventKind, InteractionEvent

pytestmark = pytest.mark.django_db


def _client_for(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


def _html(response) -> str:
    return response.content.decode()


@pytest.fixture
def marketer():
    return MarketerFactory()


def _form_data(**overrides) -> dict:
    data = {
        "key": "blend-2026",
        "description": "Does similarity deserve more weight?",
        "surface": "nearby",
        "metric": "",
        "salt": "fixed-salt",
        "variants-TOTAL_FORMS": "3",
        "variants-INITIAL_FORMS": "0",
        "variants-MIN_NUM_FORMS": "2",
        "variants-MAX_NUM_FORMS": "10",
        "variants-0-key": "control",
        "variants-0-weight": "2",
        "variants-1-key": "alike",
        "variants-1-weight": "1",
        "variants-1-w_d": "0.3",
        "variants-1-w_s": "0.7",
        "variants-1-radius_km": "8",
        # A third row added and left blank is no variant.
        "variants-2-key": "",
        "variants-2-weight": "",
    }
    return data | overrides


def test_the_list_starts_empty_and_offers_to_create_one(marketer):
    html = _html(_client_for(marketer).get("/experiments/"))
    assert "No experiments yet" in html and 'href="/experiments/new/"' in html


def test_the_new_form_starts_with_a_control_and_a_treatment_and_a_row_template(marketer):
    html = _html(_client_for(marketer).get("/experiments/new/"))
    assert 'name="variants-0-key"' in html and 'value="control"' in html
    assert 'name="variants-1-key"' in html and 'value="treatment"' in html
    assert 'name="variants-__prefix__-key"' in html  # the template "Add a variant" copies
    assert '<label for="id_variants-0-w_d">Distance weight</label>' in html


def test_creating_goes_through_the_service_and_lands_on_the_draft(marketer):
    client = _client_for(marketer)
    response = client.post("/experiments/new/", _form_data())
    experiment = Experiment.objects.get(key="blend-2026")
    assert response.status_code == 302 and response.headers["Location"] == f"/experiments/{experiment.pk}/"
    assert experiment.variants == [
        {"key": "control", "weight": 2.0, "config": {}},
        {"key": "alike", "weight": 1.0, "config": {"w_d": 0.3, "w_s": 0.7, "radius_km": 8.0}},
    ]
    assert (experiment.status, experiment.metric, experiment.salt) == ("draft", "wave", "fixed-salt")
    assert experiment.created_by == marketer
    listed = _html(client.get("/experiments/"))
    assert "blend-2026" in listed and "Draft" in listed and "Nearby people" in listed


@pytest.mark.parametrize(
    ("overrides", "field_id", "message"),
    [
        ({"key": "Not A Slug"}, "id_key_error", "Use 1 to 64 lowercase letters"),
        ({"variants-1-w_a": "0.5"}, "id_variants-1-w_a_error", "Not a nearby setting"),
        ({"variants-1-w_d": "1.5"}, "id_variants-1-w_d_error", "Must be a number from 0 to 1."),
        ({"variants-1-key": "control"}, "id_variants-1-key_error", "&#x27;control&#x27; appears twice."),
        ({"variants-0-weight": "0"}, "id_variants-0-weight_error", "Must be a positive number."),
        (
            {"variants-1-candidate_cap": "5"},
            "id_variants-1-candidate_cap_error",
            "Must be an integer from 20",
        ),
        ({"variants-1-weight": "lots"}, "id_variants-1-weight_error", "Enter a number."),
    ],
)
def test_bad_input_is_shown_at_its_field_and_nothing_is_created(marketer, overrides, field_id, message):
    response = _client_for(marketer).post("/experiments/new/", _form_data(**overrides))
    assert response.status_code == 200
    html = _html(response)
    error = re.search(rf'<ul class="errorlist" id="{re.escape(field_id)}">(.*?)</ul>', html, re.S)
    assert error and message in error.group(1)
    assert not Experiment.objects.exists()


def test_one_variant_is_not_an_experiment(marketer):
    data = _form_data(**{"variants-TOTAL_FORMS": "1"})
    html = _html(_client_for(marketer).post("/experiments/new/", data))
    assert 'id="variants-errors"' in html and "Please submit at least 2 forms." in html
    assert not Experiment.objects.exists()


def test_a_duplicate_key_is_refused_at_the_key(marketer):
    client = _client_for(marketer)
    client.post("/experiments/new/", _form_data())
    html = _html(client.post("/experiments/new/", _form_data()))
    assert "An experiment with that key already exists." in html
    assert Experiment.objects.count() == 1


def test_start_and_stop_with_one_running_per_surface(marketer):
    client = _client_for(marketer)
    client.post("/experiments/new/", _form_data())
    client.post("/experiments/new/", _form_data(key="other"))
    first, other = Experiment.objects.get(key="blend-2026"), Experiment.objects.get(key="other")

    page = _html(client.post(f"/experiments/{first.pk}/start/", follow=True))
    assert "is running" in page and ">Stop</button>" in page
    first.refresh_from_db()
    assert first.status == "running"

    refused = _html(client.post(f"/experiments/{other.pk}/start/", follow=True))
    assert "already running on nearby; stop it first." in refused
    assert Experiment.objects.get(pk=other.pk).status == "draft"

    client.post(f"/experiments/{first.pk}/stop/")
    first.refresh_from_db()
    assert first.status == "stopped"
    again = _html(client.post(f"/experiments/{first.pk}/stop/", follow=True))
    assert "Only a running experiment can stop" in again
    assert client.post("/experiments/999999/start/").status_code == 404


def _exposed(experiment: Experiment, variant: str, people: int, converted: int) -> None:
    for index in range(people):
        person = UserFactory()
        ExperimentExposure.objects.create(experiment=experiment, user=person, variant=variant)
        if index < converted:
            InteractionEvent.objects.create(kind=EventKind.WAVE, actor=person, target=UserFactory())


def _running(key: str = "blend") -> Experiment:
    experiment = services.experiment_create(
        created_by=MarketerFactory(),
        key=key,
        surface="nearby",
        salt="s",
        variants=[
            {"key": "control", "weight": 1, "config": {}},
            {"key": "alike", "weight": 1, "config": {"w_d": 0.3, "w_s": 0.7}},
        ],
    )
    return services.experiment_start(experiment_id=experiment.pk)


def test_results_show_each_variants_rate_interval_lift_and_p_value_and_feed_the_chart(marketer):
    experiment = _running()
    _exposed(experiment, "control", 40, 8)
    _exposed(experiment, "alike", 40, 20)
    analysis = experiment_results(experiment=experiment).analysis
    control, alike = analysis.variants

    html = _html(_client_for(marketer).get(f"/experiments/{experiment.pk}/"))
    row = html.split('<th scope="row">alike', 1)[1].split("</tr>", 1)[0]
    cells = re.findall(r"<td>(.*?)</td>", row, re.S)
    assert cells[1:4] == ["40", "20", "50.0 %"]
    assert cells[4] == f"{alike.ci_low * 100:.1f} % – {alike.ci_high * 100:.1f} %"
    assert cells[5].startswith("+30.0 %") and "(+150.0 % relative)" in cells[5]
    assert cells[6] == f"{alike.p_value:.3f}" and alike.p_value < 0.05
    assert "w_d = 0.3, w_s = 0.7" in row

    chart = json.loads(
        re.search(r'<script id="rates-data" type="application/json">(.*?)</script>', html).group(1)
    )
    assert chart["labels"] == ["control", "alike"] and chart["n"] == [40, 40]
    assert chart["rates"] == [pytest.approx(0.2), pytest.approx(0.5)]
    assert chart["low"] == [pytest.approx(control.ci_low), pytest.approx(alike.ci_low)]
    assert chart["high"] == [pytest.approx(control.ci_high), pytest.approx(alike.ci_high)]
    assert 'data-chart="rates"' in html and "vendor/chartjs/chart.umd.min.js" in html
    assert "Sample ratio mismatch" not in html and "the split matches the weights" in html


def test_a_broken_split_shows_the_srm_warning(marketer):
    experiment = _running()
    _exposed(experiment, "control", 90, 9)
    _exposed(experiment, "alike", 30, 3)
    html = _html(_client_for(marketer).get(f"/experiments/{experiment.pk}/"))
    banner = html.split('<div class="banner warning" role="alert">', 1)[1].split("</div>", 1)[0]
    assert "Sample ratio mismatch" in banner and "p = &lt; 0.001" in banner
    assert "control 90, alike 30" in banner and "control 60, alike 60" in banner


def test_a_draft_has_an_empty_results_state_and_no_chart(marketer):
    client = _client_for(marketer)
    client.post("/experiments/new/", _form_data())
    experiment = Experiment.objects.get()
    html = _html(client.get(f"/experiments/{experiment.pk}/"))
    assert "No results before it starts" in html and 'data-chart="rates"' not in html
    assert ">Start</button>" in html
