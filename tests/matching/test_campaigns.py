"""Look-alike campaigns end to end: define, upload seeds, build on real Celery workers (also after one is
killed mid-build), progress, members, statistics, the streamed export and its audit."""

from __future__ import annotations

import csv
import hashlib
import io
import math
import os
import signal
import threading
import time
import uuid
from decimal import Decimal

import numpy as np
import pytest
from django.db import connection, transaction
from django.utils import timezone
from rest_framework.test import APIClient

from config.celery import app as celery_app
from matching import seed_cache, serving
from matching.campaigns import services
from matching.campaigns import tasks as campaign_tasks
from matching.campaigns.models import Campaign, CampaignChunk, CampaignExport, CampaignMember
from matching.index import candidate_scores, lookalike_probabilities
from tests.celery_worker import worker_process
from tests.clients import api_client_for
from tests.factories import NYC, LocationFactory, MarketerFactory, OrganiserFactory, UserFactory
from tests.matching.lookalike_people import active_ralm, feature_rows, features_store, model_dir_setup
from users import geo
from users.models import Profile, User, UserTag

LIST = "/api/campaigns/"
KM = 1 / geo.KM_PER_DEGREE_LAT


@pytest.fixture(autouse=True)
def model_dir(settings, tmp_path, monkeypatch):
    return model_dir_setup(settings, tmp_path, monkeypatch)


@pytest.fixture
def worker_queue():
    """A fresh queue that this process's dispatches (the API's on_commit ones too) are sent to."""
    queue = f"test-{uuid.uuid4().hex[:12]}"
    default = celery_app.conf.task_default_queue
    celery_app.conf.task_default_queue = queue
    yield queue
    celery_app.conf.task_default_queue = default


def _city() -> dict:
    """5 seeds (lifetime value 500, tagged vip) and 20 people much like them, 20 people unlike them; one
    like them who opted out, one inactive, one the model does not know. Locations: the seeds and the first
    10 look-alikes within 2 km of NYC, everyone else 20 km north."""
    profile = feature_rows(count=1, seed=11)[0]

    def people(count, *, km_north, lifetime_value, rows, **extra):
        ids = []
        for n in range(count):
            user = UserFactory()
            LocationFactory(user=user, latitude=NYC[0] + km_north * KM, longitude=NYC[1] + 0.001 * n)
            Profile.objects.filter(user=user).update(lifetime_value=Decimal(lifetime_value), **extra)
            ids.append(user.pk)
        if rows is not None:
            features_store(user_ids=ids, rows=rows)
        return ids

    seeds = people(
        5, km_north=0.5, lifetime_value="500", rows=feature_rows(count=5, seed=12, like=profile, noise=0.02)
    )
    alike_rows = feature_rows(count=20, seed=13, like=profile, noise=0.05)
    alike = people(10, km_north=1.0, lifetime_value="50", rows=alike_rows[:10]) + people(
        10, km_north=20.0, lifetime_value="50", rows=alike_rows[10:]
    )
    unlike = people(20, km_north=20.0, lifetime_value="120.50", rows=feature_rows(count=20, seed=14))
    opted_out = people(
        1, km_north=0.5, lifetime_value="10", rows=feature_rows(count=1, seed=15, like=profile, noise=0.01),
        marketing_opt_out=True,
    )  # fmt: skip
    inactive = people(1, km_north=0.5, lifetime_value="10", rows=feature_rows(count=1, seed=16, like=profile))
    User.objects.filter(pk__in=inactive).update(is_active=False)
    unknown = people(1, km_north=0.5, lifetime_value="10", rows=None)
    UserTag.objects.bulk_create([UserTag(user_id=user_id, tag="vip") for user_id in seeds])
    return {
        "seeds": seeds, "alike": alike, "unlike": unlike, "opted_out": opted_out[0], "inactive": inactive[0],
        "unknown": unknown[0],
    }  # fmt: skip


def _definition(**overrides) -> dict:
    return {
        "name": "VIP look-alikes",
        "seed": {"kind": "lifetime_value", "min_lifetime_value": "400"},
        "size": {"kind": "top_n", "value": 10},
        **overrides,
    }


def _wait(campaign_id: int, *, until=("succeeded", "failed"), timeout: float = 120) -> Campaign:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        campaign = Campaign.objects.get(pk=campaign_id)
        if campaign.status in until:
            return campaign
        time.sleep(0.2)
    raise AssertionError(f"campaign {campaign_id} still {Campaign.objects.get(pk=campaign_id).status}")


def _members(campaign_id: int) -> list[tuple[int, int, float]]:
    return list(
        CampaignMember.objects.filter(campaign_id=campaign_id)
        .order_by("rank")
        .values_list("rank", "user_id", "score")
    )


def _expected_audience(campaign: Campaign, eligible: list[int]) -> list[tuple[int, float]]:
    """The audience computed another way: every eligible person scored at once, sorted, cut."""
    model = serving.ralm_loaded(model_version=campaign.model_version)
    summary = seed_cache.seed_summary_decode(bytes(campaign.seed_summary))
    ids, raw = candidate_scores(model=model, summary=summary, user_ids=eligible)
    probabilities = lookalike_probabilities(model=model, scores=raw)
    ranked = sorted(zip((-probabilities).tolist(), ids.tolist(), strict=True))[: campaign.target_size]
    return [(user_id, -negative) for negative, user_id in ranked]


# End to end on a worker ------------------------------------------------------------------------------


@pytest.mark.django_db(transaction=True)
def test_a_campaign_builds_on_a_real_worker_and_resumes_after_a_failure(monkeypatch, worker_queue):
    city = _city()
    marketer = MarketerFactory()
    client = api_client_for(marketer)
    monkeypatch.setenv("VICINO_CAMPAIGN_CHUNK_SIZE", "7")  # several chunks for the worker's pool

    created = client.post(LIST, _definition(), format="json")
    assert created.status_code == 201, created.json()
    campaign_id = created.json()["id"]
    assert created.json()["status"] == "draft" and created.json()["percent"] == 0.0

    with worker_process(queue=worker_queue, concurrency=2):
        # No model is active yet: the build fails and says why.
        assert client.post(f"{LIST}{campaign_id}/build/").status_code == 202
        failed = _wait(campaign_id)
        assert failed.status == "failed" and "No look-alike model is active" in failed.error

        model_version = active_ralm()
        resumed = client.post(f"{LIST}{campaign_id}/build/")
        assert resumed.status_code == 202 and resumed.json()["status"] == "building"
        percents = []
        deadline = time.monotonic() + 120
        while (body := client.get(f"{LIST}{campaign_id}/").json())["status"] == "building":
            percents.append(body["percent"])
            assert time.monotonic() < deadline, body
            time.sleep(0.05)

    assert body["status"] == "succeeded", body["error"]
    assert body["percent"] == 100.0 and percents == sorted(percents)
    assert body["model_version"] == model_version.version
    assert (body["seed_count"], body["seeds_used"], body["target_size"], body["member_count"]) == (
        5,
        5,
        10,
        10,
    )
    eligible = city["alike"] + city["unlike"]
    assert body["eligible_count"] == len(eligible)  # not the seeds, opted out, inactive or unknown
    assert body["total_chunks"] == math.ceil(len(eligible) / 7) == body["done_chunks"]

    members = client.get(f"{LIST}{campaign_id}/members/").json()
    assert [item["rank"] for item in members["results"]] == list(range(1, 11))
    scores = [item["score"] for item in members["results"]]
    assert scores == sorted(scores, reverse=True)
    expected = _expected_audience(Campaign.objects.get(pk=campaign_id), eligible)
    assert [item["user_id"] for item in members["results"]] == [user_id for user_id, _score in expected]
    assert scores == pytest.approx([score for _user_id, score in expected], abs=1e-6)
    assert len(set(city["alike"]) & {item["user_id"] for item in members["results"]}) >= 8  # look-alikes win
    assert CampaignMember.objects.filter(campaign_id=campaign_id).count() == 10  # the chunks' extras dropped

    statistics = body["statistics"]
    assert sum(statistics["score_histogram"]["counts"]) == 10
    assert len(statistics["score_histogram"]["edges"]) == 21
    assert (statistics["seeds_with_features"], statistics["audience_with_features"]) == (5, 10)
    groups = {group["group"]: group for group in statistics["feature_groups"]}
    assert list(groups) == ["geographic", "behavioural", "social", "demographic", "preference", "contextual"]
    assert groups["geographic"]["features_compared"] == 10  # latitude, longitude and 4 geohashes left out
    for group in groups.values():
        assert 0 <= group["rms_difference"] < 1
        for difference in group["largest_differences"]:
            assert difference["feature"] not in {"latitude", "longitude"}
            assert not difference["feature"].startswith("geohash")


@pytest.mark.django_db(transaction=True)
def test_a_worker_killed_mid_build_loses_and_duplicates_nobody(monkeypatch, worker_queue):
    city = _city()
    active_ralm()
    marketer = MarketerFactory()
    client = api_client_for(marketer)
    monkeypatch.setenv("VICINO_CAMPAIGN_CHUNK_SIZE", "6")
    monkeypatch.setenv("VICINO_CAMPAIGN_STALL_SECONDS", "0")
    interrupted_id = client.post(LIST, _definition(), format="json").json()["id"]
    # Plan here (the same idempotent step the job starts with) so the chunks exist before the job runs...
    planned = services.campaign_plan(campaign_id=interrupted_id, chunk_size=6)
    assert planned.total_chunks == 7
    # ...and hold chunks 3 onwards: the worker finishes 0, 1 and 2, then waits on chunk 3's row.
    held, release = threading.Event(), threading.Event()

    def hold_chunks() -> None:
        try:
            with transaction.atomic():
                list(
                    CampaignChunk.objects.select_for_update().filter(campaign_id=interrupted_id, index__gte=3)
                )
                held.set()
                release.wait(timeout=120)
        finally:
            connection.close()

    holder = threading.Thread(target=hold_chunks)
    holder.start()
    assert held.wait(timeout=30)

    with worker_process(queue=worker_queue, concurrency=1) as first_worker:
        assert client.post(f"{LIST}{interrupted_id}/build/").status_code == 202
        deadline = time.monotonic() + 60
        while not _worker_waits_on_a_chunk():
            assert time.monotonic() < deadline, "the worker never reached chunk 3"
            time.sleep(0.1)
        progress = client.get(f"{LIST}{interrupted_id}/").json()
        os.killpg(first_worker.pid, signal.SIGKILL)  # the worker and its pool, mid-chunk
        first_worker.wait(timeout=30)
    release.set()
    holder.join(timeout=30)

    assert (progress["stage"], progress["done_chunks"]) == ("scoring", 3)
    assert 0 < progress["percent"] < 100
    assert CampaignMember.objects.filter(campaign_id=interrupted_id).exists()  # chunks 0-2 wrote theirs

    clean_id = client.post(LIST, _definition(), format="json").json()["id"]
    with worker_process(queue=worker_queue, concurrency=1):
        # Beat's stall check finds the interrupted build and resumes it.
        resumed = campaign_tasks.campaigns_resume_stalled.apply_async(queue=worker_queue).get(timeout=60)
        assert resumed == 1
        assert _wait(interrupted_id).status == "succeeded"
        assert client.post(f"{LIST}{clean_id}/build/").status_code == 202
        assert _wait(clean_id).status == "succeeded"

    interrupted, clean = _members(interrupted_id), _members(clean_id)
    assert len(interrupted) == 10 and [rank for rank, _u, _s in interrupted] == list(range(1, 11))
    assert interrupted == clean  # the same people, ranks and scores as a build nobody interrupted
    assert len({user_id for _r, user_id, _s in interrupted}) == 10
    assert not set(city["seeds"]) & {user_id for _r, user_id, _s in interrupted}
    done_first = CampaignChunk.objects.filter(campaign_id=interrupted_id, index__lt=3)
    assert list(done_first.values_list("attempts", flat=True)) == [1, 1, 1]  # never redone


def _worker_waits_on_a_chunk() -> bool:
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock' AND query ILIKE %s",
            ["%matching_campaignchunk%"],
        )
        return cursor.fetchone()[0] > 0


# Definitions, seeds and regions (built here with the job's own services) ------------------------------


@pytest.mark.django_db
def test_a_region_and_a_top_percentage_choose_among_the_people_inside_it():
    city = _city()
    active_ralm()
    marketer = MarketerFactory()
    body = _definition(
        seed={"kind": "tag", "tag": "vip"},
        region={"latitude": NYC[0], "longitude": NYC[1], "radius_km": 5},
        size={"kind": "top_percent", "value": 25},
    )
    campaign_id = api_client_for(marketer).post(LIST, body, format="json").json()["id"]

    campaign = services.campaign_build_execute(campaign_id=campaign_id)

    inside = set(city["alike"][:10])  # the seeds, the opted-out and the inactive are inside too, but excluded
    assert campaign.status == "succeeded" and campaign.seed_count == 5
    assert campaign.eligible_count == len(inside)
    assert campaign.target_size == math.ceil(0.25 * len(inside)) == campaign.member_count
    assert {user_id for _r, user_id, _s in _members(campaign_id)} <= inside


@pytest.mark.django_db
def test_seeds_can_be_kept_in_the_audience():
    city = _city()
    active_ralm()
    campaign_id = (
        api_client_for(MarketerFactory())
        .post(LIST, _definition(exclude_seeds=False, size={"kind": "top_n", "value": 5}), format="json")
        .json()["id"]
    )
    campaign = services.campaign_build_execute(campaign_id=campaign_id)
    members = {user_id for _r, user_id, _s in _members(campaign_id)}
    assert campaign.eligible_count == len(city["seeds"] + city["alike"] + city["unlike"])
    assert members & set(city["seeds"])  # seeds compete with everyone else


@pytest.mark.django_db
def test_an_uploaded_list_of_seeds_with_per_row_errors_is_refused_whole():
    city = _city()
    active_ralm()
    client = api_client_for(MarketerFactory())
    campaign_id = client.post(LIST, _definition(seed={"kind": "upload"}), format="json").json()["id"]
    url = f"{LIST}{campaign_id}/seeds/"

    no_seeds = client.post(f"{LIST}{campaign_id}/build/")
    assert (no_seeds.status_code, no_seeds.json()["error"]["message"]) == (
        400, "seeds: Upload the seeds (a CSV of user ids) first.",
    )  # fmt: skip
    seeds = city["seeds"]
    bad = f"user_id,note\n{seeds[0]},ok\nabc,typo\n{seeds[0]},again\n\n99999999,gone\n{city['inactive']},x\n"
    refused = client.put(url, bad, content_type="text/csv")
    assert refused.status_code == 400
    assert refused.json()["error"]["fields"] == {
        "csv.row[3]": ["'abc' is not a user id (a whole number from 1)."],
        "csv.row[4]": [f"User {seeds[0]} is already on row 2."],
        "csv.row[6]": ["No person has the id 99999999."],
        "csv.row[7]": [f"The account {city['inactive']} is inactive."],
    }
    assert Campaign.objects.get(pk=campaign_id).seed_count == 0

    good = "\ufeff" + "\n".join(str(user_id) for user_id in seeds) + "\n"  # no header, a byte-order mark
    accepted = client.put(url, good.encode(), content_type="text/csv")
    assert accepted.status_code == 200 and accepted.json() == {"seed_count": 5}
    campaign = services.campaign_build_execute(campaign_id=campaign_id)
    assert campaign.status == "succeeded" and campaign.member_count == 10
    assert client.put(url, good, content_type="text/csv").json()["error"]["code"] == "not_draft"
    assert client.put(url, "", content_type="text/csv").status_code == 409
    other = client.post(LIST, _definition(), format="json").json()["id"]
    assert (
        client.put(f"{LIST}{other}/seeds/", good, content_type="text/csv").json()["error"]["code"]
        == "not_upload"
    )
    assert client.put(url, good, content_type="application/json").status_code == 415


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("overrides", "field"),
    [
        ({"name": ""}, "name"),
        ({"seed": {"kind": "lifetime_value"}}, "seed.min_lifetime_value"),
        ({"seed": {"kind": "lifetime_value", "min_lifetime_value": "-1"}}, "seed.min_lifetime_value"),
        ({"seed": {"kind": "lifetime_value", "min_lifetime_value": "NaN"}}, "seed.min_lifetime_value"),
        ({"seed": {"kind": "tag"}}, "seed.tag"),
        ({"seed": {"kind": "tag", "tag": "no spaces"}}, "seed.tag"),
        ({"seed": {"kind": "crystal_ball"}}, "seed.kind"),
        ({"size": {"kind": "top_n", "value": 0}}, "size.value"),
        ({"size": {"kind": "top_n", "value": 2.5}}, "size.value"),
        ({"size": {"kind": "top_percent", "value": 101}}, "size.value"),
        ({"size": {"kind": "top_percent", "value": "Infinity"}}, "size.value"),
        ({"size": {"kind": "everyone", "value": 1}}, "size.kind"),
        ({"region": {"latitude": 91, "longitude": 0, "radius_km": 5}}, "region.latitude"),
        ({"region": {"latitude": 40, "longitude": 0, "radius_km": 0}}, "region.radius_km"),
        ({"region": {"latitude": 40, "longitude": 0}}, "region.radius_km"),
        ({"exclude_seeds": "sometimes"}, "exclude_seeds"),
    ],
)
def test_bad_definitions_are_400_naming_the_field(overrides, field):
    response = api_client_for(MarketerFactory()).post(LIST, _definition(**overrides), format="json")
    assert response.status_code == 400
    assert field in response.json()["error"]["fields"], response.json()
    assert not Campaign.objects.exists()


@pytest.mark.django_db
def test_campaigns_are_for_marketers_and_private_to_their_owner():
    campaign = services.campaign_create(
        owner=MarketerFactory(), name="mine", seed_kind="tag", seed_tag="vip", size_kind="top_n", size_value=5
    )
    for outsider in (UserFactory(), OrganiserFactory()):
        client = api_client_for(outsider)
        assert client.get(LIST).status_code == 403
        assert client.post(LIST, _definition(), format="json").status_code == 403
        assert client.get(f"{LIST}{campaign.pk}/export/?identifier=user_id").status_code == 403
    other = api_client_for(MarketerFactory())
    assert other.get(LIST).json()["count"] == 0
    for method, suffix in (
        ("get", ""),
        ("post", "build/"),
        ("get", "members/"),
        ("get", "export/?identifier=user_id"),
    ):
        assert getattr(other, method)(f"{LIST}{campaign.pk}/{suffix}").status_code == 404
    assert APIClient().get(LIST).status_code == 401


@pytest.mark.django_db
def test_the_lists_cost_the_same_queries_whatever_their_length(django_assert_num_queries):
    _city()
    active_ralm()
    marketer = MarketerFactory()
    client = api_client_for(marketer)
    campaign_id = client.post(LIST, _definition(), format="json").json()["id"]
    services.campaign_build_execute(campaign_id=campaign_id)
    with django_assert_num_queries(2):  # the page count and the page
        assert client.get(LIST).json()["count"] == 1
    with django_assert_num_queries(3):  # the campaign, the count and the page
        assert client.get(f"{LIST}{campaign_id}/members/?limit=3").json()["count"] == 10
    for _ in range(3):
        services.campaign_build_execute(
            campaign_id=client.post(LIST, _definition(), format="json").json()["id"]
        )
    with django_assert_num_queries(2):
        assert client.get(LIST).json()["count"] == 4
    with django_assert_num_queries(3):
        assert len(client.get(f"{LIST}{campaign_id}/members/?limit=10").json()["results"]) == 10


# Export ----------------------------------------------------------------------------------------------


def _csv(response) -> list[list[str]]:
    return list(csv.reader(io.StringIO(b"".join(response.streaming_content).decode())))


@pytest.mark.django_db
def test_the_export_streams_ids_or_hashed_emails_and_is_audited():
    _city()
    active_ralm()
    marketer = MarketerFactory()
    client = api_client_for(marketer)
    campaign_id = client.post(LIST, _definition(), format="json").json()["id"]
    assert client.get(f"{LIST}{campaign_id}/export/?identifier=user_id").status_code == 409  # not built
    services.campaign_build_execute(campaign_id=campaign_id)
    members = _members(campaign_id)
    top, no_email = members[0][1], members[1][1]
    User.objects.filter(pk=top).update(email="  Dana.Demo@Example.ORG ")
    User.objects.filter(pk=no_email).update(email="")

    by_id = client.get(f"{LIST}{campaign_id}/export/?identifier=user_id")
    assert by_id.status_code == 200 and by_id.streaming
    assert by_id["Content-Type"] == "text/csv; charset=utf-8"
    assert by_id["Content-Disposition"] == f'attachment; filename="campaign-{campaign_id}-user_id.csv"'
    rows = _csv(by_id)
    assert rows[0] == ["rank", "score", "user_id"]
    assert [(int(r), int(u)) for r, _s, u in rows[1:]] == [(rank, user_id) for rank, user_id, _s in members]
    assert [float(s) for _r, s, _u in rows[1:]] == pytest.approx(
        [score for _r, _u, score in members], abs=1e-6
    )

    hashed = _csv(client.get(f"{LIST}{campaign_id}/export/?identifier=email_sha256"))
    assert hashed[0] == ["rank", "score", "email_sha256"]
    assert hashed[1][2] == hashlib.sha256(b"dana.demo@example.org").hexdigest()
    assert len(hashed) == 1 + len(members) - 1  # the member without an address is left out
    assert "2" not in [rank for rank, _s, _h in hashed[1:]]
    raw = "\n".join(",".join(row) for row in rows + hashed)
    assert "@" not in raw and "40.7" not in raw and "-73.9" not in raw  # no address, no coordinates

    audits = list(
        CampaignExport.objects.order_by("pk").values("exported_by", "identifier", "rows", "completed_at")
    )
    assert [(a["exported_by"], a["identifier"], a["rows"]) for a in audits] == [
        (marketer.pk, "user_id", 10), (marketer.pk, "email_sha256", 9),
    ]  # fmt: skip
    assert all(audit["completed_at"] is not None for audit in audits)
    bad = client.get(f"{LIST}{campaign_id}/export/?identifier=phone")
    assert bad.status_code == 400 and "identifier" in bad.json()["error"]["fields"]
    assert CampaignExport.objects.count() == 2


@pytest.mark.django_db
def test_an_export_cut_short_is_on_record_without_a_row_count():
    _city()
    active_ralm()
    marketer = MarketerFactory()
    campaign_id = api_client_for(marketer).post(LIST, _definition(), format="json").json()["id"]
    services.campaign_build_execute(campaign_id=campaign_id)
    export, lines = services.campaign_export_start(
        campaign_id=campaign_id, user=marketer, identifier="user_id"
    )
    assert next(lines) == "rank,score,user_id\r\n"
    audit = CampaignExport.objects.get(pk=export.pk)
    assert audit.exported_by_id == marketer.pk and audit.created_at <= timezone.now()
    assert audit.rows is None and audit.completed_at is None


def test_hashing_normalises_the_address():
    from matching.campaigns.selectors import email_sha256

    assert email_sha256(" A@B.io\n") == email_sha256("a@b.io") == hashlib.sha256(b"a@b.io").hexdigest()
    assert np.all([len(email_sha256(x)) == 64 for x in ("x@y.z", "ü@ö.de")])
