"""Location updates: validation, history, the speed check, the on-commit signal, append-only history."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest
from django.db import IntegrityError, transaction
from django.utils import timezone
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from rest_framework.test import APIClient
from rest_framework.throttling import ScopedRateThrottle

from tests.factories import NYC, LocationFactory, UserFactory
from users import geo, services
from users.models import Location, LocationPing
from users.signals import location_changed

URL = "/api/me/location/"
LONDON = (51.5074, -0.1278)


def _counts() -> tuple[int, int]:
    return Location.objects.count(), LocationPing.objects.count()


def _post_raw(client, raw: str):
    return client.generic("POST", URL, raw, content_type="application/json")


@pytest.mark.django_db
def test_an_update_writes_the_current_location_and_a_ping(person_client, person):
    response = person_client.post(
        URL, {"latitude": 40.7484, "longitude": -73.9857, "accuracy_m": 8}, format="json"
    )
    assert response.status_code == 200, response.json()
    body = response.json()
    assert (body["latitude"], body["longitude"], body["accuracy_m"]) == (40.7484, -73.9857, 8.0)

    location = Location.objects.get(user=person)
    ping = LocationPing.objects.get(user=person)
    assert location.geohash == ping.geohash == geo.encode(40.7484, -73.9857)
    assert ping.source == LocationPing.Source.APP
    assert ping.recorded_at == location.updated_at
    assert person_client.get("/api/me/").json()["location"]["latitude"] == 40.7484


@pytest.mark.django_db
def test_a_second_update_moves_the_person_and_grows_the_history(person_client, person):
    person_client.post(URL, {"latitude": NYC[0], "longitude": NYC[1]}, format="json")
    person_client.post(URL, {"latitude": NYC[0] + 0.001, "longitude": NYC[1]}, format="json")
    assert _counts() == (1, 2)
    location = Location.objects.get(user=person)
    assert location.latitude == NYC[0] + 0.001
    assert location.accuracy_m is None


BAD_INPUTS = [
    ('{"latitude": 91, "longitude": 0}', "latitude"),
    ('{"latitude": -90.0000001, "longitude": 0}', "latitude"),
    ('{"latitude": 0, "longitude": -181}', "longitude"),
    ('{"latitude": 0, "longitude": 180.5}', "longitude"),
    ('{"latitude": NaN, "longitude": 0}', "latitude"),
    ('{"latitude": "NaN", "longitude": 0}', "latitude"),
    ('{"latitude": 0, "longitude": Infinity}', "longitude"),
    ('{"latitude": -Infinity, "longitude": 0}', "latitude"),
    ('{"latitude": "Infinity", "longitude": 0}', "latitude"),
    ('{"latitude": 1e400, "longitude": 0}', "latitude"),
    ('{"longitude": 0}', "latitude"),
    ('{"latitude": 0}', "longitude"),
    ('{"latitude": null, "longitude": 0}', "latitude"),
    ('{"latitude": "north", "longitude": 0}', "latitude"),
    ('{"latitude": true, "longitude": 0}', "latitude"),
    ('{"latitude": [1], "longitude": 0}', "latitude"),
    ('{"latitude": {"deg": 1}, "longitude": 0}', "latitude"),
    ('{"latitude": 1, "longitude": 0, "accuracy_m": -5}', "accuracy_m"),
    ('{"latitude": 1, "longitude": 0, "accuracy_m": NaN}', "accuracy_m"),
    (json.dumps({"latitude": 1, "longitude": 2, "pad": "x" * (1024 * 1024)}), "body"),
]


@pytest.mark.django_db
@pytest.mark.parametrize(("raw", "field"), BAD_INPUTS, ids=[f"{f}:{r[:40]}" for r, f in BAD_INPUTS])
def test_bad_input_is_400_naming_the_field_and_writes_nothing(person_client, person, raw, field):
    LocationFactory(user=person)
    LocationPing.objects.create(user=person, latitude=NYC[0], longitude=NYC[1], geohash=geo.encode(*NYC))
    before = _counts()
    location_before = Location.objects.filter(user=person).values().get()

    response = _post_raw(person_client, raw)

    assert response.status_code == 400, response.json()
    error = response.json()["error"]
    assert field in error["fields"], error
    assert error["message"].startswith(f"{field}:"), error
    assert _counts() == before
    assert Location.objects.filter(user=person).values().get() == location_before


@pytest.mark.django_db
def test_an_impossible_speed_is_refused_by_name_and_writes_nothing(person_client, person):
    assert (
        person_client.post(URL, {"latitude": NYC[0], "longitude": NYC[1]}, format="json").status_code == 200
    )
    before = _counts()
    response = person_client.post(URL, {"latitude": LONDON[0], "longitude": LONDON[1]}, format="json")
    assert response.status_code == 400
    error = response.json()["error"]
    assert error["code"] == "impossible_speed"
    assert error["message"].startswith("latitude:") and "km/h" in error["message"]
    assert _counts() == before
    assert Location.objects.get(user=person).latitude == NYC[0]


@pytest.mark.django_db
def test_the_speed_check_allows_flights_and_gps_noise(person):
    start = timezone.now() - timedelta(days=1)
    services.location_update(user=person, latitude=NYC[0], longitude=NYC[1], recorded_at=start)
    # ~5,570 km in 8 hours is ~700 km/h: a flight, allowed.
    services.location_update(
        user=person, latitude=LONDON[0], longitude=LONDON[1], recorded_at=start + timedelta(hours=8)
    )
    # ~5,570 km in 5 hours is ~1,100 km/h: refused.
    with pytest.raises(services.ApplicationError) as caught:
        services.location_update(
            user=person, latitude=NYC[0], longitude=NYC[1], recorded_at=start + timedelta(hours=13)
        )
    assert caught.value.field == "latitude"
    # A 500 m jump in the same second is GPS noise, not speed.
    jitter = LONDON[0] + 0.0045
    services.location_update(
        user=person, latitude=jitter, longitude=LONDON[1], recorded_at=start + timedelta(hours=8, seconds=1)
    )
    assert Location.objects.get(user=person).latitude == jitter
    assert LocationPing.objects.filter(user=person).count() == 3


@pytest.mark.django_db
def test_an_older_fix_joins_the_history_without_moving_the_person(person):
    now = timezone.now()
    services.location_update(user=person, latitude=NYC[0], longitude=NYC[1], recorded_at=now)
    services.location_update(
        user=person, latitude=NYC[0] + 0.002, longitude=NYC[1], recorded_at=now - timedelta(minutes=5)
    )
    assert Location.objects.get(user=person).latitude == NYC[0]
    assert LocationPing.objects.filter(user=person).count() == 2


@pytest.mark.django_db
def test_a_duplicate_instant_is_a_400_not_a_500(person):
    at = timezone.now()
    services.location_update(user=person, latitude=NYC[0], longitude=NYC[1], recorded_at=at)
    with pytest.raises(services.ApplicationError) as caught:
        services.location_update(user=person, latitude=NYC[0], longitude=NYC[1], recorded_at=at)
    assert caught.value.field == "recorded_at"


@pytest.mark.django_db
def test_location_changed_is_sent_only_after_commit(person, django_capture_on_commit_callbacks):
    received = []

    def receiver(sender, **kwargs):
        received.append(kwargs)

    location_changed.connect(receiver)
    try:
        with django_capture_on_commit_callbacks(execute=True) as callbacks:
            services.location_update(user=person, latitude=NYC[0], longitude=NYC[1])
            assert received == []  # nothing before the commit
        assert len(callbacks) == 1
    finally:
        location_changed.disconnect(receiver)
    assert received[0]["user_id"] == person.pk
    assert received[0]["geohash"] == geo.encode(*NYC)
    assert "latitude" not in received[0]


@pytest.mark.django_db
def test_a_failing_receiver_does_not_fail_the_update(
    person_client, person, django_capture_on_commit_callbacks
):
    def broken(sender, **kwargs):
        raise RuntimeError("index down")

    location_changed.connect(broken)
    try:
        with django_capture_on_commit_callbacks(execute=True):
            response = person_client.post(URL, {"latitude": 1.0, "longitude": 2.0}, format="json")
    finally:
        location_changed.disconnect(broken)
    assert response.status_code == 200
    assert Location.objects.filter(user=person).exists()


@pytest.mark.django_db
def test_no_signal_when_the_update_is_refused(person, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks() as callbacks, pytest.raises(services.ApplicationError):
        services.location_update(user=person, latitude=91, longitude=0)
    assert callbacks == []


@pytest.mark.django_db
def test_location_history_is_append_only_in_postgresql(person):
    services.location_update(user=person, latitude=NYC[0], longitude=NYC[1])
    ping = LocationPing.objects.get(user=person)
    with pytest.raises(IntegrityError, match="append-only"), transaction.atomic():
        LocationPing.objects.filter(pk=ping.pk).update(latitude=0.0)
    ping.latitude = 0.0
    with pytest.raises(IntegrityError), transaction.atomic():
        ping.save()
    assert LocationPing.objects.get(pk=ping.pk).latitude == NYC[0]
    # Deleting (retention, account deletion) is still allowed.
    LocationPing.objects.filter(pk=ping.pk).delete()


@pytest.mark.django_db
def test_location_updates_are_throttled_per_person(person_client, monkeypatch):
    monkeypatch.setattr(ScopedRateThrottle, "THROTTLE_RATES", {"auth": "1000/min", "location": "2/min"})
    statuses = [
        person_client.post(URL, {"latitude": 1.0, "longitude": 1.0}, format="json").status_code
        for _ in range(3)
    ]
    assert statuses == [200, 200, 429]
    other = APIClient()
    other.force_authenticate(UserFactory())
    assert other.post(URL, {"latitude": 1.0, "longitude": 1.0}, format="json").status_code == 200


# Properties ---------------------------------------------------------------------------------------

latitudes = st.floats(min_value=-90, max_value=90, allow_nan=False)
longitudes = st.floats(min_value=-180, max_value=180, allow_nan=False)
HYPOTHESIS = settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)


@pytest.mark.django_db
@HYPOTHESIS
@given(latitude=latitudes, longitude=longitudes)
def test_any_valid_position_is_accepted_and_round_trips_to_its_owner(latitude, longitude):
    user = UserFactory()  # a fresh person each time: no previous position, so no speed check
    client = APIClient()
    client.force_authenticate(user)
    response = client.post(URL, {"latitude": latitude, "longitude": longitude}, format="json")
    assert response.status_code == 200, response.json()
    own = client.get("/api/me/").json()["location"]
    assert (own["latitude"], own["longitude"]) == (latitude, longitude)
    stored = Location.objects.get(user=user)
    assert (stored.latitude, stored.longitude) == (latitude, longitude)
    assert stored.geohash == geo.encode(latitude, longitude)


out_of_range = st.one_of(
    st.tuples(st.floats(min_value=90, exclude_min=True, allow_infinity=False), longitudes).map(
        lambda p: (*p, "latitude")
    ),
    st.tuples(st.floats(max_value=-90, exclude_max=True, allow_infinity=False), longitudes).map(
        lambda p: (*p, "latitude")
    ),
    st.tuples(latitudes, st.floats(min_value=180, exclude_min=True, allow_infinity=False)).map(
        lambda p: (*p, "longitude")
    ),
    st.tuples(latitudes, st.floats(max_value=-180, exclude_max=True, allow_infinity=False)).map(
        lambda p: (*p, "longitude")
    ),
    st.tuples(st.just(float("nan")), longitudes).map(lambda p: (*p, "latitude")),
    st.tuples(latitudes, st.sampled_from([float("inf"), float("-inf")])).map(lambda p: (*p, "longitude")),
)


@pytest.mark.django_db
@HYPOTHESIS
@given(case=out_of_range)
def test_any_out_of_range_or_non_finite_position_is_refused_by_name(person_client, case):
    latitude, longitude, field = case
    before = _counts()
    response = _post_raw(person_client, json.dumps({"latitude": latitude, "longitude": longitude}))
    assert response.status_code == 400
    assert response.json()["error"]["message"].startswith(f"{field}:")
    assert _counts() == before
