"""The pages render, log people in with a session, and load nothing from a CDN."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from django.contrib.staticfiles import finders
from django.test import Client

from tests.factories import LocationFactory, UserFactory

ROOT = Path(__file__).resolve().parents[2]
EXTERNAL = re.compile(r"""(?:src|href)=["'](?:https?:)?//""", re.IGNORECASE)


@pytest.mark.django_db
def test_home_page_for_a_visitor_explains_vicino_and_offers_login():
    response = Client().get("/")
    assert response.status_code == 200
    html = response.content.decode()
    assert "Meet people nearby" in html and 'href="/accounts/login/"' in html


@pytest.mark.django_db
def test_login_with_a_session_shows_the_persons_own_location_only_to_them():
    owner = UserFactory(username="ada", display_name="Ada")
    LocationFactory(user=owner, latitude=40.712345, longitude=-74.006789)
    client = Client()
    response = client.post("/accounts/login/", {"username": "ada", "password": "correct-horse-battery"})
    assert response.status_code == 302 and response.headers["Location"] == "/"
    html = client.get("/").content.decode()
    assert "Ada" in html and "40.7123" in html  # the owner sees their own position

    other = Client()
    other.force_login(UserFactory())
    assert "40.7123" not in other.get("/").content.decode()


@pytest.mark.django_db
def test_wrong_password_shows_the_error_next_to_the_form():
    UserFactory(username="bob")
    response = Client().post("/accounts/login/", {"username": "bob", "password": "nope"})
    assert response.status_code == 200
    assert 'role="alert"' in response.content.decode()


@pytest.mark.django_db
def test_api_docs_use_the_vendored_swagger_ui_not_a_cdn():
    response = Client().get("/api/docs/")
    assert response.status_code == 200
    html = response.content.decode()
    assert "/static/vendor/swagger-ui/swagger-ui-bundle.js" in html
    assert not EXTERNAL.search(html), "the docs page loads something from another host"
    assert finders.find("vendor/swagger-ui/swagger-ui-bundle.js"), "run scripts/vendor_static.sh"


def test_no_template_loads_anything_from_another_host():
    offenders = [str(p) for p in (ROOT / "templates").rglob("*.html") if EXTERNAL.search(p.read_text())]
    assert not offenders
