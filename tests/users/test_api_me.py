"""The caller's own account, profile and location."""

from __future__ import annotations

from datetime import date

import pytest
from django.utils import timezone

from tests.factories import LocationFactory, UserFactory
from users import services, taxonomy
from users.models import Profile

ME = "/api/me/"


def _patch(client, body):
    return client.patch(ME, body, format="json")


def _profile_snapshot(user) -> dict:
    return Profile.objects.filter(user=user).values().get()


@pytest.mark.django_db
def test_me_shows_the_user_profile_and_no_location_yet(person_client, person):
    body = person_client.get(ME).json()
    assert body["user"]["id"] == person.pk
    assert body["user"]["email"] == person.email
    assert body["profile"]["interests"] == {}
    assert body["profile"]["allow_invitations"] is True
    assert body["location"] is None


@pytest.mark.django_db
def test_me_shows_the_owner_their_exact_location(person_client, person):
    LocationFactory(user=person, latitude=45.4642035, longitude=9.189982, accuracy_m=12.5)
    location = person_client.get(ME).json()["location"]
    assert (location["latitude"], location["longitude"], location["accuracy_m"]) == (
        45.4642035,
        9.189982,
        12.5,
    )
    assert location["updated_at"]


@pytest.mark.django_db
def test_me_never_shows_someone_else(person_client):
    other = UserFactory()
    LocationFactory(user=other, latitude=1.5, longitude=2.5)
    body = person_client.get(ME).json()
    assert body["user"]["id"] != other.pk
    assert body["location"] is None


@pytest.mark.django_db
def test_me_works_for_an_account_without_a_profile_row(api_client, person):
    Profile.objects.filter(user=person).delete()
    api_client.force_authenticate(person)
    assert api_client.get(ME).json()["profile"]["languages"] == []
    assert _patch(api_client, {"bio": "hello"}).status_code == 200
    assert Profile.objects.get(user=person).bio == "hello"


@pytest.mark.django_db
def test_patch_updates_every_kind_of_profile_field(person_client, person):
    year = timezone.localdate().year
    body = {
        "display_name": "Lina",
        "birth_year": year - 30,
        "gender": "female",
        "education_level": 5,
        "income_level": 3,
        "occupation": "employed",
        "marital_status": "single",
        "city_level": 1,
        "years_at_residence": 4,
        "languages": ["it", "en", "it"],
        "interests": {"sports": 0.9, "coffee": 0},
        "activity_preferences": {"badminton": 1, "yoga": 0.25},
        "place_type_preferences": {"outdoors": 0.5},
        "time_preferences": {"weekend": 1.0, "evening": 0.5},
        "skills": {"badminton": 3, "tennis": 5},
        "bio": "Shuttlecocks and espresso.",
        "hide_from_nearby": True,
        "show_age_group": False,
        "allow_invitations": False,
        "marketing_opt_out": True,
    }
    response = _patch(person_client, body)
    assert response.status_code == 200, response.json()
    profile = response.json()["profile"]
    assert response.json()["user"]["display_name"] == "Lina"
    assert profile["languages"] == ["it", "en"]  # repeats dropped, order kept
    assert profile["interests"] == {"sports": 0.9, "coffee": 0.0}
    assert profile["skills"] == {"badminton": 3, "tennis": 5}
    assert profile["hide_from_nearby"] is True
    assert profile["marketing_opt_out"] is True
    stored = _profile_snapshot(person)
    assert stored["marketing_opt_out"] is True
    assert stored["birth_year"] == year - 30
    assert stored["education_level"] == 5
    assert stored["time_preferences"] == {"weekend": 1.0, "evening": 0.5}


@pytest.mark.django_db
def test_patch_changes_only_the_fields_sent(person_client, person):
    _patch(person_client, {"bio": "first", "interests": {"music": 0.5}})
    _patch(person_client, {"bio": "second"})
    stored = _profile_snapshot(person)
    assert (stored["bio"], stored["interests"]) == ("second", {"music": 0.5})


@pytest.mark.django_db
def test_nullable_fields_can_be_cleared(person_client, person):
    _patch(person_client, {"birth_year": timezone.localdate().year - 40, "income_level": 2, "gender": "male"})
    assert _patch(person_client, {"birth_year": None, "income_level": None, "gender": ""}).status_code == 200
    stored = _profile_snapshot(person)
    assert (stored["birth_year"], stored["income_level"], stored["gender"]) == (None, None, "")


def _bad_inputs():
    year = date.today().year
    return [
        ({"interests": {"knitting": 0.5}}, "interests.knitting"),
        ({"interests": {"sports": 1.5}}, "interests.sports"),
        ({"interests": {"sports": -0.1}}, "interests.sports"),
        ({"interests": {"sports": "lots"}}, "interests.sports"),
        ({"interests": {"sports": True}}, "interests.sports"),
        ({"interests": ["sports"]}, "interests"),
        ({"activity_preferences": {"chess": 0.5}}, "activity_preferences.chess"),
        ({"place_type_preferences": {"casino": 0.5}}, "place_type_preferences.casino"),
        ({"time_preferences": {"midnight": 0.5}}, "time_preferences.midnight"),
        ({"skills": {"badminton": 6}}, "skills.badminton"),
        ({"skills": {"badminton": 0}}, "skills.badminton"),
        ({"skills": {"chess": 3}}, "skills.chess"),
        ({"languages": ["EN"]}, "languages.0"),
        ({"languages": ["eng"]}, "languages.0"),
        ({"languages": "en"}, "languages"),
        ({"languages": [f"{a}{b}" for a in "ab" for b in "abcdef"]}, "languages"),  # 12 codes
        ({"birth_year": year - 15}, "birth_year"),
        ({"birth_year": year - 111}, "birth_year"),
        ({"birth_year": 10**12}, "birth_year"),
        ({"birth_year": "old"}, "birth_year"),
        ({"gender": "robot"}, "gender"),
        ({"education_level": 7}, "education_level"),
        ({"income_level": 6}, "income_level"),
        ({"city_level": 0}, "city_level"),
        ({"years_at_residence": 121}, "years_at_residence"),
        ({"occupation": "astronaut"}, "occupation"),
        ({"marital_status": "complicated"}, "marital_status"),
        ({"bio": "x" * 501}, "bio"),
        ({"display_name": "x" * 61}, "display_name"),
        ({"hide_from_nearby": "perhaps"}, "hide_from_nearby"),
    ]


@pytest.mark.django_db
@pytest.mark.parametrize(("body", "field"), _bad_inputs())
def test_bad_profile_input_is_400_naming_the_field_and_changes_nothing(person_client, person, body, field):
    before = _profile_snapshot(person)
    response = _patch(person_client, {"bio": "should not be saved", **body})
    assert response.status_code == 400, response.json()
    error = response.json()["error"]
    assert field in error["fields"], error
    assert field in error["message"]
    assert _profile_snapshot(person) == before


@pytest.mark.django_db
def test_nan_weights_are_refused_by_name(person_client, person):
    raw = '{"interests": {"sports": NaN}}'
    response = person_client.generic("PATCH", ME, raw, content_type="application/json")
    assert response.status_code == 400
    assert "interests.sports" in response.json()["error"]["fields"]


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("age", "ok"),
    [(services.MIN_AGE - 1, False), (services.MIN_AGE, True), (services.MAX_AGE, True), (111, False)],
)
def test_birth_year_bounds_follow_the_age_range(person, age, ok):
    today = date(2030, 6, 1)
    if ok:
        services.profile_update(user=person, data={"birth_year": 2030 - age}, today=today)
        assert Profile.objects.get(user=person).birth_year == 2030 - age
    else:
        with pytest.raises(services.ApplicationError) as caught:
            services.profile_update(user=person, data={"birth_year": 2030 - age}, today=today)
        assert caught.value.field == "birth_year"


@pytest.mark.django_db
def test_the_service_refuses_unknown_fields_and_vocabulary(person):
    with pytest.raises(services.ApplicationError) as caught:
        services.profile_update(user=person, data={"is_staff": True})
    assert caught.value.field == "is_staff"
    for field, vocabulary in services.WEIGHTED_PREFERENCES.items():
        assert set(vocabulary) <= set(
            taxonomy.INTERESTS + taxonomy.ACTIVITY_TYPES + taxonomy.PLACE_TYPES
        ) | set(taxonomy.TIME_PREFERENCES)
        services.profile_update(user=person, data={field: dict.fromkeys(vocabulary, 0.5)})
        assert len(getattr(Profile.objects.get(user=person), field)) == len(vocabulary)
