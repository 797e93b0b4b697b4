"""The invitee's inbox: invitations with their activity's details, accepted or declined in place over HTMX
through the same services as the API (capacity holds), and an empty state."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.test import Client
from django.utils import timezone

from activities.models import Invitation, Participation
from activities.services import invitation_decline
from tests.factories import (
    ActivityFactory,
    InvitationFactory,
    MarketerFactory,
    ParticipationFactory,
    PlaceFactory,
    UserFactory,
)

pytestmark = pytest.mark.django_db

HTMX = {"HTTP_HX_REQUEST": "true"}


def _client_for(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


def _html(response) -> str:
    return response.content.decode()


def _invitation(invitee, **activity_fields) -> Invitation:
    activity = ActivityFactory(**activity_fields)
    ParticipationFactory(activity=activity, user=activity.organiser)
    return InvitationFactory(activity=activity, invitee=invitee, invited_by=activity.organiser)


def test_an_empty_inbox_says_so_and_points_to_activities():
    html = _html(_client_for(UserFactory()).get("/invitations/"))
    assert "No invitations waiting" in html and 'href="/activities/"' in html


def test_the_inbox_shows_each_activitys_details_open_ones_first_tab(django_assert_num_queries):
    person = UserFactory()
    venue = PlaceFactory(name="Chelsea Courts")
    waiting = _invitation(
        person,
        title="Doubles at dusk",
        place=venue,
        capacity=6,
        description="Bring a racket, we have shuttles.",
    )
    declined = _invitation(person, title="Morning run")
    invitation_decline(invitation_id=declined.pk, user=person)
    client = _client_for(person)

    html = _html(client.get("/invitations/"))
    card = html.split(f'id="invitation-{waiting.pk}"', 1)[1].split("</article>", 1)[0]
    assert "Doubles at dusk" in card and "Chelsea Courts" in card and "Up to 6 people" in card
    assert "Bring a racket" in card and f"{waiting.activity.organiser.public_name} invited you" in card
    assert ">Accept</button>" in card and ">Decline</button>" in card
    assert "Morning run" not in html  # answered: under "All"
    everything = _html(client.get("/invitations/?show=all"))
    assert "Morning run" in everything and '<span class="pill">Declined</span>' in everything

    for _ in range(3):
        _invitation(person)
    with django_assert_num_queries(3):  # session, user, invitations with activity, organiser and venue
        client.get("/invitations/?show=all")


def test_accepting_over_htmx_takes_a_place_and_swaps_the_card():
    person = UserFactory()
    invitation = _invitation(person, capacity=3)
    response = _client_for(person).post(f"/invitations/{invitation.pk}/accept/", **HTMX)
    assert response.status_code == 200
    html = _html(response)
    assert html.lstrip().startswith(
        f'<article class="activity-card invitation-card" id="invitation-{invitation.pk}"'
    )
    assert "You're going" in html and "You&#x27;re in! See you there." in html
    assert Participation.objects.filter(activity=invitation.activity, user=person).exists()
    invitation.refresh_from_db()
    assert invitation.status == "accepted" and invitation.responded_at is not None


def test_a_full_activity_refuses_with_the_reason_in_the_card_and_the_invitation_stays_open():
    person = UserFactory()
    invitation = _invitation(person, capacity=2)
    ParticipationFactory(activity=invitation.activity)
    response = _client_for(person).post(f"/invitations/{invitation.pk}/accept/", **HTMX)
    assert response.status_code == 409
    assert 'role="alert">This activity is full.' in _html(response)
    assert ">Accept</button>" in _html(response)
    invitation.refresh_from_db()
    assert invitation.status == "sent"


def test_declining_and_then_accepting_is_refused():
    person = UserFactory()
    invitation = _invitation(person)
    client = _client_for(person)
    declined = client.post(f"/invitations/{invitation.pk}/decline/", **HTMX)
    assert "You declined" in _html(declined) and '<span class="pill">Declined</span>' in _html(declined)
    refused = client.post(f"/invitations/{invitation.pk}/accept/", **HTMX)
    assert refused.status_code == 409 and "You declined this invitation." in _html(refused)
    assert not Participation.objects.filter(activity=invitation.activity, user=person).exists()


def test_without_htmx_an_answer_redirects_to_the_inbox_with_a_message():
    person = UserFactory()
    invitation = _invitation(person)
    client = _client_for(person)
    response = client.post(f"/invitations/{invitation.pk}/accept/")
    assert response.status_code == 302 and response.headers["Location"] == "/invitations/"
    assert "You&#x27;re in! See you there." in _html(client.get("/invitations/?show=all"))


def test_someone_elses_invitation_is_404_and_a_started_one_shows_as_expired():
    person = UserFactory()
    other = _invitation(UserFactory())
    assert _client_for(person).post(f"/invitations/{other.pk}/accept/", **HTMX).status_code == 404
    assert Invitation.objects.get(pk=other.pk).status == "sent"

    started = _invitation(person, starts_at=timezone.now() - timedelta(minutes=5))
    html = _html(_client_for(person).get("/invitations/?show=all"))
    card = html.split(f'id="invitation-{started.pk}"', 1)[1].split("</article>", 1)[0]
    assert "Expired" in card and "Accept" not in card
    refused = _client_for(person).post(f"/invitations/{started.pk}/accept/", **HTMX)
    assert refused.status_code == 409 and "has expired" in _html(refused)


def test_marketers_have_no_inbox():
    assert _client_for(MarketerFactory()).get("/invitations/").status_code == 403
