"""Sign-up, log-in and log-out."""

from __future__ import annotations

import pytest
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient
from rest_framework.throttling import ScopedRateThrottle

from tests.factories import UserFactory
from users import services
from users.models import Profile, User

SIGNUP = "/api/auth/signup/"
LOGIN = "/api/auth/login/"
LOGOUT = "/api/auth/logout/"
GOOD_PASSWORD = "correct-horse-battery"


def _signup(client, **overrides):
    body = {"username": "ada", "email": "ada@example.org", "password": GOOD_PASSWORD, **overrides}
    return client.post(SIGNUP, body, format="json")


def _error(response, field=None):
    error = response.json()["error"]
    if field is not None:
        assert field in error["fields"], error
        assert error["message"].startswith(f"{field}:"), error
    return error


@pytest.mark.django_db
def test_signup_creates_a_person_with_a_profile_and_a_working_token(api_client):
    response = _signup(api_client, display_name="Ada L.")
    assert response.status_code == 201, response.json()
    body = response.json()
    user = User.objects.get(username="ada")
    assert body["user"] == {
        "id": user.pk,
        "username": "ada",
        "email": "ada@example.org",
        "display_name": "Ada L.",
        "role": "person",
        "date_joined": body["user"]["date_joined"],
    }
    assert Profile.objects.filter(user=user).exists()
    assert user.check_password(GOOD_PASSWORD)
    assert "password" not in body["user"]

    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {body['token']}")
    assert client.get("/api/me/").json()["user"]["username"] == "ada"


@pytest.mark.django_db
def test_signup_may_choose_organiser(api_client):
    assert _signup(api_client, role="organiser").json()["user"]["role"] == "organiser"


@pytest.mark.django_db
def test_marketer_is_never_self_assignable(api_client):
    response = _signup(api_client, role="marketer")
    assert response.status_code == 400
    _error(response, "role")
    assert not User.objects.exists()


@pytest.mark.django_db
@pytest.mark.parametrize("username", ["nyc_5", "YELP_12", "synth_0001"])
def test_usernames_the_importers_create_are_reserved(api_client, username):
    response = _signup(api_client, username=username)
    assert response.status_code == 400
    _error(response, "username")
    assert not User.objects.exists()


def test_the_reserved_prefixes_cover_every_importer_and_the_demo_generator():
    from django.conf import settings

    from users.demo import SYNTHETIC_USERNAME_PREFIX
    from users.importers import foursquare_nyc_dataset, yelp_dataset
    from users.services import RESERVED_USERNAME_PREFIXES

    prefixes = {SYNTHETIC_USERNAME_PREFIX}
    for make in (foursquare_nyc_dataset, yelp_dataset):
        prefixes.add(make(data_dir=settings.VICINO_DATA_DIR).username_prefix)
    assert prefixes <= set(RESERVED_USERNAME_PREFIXES)


@pytest.mark.django_db
def test_the_service_refuses_marketer_too():
    with pytest.raises(services.ApplicationError) as caught:
        services.user_signup(username="m", email="m@example.org", password=GOOD_PASSWORD, role="marketer")
    assert caught.value.field == "role"


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("overrides", "field"),
    [
        ({"username": "ADA"}, "username"),
        ({"email": "ADA@Example.ORG", "username": "other"}, "email"),
    ],
)
def test_username_and_email_are_unique_whatever_their_case(api_client, overrides, field):
    assert _signup(api_client).status_code == 201
    response = _signup(api_client, **overrides)
    assert response.status_code == 400
    assert _error(response, field)["code"] == "unique"
    assert User.objects.count() == 1


@pytest.mark.django_db
def test_a_lost_signup_race_is_a_400_not_a_500(api_client, monkeypatch):
    UserFactory(username="first", email="taken@example.org")
    real_check = services._taken_fields
    calls = 0

    def first_check_misses_the_racing_signup(**kwargs):
        nonlocal calls
        calls += 1
        return [] if calls == 1 else real_check(**kwargs)

    monkeypatch.setattr(services, "_taken_fields", first_check_misses_the_racing_signup)
    response = _signup(api_client, username="second", email="TAKEN@example.org")
    assert response.status_code == 400
    _error(response, "email")
    assert User.objects.count() == 1


@pytest.mark.django_db
@pytest.mark.parametrize(
    "password",
    ["short", "password123", "12345678901", "ada-lovelace", "  "],
)
def test_weak_passwords_are_refused_under_password(api_client, password):
    response = _signup(api_client, password=password, username="ada-lovelace")
    assert response.status_code == 400
    _error(response, "password")
    assert not User.objects.exists()


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("overrides", "field"),
    [
        ({"username": None}, "username"),
        ({"username": "has spaces"}, "username"),
        ({"username": "x" * 151}, "username"),
        ({"email": "not-an-email"}, "email"),
        ({"password": ""}, "password"),
        ({"role": "admin"}, "role"),
        ({"display_name": "x" * 61}, "display_name"),
    ],
)
def test_signup_input_errors_name_the_field(api_client, overrides, field):
    response = _signup(api_client, **overrides)
    assert response.status_code == 400
    _error(response, field)
    assert not User.objects.exists()


@pytest.mark.django_db
def test_a_missing_field_is_named(api_client):
    response = api_client.post(SIGNUP, {"username": "ada", "password": GOOD_PASSWORD}, format="json")
    assert response.status_code == 400
    _error(response, "email")


@pytest.mark.django_db
def test_login_returns_the_token_and_is_case_insensitive_on_the_username(api_client):
    user = UserFactory(username="grace")
    response = api_client.post(LOGIN, {"username": "Grace", "password": GOOD_PASSWORD}, format="json")
    assert response.status_code == 200
    body = response.json()
    assert body["token"] == Token.objects.get(user=user).key
    assert body["user"]["id"] == user.pk
    user.refresh_from_db()
    assert user.last_login is not None
    # Logging in again hands out the same token.
    again = api_client.post(LOGIN, {"username": "grace", "password": GOOD_PASSWORD}, format="json")
    assert again.json()["token"] == body["token"]


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("username", "password", "active"),
    [("grace", "wrong-password", True), ("nobody", GOOD_PASSWORD, True), ("grace", GOOD_PASSWORD, False)],
)
def test_bad_credentials_are_one_non_revealing_400(api_client, username, password, active):
    UserFactory(username="grace", is_active=active)
    response = api_client.post(LOGIN, {"username": username, "password": password}, format="json")
    assert response.status_code == 400
    error = _error(response)
    assert error["code"] == "invalid_credentials"
    assert error["message"] == services.INVALID_CREDENTIALS
    assert not Token.objects.exists()


@pytest.mark.django_db
def test_login_input_errors_name_the_field(api_client):
    response = api_client.post(LOGIN, {"username": "grace"}, format="json")
    assert response.status_code == 400
    _error(response, "password")


@pytest.mark.django_db
def test_logout_revokes_the_token(api_client):
    UserFactory(username="grace")
    token = api_client.post(LOGIN, {"username": "grace", "password": GOOD_PASSWORD}, format="json").json()[
        "token"
    ]
    api_client.credentials(HTTP_AUTHORIZATION=f"Token {token}")
    assert api_client.get("/api/me/").status_code == 200
    assert api_client.post(LOGOUT).status_code == 204
    assert not Token.objects.exists()
    assert api_client.get("/api/me/").status_code == 401


@pytest.mark.django_db
def test_a_token_authenticates_its_whole_user_and_only_while_they_are_active(api_client):
    user = UserFactory(username="hedy", display_name="Hedy L.")
    token = Token.objects.create(user=user)
    api_client.credentials(HTTP_AUTHORIZATION=f"Token {token.key}")
    me = api_client.get("/api/me/")
    assert me.status_code == 200
    body = me.json()["user"]
    assert (body["id"], body["username"], body["display_name"], body["email"]) == (
        user.pk,
        "hedy",
        "Hedy L.",
        user.email,
    )

    User.objects.filter(pk=user.pk).update(is_active=False)
    refused = api_client.get("/api/me/")
    assert refused.status_code == 401
    assert "inactive" in refused.json()["error"]["message"]

    api_client.credentials(HTTP_AUTHORIZATION=f"Token {token.key[:-1]}x")
    assert api_client.get("/api/me/").status_code == 401


@pytest.mark.django_db
def test_logout_ends_a_session_login(client):
    UserFactory(username="grace")
    assert client.login(username="grace", password=GOOD_PASSWORD)
    assert client.get("/api/me/").status_code == 200
    assert client.post(LOGOUT).status_code == 204
    assert client.get("/api/me/").status_code in (401, 403)


@pytest.mark.django_db
def test_auth_endpoints_are_throttled_with_the_auth_scope(api_client, monkeypatch):
    monkeypatch.setattr(ScopedRateThrottle, "THROTTLE_RATES", {"auth": "3/min", "location": "1000/min"})
    statuses = [
        api_client.post(LOGIN, {"username": "x", "password": "y"}, format="json").status_code
        for _ in range(4)
    ]
    assert statuses == [400, 400, 400, 429]
    throttled = api_client.post(SIGNUP, {}, format="json")
    assert throttled.status_code == 429
    assert throttled.json()["error"]["code"] == "throttled"
