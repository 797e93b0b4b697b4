"""The feature schema on its own: no Django, no database."""

from __future__ import annotations

import math
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from ml.features import schema as fs
from ml.features.schema import GROUP_NAMES, FeatureSpec, GroupSchema, build_schema

ROOT = Path(__file__).resolve().parents[2]

VOCABULARIES = {
    "interests": ("sports", "music", "food"),
    "activity_types": ("tennis", "yoga"),
    "place_types": ("home", "work", "entertainment", "shopping", "transport", "food", "other"),
    "time_preferences": ("weekday", "weekend", "morning", "afternoon", "evening", "night"),
    "genders": ("female", "male", "non_binary"),
    "occupations": ("student", "employed", "retired"),
    "marital_statuses": ("single", "married"),
    "event_kinds": ("view", "like", "wave", "message", "join"),
    "education_levels": 6,
    "income_levels": 5,
    "city_levels": 5,
}


@pytest.fixture
def schema():
    return build_schema(**VOCABULARIES)


def test_six_groups_in_order_and_version_one(schema):
    assert schema.version == fs.SCHEMA_VERSION == 1
    assert tuple(group.name for group in schema.groups) == GROUP_NAMES
    assert GROUP_NAMES == ("geographic", "behavioural", "social", "demographic", "preference", "contextual")
    assert [group.stored for group in schema.groups] == [True, True, True, True, True, False]


def test_dimensions_follow_the_vocabularies(schema):
    assert schema.dims == {
        # lat, lon, 4 geohashes, stability, radius, 5 visit shares, 3 indicators
        "geographic": 2 + 4 + 2 + 5 + 3,
        # 3 windows × (frequency, diversity, 4 day parts, indicator);
        # app usage: minutes, sessions, 4 day parts, indicator
        "behavioural": 3 * 7 + 7,
        # friends, density, influence, 6 social activity, circles, circle activity, 2 indicators
        "social": 13,
        # 6 age groups + missing, 3 genders + missing, education + missing, income + missing,
        # 3 occupations + missing, 2 marital + missing, city + missing, years + missing, languages + missing
        "demographic": 7 + 4 + 2 + 2 + 4 + 3 + 2 + 2 + 2,
        # 3 interests, 2 activities, 7 place types, 6 times, 4 indicators
        "preference": 3 + 2 + 7 + 6 + 4,
        # hour, weekday, month (sin, cos), nearby count, diversity, location missing,
        # temperature, precipitation, weather missing, congestion, traffic missing
        "contextual": 6 + 3 + 3 + 2,
    }
    assert schema.total_dim == sum(schema.dims.values()) == len(schema.qualified_names())


def test_names_are_unique_and_indicators_are_explicit(schema):
    qualified = schema.qualified_names()
    assert len(set(qualified)) == len(qualified)
    for group in schema.groups:
        assert group.dim == len(group.features)
        for position, spec in enumerate(group.features):
            assert group.index(spec.name) == position
            assert spec.description and spec.normalisation
            if spec.is_indicator:
                assert spec.missing_value == 1.0
            if spec.missing_indicator is not None:
                assert group.features[group.index(spec.missing_indicator)].is_indicator
        missing = group.missing_vector()
        assert missing.dtype == np.float32 and missing.shape == (group.dim,)
    # Every group that can lack data says so with a flag, not a silent 0.
    indicators = {group.name: [s.name for s in group.features if s.is_indicator] for group in schema.groups}
    assert indicators["geographic"] == ["location_missing", "history_missing", "visits_missing"]
    assert indicators["behavioural"] == [
        "no_interactions_1d",
        "no_interactions_7d",
        "no_interactions_30d",
        "app_missing",
    ]
    assert indicators["social"] == ["follows_missing", "friends_missing"]
    assert {"age_missing", "gender_missing", "languages_missing"} <= set(indicators["demographic"])
    assert indicators["contextual"] == ["location_missing", "weather_missing", "traffic_missing"]


def test_the_signature_changes_with_any_vocabulary(schema):
    assert schema.signature() == build_schema(**VOCABULARIES).signature()
    more = {**VOCABULARIES, "interests": (*VOCABULARIES["interests"], "pets")}
    assert build_schema(**more).signature() != schema.signature()
    assert build_schema(**VOCABULARIES, version=2).signature() != schema.signature()


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"place_types": ("home", "work")}, "entertainment"),
        ({"event_kinds": ("view", "like")}, "wave"),
        ({"interests": ("music", "music")}, "duplicates"),
    ],
)
def test_build_schema_rejects_vocabularies_it_cannot_describe(change, message):
    with pytest.raises(ValueError, match=message):
        build_schema(**{**VOCABULARIES, **change})


def test_group_schema_rejects_duplicates_and_dangling_indicators():
    spec = FeatureSpec("a", "a value", "x / 2")
    with pytest.raises(ValueError, match="twice"):
        GroupSchema("g", (spec, spec))
    with pytest.raises(ValueError, match="unknown missing indicator"):
        GroupSchema("g", (FeatureSpec("a", "a value", "x / 2", missing_indicator="nope"),))
    with pytest.raises(ValueError, match="not a missing indicator"):
        GroupSchema("g", (spec, FeatureSpec("b", "b value", "x", missing_indicator="a")))


def test_markdown_table_lists_every_group_and_every_value(schema):
    table = schema.schema_table_markdown()
    assert table.startswith(f"Feature schema version 1: {schema.total_dim} values in 6 groups.")
    assert "| contextual | 14 | no (request time; as-of snapshot stored) |" in table
    for group in schema.groups:
        assert f"**{group.name}** ({group.dim})" in table
    # One row per value, except families, which share a row that gives their range of positions.
    assert "| 2–5 | `geohash_6` … `geohash_9` (4) |" in table
    assert "| 0–2 | `interest_sports` … `interest_food` (3) |" in table
    assert "| 13 | `location_missing` | 1.0 = missing, 0.0 = present | is the flag |" in table
    assert "0, flagged by `history_missing`" in table
    assert "min(n / 1000, 1)" in table  # friend count
    assert "latitude / 90" in table and "longitude / 180" in table
    rows = [line for line in table.splitlines() if line.startswith("| ") and line[2].isdigit()]
    covered = 0
    for row in rows:
        first = row.split("|")[1].strip()
        low, _dash, high = first.partition("–")
        covered += int(high or low) - int(low) + 1
    assert covered == schema.total_dim


def test_decay_and_caps_by_hand():
    assert fs.decay_weights(age_days=np.array([0.0, 1.0, 3.0, 0.5])) == pytest.approx(
        [1.0, 0.95, 0.857375, math.sqrt(0.95)]
    )
    # Σ_{d<7} 0.95^d = (1 − 0.95^7) / 0.05 = 6.0167…; the 7-day cap is 20 a day held for a week.
    assert fs.decayed_days(days=7) == pytest.approx(sum(0.95**d for d in range(7)))
    assert fs.interaction_cap(window_days=1) == pytest.approx(20.0)
    assert fs.interaction_cap(window_days=30) == pytest.approx(20 * (1 - 0.95**30) / 0.05)
    assert fs.capped_ratio(np.array([0.0, 500.0, 2000.0]), cap=1000.0).tolist() == [0.0, 0.5, 1.0]
    assert fs.capped_log(np.array([0.0, 100.0, 1e6]), cap=100.0).tolist() == [0.0, 1.0, 1.0]
    assert fs.capped_log(np.array([1.0]), cap=100.0)[0] == pytest.approx(math.log(2) / math.log(101))


def test_local_solar_time_and_day_parts():
    # New York −74° → −4.93 → UTC−5; 7.5° rounds up to UTC+1 (np.round would give 0); ±180° → ±12.
    offsets = fs.solar_utc_offset_hours(longitude=np.array([-74.0, 7.5, -7.5, 0.0, 180.0, -180.0]))
    assert offsets.tolist() == [-5, 1, 0, 0, 12, -12]
    hours = np.array([0.0, 5.99, 6.0, 11.99, 12.0, 17.5, 18.0, 23.99])
    names = [fs.DAY_PARTS[i][0] for i in fs.day_part_index(local_hours=hours)]
    assert names == ["night", "night", "morning", "morning", "afternoon", "afternoon", "evening", "evening"]
    sin, cos = fs.cyclical(value=np.array([0.0, 6.0, 23.0]), period=24.0)
    assert sin == pytest.approx([0.0, 1.0, -math.sin(math.pi / 12)])
    assert cos == pytest.approx([1.0, 0.0, math.cos(math.pi / 12)])


def test_age_group_boundaries():
    ages = np.array([-1, 0, 24, 25, 34, 35, 44, 45, 54, 55, 64, 65, 99])
    suffixes = [fs.AGE_GROUPS[i][0] if i >= 0 else None for i in fs.age_group_index(ages=ages)]
    assert suffixes == [
        None, "under_25", "under_25", "25_34", "25_34", "35_44", "35_44", "45_54", "45_54", "55_64", "55_64",
        "65_plus", "65_plus",
    ]  # fmt: skip


def test_the_schema_imports_without_django():
    code = (
        "import sys, ml.features, ml.features.schema\n"
        "apps = {'django', 'users', 'activities', 'matching', 'config'}\n"
        "bad = sorted(m for m in sys.modules if m.split('.')[0] in apps)\n"
        "assert not bad, bad\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=False
    )
    assert result.returncode == 0, result.stderr
