"""The organiser's suggestions page: people ranked with reasons and scores, select and invite over HTMX,
the invitations' statuses and acceptance rate, the refusals, and only the organiser."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from django.test import Client
from django.test.utils import override_settings
from django.utils import timezone

from activities.models import Invitation
from activities.services import invitation_accept, invitation_decline
from matching.invitations import ranking
from tests.factories import (
    NYC,
    ActivityFactory,
    BlockFactory,
    LocationFactory,
    OrganiserFactory,
    ParticipationFactory,
    UserFactory,
)
from tests.matching.lookalike_people import model_dir_setup
from users import geo
from users.models import Location, Profile

pytestmark = pytest.mark.django_db

HTMX = {"HTTP_HX_REQUEST": "true"}
KM_NORTH = 1 / geo.KM_PER_DEGREE_LAT


@pytest.fixture(autouse=True)
def model_dir(settings, tmp_path, monkeypatch):
    yield model_dir_setup(settings, tmp_path, monkeypatch)
    ranking.acceptance_scorers_clear()


def _client_for(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


def _html(response) -> str:
    return response.content.decode()


def _activity(organiser=None, **fields):
    organiser = organiser or OrganiserFactory()
    activity = ActivityFactory(organiser=organiser, capacity=8, **fields)
    ParticipationFactory(activity=activity, user=organiser)
    return activity


def _person(name: str, *, km_north: float, **profile):
    user = UserFactory(display_name=name)
    LocationFactory(user=user, latitude=NYC[0] + km_north * KM_NORTH, longitude=NYC[1])
    if profile:
        Profile.objects.filter(user=user).update(**profile)
    return user


def _suggested_ids(html: str) -> list[int]:
    return [int(pk) for pk in re.findall(r'<li class="suggestion" data-suggestion="(\d+)">', html)]


@pytest.fixture
def scene():
    organiser = OrganiserFactory()
    activity = _activity(organiser, title="Saturday doubles")
    people = {
        "ana": _person("Ana", km_north=0.3, activity_preferences={"badminton": 1.0}, skills={"badminton": 2}),
        "bo": _person("Bo", km_north=1.5),
        "cy": _person("Cy", km_north=3.0),
        "di": _person("Di", km_north=7.0),
    }
    return organiser, activity, people


def test_suggestions_are_ranked_with_reasons_and_scores_and_no_positions(scene):
    organiser, activity, people = scene
    html = _html(_client_for(organiser).get(f"/organise/{activity.pk}/suggestions/"))
    assert "Invite people to “Saturday doubles”" in html
    ids = _suggested_ids(html)
    assert ids[0] == people["ana"].pk and set(ids) == {person.pk for person in people.values()}
    ana = html.split(f'data-suggestion="{people["ana"].pk}"', 1)[1].split("</li>", 1)[0]
    assert '<span class="reason">Likes badminton</span>' in ana
    assert '<span class="reason">&lt; 1 km from the venue</span>' in ana
    assert re.search(r'<span class="score" title="Blended score">\d+\.\d %</span>', ana)
    assert "Distance 100.0 %" in ana
    assert (
        f'<input type="checkbox" name="user_ids" value="{people["ana"].pk}" id="invite-{people["ana"].pk}">'
        in ana
    )
    for location in Location.objects.filter(user__in=people.values()):
        for text in (f"{location.latitude:.3f}", location.geohash[:6]):
            assert text not in html
    assert "No invitations yet" in html


def test_inviting_three_over_htmx_sends_them_and_shows_the_statuses_and_acceptance_rate(scene):
    organiser, activity, people = scene
    client = _client_for(organiser)
    chosen = [people["ana"], people["bo"], people["cy"]]
    response = client.post(
        f"/organise/{activity.pk}/invite/", {"user_ids": [person.pk for person in chosen]}, **HTMX
    )
    assert response.status_code == 200
    html = _html(response)
    assert html.lstrip().startswith('<div id="suggestions-panel"') and "<html" not in html
    assert "Invited 3 people." in html
    assert _suggested_ids(html) == [people["di"].pk]  # the invited are no longer suggested
    sent = Invitation.objects.filter(activity=activity, invited_by=organiser)
    assert set(sent.values_list("invitee_id", flat=True)) == {person.pk for person in chosen}
    assert all(invitation.score is not None for invitation in sent)
    assert "<strong data-acceptance-rate>0.00 %</strong>" in html and "(0 of 3 invited)" in html
    assert html.count('<span class="pill status-sent">Sent</span>') == 3

    invitation_accept(invitation_id=sent.get(invitee=people["ana"]).pk, user=people["ana"])
    invitation_decline(invitation_id=sent.get(invitee=people["bo"]).pk, user=people["bo"])
    panel = _html(client.get(f"/organise/{activity.pk}/invitations/", **HTMX))
    assert (
        panel.lstrip().startswith('<section id="invitation-statuses"') and 'hx-trigger="every 20s"' in panel
    )
    assert "<strong data-acceptance-rate>33.3 %</strong>" in panel and "(1 of 3 invited)" in panel
    ana_row = panel.split(f'data-invitee="{people["ana"].pk}"', 1)[1].split("</li>", 1)[0]
    assert "Ana" in ana_row and "status-accepted" in ana_row
    assert '<span class="pill status-declined">1 declined</span>' in panel

    again = _html(client.post(f"/organise/{activity.pk}/invite/", {"user_ids": [people["ana"].pk]}, **HTMX))
    assert "Invited 0 people. 1 had been invited already or take part." in again
    assert sent.count() == 3


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({}, "Tick at least one person to invite."),
        ({"user_ids": ["abc"]}, "Those are not people&#x27;s ids."),
        ({"user_ids": ["99999999"]}, "No person has this id."),
    ],
)
def test_a_bad_selection_is_a_400_with_the_reason_in_the_panel(scene, data, message):
    organiser, activity, _people = scene
    response = _client_for(organiser).post(f"/organise/{activity.pk}/invite/", data, **HTMX)
    assert response.status_code == 400
    assert f'<p class="error" role="alert">{message}</p>' in _html(response)
    assert not Invitation.objects.exists()


def test_someone_who_blocked_the_organiser_cannot_be_invited_and_is_not_told_why(scene):
    organiser, activity, people = scene
    BlockFactory(blocker=people["bo"], blocked=organiser)
    assert people["bo"].pk not in _suggested_ids(
        _html(_client_for(organiser).get(f"/organise/{activity.pk}/suggestions/"))
    )
    response = _client_for(organiser).post(
        f"/organise/{activity.pk}/invite/", {"user_ids": [people["bo"].pk]}, **HTMX
    )
    assert response.status_code == 400 and "This person cannot be invited." in _html(response)


@override_settings(VICINO_INVITATIONS_PER_DAY=2)
def test_the_daily_limit_answers_429_with_the_reason_in_the_panel(scene):
    organiser, activity, people = scene
    response = _client_for(organiser).post(
        f"/organise/{activity.pk}/invite/", {"user_ids": [p.pk for p in people.values()]}, **HTMX
    )
    assert response.status_code == 429
    assert "You can send 2 more invitations in the next 24 hours" in _html(response)
    assert "data-swap-errors" in _html(response)
    assert not Invitation.objects.exists()


def test_a_started_activity_suggests_no_one_but_keeps_its_statuses(scene):
    organiser, activity, people = scene
    client = _client_for(organiser)
    client.post(f"/organise/{activity.pk}/invite/", {"user_ids": [people["ana"].pk]}, **HTMX)
    activity.starts_at = timezone.now() - timedelta(minutes=1)
    activity.save(update_fields=["starts_at"])
    html = _html(client.get(f"/organise/{activity.pk}/suggestions/"))
    assert "No more invitations for this activity" in html and "This activity has already started." in html
    assert '<span class="pill status-expired">Expired</span>' in html


def test_only_the_organiser_of_the_activity(scene):
    _organiser, activity, people = scene
    other = OrganiserFactory()
    assert _client_for(other).get(f"/organise/{activity.pk}/suggestions/").status_code == 403
    assert (
        _client_for(other)
        .post(f"/organise/{activity.pk}/invite/", {"user_ids": [people["ana"].pk]})
        .status_code
        == 403
    )
    assert _client_for(other).get(f"/organise/{activity.pk}/invitations/").status_code == 403
    assert _client_for(other).get("/organise/999999/suggestions/").status_code == 404
    assert _client_for(people["ana"]).get(f"/organise/{activity.pk}/suggestions/").status_code == 403
    assert not Invitation.objects.exists()


def test_my_activities_links_to_each_activitys_suggestions(scene):
    organiser, activity, _people = scene
    html = _html(_client_for(organiser).get("/organise/"))
    assert f'href="/organise/{activity.pk}/suggestions/"' in html
