"""The nearby page: ranked cards with names, age groups, distance buckets and reasons, the radius and
friends controls, the HTMX wave / like / block / report buttons, the empty states, and never anyone else's
position."""

from __future__ import annotations

import re

import pytest
from django.test import Client

from matching.experiments import services as experiment_services
from matching.experiments.models import ExperimentExposure
from tests.factories import BlockFactory, FollowFactory, MarketerFactory, OrganiserFactory, UserFactory
from tests.matching.nearby_builders import NYC, forget_rosters_around, offset, person_at
from users.models import Block, EventKind, InteractionEvent, Location, Report

pytestmark = pytest.mark.django_db

HTMX = {"HTTP_HX_REQUEST": "true"}
URL = "/people/"
PAGE_QUERIES = 4


def _client_for(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


def _html(response) -> str:
    return response.content.decode()


def _card_ids(html: str) -> list[int]:
    return [int(pk) for pk in re.findall(r'<li class="person-card" id="person-(\d+)"', html)]


@pytest.fixture
def me():
    return person_at(NYC, interests={"music": 1.0, "outdoors": 1.0}, display_name="Me")


def test_without_a_location_the_page_asks_for_one():
    html = _html(_client_for(UserFactory()).get(URL))
    assert "Share your location first" in html and 'href="/me/location/"' in html
    assert "person-card" not in html


def test_cards_show_name_age_group_bucket_and_why_best_first_and_nothing_positional(me):
    ana = person_at(offset(NYC, north_km=0.3), interests={"music": 1.0}, display_name="Ana")
    bo = person_at(offset(NYC, north_km=3.5), interests={"gaming": 1.0}, display_name="Bo")
    far = person_at(offset(NYC, north_km=30), interests={"music": 1.0}, display_name="Faraway")
    html = _html(_client_for(me).get(URL + "?radius_km=10"))

    assert _card_ids(html) == [ana.pk, bo.pk]  # nearer and alike first; 30 km is outside the radius
    ana_card = html.split(f'id="person-{ana.pk}"', 1)[1].split("</li>", 1)[0]
    assert "Ana" in ana_card and "&lt; 1 km" in ana_card
    assert re.search(r"Age (25–34|35–44|under 25)", ana_card)
    assert "<strong>Why:</strong> you both like music." in ana_card
    assert "Faraway" not in html
    for person in (ana, bo, far):
        location = Location.objects.get(user=person)
        for text in (f"{location.latitude:.3f}", f"{location.longitude:.3f}", location.geohash[:6]):
            assert text not in html, text
    # The map is told only the viewer's own position and the rings (buckets up to the radius).
    assert 'data-map="own-area"' in html and f'data-lat="{NYC[0]:.6f}"' in html
    assert 'data-rings-km="1,2,5,10"' in html


def test_the_radius_control_narrows_the_list_and_htmx_gets_only_the_results(me):
    near = person_at(offset(NYC, east_km=0.4), display_name="Near")
    person_at(offset(NYC, east_km=4), display_name="Further")
    client = _client_for(me)
    response = client.get(URL + "?radius_km=1", HTTP_HX_REQUEST="true", HTTP_HX_TARGET="people-results")
    html = _html(response)
    assert html.lstrip().startswith('<div id="people-results"') and "<html" not in html
    assert _card_ids(html) == [near.pk] and 'data-radius-km="1"' in html
    assert len(_card_ids(_html(client.get(URL + "?radius_km=5")))) == 2


def test_garbage_controls_fall_back_to_the_suggested_radius(me):
    response = _client_for(me).get(URL + "?radius_km=9999&with_friends=banana&limit=-4")
    assert response.status_code == 200
    html = _html(response)
    assert 'data-radius-km="5"' in html  # VICINO_NEARBY_DEFAULT_RADIUS_KM
    assert re.search(r'<option value="5" selected>Within 5 km</option>', html)


def test_an_experiment_variants_radius_is_the_one_shown_and_the_exposure_is_logged(me):
    experiment = experiment_services.experiment_create(
        created_by=MarketerFactory(),
        key="radius",
        surface="nearby",
        salt="s",
        variants=[
            {"key": "a", "weight": 1, "config": {"radius_km": 3}},
            {"key": "b", "weight": 1, "config": {"radius_km": 3}},
        ],
    )
    experiment_services.experiment_start(experiment_id=experiment.pk)
    html = _html(_client_for(me).get(URL))
    assert 'data-radius-km="3"' in html
    assert re.search(r'<option value="3" selected>Within 3 km</option>', html)
    assert ExperimentExposure.objects.filter(experiment=experiment, user=me).count() == 1


def test_including_friends_as_seeds_reorders_by_their_tastes_too():
    me = person_at(NYC, interests={"music": 1.0})
    for _ in range(2):
        friend = person_at(offset(NYC, north_km=40), interests={"outdoors": 1.0})
        FollowFactory(follower=me, followee=friend)
        FollowFactory(follower=friend, followee=me)
    musician = person_at(offset(NYC, east_km=0.2), interests={"music": 1.0})
    hiker = person_at(offset(NYC, east_km=0.25), interests={"outdoors": 1.0})
    client = _client_for(me)
    assert _card_ids(_html(client.get(URL + "?radius_km=2"))) == [musician.pk, hiker.pk]
    with_friends = _html(client.get(URL + "?radius_km=2&with_friends=on"))
    assert _card_ids(with_friends) == [hiker.pk, musician.pk]
    assert re.search(r'<input type="checkbox" name="with_friends"[^>]* checked>', with_friends)


def test_nobody_nearby_has_its_own_empty_state(me):
    person_at(offset(NYC, north_km=20))
    html = _html(_client_for(me).get(URL + "?radius_km=2"))
    assert "Nobody nearby yet" in html and "person-card" not in html


def test_blocked_people_either_way_and_marketers_never_show(me):
    shown = person_at(offset(NYC, east_km=0.3))
    i_blocked = person_at(offset(NYC, east_km=0.3))
    blocked_me = person_at(offset(NYC, east_km=0.3))
    marketer = person_at(offset(NYC, east_km=0.3), role="marketer")
    BlockFactory(blocker=me, blocked=i_blocked)
    BlockFactory(blocker=blocked_me, blocked=me)
    assert _card_ids(_html(_client_for(me).get(URL))) == [shown.pk]
    assert marketer.pk not in _card_ids(_html(_client_for(me).get(URL)))


def test_the_list_costs_the_same_queries_however_many_cards(me, django_assert_num_queries):
    client = _client_for(me)
    person_at(offset(NYC, east_km=0.3), interests={"music": 1.0})
    url = URL + "?radius_km=2"
    client.get(url)  # the running-experiment lookup and the cells' rosters are cached after the first request
    # session, user, the page's read of me (profile, location), and nearby's of my location, tastes,
    # embedding and blocks. Nothing per card, nothing per candidate: they come from the cached rosters.
    with django_assert_num_queries(PAGE_QUERIES):
        assert len(_card_ids(_html(client.get(url)))) == 1
    for step in range(12):
        person_at(offset(NYC, east_km=0.1 * step, north_km=0.2), interests={"music": 1.0})
    forget_rosters_around(NYC, radius_km=2)
    # Rebuilding the rosters: one query per round of cells (the own cell, then 4, then the rest).
    with django_assert_num_queries(PAGE_QUERIES + 3):
        assert len(_card_ids(_html(client.get(url)))) == 13
    with django_assert_num_queries(PAGE_QUERIES):
        assert len(_card_ids(_html(client.get(url)))) == 13


def test_show_more_asks_for_the_next_page_and_stops_at_the_end(me):
    for step in range(21):
        person_at(offset(NYC, east_km=0.05 * step))
    client = _client_for(me)
    first = _html(client.get(URL))
    assert len(_card_ids(first)) == 20 and "limit=40" in first
    second = _html(client.get(URL + "?limit=40"))
    assert len(_card_ids(second)) == 21 and "Show more people" not in second


def test_marketers_get_the_403_page_and_no_menu_entry():
    response = _client_for(MarketerFactory()).get(URL)
    assert response.status_code == 403
    assert 'href="/people/"' not in _html(_client_for(MarketerFactory()).get("/"))
    assert 'href="/people/"' in _html(_client_for(OrganiserFactory()).get("/"))


# The buttons --------------------------------------------------------------------------------------


def test_wave_and_like_over_htmx_log_the_event_and_swap_the_button_for_a_confirmation(me):
    ana = person_at(offset(NYC, east_km=0.3), display_name="Ana")
    client = _client_for(me)
    waved = client.post(f"/people/{ana.pk}/wave/", **HTMX)
    assert waved.status_code == 200
    assert _html(waved).strip().startswith(f'<span class="pill ok" id="wave-{ana.pk}" role="status">')
    assert "You waved at Ana." in _html(waved)
    liked = client.post(f"/people/{ana.pk}/like/", **HTMX)
    assert "You like Ana." in _html(liked)
    kinds = list(InteractionEvent.objects.filter(actor=me, target=ana).values_list("kind", flat=True))
    assert sorted(kinds) == [EventKind.LIKE, EventKind.WAVE]


def test_without_htmx_a_wave_redirects_back_with_a_message(me):
    ana = person_at(offset(NYC, east_km=0.3), display_name="Ana")
    client = _client_for(me)
    response = client.post(f"/people/{ana.pk}/wave/", {"next": "/people/?radius_km=2"})
    assert response.status_code == 302 and response.headers["Location"] == "/people/?radius_km=2"
    assert "You waved at Ana." in _html(client.get("/people/?radius_km=2"))
    offsite = client.post(f"/people/{ana.pk}/wave/", {"next": "https://evil.example/"})
    assert offsite.headers["Location"] == "/people/"


def test_block_removes_the_card_and_says_so_with_an_undo(me):
    ana = person_at(offset(NYC, east_km=0.3), display_name="Ana")
    client = _client_for(me)
    response = client.post(f"/people/{ana.pk}/block/", **HTMX)
    assert response.status_code == 200
    assert response.headers["HX-Retarget"] == f"#person-{ana.pk}"
    assert response.headers["HX-Reswap"] == "outerHTML"
    html = _html(response)
    assert '<div id="people-status" hx-swap-oob="innerHTML">' in html and "You blocked Ana." in html
    assert Block.objects.filter(blocker=me, blocked=ana).exists()
    assert ana.pk not in _card_ids(_html(client.get(URL)))

    undo = client.post(f"/people/{ana.pk}/unblock/", **HTMX)
    assert "Block lifted" in _html(undo)
    assert not Block.objects.filter(blocker=me, blocked=ana).exists()
    assert ana.pk in _card_ids(_html(client.get(URL)))


def test_report_asks_a_reason_at_its_field_then_reports_and_blocks(me):
    ana = person_at(offset(NYC, east_km=0.3), display_name="Ana")
    client = _client_for(me)
    page = _html(client.get(URL))
    assert '<summary aria-label="Report Ana">Report</summary>' in page
    assert f'id="report-{ana.pk}-reason_0"' in page  # each card's form has its own ids

    missing = client.post(f"/people/{ana.pk}/report/", {"details": "spam links"}, **HTMX)
    assert missing.status_code == 400
    html = _html(missing)
    assert html.strip().startswith(f'<form method="post" action="/people/{ana.pk}/report/"')
    assert f'id="report-{ana.pk}-reason_error"' in html and "This field is required." in html
    assert not Report.objects.exists()

    done = client.post(f"/people/{ana.pk}/report/", {"reason": "spam", "details": "links"}, **HTMX)
    assert done.status_code == 200 and done.headers["HX-Retarget"] == f"#person-{ana.pk}"
    assert "a moderator will look at your report" in _html(done)
    report = Report.objects.get()
    assert (report.reporter, report.reported, report.reason, report.details) == (me, ana, "spam", "links")
    assert Block.objects.filter(blocker=me, blocked=ana).exists()


def test_someone_who_blocked_you_answers_404_and_yourself_400(me):
    ana = person_at(offset(NYC, east_km=0.3))
    BlockFactory(blocker=ana, blocked=me)
    client = _client_for(me)
    for action in ("wave", "like", "block"):
        assert client.post(f"/people/{ana.pk}/{action}/", **HTMX).status_code == 404, action
    assert client.post(f"/people/{ana.pk}/report/", {"reason": "spam"}, **HTMX).status_code == 404
    assert client.post("/people/999999999/wave/", **HTMX).status_code == 404
    own = client.post(f"/people/{me.pk}/wave/", **HTMX)
    assert own.status_code == 400 and "You cannot do that to yourself." in _html(own)
    assert not InteractionEvent.objects.filter(actor=me).exists()


def test_the_buttons_are_post_only_and_closed_to_marketers(me):
    ana = person_at(offset(NYC, east_km=0.3))
    assert _client_for(me).get(f"/people/{ana.pk}/wave/").status_code == 405
    assert _client_for(MarketerFactory()).post(f"/people/{ana.pk}/wave/", **HTMX).status_code == 403
    assert not InteractionEvent.objects.exists()


def test_the_page_is_rate_limited_like_the_api(me, settings):
    settings.REST_FRAMEWORK = {
        **settings.REST_FRAMEWORK,
        "DEFAULT_THROTTLE_RATES": {**settings.REST_FRAMEWORK["DEFAULT_THROTTLE_RATES"], "nearby": "2/min"},
    }
    client = _client_for(me)
    assert [client.get(URL).status_code for _ in range(3)] == [200, 200, 429]
