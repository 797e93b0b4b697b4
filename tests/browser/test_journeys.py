"""End-to-end journeys in a real browser, on the demo city: a person, an organiser and a marketer.

Each journey saves screenshots at 1280 px and 375 px (var/test-artifacts/screenshots/), checks that
nothing overflows a phone screen, and fails on any console error.
"""

from __future__ import annotations

import csv
import re
import uuid
from datetime import datetime, timedelta
from io import StringIO
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from django.core.management import call_command
from django.utils import timezone
from playwright.sync_api import expect

from activities.models import Activity, Invitation, Participation
from activities.services import invitation_accept as accept_invitation
from activities.services import invitation_decline as decline_invitation
from config.celery import app as celery_app
from matching import services as matching_services
from matching.campaigns.models import Campaign, CampaignMember
from matching.experiments.models import Experiment, ExperimentExposure
from matching.invitations import ranking
from matching.invitations.services import invitations_send
from matching.ranking.artefacts import RANKER_NAME
from matching.ranking.pages import FOR_YOU_LIMIT
from matching.ranking.selectors import activities_for_you_list
from tests.browser.conftest import BrowserSession
from tests.celery_worker import worker_process
from tests.factories import (
    ActivityFactory,
    LocationFactory,
    MarketerFactory,
    ParticipationFactory,
    PlaceFactory,
    UserFactory,
)
from tests.matching.lookalike_people import active_ralm, model_dir_setup
from tests.matching.ranking_builders import tiny_ranker_register, tiny_vocabulary
from users import geo
from users.demo import DEMO_PASSWORD
from users.models import Block, InteractionEvent, Location, Place, Profile, User

NEW_YORK = ZoneInfo("America/New_York")


def _seed_demo_city() -> None:
    call_command("seed_demo", "--synthetic", "--people", "120", stdout=StringIO(), stderr=StringIO())


def _assert_no_one_elses_position(html: str, *, me: User) -> None:
    """No other person's coordinates (to 4 decimals, ~10 m) or geohash (7 characters, ~150 m) in the page."""
    for latitude, longitude, cell in Location.objects.exclude(user=me).values_list(
        "latitude", "longitude", "geohash"
    ):
        assert f"{latitude:.4f}" not in html or f"{longitude:.4f}" not in html, (latitude, longitude)
        assert cell[:7] not in html, cell


#: The campaign build on a worker that shares 2 busy cores: time to start the worker, and to finish.
WORKER_START_SECONDS = 180
BUILD_TIMEOUT_MS = 300_000
#: Installed before the campaign page loads: records the bar's percentage at load and after every poll.
PERCENT_RECORDER = """
window.__percentSeen = [];
const recordPercent = () => {
  const shown = document.querySelector("[data-percent]");
  if (shown) { window.__percentSeen.push(parseInt(shown.textContent, 10)); }
};
document.addEventListener("DOMContentLoaded", recordPercent);
document.addEventListener("htmx:afterSettle", recordPercent);
"""


def _chart_ready(page, name: str) -> None:
    """Wait until Chart.js has drawn the chart on canvas[data-chart=name] (the canvas shows before)."""
    page.wait_for_function(
        "name => { const c = document.querySelector(`canvas[data-chart=${name}]`);"
        " return !!(c && window.Chart && Chart.getChart(c)); }",
        arg=name,
    )


def _empty_map_point(page, box: dict) -> tuple[float, float]:
    """A point inside the map where a tap lands on the map itself, not on a marker or a control."""
    for fx, fy in ((0.5, 0.5), (0.3, 0.6), (0.7, 0.4), (0.6, 0.7), (0.4, 0.3), (0.2, 0.8)):
        x, y = box["x"] + box["width"] * fx, box["y"] + box["height"] * fy
        on_map = page.evaluate(
            "([x, y]) => { const e = document.elementFromPoint(x, y);"
            " return !!e.closest('.map') && !e.closest('path, .leaflet-control'); }",
            [x, y],
        )
        if on_map:
            return x, y
    raise AssertionError("no free spot on the map to tap")


def _active_tiny_ranker() -> None:
    """A small DIN + ETA ranker over the city's places, registered and active: "activities for you" ranks
    with it (an untrained model's order, but the real serving path)."""
    places = list(Place.objects.order_by("pk").values_list("pk", flat=True))
    tiny_ranker_register(version="journey", vocabulary=tiny_vocabulary(place_ids=places))
    matching_services.model_version_activate(name=RANKER_NAME, version="journey")


@pytest.mark.django_db(transaction=True)
def test_a_person_signs_up_onboards_drops_a_pin_and_joins_an_activity_nearby(
    session: BrowserSession, model_dir
):
    _seed_demo_city()
    _active_tiny_ranker()
    page = session.page
    session.go("/")
    session.snap("person-01-home")
    page.get_by_role("link", name="Sign up").first.click()

    # A mistake is shown next to its field, and nothing is created.
    page.get_by_label("Username").fill("rosa")
    page.get_by_label("Email").fill("rosa@example.org")
    page.get_by_label("Name shown to others").fill("Rosa")
    page.get_by_label("Password", exact=True).fill("a-long-passphrase-42")
    page.get_by_label("Password, again").fill("something-else-entirely")
    page.get_by_role("button", name="Sign up").click()
    expect(page.locator("#id_password_again_error")).to_contain_text("The two passwords differ.")
    expect(page.get_by_label("Password, again")).to_have_attribute("aria-invalid", "true")
    session.snap("person-02-signup-error")
    assert not User.objects.filter(username="rosa").exists()

    page.get_by_label("Password", exact=True).fill("a-long-passphrase-42")
    page.get_by_label("Password, again").fill("a-long-passphrase-42")
    page.get_by_role("button", name="Sign up").click()

    # Onboarding, step by step.
    expect(page.get_by_role("heading", name="About you")).to_be_visible()
    page.get_by_label("Year of birth").fill("1994")
    page.get_by_label("Languages").fill("en, it")
    session.snap("person-03-onboarding-about")
    page.get_by_role("button", name="Save and continue").click()

    expect(page.get_by_role("heading", name="Interests")).to_be_visible()
    for interest in ("Sports", "Outdoors", "Coffee"):
        page.get_by_label(interest, exact=True).check()
    session.snap("person-04-onboarding-interests")
    page.get_by_role("button", name="Save and continue").click()

    expect(page.get_by_role("heading", name="Activities and skills")).to_be_visible()
    page.locator("label[for=id_activity_preferences__badminton_2]").click()  # Love it
    page.locator("label[for=id_activity_preferences__running_1]").click()  # Sometimes
    page.get_by_label("Badminton skill").select_option("3")
    session.snap("person-05-onboarding-activities")
    page.get_by_role("button", name="Save and continue").click()

    expect(page.get_by_role("heading", name="When and where")).to_be_visible()
    page.locator("label[for=id_time_preferences__weekend_2]").click()
    page.locator("label[for=id_time_preferences__evening_1]").click()
    page.get_by_label("Outdoors", exact=True).check()
    page.get_by_role("button", name="Save and continue").click()

    # Location: the device's position fills the pin; then a pin dropped on the map replaces it (the map's
    # tiles never load here, and the page says so).
    expect(page.get_by_role("heading", name="Where are you?")).to_be_visible()
    page.context.grant_permissions(["geolocation"])
    page.context.set_geolocation({"latitude": 40.7411, "longitude": -73.9897, "accuracy": 25})
    page.get_by_role("button", name="Use my device's location").click()
    expect(page.locator("[data-map-status]")).to_contain_text("Found you at 40.741100, -73.989700")
    assert page.get_by_label("Latitude").input_value() == "40.741100"
    expect(page.locator(".map.tiles-missing")).to_have_count(1)
    x, y = _empty_map_point(page, session.map_ready("#own-location-map"))
    page.mouse.click(x, y)
    expect(page.locator("[data-map-status]")).to_contain_text("Pin dropped")
    latitude = float(page.get_by_label("Latitude").input_value())
    longitude = float(page.get_by_label("Longitude").input_value())
    assert 40.70 < latitude < 40.80 and -74.03 < longitude < -73.93  # around the map's Midtown centre
    expect(page.locator("path.own-marker")).to_have_count(1)
    session.snap("person-06-location-pin")
    page.get_by_role("button", name="Save location").click()
    # Saved once the next page is there (the click returns as soon as it is made).
    expect(page.get_by_role("heading", name="Activities near me")).to_be_visible()

    rosa = User.objects.select_related("profile", "location").get(username="rosa")
    profile = rosa.profile
    assert rosa.display_name == "Rosa" and rosa.role == User.Role.PERSON
    assert profile.birth_year == 1994 and profile.languages == ["en", "it"]
    assert profile.interests == {"sports": 1.0, "outdoors": 1.0, "coffee": 1.0}
    assert profile.activity_preferences == {"badminton": 1.0, "running": 0.5}
    assert profile.skills == {"badminton": 3}
    assert profile.time_preferences == {"weekend": 1.0, "evening": 0.5}
    assert profile.place_type_preferences == {"outdoors": 1.0}
    assert (rosa.location.latitude, rosa.location.longitude) == pytest.approx((latitude, longitude), abs=1e-6)

    # Activities near me: venues on the map, a list, and a join that updates the card in place.
    page.get_by_label("Distance").select_option("10")
    expect(page.locator("#near-results")).to_contain_text("within 10 km")
    cards = page.locator("[data-activity]")
    expect(cards.first).to_be_visible()
    expect(page.locator("path.venue-marker")).to_have_count(cards.count())
    _assert_no_one_elses_position(page.content(), me=rosa)
    session.snap("person-07-activities-near")

    page.evaluate("window.__sameDocument = true")  # gone if the join reloaded the page
    card = page.locator("[data-activity]:has(button:text-is('Join'))").first
    card_id = card.get_attribute("id")
    activity = Activity.objects.get(pk=int(card_id.removeprefix("activity-")))
    before = activity.participations.count()
    card.get_by_role("button", name="Join").click()
    joined_card = page.locator(f"#{card_id}")
    expect(joined_card).to_contain_text("You're going")
    expect(joined_card.locator("[data-participants]")).to_have_text(str(before + 1))
    expect(joined_card.get_by_role("button", name="Leave")).to_be_focused()
    assert page.evaluate("window.__sameDocument") is True
    assert Participation.objects.filter(activity=activity, user=rosa).exists()
    session.snap("person-08-joined")

    joined_card.get_by_role("button", name="Leave").click()
    expect(page.locator(f"#{card_id}").get_by_role("button", name="Join")).to_be_visible()
    assert not Participation.objects.filter(activity=activity, user=rosa).exists()

    # Activities for you: the active ranker's picks in its order, each with why; one joined from the
    # keyboard, its card swapped in place by the same partial as on "activities near me".
    nav = page.get_by_role("navigation", name="Main")
    nav.get_by_role("link", name="Activities for you").click()
    expect(page.get_by_role("heading", name="Activities for you", level=1)).to_be_visible()
    expect(nav.get_by_role("link", name="Activities for you")).to_have_attribute("aria-current", "page")
    suggested = page.locator("[data-suggested]")
    expect(suggested.first).to_be_visible()
    expect(page.locator(".for-you-list")).to_have_attribute("data-ranked-by", "ranker")
    expected = [s.activity.pk for s in activities_for_you_list(user=rosa, limit=FOR_YOU_LIMIT)]
    assert len(expected) >= 2
    shown = suggested.evaluate_all("items => items.map(item => Number(item.dataset.suggested))")
    assert shown == expected
    first = suggested.first
    expect(first.locator(".reason").first).to_be_visible()
    expect(first.locator("time")).to_be_visible()
    picked = Activity.objects.select_related("place").get(pk=expected[0])
    if picked.place is not None:
        expect(first).to_contain_text(picked.place.name)  # the venue is public
    _assert_no_one_elses_position(page.content(), me=rosa)
    session.snap("person-09-activities-for-you")

    page.evaluate("window.__sameDocument = true")
    first.get_by_role("button", name=f"Join {picked.title}").focus()
    page.keyboard.press("Enter")
    expect(first).to_contain_text("You're going")
    expect(first.get_by_role("button", name=f"Leave {picked.title}")).to_be_focused()
    expect(first.locator(".reason").first).to_be_visible()  # why stays with the swapped card
    assert page.evaluate("window.__sameDocument") is True
    assert Participation.objects.filter(activity=picked, user=rosa).exists()
    session.snap("person-10-activities-for-you-joined")

    # People nearby: ranked cards with a distance bucket and the reason; the map shows only Rosa.
    nav.get_by_role("link", name="People nearby").click()
    expect(page.get_by_role("heading", name="People nearby")).to_be_visible()
    people = page.locator("[data-person]")
    expect(people.first).to_be_visible()
    assert people.count() >= 3
    expect(people.first.locator(".pill.distance")).to_have_text(re.compile(r"km"))
    expect(page.locator("#people-map path.own-marker")).to_have_count(1)
    # Nothing else is drawn: Rosa's own marker and the rings (the buckets' edges inside the radius, and it).
    rings = page.locator("#people-results").get_attribute("data-rings-km").split(",")
    assert rings == ["1", "2", "5"]
    expect(page.locator("#people-map .leaflet-overlay-pane path")).to_have_count(1 + len(rings))
    _assert_no_one_elses_position(page.content(), me=rosa)
    session.snap("person-11-people-nearby")
    session.readme_snap("nearby")

    # A wave: the button becomes a confirmation, in place.
    first = people.first
    waved_id = int(first.get_attribute("id").removeprefix("person-"))
    first.get_by_role("button", name=re.compile("^Wave at ")).click()
    expect(first.get_by_role("status")).to_contain_text("You waved at")
    assert InteractionEvent.objects.filter(actor=rosa, target_id=waved_id, kind="wave").exists()

    # A block: the card goes at once, and stays gone when the list loads again.
    second = people.nth(1)
    blocked_id = int(second.get_attribute("id").removeprefix("person-"))
    before = people.count()
    second.get_by_role("button", name=re.compile("^Block ")).click()
    expect(page.locator(f"#person-{blocked_id}")).to_have_count(0)
    expect(people).to_have_count(before - 1)
    expect(page.locator("#people-status")).to_contain_text("You blocked")
    expect(page.locator("#people-status")).to_be_focused()
    assert Block.objects.filter(blocker=rosa, blocked_id=blocked_id).exists()
    session.snap("person-12-blocked")
    page.get_by_label("Distance").select_option("10")
    expect(page.locator("#people-results")).to_contain_text("within 10 km")
    expect(people.first).to_be_visible()
    expect(page.locator(f"#person-{blocked_id}")).to_have_count(0)

    # An organiser invites Rosa; she accepts from her inbox, and takes a place.
    organiser = User.objects.get(username="demo_organiser")
    invited_to = (
        Activity.objects.filter(organiser=organiser, status="open", starts_at__gt=timezone.now())
        .exclude(participations__user=rosa)  # not the one she joined from her suggestions
        .order_by("starts_at")
        .first()
    )
    (outcome,) = invitations_send(activity_id=invited_to.pk, organiser=organiser, user_ids=[rosa.pk])
    nav.get_by_role("link", name="Invitations").click()
    invitation_card = page.locator(f"#invitation-{outcome.invitation.pk}")
    expect(invitation_card).to_contain_text(invited_to.title)
    expect(invitation_card).to_contain_text(f"{organiser.public_name} invited you")
    session.snap("person-13-invitations")
    invitation_card.get_by_role("button", name=re.compile("^Accept ")).click()
    expect(invitation_card).to_contain_text("You're going")
    assert Participation.objects.filter(activity=invited_to, user=rosa).exists()
    assert Invitation.objects.get(pk=outcome.invitation.pk).status == "accepted"
    session.snap("person-14-invitation-accepted")
    assert session.console_errors == []


@pytest.mark.django_db(transaction=True)
def test_an_organiser_creates_an_activity_by_picking_the_venue_on_the_map(session: BrowserSession):
    _seed_demo_city()
    organiser = User.objects.get(username="demo_organiser")
    page = session.page
    session.go("/accounts/login/")
    page.get_by_label("Username").fill("Demo_Organiser")  # usernames match whatever their case
    page.get_by_label("Password").fill(DEMO_PASSWORD)
    page.get_by_role("button", name="Log in").click()

    nav = page.get_by_role("navigation", name="Main")
    expect(nav.get_by_role("link", name="My activities")).to_be_visible()
    nav.get_by_role("link", name="My activities").click()
    existing = Activity.objects.filter(organiser=organiser).count()
    assert existing > 0
    expect(page.locator(".organised-item")).to_have_count(existing)
    session.snap("organiser-01-my-activities")

    page.get_by_role("link", name="New activity").click()
    page.get_by_label("Title").fill("Evening doubles at the courts")
    page.get_by_label("Activity", exact=True).select_option("badminton")
    start_local = (datetime.now(NEW_YORK) + timedelta(days=3)).replace(
        hour=18, minute=30, second=0, microsecond=0
    )
    page.get_by_label("Starts").fill(start_local.strftime("%Y-%m-%dT%H:%M"))
    page.get_by_label("Lasts").select_option("90")
    page.get_by_label("Skill level").select_option("3")
    page.get_by_label("Capacity").fill("6")

    # The venue: the organiser taps a listed venue's marker on the map.
    markers = page.locator("path.venue-marker")
    expect(markers.first).to_be_visible()
    assert markers.count() == page.locator("[data-venue]").count()
    markers.first.click()
    chosen = page.locator("#venue-options input[name=place_id]:checked")
    expect(chosen).to_have_count(1)
    place = Place.objects.get(pk=int(chosen.get_attribute("value")))
    expect(page.locator("[data-map-status]")).to_contain_text(f"Venue chosen: {place.name}")
    expect(page.locator("path.chosen-marker")).to_have_count(1)
    session.snap("organiser-02-new-activity")
    page.get_by_role("button", name="Create activity").click()

    expect(page.get_by_role("heading", name="My activities")).to_be_visible()
    item = page.locator(".organised-item", has_text="Evening doubles at the courts")
    expect(item).to_contain_text("1 of 6 going")
    session.snap("organiser-03-created")

    activity = Activity.objects.get(title="Evening doubles at the courts")
    assert activity.organiser == organiser and activity.place == place
    assert (activity.latitude, activity.longitude) == (place.latitude, place.longitude)
    assert activity.starts_at == start_local  # typed in the browser's zone, stored as that instant
    assert activity.ends_at - activity.starts_at == timedelta(minutes=90)
    assert (activity.skill_level, activity.capacity) == (3, 6)
    assert list(activity.participations.values_list("user", flat=True)) == [organiser.pk]
    assert geo.encode(place.latitude, place.longitude) == activity.geohash

    # Edit it: move it to a spot tapped on the map instead of a listed venue.
    item.get_by_role("link", name=re.compile("^Edit")).click()
    x, y = _empty_map_point(page, session.map_ready("#venue-map"))
    page.mouse.click(x, y)
    expect(page.locator("[data-custom-spot] input")).to_be_checked()
    spot = (
        float(page.get_by_label("Latitude").input_value()),
        float(page.get_by_label("Longitude").input_value()),
    )
    page.get_by_role("button", name="Save changes").click()
    expect(page.get_by_role("heading", name="My activities")).to_be_visible()
    activity.refresh_from_db()
    assert activity.place is None
    assert (activity.latitude, activity.longitude) == pytest.approx(spot, abs=1e-6)
    assert session.console_errors == []


@pytest.mark.django_db(transaction=True)
def test_titles_and_venue_names_show_as_text_on_the_maps_never_as_html(session: BrowserSession):
    payload = '<img src="/nowhere.png" onerror="window.__injected = true">'
    person = UserFactory(username="ada")
    LocationFactory(user=person, latitude=40.7484, longitude=-73.9857)
    venue = PlaceFactory(name=f"Court {payload}", latitude=40.7490, longitude=-73.9850)
    activity = ActivityFactory(
        title=f"Doubles {payload}", place=venue, latitude=venue.latitude, longitude=venue.longitude
    )
    ParticipationFactory(activity=activity, user=activity.organiser)

    page = session.page
    session.go("/accounts/login/")
    page.get_by_label("Username").fill("ada")
    page.get_by_label("Password").fill("correct-horse-battery")
    page.get_by_role("button", name="Log in").click()

    session.go(f"/activities/{activity.pk}/")
    page.locator("path.venue-marker").hover()
    expect(page.locator(".leaflet-tooltip")).to_have_text(f"Doubles {payload}")
    session.go("/activities/?radius_km=2")
    page.locator("path.venue-marker").click()
    expect(page.locator(".leaflet-popup-content")).to_have_text(f"Doubles {payload}")
    assert page.evaluate("window.__injected === undefined")
    assert page.locator(".leaflet-popup img, .leaflet-tooltip img").count() == 0


# With the look-alike model: the organiser's suggestions and the marketer's campaign ----------------------


@pytest.fixture
def model_dir(settings, tmp_path, monkeypatch):
    yield model_dir_setup(settings, tmp_path, monkeypatch)
    ranking.acceptance_scorers_clear()


def _demo_city_with_a_model() -> None:
    """The demo city, everyone's features, and a small RALM, active, with everyone encoded."""
    _seed_demo_city()
    call_command("compute_features", stdout=StringIO(), stderr=StringIO())
    active_ralm()


def _log_in(session: BrowserSession, username: str) -> None:
    session.go("/accounts/login/")
    session.page.get_by_label("Username").fill(username)
    session.page.get_by_label("Password").fill(DEMO_PASSWORD)
    session.page.get_by_role("button", name="Log in").click()


@pytest.mark.django_db(transaction=True)
def test_an_organiser_invites_three_suggested_people_and_sees_their_answers(
    session: BrowserSession, model_dir
):
    _demo_city_with_a_model()
    organiser = User.objects.get(username="demo_organiser")
    page = session.page
    _log_in(session, "demo_organiser")

    # A new activity at a listed venue.
    page.get_by_role("navigation", name="Main").get_by_role("link", name="My activities").click()
    page.get_by_role("link", name="New activity").click()
    page.get_by_label("Title").fill("Saturday afternoon doubles")
    page.get_by_label("Activity", exact=True).select_option("badminton")
    today = datetime.now(NEW_YORK)
    saturday = (today + timedelta(days=(5 - today.weekday()) % 7 or 7)).replace(
        hour=15, minute=0, second=0, microsecond=0
    )
    page.get_by_label("Starts").fill(saturday.strftime("%Y-%m-%dT%H:%M"))
    page.get_by_label("Lasts").select_option("120")
    page.get_by_label("Capacity").fill("8")
    page.locator("path.venue-marker").first.click()
    expect(page.locator("#venue-options input[name=place_id]:checked")).to_have_count(1)
    page.get_by_role("button", name="Create activity").click()
    item = page.locator(".organised-item", has_text="Saturday afternoon doubles")
    expect(item).to_be_visible()
    activity = Activity.objects.get(title="Saturday afternoon doubles", organiser=organiser)

    # Suggestions: ranked, each with its scores and reasons.
    item.get_by_role("link", name=re.compile("^Invite people")).click()
    expect(page.get_by_role("heading", name="Invite people to “Saturday afternoon doubles”")).to_be_visible()
    suggestions = page.locator("[data-suggestion]")
    expect(suggestions.first).to_be_visible()
    assert suggestions.count() >= 3
    expect(suggestions.first.locator(".score")).to_have_text(re.compile(r"^\d+\.\d %$"))
    expect(suggestions.first.locator(".components")).to_contain_text("Similarity")
    expect(suggestions.first.locator(".reason").first).to_be_visible()
    scores = [float(text.rstrip(" %")) for text in suggestions.locator(".score").all_inner_texts()]
    assert scores == sorted(scores, reverse=True)
    _assert_no_one_elses_position(page.content(), me=organiser)
    expect(page.locator("#invitation-statuses")).to_contain_text("No invitations yet")
    session.snap("organiser-04-suggestions")
    session.readme_snap("suggestions")

    # Tick three and invite them, in place.
    chosen = [int(suggestions.nth(i).get_attribute("data-suggestion")) for i in range(3)]
    for user_id in chosen:
        page.locator(f"label[for=invite-{user_id}]").click()
    page.evaluate("window.__sameDocument = true")
    page.get_by_role("button", name="Invite the people ticked").click()
    expect(page.locator("#suggestions-panel")).to_contain_text("Invited 3 people.")
    expect(page.locator("#invitation-statuses [data-invitee]")).to_have_count(3)
    expect(page.locator("[data-acceptance-rate]")).to_have_text("0.00 %")
    expect(page.locator("#invitation-statuses")).to_contain_text("3 waiting")
    for user_id in chosen:
        expect(page.locator(f"[data-suggestion='{user_id}']")).to_have_count(0)
    assert page.evaluate("window.__sameDocument") is True
    invitations = Invitation.objects.filter(activity=activity)
    assert sorted(invitations.values_list("invitee_id", flat=True)) == sorted(chosen)
    assert all(invitation.status == "sent" and invitation.score is not None for invitation in invitations)
    session.snap("organiser-05-invited")

    # The invitees answer; the statuses and the acceptance rate follow.
    accept_invitation(
        invitation_id=invitations.get(invitee_id=chosen[0]).pk, user=User.objects.get(pk=chosen[0])
    )
    decline_invitation(
        invitation_id=invitations.get(invitee_id=chosen[1]).pk, user=User.objects.get(pk=chosen[1])
    )
    page.reload()
    expect(page.locator("[data-acceptance-rate]")).to_have_text("33.3 %")
    statuses = page.locator("#invitation-statuses")
    expect(statuses.locator(f"[data-invitee='{chosen[0]}'] .pill")).to_have_text("Accepted")
    expect(statuses.locator(f"[data-invitee='{chosen[1]}'] .pill")).to_have_text("Declined")
    expect(statuses.locator(f"[data-invitee='{chosen[2]}'] .pill")).to_have_text("Sent")
    session.snap("organiser-06-statuses")
    assert session.console_errors == []


@pytest.fixture
def worker_queue():
    """A fresh queue that the live server's dispatches (on commit, in this process) are sent to."""
    queue = f"test-{uuid.uuid4().hex[:12]}"
    default = celery_app.conf.task_default_queue
    celery_app.conf.task_default_queue = queue
    yield queue
    celery_app.conf.task_default_queue = default


@pytest.mark.django_db(transaction=True)
def test_a_marketer_builds_a_campaign_on_a_worker_and_downloads_its_csv(
    session: BrowserSession, model_dir, worker_queue, monkeypatch
):
    _demo_city_with_a_model()
    monkeypatch.setenv("VICINO_CAMPAIGN_CHUNK_SIZE", "25")  # several parts, so the bar moves on the way
    values = sorted(Profile.objects.values_list("lifetime_value", flat=True), reverse=True)
    threshold = values[11]  # the dozen most valuable people are the seeds
    page = session.page
    _log_in(session, "demo_marketer")
    nav = page.get_by_role("navigation", name="Main")
    expect(nav.get_by_role("link", name="People nearby")).to_have_count(0)
    nav.get_by_role("link", name="Campaigns").click()
    expect(page.get_by_role("heading", name="No campaigns yet")).to_be_visible()
    page.get_by_role("link", name="New campaign").click()

    page.get_by_label("Name", exact=True).fill("Look-alikes of our best")
    expect(page.get_by_label("People whose lifetime value is at least…")).to_be_checked()
    expect(page.get_by_label("Tag", exact=True)).to_be_hidden()  # only the chosen seed kind's input
    page.get_by_label("Lifetime value at least").fill(str(threshold))
    page.get_by_label("Radius (km)").fill("12")
    x, y = _empty_map_point(page, session.map_ready("#region-map"))
    page.mouse.click(x, y)
    expect(page.get_by_label("Only people in a region")).to_be_checked()
    expect(page.locator("path.region-circle")).to_have_count(1)
    centre = (
        float(page.get_by_label("Centre latitude").input_value()),
        float(page.get_by_label("Centre longitude").input_value()),
    )
    page.get_by_label("The best N people").check()
    page.get_by_label("N or %").fill("30")
    expect(page.get_by_label("Leave the seeds themselves out of the audience")).to_be_checked()
    session.snap("marketer-01-campaign-builder")

    # Every value the bar shows, recorded by the page itself as each poll settles (no sampling by sleeps).
    page.add_init_script(PERCENT_RECORDER)
    with worker_process(queue=worker_queue, concurrency=1, timeout=WORKER_START_SECONDS):
        page.get_by_role("button", name="Build the audience").click()
        expect(page.get_by_role("heading", name="Look-alikes of our best")).to_be_visible()
        campaign = Campaign.objects.get(name="Look-alikes of our best")
        expect(page.locator("[data-percent]")).to_have_text("100 %", timeout=BUILD_TIMEOUT_MS)
    seen = page.evaluate("window.__percentSeen")
    assert seen and seen[-1] == 100 and seen == sorted(seen), seen  # the bar only moves forward
    campaign.refresh_from_db()
    assert campaign.status == "succeeded", campaign.error
    assert (campaign.region_latitude, campaign.region_longitude) == pytest.approx(centre, abs=1e-6)
    assert campaign.seed_count == Profile.objects.filter(lifetime_value__gte=threshold).count()
    assert campaign.member_count == 30

    expect(page.get_by_role("heading", name="Audience ready")).to_be_visible()
    expect(page.locator("canvas[data-chart=histogram]")).to_be_visible()
    _chart_ready(page, "histogram")
    bars = page.evaluate(
        "Chart.getChart(document.querySelector('canvas[data-chart=histogram]')).data.datasets[0].data"
    )
    assert sum(bars) == 30
    expect(page.locator("tr[data-group]")).to_have_count(6)
    _assert_no_one_elses_position(page.content(), me=User.objects.get(username="demo_marketer"))
    session.snap("marketer-02-campaign-results")
    session.readme_snap("campaign", full_page=True)

    with page.expect_download() as download_info:
        page.get_by_role("button", name="Download CSV").click()
    download = download_info.value
    assert download.suggested_filename == f"campaign-{campaign.pk}-user_id.csv"
    rows = list(csv.reader(Path(download.path()).read_text().splitlines()))
    members = CampaignMember.objects.filter(campaign=campaign).order_by("rank")
    assert rows[0] == ["rank", "score", "user_id"]
    assert [(int(rank), int(user_id)) for rank, _score, user_id in rows[1:]] == list(
        members.values_list("rank", "user_id")
    )
    assert [float(score) for _rank, score, _user in rows[1:]] == pytest.approx(
        list(members.values_list("score", flat=True)), abs=1e-6
    )
    assert session.console_errors == []


@pytest.mark.django_db(transaction=True)
def test_a_marketer_creates_an_experiment_starts_it_and_reads_its_results_chart(session: BrowserSession):
    marketer = MarketerFactory(username="mara")
    page = session.page
    session.go("/accounts/login/")
    page.get_by_label("Username").fill("mara")
    page.get_by_label("Password").fill("correct-horse-battery")
    page.get_by_role("button", name="Log in").click()
    page.get_by_role("navigation", name="Main").get_by_role("link", name="Experiments").click()
    page.get_by_role("link", name="New experiment").click()

    page.get_by_label("Experiment key").fill("nearby-blend")
    page.get_by_label("Salt").fill("browser-salt")
    page.get_by_role("button", name="Add a variant").click()  # a third row, from the template
    expect(page.locator("[data-formset-row]")).to_have_count(3)
    expect(page.locator("#id_variants-2-key")).to_be_focused()
    page.locator("#id_variants-2-key").fill("alike")
    page.locator("#id_variants-2-weight").fill("1")
    page.locator("[data-formset-row]").nth(2).locator("summary").click()
    page.locator("#id_variants-2-w_d").fill("0.3")
    page.locator("#id_variants-2-w_s").fill("0.7")
    page.locator("[data-formset-row]").nth(1).locator("summary").click()
    page.locator("#id_variants-1-w_a").fill("0.5")  # not a nearby setting: refused at its field
    page.get_by_role("button", name="Save as draft").click()
    expect(page.locator("#id_variants-1-w_a_error")).to_contain_text("Not a nearby setting")
    page.locator("#id_variants-1-w_a").fill("")
    page.get_by_role("button", name="Save as draft").click()
    page.get_by_role("button", name="Start").click()
    expect(page.get_by_role("heading", name=re.compile("^nearby-blend"))).to_contain_text("Running")
    experiment = Experiment.objects.get(key="nearby-blend")
    assert [variant["key"] for variant in experiment.variants] == ["control", "treatment", "alike"]
    assert experiment.variants[2]["config"] == {"w_d": 0.3, "w_s": 0.7}

    # People were exposed, some waved; the split is off (the SRM banner says so).
    for variant, people, waved in (("control", 120, 12), ("treatment", 40, 10), ("alike", 40, 16)):
        for index in range(people):
            person = UserFactory()
            ExperimentExposure.objects.create(experiment=experiment, user=person, variant=variant)
            if index < waved:
                InteractionEvent.objects.create(kind="wave", actor=person, target=marketer)
    page.reload()
    expect(page.get_by_role("alert")).to_contain_text("Sample ratio mismatch")
    _chart_ready(page, "rates")
    chart = page.evaluate(
        "(() => { const c = Chart.getChart(document.querySelector('canvas[data-chart=rates]'));"
        " return {rates: c.data.datasets[0].data, intervals: c.data.datasets[0].intervals}; })()"
    )
    assert chart["rates"] == pytest.approx([0.1, 0.25, 0.4])
    for rate, (low, high) in zip(chart["rates"], chart["intervals"], strict=True):
        assert low < rate < high
    session.snap("marketer-03-experiment-results")
    assert session.console_errors == []
