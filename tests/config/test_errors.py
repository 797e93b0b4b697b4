"""The API's edges: who may call what, the one error shape, health, and the schema."""

from __future__ import annotations

import json
import re
import uuid

import pytest
from django.urls import URLPattern, URLResolver, get_resolver
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from users.models import Location, LocationPing, User

#: Endpoints anyone may call. Everything else under /api/ must refuse anonymous callers.
PUBLIC_API_ROUTES = {"auth-signup", "auth-login", "health", "schema", "api-docs"}
METHODS = ("get", "post", "put", "patch", "delete")
_SAMPLE_FOR_CONVERTER = {"int": "1", "str": "x", "slug": "x", "path": "x", "uuid": str(uuid.uuid4())}


def _routes(patterns=None, prefix: str = ""):
    """(url, name) for every URL pattern, walking nested includes; converters get sample values."""
    for pattern in get_resolver().url_patterns if patterns is None else patterns:
        route = str(pattern.pattern)
        if isinstance(pattern, URLResolver):
            yield from _routes(pattern.url_patterns, prefix + route)
        elif isinstance(pattern, URLPattern):
            full = prefix + route
            if full.startswith("api/"):
                assert "^" not in full and "(?P" not in full, (
                    f"regex route {full!r}: teach this test its samples"
                )

            def sample(match: re.Match) -> str:
                return _SAMPLE_FOR_CONVERTER[match.group("converter") or "str"]

            yield "/" + re.sub(r"<(?:(?P<converter>\w+):)?(?P<name>\w+)>", sample, full), pattern.name


def _api_routes() -> list[tuple[str, str]]:
    return [(url, name) for url, name in _routes() if url.startswith("/api/")]


def _assert_error_shape(body: dict) -> None:
    assert set(body) == {"error"}, body
    assert isinstance(body["error"]["code"], str) and body["error"]["code"]
    assert isinstance(body["error"]["message"], str) and body["error"]["message"]
    assert set(body["error"]) <= {"code", "message", "fields"}


def test_the_route_walk_finds_the_api():
    names = {name for _url, name in _api_routes()}
    assert {"me", "me-location", "activity-list", "activity-detail", "activity-join"} <= names
    assert names >= PUBLIC_API_ROUTES, "an allow-listed public route no longer exists: update the list"


@pytest.mark.django_db
@pytest.mark.parametrize(("url", "name"), [r for r in _api_routes() if r[1] not in PUBLIC_API_ROUTES])
def test_every_non_public_endpoint_refuses_anonymous_callers(api_client, url, name):
    for method in METHODS:
        response = getattr(api_client, method)(url, data={}, format="json")
        assert response.status_code in (401, 403), (
            f"{method.upper()} {url} ({name}) -> {response.status_code}"
        )
        _assert_error_shape(response.json())


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("url", "method", "expected"),
    [
        ("/api/auth/signup/", "post", 400),
        ("/api/auth/login/", "post", 400),
        ("/api/health/", "get", 200),
        ("/api/schema/", "get", 200),
        ("/api/docs/", "get", 200),
    ],
)
def test_public_endpoints_answer_anonymous_callers(api_client, url, method, expected):
    assert getattr(api_client, method)(url, data={}, format="json").status_code == expected


@pytest.mark.django_db
def test_an_invalid_token_is_refused_with_the_error_shape(api_client):
    api_client.credentials(HTTP_AUTHORIZATION="Token not-a-real-token")
    response = api_client.get("/api/me/")
    assert response.status_code == 401
    _assert_error_shape(response.json())


@pytest.mark.django_db
def test_not_found_and_method_not_allowed_use_the_error_shape(person_client):
    missing = person_client.get("/api/activities/999999999/")
    assert missing.status_code == 404
    _assert_error_shape(missing.json())
    huge_id = person_client.get(f"/api/activities/{10**30}/")
    assert huge_id.status_code == 404
    wrong_method = person_client.delete("/api/me/")
    assert wrong_method.status_code == 405
    _assert_error_shape(wrong_method.json())


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("body", "content_type"),
    [
        ("{not json", "application/json"),
        ("[" * 50_000 + "]" * 50_000, "application/json"),  # deeper than Python's recursion limit
        ('{"latitude": "\\ud800", "longitude": 1}', "application/json"),  # a lone surrogate
        ('{"\\udfff": 1}', "application/json"),
        (b"\xff\xfe\x00", "application/json"),  # not UTF-8
        ("[1, 2]", "application/json"),
        ("42", "application/json"),
        ("null", "application/json"),
    ],
)
def test_malformed_bodies_are_400_naming_the_body_and_write_nothing(person_client, body, content_type):
    before = (Location.objects.count(), LocationPing.objects.count())
    response = person_client.generic("POST", "/api/me/location/", body, content_type=content_type)
    assert response.status_code == 400, response.content[:300]
    _assert_error_shape(response.json())
    assert (Location.objects.count(), LocationPing.objects.count()) == before


@pytest.mark.django_db
def test_an_oversized_body_is_400_naming_body(person_client):
    body = json.dumps({"latitude": 1.0, "longitude": 1.0, "padding": "x" * (1024 * 1024)})
    response = person_client.generic("POST", "/api/me/location/", body, content_type="application/json")
    assert response.status_code == 400
    error = response.json()["error"]
    assert error["message"].startswith("body:") and "body" in error["fields"]
    assert LocationPing.objects.count() == 0


@pytest.mark.django_db
def test_form_encoded_bodies_are_refused_not_parsed_without_a_size_limit(person_client):
    # DRF's FormParser would read the raw stream past DATA_UPLOAD_MAX_MEMORY_SIZE; the API takes JSON only.
    body = "latitude=1&longitude=1&padding=" + "x" * (1024 * 1024)
    response = person_client.generic(
        "POST", "/api/me/location/", body, content_type="application/x-www-form-urlencoded"
    )
    assert response.status_code == 415
    _assert_error_shape(response.json())
    assert LocationPing.objects.count() == 0


@pytest.mark.django_db
def test_a_lone_surrogate_echoed_in_an_error_is_refused_as_a_bad_body_not_a_500(person_client):
    # DRF's DictField error would name the key; a response cannot encode a lone surrogate.
    raw = '{"interests": {"\\ud800": "x"}, "skills": {"\\udc00": 1}}'
    response = person_client.generic("PATCH", "/api/me/", raw, content_type="application/json")
    assert response.status_code == 400
    assert response.json()["error"]["message"].startswith("body:")


# Any JSON at all, sent to any write endpoint, is answered without a server error.
json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=20),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4)
    ),
    max_leaves=12,
)
FIELDS = [
    "latitude", "longitude", "accuracy_m", "username", "email", "password", "role", "display_name",
    "interests", "skills", "languages", "birth_year", "gender", "activity_type", "title", "starts_at",
    "ends_at", "capacity", "skill_level", "place_id",
]  # fmt: skip
WRITE_ENDPOINTS = [
    ("post", "/api/auth/signup/"),
    ("post", "/api/auth/login/"),
    ("patch", "/api/me/"),
    ("post", "/api/me/location/"),
    ("post", "/api/activities/"),
]


@pytest.mark.django_db
@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    endpoint=st.sampled_from(WRITE_ENDPOINTS),
    body=st.dictionaries(st.sampled_from(FIELDS), json_values, max_size=6) | json_values,
)
def test_no_json_body_causes_a_server_error(organiser_client, endpoint, body):
    method, url = endpoint
    raw = json.dumps(body, allow_nan=True)  # NaN/Infinity tokens included on purpose
    response = organiser_client.generic(method.upper(), url, raw, content_type="application/json")
    assert response.status_code < 500, (url, raw, response.content[:300])
    if response.status_code >= 400:
        _assert_error_shape(response.json())


@pytest.mark.django_db
def test_query_string_garbage_on_the_activity_list_is_400_naming_the_parameter(person_client):
    for query, field in [
        ("near=north", "near"),
        ("near=91,0", "near"),
        ("near=NaN,0", "near"),
        ("near=1,2&radius_km=500", "radius_km"),
        ("near=1,2&radius_km=0", "radius_km"),
        ("near=1,2&radius_km=inf", "radius_km"),
        ("radius_km=5", "radius_km"),
        ("starts_after=yesterday", "starts_after"),
        ("activity_type=knitting", "activity_type"),
        ("status=lost", "status"),
    ]:
        response = person_client.get(f"/api/activities/?{query}")
        assert response.status_code == 400, query
        assert response.json()["error"]["message"].startswith(f"{field}:"), (query, response.json())


# Health, schema, docs ------------------------------------------------------------------------------


@pytest.mark.django_db
def test_health_reports_database_redis_and_the_real_broker(api_client):
    response = api_client.get("/api/health/")
    assert response.status_code == 200
    body = response.json()
    assert body["status"] == "ok"
    assert {name: check["ok"] for name, check in body["checks"].items()} == {
        "database": True,
        "redis": True,
        "broker": True,
    }
    assert body["checks"]["database"]["engine"] == "postgresql"
    assert body["checks"]["redis"]["backend"] == "redis"
    assert body["checks"]["broker"]["mode"] == "redis"  # a real connection, not eager mode


@pytest.mark.django_db
def test_the_openapi_schema_and_docs_are_served(api_client):
    schema = api_client.get("/api/schema/", HTTP_ACCEPT="application/vnd.oai.openapi+json")
    assert schema.status_code == 200
    paths = schema.json()["paths"]
    for path in ("/api/auth/signup/", "/api/me/", "/api/me/location/", "/api/activities/{id}/join/"):
        assert path in paths, path
    docs = api_client.get("/api/docs/")
    assert docs.status_code == 200
    assert b"swagger" in docs.content.lower()


def test_the_schema_generates_without_warnings():
    from drf_spectacular.drainage import GENERATOR_STATS
    from drf_spectacular.generators import SchemaGenerator

    GENERATOR_STATS.reset()
    SchemaGenerator().get_schema(request=None, public=True)
    assert not GENERATOR_STATS, f"schema warnings/errors: {GENERATOR_STATS}"


@pytest.mark.django_db
def test_nothing_in_an_error_leaks_for_an_unknown_user_login(api_client):
    User.objects.create_user(username="real", password="correct-horse-battery")
    wrong_password = api_client.post(
        "/api/auth/login/", {"username": "real", "password": "nope-nope-nope"}, format="json"
    )
    unknown_user = api_client.post("/api/auth/login/", {"username": "ghost", "password": "x"}, format="json")
    assert wrong_password.status_code == unknown_user.status_code == 400
    assert wrong_password.json() == unknown_user.json()
