"""The check-in importers: small fixture files in the real layouts, and the real Yelp set."""

from __future__ import annotations

import csv
from datetime import UTC, datetime
from io import StringIO
from pathlib import Path

import pytest
from django.conf import settings
from django.core.management import call_command
from django.core.management.base import CommandError

from users import geo
from users.category_map import (
    FOURSQUARE_CATEGORIES,
    category_mapping,
    category_table_markdown,
    yelp_category_mapping,
)
from users.importers import NYC_COLUMNS, foursquare_nyc_dataset, table_counts, yelp_dataset
from users.models import Follow, Location, LocationPing, Place, Profile, User, Visit

REPO_ROOT = Path(__file__).resolve().parents[2]

GETNEXT_COLUMNS = (
    "user_id", "POI_id", "POI_catid", "POI_catid_code", "POI_catname", "latitude", "longitude", "timezone",
    "UTC_time", "local_time", "day_of_week", "norm_in_day_time", "trajectory_id", "norm_day_shift",
    "norm_relative_time",
)  # fmt: skip

COFFEE = (40.7301, -73.9911)
BAR = (40.7221, -73.9881)
GYM = (40.7412, -73.9897)
PARK = (40.7829, -73.9654)
UNKNOWN = (40.6782, -73.9442)
HOME = (40.6501, -73.9496)


def _nyc_row(
    user: int, poi: int, minute: str, coords: tuple[float, float], venue: str = "", category: str = ""
):
    return [user, poi, f"{minute}:00Z", coords[0], coords[1], venue, "cat-id" if category else "", category]


#: Person 1's rows are out of time order (as in the STAN-derived file) and two share a minute; person 3
#: repeats one check-in exactly; poi 40 has no venue in the derived table, GETNext names it.
NYC_ROWS = [
    _nyc_row(1, 10, "2012-05-02T10:00", COFFEE, "v-coffee", "Coffee Shop"),
    _nyc_row(1, 20, "2012-05-03T20:00", BAR, "v-bar", "Bar"),
    _nyc_row(1, 30, "2012-05-01T08:00", GYM, "v-gym", "Gym / Fitness Center"),
    _nyc_row(1, 30, "2012-05-02T10:00", GYM, "v-gym", "Gym / Fitness Center"),
    _nyc_row(2, 40, "2012-11-10T12:34", PARK),
    _nyc_row(2, 50, "2012-11-11T09:00", UNKNOWN),
    _nyc_row(2, 20, "2012-11-12T21:00", BAR, "v-bar", "Bar"),
    _nyc_row(2, 10, "2012-11-09T07:30", COFFEE, "v-coffee", "Coffee Shop"),
    _nyc_row(3, 10, "2012-06-01T12:00", COFFEE, "v-coffee", "Coffee Shop"),
    _nyc_row(3, 10, "2012-06-01T12:00", COFFEE, "v-coffee", "Coffee Shop"),
    _nyc_row(3, 60, "2012-06-01T22:00", HOME, "v-home", "Home (private)"),
]


def _getnext_row(user: int, venue: str, category: str, coords: tuple[float, float], utc: str) -> list:
    return [
        user,
        venue,
        "cat-id",
        1,
        category,
        coords[0],
        coords[1],
        -300,
        utc,
        utc,
        5,
        0.5,
        f"{user}_1",
        0,
        0.5,
    ]


def write_nyc_fixture(root: Path) -> Path:
    derived = root / "foursquare-nyc" / "derived"
    derived.mkdir(parents=True)
    with (derived / "nyc_checkins_full_derived.csv").open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(NYC_COLUMNS)
        writer.writerows(NYC_ROWS)
    getnext = {
        # ~11 m from the STAN point, same person, same minute: poi 40 is venue v-park, a Park.
        "getnext_NYC_val.csv": [
            _getnext_row(2, "v-park", "Park", (PARK[0] + 0.0001, PARK[1]), "2012-11-10 12:34:56+00:00")
        ],
        # Same person and minute as poi 50, but ~5 km away: too far to be the same venue.
        "getnext_NYC_test.csv": [
            _getnext_row(2, "v-far", "Museum", (UNKNOWN[0] + 0.05, UNKNOWN[1]), "2012-11-11 09:00:10+00:00"),
            _getnext_row(1, "v-coffee", "Coffee Shop", COFFEE, "2012-05-02 10:00:00+00:00"),
        ],
    }
    for name, rows in getnext.items():
        with (root / "foursquare-nyc" / name).open("w", newline="") as handle:
            writer = csv.writer(handle)
            writer.writerow(GETNEXT_COLUMNS)
            writer.writerows(rows)
    return root


def write_yelp_fixture(root: Path, *, prefix: str = "Mini") -> Path:
    folder = root / "lbsn-yelp-liu2017" / "Yelp_mini"
    folder.mkdir(parents=True)
    files = {
        # Person 0 reviews two places the same day (one ping); person 1 repeats a row exactly (one visit).
        "check_ins": ["0\t0\t1185638400.0", "0\t1\t1185638400.0", "1\t1\t1200000000.0", "1\t1\t1200000000.0",
                      "2\t2\t1300000000.0", "2\t0\t1100000000.0"],
        "poi_coos": ["0\t40.3980741\t-80.0833859", "1\t36.1146\t-115.1728", "2\t43.6532\t-79.3832"],
        "poi_categories": ["0\t5", "0\t7", "1\t9"],
        # Person 3 has friends but no check-ins.
        "social_relations": ["0\t1", "1\t2", "3\t0"],
    }  # fmt: skip
    for suffix, lines in files.items():
        (folder / f"{prefix}_{suffix}.txt").write_text("\n".join(lines) + "\n")
    return root


def _import(*args: str) -> str:
    out, err = StringIO(), StringIO()
    call_command("import_checkins", *args, stdout=out, stderr=err)
    return out.getvalue()


def _added_rows(output: str) -> dict[str, int]:
    added = {}
    for line in output.splitlines():
        parts = line.split()
        if len(parts) == 4 and parts[0] in {
            "users",
            "profiles",
            "places",
            "visits",
            "pings",
            "locations",
            "follows",
        }:
            added[parts[0]] = int(parts[3].replace(",", ""))
    return added


# --- the category table ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "name,place_type,interests",
    [
        ("Home (private)", "home", ()),
        ("Office", "work", ()),
        ("Subway", "transport", ()),
        ("Train Station", "transport", ()),
        ("Bus Station", "transport", ()),
        ("Airport", "transport", ("travel",)),
        ("Bar", "nightlife", ("nightlife",)),
        ("Gym / Fitness Center", "sports", ("fitness",)),
        ("Coffee Shop", "food", ("coffee",)),
        ("Park", "outdoors", ("outdoors",)),
        ("Ramen /  Noodle House", "food", ("food",)),  # the data's own double space
        ("ramen / noodle house", "food", ("food",)),
        # Not in the table: keyword rules, then "other".
        ("Tennis Court", "sports", ("sports", "fitness")),
        ("Wine Bar", "nightlife", ("nightlife",)),
        ("Home Service", "services", ()),
        ("Tea Shop", "food", ("coffee",)),
        ("Steakhouse Supply Co", "food", ("food",)),
        ("Quantum Portal", "other", ()),
        ("", "other", ()),
    ],
)
def test_category_mapping(name, place_type, interests):
    mapping = category_mapping(name)
    assert (mapping.place_type, mapping.interests) == (place_type, interests)


def test_only_homes_are_private_and_yelp_ids_map_to_other():
    assert category_mapping("Home (private)").private
    assert category_mapping("Residential Building (Apartment / Condo)").private
    assert not category_mapping("Coffee Shop").private
    assert yelp_category_mapping(12) == category_mapping("no such category")
    assert yelp_category_mapping(12).place_type == "other"


def test_every_category_in_the_real_nyc_files_is_mapped_explicitly():
    folder = settings.VICINO_DATA_DIR / "foursquare-nyc"
    names = set()
    with (folder / "derived" / "nyc_checkins_full_derived.csv").open(newline="") as handle:
        names |= {row["category_name"] for row in csv.DictReader(handle) if row["category_name"]}
    for split in ("val", "test"):
        with (folder / f"getnext_NYC_{split}.csv").open(newline="") as handle:
            names |= {row["POI_catname"] for row in csv.DictReader(handle)}
    assert len(names) == 192
    assert names == set(FOURSQUARE_CATEGORIES)


def test_docs_carry_the_generated_category_table():
    printed = _import("--print-category-table")
    assert printed == category_table_markdown()
    assert printed in (REPO_ROOT / "docs" / "data.md").read_text()


# --- Foursquare NYC ------------------------------------------------------------------------------------


@pytest.mark.django_db
def test_nyc_import_counts_places_people_and_history(tmp_path):
    output = _import("--dataset", "foursquare-nyc", "--data-dir", str(write_nyc_fixture(tmp_path)))

    assert _added_rows(output) == {
        "users": 3,
        "profiles": 3,
        "places": 6,
        # 11 rows, one an exact repeat.
        "visits": 10,
        # Person 1 checked in twice at 2012-05-02 10:00, person 3 twice at 12:00: the first of each stays.
        "pings": 9,
        "locations": 3,
        "follows": 0,
    }
    assert "read 11 check-ins, 6 places" in output
    assert User.objects.filter(username__in=["nyc_1", "nyc_2", "nyc_3"]).count() == 3
    person = User.objects.get(username="nyc_1")
    assert not person.has_usable_password()
    assert person.role == User.Role.PERSON

    places = {place.external_id: place for place in Place.objects.filter(source="foursquare-nyc")}
    assert set(places) == {"v-coffee", "v-bar", "v-gym", "v-park", "poi-50", "v-home"}
    assert places["v-park"].category == "Park" and places["v-park"].place_type == "outdoors"
    assert places["poi-50"].category == "" and places["poi-50"].place_type == "other"
    assert places["v-gym"].place_type == "sports"
    assert places["v-coffee"].name == f"Coffee Shop · {geo.encode(*COFFEE, 6)}"
    assert places["v-coffee"].geohash == geo.encode(*COFFEE)
    # Homes are never named after where they are.
    assert places["v-home"].name == "Home (private) · NYC #60"
    assert places["v-home"].place_type == "home"

    gym_ping = LocationPing.objects.get(user=person, recorded_at=datetime(2012, 5, 2, 10, 0, tzinfo=UTC))
    assert (gym_ping.latitude, gym_ping.longitude) == COFFEE  # the first row read in that minute
    assert gym_ping.source == LocationPing.Source.IMPORT
    assert Visit.objects.filter(user=person).count() == 4


@pytest.mark.django_db
def test_current_location_is_the_last_checkin_by_time(tmp_path):
    _import("--dataset", "foursquare-nyc", "--data-dir", str(write_nyc_fixture(tmp_path)))
    expected = {
        "nyc_1": (BAR, datetime(2012, 5, 3, 20, 0, tzinfo=UTC)),
        "nyc_2": (BAR, datetime(2012, 11, 12, 21, 0, tzinfo=UTC)),
        "nyc_3": (HOME, datetime(2012, 6, 1, 22, 0, tzinfo=UTC)),
    }
    for username, (coords, at) in expected.items():
        location = Location.objects.get(user__username=username)
        assert (location.latitude, location.longitude, location.updated_at) == (*coords, at)
        assert location.geohash == geo.encode(*coords)


@pytest.mark.django_db
def test_profiles_hold_normalised_strengths_of_what_people_visited(tmp_path):
    _import("--dataset", "foursquare-nyc", "--data-dir", str(write_nyc_fixture(tmp_path)))
    profile = Profile.objects.get(user__username="nyc_1")
    # Two gym visits, one coffee shop, one bar.
    assert profile.interests == {"fitness": 1.0, "coffee": 0.5, "nightlife": 0.5}
    assert profile.place_type_preferences == {"food": 0.5, "nightlife": 0.5, "sports": 1.0}
    assert all(0 < value <= 1 for value in profile.time_preferences.values())
    # In New York time (EDT): 06:00 twice (morning), 16:00 (afternoon), 04:00 (night), all on weekdays.
    assert profile.time_preferences == {"weekday": 1.0, "morning": 1.0, "afternoon": 0.5, "night": 0.5}


@pytest.mark.django_db
def test_a_second_run_adds_nothing(tmp_path):
    data_dir = str(write_nyc_fixture(tmp_path / "nyc"))
    _import("--dataset", "foursquare-nyc", "--data-dir", data_dir)
    before = table_counts()
    second = _import("--dataset", "foursquare-nyc", "--data-dir", data_dir)
    assert set(_added_rows(second).values()) == {0}
    assert table_counts() == before


@pytest.mark.django_db
def test_people_limit_keeps_the_first_people_by_id(tmp_path):
    output = _import(
        "--dataset", "foursquare-nyc", "--people", "2", "--data-dir", str(write_nyc_fixture(tmp_path))
    )
    assert set(User.objects.values_list("username", flat=True)) == {"nyc_1", "nyc_2"}
    assert _added_rows(output)["visits"] == 8
    assert "check-ins skipped (unknown place, outside --people): 3" in output


def test_getnext_fill_needs_the_same_minute_and_a_near_position(tmp_path):
    dataset = foursquare_nyc_dataset(data_dir=write_nyc_fixture(tmp_path))
    by_id = {place.external_id: place for place in dataset.places}
    assert "v-park" in by_id and "poi-40" not in by_id
    assert "v-far" not in by_id and "poi-50" in by_id
    assert any("venue ids filled from GETNext: 1 places" in note for note in dataset.notes)


def test_missing_files_are_a_clear_command_error(tmp_path):
    with pytest.raises(CommandError, match="Foursquare NYC check-ins not found"):
        _import("--dataset", "foursquare-nyc", "--data-dir", str(tmp_path))
    with pytest.raises(CommandError, match=r"no \*_check_ins.txt file"):
        _import("--dataset", "yelp", "--data-dir", str(tmp_path))
    with pytest.raises(CommandError, match="data directory not found"):
        _import("--data-dir", str(tmp_path / "nowhere"))


@pytest.mark.django_db
def test_all_checks_every_dataset_before_writing(tmp_path):
    write_nyc_fixture(tmp_path)  # but no Yelp files
    with pytest.raises(CommandError, match="_check_ins.txt"):
        _import("--dataset", "all", "--data-dir", str(tmp_path))
    assert User.objects.count() == 0


# --- Yelp ----------------------------------------------------------------------------------------------


@pytest.mark.django_db
def test_yelp_import_finds_files_by_suffix_and_makes_friendships_mutual(tmp_path):
    data_dir = str(write_yelp_fixture(tmp_path))
    output = _import("--dataset", "yelp", "--data-dir", data_dir)
    assert _added_rows(output) == {
        "users": 4,
        "profiles": 4,
        "places": 3,
        "visits": 5,
        "pings": 4,
        "locations": 3,
        "follows": 6,
    }
    ids = dict(User.objects.filter(username__startswith="yelp_").values_list("username", "id"))
    assert set(ids) == {"yelp_0", "yelp_1", "yelp_2", "yelp_3"}
    edges = set(Follow.objects.values_list("follower_id", "followee_id"))
    for first, second in [("yelp_0", "yelp_1"), ("yelp_1", "yelp_2"), ("yelp_3", "yelp_0")]:
        assert (ids[first], ids[second]) in edges and (ids[second], ids[first]) in edges
    place = Place.objects.get(source="yelp", external_id="0")
    assert (place.category, place.place_type) == ("yelp:5,7", "other")
    # Person 2's rows are out of order: the later one is the current location.
    location = Location.objects.get(user_id=ids["yelp_2"])
    assert (location.latitude, location.longitude) == (43.6532, -79.3832)
    assert location.updated_at == datetime.fromtimestamp(1300000000, tz=UTC)
    assert not Location.objects.filter(user_id=ids["yelp_3"]).exists()
    assert Profile.objects.get(user_id=ids["yelp_0"]).place_type_preferences == {"other": 1.0}

    second = _import("--dataset", "yelp", "--data-dir", data_dir)
    assert set(_added_rows(second).values()) == {0}


@pytest.mark.django_db
def test_real_yelp_set_matches_its_documented_counts():
    folder = settings.VICINO_DATA_DIR / "lbsn-yelp-liu2017" / "Yelp_3"
    rows = [line.split() for line in (folder / "Yelp_check_ins.txt").read_text().splitlines() if line.strip()]
    distinct_visits = {(user, poi, seconds) for user, poi, seconds in rows}
    distinct_pings = {(user, seconds) for user, _poi, seconds in rows}

    dataset = yelp_dataset(data_dir=settings.VICINO_DATA_DIR)
    assert len(dataset.places) == 5_255
    output = _import("--dataset", "yelp")
    assert _added_rows(output) == {
        "users": 1_000,
        "profiles": 1_000,
        "places": 5_255,
        "visits": len(distinct_visits),
        "pings": len(distinct_pings),
        "locations": 1_000,
        "follows": 2 * 5_666,
    }
    assert len(rows) == 35_571
    assert "read 35,571 check-ins, 5,255 places, 5,666 friendships" in output
    assert set(_added_rows(_import("--dataset", "yelp")).values()) == {0}


@pytest.mark.django_db
def test_a_username_taken_in_another_case_stops_the_import(tmp_path):
    User.objects.create_user(username="NYC_2", password="correct-horse-battery")
    with pytest.raises(CommandError, match="taken by other accounts in another case, e.g. 'nyc_2'"):
        _import("--dataset", "foursquare-nyc", "--data-dir", str(write_nyc_fixture(tmp_path)))
    assert not Visit.objects.exists()
