"""The users pages: sign-up, log-in, onboarding and profile, and the person's own location.

They go through the same services as the API, so the checks here are about what the page adds: the form,
errors next to their field, the session, and where each step leads.
"""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.test import Client
from django.utils import timezone

from tests.factories import LocationFactory, UserFactory
from users.models import Location, LocationPing, Profile, User

pytestmark = pytest.mark.django_db

SIGNUP = {
    "username": "nia",
    "email": "nia@example.org",
    "display_name": "Nia",
    "password": "correct-horse-battery-9",
    "password_again": "correct-horse-battery-9",
    "role": "person",
}


def _client_for(user: User) -> Client:
    client = Client()
    client.force_login(user)
    return client


def _html(response) -> str:
    return response.content.decode()


def test_sign_up_creates_the_account_logs_in_and_starts_onboarding():
    client = Client()
    response = client.post("/signup/", SIGNUP)
    assert response.status_code == 302 and response.headers["Location"] == "/welcome/about/"
    user = User.objects.get(username="nia")
    assert user.role == "person" and user.display_name == "Nia" and Profile.objects.filter(user=user).exists()
    assert client.get("/welcome/about/").status_code == 200  # signed in by the session


@pytest.mark.parametrize(
    ("change", "field", "message"),
    [
        ({"password_again": "something-else-9"}, "password_again", "The two passwords differ."),
        ({"username": "synth_0001"}, "username", "are reserved"),
        ({"password": "abc", "password_again": "abc"}, "password", "too short"),
        ({"email": "not-an-email"}, "email", "valid email"),
        ({"role": "marketer"}, "role", "Select a valid choice"),
    ],
)
def test_sign_up_errors_sit_next_to_their_field_and_create_nothing(change, field, message):
    response = Client().post("/signup/", SIGNUP | change)
    assert response.status_code == 200
    html = _html(response)
    error_block = html.split(f'id="id_{field}_error"', 1)[1].split("</ul>", 1)[0]
    assert message in error_block
    assert f'aria-describedby="id_{field}_helptext id_{field}_error"' in html or (
        f'aria-describedby="id_{field}_error"' in html
    )
    assert not User.objects.filter(email=SIGNUP["email"]).exists()


def test_sign_up_with_a_taken_username_whatever_its_case_names_the_username():
    UserFactory(username="Nia")
    response = Client().post("/signup/", SIGNUP)
    html = _html(response)
    assert "A user with that username already exists." in html.split('id="id_username_error"', 1)[1]
    assert User.objects.filter(username__iexact="nia").count() == 1


def test_log_in_ignores_the_usernames_case_like_the_api():
    UserFactory(username="Bea")
    client = Client()
    response = client.post("/accounts/login/", {"username": "bea", "password": "correct-horse-battery"})
    assert response.status_code == 302
    assert client.get("/me/profile/").status_code == 200


def test_log_in_is_rate_limited_with_the_429_page(settings):
    settings.REST_FRAMEWORK = {
        **settings.REST_FRAMEWORK,
        "DEFAULT_THROTTLE_RATES": {"auth": "3/min", "location": "1000/min"},
    }
    client = Client()
    for _ in range(3):
        assert client.post("/accounts/login/", {"username": "x", "password": "y"}).status_code == 200
    refused = client.post("/accounts/login/", {"username": "x", "password": "y"})
    assert refused.status_code == 429
    assert int(refused.headers["Retry-After"]) > 0
    assert "Too many tries" in _html(refused)
    assert client.get("/accounts/login/").status_code == 200  # reading the form is never limited


def test_onboarding_walks_the_profile_then_the_location():
    person = UserFactory()
    client = _client_for(person)
    assert client.get("/welcome/").headers["Location"] == "/welcome/about/"
    steps = [
        (
            "about",
            {"display_name": "Kit", "birth_year": "1990", "languages": "EN, it", "show_age_group": "on"},
        ),
        ("interests", {"interests": ["music", "coffee"]}),
        ("activities", {"activity_preferences__yoga": "1.0", "skills__yoga": "2"}),
        ("times", {"time_preferences__morning": "0.5", "places": ["outdoors"]}),
    ]
    for (step, data), following in zip(steps, ["interests", "activities", "times", "location"], strict=True):
        response = client.post(f"/welcome/{step}/", data)
        assert response.status_code == 302 and response.headers["Location"] == f"/welcome/{following}/", step
    person.refresh_from_db()
    profile = person.profile
    assert person.display_name == "Kit"
    assert profile.birth_year == 1990 and profile.languages == ["en", "it"]
    assert profile.show_age_group is True and profile.allow_invitations is False  # an unticked box is a no
    assert profile.interests == {"music": 1.0, "coffee": 1.0}
    assert profile.activity_preferences == {"yoga": 1.0} and profile.skills == {"yoga": 2}
    assert profile.time_preferences == {"morning": 0.5} and profile.place_type_preferences == {
        "outdoors": 1.0
    }

    done = client.post("/welcome/location/", {"latitude": "40.75", "longitude": "-73.98"})
    assert done.headers["Location"] == "/activities/"
    assert Location.objects.get(user=person).latitude == 40.75


def test_an_unchanged_answer_keeps_the_precise_stored_weight():
    person = UserFactory()
    Profile.objects.filter(user=person).update(
        activity_preferences={"tennis": 0.6, "yoga": 0.9}, interests={"music": 0.3}
    )
    client = _client_for(person)
    page = _html(client.get("/me/profile/activities/"))
    assert 'value="0.5" id="id_activity_preferences__tennis_1" checked' in page.replace("\n", " ") or (
        'id="id_activity_preferences__tennis_1" checked' in page
    )
    client.post(
        "/me/profile/activities/",
        {"activity_preferences__tennis": "0.5", "activity_preferences__yoga": "0.5"},
    )
    client.post("/me/profile/interests/", {"interests": ["music", "pets"]})
    profile = Profile.objects.get(user=person)
    assert profile.activity_preferences == {"tennis": 0.6, "yoga": 0.5}  # tennis untouched, yoga changed
    assert profile.interests == {"music": 0.3, "pets": 1.0}


def test_profile_errors_from_the_form_and_the_service_show_at_their_field():
    client = _client_for(UserFactory())
    too_young = timezone.localdate().year - 5
    response = client.post("/me/profile/about/", {"birth_year": str(too_young), "languages": "english"})
    html = _html(response)
    assert response.status_code == 200
    assert "id_birth_year_error" in html
    # The form lets "english" through as a code; the service names it, and the page shows it at languages.
    response = client.post("/me/profile/about/", {"languages": "english"})
    assert (
        "Use two-letter lowercase ISO 639-1 codes" in _html(response).split('id="id_languages_error"', 1)[1]
    )


def test_an_unknown_profile_section_is_404():
    client = _client_for(UserFactory())
    assert client.get("/me/profile/passwords/").status_code == 404
    assert client.get("/welcome/nowhere/").status_code == 404


def test_location_page_saves_a_pin_and_shows_it_only_to_its_owner():
    person = UserFactory()
    client = _client_for(person)
    response = client.post(
        "/me/location/", {"latitude": "40.712345", "longitude": "-74.006789", "accuracy_m": ""}
    )
    assert response.status_code == 302
    assert LocationPing.objects.filter(user=person).count() == 1
    page = _html(client.get("/me/location/"))
    assert 'data-lat="40.712345"' in page and 'value="40.712345"' in page


def test_an_impossible_jump_is_refused_next_to_the_latitude():
    person = UserFactory()
    LocationFactory(
        user=person, latitude=40.75, longitude=-73.98, updated_at=timezone.now() - timedelta(minutes=5)
    )
    response = _client_for(person).post("/me/location/", {"latitude": "51.5", "longitude": "-0.12"})
    assert response.status_code == 200
    html = _html(response)
    assert "faster than 1,000 km/h" in html.split('id="id_latitude_error"', 1)[1]
    assert Location.objects.get(user=person).latitude == 40.75


@pytest.mark.parametrize(
    ("data", "field"),
    [
        ({"latitude": "91", "longitude": "0"}, "latitude"),
        ({"latitude": "nan", "longitude": "0"}, "latitude"),
        ({"latitude": "10", "longitude": "inf"}, "longitude"),
        ({"latitude": "", "longitude": ""}, "latitude"),
    ],
)
def test_bad_coordinates_are_form_errors_not_server_errors(data, field):
    person = UserFactory()
    response = _client_for(person).post("/me/location/", data)
    assert response.status_code == 200
    assert f'id="id_{field}_error"' in _html(response)
    assert not Location.objects.filter(user=person).exists()


def test_location_updates_from_the_page_are_rate_limited(settings):
    settings.REST_FRAMEWORK = {
        **settings.REST_FRAMEWORK,
        "DEFAULT_THROTTLE_RATES": {"auth": "1000/min", "location": "2/min"},
    }
    client = _client_for(UserFactory())
    for _ in range(2):
        assert client.post("/me/location/", {"latitude": "40.7", "longitude": "-73.9"}).status_code == 302
    assert client.post("/me/location/", {"latitude": "40.7", "longitude": "-73.9"}).status_code == 429
