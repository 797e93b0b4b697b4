"""The marketer's campaign pages: the builder (errors at their field, an upload all or nothing), the live
progress panel, the results (histogram, seeds vs audience by feature group) and the CSV download.

The build itself runs on a real worker in tests/matching/test_campaigns.py and in the browser journey;
here it runs in-process (campaign_build_execute, the same services) so each page state can be checked.
"""

from __future__ import annotations

import csv
import io
import json
import re
from decimal import Decimal

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client

from matching.campaigns import services
from matching.campaigns.models import Campaign, CampaignExport, CampaignMember, CampaignSeed
from tests.factories import NYC, LocationFactory, MarketerFactory, OrganiserFactory, UserFactory
from tests.matching.lookalike_people import active_ralm, feature_rows, features_store, model_dir_setup
from users.models import Profile

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def model_dir(settings, tmp_path, monkeypatch):
    return model_dir_setup(settings, tmp_path, monkeypatch)


def _client_for(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


def _html(response) -> str:
    return response.content.decode()


def _errors_of(html: str, field: str) -> str:
    match = re.search(rf'<ul class="errorlist" id="id_{field}_error">(.*?)</ul>', html, re.S)
    return match.group(1) if match else ""


@pytest.fixture
def marketer():
    return MarketerFactory()


@pytest.fixture
def city():
    """8 valuable people (the seeds by lifetime value) and 30 others, all with stored features, near NYC."""
    people = []
    for index in range(38):
        user = UserFactory()
        LocationFactory(user=user, latitude=NYC[0] + 0.001 * index, longitude=NYC[1])
        value = "900" if index < 8 else "10"
        Profile.objects.filter(user=user).update(lifetime_value=Decimal(value))
        people.append(user)
    features_store(user_ids=[p.pk for p in people], rows=feature_rows(count=len(people), seed=5))
    return people


def _definition(**overrides) -> dict:
    return {
        "name": "VIP look-alikes",
        "seed_kind": "lifetime_value",
        "min_lifetime_value": "500",
        "tag": "",
        "size_kind": "top_n",
        "size_value": "12",
        "exclude_seeds": "on",
        "region_radius_km": "5",
        **overrides,
    }


def test_the_list_starts_empty_and_the_builder_offers_every_part(marketer):
    client = _client_for(marketer)
    assert "No campaigns yet" in _html(client.get("/campaigns/"))
    html = _html(client.get("/campaigns/new/"))
    for name in ("seed_kind", "min_lifetime_value", "tag", "seed_file", "use_region", "region_radius_km",
                 "size_kind", "size_value", "exclude_seeds"):  # fmt: skip
        assert f'name="{name}"' in html, name
    assert 'data-map="region-picker"' in html and 'enctype="multipart/form-data"' in html


@pytest.mark.parametrize(
    ("overrides", "field", "message"),
    [
        (
            {"min_lifetime_value": ""},
            "min_lifetime_value",
            "Give the lifetime value the seeds have at least.",
        ),
        ({"seed_kind": "tag"}, "tag", "Give the tag the seeds carry."),
        ({"seed_kind": "tag", "tag": "no spaces!"}, "tag", "A tag of 1 to 40 letters"),
        ({"seed_kind": "upload"}, "seed_file", "Choose the CSV file of user ids."),
        ({"use_region": "on"}, "region_latitude", "Tap the map for the centre"),
        ({"size_value": "2.5"}, "size_value", "A whole number of people, at least 1."),
        (
            {"size_kind": "top_percent", "size_value": "150"},
            "size_value",
            "A percentage above 0 and at most 100.",
        ),
    ],
)
def test_bad_definitions_are_shown_at_their_field_and_nothing_is_made(marketer, overrides, field, message):
    response = _client_for(marketer).post("/campaigns/new/", _definition(**overrides))
    assert response.status_code == 200
    assert message in _errors_of(_html(response), field)
    assert not Campaign.objects.exists()


def test_a_bad_upload_lists_each_bad_row_at_the_file_and_leaves_no_draft(marketer):
    known = UserFactory()
    upload = SimpleUploadedFile("seeds.csv", f"user_id\n{known.pk}\nabc\n99999999\n".encode(), "text/csv")
    response = _client_for(marketer).post(
        "/campaigns/new/", _definition(seed_kind="upload", seed_file=upload)
    )
    errors = _errors_of(_html(response), "seed_file")
    assert (
        "Row 3: &#x27;abc&#x27; is not a user id" in errors
        and "Row 4: No person has the id 99999999." in errors
    )
    assert not Campaign.objects.exists() and not CampaignSeed.objects.exists()


def test_an_upload_campaign_stores_the_seeds_and_starts_building(
    marketer, django_capture_on_commit_callbacks
):
    seeds = [UserFactory() for _ in range(3)]
    text = "\n".join(str(seed.pk) for seed in seeds)
    upload = SimpleUploadedFile("seeds.csv", ("\ufeff" + text).encode(), "text/csv")
    with django_capture_on_commit_callbacks() as dispatched:
        response = _client_for(marketer).post(
            "/campaigns/new/", _definition(seed_kind="upload", seed_file=upload, min_lifetime_value="")
        )
    campaign = Campaign.objects.get()
    assert response.status_code == 302 and response.headers["Location"] == f"/campaigns/{campaign.pk}/"
    assert campaign.status == "building" and campaign.seed_kind == "upload"
    assert set(CampaignSeed.objects.filter(campaign=campaign).values_list("user_id", flat=True)) == {
        seed.pk for seed in seeds
    }
    assert len(dispatched) == 1  # the build goes to the workers once the request commits


def test_building_shows_a_polling_progress_bar_then_the_results_and_the_csv_matches_the_members(
    marketer, city, django_capture_on_commit_callbacks
):
    active_ralm()
    client = _client_for(marketer)
    with django_capture_on_commit_callbacks():
        client.post(
            "/campaigns/new/",
            _definition(
                use_region="on", region_latitude="40.75", region_longitude="-73.98", region_radius_km="10"
            ),
        )
    campaign = Campaign.objects.get()
    assert (campaign.region_latitude, campaign.region_longitude, campaign.region_radius_km) == (
        40.75,
        -73.98,
        10,
    )

    building = _html(client.get(f"/campaigns/{campaign.pk}/"))
    panel = building.split('<section id="campaign-status"', 1)[1].split("</section>", 1)[0]
    assert f'hx-get="/campaigns/{campaign.pk}/progress/"' in panel and 'hx-trigger="every 1s"' in panel
    assert '<progress class="build-progress" max="100" value="0"' in panel

    services.campaign_plan(campaign_id=campaign.pk, chunk_size=10)
    services.campaign_chunk_score(campaign_id=campaign.pk, index=0)
    campaign.refresh_from_db()
    halfway = _html(client.get(f"/campaigns/{campaign.pk}/progress/"))
    assert f'value="{campaign.percent:.0f}"' in halfway and 0 < campaign.percent < 100
    assert f"1 of {campaign.total_chunks} parts done" in halfway

    services.campaign_build_execute(campaign_id=campaign.pk)
    done = _html(client.get(f"/campaigns/{campaign.pk}/progress/"))
    assert "hx-trigger" not in done  # the polling stops
    assert "<strong data-percent>100 %</strong>" in done and "12 people from 30 eligible" in done
    chart = json.loads(
        re.search(r'<script id="histogram-data" type="application/json">(.*?)</script>', done).group(1)
    )
    assert sum(chart["counts"]) == 12 and len(chart["labels"]) == 20
    for group in ("geographic", "behavioural", "social", "demographic", "preference", "contextual"):
        assert f'<tr data-group="{group}">' in done
    assert "Latitude (" not in done  # coordinates are never compared

    download = client.get(f"/campaigns/{campaign.pk}/audience.csv?identifier=user_id")
    assert download.status_code == 200 and download["Content-Type"] == "text/csv; charset=utf-8"
    assert download["Content-Disposition"] == f'attachment; filename="campaign-{campaign.pk}-user_id.csv"'
    rows = list(csv.reader(io.StringIO(b"".join(download.streaming_content).decode())))
    assert rows[0] == ["rank", "score", "user_id"]
    members = list(
        CampaignMember.objects.filter(campaign=campaign)
        .order_by("rank")
        .values_list("rank", "score", "user_id")
    )
    assert [(int(r), float(s), int(u)) for r, s, u in rows[1:]] == [
        (rank, pytest.approx(score, abs=1e-6), user_id) for rank, score, user_id in members
    ]
    export = CampaignExport.objects.get()
    assert (export.exported_by, export.identifier, export.rows) == (marketer, "user_id", 12)


def test_a_failed_build_says_why_and_offers_to_try_again(marketer, city, django_capture_on_commit_callbacks):
    client = _client_for(marketer)
    with django_capture_on_commit_callbacks():
        client.post("/campaigns/new/", _definition())
    campaign = Campaign.objects.get()
    services.campaign_build_execute(campaign_id=campaign.pk)  # no model is active
    html = _html(client.get(f"/campaigns/{campaign.pk}/"))
    assert "The build stopped" in html and "No look-alike model is active" in html
    assert f'action="/campaigns/{campaign.pk}/build/"' in html
    with django_capture_on_commit_callbacks() as dispatched:
        client.post(f"/campaigns/{campaign.pk}/build/")
    assert Campaign.objects.get().status == "building" and len(dispatched) == 1


def test_an_unbuilt_campaign_cannot_be_downloaded_and_a_bad_identifier_is_refused(
    marketer, django_capture_on_commit_callbacks
):
    client = _client_for(marketer)
    with django_capture_on_commit_callbacks():
        client.post("/campaigns/new/", _definition())
    campaign = Campaign.objects.get()
    refused = client.get(f"/campaigns/{campaign.pk}/audience.csv?identifier=user_id", follow=True)
    assert "Only a built campaign can be exported" in _html(refused)
    bad = client.get(f"/campaigns/{campaign.pk}/audience.csv?identifier=latitude", follow=True)
    assert "Choose how people are identified in the file." in _html(bad)
    assert not CampaignExport.objects.exists()


def test_campaigns_are_private_to_their_marketer_and_closed_to_other_roles(
    marketer, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks():
        _client_for(marketer).post("/campaigns/new/", _definition())
    campaign = Campaign.objects.get()
    other = _client_for(MarketerFactory())
    assert other.get(f"/campaigns/{campaign.pk}/").status_code == 404
    assert other.get(f"/campaigns/{campaign.pk}/audience.csv?identifier=user_id").status_code == 404
    assert "VIP look-alikes" not in _html(other.get("/campaigns/"))
    assert _client_for(OrganiserFactory()).get("/campaigns/").status_code == 403
