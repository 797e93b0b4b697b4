"""Who may open which page, the navigation each role sees, the error pages, and the browser's time zone."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from django.test import Client
from django.urls import path, reverse
from django.utils import timezone

from activities.models import Activity
from config.navigation import MAIN_NAVIGATION
from tests.config.test_errors import _routes
from tests.factories import MarketerFactory, OrganiserFactory, UserFactory
from users.models import Role

pytestmark = pytest.mark.django_db

#: Pages anyone may open: the home page and the account pages (log in, sign up, password reset).
PUBLIC_PAGES = {"home", "signup", "login", "logout", "password_reset", "password_reset_done",
                "password_reset_confirm", "password_reset_complete"}  # fmt: skip
ORGANISER_PAGES = {"organised-activities", "activity-create", "activity-edit", "venue-options",
                   "activity-suggestions-page", "activity-invite-page",
                   "activity-invitation-statuses-page"}  # fmt: skip
MARKETER_PAGES = {"experiment-list-page", "experiment-create-page", "experiment-detail-page",
                  "experiment-start-page", "experiment-stop-page", "campaign-list-page",
                  "campaign-create-page", "campaign-detail-page", "campaign-progress-page",
                  "campaign-build-page", "campaign-export-page"}  # fmt: skip
#: Pages that show or act on other people: marketers see aggregates only (the API's IsPersonOrOrganiser).
PEOPLE_PAGES = {"people-nearby", "person-wave-page", "person-like-page", "person-block-page",
                "person-unblock-page", "person-report-page", "invitation-inbox", "invitation-accept-page",
                "invitation-decline-page"}  # fmt: skip
#: Pages for people only (the role "person"): suggestions of activities to join.
PERSON_PAGES = {"activities-for-you-page"}


def _page_routes() -> list[tuple[str, str]]:
    return [
        (url, name)
        for url, name in _routes()
        if not url.startswith(("/api/", "/admin/", "/static/")) and name not in PUBLIC_PAGES
    ]


def _client_for(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


def test_the_route_walk_finds_the_pages():
    names = {name for _url, name in _page_routes()}
    assert {"activities-near", "location", "profile", "onboarding"} | ORGANISER_PAGES <= names
    assert names >= MARKETER_PAGES | PEOPLE_PAGES | PERSON_PAGES


@pytest.mark.parametrize(("url", "name"), _page_routes())
def test_every_page_sends_visitors_to_log_in(url, name):
    for method in ("get", "post"):
        response = getattr(Client(), method)(url)
        assert response.status_code == 302, (method, url, name)
        assert response.headers["Location"].startswith("/accounts/login/?next="), (method, url)


@pytest.mark.parametrize("factory", [UserFactory, MarketerFactory])
@pytest.mark.parametrize(("url", "name"), [r for r in _page_routes() if r[1] in ORGANISER_PAGES])
def test_organiser_pages_are_403_for_other_roles_with_the_error_page(factory, url, name):
    response = _client_for(factory()).get(url)
    assert response.status_code == 403, (url, name)
    html = response.content.decode()
    assert "This page isn't open to you" in html and "This page is for organisers." in html


@pytest.mark.parametrize("factory", [UserFactory, OrganiserFactory])
@pytest.mark.parametrize(("url", "name"), [r for r in _page_routes() if r[1] in MARKETER_PAGES])
def test_marketer_pages_are_403_for_other_roles(factory, url, name):
    client = _client_for(factory())
    for method in ("get", "post"):
        response = getattr(client, method)(url)
        assert response.status_code == 403, (method, url, name)
        assert "This page is for marketers." in response.content.decode()


@pytest.mark.parametrize(("url", "name"), [r for r in _page_routes() if r[1] in PEOPLE_PAGES])
def test_pages_about_other_people_are_403_for_marketers(url, name):
    client = _client_for(MarketerFactory())
    method = "get" if name in {"people-nearby", "invitation-inbox"} else "post"
    response = getattr(client, method)(url)
    assert response.status_code == 403, (url, name)
    assert "This page is for people and organisers." in response.content.decode()


@pytest.mark.parametrize("factory", [OrganiserFactory, MarketerFactory])
@pytest.mark.parametrize(("url", "name"), [r for r in _page_routes() if r[1] in PERSON_PAGES])
def test_person_pages_are_403_for_other_roles(factory, url, name):
    response = _client_for(factory()).get(url)
    assert response.status_code == 403, (url, name)
    assert "This page is for people." in response.content.decode()


@pytest.mark.parametrize(
    ("factory", "role"),
    [(UserFactory, Role.PERSON), (OrganiserFactory, Role.ORGANISER), (MarketerFactory, Role.MARKETER)],
)
def test_the_navigation_offers_exactly_the_pages_the_role_may_open(factory, role):
    client = _client_for(factory())
    html = client.get("/").content.decode()
    nav = html.split('<nav class="mainnav"', 1)[1].split("</nav>", 1)[0]
    for item in MAIN_NAVIGATION:
        url = reverse(item.url_name)
        opens = client.get(url).status_code == 200
        assert (f'href="{url}"' in nav) == opens, (role, item.url_name, opens)
    assert ("My activities" in nav) == (role == Role.ORGANISER)
    assert ("Experiments" in nav) == (role == Role.MARKETER)
    assert ("People nearby" in nav) == (role != Role.MARKETER)
    assert ("Activities for you" in nav) == (role == Role.PERSON)


def test_unknown_pages_get_the_404_page():
    response = _client_for(UserFactory()).get("/no/such/page/")
    assert response.status_code == 404
    assert "We couldn't find that page" in response.content.decode()


def _explode(request):
    raise RuntimeError("boom")


urlpatterns = [path("explode/", _explode)]
handler500 = "django.views.defaults.server_error"


@pytest.mark.urls("tests.config.test_page_access")
def test_a_crash_gets_the_500_page_without_details():
    response = Client(raise_request_exception=False).get("/explode/")
    assert response.status_code == 500
    html = response.content.decode()
    assert "Something went wrong on our side" in html and "boom" not in html and "Traceback" not in html


def test_times_are_read_in_the_browsers_time_zone():
    organiser = OrganiserFactory()
    client = _client_for(organiser)
    client.cookies["vicino_tz"] = "America/New_York"
    day = (timezone.now() + timedelta(days=20)).date()
    client.post(
        "/organise/new/",
        {"title": "Dawn run", "activity_type": "running", "starts_at": f"{day:%Y-%m-%d}T07:00",
         "duration_minutes": "60", "capacity": "5", "latitude": "40.7", "longitude": "-73.9"},
    )  # fmt: skip
    activity = Activity.objects.get(title="Dawn run")
    assert activity.starts_at == datetime(
        day.year, day.month, day.day, 7, tzinfo=ZoneInfo("America/New_York")
    )
    assert activity.starts_at.astimezone(UTC).hour in (11, 12)  # not 07:00 UTC
    page = client.get("/organise/").content.decode()
    assert f"{day:%a} {day.day} {day:%b %Y}, 07:00" in page  # and shown back in New York time


@pytest.mark.parametrize("cookie", ["Not/AZone", "../../etc/passwd", "x" * 500, "America"])
def test_a_bogus_time_zone_cookie_is_ignored(cookie):
    client = _client_for(UserFactory())
    client.cookies["vicino_tz"] = cookie
    assert client.get("/me/profile/").status_code == 200
