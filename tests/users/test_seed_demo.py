"""The demo seeder: accounts that log in, activities at real venues, determinism and idempotency."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal
from io import StringIO

import numpy as np
import pytest
from django.contrib.auth import authenticate
from django.core.management import call_command
from django.utils import timezone

from activities.models import Activity, Participation
from users.demo import DEMO_PASSWORD, SYNTHETIC_SOURCE, SYNTHETIC_USERNAME_PREFIX, synthetic_city_dataset
from users.importers import table_counts
from users.models import Follow, Location, Place, Profile, User, UserTag
from users.taxonomy import PLACE_TYPES

pytestmark = pytest.mark.django_db

DEMO_LOGINS = {"demo_person": "person", "demo_organiser": "organiser", "demo_marketer": "marketer"}


def _seed(*args: str) -> str:
    out = StringIO()
    call_command("seed_demo", *args, stdout=out, stderr=StringIO())
    return out.getvalue()


def _snapshot() -> dict:
    first_profiles = (
        Profile.objects.filter(user__username__startswith=SYNTHETIC_USERNAME_PREFIX)
        .order_by("user__username")
        .values(
            "user__username", "birth_year", "gender", "education_level", "income_level", "occupation",
            "languages", "interests", "place_type_preferences", "time_preferences", "activity_preferences",
            "skills", "bio",
        )[:5]
    )  # fmt: skip
    demo_profiles = Profile.objects.filter(user__username__in=DEMO_LOGINS).order_by("user__username").values()
    return {
        "counts": {**table_counts(), "activities": Activity.objects.count()},
        "demo_profiles": [
            {key: value for key, value in row.items() if key not in {"user_id", "updated_at"}}
            for row in demo_profiles
        ],
        "first_profiles": list(first_profiles),
        "places": list(
            Place.objects.order_by("external_id").values_list("external_id", "name", "place_type")[:20]
        ),
        "activities": sorted(
            Activity.objects.values_list("title", "organiser__username", "place__external_id")
        ),
    }


def test_seed_demo_builds_logins_and_activities_at_real_venues():
    output = _seed("--synthetic")

    for username, role in DEMO_LOGINS.items():
        user = authenticate(username=username, password=DEMO_PASSWORD)
        assert user is not None, username
        assert user.role == role
        assert Profile.objects.filter(user=user).exists()
        assert username in output
        location = Location.objects.get(user=user)
        assert 40.70 < location.latitude < 40.82 and -74.02 < location.longitude < -73.93  # Manhattan
    assert DEMO_PASSWORD in output

    assert Place.objects.filter(source=SYNTHETIC_SOURCE).count() == 300
    assert set(Place.objects.values_list("place_type", flat=True)) == set(PLACE_TYPES)
    assert User.objects.filter(username__startswith=SYNTHETIC_USERNAME_PREFIX).count() == 400

    now = timezone.now()
    activities = list(Activity.objects.select_related("place", "organiser"))
    assert len(activities) == 6
    for activity in activities:
        assert activity.place is not None and activity.place.source == SYNTHETIC_SOURCE
        assert activity.place.place_type != "home"
        assert (activity.latitude, activity.longitude) == (activity.place.latitude, activity.place.longitude)
        assert now < activity.starts_at <= now + timedelta(days=14)
        # The organiser is the first participant; a few keen people joined; capacity holds.
        taking_part = set(activity.participations.values_list("user__username", flat=True))
        assert activity.organiser.username in taking_part
        assert 3 <= len(taking_part) <= activity.capacity
        assert activity.organiser.role == "organiser"
    by_type = {activity.activity_type: activity.place.place_type for activity in activities}
    assert by_type["badminton"] == "sports"
    assert by_type["board_games"] == "food"
    assert by_type["running"] == "outdoors"
    organisers = {activity.organiser.username for activity in activities}
    assert "demo_organiser" in organisers
    assert any(name.startswith(SYNTHETIC_USERNAME_PREFIX) for name in organisers)

    # demo_person has a few mutual friends to show.
    person = User.objects.get(username="demo_person")
    following = set(Follow.objects.filter(follower=person).values_list("followee_id", flat=True))
    followers = set(Follow.objects.filter(followee=person).values_list("follower_id", flat=True))
    assert following and following == followers
    # Some friendships in the generated city are mutual, some follows one-way.
    pairs = set(Follow.objects.values_list("follower_id", "followee_id"))
    assert any((b, a) in pairs for a, b in pairs) and any((b, a) not in pairs for a, b in pairs)

    # Lifetime values follow activity: 1.50 a check-in, 20.00 an activity taken part in; the top 5 % are vip.
    participants = list(Participation.objects.values_list("user_id", flat=True))
    for profile in Profile.objects.filter(user_id__in=participants[:5]).select_related("user"):
        visits = profile.user.visits.count()
        taking_part = Participation.objects.filter(user=profile.user).count()
        assert profile.lifetime_value == Decimal("1.50") * visits + Decimal("20.00") * taking_part
        assert profile.lifetime_value > 0
    vips = set(UserTag.objects.filter(tag="vip").values_list("user_id", flat=True))
    assert len(vips) == round(Profile.objects.count() * 0.05)
    lowest_vip = min(Profile.objects.filter(user_id__in=vips).values_list("lifetime_value", flat=True))
    assert not Profile.objects.exclude(user_id__in=vips).filter(lifetime_value__gt=lowest_vip).exists()
    assert "tagged 'vip'" in output


def test_seed_demo_twice_changes_nothing():
    _seed("--synthetic")
    first = _snapshot()
    participations = Participation.objects.count()
    _seed("--synthetic")
    assert _snapshot() == first
    assert Participation.objects.count() == participations
    assert authenticate(username="demo_person", password=DEMO_PASSWORD) is not None


def test_seed_demo_is_deterministic_across_fresh_databases():
    _seed("--synthetic")
    first = _snapshot()
    assert first["first_profiles"][0]["user__username"] == f"{SYNTHETIC_USERNAME_PREFIX}001"
    assert first["first_profiles"][0]["birth_year"] is not None

    # Empty the database (ids keep counting up, as in a second database they could differ).
    Activity.objects.all().delete()
    User.objects.all().delete()
    Place.objects.all().delete()
    assert sum(table_counts().values()) == 0

    _seed("--synthetic")
    assert _snapshot() == first


def test_seed_demo_falls_back_to_the_generator_without_data(tmp_path):
    output = _seed("--data-dir", str(tmp_path))
    assert "synthetic city" in output
    assert Place.objects.filter(source=SYNTHETIC_SOURCE).count() == 300


def test_generated_people_have_coherent_tastes():
    _seed("--synthetic")
    profiles = list(Profile.objects.filter(user__username__startswith=SYNTHETIC_USERNAME_PREFIX))
    sporty = [p for p in profiles if p.place_type_preferences.get("sports", 0) >= 0.8]
    others = [p for p in profiles if p.place_type_preferences.get("sports", 0) < 0.3]
    assert len(sporty) >= 20 and len(others) >= 20
    # Who visits sports venues says so in their interests and likes sports activities more.
    assert np.mean([p.interests.get("sports", 0) + p.interests.get("fitness", 0) for p in sporty]) > 0.8
    sporty_badminton = np.mean([p.activity_preferences.get("badminton", 0) for p in sporty])
    others_badminton = np.mean([p.activity_preferences.get("badminton", 0) for p in others])
    assert sporty_badminton > others_badminton + 0.3
    assert all(set(p.skills) <= set(p.activity_preferences) for p in profiles)


def test_generator_is_pure_and_repeatable():
    first, second = synthetic_city_dataset(), synthetic_city_dataset()
    assert first.places == second.places
    assert list(first.checkins()) == list(second.checkins())
    assert list(first.friendships()) == list(second.friendships())
    assert list(first.follows()) == list(second.follows())
    assert len(first.places) == 300
