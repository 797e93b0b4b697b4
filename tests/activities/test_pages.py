"""The activities pages: near me with HTMX join/leave, one activity, and the organiser's pages."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.test import Client
from django.utils import timezone

from activities.models import Activity, Participation
from tests.factories import (
    ActivityFactory,
    BlockFactory,
    LocationFactory,
    OrganiserFactory,
    ParticipationFactory,
    PlaceFactory,
    UserFactory,
)
from users.models import User

pytestmark = pytest.mark.django_db

HERE = (40.7484, -73.9857)
HTMX = {"HTTP_HX_REQUEST": "true"}


def _client_for(user: User) -> Client:
    client = Client()
    client.force_login(user)
    return client


def _html(response) -> str:
    return response.content.decode()


@pytest.fixture
def located_person():
    person = UserFactory()
    LocationFactory(user=person, latitude=HERE[0], longitude=HERE[1])
    return person


def test_near_me_asks_for_a_location_first():
    response = _client_for(UserFactory()).get("/activities/")
    assert response.status_code == 200
    assert "Share your location first" in _html(response) and 'href="/me/location/"' in _html(response)


def test_near_me_lists_upcoming_activities_within_the_radius_with_an_empty_state_otherwise(
    located_person, django_assert_num_queries
):
    near = ActivityFactory(title="Near badminton", latitude=HERE[0] + 0.01, longitude=HERE[1])  # ~1.1 km
    ActivityFactory(title="Far tennis", activity_type="tennis", latitude=HERE[0] + 0.2, longitude=HERE[1])
    ActivityFactory(title="Started already", starts_at=timezone.now() - timedelta(minutes=5))
    client = _client_for(located_person)

    html = _html(client.get("/activities/?radius_km=2"))
    assert "Near badminton" in html and "Far tennis" not in html and "Started already" not in html
    assert f'data-lat="{near.latitude:.6f}"' in html  # venues are public: exact on the map

    wide = _html(client.get("/activities/?radius_km=25"))
    assert "Far tennis" in wide
    only_tennis = _html(client.get("/activities/?radius_km=25&activity_type=tennis"))
    assert "Far tennis" in only_tennis and "Near badminton" not in only_tennis

    empty = _html(client.get("/activities/?radius_km=1"))
    assert "Nothing on nearby yet" in empty

    # The list costs the same number of queries whatever its length.
    for _ in range(5):
        ActivityFactory(latitude=HERE[0] + 0.001, longitude=HERE[1])
    with django_assert_num_queries(4):  # session, user, me (with location), activities: no query per card
        client.get("/activities/?radius_km=25")


def test_a_filter_change_over_htmx_returns_only_the_results(located_person):
    ActivityFactory(title="Near badminton")
    response = _client_for(located_person).get(
        "/activities/?radius_km=5", HTTP_HX_REQUEST="true", HTTP_HX_TARGET="near-results"
    )
    html = _html(response)
    assert html.lstrip().startswith('<div id="near-results"') and "<html" not in html
    assert "Near badminton" in html


def test_garbage_filters_fall_back_to_defaults_never_an_error(located_person):
    response = _client_for(located_person).get("/activities/?radius_km=999&activity_type=knitting")
    assert response.status_code == 200
    assert 'data-radius-km="5.0"' in _html(response)


def test_join_and_leave_over_htmx_swap_the_card_and_go_through_the_services(located_person):
    activity = ActivityFactory(capacity=3)
    ParticipationFactory(activity=activity, user=activity.organiser)
    client = _client_for(located_person)

    joined = client.post(f"/activities/{activity.pk}/join/", **HTMX)
    assert joined.status_code == 200
    card = _html(joined)
    assert card.lstrip().startswith(f'<article class="activity-card" id="activity-{activity.pk}"')
    assert "You're going" in card and "<span data-participants>2</span>" in card
    assert Participation.objects.filter(activity=activity, user=located_person).exists()

    left = client.post(f"/activities/{activity.pk}/leave/", **HTMX)
    assert "You left the activity." in _html(left) and "<span data-participants>1</span>" in _html(left)
    assert not Participation.objects.filter(activity=activity, user=located_person).exists()


def test_joining_a_full_activity_answers_409_with_the_reason_in_the_card(located_person):
    activity = ActivityFactory(capacity=2)
    ParticipationFactory(activity=activity, user=activity.organiser)
    ParticipationFactory(activity=activity)
    response = _client_for(located_person).post(f"/activities/{activity.pk}/join/", **HTMX)
    assert response.status_code == 409
    assert 'role="alert">This activity is full.' in _html(response)
    assert not Participation.objects.filter(activity=activity, user=located_person).exists()


def test_without_htmx_join_redirects_back_with_a_message(located_person):
    activity = ActivityFactory()
    client = _client_for(located_person)
    response = client.post(f"/activities/{activity.pk}/join/", {"next": "/activities/?radius_km=10"})
    assert response.headers["Location"] == "/activities/?radius_km=10"
    offsite = client.post(f"/activities/{activity.pk}/leave/", {"next": "https://evil.example/"})
    assert offsite.headers["Location"] == f"/activities/{activity.pk}/"
    assert "You left the activity." in _html(client.get(offsite.headers["Location"]))


def test_join_needs_post_and_an_existing_visible_activity(located_person):
    client = _client_for(located_person)
    assert client.get("/activities/1/join/").status_code == 405
    assert client.post("/activities/999999/join/", **HTMX).status_code == 404
    hidden = ActivityFactory()
    BlockFactory(blocker=hidden.organiser, blocked=located_person)
    assert client.get(f"/activities/{hidden.pk}/").status_code == 404
    assert client.post(f"/activities/{hidden.pk}/join/", **HTMX).status_code == 404


def test_the_organiser_sees_their_activities_with_participant_counts():
    organiser = OrganiserFactory()
    soon = ActivityFactory(organiser=organiser, title="Soon", capacity=5)
    ParticipationFactory(activity=soon, user=organiser)
    ParticipationFactory(activity=soon)
    ActivityFactory(organiser=organiser, title="Later", starts_at=timezone.now() + timedelta(days=9))
    ActivityFactory(title="Someone else's")
    html = _html(_client_for(organiser).get("/organise/"))
    assert html.index("Soon") < html.index("Later") and "Someone else" not in html
    assert "<strong data-participants>2</strong> of 5 going" in html


def test_an_organiser_with_no_activities_sees_the_empty_state():
    html = _html(_client_for(OrganiserFactory()).get("/organise/"))
    assert "No activities yet" in html and 'href="/organise/new/"' in html


def _form(**changes) -> dict:
    starts = timezone.localtime(timezone.now() + timedelta(days=2)).replace(second=0, microsecond=0)
    return {
        "title": "Doubles",
        "activity_type": "badminton",
        "starts_at": starts.strftime("%Y-%m-%dT%H:%M"),
        "duration_minutes": "90",
        "skill_level": "2",
        "capacity": "4",
        "place_id": "",
        "latitude": "",
        "longitude": "",
    } | changes


def test_an_organiser_creates_an_activity_at_a_listed_venue():
    organiser = OrganiserFactory()
    venue = PlaceFactory(latitude=40.75, longitude=-73.99, place_type="sports")
    response = _client_for(organiser).post("/organise/new/", _form(place_id=str(venue.pk)))
    assert response.status_code == 302 and response.headers["Location"] == "/organise/"
    activity = Activity.objects.get(title="Doubles")
    assert activity.place == venue and (activity.latitude, activity.longitude) == (40.75, -73.99)
    assert activity.ends_at - activity.starts_at == timedelta(minutes=90)
    assert list(activity.participations.values_list("user", flat=True)) == [organiser.pk]


def test_an_organiser_creates_an_activity_at_a_spot_on_the_map():
    response = _client_for(OrganiserFactory()).post(
        "/organise/new/", _form(latitude="40.7", longitude="-73.95")
    )
    assert response.status_code == 302
    activity = Activity.objects.get()
    assert activity.place is None and (activity.latitude, activity.longitude) == (40.7, -73.95)


@pytest.mark.parametrize(
    ("changes", "field", "message"),
    [
        ({}, "place_id", "Pick a venue from the list"),
        ({"latitude": "40.7"}, "place_id", "Pick a venue from the list"),
        ({"place_id": "99999999"}, "place_id", "No place has this id."),
        ({"starts_at": "2001-01-01T10:00", "latitude": "40.7", "longitude": "-73.9"}, "starts_at", "future"),
        (
            {"capacity": "1", "latitude": "40.7", "longitude": "-73.9"},
            "capacity",
            "greater than or equal to 2",
        ),
        ({"title": "", "latitude": "40.7", "longitude": "-73.9"}, "title", "required"),
    ],
)
def test_activity_form_errors_sit_next_to_their_field(changes, field, message):
    response = _client_for(OrganiserFactory()).post("/organise/new/", _form(**changes))
    assert response.status_code == 200
    assert message in _html(response).split(f'id="id_{field}_error"', 1)[1].split("</ul>", 1)[0]
    assert not Activity.objects.exists()


def test_a_home_can_never_become_a_venue():
    home = PlaceFactory(place_type="home")
    response = _client_for(OrganiserFactory()).post("/organise/new/", _form(place_id=str(home.pk)))
    assert "A private home cannot be" in _html(response).split('id="id_place_id_error"', 1)[1]
    assert not Activity.objects.exists()


def test_editing_moves_the_activity_and_capacity_never_drops_below_who_joined():
    organiser = OrganiserFactory()
    venue = PlaceFactory(latitude=40.75, longitude=-73.99)
    activity = ActivityFactory(organiser=organiser, place=venue, latitude=40.75, longitude=-73.99, capacity=4)
    ParticipationFactory(activity=activity, user=organiser)
    ParticipationFactory(activity=activity)
    ParticipationFactory(activity=activity)
    client = _client_for(organiser)
    page = _html(client.get(f"/organise/{activity.pk}/edit/"))
    assert f'value="{venue.pk}" checked' in page

    too_small = client.post(f"/organise/{activity.pk}/edit/", _form(capacity="2", place_id=str(venue.pk)))
    assert "3 people have already joined" in _html(too_small).split('id="id_capacity_error"', 1)[1]

    moved = client.post(f"/organise/{activity.pk}/edit/", _form(latitude="40.71", longitude="-74.0"))
    assert moved.status_code == 302
    activity.refresh_from_db()
    assert activity.place is None and (activity.latitude, activity.longitude) == (40.71, -74.0)


def test_only_the_activitys_organiser_may_edit_it():
    activity = ActivityFactory()
    response = _client_for(OrganiserFactory()).post(
        f"/organise/{activity.pk}/edit/", _form(latitude="1", longitude="1")
    )
    assert response.status_code == 403
    assert "Only this activity&#x27;s organiser can change it." in _html(response)


def test_the_venue_picker_lists_public_venues_nearest_first_never_homes():
    near = PlaceFactory(name="Court A", latitude=40.7500, longitude=-73.9900)
    farther = PlaceFactory(name="Court B", latitude=40.7540, longitude=-73.9900)
    PlaceFactory(name="Somebody's home", place_type="home", latitude=40.7501, longitude=-73.9900)
    PlaceFactory(name="Court far away", latitude=40.90, longitude=-73.99)
    client = _client_for(OrganiserFactory())
    html = _html(
        client.get("/organise/venues/", {"latitude": "40.75", "longitude": "-73.99", "radius_km": "1"})
    )
    assert html.index("Court A") < html.index("Court B")
    assert "home" not in html.lower() and "Court far away" not in html
    found = _html(
        client.get(
            "/organise/venues/",
            {"latitude": "40.75", "longitude": "-73.99", "q": "b", "selected": str(near.pk)},
        )
    )
    assert "Court B" in found and f'value="{near.pk}" checked' in found  # the chosen one always stays
    assert farther.pk != near.pk
    assert client.get("/organise/venues/", {"latitude": "north"}).status_code == 400
