"""The activities API: list, create, edit, join, leave, and capacity under concurrency."""

from __future__ import annotations

import threading
from datetime import timedelta

import pytest
from django.db import connection
from django.utils import timezone
from rest_framework.test import APIClient

from activities import services
from activities.models import Activity, Participation
from config.api import ApplicationError
from tests.clients import api_client_for
from tests.factories import (
    NYC,
    ActivityFactory,
    BlockFactory,
    LocationFactory,
    OrganiserFactory,
    ParticipationFactory,
    PlaceFactory,
    UserFactory,
)
from users.models import InteractionEvent

LIST = "/api/activities/"


def detail(activity) -> str:
    return f"/api/activities/{activity.pk}/"


def _create_body(**overrides) -> dict:
    starts = timezone.now() + timedelta(days=3)
    return {
        "activity_type": "badminton",
        "title": "Saturday doubles",
        "latitude": NYC[0],
        "longitude": NYC[1],
        "starts_at": starts.isoformat(),
        "ends_at": (starts + timedelta(hours=2)).isoformat(),
        "capacity": 4,
        "skill_level": 2,
        **overrides,
    }


def _activity_with_organiser(activity: Activity | None = None, **kwargs) -> Activity:
    activity = activity or ActivityFactory(**kwargs)
    ParticipationFactory(activity=activity, user=activity.organiser)
    return activity


# List ---------------------------------------------------------------------------------------------


@pytest.mark.django_db
def test_the_list_shows_upcoming_open_activities_soonest_first(person_client):
    now = timezone.now()
    later = _activity_with_organiser(starts_at=now + timedelta(days=5))
    sooner = _activity_with_organiser(starts_at=now + timedelta(days=1))
    ActivityFactory(starts_at=now - timedelta(hours=1))  # started
    ActivityFactory(status="cancelled")

    body = person_client.get(LIST).json()
    assert body["count"] == 2
    assert [item["id"] for item in body["results"]] == [sooner.pk, later.pk]
    item = body["results"][0]
    assert item["participant_count"] == 1
    assert item["joined"] is False
    assert item["organiser"] == {"id": sooner.organiser.pk, "name": sooner.organiser.public_name}
    assert (item["latitude"], item["longitude"]) == (sooner.latitude, sooner.longitude)  # venues are public


@pytest.mark.django_db
def test_the_list_never_carries_the_organisers_location(person_client):
    activity = _activity_with_organiser()
    LocationFactory(user=activity.organiser, latitude=12.345678, longitude=98.765432)
    raw = person_client.get(LIST).content.decode()
    assert "12.345678" not in raw and "98.765432" not in raw
    assert set(person_client.get(LIST).json()["results"][0]["organiser"]) == {"id", "name"}


@pytest.mark.django_db
def test_the_list_filters(person_client):
    now = timezone.now()
    tennis = ActivityFactory(activity_type="tennis", starts_at=now + timedelta(days=1))
    badminton = ActivityFactory(starts_at=now + timedelta(days=4))
    cancelled = ActivityFactory(status="cancelled", starts_at=now + timedelta(days=2))
    past = ActivityFactory(starts_at=now - timedelta(days=2))

    def ids(query: str) -> list[int]:
        response = person_client.get(f"{LIST}?{query}")
        assert response.status_code == 200, response.json()
        return [item["id"] for item in response.json()["results"]]

    assert ids("activity_type=tennis") == [tennis.pk]
    assert ids("status=cancelled") == [cancelled.pk]
    before = (now + timedelta(days=3)).isoformat().replace("+00:00", "Z")
    assert ids(f"starts_before={before}") == [tennis.pk]
    after = (now - timedelta(days=3)).isoformat().replace("+00:00", "Z")
    assert ids(f"starts_after={after}") == [past.pk, tennis.pk, badminton.pk]


@pytest.mark.django_db
def test_the_list_filters_by_distance_with_the_exact_haversine(person_client):
    # Roughly 0.9 km, 4.5 km and 20 km north of the centre; and one on the far side of the world.
    near = ActivityFactory(latitude=NYC[0] + 0.008, longitude=NYC[1])
    mid = ActivityFactory(latitude=NYC[0] + 0.04, longitude=NYC[1])
    far = ActivityFactory(latitude=NYC[0] + 0.18, longitude=NYC[1])
    ActivityFactory(latitude=-NYC[0], longitude=NYC[1] + 180)

    def ids(radius_km: float) -> set[int]:
        response = person_client.get(f"{LIST}?near={NYC[0]},{NYC[1]}&radius_km={radius_km}")
        assert response.status_code == 200, response.json()
        return {item["id"] for item in response.json()["results"]}

    assert ids(1) == {near.pk}
    assert ids(5) == {near.pk, mid.pk}
    assert ids(25) == {near.pk, mid.pk, far.pk}
    assert ids(100) == {near.pk, mid.pk, far.pk}
    body = person_client.get(f"{LIST}?near={NYC[0]},{NYC[1]}").json()  # default radius 10 km
    assert {item["id"] for item in body["results"]} == {near.pk, mid.pk}
    assert body["results"][0]["distance_km"] == pytest.approx(0.89, abs=0.01)


@pytest.mark.django_db
def test_the_list_hides_activities_of_blocked_organisers_both_ways(person_client, person):
    blocked_by_me = ActivityFactory()
    blocked_me = ActivityFactory()
    visible = ActivityFactory()
    BlockFactory(blocker=person, blocked=blocked_by_me.organiser)
    BlockFactory(blocker=blocked_me.organiser, blocked=person)
    assert [item["id"] for item in person_client.get(LIST).json()["results"]] == [visible.pk]
    assert person_client.get(detail(blocked_me)).status_code == 404


@pytest.mark.django_db
def test_the_list_costs_the_same_queries_whatever_its_length(
    person_client, person, django_assert_num_queries
):
    def make(n: int) -> None:
        for index in range(n):
            activity = _activity_with_organiser(place=PlaceFactory())
            ParticipationFactory.create_batch(2, activity=activity)
            if index == 0:
                ParticipationFactory(activity=activity, user=person)

    make(2)
    with django_assert_num_queries(2):  # the page count and the page itself
        small = person_client.get(LIST).json()
    make(8)
    with django_assert_num_queries(2):
        large = person_client.get(LIST).json()
    assert (small["count"], large["count"]) == (2, 10)
    assert {item["participant_count"] for item in large["results"]} <= {3, 4}
    assert sum(item["joined"] for item in large["results"]) == 2
    assert all(item["place"]["name"].startswith("Venue") for item in large["results"])


@pytest.mark.django_db
def test_the_list_paginates(person_client):
    for _ in range(3):
        ActivityFactory()
    body = person_client.get(f"{LIST}?limit=2").json()
    assert (body["count"], len(body["results"])) == (3, 2)
    assert "offset=2" in body["next"]


# Create -------------------------------------------------------------------------------------------


@pytest.mark.django_db
def test_an_organiser_creates_an_activity_and_is_its_first_participant(organiser_client, organiser):
    response = organiser_client.post(LIST, _create_body(), format="json")
    assert response.status_code == 201, response.json()
    body = response.json()
    activity = Activity.objects.get(pk=body["id"])
    assert activity.organiser == organiser
    assert activity.geohash.startswith("dr5r")
    assert body["participant_count"] == 1 and body["joined"] is True
    assert list(Participation.objects.filter(activity=activity).values_list("user_id", flat=True)) == [
        organiser.pk
    ]


@pytest.mark.django_db
def test_a_private_home_can_never_become_a_public_venue(organiser_client):
    home = PlaceFactory(place_type="home", category="Home (private)", latitude=40.71, longitude=-74.0)
    response = organiser_client.post(LIST, _create_body(place_id=home.pk), format="json")
    assert response.status_code == 400
    assert response.json()["error"]["fields"] == {
        "place_id": ["A private home cannot be an activity's venue."]
    }
    assert not Activity.objects.exists()


@pytest.mark.django_db
def test_a_place_without_coordinates_lends_its_own(organiser_client):
    place = PlaceFactory(latitude=40.7829, longitude=-73.9654, name="Central Park")
    body = _create_body(place_id=place.pk)
    del body["latitude"], body["longitude"]
    response = organiser_client.post(LIST, body, format="json")
    assert response.status_code == 201, response.json()
    assert response.json()["place"] == {"id": place.pk, "name": "Central Park"}
    assert (response.json()["latitude"], response.json()["longitude"]) == (40.7829, -73.9654)


@pytest.mark.django_db
@pytest.mark.parametrize("client_fixture", ["person_client", "marketer"])
def test_only_organisers_may_create(request, client_fixture):
    client = request.getfixturevalue(client_fixture)
    if not isinstance(client, APIClient):
        client = api_client_for(client)
    response = client.post(LIST, _create_body(), format="json")
    assert response.status_code == 403
    assert response.json()["error"]["code"] == "permission_denied"
    # Even a broken body is refused for who is asking, before what is asked.
    assert client.post(LIST, {"capacity": "lots"}, format="json").status_code == 403
    assert not Activity.objects.exists()


@pytest.mark.django_db
def test_the_service_refuses_non_organisers_too(person):
    with pytest.raises(ApplicationError) as caught:
        services.activity_create(
            organiser=person,
            activity_type="yoga",
            title="Sunrise",
            starts_at=timezone.now() + timedelta(days=1),
            ends_at=timezone.now() + timedelta(days=1, hours=1),
            capacity=5,
            latitude=1.0,
            longitude=1.0,
        )
    assert caught.value.status_code == 403


def _bad_create_bodies():
    starts = timezone.now() + timedelta(days=3)
    return [
        ({"capacity": 1}, "capacity"),
        ({"capacity": 501}, "capacity"),
        ({"capacity": "many"}, "capacity"),
        ({"capacity": 4.5}, "capacity"),
        ({"ends_at": (starts - timedelta(hours=1)).isoformat(), "starts_at": starts.isoformat()}, "ends_at"),
        ({"ends_at": starts.isoformat(), "starts_at": starts.isoformat()}, "ends_at"),
        ({"starts_at": (timezone.now() - timedelta(hours=1)).isoformat()}, "starts_at"),
        ({"starts_at": "next tuesday"}, "starts_at"),
        ({"activity_type": "knitting"}, "activity_type"),
        ({"skill_level": 0}, "skill_level"),
        ({"skill_level": 6}, "skill_level"),
        ({"latitude": 91}, "latitude"),
        ({"longitude": -181}, "longitude"),
        ({"latitude": "NaN"}, "latitude"),
        ({"latitude": None, "longitude": None}, "latitude"),
        ({"longitude": None}, "longitude"),
        ({"place_id": 987654321}, "place_id"),
        ({"place_id": 10**30}, "place_id"),
        ({"title": ""}, "title"),
        ({"title": "x" * 121}, "title"),
        ({"description": "x" * 2001}, "description"),
    ]


@pytest.mark.django_db
@pytest.mark.parametrize(("overrides", "field"), _bad_create_bodies())
def test_bad_activity_input_is_400_naming_the_field_and_writes_nothing(organiser_client, overrides, field):
    response = organiser_client.post(LIST, _create_body(**overrides), format="json")
    assert response.status_code == 400, response.json()
    error = response.json()["error"]
    assert field in error["fields"], error
    assert error["message"].startswith(f"{field}:")
    assert not Activity.objects.exists() and not Participation.objects.exists()


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("raw", "field"),
    [
        ('"capacity": NaN', "capacity"),
        ('"latitude": Infinity', "latitude"),
        ('"latitude": NaN', "latitude"),
    ],
)
def test_non_finite_numbers_in_an_activity_are_refused_by_name(organiser_client, raw, field):
    body = _create_body()
    body.pop(field, None)
    text = "{" + raw + ", " + ", ".join(f'"{k}": {v!r}'.replace("'", '"') for k, v in body.items()) + "}"
    response = organiser_client.generic("POST", LIST, text, content_type="application/json")
    assert response.status_code == 400, response.json()
    assert response.json()["error"]["message"].startswith(f"{field}:")
    assert not Activity.objects.exists()


@pytest.mark.django_db
def test_a_missing_field_is_named(organiser_client):
    body = _create_body()
    del body["starts_at"]
    response = organiser_client.post(LIST, body, format="json")
    assert response.status_code == 400
    assert "starts_at" in response.json()["error"]["fields"]


# Edit ---------------------------------------------------------------------------------------------


@pytest.mark.django_db
def test_the_organiser_edits_their_activity(organiser_client, organiser):
    activity = _activity_with_organiser(organiser=organiser)
    response = organiser_client.patch(
        detail(activity), {"title": "Moved indoors", "capacity": 6}, format="json"
    )
    assert response.status_code == 200, response.json()
    activity.refresh_from_db()
    assert (activity.title, activity.capacity) == ("Moved indoors", 6)


@pytest.mark.django_db
def test_put_replaces_the_activity(organiser_client, organiser):
    activity = _activity_with_organiser(organiser=organiser, description="old", subtype="doubles")
    body = _create_body(activity_type="tennis", title="Tennis instead", latitude=40.0, longitude=-74.0)
    response = organiser_client.put(detail(activity), body, format="json")
    assert response.status_code == 200, response.json()
    activity.refresh_from_db()
    assert (activity.activity_type, activity.title, activity.description, activity.subtype) == (
        "tennis",
        "Tennis instead",
        "",
        "",
    )
    assert activity.geohash.startswith("dr5")
    assert organiser_client.put(detail(activity), {"title": "x"}, format="json").status_code == 400


@pytest.mark.django_db
def test_moving_to_a_place_moves_the_coordinates(organiser_client, organiser):
    activity = _activity_with_organiser(organiser=organiser)
    place = PlaceFactory(latitude=41.0, longitude=-73.0)
    response = organiser_client.patch(detail(activity), {"place_id": place.pk}, format="json")
    assert response.status_code == 200
    activity.refresh_from_db()
    assert (activity.latitude, activity.longitude, activity.place_id) == (41.0, -73.0, place.pk)


@pytest.mark.django_db
def test_another_organiser_cannot_edit_and_nothing_changes(organiser_client):
    theirs = _activity_with_organiser()
    before = Activity.objects.filter(pk=theirs.pk).values().get()
    for method in ("patch", "put"):
        response = getattr(organiser_client, method)(
            detail(theirs), _create_body(title="Mine now"), format="json"
        )
        assert response.status_code == 403, response.json()
        assert response.json()["error"]["code"] == "permission_denied"
    # A broken body from them is still a 403: who asks is checked before what is asked.
    assert organiser_client.patch(detail(theirs), {"capacity": -1}, format="json").status_code == 403
    assert Activity.objects.filter(pk=theirs.pk).values().get() == before


@pytest.mark.django_db
def test_the_service_refuses_another_organiser_too(organiser):
    theirs = _activity_with_organiser()
    with pytest.raises(ApplicationError) as caught:
        services.activity_update(activity_id=theirs.pk, user=organiser, data={"title": "Mine"})
    assert caught.value.status_code == 403


@pytest.mark.django_db
def test_capacity_cannot_drop_below_who_has_joined(organiser_client, organiser):
    activity = _activity_with_organiser(organiser=organiser, capacity=5)
    ParticipationFactory.create_batch(2, activity=activity)
    response = organiser_client.patch(detail(activity), {"capacity": 2}, format="json")
    assert response.status_code == 400
    assert response.json()["error"]["message"].startswith("capacity:")
    assert organiser_client.patch(detail(activity), {"capacity": 3}, format="json").status_code == 200


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"ends_at": "2000-01-01T00:00:00Z"}, "ends_at"),
        ({"starts_at": "2000-01-01T00:00:00Z"}, "starts_at"),
        ({"latitude": 95}, "latitude"),
        ({"latitude": None}, "latitude"),
        ({"skill_level": 9}, "skill_level"),
        ({"place_id": 424242}, "place_id"),
    ],
)
def test_bad_edits_are_400_naming_the_field_and_change_nothing(organiser_client, organiser, body, field):
    activity = _activity_with_organiser(organiser=organiser)
    before = Activity.objects.filter(pk=activity.pk).values().get()
    response = organiser_client.patch(detail(activity), body, format="json")
    assert response.status_code == 400, response.json()
    assert response.json()["error"]["message"].startswith(f"{field}:")
    assert Activity.objects.filter(pk=activity.pk).values().get() == before


@pytest.mark.django_db
def test_a_finished_activity_cannot_be_edited(organiser_client, organiser):
    activity = _activity_with_organiser(organiser=organiser, status="completed")
    response = organiser_client.patch(detail(activity), {"title": "Again"}, format="json")
    assert response.status_code == 400
    assert response.json()["error"]["message"].startswith("status:")


# Join and leave -----------------------------------------------------------------------------------


@pytest.mark.django_db
def test_joining_writes_a_participation_and_a_join_event(person_client, person):
    activity = _activity_with_organiser()
    response = person_client.post(f"{detail(activity)}join/")
    assert response.status_code == 201, response.json()
    assert response.json()["participant_count"] == 2 and response.json()["joined"] is True
    assert Participation.objects.filter(activity=activity, user=person).exists()
    event = InteractionEvent.objects.get(actor=person)
    assert (event.kind, event.activity_id, event.target_id) == ("join", activity.pk, None)


@pytest.mark.django_db
def test_joining_twice_is_an_idempotent_200(person_client, person):
    activity = _activity_with_organiser()
    assert person_client.post(f"{detail(activity)}join/").status_code == 201
    again = person_client.post(f"{detail(activity)}join/")
    assert again.status_code == 200
    assert again.json()["participant_count"] == 2
    assert Participation.objects.filter(activity=activity, user=person).count() == 1
    assert InteractionEvent.objects.filter(actor=person).count() == 1


@pytest.mark.django_db
def test_a_full_activity_refuses_joins(person_client):
    activity = _activity_with_organiser(capacity=2)
    ParticipationFactory(activity=activity)
    response = person_client.post(f"{detail(activity)}join/")
    assert response.status_code == 409
    assert response.json()["error"]["code"] == "full"
    assert Participation.objects.filter(activity=activity).count() == 2


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("setup", "code"),
    [
        ({"status": "cancelled"}, "not_open"),
        ({"status": "completed"}, "not_open"),
        ({"starts_at": "past"}, "started"),
    ],
)
def test_closed_or_started_activities_refuse_joins(person_client, person, setup, code):
    if setup.get("starts_at") == "past":
        setup = {"starts_at": timezone.now() - timedelta(minutes=1)}
    activity = _activity_with_organiser(**setup)
    response = person_client.post(f"{detail(activity)}join/")
    assert response.status_code == 400
    assert response.json()["error"]["code"] == code
    assert not Participation.objects.filter(user=person).exists()


@pytest.mark.django_db
@pytest.mark.parametrize("direction", ["i_blocked_them", "they_blocked_me"])
def test_a_block_with_the_organiser_refuses_the_join(person_client, person, direction):
    activity = _activity_with_organiser()
    if direction == "i_blocked_them":
        BlockFactory(blocker=person, blocked=activity.organiser)
    else:
        BlockFactory(blocker=activity.organiser, blocked=person)
    response = person_client.post(f"{detail(activity)}join/")
    assert response.status_code == 403
    assert not Participation.objects.filter(user=person).exists()
    assert not InteractionEvent.objects.exists()


@pytest.mark.django_db
def test_joining_a_missing_activity_is_404(person_client):
    assert person_client.post("/api/activities/424242/join/").status_code == 404
    assert person_client.post("/api/activities/424242/leave/").status_code == 404


@pytest.mark.django_db
def test_leaving(person_client, person):
    activity = _activity_with_organiser()
    person_client.post(f"{detail(activity)}join/")
    assert person_client.post(f"{detail(activity)}leave/").status_code == 204
    assert not Participation.objects.filter(activity=activity, user=person).exists()
    assert person_client.post(f"{detail(activity)}leave/").status_code == 204  # twice is fine


@pytest.mark.django_db
def test_the_organiser_cannot_leave_their_own_activity(organiser_client, organiser):
    activity = _activity_with_organiser(organiser=organiser)
    response = organiser_client.post(f"{detail(activity)}leave/")
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "organiser_cannot_leave"
    assert Participation.objects.filter(activity=activity, user=organiser).exists()


@pytest.mark.django_db
def test_nobody_leaves_once_it_started(person):
    activity = _activity_with_organiser(starts_at=timezone.now() - timedelta(minutes=5))
    ParticipationFactory(activity=activity, user=person)
    with pytest.raises(ApplicationError) as caught:
        services.activity_leave(activity_id=activity.pk, user=person)
    assert caught.value.code == "started"


# Concurrency ----------------------------------------------------------------------------------------


@pytest.mark.django_db(transaction=True)
def test_capacity_holds_under_concurrent_joins():
    activity = _activity_with_organiser(organiser=OrganiserFactory(), capacity=5)
    ParticipationFactory.create_batch(2, activity=activity)  # 3 of 5 taken: 2 places left
    joiners = UserFactory.create_batch(10)
    barrier = threading.Barrier(len(joiners))
    outcomes: list[str] = []
    lock = threading.Lock()

    def join(user) -> None:
        try:
            barrier.wait(timeout=30)
            _activity, joined_now = services.activity_join(activity_id=activity.pk, user=user)
            outcome = "joined" if joined_now else "already"
        except ApplicationError as exc:
            outcome = exc.code
        finally:
            connection.close()  # each thread has its own connection
        with lock:
            outcomes.append(outcome)

    threads = [threading.Thread(target=join, args=(user,)) for user in joiners]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)

    assert sorted(outcomes) == ["full"] * 8 + ["joined"] * 2
    assert Participation.objects.filter(activity=activity).count() == 5
    assert InteractionEvent.objects.filter(activity_id=activity.pk, kind="join").count() == 2


@pytest.mark.django_db(transaction=True)
def test_concurrent_double_joins_by_one_person_count_once():
    activity = _activity_with_organiser(organiser=OrganiserFactory(), capacity=10)
    person = UserFactory()
    barrier = threading.Barrier(6)
    results: list[bool] = []

    def join() -> None:
        try:
            barrier.wait(timeout=30)
            results.append(services.activity_join(activity_id=activity.pk, user=person)[1])
        finally:
            connection.close()

    threads = [threading.Thread(target=join) for _ in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert sorted(results) == [False] * 5 + [True]
    assert Participation.objects.filter(activity=activity, user=person).count() == 1
