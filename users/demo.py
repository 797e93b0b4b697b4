"""The demo city: real Foursquare NYC check-ins when the data is at hand, a synthetic Manhattan otherwise.

`demo_city_seed` loads the people and places through `users.importers.checkins_load`, the same writer the
real imports use: the synthetic generator only produces the same records the NYC reader produces. Then it
fills the profile fields the data cannot tell (demographics, activity preferences, skills) deterministically
from each person's username and in line with what they visited, and creates the three demo logins. Every
step is idempotent: seeding twice adds nothing the second time (it only marks positions as current).

Activities sit above `users` in the import order, so this module only plans them (`demo_activity_specs`:
venue, organiser, participants, time); `manage.py seed_demo`, in the `activities` app, writes them through
the activity services.
"""

from __future__ import annotations

import zlib
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
from django.db import transaction
from django.utils import timezone

from users import geo
from users.category_map import FOURSQUARE_CATEGORIES, category_mapping
from users.importers import (
    NYC_CHECKINS_FILE,
    NYC_TIMEZONE,
    CheckinDataset,
    CheckinRecord,
    ImportResult,
    PlaceRecord,
    ProgressCallback,
    checkins_load,
    foursquare_nyc_dataset,
    place_name,
)
from users.models import Follow, Location, Place, Profile, User
from users.taxonomy import ACTIVITY_TYPES, PLACE_TYPES, SKILL_MAX, SKILL_MIN

#: The password of every demo account, printed by `manage.py seed_demo`. A demo credential, never a secret.
DEMO_PASSWORD = "vicino-demo-2026"  # noqa: S105

SYNTHETIC_SOURCE = "demo"
#: Not "demo_": that prefix belongs to the demo logins, which must never be mistaken for generated people.
SYNTHETIC_USERNAME_PREFIX = "synth_"
SYNTHETIC_SEED = 2026
SYNTHETIC_PEOPLE = 400
SYNTHETIC_DAYS = 60
#: Fixed, not "now": the generated check-ins must be the same rows on every run, or a rerun would add more.
SYNTHETIC_TIMELINE_END = datetime(2026, 11, 1, tzinfo=UTC)
#: Reference year for ages, so birth years do not shift with the date the demo is seeded.
DEMO_REFERENCE_YEAR = 2026

#: (name, latitude, longitude): the synthetic city's clusters, and where demo activities are placed.
NEIGHBOURHOODS: tuple[tuple[str, float, float], ...] = (
    ("Midtown", 40.7549, -73.9840),
    ("Chelsea", 40.7465, -74.0014),
    ("East Village", 40.7265, -73.9815),
    ("Upper West Side", 40.7870, -73.9754),
    ("Financial District", 40.7075, -74.0113),
    ("Harlem", 40.8116, -73.9465),
)

#: Synthetic venues per place type: 300 in all, every place type present.
SYNTHETIC_PLACES_PER_TYPE: dict[str, int] = {
    "food": 55, "nightlife": 25, "entertainment": 15, "shopping": 25, "transport": 20, "outdoors": 25,
    "sports": 30, "arts": 15, "health": 10, "travel": 10, "services": 10, "education": 12, "work": 24,
    "home": 20, "other": 4,
}  # fmt: skip

#: Tastes the synthetic people mix: weights over place types.
PERSONAS: dict[str, dict[str, float]] = {
    "athlete": {"sports": 5, "outdoors": 4, "food": 1.5, "transport": 1, "home": 1},
    "foodie": {"food": 5, "nightlife": 2.5, "shopping": 1, "transport": 1, "home": 1},
    "culture": {"arts": 4, "entertainment": 3, "food": 2, "education": 1, "transport": 1},
    "night_owl": {"nightlife": 5, "entertainment": 2, "food": 2, "transport": 1, "home": 1},
    "homebody": {"home": 3, "shopping": 2, "outdoors": 2, "health": 1, "services": 1},
    "professional": {"work": 4, "food": 2, "transport": 2, "services": 1, "travel": 1},
}

#: Local hours at which each place type is visited (repeats weigh an hour more).
PLACE_TYPE_HOURS: dict[str, tuple[int, ...]] = {
    "food": (8, 9, 12, 12, 13, 13, 18, 19, 19, 20, 21),
    "nightlife": (19, 20, 21, 22, 22, 23, 23, 0, 1),
    "work": (8, 9, 9, 10, 13, 14, 17),
    "sports": (6, 7, 7, 8, 17, 18, 18, 19, 20),
    "outdoors": (8, 10, 11, 13, 14, 15, 16, 17),
    "arts": (11, 13, 14, 15, 16, 19, 20),
    "entertainment": (14, 18, 19, 20, 21, 22),
    "shopping": (11, 12, 13, 14, 15, 16, 17, 18),
    "transport": (7, 8, 8, 9, 17, 18, 18, 19),
    "home": (7, 19, 20, 21, 22, 23),
    "education": (8, 9, 10, 11, 13, 14, 15),
    "health": (9, 10, 11, 14, 15, 16),
    "travel": (10, 12, 15, 18, 21),
    "services": (9, 10, 11, 12, 14, 16, 17),
    "other": (10, 12, 14, 16, 18),
}
WEEKDAY_ONLY_PLACE_TYPES = frozenset({"work", "education"})
WEEKEND_LEANING_PLACE_TYPES = frozenset({"outdoors", "arts", "entertainment", "nightlife", "shopping"})

#: What a liking for each activity type follows from: (interest or place type, weight) pairs.
ACTIVITY_AFFINITIES: dict[str, tuple[tuple[str, float], ...]] = {
    "badminton": (("sports", 1.0), ("fitness", 0.5)),
    "tennis": (("sports", 1.0), ("outdoors", 0.3)),
    "basketball": (("sports", 1.0), ("outdoors", 0.3)),
    "football": (("sports", 1.0), ("outdoors", 0.4)),
    "running": (("fitness", 0.8), ("outdoors", 0.8)),
    "cycling": (("outdoors", 1.0), ("fitness", 0.4)),
    "hiking": (("outdoors", 1.0), ("travel", 0.3)),
    "climbing": (("fitness", 0.8), ("outdoors", 0.6)),
    "yoga": (("fitness", 0.7), ("wellness", 1.0)),
    "board_games": (("gaming", 1.0), ("coffee", 0.6), ("food", 0.3)),
}


# --- the synthetic city ----------------------------------------------------------------------------


def _categories_by_place_type() -> dict[str, list[str]]:
    by_type: dict[str, list[str]] = {place_type: [] for place_type in PLACE_TYPES}
    for name, mapping in sorted(FOURSQUARE_CATEGORIES.items()):
        by_type[mapping.place_type].append(name)
    return by_type


def _synthetic_places(rng: np.random.Generator) -> list[PlaceRecord]:
    categories = _categories_by_place_type()
    places = []
    for place_type, count in SYNTHETIC_PLACES_PER_TYPE.items():
        for _ in range(count):
            number = len(places) + 1
            _name, centre_lat, centre_lon = NEIGHBOURHOODS[int(rng.integers(len(NEIGHBOURHOODS)))]
            latitude = round(centre_lat + float(rng.normal(0, 0.005)), 6)
            longitude = round(centre_lon + float(rng.normal(0, 0.006)), 6)
            category = str(rng.choice(categories[place_type]))
            mapping = category_mapping(category)
            places.append(
                PlaceRecord(
                    external_id=f"demo-place-{number:03d}",
                    name=place_name(
                        category=category,
                        mapping=mapping,
                        latitude=latitude,
                        longitude=longitude,
                        fallback=f"demo #{number}",
                    ),
                    category=category,
                    mapping=mapping,
                    latitude=latitude,
                    longitude=longitude,
                )
            )
    return places


@dataclass(frozen=True)
class _SyntheticPerson:
    key: str
    neighbourhood: int
    persona_mix: np.ndarray
    home_place: str
    work_place: str


def _cdf(weights: np.ndarray) -> np.ndarray:
    cumulative = np.cumsum(weights, dtype=np.float64)
    return cumulative / cumulative[-1]


def _draw(cdf: np.ndarray, uniform: float) -> int:
    """The index a uniform draw in [0, 1) falls on, given cumulative weights."""
    return min(int(np.searchsorted(cdf, uniform, side="right")), len(cdf) - 1)


def _persona_place_type_weights(persona_mix: np.ndarray) -> np.ndarray:
    weights = np.full(len(PLACE_TYPES), 0.05)
    for share, persona in zip(persona_mix, PERSONAS.values(), strict=True):
        for place_type, weight in persona.items():
            weights[PLACE_TYPES.index(place_type)] += share * weight
    return weights / weights.sum()


def synthetic_city_dataset(*, seed: int = SYNTHETIC_SEED, people: int = SYNTHETIC_PEOPLE) -> CheckinDataset:
    """A Manhattan-like city: ~300 venues in six neighbourhoods, people with coherent tastes, 60 days of
    check-ins, mutual friendships and one-way follows. The same seed gives the same records."""
    rng = np.random.default_rng(seed)
    places = _synthetic_places(rng)
    by_type: dict[str, list[int]] = {place_type: [] for place_type in PLACE_TYPES}
    for index, place in enumerate(places):
        by_type[place.mapping.place_type].append(index)
    centres = np.array([(lat, lon) for _name, lat, lon in NEIGHBOURHOODS])
    place_coords = np.array([(place.latitude, place.longitude) for place in places])

    # Near venues are visited more: weight exp(-distance / 1.5 km) from each neighbourhood's centre. Draws
    # go through cumulative weights (one uniform each): rng.choice(p=...) per check-in is ten times slower.
    nearness = np.exp(
        -np.stack(
            [geo.haversine_km_many(lat, lon, place_coords[:, 0], place_coords[:, 1]) for lat, lon in centres]
        )
        / 1.5
    )
    venue_cdfs = {
        (neighbourhood, place_type): _cdf(nearness[neighbourhood, candidates])
        for neighbourhood in range(len(NEIGHBOURHOODS))
        for place_type, candidates in by_type.items()
        if candidates
    }

    def venue_pick(neighbourhood: int, place_type: str, uniform: float) -> str:
        candidates = by_type[place_type]
        return places[candidates[_draw(venue_cdfs[neighbourhood, place_type], uniform)]].external_id

    persons: list[_SyntheticPerson] = []
    for number in range(1, people + 1):
        neighbourhood = int(rng.integers(len(NEIGHBOURHOODS)))
        # A low concentration makes most people lean on one or two personas: clear, learnable tastes.
        persona_mix = rng.dirichlet(np.full(len(PERSONAS), 0.4))
        persons.append(
            _SyntheticPerson(
                key=f"{number:03d}",
                neighbourhood=neighbourhood,
                persona_mix=persona_mix,
                home_place=venue_pick(neighbourhood, "home", float(rng.random())),
                work_place=places[int(rng.choice(by_type["work"]))].external_id,
            )
        )

    local_end = SYNTHETIC_TIMELINE_END.astimezone(NYC_TIMEZONE).date()
    days = [local_end - timedelta(days=offset) for offset in range(1, SYNTHETIC_DAYS + 1)]
    weekend = np.array([day.weekday() >= 5 for day in days])
    day_cdfs = {
        "weekday_only": _cdf(np.where(weekend, 0.0, 1.0)),
        "weekend_leaning": _cdf(np.where(weekend, 2.5, 1.0)),
        "any": _cdf(np.ones(len(days))),
    }

    checkins: list[CheckinRecord] = []
    for person in persons:
        type_cdf = _cdf(_persona_place_type_weights(person.persona_mix))
        hour_shift = int(rng.integers(-1, 2))  # early birds and night owls
        count = 10 + int(rng.poisson(35))
        draws = rng.random((count, 4))
        minutes = rng.integers(60, size=count)
        for (type_uniform, venue_uniform, day_uniform, hour_uniform), minute in zip(
            draws, minutes, strict=True
        ):
            place_type = PLACE_TYPES[_draw(type_cdf, type_uniform)]
            if place_type == "home":
                place_key = person.home_place
            elif place_type == "work":
                place_key = person.work_place
            else:
                place_key = venue_pick(person.neighbourhood, place_type, venue_uniform)
            if place_type in WEEKDAY_ONLY_PLACE_TYPES:
                day_kind = "weekday_only"
            elif place_type in WEEKEND_LEANING_PLACE_TYPES:
                day_kind = "weekend_leaning"
            else:
                day_kind = "any"
            day = days[_draw(day_cdfs[day_kind], day_uniform)]
            hours = PLACE_TYPE_HOURS[place_type]
            hour = (hours[int(hour_uniform * len(hours))] + hour_shift) % 24
            local = datetime(day.year, day.month, day.day, hour, int(minute), tzinfo=NYC_TIMEZONE)
            checkins.append(CheckinRecord(person=person.key, place=place_key, at=local.astimezone(UTC)))

    friendships, follows = _synthetic_social_graph(rng, persons)
    return CheckinDataset(
        source=SYNTHETIC_SOURCE,
        username_prefix=SYNTHETIC_USERNAME_PREFIX,
        places=places,
        checkins=lambda: iter(checkins),
        friendships=lambda: iter(friendships),
        follows=lambda: iter(follows),
        local_timezone=NYC_TIMEZONE,
        checkin_count_hint=len(checkins),
        notes=(f"synthetic city, seed {seed}",),
    )


def _synthetic_social_graph(
    rng: np.random.Generator, persons: Sequence[_SyntheticPerson]
) -> tuple[list[tuple[str, str]], list[tuple[str, str]]]:
    """Friendships (mutual) and one-way follows, likelier between neighbours with similar tastes."""
    mixes = np.stack([person.persona_mix for person in persons])
    mixes = mixes / np.linalg.norm(mixes, axis=1, keepdims=True)
    similarity = mixes @ mixes.T
    neighbourhoods = np.array([person.neighbourhood for person in persons])
    friendships: set[tuple[int, int]] = set()
    follows: set[tuple[int, int]] = set()
    for index in range(len(persons)):
        affinity = (0.2 + similarity[index]) * np.where(neighbourhoods == neighbourhoods[index], 3.0, 1.0)
        affinity[index] = 0.0
        probabilities = affinity / affinity.sum()
        for other in rng.choice(len(persons), size=int(rng.poisson(2.5)), replace=False, p=probabilities):
            friendships.add((min(index, int(other)), max(index, int(other))))
        for other in rng.choice(len(persons), size=int(rng.poisson(1.5)), replace=False, p=probabilities):
            follows.add((index, int(other)))
    follows -= friendships | {(b, a) for a, b in friendships}
    return (
        [(persons[a].key, persons[b].key) for a, b in sorted(friendships)],
        [(persons[a].key, persons[b].key) for a, b in sorted(follows)],
    )


# --- profiles the data cannot tell -------------------------------------------------------------------


def _person_rng(username: str) -> np.random.Generator:
    # Seeded by the username, not the database id: ids differ between databases, the demo must not.
    return np.random.default_rng([SYNTHETIC_SEED, zlib.crc32(username.encode())])


def demo_profile_fields(*, username: str, profile: Profile) -> dict[str, object]:
    """Demographics, activity preferences, skills and a bio for one person, in line with what they visit."""
    rng = _person_rng(username)
    # What they visit, as place types and interests (the interest wins where the vocabularies share a word).
    tastes = {**profile.place_type_preferences, **profile.interests}
    age = int(np.clip(rng.normal(33, 10), 18, 80))
    education = int(rng.choice([1, 2, 3, 4, 5, 6], p=[0.03, 0.2, 0.12, 0.38, 0.22, 0.05]))
    if age < 23 and rng.random() < 0.7:
        occupation = "student"
    elif age >= 65:
        occupation = "retired"
    elif tastes.get("work", 0) >= 0.3:
        occupation = str(rng.choice(["employed", "self_employed"], p=[0.85, 0.15]))
    else:
        occupation = str(
            rng.choice(
                ["employed", "self_employed", "unemployed", "homemaker", "other"],
                p=[0.6, 0.15, 0.1, 0.1, 0.05],
            )
        )
    if age < 27:
        marital = str(rng.choice(["single", "partnered"], p=[0.7, 0.3]))
    else:
        marital = str(rng.choice(["single", "partnered", "married", "divorced"], p=[0.3, 0.2, 0.4, 0.1]))
    languages = ["en"] + [
        code
        for code, share in (("es", 0.25), ("zh", 0.08), ("fr", 0.05), ("it", 0.04))
        if rng.random() < share
    ]

    activity_preferences: dict[str, float] = {}
    skills: dict[str, int] = {}
    for activity_type in ACTIVITY_TYPES:
        affinity = max(tastes.get(key, 0.0) * weight for key, weight in ACTIVITY_AFFINITIES[activity_type])
        preference = float(np.clip(affinity * rng.uniform(0.6, 1.0) + rng.normal(0, 0.08), 0, 1))
        if preference >= 0.05:
            activity_preferences[activity_type] = round(preference, 3)
        if preference >= 0.3:
            skills[activity_type] = int(
                np.clip(round(1 + preference * 3 + rng.normal(0, 0.7)), SKILL_MIN, SKILL_MAX)
            )

    favourite_activity = max(activity_preferences, key=activity_preferences.__getitem__, default="")
    favourite_interest = max(profile.interests, key=profile.interests.__getitem__, default="")
    likes = [label.replace("_", " ") for label in (favourite_activity, favourite_interest) if label]
    return {
        "birth_year": DEMO_REFERENCE_YEAR - age,
        "gender": str(rng.choice(["female", "male", "non_binary"], p=[0.48, 0.48, 0.04])),
        "education_level": education,
        "income_level": int(np.clip(round(education * 0.6 + rng.normal(0.6, 1.0)), 1, 5)),
        "occupation": occupation,
        "marital_status": marital,
        "city_level": 1,  # everyone here lives in New York
        "years_at_residence": int(min(age - 18, rng.geometric(0.15) - 1)),
        "languages": languages,
        "activity_preferences": activity_preferences,
        "skills": skills,
        "bio": f"Into {' and '.join(likes)}." if likes else "",
    }


DEMO_PROFILE_FIELDS = (
    "birth_year", "gender", "education_level", "income_level", "occupation", "marital_status", "city_level",
    "years_at_residence", "languages", "activity_preferences", "skills", "bio",
)  # fmt: skip


def demo_profiles_fill(*, username_prefix: str, batch_size: int = 1_000) -> int:
    """Fill the demo people's profiles; the same values on every run. Returns how many were filled."""
    profiles = list(
        Profile.objects.filter(user__username__startswith=username_prefix)
        .select_related("user")
        .order_by("user_id")
    )
    for profile in profiles:
        for name, value in demo_profile_fields(username=profile.user.username, profile=profile).items():
            setattr(profile, name, value)
    with transaction.atomic():
        # An upsert on existing rows: Django's bulk_update builds a CASE per field per row, ~20x slower.
        Profile.objects.bulk_create(
            profiles,
            batch_size=batch_size,
            update_conflicts=True,
            unique_fields=["user"],
            update_fields=DEMO_PROFILE_FIELDS,
        )
    return len(profiles)


# --- demo accounts and activities --------------------------------------------------------------------


@dataclass(frozen=True)
class DemoAccount:
    username: str
    role: str
    display_name: str
    latitude: float
    longitude: float
    interests: dict[str, float]
    place_type_preferences: dict[str, float]
    time_preferences: dict[str, float]
    activity_preferences: dict[str, float]
    skills: dict[str, int]


DEMO_ACCOUNTS: tuple[DemoAccount, ...] = (
    DemoAccount(
        username="demo_person",
        role=User.Role.PERSON,
        display_name="Dana (demo)",
        latitude=40.7527,  # by Grand Central
        longitude=-73.9772,
        interests={"sports": 1.0, "outdoors": 0.8, "coffee": 0.6, "food": 0.5},
        place_type_preferences={"sports": 1.0, "outdoors": 0.7, "food": 0.6, "work": 0.5, "home": 0.4},
        time_preferences={"weekday": 0.6, "weekend": 1.0, "morning": 0.7, "evening": 1.0},
        activity_preferences={"badminton": 0.9, "running": 0.7, "tennis": 0.5, "board_games": 0.3},
        skills={"badminton": 3, "running": 2, "tennis": 2},
    ),
    DemoAccount(
        username="demo_organiser",
        role=User.Role.ORGANISER,
        display_name="Olly (demo)",
        latitude=40.7445,  # Chelsea
        longitude=-73.9995,
        interests={"sports": 1.0, "fitness": 0.7, "gaming": 0.5},
        place_type_preferences={"sports": 1.0, "food": 0.6, "outdoors": 0.5, "entertainment": 0.3},
        time_preferences={"weekday": 0.5, "weekend": 1.0, "afternoon": 1.0, "evening": 0.8},
        activity_preferences={"badminton": 1.0, "running": 0.6, "board_games": 0.6, "tennis": 0.5},
        skills={"badminton": 4, "running": 3, "tennis": 3, "board_games": 3},
    ),
    DemoAccount(
        username="demo_marketer",
        role=User.Role.MARKETER,
        display_name="Mara (demo)",
        latitude=40.7069,  # Financial District
        longitude=-74.0113,
        interests={"food": 1.0, "shopping": 0.6, "fashion": 0.5},
        place_type_preferences={"work": 1.0, "food": 0.8, "shopping": 0.6},
        time_preferences={"weekday": 1.0, "weekend": 0.4, "afternoon": 0.7, "evening": 1.0},
        activity_preferences={"yoga": 0.6},
        skills={"yoga": 2},
    ),
)


def demo_accounts_ensure() -> dict[str, User]:
    """The three demo logins, with DEMO_PASSWORD, profiles and a current location in Manhattan."""
    accounts: dict[str, User] = {}
    now = timezone.now()
    for account in DEMO_ACCOUNTS:
        with transaction.atomic():
            user, _created = User.objects.get_or_create(
                username=account.username,
                defaults={"email": f"{account.username}@example.org", "display_name": account.display_name},
            )
            user.role = account.role
            user.display_name = account.display_name
            # Set every run, so a changed password on a demo machine never locks the presenter out.
            user.set_password(DEMO_PASSWORD)
            user.save(update_fields=["role", "display_name", "password"])
            profile, _created = Profile.objects.get_or_create(user=user)
            tastes = {
                "interests": account.interests,
                "place_type_preferences": account.place_type_preferences,
                "time_preferences": account.time_preferences,
                "activity_preferences": account.activity_preferences,
                "skills": account.skills,
            }
            for name, value in tastes.items():
                setattr(profile, name, value)
            # Demographics as for everyone else (seeded by username, read from the tastes just set, so a
            # rerun computes the same); the tastes and the bio stay hand-written.
            generated = demo_profile_fields(username=account.username, profile=profile)
            for name, value in generated.items():
                if name not in tastes:
                    setattr(profile, name, value)
            profile.bio = f"The {account.role} demo account."
            profile.save()
            Location.objects.update_or_create(
                user=user,
                defaults={
                    "latitude": account.latitude,
                    "longitude": account.longitude,
                    "geohash": geo.encode(account.latitude, account.longitude),
                    "accuracy_m": 20.0,
                    "updated_at": now,
                },
            )
        accounts[account.username] = user
    return accounts


@dataclass(frozen=True)
class DemoActivityPlan:
    title: str
    activity_type: str
    subtype: str
    #: Venue categories that suit, best first, then place types to fall back on.
    venue_categories: tuple[str, ...]
    venue_place_types: tuple[str, ...]
    neighbourhood: str
    #: The next such weekday (0 = Monday) after today, `weeks_later` weeks on: always within a fortnight.
    weekday: int
    local_hour: int
    hours: int
    skill_level: int | None
    capacity: int
    participants: int
    weeks_later: int = 0
    #: False: organised by the dataset person keenest on this activity type instead of demo_organiser.
    organised_by_demo_organiser: bool = True


DEMO_ACTIVITIES: tuple[DemoActivityPlan, ...] = (
    DemoActivityPlan(
        title="Saturday badminton doubles", activity_type="badminton", subtype="doubles",
        venue_categories=("Athletic & Sport", "Gym / Fitness Center"), venue_place_types=("sports",),
        neighbourhood="Chelsea", weekday=5, local_hour=14, hours=2, skill_level=2, capacity=4, participants=2,
    ),
    DemoActivityPlan(
        title="Easy 5k along the river", activity_type="running", subtype="",
        venue_categories=("Park", "Other Great Outdoors", "River"), venue_place_types=("outdoors",),
        neighbourhood="Upper West Side", weekday=1, local_hour=7, hours=1, skill_level=None, capacity=10,
        participants=3,
    ),
    DemoActivityPlan(
        title="Tennis rally, all levels", activity_type="tennis", subtype="singles",
        venue_categories=("Athletic & Sport", "Park"), venue_place_types=("sports", "outdoors"),
        neighbourhood="Midtown", weekday=3, local_hour=18, hours=2, skill_level=3, capacity=4, participants=2,
    ),
    DemoActivityPlan(
        title="Board games at the café", activity_type="board_games", subtype="",
        venue_categories=("Café", "Coffee Shop", "Tea Room"), venue_place_types=("food",),
        neighbourhood="East Village", weekday=4, local_hour=19, hours=3, skill_level=None, capacity=6,
        participants=3,
    ),
    DemoActivityPlan(
        title="Sunset yoga in the park", activity_type="yoga", subtype="",
        venue_categories=("Park", "Garden", "Gym / Fitness Center"), venue_place_types=("outdoors", "sports"),
        neighbourhood="Upper West Side", weekday=2, local_hour=18, hours=1, skill_level=1, capacity=12,
        participants=3, weeks_later=1, organised_by_demo_organiser=False,
    ),
    DemoActivityPlan(
        title="Pickup basketball", activity_type="basketball", subtype="3 on 3",
        venue_categories=("Athletic & Sport", "Playground", "Park"), venue_place_types=("sports", "outdoors"),
        neighbourhood="Harlem", weekday=6, local_hour=15, hours=2, skill_level=2, capacity=8, participants=3,
        weeks_later=1, organised_by_demo_organiser=False,
    ),
)  # fmt: skip


def _neighbourhood_centre(name: str) -> tuple[float, float]:
    for neighbourhood, latitude, longitude in NEIGHBOURHOODS:
        if neighbourhood == name:
            return latitude, longitude
    raise KeyError(name)


#: A preferred venue category is used only if one lies this close to the neighbourhood's centre.
DEMO_VENUE_RADIUS_KM = 3.0


def _demo_venue(*, plan: DemoActivityPlan, source: str) -> Place:
    """A suitable public venue near the plan's neighbourhood.

    The best-ranked category with a venue within DEMO_VENUE_RADIUS_KM wins (a park for yoga beats a nearer
    gym); failing that, the nearest venue of a suitable place type; failing that, the nearest public one.
    """
    latitude, longitude = _neighbourhood_centre(plan.neighbourhood)
    public = Place.objects.filter(source=source).exclude(place_type="home")

    def nearest(candidates) -> tuple[float, int] | None:
        rows = list(candidates.values_list("id", "external_id", "latitude", "longitude"))
        if not rows:
            return None
        best = min(rows, key=lambda row: (geo.haversine_km(latitude, longitude, row[2], row[3]), row[1]))
        return geo.haversine_km(latitude, longitude, best[2], best[3]), best[0]

    for category in plan.venue_categories:
        found = nearest(public.filter(category=category))
        if found is not None and found[0] <= DEMO_VENUE_RADIUS_KM:
            return Place.objects.get(pk=found[1])
    for candidates in (public.filter(place_type__in=plan.venue_place_types), public):
        found = nearest(candidates)
        if found is not None:
            return Place.objects.get(pk=found[1])
    raise LookupError(f"no {source!r} places to hold demo activities; import a dataset first")


def _keenest_people(
    *, username_prefix: str, activity_type: str, near: Place, exclude: set[int], count: int
) -> list[User]:
    """People of the demo dataset who like this activity most, among those within 5 km of the venue."""
    rows = list(
        Profile.objects.filter(user__username__startswith=username_prefix, user__location__isnull=False)
        .exclude(user_id__in=exclude)
        .values_list(
            "user_id",
            "user__username",
            "activity_preferences",
            "user__location__latitude",
            "user__location__longitude",
        )
    )
    nearby = [
        row for row in rows if geo.haversine_km(near.latitude, near.longitude, row[3], row[4]) <= 5.0
    ] or rows  # a sparse city: fall back to anyone
    ranked = sorted(nearby, key=lambda row: (-row[2].get(activity_type, 0.0), row[1]))[:count]
    users = User.objects.in_bulk([row[0] for row in ranked])
    return [users[row[0]] for row in ranked]


@dataclass(frozen=True)
class DemoActivitySpec:
    """One demo activity, resolved to a real venue and real people; `activities` writes it."""

    title: str
    activity_type: str
    subtype: str
    description: str
    place: Place
    organiser: User
    #: Who joins besides the organiser (the organiser is an activity's first participant).
    participants: tuple[User, ...]
    starts_at: datetime
    ends_at: datetime
    skill_level: int | None
    capacity: int


def demo_activity_specs(
    *, organiser: User, username_prefix: str, place_source: str
) -> list[DemoActivitySpec]:
    """The demo activities, at real venues near their neighbourhoods, in the coming fortnight.

    Everything here follows from the data and today's date, so a rerun on the same day resolves the same
    venues, organisers and participants. The dataset people chosen to organise are made organisers (only
    organisers create activities).
    """
    today = timezone.now().astimezone(NYC_TIMEZONE).date()
    specs = []
    organisers: set[int] = {organiser.pk}
    for plan in DEMO_ACTIVITIES:
        venue = _demo_venue(plan=plan, source=place_source)
        day = today + timedelta(days=(plan.weekday - today.weekday() - 1) % 7 + 1 + 7 * plan.weeks_later)
        local_start = datetime(day.year, day.month, day.day, plan.local_hour, tzinfo=NYC_TIMEZONE)
        plan_organiser = organiser
        if not plan.organised_by_demo_organiser:
            (plan_organiser,) = _keenest_people(
                username_prefix=username_prefix,
                activity_type=plan.activity_type,
                near=venue,
                exclude=organisers,
                count=1,
            )
            if plan_organiser.role != User.Role.ORGANISER:
                plan_organiser.role = User.Role.ORGANISER
                plan_organiser.save(update_fields=["role"])
            organisers.add(plan_organiser.pk)
        participants = _keenest_people(
            username_prefix=username_prefix,
            activity_type=plan.activity_type,
            near=venue,
            # Organisers too: the demo's own and the promoted ones run their activities, they do not join.
            exclude=organisers | {plan_organiser.pk},
            count=plan.participants,
        )
        specs.append(
            DemoActivitySpec(
                title=plan.title,
                activity_type=plan.activity_type,
                subtype=plan.subtype,
                description=f"A Vicino demo activity at {venue.name}.",
                place=venue,
                organiser=plan_organiser,
                participants=tuple(participants),
                starts_at=local_start.astimezone(UTC),
                ends_at=(local_start + timedelta(hours=plan.hours)).astimezone(UTC),
                skill_level=plan.skill_level,
                capacity=plan.capacity,
            )
        )
    return specs


def _demo_friends_ensure(*, person: User, username_prefix: str, count: int = 5) -> int:
    """Mutual follows between demo_person and the demo people living nearest them."""
    location = Location.objects.get(user=person)
    rows = list(
        Location.objects.filter(user__username__startswith=username_prefix).values_list(
            "user_id", "user__username", "latitude", "longitude"
        )
    )
    nearest = sorted(
        rows,
        key=lambda row: (geo.haversine_km(location.latitude, location.longitude, row[2], row[3]), row[1]),
    )[:count]
    follows = []
    for user_id, _username, _lat, _lon in nearest:
        follows += [
            Follow(follower=person, followee_id=user_id),
            Follow(follower_id=user_id, followee=person),
        ]
    Follow.objects.bulk_create(follows, ignore_conflicts=True)
    return len(nearest)


# --- the whole demo ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class DemoSummary:
    dataset: CheckinDataset
    import_result: ImportResult
    synthetic: bool
    profiles_filled: int
    accounts: dict[str, User]


def nyc_data_available(*, data_dir: Path) -> bool:
    return (data_dir / NYC_CHECKINS_FILE).is_file()


def demo_city_seed(
    *,
    data_dir: Path,
    synthetic: bool = False,
    people_limit: int | None = None,
    on_progress: ProgressCallback | None = None,
) -> DemoSummary:
    """Build (or top up) the demo city, its people and the demo logins; running it again adds nothing.

    The demo activities are planned by `demo_activity_specs` and written by the `seed_demo` command in
    `activities`, which sits above `users`.
    """
    use_synthetic = synthetic or not nyc_data_available(data_dir=data_dir)
    dataset = synthetic_city_dataset() if use_synthetic else foursquare_nyc_dataset(data_dir=data_dir)
    result = checkins_load(dataset=dataset, people_limit=people_limit, on_progress=on_progress)
    profiles_filled = demo_profiles_fill(username_prefix=dataset.username_prefix)
    accounts = demo_accounts_ensure()
    _demo_friends_ensure(person=accounts["demo_person"], username_prefix=dataset.username_prefix)
    # Historical check-ins end months or years ago; the demo presents everyone as being where they last
    # checked in right now, or "nearby" would find nobody fresh. Coordinates stay the last check-in's.
    Location.objects.filter(user__username__startswith=dataset.username_prefix).update(
        updated_at=timezone.now()
    )
    return DemoSummary(
        import_result=result,
        synthetic=use_synthetic,
        profiles_filled=profiles_filled,
        accounts=accounts,
        dataset=dataset,
    )
