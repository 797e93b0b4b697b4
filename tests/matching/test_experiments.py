"""A/B experiments: assignment, the exposure log, the statistics, and the marketer API end to end."""

from __future__ import annotations

import time
from datetime import timedelta

import numpy as np
import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone
from django_redis import get_redis_connection
from scipy import stats as scipy_stats

from activities.models import Invitation
from matching import tasks
from matching.experiments import services
from matching.experiments.models import Experiment, ExperimentExposure, ExperimentImpressions
from matching.experiments.selectors import experiment_results
from matching.experiments.stats import VariantCounts, experiment_analyse, srm_check, wilson_interval
from tests.celery_worker import running_worker
from tests.clients import api_client_for
from tests.factories import ActivityFactory, MarketerFactory, UserFactory
from tests.matching.nearby_builders import NYC, offset, person_at
from users.models import InteractionEvent

URL = "/api/experiments/"
WEIGHTS = {"control": 50.0, "closer": 30.0, "alike": 20.0}
VARIANTS = [
    {"key": "control", "weight": 50, "config": {}},
    {"key": "closer", "weight": 30, "config": {"w_d": 0.8, "w_s": 0.2}},
    {"key": "alike", "weight": 20, "config": {"w_d": 0.3, "w_s": 0.7, "radius_km": 8}},
]


def _experiment(
    *, key: str = "blend", surface: str = "nearby", variants=VARIANTS, start: bool = True
) -> Experiment:
    # A fixed salt: which variant each test person lands in is then the same on every run.
    experiment = services.experiment_create(
        created_by=MarketerFactory(), key=key, surface=surface, variants=variants, salt="test-salt"
    )
    if start:
        experiment = services.experiment_start(experiment_id=experiment.pk)
    return experiment


# Assignment -------------------------------------------------------------------------------------------


def test_100000_people_split_within_one_percent_of_the_weights_without_srm():
    user_ids = range(1, 100_001)
    assigned = [
        services.experiment_assign(salt="s3cret", variants=VARIANTS, user_id=u)["key"] for u in user_ids
    ]
    counts = {key: assigned.count(key) for key in WEIGHTS}
    for key, weight in WEIGHTS.items():
        assert abs(counts[key] / 100_000 - weight / 100) < 0.01, counts
    srm = srm_check(observed=counts, weights=WEIGHTS)
    assert not srm.flagged and srm.p_value > 0.001, srm
    # Deterministic: the same people land in the same variants again; another salt reshuffles them.
    again = [
        services.experiment_assign(salt="s3cret", variants=VARIANTS, user_id=u)["key"] for u in range(1, 2001)
    ]
    assert again == assigned[:2000]
    other = [
        services.experiment_assign(salt="pepper", variants=VARIANTS, user_id=u)["key"] for u in range(1, 2001)
    ]
    assert 0.3 < np.mean(np.array(other) != np.array(again)) < 0.8


def test_a_biased_exposure_log_is_flagged():
    user_ids = range(1, 100_001)
    assigned = [
        services.experiment_assign(salt="s3cret", variants=VARIANTS, user_id=u)["key"] for u in user_ids
    ]
    # A logging bug drops 10 % of the "alike" exposures (say, a client that crashes before logging).
    rng = np.random.default_rng(1)
    logged = [key for key in assigned if key != "alike" or rng.random() > 0.10]
    srm = srm_check(observed={key: logged.count(key) for key in WEIGHTS}, weights=WEIGHTS)
    assert srm.flagged and srm.p_value < 0.001, srm


def test_bucket_ranges_cover_every_bucket_once_in_weight_proportion():
    ranges = services.variant_bucket_ranges(variants=VARIANTS)
    assert ranges == [("control", 0, 5000), ("closer", 5000, 8000), ("alike", 8000, 10000)]
    odd = services.variant_bucket_ranges(variants=[{"key": k, "weight": 1} for k in "abc"])
    assert [end - start for _k, start, end in odd] == [3333, 3334, 3333] and odd[-1][2] == 10_000


# The exposure log -----------------------------------------------------------------------------------------


@pytest.mark.django_db
def test_config_for_a_person_is_their_variants_and_the_first_exposure_is_logged_once():
    experiment = _experiment()
    person = UserFactory()
    expected = services.experiment_assign(
        salt=experiment.salt, variants=experiment.variants, user_id=person.pk
    )

    with CaptureQueriesContext(connection) as first:
        config = services.experiment_config_for(user_id=person.pk, surface="nearby")
    with CaptureQueriesContext(connection) as later:
        for _ in range(5):
            assert services.experiment_config_for(user_id=person.pk, surface="nearby") == config

    assert config["variant"] == expected["key"] and config["experiment"] == "blend"
    assert config["w_d"] == expected["config"].get("w_d", 0.6)
    assert config["w_s"] == expected["config"].get("w_s", 0.4)
    exposure = ExperimentExposure.objects.get()
    assert (exposure.user_id, exposure.variant) == (person.pk, expected["key"])
    statements = [q["sql"] for q in first.captured_queries if "SAVEPOINT" not in q["sql"]]
    # The running experiment (then cached), and the exposure: one INSERT, in one round trip, whose commit
    # does not wait for an fsync.
    assert [sql.split()[0] for sql in statements] == ["SELECT", "INSERT"]
    assert "set_config('synchronous_commit', 'off', true)" in statements[1]
    assert later.captured_queries == []  # the hot path: cache reads only
    # A lost "seen" key costs one no-op insert, never a second row.
    get_redis_connection("default").flushdb()
    services.experiment_config_for(user_id=person.pk, surface="nearby")
    assert ExperimentExposure.objects.count() == 1


@pytest.mark.django_db
def test_outside_an_experiment_the_defaults_apply_and_nothing_is_written(settings):
    settings.VICINO_NEARBY_DISTANCE_WEIGHT = 0.55
    _experiment(surface="invitations", variants=[{"key": "a", "weight": 1}, {"key": "b", "weight": 1}])
    config = services.experiment_config_for(user_id=UserFactory().pk, surface="nearby")
    assert config["w_d"] == 0.55 and config["experiment"] is None and config["variant"] is None
    assert ExperimentExposure.objects.filter(experiment__surface="nearby").count() == 0
    invitations = services.experiment_config_for(user_id=UserFactory().pk, surface="invitations")
    assert invitations["experiment"] == "blend" and invitations["variant"] in {"a", "b"}


@pytest.mark.django_db
def test_starting_and_stopping_reach_every_process_through_the_cache(django_capture_on_commit_callbacks):
    person = UserFactory()
    experiment = _experiment(start=False)
    assert services.experiment_config_for(user_id=person.pk, surface="nearby")["experiment"] is None
    with django_capture_on_commit_callbacks(execute=True):
        services.experiment_start(experiment_id=experiment.pk)
    # The cached "nothing runs" was dropped on commit: the next request sees the experiment…
    assert services.experiment_config_for(user_id=person.pk, surface="nearby")["experiment"] == "blend"
    with django_capture_on_commit_callbacks(execute=True):
        services.experiment_stop(experiment_id=experiment.pk)
    # …and no longer once it stopped, although the person's exposure stays logged.
    assert services.experiment_config_for(user_id=person.pk, surface="nearby")["experiment"] is None
    assert ExperimentExposure.objects.filter(user=person).count() == 1


# Statistics ------------------------------------------------------------------------------------------------


def test_wilson_interval_matches_the_closed_form():
    low, high = wilson_interval(successes=30, trials=200)
    z = scipy_stats.norm.ppf(0.975)
    p, n = 0.15, 200
    centre = (p + z**2 / (2 * n)) / (1 + z**2 / n)
    half = z * np.sqrt(p * (1 - p) / n + z**2 / (4 * n**2)) / (1 + z**2 / n)
    assert (low, high) == pytest.approx((centre - half, centre + half), abs=1e-9)
    assert wilson_interval(successes=0, trials=0) is None


def test_analysis_reports_rates_lifts_and_a_chi_square_p_value_against_the_control():
    analysis = experiment_analyse(
        variants=[
            VariantCounts("control", 50, exposed=5000, converted=500, impressions=90_000),
            VariantCounts("closer", 50, exposed=5000, converted=600),
        ]
    )
    control, closer = analysis.variants
    assert control.is_control and control.absolute_lift is None and control.p_value is None
    assert (closer.rate, closer.absolute_lift) == pytest.approx((0.12, 0.02))
    assert closer.relative_lift == pytest.approx(0.2)
    table = np.array([[500, 4500], [600, 4400]])
    chi2 = (
        (table - np.outer(table.sum(1), table.sum(0)) / table.sum()) ** 2
        / (np.outer(table.sum(1), table.sum(0)) / table.sum())
    ).sum()
    assert closer.p_value == pytest.approx(scipy_stats.chi2.sf(chi2, 1), rel=1e-9)
    assert closer.p_value < 0.05 and closer.ci_low < 0.12 < closer.ci_high
    assert not analysis.srm.flagged and control.impressions == 90_000
    empty = experiment_analyse(variants=[VariantCounts("a", 1, 0, 0), VariantCounts("b", 1, 0, 0)])
    assert empty.variants[1].rate is None and empty.overall_p_value is None and not empty.srm.flagged


# The API, end to end ---------------------------------------------------------------------------------------


@pytest.mark.django_db
def test_only_marketers_manage_experiments(api_client, person_client, organiser_client):
    payload = {"key": "x", "surface": "nearby", "variants": VARIANTS}
    assert api_client.post(URL, payload, format="json").status_code == 401
    for client in (person_client, organiser_client):
        assert client.post(URL, payload, format="json").status_code == 403
        assert client.get(URL).status_code == 403
    experiment = _experiment(start=False)
    for suffix in ("", "start/", "stop/", "results/"):
        method = person_client.get if suffix in ("", "results/") else person_client.post
        assert method(f"{URL}{experiment.pk}/{suffix}").status_code == 403


BAD_EXPERIMENTS = [
    ({"key": "Has Spaces"}, "key"),
    ({"surface": "feed"}, "surface"),
    ({"metric": "revenue"}, "metric"),
    ({"variants": [{"key": "only", "weight": 1}]}, "variants"),
    ({"variants": [{"key": "a", "weight": 1}, {"key": "a", "weight": 1}]}, "variants[1].key"),
    ({"variants": [{"key": "a", "weight": 0}, {"key": "b", "weight": 1}]}, "variants[0].weight"),
    ({"variants": [{"key": "a", "weight": -1}, {"key": "b", "weight": 1}]}, "variants[0].weight"),
    ({"variants": [{"key": "a", "weight": 1}, {"key": "b", "weight": "lots"}]}, "variants[1].weight"),
    (
        {"variants": [{"key": "a", "weight": 1, "config": {"w_d": 2}}, {"key": "b", "weight": 1}]},
        "variants[0].config.w_d",
    ),
    (
        {"variants": [{"key": "a", "weight": 1, "config": {"colour": "red"}}, {"key": "b", "weight": 1}]},
        "variants[0].config.colour",
    ),
    (
        {
            "variants": [
                {"key": "a", "weight": 1},
                {"key": "b", "weight": 1, "config": {"model_version": "v404"}},
            ]
        },
        "variants[1].config.model_version",
    ),
    (
        {"variants": [{"key": "a", "weight": 1}, {"key": "b", "weight": 1, "config": {"radius_km": 0}}]},
        "variants[1].config.radius_km",
    ),
    ({"variants": [{"key": "a", "weight": 1}, {"key": "b", "weight": 1, "extra": 1}]}, "variants[1].extra"),
    ({"variants": "ab"}, "variants"),
]


@pytest.mark.django_db
@pytest.mark.parametrize(("change", "field"), BAD_EXPERIMENTS, ids=[f for _c, f in BAD_EXPERIMENTS])
def test_bad_experiments_are_400_naming_the_field(change, field):
    payload = {"key": "ok", "surface": "nearby", "variants": VARIANTS, **change}
    response = api_client_for(MarketerFactory()).post(URL, payload, format="json")
    assert response.status_code == 400, response.json()
    assert field in response.json()["error"]["fields"], response.json()
    assert not Experiment.objects.exists()


@pytest.mark.django_db
def test_lifecycle_create_start_stop_with_one_running_per_surface():
    client = api_client_for(MarketerFactory())
    created = client.post(URL, {"key": "first", "surface": "nearby", "variants": VARIANTS}, format="json")
    assert created.status_code == 201, created.json()
    body = created.json()
    assert (
        body["status"] == "draft"
        and body["metric"] == "wave"
        and body["variants"][1]["config"] == {"w_d": 0.8, "w_s": 0.2}
    )
    assert "salt" not in body
    assert (
        client.post(
            URL, {"key": "first", "surface": "nearby", "variants": VARIANTS}, format="json"
        ).status_code
        == 400
    )
    second = client.post(
        URL, {"key": "second", "surface": "nearby", "variants": VARIANTS}, format="json"
    ).json()

    assert client.post(f"{URL}{body['id']}/stop/").status_code == 409  # a draft does not stop
    assert client.post(f"{URL}{body['id']}/start/").json()["status"] == "running"
    busy = client.post(f"{URL}{second['id']}/start/")
    assert busy.status_code == 409 and busy.json()["error"]["code"] == "surface_busy"
    assert client.post(f"{URL}{body['id']}/start/").status_code == 409
    assert client.post(f"{URL}{body['id']}/stop/").json()["status"] == "stopped"
    assert client.post(f"{URL}{second['id']}/start/").status_code == 200
    assert client.get(f"{URL}999999/results/").status_code == 404
    listed = client.get(URL).json()
    assert listed["count"] == 2 and [e["key"] for e in listed["results"]] == ["second", "first"]


@pytest.mark.django_db
def test_results_count_exposed_people_who_waved_after_exposure_through_the_api():
    experiment = _experiment(
        variants=[
            {"key": "control", "weight": 1},
            {"key": "closer", "weight": 1, "config": {"w_d": 0.9, "w_s": 0.1}},
        ]
    )
    target = person_at(offset(NYC, east_km=0.4))
    viewers = [person_at(NYC) for _ in range(12)]
    waved_before = viewers[0]
    InteractionEvent.objects.create(
        kind="wave", actor=waved_before, target=target, occurred_at=timezone.now() - timedelta(hours=1)
    )
    for viewer in viewers:
        assert api_client_for(viewer).get("/api/nearby/").status_code == 200
    wavers = viewers[1:5]
    for viewer in wavers:
        assert api_client_for(viewer).post(f"/api/people/{target.pk}/wave/").status_code == 201

    body = api_client_for(MarketerFactory()).get(f"{URL}{experiment.pk}/results/").json()

    by_variant = {row["key"]: row for row in body["variants"]}
    assigned = {
        v.pk: services.experiment_assign(salt=experiment.salt, variants=experiment.variants, user_id=v.pk)[
            "key"
        ]
        for v in viewers
    }
    for key, row in by_variant.items():
        members = [pk for pk, variant in assigned.items() if variant == key]
        assert row["n"] == len(members)
        assert row["conversions"] == len([v for v in wavers if v.pk in members])
        # Every viewer saw the other 11 viewers and the target: 12 results per request, counted in Redis.
        assert row["impressions"] == 12 * len(members)
        if row["n"]:
            assert row["rate"] == pytest.approx(row["conversions"] / row["n"])
            assert row["ci_low"] <= row["rate"] <= row["ci_high"]
    assert body["metric"] == "wave" and body["srm"]["flagged"] is False
    assert sum(r["conversions"] for r in body["variants"]) == 4  # the wave before exposure does not count


@pytest.mark.django_db
def test_invitation_experiments_count_accepted_invitations_the_organiser_sent():
    experiment = _experiment(
        surface="invitations", variants=[{"key": "a", "weight": 1}, {"key": "b", "weight": 1}]
    )
    organisers = [UserFactory(role="organiser") for _ in range(6)]
    for organiser in organisers:
        services.experiment_config_for(user_id=organiser.pk, surface="invitations")
    activity = ActivityFactory(organiser=organisers[0])
    now = timezone.now()
    Invitation.objects.create(
        activity=activity,
        invitee=UserFactory(),
        invited_by=organisers[0],
        status="accepted",
        responded_at=now,
    )
    Invitation.objects.create(
        activity=activity,
        invitee=UserFactory(),
        invited_by=organisers[0],
        status="declined",
        responded_at=now,
    )
    other = ActivityFactory(organiser=organisers[1])
    Invitation.objects.create(activity=other, invitee=UserFactory(), invited_by=organisers[1], status="sent")

    results = experiment_results(experiment=Experiment.objects.get(pk=experiment.pk))

    assert sum(v.n for v in results.analysis.variants) == 6
    assert sum(v.conversions for v in results.analysis.variants) == 1


@pytest.mark.django_db(transaction=True)
def test_impressions_are_flushed_from_redis_to_the_database_by_a_real_worker():
    experiment = _experiment()
    config = {"experiment_id": experiment.pk, "variant": "closer"}
    services.experiment_impressions_record(config=config, count=7)
    services.experiment_impressions_record(config=config, count=5)
    services.experiment_impressions_record(config={**config, "variant": "alike"}, count=2)
    assert services.impressions_pending(experiment_id=experiment.pk) == {"closer": 12, "alike": 2}

    with running_worker() as queue:
        moved = tasks.experiments_impressions_flush.apply_async(queue=queue).get(timeout=60)
        services.experiment_impressions_record(config=config, count=1)
        deadline = time.monotonic() + 30
        while (
            services.impressions_pending(experiment_id=experiment.pk) != {"closer": 1}
            and time.monotonic() < deadline
        ):
            time.sleep(0.1)

    assert moved == 14
    stored = dict(
        ExperimentImpressions.objects.filter(experiment=experiment).values_list("variant", "impressions")
    )
    assert stored == {"closer": 12, "alike": 2}
    assert services.impressions_pending(experiment_id=experiment.pk) == {"closer": 1}
    results = experiment_results(experiment=experiment)
    assert {v.key: v.impressions for v in results.analysis.variants} == {
        "control": 0,
        "closer": 13,
        "alike": 2,
    }
