"""Each feature group on hand-built people, against values worked out by hand.

AT is Monday 15 June 2026, 12:00 UTC. People placed at longitude −74° live on UTC−5 solar time
(round(−74 / 15) = −5), so 12:00 UTC is 07:00 (morning) for them and 00:00 UTC is 19:00 (evening).
Great-circle distances along a meridian are R·Δφ with R = 6371.0088 km: 0.005° = 0.5559754 km and
0.01° = 1.1119508 km.
"""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta

import numpy as np
import pytest
from django.utils import timezone

from activities.models import Activity, ActivityStatus
from matching.features import SCHEMA, WeatherReading, contextual_features, features_as_of
from ml.features import schema as fs
from tests.factories import ActivityFactory
from tests.matching.feature_builders import (
    befriend,
    current_location,
    event,
    follow,
    person,
    ping,
    place,
    session,
    value,
    values,
    visit,
)
from users import geo
from users.models import Profile

pytestmark = pytest.mark.django_db

AT = datetime(2026, 6, 15, 12, 0, tzinfo=UTC)
DAY, HOUR, MINUTE = timedelta(days=1), timedelta(hours=1), timedelta(minutes=1)
KM_PER_DEGREE = math.pi * 6371.0088 / 180  # 111.19508 km
LONG_AGO = AT - timedelta(days=100)
APPROX = {"rel": 1e-6, "abs": 1e-7}  # the arrays are float32


def approx(expected):
    return pytest.approx(expected, **APPROX)


def test_schema_is_pinned():
    """Changing any name or order changes the signature: bump SCHEMA_VERSION and update this pin."""
    assert SCHEMA.version == 1
    assert SCHEMA.dims == {
        "geographic": 16,
        "behavioural": 28,
        "social": 13,
        "demographic": 35,
        "preference": 55,
        "contextual": 14,
    }
    assert SCHEMA.signature() == "5517508f31d1fc181748b3c640f7f64e5905c665d16c34637f7087e628866922"


# --- geographic -----------------------------------------------------------------------------------
def test_geographic_position_stability_and_radius():
    two = person()  # two pings 0.01° apart on a meridian; pings at and after AT never count
    ping(two, 40.0, -74.0, AT - 3 * DAY)
    ping(two, 40.01, -74.0, AT - 2 * DAY)
    ping(two, 50.0, 10.0, AT)
    ping(two, 10.0, 10.0, AT + HOUR)
    three = person()  # three pings on the equator: 0°, 0.02°, then 0.01° (the latest, and the centre)
    ping(three, 0.0, 0.0, AT - 3 * DAY)
    ping(three, 0.02, 0.0, AT - 2 * DAY)
    ping(three, 0.01, 0.0, AT - 1 * DAY)
    one = person()  # a single ping: a position, but no spread to measure
    ping(one, 45.0, 9.0, AT - DAY)
    back = person()  # returns to one spot: (0, 0) twice, (0.03, 0) once; every ping weighs the same
    ping(back, 0.0, 0.0, AT - 3 * DAY)
    ping(back, 0.03, 0.0, AT - 2 * DAY)
    ping(back, 0.0, 0.0, AT - 1 * DAY)

    batch = features_as_of(user_ids=[two.pk, three.pk, one.pk, back.pk], at=AT)

    # Centre (40.005, −74): both pings 0.005° away → radius of gyration = largest distance = 0.5559754 km.
    d = 0.005 * KM_PER_DEGREE
    g = values(batch, two, "geographic")
    assert g["latitude"] == approx(40.01 / 90)
    assert g["longitude"] == approx(-74.0 / 180)
    cell = geo.encode(40.01, -74.0)
    for precision in (6, 7, 8, 9):
        assert g[f"geohash_{precision}"] == approx(geo.geohash_numeric(cell, precision))
    # "dr5…": d=12, r=23, 5=5 → the 6-character value starts at (12·32 + 23)/32² = 0.3974…
    assert 407 / 1024 <= g["geohash_6"] < 408 / 1024
    assert g["location_stability"] == approx(1 - d / 10)  # 0.9444025
    assert g["activity_radius"] == approx(d / 50)  # 0.0111195
    assert (g["location_missing"], g["history_missing"]) == (0.0, 0.0)

    # Centre (0.01, 0): distances 0.01°, 0.01°, 0 → rg = 1.1119508·√(2/3) = 0.9079 km, radius 1.1119508 km.
    d = 0.01 * KM_PER_DEGREE
    g = values(batch, three, "geographic")
    assert (g["latitude"], g["longitude"]) == (approx(0.01 / 90), 0.0)
    assert g["location_stability"] == approx(1 - d * math.sqrt(2 / 3) / 10)  # 0.9092097
    assert g["activity_radius"] == approx(d / 50)  # 0.0222390

    # Centre (0.01, 0): distances 0.01°, 0.01°, 0.02° → rg = d·√((1 + 1 + 4) / 3) = d·√2 = 1.5725 km,
    # radius 2d = 2.2239 km; the latest ping (0, 0) is the position.
    g = values(batch, back, "geographic")
    assert (g["latitude"], g["longitude"]) == (0.0, 0.0)
    assert g["location_stability"] == approx(1 - d * math.sqrt(2) / 10)  # 0.8427476
    assert g["activity_radius"] == approx(2 * d / 50)  # 0.0444780

    g = values(batch, one, "geographic")
    assert (g["latitude"], g["longitude"]) == (approx(45 / 90), approx(9 / 180))
    assert (g["location_stability"], g["activity_radius"], g["history_missing"]) == (0.0, 0.0, 1.0)


def test_geographic_current_location_and_missing_indicators():
    settled = person()  # no ping, but a current location that last moved before AT
    current_location(settled, 45.0, 9.0, updated_at=AT - DAY)
    moved_later = person()  # the current location was set after AT: at AT nothing was known
    current_location(moved_later, 45.0, 9.0, updated_at=AT + HOUR)
    nobody = person()

    batch = features_as_of(user_ids=[settled.pk, moved_later.pk, nobody.pk], at=AT)

    g = values(batch, settled, "geographic")
    assert (g["latitude"], g["location_missing"], g["history_missing"]) == (approx(0.5), 0.0, 1.0)
    for user in (moved_later, nobody):
        g = values(batch, user, "geographic")
        assert (g["location_missing"], g["history_missing"], g["visits_missing"]) == (1.0, 1.0, 1.0)
        assert [g[name] for name in g if not name.endswith("_missing")] == [0.0] * 13


def test_geographic_visit_shares_are_decayed():
    home, work, food = place("home"), place("work"), place("food")
    regular = person()
    visit(regular, home, AT - 1 * DAY)
    visit(regular, home, AT - 2 * DAY)
    visit(regular, work, AT - 1 * DAY)
    visit(regular, food, AT - 10 * DAY)
    visit(regular, home, AT)  # at AT: not counted
    visit(regular, work, AT + DAY)  # after AT: not counted
    ancient = person()  # one visit 15,000 days ago: 0.95^15000 underflows, the share must not
    visit(ancient, place("transport"), AT - timedelta(days=15_000))

    batch = features_as_of(user_ids=[regular.pk, ancient.pk], at=AT)

    # Weights relative to the latest visit (1 day before AT): home 1 + 0.95, work 1, food 0.95^9 = 0.6302494.
    total = 1 + 0.95 + 1 + 0.95**9  # 3.5802494
    g = values(batch, regular, "geographic")
    assert g["visit_share_home"] == approx(1.95 / total)  # 0.5446546
    assert g["visit_share_work"] == approx(1 / total)  # 0.2793101
    assert (g["visit_share_entertainment"], g["visit_share_shopping"], g["visit_share_transport"]) == (
        0,
        0,
        0,
    )
    assert g["visits_missing"] == 0.0
    g = values(batch, ancient, "geographic")
    assert (g["visit_share_transport"], g["visits_missing"]) == (1.0, 0.0)


# --- behavioural ----------------------------------------------------------------------------------
def test_behavioural_windows_decay_diversity_and_day_parts():
    ada, other = person(), person()
    ping(ada, 40.0, -74.0, AT - 60 * DAY)  # UTC−5
    event("view", ada, AT - DAY / 2, target=other)  # 00:00 UTC = 19:00 local: evening
    event("join", ada, AT - DAY)  # exactly 1 day before: inside the 1-day window; 07:00 local
    event("like", ada, AT - 3 * DAY, target=other)  # 07:00 local: morning
    event("wave", ada, AT - 10 * DAY, target=other)  # morning
    event("message", ada, AT - 40 * DAY, target=other)  # older than every window
    event("view", ada, AT, target=other)  # at AT: never counts
    event("view", other, AT - HOUR, target=ada)  # received, not made: not Ada's behaviour
    utc = person()  # no position: hours read in UTC
    event("view", utc, AT - DAY / 4, target=other)  # 06:00 UTC: morning (it would be 01:00 at UTC−5)
    idle = person()

    batch = features_as_of(user_ids=[ada.pk, utc.pk, idle.pk], at=AT)
    b = values(batch, ada, "behavioural")

    w_view, w_join, w_like, w_wave = 0.95**0.5, 0.95, 0.95**3, 0.95**10  # 0.9746794 0.95 0.857375 0.5987369
    # 1 day: view + join = 1.9246794; cap 20 → 0.0962340; kinds 2 of 8.
    assert b["interactions_1d"] == approx((w_view + w_join) / 20)
    assert b["interaction_diversity_1d"] == 2 / 8
    assert b["morning_share_1d"] == approx(w_join / (w_view + w_join))  # 0.4935887
    assert b["evening_share_1d"] == approx(w_view / (w_view + w_join))  # 0.5064113
    assert (b["afternoon_share_1d"], b["night_share_1d"], b["no_interactions_1d"]) == (0, 0, 0)
    # 7 days: + like = 2.7820544; cap 20·Σ_{d<7} 0.95^d = 20·6.0332539 = 120.665078 → 0.0230560.
    cap7 = 20 * sum(0.95**d for d in range(7))
    assert b["interactions_7d"] == approx((w_view + w_join + w_like) / cap7)
    assert b["interaction_diversity_7d"] == 3 / 8
    assert b["morning_share_7d"] == approx((w_join + w_like) / (w_view + w_join + w_like))  # 0.6496530
    # 30 days: + wave = 3.3807913; cap 20·15.7072541 = 314.145082 → 0.0107618. The message (40 days) never.
    cap30 = 20 * sum(0.95**d for d in range(30))
    total30 = w_view + w_join + w_like + w_wave
    assert b["interactions_30d"] == approx(total30 / cap30)
    assert b["interaction_diversity_30d"] == 4 / 8
    assert b["morning_share_30d"] == approx((w_join + w_like + w_wave) / total30)  # 0.7116996
    assert b["evening_share_30d"] == approx(w_view / total30)  # 0.2883004

    b = values(batch, utc, "behavioural")
    assert (b["morning_share_1d"], b["night_share_1d"]) == (1.0, 0.0)

    b = values(batch, idle, "behavioural")
    for window in (1, 7, 30):
        assert b[f"no_interactions_{window}d"] == 1.0
        assert b[f"interactions_{window}d"] == b[f"morning_share_{window}d"] == 0.0
    assert b["app_missing"] == 1.0


def test_behavioural_app_usage():
    ada = person()
    ping(ada, 40.0, -74.0, AT - 60 * DAY)  # UTC−5
    session(ada, AT - 2 * DAY, 60)  # 07:00 local, morning; weight 0.95^2 = 0.9025
    session(ada, AT - DAY / 2, 30)  # 19:00 local, evening; weight 0.95^0.5 = 0.9746794
    session(ada, AT - HOUR, None)  # never ended: a session of 0 minutes; 06:00 local, morning
    session(ada, AT - 10 * MINUTE, 30)  # runs past AT: only its 10 minutes before AT count; morning
    session(ada, AT - 31 * DAY, 600)  # before the 30-day window
    session(ada, AT, 600)  # at AT

    batch = features_as_of(user_ids=[ada.pk], at=AT)
    b = values(batch, ada, "behavioural")

    w = [0.95**2, 0.95**0.5, 0.95 ** (1 / 24), 0.95 ** (10 / 1440)]
    per_day = sum(0.95**d for d in range(30))  # 15.7072541: a decay-weighted mean per day
    # Minutes: (0.9025·60 + 0.9746794·30 + 0 + 0.9996438·10) / 15.7072541 = 5.9454 a day → /1440 = 0.0041287.
    assert b["app_minutes_per_day"] == approx((w[0] * 60 + w[1] * 30 + w[3] * 10) / per_day / 1440)
    # Sessions: 3.8746883 / 15.7072541 = 0.2466801 a day → /50 = 0.0049336.
    assert b["app_sessions_per_day"] == approx(sum(w) / per_day / 50)
    assert b["app_morning_share"] == approx((w[0] + w[2] + w[3]) / sum(w))  # 0.7484509
    assert b["app_evening_share"] == approx(w[1] / sum(w))  # 0.2515491
    assert (b["app_afternoon_share"], b["app_night_share"], b["app_missing"]) == (0.0, 0.0, 0.0)


# --- social ---------------------------------------------------------------------------------------
def test_social_friends_density_influence_and_activity():
    p, x, y, z = person(), person(), person(), person()
    for followee in (x, y, z):
        follow(p, followee, LONG_AGO)
    follow(x, p, LONG_AGO)
    follow(y, p, LONG_AGO)
    follow(z, p, AT + HOUR)  # after AT: Z is not yet a friend
    event("wave", x, AT - 1 * DAY, target=p)
    event("like", y, AT - 2 * DAY, target=p)
    event("message", x, AT - 3 * DAY, target=p)
    event("message", p, AT - 4 * DAY, target=x)
    event("view", x, AT - 40 * DAY, target=p)  # outside the 30-day window
    event("like", y, AT + HOUR, target=p)  # after AT

    batch = features_as_of(user_ids=[p.pk], at=AT)
    s = values(batch, p, "social")

    # 3 follows out, 2 back: friends X and Y; 4 of the 5 directed follows touching P are reciprocated.
    assert s["friend_count"] == approx(2 / 1000)
    assert s["network_density"] == approx(4 / 5)
    # 2 followers; received 3 person events, sent 1 → rate 3/4; log1p(2)/log1p(1000) = 0.1590160.
    assert s["influence"] == approx(math.log1p(2) / math.log1p(1000) * 0.75)  # 0.1192620
    one = math.log1p(1) / math.log1p(100)  # 0.1501917
    assert s["waves_received_30d"] == s["likes_received_30d"] == approx(one)
    assert s["messages_sent_30d"] == s["messages_received_30d"] == approx(one)
    assert s["waves_sent_30d"] == s["likes_sent_30d"] == 0.0
    # X and Y are not friends of each other: two circles. X made 2 events in the window, Y 1 → mean 1.5.
    assert s["circles"] == approx(2 / 10)
    assert s["circle_activity"] == approx(math.log1p(1.5) / math.log1p(100))  # 0.1985413
    assert (s["follows_missing"], s["friends_missing"]) == (0.0, 0.0)


def test_social_circles_are_connected_components_among_friends():
    q, r = person(), person()
    f1, f2, f3, f4, g3, outsider, later = (person() for _ in range(7))
    for friend in (f1, f2, f3, f4):
        befriend(q, friend, LONG_AGO)
    befriend(f1, f2, LONG_AGO)  # circle {F1, F2}
    befriend(f3, f4, LONG_AGO)  # circle {F3, F4}
    follow(f2, f3, LONG_AGO)  # one way: not a friendship, so no bridge
    befriend(f1, outsider, LONG_AGO)  # a friend's friend who is not Q's friend links nothing
    follow(q, later, AT + DAY)  # after AT
    follow(later, q, LONG_AGO)
    # R shares F1 and F2 with Q; F2 and G3 are friends, so R's friends form one chain F1–F2–G3.
    for friend in (f1, f2, g3):
        befriend(r, friend, LONG_AGO)
    befriend(f2, g3, LONG_AGO)
    for _ in range(3):
        event("view", f1, AT - 2 * DAY, target=outsider)
    event("view", f2, AT - 2 * DAY, target=outsider)
    event("view", f1, AT - 40 * DAY, target=outsider)  # outside the window
    lonely, followed = person(), person()
    follow(f3, followed, LONG_AGO)
    follow(f4, followed, LONG_AGO)

    batch = features_as_of(user_ids=[q.pk, r.pk, lonely.pk, followed.pk], at=AT)

    s = values(batch, q, "social")
    assert s["friend_count"] == approx(4 / 1000)
    # 4 out and 5 in (LATER follows Q; Q's follow back comes after AT): 8 of 9 directed follows reciprocated.
    assert s["network_density"] == approx(8 / 9)
    assert s["circles"] == approx(2 / 10)
    # Friends' 30-day events: F1 3, F2 1, F3 0, F4 0 → mean 1 → log1p(1)/log1p(100) = 0.1501917.
    assert s["circle_activity"] == approx(math.log1p(1) / math.log1p(100))
    s = values(batch, r, "social")
    assert s["circles"] == approx(1 / 10)
    assert s["circle_activity"] == approx(math.log1p(4 / 3) / math.log1p(100))

    s = values(batch, lonely, "social")
    assert (s["follows_missing"], s["friends_missing"]) == (1.0, 1.0)
    assert [s[name] for name in s if not name.endswith("_missing")] == [0.0] * 11
    s = values(batch, followed, "social")  # followed by two, follows nobody: no reciprocity, no friends
    assert (s["network_density"], s["follows_missing"], s["friends_missing"]) == (0.0, 0.0, 1.0)
    assert s["influence"] == 0.0  # followers, but no events either way


# --- demographic ----------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("birth_year", "group"),
    [
        (2002, "under_25"),  # 2026 − 2002 = 24
        (2001, "25_34"),  # 25
        (1992, "25_34"),  # 34
        (1991, "35_44"),  # 35
        (1982, "35_44"),  # 44
        (1981, "45_54"),  # 45
        (1962, "55_64"),  # 64
        (1961, "65_plus"),  # 65
        (2027, None),  # born after AT's year: missing
        (None, None),
    ],
)
def test_demographic_age_group_boundaries_as_of_at(birth_year, group):
    user = person(birth_year=birth_year)
    d = values(features_as_of(user_ids=[user.pk], at=AT), user, "demographic")
    ages = {suffix: d[f"age_{suffix}"] for suffix, _low, _high in fs.AGE_GROUPS}
    if group is None:
        assert d["age_missing"] == 1.0 and set(ages.values()) == {0.0}
    else:
        assert d["age_missing"] == 0.0 and ages == {suffix: float(suffix == group) for suffix in ages}


def test_demographic_age_moves_with_at():
    user = person(birth_year=2002)
    assert value(features_as_of(user_ids=[user.pk], at=AT), user, "demographic.age_under_25") == 1.0
    later = datetime(2027, 1, 1, tzinfo=UTC)  # now 25
    assert value(features_as_of(user_ids=[user.pk], at=later), user, "demographic.age_25_34") == 1.0


def test_demographic_values_and_missing_indicators():
    full = person(
        gender="female",
        education_level=4,
        income_level=3,
        occupation="student",
        marital_status="single",
        city_level=1,
        years_at_residence=45,
        languages=["en", "it", "en"],
    )
    other = person(city_level=5, years_at_residence=15, languages=[])
    blank = person()
    no_profile = person()
    Profile.objects.filter(user=no_profile).delete()

    batch = features_as_of(user_ids=[full.pk, other.pk, blank.pk, no_profile.pk], at=AT)

    d = values(batch, full, "demographic")
    assert (d["gender_female"], d["gender_male"], d["gender_non_binary"], d["gender_missing"]) == (1, 0, 0, 0)
    assert d["education"] == approx(4 / 6) and d["education_missing"] == 0.0
    assert d["income"] == approx(3 / 5) and d["income_missing"] == 0.0
    assert (d["occupation_student"], d["occupation_employed"], d["occupation_missing"]) == (1, 0, 0)
    assert (d["marital_single"], d["marital_married"], d["marital_missing"]) == (1, 0, 0)
    assert (d["city_level"], d["city_level_missing"]) == (0.0, 0.0)  # (1 − 1) / 4
    assert (d["years_at_residence"], d["years_at_residence_missing"]) == (1.0, 0.0)  # min(45/30, 1)
    assert (d["languages"], d["languages_missing"]) == (approx(2 / 5), 0.0)  # en, it
    d = values(batch, other, "demographic")
    assert (d["city_level"], d["years_at_residence"]) == (1.0, 0.5)  # (5 − 1) / 4, 15 / 30
    assert (d["languages"], d["languages_missing"]) == (0.0, 1.0)  # none spoken: missing, not 0 languages
    for user in (blank, no_profile):
        d = values(batch, user, "demographic")
        indicators = [name for name in d if name.endswith("_missing")]
        assert len(indicators) == 9 and all(d[name] == 1.0 for name in indicators)
        assert all(d[name] == 0.0 for name in d if name not in indicators)


# --- preference -----------------------------------------------------------------------------------
def test_preference_weights_straight_from_the_profile():
    fan = person(
        interests={"sports": 0.8, "music": 1.7, "unheard_of": 0.5, "food": "lots"},
        activity_preferences={"tennis": 0.3},
        place_type_preferences={},
        time_preferences={"morning": 0.0},
    )
    batch = features_as_of(user_ids=[fan.pk], at=AT)
    p = values(batch, fan, "preference")
    assert p["interest_sports"] == approx(0.8)
    assert p["interest_music"] == 1.0  # clipped to [0, 1]
    assert p["interest_food"] == 0.0  # not a number: ignored
    assert sum(p[f"interest_{name}"] for name in ("sports", "music")) == approx(1.8)
    assert sum(v for k, v in p.items() if k.startswith("interest_")) == approx(1.8)
    assert p["activity_tennis"] == approx(0.3)
    assert p["time_morning"] == 0.0
    assert p["interests_missing"] == p["activity_preferences_missing"] == p["time_preferences_missing"] == 0.0
    assert p["place_type_preferences_missing"] == 1.0  # an empty dict is missing, not "likes nothing"


# --- contextual -----------------------------------------------------------------------------------
def _activity(activity_type: str, km_north: float, starts_in: timedelta, **fields) -> Activity:
    starts = AT + starts_in
    return ActivityFactory(
        activity_type=activity_type,
        latitude=40.0 + km_north / KM_PER_DEGREE,
        longitude=-74.0,
        starts_at=starts,
        ends_at=starts + 2 * HOUR,
        created_at=fields.pop("created_at", AT - 5 * DAY),
        **fields,
    )


class FixedProvider:
    def __init__(self, weather, traffic):
        self._weather, self._traffic = weather, traffic

    def weather(self, *, latitude, longitude, at):
        return self._weather

    def traffic(self, *, latitude, longitude, at):
        return self._traffic


def test_contextual_time_nearby_activities_and_unknown_weather():
    local = person()
    ping(local, 40.0, -74.0, AT - DAY)
    nowhere = person()
    _activity("badminton", 1.0, 2 * DAY)  # counted
    _activity("tennis", 3.0, 6 * DAY)  # counted
    _activity("football", 1.0, timedelta(0))  # starts exactly at AT: counted
    _activity("badminton", 8.0, 2 * DAY)  # 8 km away
    _activity("yoga", 1.0, 8 * DAY)  # beyond the 7-day horizon
    _activity("yoga", 1.0, -HOUR)  # already started
    _activity("climbing", 1.0, 2 * DAY, created_at=AT + HOUR)  # created after AT
    cancelled_before = _activity("yoga", 1.0, DAY)
    cancelled_after = _activity("tennis", 1.0, 3 * DAY)  # open at AT: counted
    # update() sets updated_at by hand: it is the only trace of when the status changed.
    Activity.objects.filter(pk=cancelled_before.pk).update(
        status=ActivityStatus.CANCELLED, updated_at=AT - HOUR
    )
    Activity.objects.filter(pk=cancelled_after.pk).update(
        status=ActivityStatus.CANCELLED, updated_at=AT + HOUR
    )

    batch = features_as_of(user_ids=[local.pk, nowhere.pk], at=AT)

    c = values(batch, local, "contextual")
    # 07:00 local on Monday 15 June: hour 7 → (sin, cos)(2π·7/24); weekday 0; month 6 → angle 2π·5/12.
    assert (c["hour_sin"], c["hour_cos"]) == (
        approx(math.sin(7 * math.pi / 12)),
        approx(math.cos(7 * math.pi / 12)),
    )
    assert (c["weekday_sin"], c["weekday_cos"]) == (0.0, 1.0)
    assert (c["month_sin"], c["month_cos"]) == (approx(0.5), approx(-math.sqrt(3) / 2))
    # 4 activities (badminton, tennis, football, the tennis cancelled after AT) → 4/20; 3 types of 10.
    assert c["nearby_activities"] == approx(4 / 20)
    assert c["nearby_activity_diversity"] == approx(3 / 10)
    assert c["location_missing"] == 0.0
    # The default provider knows no weather and no traffic: missing values, flags up, nothing invented.
    assert (c["temperature"], c["precipitation"], c["weather_missing"]) == (0.0, 0.0, 1.0)
    assert (c["traffic_congestion"], c["traffic_missing"]) == (0.0, 1.0)

    c = values(batch, nowhere, "contextual")
    assert (c["hour_sin"], c["hour_cos"]) == (approx(0.0), -1.0)  # 12:00 UTC
    assert (c["nearby_activities"], c["location_missing"]) == (0.0, 1.0)

    # At request time, at the same point, the same values.
    request = contextual_features(at=AT, latitude=40.0, longitude=-74.0)
    assert request.dtype == np.float32
    assert request.tobytes() == batch.groups["contextual"][0].tobytes()
    unknown = contextual_features(at=AT, latitude=None, longitude=None)
    assert unknown.tobytes() == batch.groups["contextual"][1].tobytes()


def test_contextual_local_date_and_provider_readings():
    # 02:00 UTC on Wednesday 1 July is 21:00 on Tuesday 30 June at UTC−5: the month is June.
    at = datetime(2026, 7, 1, 2, 0, tzinfo=UTC)
    c = contextual_features(
        at=at, latitude=40.0, longitude=-74.0, provider=FixedProvider(WeatherReading(20.0, 2.0), 0.3)
    )
    column = SCHEMA.group("contextual").index
    assert c[column("weekday_sin")] == approx(math.sin(2 * math.pi / 7))  # Tuesday = 1
    assert c[column("month_sin")] == approx(0.5)  # June
    assert c[column("hour_sin")] == approx(math.sin(2 * math.pi * 21 / 24))
    assert c[column("temperature")] == approx(40 / 60)  # (20 − (−20)) / 60
    assert c[column("precipitation")] == approx(0.2)  # 2 / 10 mm/h
    assert c[column("traffic_congestion")] == approx(0.3)
    assert c[column("weather_missing")] == c[column("traffic_missing")] == 0.0

    # A reading that is not a number is unknown, not 0.
    c = contextual_features(
        at=at, latitude=40.0, longitude=-74.0, provider=FixedProvider(WeatherReading(math.nan, 1.0), None)
    )
    assert c[column("weather_missing")] == c[column("traffic_missing")] == 1.0
    assert c[column("temperature")] == 0.0


def test_contextual_features_rejects_naive_times_and_bad_points():
    with pytest.raises(ValueError, match="timezone-aware"):
        contextual_features(at=datetime(2026, 6, 15, 12), latitude=40.0, longitude=-74.0)
    with pytest.raises(ValueError, match="not a position"):
        contextual_features(at=timezone.now(), latitude=91.0, longitude=0.0)
