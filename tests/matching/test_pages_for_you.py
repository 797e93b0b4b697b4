"""The "Activities for you" page: the active ranker's suggestions as cards (activity, public venue, time,
why) with join / leave in place through the activities' own partial; the empty states (nothing to suggest,
no model yet); people only; the navigation marks it, and only it, as the current page."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from activities.models import Participation
from matching import services
from matching.ranking.artefacts import RANKER_NAME
from matching.ranking.selectors import activities_for_you_list
from tests.factories import (
    ActivityFactory,
    LocationFactory,
    MarketerFactory,
    OrganiserFactory,
    ParticipationFactory,
    UserFactory,
)
from tests.matching.lookalike_people import model_dir_setup
from tests.matching.ranking_builders import place_at, tiny_ranker_register, tiny_vocabulary, visits
from users.models import User

pytestmark = pytest.mark.django_db

URL = "/activities/for-you/"
HTMX = {"HTTP_HX_REQUEST": "true"}
HERE = (40.7484, -73.9857)


@pytest.fixture(autouse=True)
def model_dir(settings, tmp_path, monkeypatch):
    return model_dir_setup(settings, tmp_path, monkeypatch)


def _client_for(user: User) -> Client:
    client = Client()
    client.force_login(user)
    return client


def _html(response) -> str:
    return response.content.decode()


def _upcoming(*, venue, title: str, starts_in: timedelta, **kwargs):
    activity = ActivityFactory(
        title=title,
        place=venue,
        latitude=venue.latitude,
        longitude=venue.longitude,
        geohash=venue.geohash,
        starts_at=timezone.now() + starts_in,
        **kwargs,
    )
    ParticipationFactory(activity=activity, user=activity.organiser)
    return activity


@pytest.fixture
def city():
    """A person who often goes to a park, and three upcoming activities they can join (one at that park)."""
    person = UserFactory(display_name="Rosa")
    LocationFactory(user=person, latitude=HERE[0], longitude=HERE[1])
    park = place_at(latitude=40.7712, longitude=-73.9742, name="Sheep Meadow")
    court = place_at(latitude=40.7420, longitude=-73.9890, name="Madison Courts", category="Gym",
                     place_type="sports")  # fmt: skip
    visits(user=person, places=[park] * 4, start=timezone.now() - timedelta(days=20), every=timedelta(days=2))
    activities = [
        _upcoming(venue=park, title="Picnic run", starts_in=timedelta(days=2), activity_type="running"),
        _upcoming(venue=court, title="Doubles night", starts_in=timedelta(days=1)),
        _upcoming(venue=court, title="Morning singles", starts_in=timedelta(days=3), activity_type="tennis"),
    ]
    return {"person": person, "park": park, "court": court, "activities": activities}


def _active_ranker(city) -> None:
    vocabulary = tiny_vocabulary(place_ids=[city["park"].pk, city["court"].pk])
    tiny_ranker_register(version="p1", vocabulary=vocabulary)
    services.model_version_activate(name=RANKER_NAME, version="p1")


def _card_ids(html: str) -> list[int]:
    return [int(pk) for pk in re.findall(r'<li class="for-you-item" data-suggested="(\d+)"', html)]


def test_with_the_ranker_active_the_cards_come_in_its_order_with_venue_time_why_and_join(
    city, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        _active_ranker(city)
    person = city["person"]
    expected = [s.activity.pk for s in activities_for_you_list(user=person, limit=20)]
    assert sorted(expected) == sorted(a.pk for a in city["activities"])

    html = _html(_client_for(person).get(URL))
    assert _card_ids(html) == expected
    assert 'data-ranked-by="ranker"' in html
    run = html.split(f'data-suggested="{city["activities"][0].pk}"', 1)[1].split("</li>", 1)[0]
    assert "Picnic run" in run and "Sheep Meadow" in run  # the public venue
    assert re.search(r'<time datetime="[^"]+">', run)
    assert "<strong>Why:</strong>" in run and "You&#x27;ve been to Sheep Meadow before" in run
    assert f'hx-post="/activities/{city["activities"][0].pk}/join/"' in run
    assert f'aria-label="Join {city["activities"][0].title}"' in run
    assert "<h1>Activities for you</h1>" in html


def test_joining_from_a_card_swaps_it_in_place_and_the_activity_is_no_longer_suggested(
    city, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        _active_ranker(city)
    person, run = city["person"], city["activities"][0]
    client = _client_for(person)
    response = client.post(f"/activities/{run.pk}/join/", {"next": URL}, **HTMX)
    assert response.status_code == 200
    card = _html(response)
    assert f'<article class="activity-card" id="activity-{run.pk}"' in card  # the near page's card
    assert "You're going" in card and f'aria-label="Leave {run.title}"' in card
    assert 'value="/activities/for-you/"' in card  # a later leave without JavaScript comes back here
    assert Participation.objects.filter(activity=run, user=person).exists()
    assert run.pk not in _card_ids(_html(client.get(URL)))

    response = client.post(f"/activities/{run.pk}/leave/", {"next": URL})  # without JavaScript
    assert response.status_code == 302 and response.headers["Location"] == URL
    assert run.pk in _card_ids(_html(client.get(URL)))


def test_without_a_model_the_page_says_suggestions_are_not_ready_and_points_near_me(city):
    html = _html(_client_for(city["person"]).get(URL))
    assert "Suggestions aren't ready yet" in html and 'href="/activities/"' in html
    assert _card_ids(html) == [] and "Picnic run" not in html


def test_with_nothing_to_suggest_the_page_says_so(city, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        _active_ranker(city)
    for activity in city["activities"]:
        ParticipationFactory(activity=activity, user=city["person"])
    html = _html(_client_for(city["person"]).get(URL))
    assert "Nothing to suggest right now" in html and 'href="/activities/"' in html
    assert _card_ids(html) == []


@pytest.mark.parametrize("factory", [OrganiserFactory, MarketerFactory])
def test_the_page_is_for_people_only(factory):
    response = _client_for(factory()).get(URL)
    assert response.status_code == 403
    assert "This page is for people." in _html(response)
    assert "Activities for you" not in _html(_client_for(factory()).get("/"))


def test_the_navigation_marks_this_page_as_current_and_not_activities_near_me():
    html = _html(_client_for(UserFactory()).get(URL))
    nav = html.split('<nav class="mainnav"', 1)[1].split("</nav>", 1)[0]
    assert f'<a href="{URL}" aria-current="page">Activities for you</a>' in nav
    assert '<a href="/activities/">Activities near me</a>' in nav
    assert nav.count('aria-current="page"') == 1
    near = _html(_client_for(UserFactory()).get("/activities/"))
    assert '<a href="/activities/" aria-current="page">Activities near me</a>' in near


def test_the_page_costs_the_same_queries_however_many_suggestions(city, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        _active_ranker(city)
    client = _client_for(city["person"])
    client.get(URL)  # warms the cached active-version answers
    with CaptureQueriesContext(connection) as three:
        assert len(_card_ids(_html(client.get(URL)))) == 3
    for i in range(4):
        _upcoming(venue=city["court"], title=f"Extra {i}", starts_in=timedelta(days=4 + i))
    with CaptureQueriesContext(connection) as seven:
        assert len(_card_ids(_html(client.get(URL)))) == 7
    assert len(seven.captured_queries) == len(three.captured_queries)
