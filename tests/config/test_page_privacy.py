"""No page shows anyone's exact position but the viewer's own: not in the text, not in data attributes.

Every page route is rendered for a person and for an organiser, in a city where other people live at
known positions. Their coordinates and geohashes must not appear anywhere in the HTML.
"""

from __future__ import annotations

import pytest
from django.test import Client
from django.urls import reverse

from tests.config.test_page_access import _page_routes
from tests.factories import (
    ActivityFactory,
    LocationFactory,
    OrganiserFactory,
    ParticipationFactory,
    PlaceFactory,
    UserFactory,
)
from users.models import Location

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


def _page_urls(activity_id: int, viewer_is_organiser: bool) -> list[str]:
    urls = []
    for url, name in _page_routes():
        if name in {"activity-join-page", "activity-leave-page", "onboarding", "profile-section"}:
            continue  # POST only, or added below with real slugs
        if "/1/" in url:
            url = url.replace("/1/", f"/{activity_id}/")
        if name == "venue-options":
            url += "?latitude=40.75&longitude=-73.98&radius_km=5"
        if (
            name.startswith(("activity-create", "activity-edit", "organised", "venue"))
            and not viewer_is_organiser
        ):
            continue
        urls.append(url)
    urls.append(reverse("home"))
    for step in ("about", "interests", "activities", "times", "location"):
        urls.append(reverse("onboarding", args=[step]))
        if step != "location":
            urls.append(reverse("profile-section", args=[step]))
    return urls


@pytest.mark.parametrize("viewer_factory", [UserFactory, OrganiserFactory])
def test_no_page_shows_another_persons_coordinates_or_geohash(viewer_factory):
    viewer = viewer_factory()
    LocationFactory(user=viewer, latitude=40.7484, longitude=-73.9857)
    neighbours = [LocationFactory(latitude=lat, longitude=lon).user for lat, lon in NEIGHBOURS]
    organiser = viewer
    if viewer.role != "organiser":
        organiser = LocationFactory(user=OrganiserFactory(), latitude=40.733331, longitude=-74.002222).user
    venue = PlaceFactory(latitude=40.7412, longitude=-73.9899)
    activity = ActivityFactory(
        organiser=organiser, place=venue, latitude=venue.latitude, longitude=venue.longitude
    )
    for person in [organiser, *neighbours]:
        ParticipationFactory(activity=activity, user=person)

    client = Client()
    client.force_login(viewer)
    rendered = 0
    for url in _page_urls(activity.pk, viewer.role == "organiser"):
        response = client.get(url, follow=True)
        assert response.status_code == 200, url
        html = response.content.decode()
        assert _positions_in(html, viewer=viewer) == [], url
        rendered += 1
    assert rendered >= 10
    # The check can fail: the viewer's own position is on their pages, and would be caught for anyone else.
    own_page = client.get(reverse("location")).content.decode()
    assert "40.748400" in own_page
    assert _positions_in(own_page, viewer=neighbours[0]) != []
