"""GET /api/nearby/ and POST /api/people/{id}/wave/ end to end, on PostgreSQL and Redis."""

from __future__ import annotations

import json
from datetime import timedelta

import numpy as np
import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone
from django_redis import get_redis_connection
from rest_framework.throttling import ScopedRateThrottle

from matching import services, serving
from matching.experiments import services as experiments
from matching.index import candidate_scores
from matching.models import ModelVersion
from matching.nearby import privacy, selectors
from matching.seed_cache import seed_summary_key
from tests.clients import api_client_for
from tests.factories import BlockFactory, FollowFactory, MarketerFactory, UserFactory
from tests.matching.feature_store_people import random_batch
from tests.matching.nearby_builders import NYC, forget_rosters_around, offset, person_at, result_ids
from tests.matching.ralm_builders import tiny_ralm_register
from users.models import InteractionEvent, Profile, User
from users.services import profile_update

URL = "/api/nearby/"
RESULT_FIELDS = {
    "id", "display_name", "age_group", "reasons", "shared_interests", "similarity", "similarity_source",
    "score", "distance",
}  # fmt: skip


pytestmark = pytest.mark.usefixtures("nearby_models")  # tests/matching/conftest.py


# Who may ask, and what they may ask -----------------------------------------------------------------


@pytest.mark.django_db
def test_anonymous_is_401_marketers_403_and_no_location_409(api_client):
    assert api_client.get(URL).status_code == 401
    assert api_client_for(MarketerFactory()).get(URL).status_code == 403
    response = api_client_for(UserFactory()).get(URL)
    assert response.status_code == 409
    assert response.json()["error"]["code"] == "location_required"
    assert response.json()["error"]["message"].startswith("location:")


BAD_QUERIES = [
    ("radius_km=0", "radius_km"),
    ("radius_km=-2", "radius_km"),
    ("radius_km=50.01", "radius_km"),
    ("radius_km=NaN", "radius_km"),
    ("radius_km=inf", "radius_km"),
    ("radius_km=far", "radius_km"),
    ("limit=0", "limit"),
    ("limit=101", "limit"),
    ("limit=ten", "limit"),
    ("limit=99999999999999999999999", "limit"),
    ("with_friends=perhaps", "with_friends"),
]


@pytest.mark.django_db
@pytest.mark.parametrize(("query", "field"), BAD_QUERIES, ids=[q for q, _f in BAD_QUERIES])
def test_bad_parameters_are_400_naming_the_field(query, field):
    me = person_at(NYC)
    response = api_client_for(me).get(f"{URL}?{query}")
    assert response.status_code == 400, response.json()
    assert field in response.json()["error"]["fields"]
    assert response.json()["error"]["message"].startswith(f"{field}:")


# Who is shown --------------------------------------------------------------------------------------


@pytest.mark.django_db
def test_self_blocked_hidden_stale_inactive_marketers_and_far_people_are_left_out():
    me = person_at(NYC, interests={"music": 1.0})
    shown = person_at(offset(NYC, east_km=0.3))
    blocked_by_me = person_at(offset(NYC, east_km=0.4))
    blocking_me = person_at(offset(NYC, east_km=0.5))
    hidden = person_at(offset(NYC, north_km=0.2))
    Profile.objects.filter(user=hidden).update(hide_from_nearby=True)
    stale = person_at(offset(NYC, north_km=0.1), updated_at=timezone.now() - timedelta(days=4))
    inactive = person_at(offset(NYC, north_km=-0.1), is_active=False)
    marketer = person_at(offset(NYC, north_km=-0.2), role=User.Role.MARKETER)
    far = person_at(offset(NYC, north_km=12.0))
    BlockFactory(blocker=me, blocked=blocked_by_me)
    BlockFactory(blocker=blocking_me, blocked=me)

    assert result_ids(api_client_for(me).get(f"{URL}?radius_km=5")) == [shown.pk]
    assert sorted(result_ids(api_client_for(me).get(f"{URL}?radius_km=20"))) == sorted([shown.pk, far.pk])
    # The blocker does not see the one they blocked either: a block hides both ways.
    assert me.pk not in result_ids(api_client_for(blocking_me).get(URL))
    assert {stale.pk, inactive.pk, marketer.pk, hidden.pk}.isdisjoint(
        result_ids(api_client_for(me).get(f"{URL}?radius_km=50"))
    )


@pytest.mark.django_db
def test_each_result_carries_name_age_group_reasons_scores_and_a_bucket_and_nothing_else(
    django_capture_on_commit_callbacks,
):
    me = person_at(NYC, interests={"music": 0.9, "reading": 0.8}, activities={"climbing": 1.0})
    other = person_at(
        offset(NYC, north_km=1.5),
        interests={"music": 0.7, "reading": 0.2},
        activities={"climbing": 0.6},
        display_name="Ada",
    )
    Profile.objects.filter(user=other).update(birth_year=timezone.now().year - 30)

    body = api_client_for(me).get(URL).json()

    assert body["radius_km"] == 5.0 and body["count"] == 1
    (row,) = body["results"]
    assert set(row) == RESULT_FIELDS
    assert row["id"] == other.pk and row["display_name"] == "Ada" and row["age_group"] == "25–34"
    # Strongest shared taste first (music: min(0.9, 0.7); climbing: min(1.0, 0.6)); reading is not shared.
    assert row["shared_interests"] == ["music", "climbing"]
    assert row["reasons"] == ["you both like music", "you both enjoy climbing"]
    assert row["similarity_source"] == "profile" and 0 < row["similarity"] <= 1
    expected_bucket = privacy.snapped_distance_bucket(
        privacy.snap_cell_at(*NYC), privacy.snap_cell_at(*offset(NYC, north_km=1.5))
    )
    assert row["distance"] == {"key": expected_bucket.key, "label": expected_bucket.label}
    assert row["score"] == pytest.approx(
        0.6 * privacy.bucket_distance_score(expected_bucket) + 0.4 * row["similarity"], abs=1e-3
    )
    # Through the profile service: the change applies at once, though their cell's roster is cached.
    with django_capture_on_commit_callbacks(execute=True):
        profile_update(user=other, data={"show_age_group": False})
    assert api_client_for(me).get(URL).json()["results"][0]["age_group"] is None


@pytest.mark.django_db
def test_the_hand_built_response_is_exactly_what_the_documented_serializer_gives():
    from matching.nearby.apis import NearbyListApi, nearby_page_data
    from matching.nearby.services import nearby_people_serve

    me = person_at(NYC, interests={"music": 0.9}, activities={"climbing": 1.0})
    for i in range(4):
        other = person_at(offset(NYC, north_km=0.7 * i), interests={"music": 0.5 + 0.1 * i})
        Profile.objects.filter(user=other).update(birth_year=timezone.now().year - 20 - 5 * i)

    page = nearby_people_serve(user=me, limit=20)

    assert len(page.results) == 4
    documented = NearbyListApi.OutputSerializer(
        {"radius_km": page.radius_km, "count": len(page.results), "results": page.results}
    ).data
    assert json.loads(json.dumps(nearby_page_data(page))) == json.loads(json.dumps(documented))


@pytest.mark.django_db
def test_a_dense_area_is_capped_nearest_first_with_the_freshest_first_within_a_cell(settings):
    settings.VICINO_NEARBY_CANDIDATE_CAP = 6
    me = person_at(NYC)
    now = timezone.now()
    centre = privacy.snap_cell_at(*NYC)
    centre_lat, centre_lon = privacy.snap_cell_centre(centre)
    # Eight people in my own cell (snapped distance 0), four in the cell east of it.
    own = [
        person_at((centre_lat + 0.0001 * i, centre_lon - 0.0002 * i), updated_at=now - timedelta(minutes=i))
        for i in range(8)
    ]
    east = [person_at(offset((centre_lat, centre_lon), east_km=0.95 + 0.01 * i)) for i in range(4)]
    assert privacy.snap_cell_at(*offset((centre_lat, centre_lon), east_km=0.95)) != centre

    page = selectors.nearby_people_list(
        user=me, radius_km=5, limit=50, config=experiments.surface_defaults(surface="nearby")
    )

    assert page.candidates == 6
    assert sorted(p.user_id for p in page.results) == sorted(u.pk for u in own[:6])
    assert not {u.pk for u in east} & {p.user_id for p in page.results}


@pytest.mark.django_db
def test_the_dense_cell_query_reads_the_snap_cell_index():
    person_at(NYC)
    with connection.cursor() as cursor:
        cursor.execute("SET enable_seqscan = off")
        cursor.execute(
            f"EXPLAIN SELECT user_id FROM users_location WHERE {privacy.snap_cell_sql('geohash')} = %s "  # noqa: S608
            "ORDER BY updated_at DESC LIMIT 10",
            [privacy.snap_cell_at(*NYC)],
        )
        plan = "\n".join(row[0] for row in cursor.fetchall())
        cursor.execute("SET enable_seqscan = on")
    assert "location_snapcell_recent" in plan, plan


# Ranking ---------------------------------------------------------------------------------------------


@pytest.mark.django_db
def test_order_is_the_blend_of_the_bucket_and_similarity_and_repeats_exactly():
    me = person_at(NYC, interests={"music": 1.0})
    near_unlike = person_at(offset(NYC, east_km=0.2), interests={"pets": 1.0})
    far_alike = person_at(offset(NYC, north_km=3.0), interests={"music": 1.0})
    client = api_client_for(me)

    first = client.get(URL).json()
    # near_unlike: 0.6·1 + 0.4·0 = 0.6; far_alike (2–5 km): 0.6·0.6 + 0.4·1 = 0.76.
    assert [row["id"] for row in first["results"]] == [far_alike.pk, near_unlike.pk]
    assert [row["score"] for row in first["results"]] == [0.76, 0.6]
    for _ in range(3):
        assert client.get(URL).json() == first


@pytest.mark.django_db
def test_the_diversity_pass_keeps_one_taste_from_filling_the_top():
    me = person_at(NYC, interests={"music": 1.0, "outdoors": 0.9})
    musicians = [person_at(offset(NYC, east_km=0.05 * i), interests={"music": 1.0}) for i in range(8)]
    hiker = person_at(offset(NYC, north_km=0.1), interests={"outdoors": 1.0})

    ids = result_ids(api_client_for(me).get(f"{URL}?limit=4"))

    # By score alone the four musicians come first (cosine 0.74 > 0.67): the pass lets the hiker in.
    assert hiker.pk in ids and len(set(ids) & {m.pk for m in musicians}) == 3


def _diversify_by_definition(ranked, scores, clusters, limit):
    """The greedy pass as its doc defines it, the slow way: every remaining person is a contender."""
    remaining, picked = list(ranked), []
    while remaining and len(picked) < limit:

        def value(key):
            already = sum(clusters[other] == clusters[key] for other in picked)
            return (scores[key] - selectors.DIVERSITY_PENALTY * already, -ranked.index(key))

        best = max(remaining, key=value)
        picked.append(best)
        remaining.remove(best)
    return picked


def test_the_diversity_pass_is_the_greedy_pass_its_doc_defines():
    rng = np.random.default_rng(11)
    for trial in range(300):
        n = int(rng.integers(0, 40))
        keys = [int(key) for key in rng.permutation(1000)[:n]]
        # Coarse scores and few clusters, so that ties (kept in the given order) are common.
        scores = {key: float(rng.integers(0, 8)) / 20 for key in keys}
        ranked = sorted(keys, key=lambda key: -scores[key])  # best first, as nearby hands it over
        clusters = {key: int(rng.integers(-1, 4)) for key in ranked}
        limit = int(rng.integers(1, 25))
        expected = _diversify_by_definition(ranked, scores, clusters, limit)
        assert (
            selectors.diversify(ranked=ranked, scores=scores, clusters=clusters, limit=limit) == expected
        ), trial


@pytest.mark.django_db
def test_the_list_costs_the_same_queries_whatever_the_number_of_results(django_assert_num_queries):
    me = person_at(NYC)
    client = api_client_for(me)
    for i in range(3):
        person_at(offset(NYC, east_km=0.1 * i))
    client.get(URL)  # the first request also caches what later ones find in Redis (running experiments)
    with CaptureQueriesContext(connection) as few:
        assert len(result_ids(client.get(URL))) == 3
    for i in range(30):
        person_at(offset(NYC, north_km=0.02 * i))
    forget_rosters_around(NYC, radius_km=5)
    # Cold rosters: the same queries, plus at most one build per round of cells, whatever they hold.
    with CaptureQueriesContext(connection) as cold:
        assert len(result_ids(client.get(f"{URL}?limit=40"))) == 33
    builds = [q for q in cold.captured_queries if "vicino_nearby_rosters" in q["sql"]]
    rounds = len(list(selectors._chunks(len(privacy.cells_within(privacy.snap_cell_at(*NYC), 5.0)))))
    assert 1 <= len(builds) <= rounds
    assert len(cold.captured_queries) - len(builds) == len(few.captured_queries)
    # Cached rosters: not one query for the candidates.
    with django_assert_num_queries(len(few.captured_queries)):
        assert len(result_ids(client.get(f"{URL}?limit=40"))) == 33
    assert not any("vicino_nearby_rosters" in q["sql"] for q in few.captured_queries)


# RALM similarity --------------------------------------------------------------------------------------


def _encode(people: list[User], *, version: str = "v1", seed: int = 0) -> ModelVersion:
    ids = [user.pk for user in people]
    services.feature_vectors_store(batch=random_batch(user_ids=ids, at=timezone.now(), seed=seed))
    model_version = tiny_ralm_register(version=version, seed=seed)
    services.user_embeddings_encode_all(model_version_id=model_version.pk)
    return model_version


@pytest.mark.django_db
def test_ralm_scores_people_with_embeddings_and_the_profile_cosine_the_rest():
    me = person_at(NYC, interests={"music": 1.0})
    encoded = [person_at(offset(NYC, east_km=0.1 * i), interests={"music": 1.0}) for i in range(1, 5)]
    newcomer = person_at(offset(NYC, north_km=0.1), interests={"music": 1.0})
    _encode([me, *encoded])
    services.model_version_activate(name="ralm", version="v1")

    rows = {row["id"]: row for row in api_client_for(me).get(URL).json()["results"]}

    model = serving.ralm_active()
    summary = services.seed_summary_get(
        model_version=ModelVersion.objects.get(version="v1"), seed_user_ids=[me.pk]
    )
    ids, raw = candidate_scores(model=model, summary=summary, user_ids=[u.pk for u in encoded])
    scale = float(model.lookalike.mixing.detach().abs().sum())
    for user_id, score in zip(ids.tolist(), raw.tolist(), strict=True):
        assert rows[user_id]["similarity_source"] == "ralm"
        assert rows[user_id]["similarity"] == pytest.approx((score / scale + 1) / 2, abs=1e-3)
    assert rows[newcomer.pk]["similarity_source"] == "profile" and rows[newcomer.pk]["similarity"] == 1.0


@pytest.mark.django_db
def test_with_friends_adds_mutual_follows_to_the_ralm_seeds():
    me = person_at(NYC)
    friend = person_at(offset(NYC, north_km=30))  # out of range: a seed, not a result
    follower_only = person_at(offset(NYC, north_km=31))
    FollowFactory(follower=me, followee=friend)
    FollowFactory(follower=friend, followee=me)
    FollowFactory(follower=follower_only, followee=me)
    others = [person_at(offset(NYC, east_km=0.1 * i)) for i in range(1, 7)]
    version = _encode([me, friend, follower_only, *others])
    services.model_version_activate(name="ralm", version="v1")
    redis = get_redis_connection("default")

    def summary_cached(seeds: list[int]) -> bool:
        return bool(
            redis.exists(
                seed_summary_key(model_version_id=version.pk, name="ralm", version="v1", seed_user_ids=seeds)
            )
        )

    alone = api_client_for(me).get(URL).json()["results"]
    assert summary_cached([me.pk]) and not summary_cached([me.pk, friend.pk])
    together = api_client_for(me).get(f"{URL}?with_friends=true").json()["results"]
    assert summary_cached([me.pk, friend.pk])  # mutual follows only: not follower_only
    assert {row["id"] for row in alone} == {row["id"] for row in together} == {u.pk for u in others}
    assert {row["similarity_source"] for row in together} == {"ralm"}


@pytest.mark.django_db
def test_with_friends_blends_the_friends_tastes_into_the_profile_similarity():
    me = person_at(NYC, interests={"music": 1.0})
    friend = person_at(offset(NYC, north_km=30), interests={"pets": 1.0})
    FollowFactory(follower=me, followee=friend)
    FollowFactory(follower=friend, followee=me)
    dog_walker = person_at(offset(NYC, east_km=0.2), interests={"pets": 1.0})
    client = api_client_for(me)

    alone = client.get(URL).json()["results"][0]
    together = client.get(f"{URL}?with_friends=true").json()["results"][0]

    assert alone["id"] == together["id"] == dog_walker.pk
    # Seeds' mean taste (0.5 music, 0.5 pets) against pets: cos = 0.5 / √0.5 = 0.707.
    assert (alone["similarity"], together["similarity"]) == (0.0, 0.707)


@pytest.mark.django_db
def test_a_model_that_cannot_be_loaded_falls_back_to_the_profile_never_a_500(settings, tmp_path):
    me = person_at(NYC, interests={"music": 1.0})
    other = person_at(offset(NYC, east_km=0.2), interests={"music": 1.0})
    _encode([me, other])
    services.model_version_activate(name="ralm", version="v1")
    serving.loaded_models_clear()
    settings.VICINO_MODEL_DIR = tmp_path / "elsewhere"  # the artefact is gone

    response = api_client_for(me).get(URL)

    assert response.status_code == 200
    assert response.json()["results"][0]["similarity_source"] == "profile"


# Experiments drive the blend ---------------------------------------------------------------------------


@pytest.mark.django_db
def test_the_variant_config_sets_the_blend_and_the_exposure_is_written_once(django_assert_num_queries):
    marketer = MarketerFactory()
    experiment = experiments.experiment_create(
        created_by=marketer,
        key="blend",
        surface="nearby",
        variants=[
            {"key": "distance", "weight": 1, "config": {"w_d": 1.0, "w_s": 0.0}},
            {"key": "taste", "weight": 1, "config": {"w_d": 0.0, "w_s": 1.0}},
        ],
    )
    experiments.experiment_start(experiment_id=experiment.pk)
    near_unlike_position, far_alike_position = offset(NYC, east_km=0.2), offset(NYC, north_km=8)
    viewers = {}
    while len(viewers) < 2:
        viewer = person_at(NYC, interests={"music": 1.0})
        Profile.objects.filter(user=viewer).update(hide_from_nearby=True)  # viewers, not results
        variant = experiments.experiment_assign(
            salt=experiment.salt, variants=experiment.variants, user_id=viewer.pk
        )
        viewers.setdefault(variant["key"], viewer)
    near_unlike = person_at(near_unlike_position, interests={"pets": 1.0})
    far_alike = person_at(far_alike_position, interests={"music": 1.0})

    by_distance = api_client_for(viewers["distance"]).get(f"{URL}?radius_km=10")
    by_taste = api_client_for(viewers["taste"]).get(f"{URL}?radius_km=10")

    assert result_ids(by_distance)[:2] == [near_unlike.pk, far_alike.pk]
    assert result_ids(by_taste)[:2] == [far_alike.pk, near_unlike.pk]
    exposures = dict(experiment.exposures.values_list("user_id", "variant"))
    assert exposures == {viewers["distance"].pk: "distance", viewers["taste"].pk: "taste"}
    # Already exposed: serving again writes nothing (a cache ADD says so) and reads as before.
    client = api_client_for(viewers["taste"])
    with CaptureQueriesContext(connection) as again:
        client.get(f"{URL}?radius_km=10")
    assert not [
        q for q in again.captured_queries if q["sql"].lstrip().upper().startswith(("INSERT", "UPDATE"))
    ]
    assert experiment.exposures.count() == 2


# Rate limit ----------------------------------------------------------------------------------------------


@pytest.mark.django_db
def test_nearby_is_rate_limited_per_person(monkeypatch):
    monkeypatch.setattr(
        ScopedRateThrottle, "THROTTLE_RATES", {**ScopedRateThrottle.THROTTLE_RATES, "nearby": "3/min"}
    )
    me, other = person_at(NYC), person_at(offset(NYC, east_km=1))
    statuses = [api_client_for(me).get(URL).status_code for _ in range(4)]
    assert statuses == [200, 200, 200, 429]
    assert api_client_for(me).get(URL).json()["error"]["code"] == "throttled"
    assert api_client_for(other).get(URL).status_code == 200  # per person, not global


# Waves -----------------------------------------------------------------------------------------------------


@pytest.mark.django_db
def test_a_wave_records_one_event_and_reveals_no_position():
    me, other = person_at(NYC), person_at(offset(NYC, east_km=1))
    response = api_client_for(me).post(f"/api/people/{other.pk}/wave/")
    assert response.status_code == 201, response.json()
    assert set(response.json()) == {"id", "kind", "at"} and response.json()["id"] == other.pk
    event = InteractionEvent.objects.get()
    assert (event.kind, event.actor_id, event.target_id) == ("wave", me.pk, other.pk)


@pytest.mark.django_db
def test_waving_at_yourself_is_400_and_at_the_blocked_missing_or_absurd_404(api_client):
    me, blocker, blocked = person_at(NYC), UserFactory(), UserFactory()
    BlockFactory(blocker=blocker, blocked=me)
    BlockFactory(blocker=me, blocked=blocked)
    client = api_client_for(me)
    assert client.post(f"/api/people/{me.pk}/wave/").status_code == 400
    for target in (blocker.pk, blocked.pk, 10**9, 10**30):
        response = client.post(f"/api/people/{target}/wave/")
        assert response.status_code == 404, target
        assert response.json()["error"]["fields"] == {"person": ["No such person."]}
    assert api_client.post(f"/api/people/{blocker.pk}/wave/").status_code == 401
    assert api_client_for(MarketerFactory()).post(f"/api/people/{me.pk}/wave/").status_code == 403
    assert not InteractionEvent.objects.exists()
