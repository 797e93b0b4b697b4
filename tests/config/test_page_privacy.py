"""No page shows anyone's exact position but the viewer's own: not in the text, not in data attributes.

Every page route is rendered for a person and for an organiser, in a city where other people live at
known positions. Their coordinates and geohashes must not appear anywhere in the HTML.
"""

from __future__ import annotations

import pytest
from django.test import Client
from django.urls import reverse

from matching.experiments import services as experiment_services
from tests.config.test_page_access import MARKETER_PAGES, ORGANISER_PAGES, PEOPLE_PAGES, _page_routes
from tests.factories import (
    ActivityFactory,
    LocationFactory,
    MarketerFactory,
    OrganiserFactory,
    ParticipationFactory,
    PlaceFactory,
    UserFactory,
)
from users.models import Location, Role

pytestmark = pytest.mark.django_db

#: Other people, at positions no venue or activity uses.
NEIGHBOURS = [(40.751234, -73.981234), (40.743219, -73.992871), (40.760606, -73.970707)]


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
             *(PEOPLE_PAGES - {"people-nearby"})}  # fmt: skip


def _page_urls(*, activity_id: int, experiment_id: int, role: str) -> list[str]:
    urls = []
    for url, name in _page_routes():
        if name in POST_ONLY or name in {"onboarding", "profile-section"}:
            continue  # POST only, or added below with real slugs
        if (
            (name in ORGANISER_PAGES and role != Role.ORGANISER)
            or (name in MARKETER_PAGES and role != Role.MARKETER)
            or (name in PEOPLE_PAGES and role == Role.MARKETER)
        ):
            continue
        if "/1/" in url:
            url = url.replace("/1/", f"/{experiment_id if name in MARKETER_PAGES else activity_id}/")
        if name == "venue-options":
            url += "?latitude=40.75&longitude=-73.98&radius_km=5"
        urls.append(url)
    urls.append(reverse("home"))
    for step in ("about", "interests", "activities", "times", "location"):
        urls.append(reverse("onboarding", args=[step]))
        if step != "location":
            urls.append(reverse("profile-section", args=[step]))
    return urls


@pytest.mark.parametrize("viewer_factory", [UserFactory, OrganiserFactory, MarketerFactory])
def test_no_page_shows_another_persons_coordinates_or_geohash(viewer_factory):
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
    for url in _page_urls(activity_id=activity.pk, experiment_id=experiment.pk, role=viewer.role):
        response = client.get(url, follow=True)
        assert response.status_code == 200, url
        html = response.content.decode()
        assert _positions_in(html, viewer=viewer) == [], url
        rendered += 1
    assert rendered >= 10
    if viewer.role != Role.MARKETER:
        # The nearby page was rendered with the neighbours on it: the check saw them, not an empty list.
        nearby = client.get(reverse("people-nearby")).content.decode()
        assert all(f"Neighbour {i}" in nearby for i in range(len(NEIGHBOURS)))
    # The check can fail: the viewer's own position is on their pages, and would be caught for anyone else.
    own_page = client.get(reverse("location")).content.decode()
    assert "40.748400" in own_page
    assert _positions_in(own_page, viewer=neighbours[0]) != []
