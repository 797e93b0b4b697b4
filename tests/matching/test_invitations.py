"""Activity invitations end to end: the organiser's suggestions and sending, the invitee's inbox, accept and
decline, expiry on a real Celery worker, and the last place under ~20 concurrent accepts."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from activities import tasks as activity_tasks
from activities.models import Invitation, Participation
from matching import serving
from matching.invitations import ranking
from matching.models import ModelVersion
from matching.nearby import privacy
from tests.celery_worker import running_worker
from tests.clients import api_client_for
from tests.factories import (
    NYC,
    ActivityFactory,
    BlockFactory,
    InvitationFactory,
    LocationFactory,
    OrganiserFactory,
    ParticipationFactory,
    UserFactory,
)
from tests.matching.lookalike_people import active_ralm, feature_rows, features_store, model_dir_setup
from users import geo
from users.models import InteractionEvent, Profile

KM_NORTH = 1 / geo.KM_PER_DEGREE_LAT  # degrees of latitude in one km


@pytest.fixture(autouse=True)
def model_dir(settings, tmp_path, monkeypatch):
    yield model_dir_setup(settings, tmp_path, monkeypatch)
    ranking.acceptance_scorers_clear()


def _next_saturday_afternoon() -> datetime:
    """14:00 local solar time in New York (UTC−5 at its longitude) on the next Saturday, 19:00 UTC."""
    day = (timezone.now() + timedelta(days=1)).astimezone(UTC).date()
    day += timedelta(days=(5 - day.weekday()) % 7)
    return datetime(day.year, day.month, day.day, 19, tzinfo=UTC)


def _activity(**kwargs):
    """Badminton at NYC on a Saturday afternoon, level 2, its organiser taking part."""
    starts = _next_saturday_afternoon()
    defaults = {
        "organiser": OrganiserFactory(),
        "starts_at": starts,
        "ends_at": starts + timedelta(hours=2),
        "skill_level": 2,
        "capacity": 6,
    }
    activity = ActivityFactory(**{**defaults, **kwargs})
    ParticipationFactory(activity=activity, user=activity.organiser)
    return activity


def _person(*, km_north: float = 0.5, **profile) -> int:
    user = UserFactory()
    LocationFactory(user=user, latitude=NYC[0] + km_north * KM_NORTH, longitude=NYC[1])
    if profile:
        Profile.objects.filter(user=user).update(**profile)
    return user.pk


def _ids(body: dict) -> list[int]:
    return [item["user_id"] for item in body["results"]]


def suggestions_url(activity) -> str:
    return f"/api/activities/{activity.pk}/suggestions/"


def invitations_url(activity) -> str:
    return f"/api/activities/{activity.pk}/invitations/"


# Suggestions ------------------------------------------------------------------------------------------


@pytest.mark.django_db
def test_suggestions_leave_out_everyone_who_should_not_be_invited():
    activity = _activity()
    participant = UserFactory()
    ParticipationFactory(activity=activity, user=participant)
    LocationFactory(user=participant, latitude=NYC[0], longitude=NYC[1])

    eligible = {
        _person(km_north=0.3),
        _person(km_north=4.0, time_preferences={"weekend": 0.9, "afternoon": 0.8}),
        _person(km_north=1.5, skills={"badminton": 3}),
        _person(km_north=9.0, time_preferences={"weekend": 1.0}),  # nothing said about the part of day
    }
    left_out = {
        "invited": _person(),
        "blocked by the organiser": _person(),
        "blocks the organiser": _person(),
        "blocked by a participant": _person(),
        "weekday mornings only": _person(time_preferences={"weekday": 1.0, "morning": 1.0}),
        "evenings only": _person(time_preferences={"evening": 1.0}),
        "too skilled": _person(skills={"badminton": 4}),
        "takes no invitations": _person(allow_invitations=False),
        "hidden from nearby": _person(hide_from_nearby=True),
        "too far": _person(km_north=12.0),
        "stale location": _person(),
        "inactive": _person(),
    }
    InvitationFactory(activity=activity, invitee_id=left_out["invited"])
    BlockFactory(blocker=activity.organiser, blocked_id=left_out["blocked by the organiser"])
    BlockFactory(blocker_id=left_out["blocks the organiser"], blocked=activity.organiser)
    BlockFactory(blocker=participant, blocked_id=left_out["blocked by a participant"])
    from users.models import Location, User

    Location.objects.filter(user_id=left_out["stale location"]).update(
        updated_at=timezone.now() - timedelta(days=31)
    )
    User.objects.filter(pk=left_out["inactive"]).update(is_active=False)

    response = api_client_for(activity.organiser).get(suggestions_url(activity))

    assert response.status_code == 200, response.json()
    assert set(_ids(response.json())) == eligible
    assert participant.pk not in _ids(response.json())


@pytest.mark.django_db
def test_suggestions_never_carry_a_coordinate_geohash_or_continuous_distance():
    activity = _activity()
    victim = UserFactory()
    LocationFactory(user=victim, latitude=40.7512345, longitude=-73.9812345)
    response = api_client_for(activity.organiser).get(suggestions_url(activity))
    raw = response.content.decode()

    assert _ids(response.json()) == [victim.pk]
    for secret in ("40.751", "-73.981", "7512345", "9812345", geo.encode(40.7512345, -73.9812345)[:5]):
        assert secret not in raw
    item = response.json()["results"][0]
    assert set(item) == {"user_id", "display_name", "age_group", "distance_bucket", "scores", "reasons"}
    assert item["distance_bucket"] in privacy.DISTANCE_BUCKET_LABELS
    assert set(item["scores"]) == {"final", "similarity", "acceptance", "distance"}


@pytest.mark.django_db
def test_without_a_model_distance_alone_ranks_by_bucket_and_says_so():
    activity = _activity()
    far, near, middle = _person(km_north=7.0), _person(km_north=0.2), _person(km_north=3.0)

    body = api_client_for(activity.organiser).get(suggestions_url(activity)).json()

    assert _ids(body) == [near, middle, far]
    assert body["weights"] == {"distance": 1.0}
    assert body["model_versions"] == {"ralm": None, "acceptance": None}
    scores = [item["scores"] for item in body["results"]]
    assert [s["similarity"] for s in scores] == [None, None, None]
    assert [s["distance"] for s in scores] == [1.0, 0.6, 0.4]  # < 1 km, 2–5 km, 5–10 km
    assert [item["distance_bucket"] for item in body["results"]] == ["< 1 km", "2–5 km", "5–10 km"]


@pytest.mark.django_db
def test_ralm_ranks_people_like_the_participants_first_and_explains_why(settings):
    settings.VICINO_INVITATION_WEIGHTS = {"similarity": 0.7, "acceptance": 0.0, "distance": 0.3}
    activity = _activity()
    participants = [UserFactory().pk for _ in range(3)]
    for user_id in participants:
        ParticipationFactory(activity=activity, user_id=user_id)
        Profile.objects.filter(user_id=user_id).update(interests={"sports": 0.9, "coffee": 0.8, "music": 0.1})
    profile = feature_rows(count=1, seed=1)[0]
    alike = _person(km_north=0.4, interests={"sports": 1.0, "coffee": 0.7, "music": 0.9})
    unlike = _person(km_north=0.6, interests={"music": 1.0})
    features_store(user_ids=participants, rows=feature_rows(count=3, seed=2, like=profile, noise=0.01))
    features_store(user_ids=[alike], rows=feature_rows(count=1, seed=3, like=profile, noise=0.01))
    features_store(user_ids=[unlike], rows=1.0 - profile[None, :])
    model_version = active_ralm()

    body = api_client_for(activity.organiser).get(suggestions_url(activity)).json()

    assert _ids(body) == [alike, unlike]
    assert body["model_versions"] == {"ralm": model_version.version, "acceptance": None}
    assert body["weights"] == pytest.approx({"similarity": 0.7, "distance": 0.3})
    first, second = body["results"]
    assert first["scores"]["similarity"] > second["scores"]["similarity"]
    assert first["scores"]["final"] == pytest.approx(
        0.7 * first["scores"]["similarity"] + 0.3 * first["scores"]["distance"]
    )
    codes = {reason["code"]: reason["text"] for reason in first["reasons"]}
    assert codes["shared_interests"] == "Shares interests with the participants: sports, coffee"
    assert codes["nearby"] == "< 1 km from the venue"


@pytest.mark.django_db
def test_an_active_acceptance_model_is_blended_in_through_the_hook(settings):
    """The DIN/ETA wiring lands on another branch: this checks the hook with a tiny scorer of our own."""
    settings.VICINO_ACCEPTANCE_SCORER = "tests.matching.acceptance_scorers:activity_liking_scorer"
    activity = _activity()
    keen = _person(km_north=3.0, activity_preferences={"badminton": 0.9})
    lukewarm = _person(km_north=0.2, activity_preferences={"badminton": 0.1})

    without = api_client_for(activity.organiser).get(suggestions_url(activity)).json()
    assert without["model_versions"]["acceptance"] is None  # configured, but no acceptance model is active
    assert _ids(without) == [lukewarm, keen]

    active = ModelVersion.objects.create(
        name="ranker", version="din-eta-7", artefact_path="ranker/7", feature_schema_version=1,
        status=ModelVersion.Status.ACTIVE,
    )  # fmt: skip
    serving.active_version_publish(model_version=active)  # what activation does on commit
    body = api_client_for(activity.organiser).get(suggestions_url(activity)).json()

    assert body["model_versions"]["acceptance"] == "din-eta-7"
    assert body["weights"] == pytest.approx({"acceptance": 0.5, "distance": 0.5})
    assert _ids(body) == [keen, lukewarm]
    first = body["results"][0]
    assert first["scores"]["acceptance"] == pytest.approx(0.9)
    assert "likely_to_accept" in {reason["code"] for reason in first["reasons"]}


@pytest.mark.django_db
def test_suggestions_cost_the_same_queries_whatever_the_number_of_candidates(django_assert_num_queries):
    activity = _activity()
    participant = UserFactory()
    ParticipationFactory(activity=activity, user=participant)
    people = [_person(km_north=0.1 * n) for n in range(12)]
    features_store(user_ids=[participant.pk, *people[:6]], rows=feature_rows(count=7, seed=4))
    active_ralm()
    client = api_client_for(activity.organiser)
    warm = client.get(suggestions_url(activity)).json()  # loads the model, caches the seed summary
    assert warm["model_versions"]["ralm"] == "v1"

    Profile.objects.filter(user_id__in=people[2:]).update(allow_invitations=False)
    with CaptureQueriesContext(connection) as few:
        assert len(_ids(client.get(suggestions_url(activity)).json())) == 2
    Profile.objects.filter(user_id__in=people[2:]).update(allow_invitations=True)
    with django_assert_num_queries(len(few.captured_queries)):
        assert len(_ids(client.get(suggestions_url(activity)).json())) == 12


@pytest.mark.django_db
@pytest.mark.parametrize("who", ["another organiser", "a participant", "a person"])
def test_only_the_activitys_organiser_gets_suggestions_or_sends(who):
    activity = _activity()
    target = _person()
    caller = OrganiserFactory() if who == "another organiser" else UserFactory()
    if who == "a participant":
        ParticipationFactory(activity=activity, user=caller)
    client = api_client_for(caller)

    assert client.get(suggestions_url(activity)).status_code == 403
    response = client.post(invitations_url(activity), {"user_ids": [target]}, format="json")
    assert response.status_code == 403
    assert response.json()["error"]["code"] == "permission_denied"
    assert not Invitation.objects.exists()


@pytest.mark.django_db
def test_suggestions_for_a_missing_started_or_cancelled_activity():
    organiser = OrganiserFactory()
    client = api_client_for(organiser)
    assert client.get("/api/activities/999999/suggestions/").status_code == 404
    started = _activity(organiser=organiser)
    started.starts_at = timezone.now() - timedelta(minutes=1)
    started.save(update_fields=["starts_at"])
    response = client.get(suggestions_url(started))
    assert (response.status_code, response.json()["error"]["code"]) == (400, "started")
    cancelled = _activity(organiser=organiser, status="cancelled")
    assert client.get(suggestions_url(cancelled)).json()["error"]["code"] == "not_open"
    assert client.get(f"{suggestions_url(cancelled)}?limit=0").status_code == 400


# Sending ----------------------------------------------------------------------------------------------


@pytest.mark.django_db
def test_sending_is_idempotent_and_records_the_suggestions_score_and_model():
    activity = _activity()
    participant = UserFactory()
    ParticipationFactory(activity=activity, user=participant)
    people = [_person(km_north=0.5 + n) for n in range(3)]
    features_store(user_ids=[participant.pk, *people], rows=feature_rows(count=4, seed=5))
    model_version = active_ralm()
    client = api_client_for(activity.organiser)
    suggested = {
        item["user_id"]: item["scores"] for item in client.get(suggestions_url(activity)).json()["results"]
    }

    first = client.post(invitations_url(activity), {"user_ids": people[:2]}, format="json")
    again = client.post(
        invitations_url(activity), {"user_ids": [people[1], people[0], people[1]]}, format="json"
    )
    more = client.post(invitations_url(activity), {"user_ids": people}, format="json")

    assert first.status_code == 201 and [row["created"] for row in first.json()] == [True, True]
    assert again.status_code == 200 and [row["created"] for row in again.json()] == [False, False]
    assert [row["invitation_id"] for row in again.json()] == [row["invitation_id"] for row in first.json()][
        ::-1
    ]
    assert more.status_code == 201 and [row["created"] for row in more.json()] == [False, False, True]
    assert Invitation.objects.filter(activity=activity).count() == 3
    for invitation in Invitation.objects.filter(activity=activity):
        assert invitation.invited_by_id == activity.organiser_id and invitation.status == "sent"
        assert invitation.score == pytest.approx(suggested[invitation.invitee_id]["final"])
        assert invitation.model_version == f"ralm:{model_version.version}"
        components = invitation.score_details["components"]
        assert components["similarity"] is not None
        assert components["similarity"] == pytest.approx(suggested[invitation.invitee_id]["similarity"])
        assert invitation.score_details["config_source"] == "settings"
    assert InteractionEvent.objects.filter(kind="invite_sent", activity_id=activity.pk).count() == 3


@pytest.mark.django_db
def test_someone_taking_part_is_reported_not_invited():
    activity = _activity()
    participant = UserFactory()
    ParticipationFactory(activity=activity, user=participant)
    response = api_client_for(activity.organiser).post(
        invitations_url(activity), {"user_ids": [participant.pk]}, format="json"
    )
    assert response.status_code == 200
    assert response.json() == [
        {
            "user_id": participant.pk,
            "invitation_id": None,
            "status": "participating",
            "created": False,
            "score": None,
        }
    ]
    assert not Invitation.objects.exists()


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({}, "user_ids"),
        ({"user_ids": []}, "user_ids"),
        ({"user_ids": "12"}, "user_ids"),
        ({"user_ids": [1, "x"]}, "user_ids.1"),
        ({"user_ids": [0]}, "user_ids.0"),
        ({"user_ids": [2**63]}, "user_ids.0"),
        ({"user_ids": list(range(1, 102))}, "user_ids"),
    ],
)
def test_badly_shaped_ids_are_400_naming_the_field(body, field):
    activity = _activity()
    response = api_client_for(activity.organiser).post(invitations_url(activity), body, format="json")
    assert response.status_code == 400
    assert field in response.json()["error"]["fields"]
    assert response.json()["error"]["message"].startswith(field)


@pytest.mark.django_db
def test_ids_of_nobody_or_of_people_who_cannot_be_invited_are_named_by_position_and_nothing_is_sent():
    activity = _activity()
    fine, blocked_us, no_invites = _person(), _person(), _person(allow_invitations=False)
    BlockFactory(blocker_id=blocked_us, blocked=activity.organiser)
    ids = [fine, 987654321, activity.organiser_id, blocked_us, no_invites]

    response = api_client_for(activity.organiser).post(
        invitations_url(activity), {"user_ids": ids}, format="json"
    )

    assert response.status_code == 400
    assert response.json()["error"]["fields"] == {
        "user_ids[1]": ["No person has this id."],
        "user_ids[2]": ["You cannot invite yourself."],
        "user_ids[3]": ["This person cannot be invited."],  # the same words whoever blocked whom
        "user_ids[4]": ["This person cannot be invited."],
    }
    assert not Invitation.objects.exists()


@pytest.mark.django_db
def test_the_daily_limit_counts_the_last_24_hours_and_refuses_the_whole_request(settings):
    settings.VICINO_INVITATIONS_PER_DAY = 3
    organiser = OrganiserFactory()
    yesterday, today = _activity(organiser=organiser), _activity(organiser=organiser)
    old = InvitationFactory(activity=yesterday, invitee_id=_person())
    Invitation.objects.filter(pk=old.pk).update(created_at=timezone.now() - timedelta(hours=25))
    InvitationFactory(activity=yesterday, invitee_id=_person())  # sent an hour ago: counts
    people = [_person() for _ in range(3)]
    client = api_client_for(organiser)

    refused = client.post(invitations_url(today), {"user_ids": people}, format="json")
    assert refused.status_code == 429
    assert refused.json()["error"]["code"] == "invitation_limit"
    assert refused.json()["error"]["message"].startswith("user_ids: You can send 2 more invitations")
    assert not Invitation.objects.filter(activity=today).exists()

    assert client.post(invitations_url(today), {"user_ids": people[:2]}, format="json").status_code == 201
    # Re-sending what was sent costs nothing against the limit.
    assert client.post(invitations_url(today), {"user_ids": people[:2]}, format="json").status_code == 200
    assert client.post(invitations_url(today), {"user_ids": people[2:]}, format="json").status_code == 429


# The invitee's side ----------------------------------------------------------------------------------


def accept_url(invitation_id: int) -> str:
    return f"/api/invitations/{invitation_id}/accept/"


def decline_url(invitation_id: int) -> str:
    return f"/api/invitations/{invitation_id}/decline/"


@pytest.mark.django_db
def test_the_invitee_sees_their_invitations_and_accepting_creates_the_participation():
    activity = _activity(capacity=3)
    invitee = UserFactory()
    organiser_client = api_client_for(activity.organiser)
    sent = organiser_client.post(invitations_url(activity), {"user_ids": [invitee.pk]}, format="json").json()
    invitation_id = sent[0]["invitation_id"]
    client = api_client_for(invitee)

    inbox = client.get("/api/invitations/?status=sent").json()
    assert [item["id"] for item in inbox["results"]] == [invitation_id]
    item = inbox["results"][0]
    assert item["activity"]["id"] == activity.pk
    assert item["activity"]["organiser"] == {
        "id": activity.organiser_id,
        "name": activity.organiser.public_name,
    }
    assert (
        "score" not in item and "model_version" not in item
    )  # how invitees were ranked is not theirs to see

    accepted = client.post(accept_url(invitation_id))
    assert accepted.status_code == 201
    assert accepted.json()["status"] == "accepted"
    assert Participation.objects.filter(activity=activity, user=invitee).exists()
    assert (
        InteractionEvent.objects.filter(
            kind="invite_accepted", actor=invitee, activity_id=activity.pk
        ).count()
        == 1
    )
    assert client.post(accept_url(invitation_id)).status_code == 200  # accepting twice is fine
    assert Participation.objects.filter(activity=activity, user=invitee).count() == 1
    declined = client.post(decline_url(invitation_id))
    assert (declined.status_code, declined.json()["error"]["code"]) == (409, "accepted")
    assert client.get("/api/invitations/?status=sent").json()["count"] == 0
    assert client.get("/api/invitations/?status=bogus").status_code == 400


@pytest.mark.django_db
def test_declining_is_final_and_idempotent():
    invitation = InvitationFactory(activity=_activity())
    client = api_client_for(invitation.invitee)
    assert client.post(decline_url(invitation.pk)).json()["status"] == "declined"
    assert client.post(decline_url(invitation.pk)).status_code == 200
    refused = client.post(accept_url(invitation.pk))
    assert (refused.status_code, refused.json()["error"]["code"]) == (409, "declined")
    assert not Participation.objects.filter(user=invitation.invitee).exists()
    assert InteractionEvent.objects.filter(kind="invite_declined", actor=invitation.invitee).count() == 1


@pytest.mark.django_db
def test_nobody_answers_someone_elses_invitation():
    invitation = InvitationFactory(activity=_activity())
    stranger = api_client_for(UserFactory())
    assert stranger.post(accept_url(invitation.pk)).status_code == 404
    assert stranger.post(decline_url(invitation.pk)).status_code == 404
    assert api_client_for(invitation.activity.organiser).post(accept_url(invitation.pk)).status_code == 404
    assert Invitation.objects.get(pk=invitation.pk).status == "sent"


@pytest.mark.django_db
def test_joining_while_invited_accepts_the_invitation():
    invitation = InvitationFactory(activity=_activity())
    response = api_client_for(invitation.invitee).post(f"/api/activities/{invitation.activity_id}/join/")
    assert response.status_code == 201
    invitation.refresh_from_db()
    assert invitation.status == "accepted" and invitation.responded_at is not None


@pytest.mark.django_db
def test_a_full_activity_refuses_the_accept_and_keeps_the_invitation_open():
    activity = _activity(capacity=2)
    ParticipationFactory(activity=activity, user=UserFactory())
    invitation = InvitationFactory(activity=activity)
    response = api_client_for(invitation.invitee).post(accept_url(invitation.pk))
    assert response.status_code == 409
    assert response.json()["error"] == {"code": "full", "message": "This activity is full."}
    assert Invitation.objects.get(pk=invitation.pk).status == "sent"


@pytest.mark.django_db(transaction=True)
def test_invitations_expire_when_the_activity_starts_on_a_real_worker():
    activity = _activity()
    invitation = InvitationFactory(activity=activity)
    client = api_client_for(invitation.invitee)
    activity.starts_at = timezone.now() - timedelta(minutes=1)
    activity.save(update_fields=["starts_at"])

    # Before beat has run, the invitee already sees it expired and cannot accept it.
    assert client.get("/api/invitations/").json()["results"][0]["status"] == "expired"
    refused = client.post(accept_url(invitation.pk))
    assert (refused.status_code, refused.json()["error"]["code"]) == (409, "expired")

    with running_worker() as queue:
        expired = activity_tasks.invitations_expire.apply_async(queue=queue).get(timeout=60)

    assert expired == 1
    assert Invitation.objects.get(pk=invitation.pk).status == "expired"
    assert client.get("/api/invitations/?status=expired").json()["count"] == 1


# Concurrency: the last place -------------------------------------------------------------------------


@pytest.mark.django_db(transaction=True)
def test_twenty_simultaneous_accepts_of_the_last_place_give_exactly_one_participant():
    activity = _activity(capacity=3)
    ParticipationFactory(activity=activity, user=UserFactory())  # 2 of 3 taken: one place left
    invitations = [InvitationFactory(activity=activity) for _ in range(20)]
    barrier = threading.Barrier(len(invitations))
    answers: list[tuple[int, str]] = []
    lock = threading.Lock()

    def accept(invitation) -> None:
        client = api_client_for(invitation.invitee)
        try:
            barrier.wait(timeout=30)
            response = client.post(accept_url(invitation.pk))
            answer = (response.status_code, response.json().get("error", {}).get("code", "accepted"))
        finally:
            connection.close()  # each thread has its own database connection
        with lock:
            answers.append(answer)

    threads = [threading.Thread(target=accept, args=(invitation,)) for invitation in invitations]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)

    assert sorted(answers) == [(201, "accepted")] + [(409, "full")] * 19
    assert Participation.objects.filter(activity=activity).count() == 3
    assert Invitation.objects.filter(activity=activity, status="accepted").count() == 1
    assert Invitation.objects.filter(activity=activity, status="sent").count() == 19


def test_the_hook_weights_refuse_nonsense():
    with pytest.raises(ValueError, match="non-negative"):
        ranking.ranking_config_from({"weights": {"similarity": -1}})
    with pytest.raises(ValueError, match="non-negative"):
        ranking.ranking_config_from({"weights": {"charm": 1.0}})
    config = ranking.ranking_config_from({"weights": {"distance": 1.0}, "radius_km": 3, "source": "exp:b"})
    assert (config.weights["distance"], config.radius_km, config.source) == (1.0, 3.0, "exp:b")


@pytest.mark.django_db
def test_the_inbox_costs_the_same_queries_whatever_its_length(django_assert_num_queries):
    invitee = UserFactory()
    client = api_client_for(invitee)
    InvitationFactory(activity=_activity(), invitee=invitee)
    with django_assert_num_queries(2):  # the page count and the page itself
        assert client.get("/api/invitations/").json()["count"] == 1
    for _ in range(5):
        InvitationFactory(activity=_activity(), invitee=invitee)
    with django_assert_num_queries(2):
        assert client.get("/api/invitations/").json()["count"] == 6
