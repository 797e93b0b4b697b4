"""No page shows anyone's exact position but the viewer's own: not in the text, not in data attributes.

Every page route is rendered for a person and for an organiser, in a city where other people live at
known positions. Their coordinates and geohashes must not appear anywhere in the HTML.
"""

from __future__ import annotations

import pytest
from django.test import Client
from django.urls import reverse

from matching import services as matching_services
from matching.campaigns import services as campaign_services
from matching.experiments import services as experiment_services
from matching.invitations.services import invitations_send
from matching.ranking.artefacts import RANKER_NAME
from tests.config.test_page_access import (
    MARKETER_PAGES,
    ORGANISER_PAGES,
    PEOPLE_PAGES,
    PERSON_PAGES,
    _page_routes,
)
from tests.factories import (
    ActivityFactory,
    LocationFactory,
    MarketerFactory,
    OrganiserFactory,
    ParticipationFactory,
    PlaceFactory,
    UserFactory,
)
from tests.matching.lookalike_people import active_ralm, feature_rows, features_store, model_dir_setup
from tests.matching.ranking_builders import tiny_ranker_register, tiny_vocabulary
from users.models import Location, Role, UserTag

pytestmark = pytest.mark.django_db

#: Other people, at positions no venue or activity uses.
NEIGHBOURS = [(40.751234, -73.981234), (40.743219, -73.992871), (40.760606, -73.970707)]
INVITEES = [(40.745551, -73.987777), (40.738123, -73.994567), (40.741987, -73.980321)]


def _positions_in(html: str, *, viewer) -> list[str]:
    leaks = []
    for latitude, longitude, cell in Location.objects.exclude(user=viewer).values_list(
        "latitude", "longitude", "geohash"
    ):
        for text in (f"{latitude:.3f}", f"{longitude:.3f}", cell[:6]):
            if text in html:
                leaks.append(text)
    return leaks


#: POST-only routes (the pages they are used from are rendered instead).
POST_ONLY = {"activity-join-page", "activity-leave-page", "experiment-start-page", "experiment-stop-page",
             "activity-invite-page", "campaign-build-page",
             *(PEOPLE_PAGES - {"people-nearby", "invitation-inbox"})}  # fmt: skip


def _page_urls(*, activity_id: int, experiment_id: int, campaign_id: int, role: str) -> list[str]:
    urls = []
    for url, name in _page_routes():
        if name in POST_ONLY or name in {"onboarding", "profile-section"}:
            continue  # POST only, or added below with real slugs
        if (
            (name in ORGANISER_PAGES and role != Role.ORGANISER)
            or (name in MARKETER_PAGES and role != Role.MARKETER)
            or (name in PEOPLE_PAGES and role == Role.MARKETER)
            or (name in PERSON_PAGES and role != Role.PERSON)
        ):
            continue
        if "/1/" in url:
            own_id = activity_id
            if name.startswith("experiment-"):
                own_id = experiment_id
            elif name.startswith("campaign-"):
                own_id = campaign_id
            url = url.replace("/1/", f"/{own_id}/")
        if name == "venue-options":
            url += "?latitude=40.75&longitude=-73.98&radius_km=5"
        urls.append(url)
    urls.append(reverse("home"))
    for step in ("about", "interests", "activities", "times", "location"):
        urls.append(reverse("onboarding", args=[step]))
        if step != "location":
            urls.append(reverse("profile-section", args=[step]))
    return urls


@pytest.fixture(autouse=True)
def model_dir(settings, tmp_path, monkeypatch):
    return model_dir_setup(settings, tmp_path, monkeypatch)


def _built_campaign(*, owner, people) -> int:
    """A campaign of `owner`'s, built in-process on a tiny active RALM: its results page has a histogram
    and the seeds-vs-audience comparison to render."""
    features_store(user_ids=[person.pk for person in people], rows=feature_rows(count=len(people), seed=3))
    active_ralm()
    UserTag.objects.create(user=people[0], tag="vip")
    campaign = campaign_services.campaign_create(
        owner=owner, name="Look-alikes", seed_kind="tag", seed_tag="vip", size_kind="top_n", size_value=3,
        region={"latitude": 40.7, "longitude": -73.95, "radius_km": 15},
    )  # fmt: skip
    built = campaign_services.campaign_build_execute(campaign_id=campaign.pk)
    assert built.status == "succeeded" and built.member_count > 0, built.error
    return campaign.pk


@pytest.mark.parametrize("viewer_factory", [UserFactory, OrganiserFactory, MarketerFactory])
def test_no_page_shows_another_persons_coordinates_or_geohash(
    viewer_factory, django_capture_on_commit_callbacks
):
    viewer = viewer_factory()
    LocationFactory(user=viewer, latitude=40.7484, longitude=-73.9857)
    neighbours = [
        LocationFactory(user=UserFactory(display_name=f"Neighbour {i}"), latitude=lat, longitude=lon).user
        for i, (lat, lon) in enumerate(NEIGHBOURS)
    ]
    organiser = viewer
    if viewer.role != "organiser":
        organiser = LocationFactory(user=OrganiserFactory(), latitude=40.733331, longitude=-74.002222).user
    venue = PlaceFactory(latitude=40.7412, longitude=-73.9899)
    activity = ActivityFactory(
        organiser=organiser, place=venue, latitude=venue.latitude, longitude=venue.longitude
    )
    for person in [organiser, *neighbours]:
        ParticipationFactory(activity=activity, user=person)
    # People near the venue who are not taking part: the organiser invites two (and a person viewer),
    # the third is suggested.
    invitees = [
        LocationFactory(user=UserFactory(display_name=f"Invitee {i}"), latitude=lat, longitude=lon).user
        for i, (lat, lon) in enumerate(INVITEES)
    ]
    campaign_id = 0
    suggested = None
    if viewer.role == Role.PERSON:
        # Activities for you, ranked by an active ranker: an activity with places left, at the venue, whose
        # participants are the neighbours.
        suggested = ActivityFactory(
            title="Suggested doubles", organiser=organiser, place=venue, latitude=venue.latitude,
            longitude=venue.longitude, geohash=venue.geohash, capacity=10,
        )  # fmt: skip
        for person in [organiser, *neighbours]:
            ParticipationFactory(activity=suggested, user=person)
        with django_capture_on_commit_callbacks(execute=True):
            tiny_ranker_register(version="privacy", vocabulary=tiny_vocabulary(place_ids=[venue.pk]))
            matching_services.model_version_activate(name=RANKER_NAME, version="privacy")
    if viewer.role == Role.MARKETER:
        # First: activating the model outside a committed transaction does not reach a cached "no model".
        campaign_id = _built_campaign(owner=viewer, people=[*neighbours, *invitees])
    invite = [invitee.pk for invitee in invitees[:2]] + ([viewer.pk] if viewer.role == Role.PERSON else [])
    invitations_send(activity_id=activity.pk, organiser=organiser, user_ids=invite)

    experiment = experiment_services.experiment_create(
        created_by=MarketerFactory(),
        key="privacy",
        surface="nearby",
        variants=[{"key": "a", "weight": 1}, {"key": "b", "weight": 1, "config": {"w_d": 0.9, "w_s": 0.1}}],
    )
    experiment_services.experiment_start(experiment_id=experiment.pk)

    client = Client()
    client.force_login(viewer)
    rendered = 0
    pages = _page_urls(
        activity_id=activity.pk, experiment_id=experiment.pk, campaign_id=campaign_id, role=viewer.role
    )
    for url in pages:
        response = client.get(url, follow=True)
        assert response.status_code == 200, url
        html = response.content.decode()
        assert _positions_in(html, viewer=viewer) == [], url
        rendered += 1
    assert rendered >= 10
    # The pages were rendered with other people on them: the check saw them, not empty lists.
    if viewer.role != Role.MARKETER:
        nearby = client.get(reverse("people-nearby")).content.decode()
        assert all(f"Neighbour {i}" in nearby for i in range(len(NEIGHBOURS)))
    if viewer.role == Role.PERSON:
        assert activity.title in client.get(reverse("invitation-inbox")).content.decode()
        for_you = client.get(reverse("activities-for-you-page")).content.decode()
        assert f'data-suggested="{suggested.pk}"' in for_you and "Suggested doubles" in for_you
    if viewer.role == Role.ORGANISER:
        suggestions = client.get(reverse("activity-suggestions-page", args=[activity.pk])).content.decode()
        assert "Invitee 0" in suggestions and "Invitee 2" in suggestions  # sent, and suggested
    if viewer.role == Role.MARKETER:
        results = client.get(reverse("campaign-detail-page", args=[campaign_id])).content.decode()
        assert 'data-chart="histogram"' in results and 'data-group="preference"' in results
    # The check can fail: the viewer's own position is on their pages, and would be caught for anyone else.
    own_page = client.get(reverse("location")).content.decode()
    assert "40.748400" in own_page
    assert _positions_in(own_page, viewer=neighbours[0]) != []
