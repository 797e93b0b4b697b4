"""Activities for you and acceptance probabilities: training on a synthetic city, ranking with the active
models, the fallback without them, and the API."""

from __future__ import annotations

import shutil
from datetime import timedelta
from io import StringIO

import pytest
from django.core.cache import cache
from django.core.management import CommandError, call_command
from django.utils import timezone

from matching import services, serving
from matching.features import SCHEMA
from matching.models import ModelVersion
from matching.ranking.artefacts import (
    ITEM_INDEX_FILE,
    RANKER_NAME,
    RECALL_NAME,
    LoadedRanker,
    LoadedRecall,
    item_index_read,
    ranker_active,
    ranker_artefact_save,
    recall_active,
    recall_artefact_save,
)
from matching.ranking.selectors import (
    DISTANCE_BUCKET_LABELS,
    acceptance_probabilities,
    activities_for_you_list,
    distance_bucket,
)
from matching.ranking.training import (
    RankerTrainingOptions,
    RecallTrainingOptions,
    ranker_train,
    recall_train,
)
from tests.clients import api_client_for
from tests.factories import (
    ActivityFactory,
    BlockFactory,
    InvitationFactory,
    LocationFactory,
    OrganiserFactory,
    ParticipationFactory,
    UserFactory,
)
from tests.matching.ranking_builders import place_at, tiny_ranker_register, tiny_vocabulary, visits
from users.demo import synthetic_city_dataset
from users.importers import checkins_load
from users.models import Place, User

FOR_YOU = "/api/activities/for-you/"
TINY_RANKER = ["--epochs", "1", "--short-length", "4", "--long-length", "32", "--top-k", "4",
               "--embedding-dim", "4", "--max-train-positives", "300",
               "--max-val-positives", "150"]  # fmt: skip
TINY_RECALL = ["--architecture", "dssm", "--epochs", "1", "--embedding-dim", "8",
               "--max-train-samples", "300", "--history-length", "10"]  # fmt: skip


pytestmark = pytest.mark.usefixtures("model_dir")  # tests/matching/conftest.py


def _activity(*, venue: Place | None = None, starts_in: timedelta = timedelta(days=2), **kwargs):
    """An upcoming activity (at `venue` when given) whose organiser takes part, as the service does."""
    if venue is not None:
        kwargs |= {
            "place": venue,
            "latitude": venue.latitude,
            "longitude": venue.longitude,
            "geohash": venue.geohash,
        }
    activity = ActivityFactory(starts_at=timezone.now() + starts_in, **kwargs)
    ParticipationFactory(activity=activity, user=activity.organiser)
    return activity


def _synthetic_city(*, people: int) -> None:
    checkins_load(dataset=synthetic_city_dataset(people=people))


def _some_joins_and_answers() -> None:
    """Two upcoming activities at synthetic venues: three people joined one, two declined the other."""
    people = list(User.objects.filter(username__startswith="synth_").order_by("pk")[:5])
    venues = list(
        Place.objects.filter(source="demo", place_type__in=["outdoors", "sports"]).order_by("pk")[:2]
    )
    joined = _activity(venue=venues[0], activity_type="running")
    declined = _activity(venue=venues[1], activity_type="tennis")
    for person in people[:3]:
        ParticipationFactory(activity=joined, user=person)
    for person in people[3:]:
        InvitationFactory(activity=declined, invitee=person, status="declined", responded_at=timezone.now())


# The commands ---------------------------------------------------------------------------------------


@pytest.mark.django_db
def test_train_ranker_and_train_recall_register_active_loadable_models_with_their_metrics(
    model_dir, django_capture_on_commit_callbacks
):
    _synthetic_city(people=30)
    _some_joins_and_answers()
    out = StringIO()
    with django_capture_on_commit_callbacks(execute=True):
        call_command(
            "train_ranker", "--model-version", "r1", "--activate", *TINY_RANKER, stdout=out, stderr=StringIO()
        )
    ranker_row = ModelVersion.objects.get(name=RANKER_NAME, version="r1")
    assert (ranker_row.status, ranker_row.artefact_path) == ("active", "ranker/r1")
    assert ranker_row.feature_schema_version == SCHEMA.version
    metrics = ranker_row.metrics
    assert 0.0 <= metrics["val_auc"] <= 1.0 and 0.0 <= metrics["val_gauc"] <= 1.0
    assert metrics["train_samples"] > 0 and metrics["val_samples"] > 0 and len(metrics["losses"]) == 1
    assert metrics["options"]["short_length"] == 4 and metrics["options"]["long_length"] == 32
    # The joins and declines, after every check-in, are validation samples (each join with the other
    # open activity as its negative): 3 joins + 3 negatives + 2 declines.
    assert metrics["val_activity_samples"] == 8 and metrics["val_activity_auc"] is not None
    loaded = ranker_active()
    assert isinstance(loaded, LoadedRanker) and loaded.version == "r1"
    assert (loaded.short_length, loaded.long_length, loaded.model.config.top_k) == (4, 32, 4)
    table = out.getvalue()
    assert "validation AUC / GAUC, DIN+ETA" in table and f"{metrics['val_auc']:.4f}" in table

    out = StringIO()
    with django_capture_on_commit_callbacks(execute=True):
        call_command("train_recall", "--model-version", "c1", "--activate", "--export-index", *TINY_RECALL,
                     stdout=out, stderr=StringIO())  # fmt: skip
    recall_row = ModelVersion.objects.get(name=RECALL_NAME, version="c1")
    assert recall_row.status == "active"
    metrics = recall_row.metrics
    assert metrics["architecture"] == "dssm" and metrics["users"] > 0
    for k in (10, 50, 100):
        assert 0.0 <= metrics[f"hit@{k}"] <= 1.0 and 0.0 <= metrics[f"ndcg@{k}"] <= metrics[f"hit@{k}"] + 1e-9
        assert 0.0 <= metrics["popularity"][f"hit@{k}"] <= 1.0
    assert metrics["hit@10"] <= metrics["hit@50"] <= metrics["hit@100"]
    loaded_recall = recall_active()
    assert isinstance(loaded_recall, LoadedRecall) and loaded_recall.history_length == 10
    index = item_index_read(model_dir / "recall" / "c1" / ITEM_INDEX_FILE)
    assert index.ntotal == metrics["catalogue"] == len(loaded_recall.vocabulary.place_ids)
    assert "Hit@50 / NDCG@50 (popularity baseline)" in out.getvalue()
    # RALM is untouched by the other names: none active, none loaded.
    assert serving.ralm_active() is None

    with pytest.raises(CommandError, match="already registered"):
        call_command(
            "train_ranker", "--model-version", "r1", *TINY_RANKER, stdout=StringIO(), stderr=StringIO()
        )
    out = StringIO()
    call_command("train_recall", "--model-version", "c2", "--if-none-active", *TINY_RECALL, stdout=out,
                 stderr=StringIO())  # fmt: skip
    assert "c1 is already active" in out.getvalue()
    assert not ModelVersion.objects.filter(version="c2").exists()


@pytest.mark.django_db
def test_the_commands_refuse_a_city_without_history(model_dir):
    with pytest.raises(CommandError, match="nothing to learn from"):
        call_command(
            "train_ranker", "--model-version", "x", *TINY_RANKER, stdout=StringIO(), stderr=StringIO()
        )
    with pytest.raises(CommandError, match="nothing to learn from"):
        call_command(
            "train_recall", "--model-version", "x", *TINY_RECALL, stdout=StringIO(), stderr=StringIO()
        )
    assert not ModelVersion.objects.exists() and not (model_dir / "ranker" / "x").exists()


# Ranking with the active models ---------------------------------------------------------------------


def _train_and_activate_both() -> None:
    """A ranker and a recall model trained on the synthetic city, registered and active."""
    ranker = ranker_train(
        options=RankerTrainingOptions(
            epochs=3, max_train_positives=1500, max_val_positives=300, long_length=64
        )
    )
    ranker_artefact_save(artefact_path="ranker/t", model=ranker.model, vocabulary=ranker.vocabulary)
    recall = recall_train(
        options=RecallTrainingOptions(architecture="dssm", epochs=2, max_train_samples=1500)
    )
    recall_artefact_save(artefact_path="recall/t", model=recall.model, vocabulary=recall.vocabulary)
    for name in (RANKER_NAME, RECALL_NAME):
        services.model_version_register(
            name=name,
            version="t",
            artefact_path=f"{name}/t",
            metrics={},
            feature_schema_version=SCHEMA.version,
        )
        services.model_version_activate(name=name, version="t")


@pytest.mark.django_db
def test_a_person_who_only_goes_to_parks_gets_the_outdoor_activity_first(model_dir):
    _synthetic_city(people=60)
    _train_and_activate_both()
    # Two public venues of the synthetic city the new person has never been to, in the same area.
    park = Place.objects.filter(source="demo", place_type="outdoors").order_by("pk").first()
    cafe = Place.objects.filter(source="demo", place_type="food").order_by("pk").first()
    parks = list(
        Place.objects.filter(source="demo", place_type="outdoors").exclude(pk=park.pk).order_by("pk")[:6]
    )
    person = UserFactory()
    visits(
        user=person, places=parks * 3, start=timezone.now() - timedelta(days=30), every=timedelta(hours=20)
    )
    starts = timedelta(days=3, hours=2)
    running = _activity(venue=park, activity_type="running", title="Morning run", starts_in=starts)
    games = _activity(venue=cafe, activity_type="board_games", title="Board games", starts_in=starts)
    full = _activity(venue=park, activity_type="running", capacity=2, starts_in=starts)
    ParticipationFactory(activity=full, user=UserFactory())

    results = activities_for_you_list(user=person, limit=10)

    assert [r.activity.pk for r in results] == [running.pk, games.pk]
    assert {r.ranked_by for r in results} == {"ranker"}
    assert results[0].score > results[1].score and all(0.0 <= r.score <= 1.0 for r in results)
    assert "You often go to parks and the outdoors" in results[0].reasons
    assert not any("parks" in reason for reason in results[1].reasons)

    # Acceptance: every candidate gets a probability; the park-goer is likelier to accept the run than
    # someone who never goes to parks.
    cafe_goer = UserFactory()
    cafes = list(
        Place.objects.filter(source="demo", place_type="food").exclude(pk=cafe.pk).order_by("pk")[:6]
    )
    visits(
        user=cafe_goer, places=cafes * 3, start=timezone.now() - timedelta(days=30), every=timedelta(hours=20)
    )
    newcomer = UserFactory()
    probabilities = acceptance_probabilities(
        activity=running, user_ids=[person.pk, cafe_goer.pk, newcomer.pk]
    )
    assert set(probabilities) == {person.pk, cafe_goer.pk, newcomer.pk}
    assert all(0.0 <= p <= 1.0 for p in probabilities.values())
    assert probabilities[person.pk] > probabilities[cafe_goer.pk]
    assert acceptance_probabilities(activity=running, user_ids=[]) == {}


@pytest.mark.django_db
def test_acceptance_probabilities_are_empty_without_an_active_ranker(django_capture_on_commit_callbacks):
    activity = _activity()
    person = UserFactory()
    assert acceptance_probabilities(activity=activity, user_ids=[person.pk]) == {}
    # A registered but inactive ranker does not count either.
    tiny_ranker_register(version="v1", vocabulary=tiny_vocabulary(place_ids=[1]))
    assert acceptance_probabilities(activity=activity, user_ids=[person.pk]) == {}
    with django_capture_on_commit_callbacks(execute=True):  # publishes the activation, as a commit would
        services.model_version_activate(name=RANKER_NAME, version="v1")
    serving.loaded_models_clear()
    probabilities = acceptance_probabilities(activity=activity, user_ids=[person.pk, person.pk])
    assert list(probabilities) == [person.pk] and 0.0 <= probabilities[person.pk] <= 1.0


# Candidates and the fallback --------------------------------------------------------------------------


@pytest.fixture
def candidates(db):
    """A person in Midtown and activities of every kind that must or must not be suggested to them."""
    person = UserFactory()
    LocationFactory(user=person, latitude=40.7484, longitude=-73.9857)  # Midtown
    near = place_at(latitude=40.7490, longitude=-73.9850, name="Near park")  # < 1 km
    farther = place_at(latitude=40.7800, longitude=-73.9700, name="Far park")  # 2–5 km
    blocked_by_me, blocking_me = OrganiserFactory(), OrganiserFactory()
    BlockFactory(blocker=person, blocked=blocked_by_me)
    BlockFactory(blocker=blocking_me, blocked=person)
    eligible = {
        "near_later": _activity(venue=near, starts_in=timedelta(days=5)),
        "near_sooner": _activity(venue=near, starts_in=timedelta(days=1)),
        "farther_soonest": _activity(venue=farther, starts_in=timedelta(hours=5)),
    }
    full = _activity(venue=near, capacity=2)
    ParticipationFactory(activity=full, user=UserFactory())
    joined = _activity(venue=near)
    ParticipationFactory(activity=joined, user=person)
    excluded = {
        "started": _activity(venue=near, starts_in=-timedelta(minutes=5)),
        "full": full,
        "joined": joined,
        "cancelled": _activity(venue=near, status="cancelled"),
        "organiser_blocked": _activity(venue=near, organiser=blocked_by_me),
        "organiser_blocks_me": _activity(venue=near, organiser=blocking_me),
    }
    return {"person": person, "eligible": eligible, "excluded": excluded, "near": near}


@pytest.mark.django_db
def test_without_models_the_nearest_venues_come_first_then_the_soonest(candidates):
    results = activities_for_you_list(user=candidates["person"], limit=10)
    eligible = candidates["eligible"]
    assert [r.activity.pk for r in results] == [
        eligible["near_sooner"].pk, eligible["near_later"].pk, eligible["farther_soonest"].pk,
    ]  # fmt: skip
    assert {r.ranked_by for r in results} == {"fallback"} and {r.score for r in results} == {None}
    assert f"{DISTANCE_BUCKET_LABELS[0]} from you" in results[0].reasons
    assert f"{DISTANCE_BUCKET_LABELS[2]} from you" in results[2].reasons
    assert [r.activity.pk for r in activities_for_you_list(user=candidates["person"], limit=1)] == [
        eligible["near_sooner"].pk
    ]


@pytest.mark.django_db
def test_started_full_joined_cancelled_and_blocked_organisers_activities_are_never_suggested(candidates):
    tiny_ranker_register(version="v1", vocabulary=tiny_vocabulary(place_ids=[candidates["near"].pk]))
    services.model_version_activate(name=RANKER_NAME, version="v1")
    for model_state in ("ranker", "fallback"):
        if model_state == "fallback":
            ModelVersion.objects.all().delete()
            serving.loaded_models_clear()
            cache.clear()
        results = activities_for_you_list(user=candidates["person"], limit=50)
        shown = {r.activity.pk for r in results}
        assert shown == {a.pk for a in candidates["eligible"].values()}, model_state
        assert {r.ranked_by for r in results} == {model_state}


@pytest.mark.django_db
def test_a_broken_active_artefact_falls_back_instead_of_failing(candidates, model_dir):
    tiny_ranker_register(version="v1", vocabulary=tiny_vocabulary(place_ids=[1]))
    services.model_version_activate(name=RANKER_NAME, version="v1")
    shutil.rmtree(model_dir / "ranker" / "v1")
    serving.loaded_models_clear()  # as a freshly started process would be

    response = api_client_for(candidates["person"]).get(FOR_YOU)

    assert response.status_code == 200
    assert response.json()["ranked_by"] == "fallback" and len(response.json()["results"]) == 3
    assert acceptance_probabilities(activity=candidates["eligible"]["near_later"], user_ids=[1]) == {}


# The API --------------------------------------------------------------------------------------------------


@pytest.mark.django_db
def test_the_api_needs_a_signed_in_person(api_client):
    response = api_client.get(FOR_YOU)
    assert response.status_code == 401
    assert response.json()["error"]["code"] == "not_authenticated"


@pytest.mark.django_db
@pytest.mark.parametrize("limit", ["0", "51", "abc", "-3", "1e3"])
def test_a_bad_limit_is_a_400_naming_limit(person_client, limit):
    response = person_client.get(FOR_YOU, {"limit": limit})
    assert response.status_code == 400
    error = response.json()["error"]
    assert error["message"].startswith("limit:") and "limit" in error["fields"]


@pytest.mark.django_db
def test_the_api_lists_suggestions_with_reasons_and_no_one_elses_location(
    candidates, django_assert_num_queries, monkeypatch
):
    # The active-version answers stay cached for the whole test, however slow the host.
    monkeypatch.setattr(serving, "ACTIVE_VERSION_TTL_SECONDS", 3600)
    client = api_client_for(candidates["person"])
    client.get(FOR_YOU)  # warms the cached "no active model" answers
    # candidates, the person's check-ins, their participations, their location, the activities shown
    with django_assert_num_queries(5):
        response = client.get(FOR_YOU, {"limit": 2})
    assert response.status_code == 200
    body = response.json()
    assert body["ranked_by"] == "fallback" and len(body["results"]) == 2
    first = body["results"][0]
    assert first["activity"]["id"] == candidates["eligible"]["near_sooner"].pk
    assert first["reasons"] and first["score"] is None
    assert set(first["activity"]["organiser"]) == {"id", "name"}  # a public name, no location
    assert (first["activity"]["latitude"], first["activity"]["longitude"]) == (
        candidates["near"].latitude, candidates["near"].longitude,
    )  # fmt: skip  # the venue is public


@pytest.mark.django_db
def test_the_query_count_does_not_grow_with_the_candidates_when_models_rank(
    candidates, django_assert_num_queries, monkeypatch
):
    monkeypatch.setattr(serving, "ACTIVE_VERSION_TTL_SECONDS", 3600)  # cached for the whole test
    near = candidates["near"]
    tiny_ranker_register(
        version="v1", vocabulary=tiny_vocabulary(place_ids=[near.pk], areas=[near.geohash[:5]])
    )
    services.model_version_activate(name=RANKER_NAME, version="v1")
    person = candidates["person"]
    visits(user=person, places=[near] * 5, start=timezone.now() - timedelta(days=3))
    client = api_client_for(person)
    client.get(FOR_YOU)
    # candidates, the person's check-ins, their participations, the activities shown
    with django_assert_num_queries(4):
        few = client.get(FOR_YOU).json()
    for _ in range(10):
        _activity(venue=near)
    with django_assert_num_queries(4):
        many = client.get(FOR_YOU, {"limit": 20}).json()
    assert few["ranked_by"] == many["ranked_by"] == "ranker"
    assert len(few["results"]) == 3 and len(many["results"]) == 13
    assert all(0.0 <= item["score"] <= 1.0 for item in many["results"])
    at_near = [item for item in many["results"] if (item["activity"]["place"] or {}).get("id") == near.pk]
    assert len(at_near) == 12 and all(
        "You've been to Near park before" in item["reasons"] for item in at_near
    )


def test_distance_buckets_match_the_privacy_rules():
    assert [distance_bucket(km) for km in (0.0, 0.99, 1.0, 4.9, 9.99, 24.0, 25.0, 300.0, None)] == [
        0, 0, 1, 2, 3, 4, 5, 5, 6,
    ]  # fmt: skip


@pytest.mark.django_db
def test_the_endpoint_is_documented_in_the_openapi_schema(api_client):
    schema = api_client.get("/api/schema/", HTTP_ACCEPT="application/vnd.oai.openapi+json").json()
    operation = schema["paths"]["/api/activities/for-you/"]["get"]
    assert operation["operationId"] == "activities_for_you"
    limit = next(p for p in operation["parameters"] if p["name"] == "limit")
    assert (limit["schema"]["minimum"], limit["schema"]["maximum"]) == (1, 50)
    assert {"200", "400", "401"} <= set(operation["responses"])
