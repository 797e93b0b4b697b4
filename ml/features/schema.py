"""The feature schema: every model in Vicino reads a person as these six groups of numbers.

One place defines, for every value: its name, what it means, how it is normalised, the value it takes when
its data is missing, and which missing-indicator flags it. The constants below are the normalisation caps
and windows; `matching.features` computes the values and imports them from here, so the documentation and
the computation cannot drift apart.

Pure Python and numpy, no Django: `ml` never imports the apps. The vocabularies (interests, place types,
event kinds, profile choices…) belong to `users`, so `build_schema` takes them as arguments instead of
repeating the lists; `matching.features.SCHEMA` is THE schema, built from `users.taxonomy` and the
profile choices. A vocabulary edit changes dimensions: bump `SCHEMA_VERSION` (the schema's `signature()`
changes with any name, and a test pins it).
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

SCHEMA_VERSION = 1

GROUP_NAMES: tuple[str, ...] = (
    "geographic",
    "behavioural",
    "social",
    "demographic",
    "preference",
    "contextual",
)

# --- time ---------------------------------------------------------------------------------------------
#: Exponential time decay: an event d days before the as-of moment weighs DECAY_PER_DAY ** d (d real-valued).
DECAY_PER_DAY = 0.95
#: Behavioural windows, in days before the as-of moment: [at − w days, at).
BEHAVIOUR_WINDOWS_DAYS: tuple[int, ...] = (1, 7, 30)
#: App usage, social activity and friends' activity look back this far.
APP_WINDOW_DAYS = 30
SOCIAL_WINDOW_DAYS = 30
#: Parts of the day in local solar time, as [start, end) hours, in feature order.
DAY_PARTS: tuple[tuple[str, int, int], ...] = (
    ("morning", 6, 12),
    ("afternoon", 12, 18),
    ("evening", 18, 24),
    ("night", 0, 6),
)

# --- geographic ---------------------------------------------------------------------------------------
GEOHASH_PRECISIONS: tuple[int, ...] = (6, 7, 8, 9)
#: A radius of gyration of this many km or more reads as "not stable at all".
STABILITY_SPREAD_CAP_KM = 10.0
ACTIVITY_RADIUS_CAP_KM = 50.0
#: The place types whose (decayed) share of visits is a geographic preference score.
VISIT_SHARE_PLACE_TYPES: tuple[str, ...] = ("home", "work", "entertainment", "shopping", "transport")

# --- behavioural --------------------------------------------------------------------------------------
#: 1.0 interaction frequency = a sustained INTERACTIONS_PER_DAY_CAP events a day across the window.
INTERACTIONS_PER_DAY_CAP = 20.0
MINUTES_PER_DAY = 1440.0
APP_SESSIONS_PER_DAY_CAP = 50.0

# --- social -------------------------------------------------------------------------------------------
FRIEND_COUNT_CAP = 1000.0
FOLLOWERS_LOG_CAP = 1000.0
#: Waves, likes and messages are log1p-scaled against this many in the window.
SOCIAL_COUNT_LOG_CAP = 100.0
CIRCLES_CAP = 10.0
CIRCLE_ACTIVITY_LOG_CAP = 100.0
#: The person-to-person event kinds counted as social activity, sent and received.
SOCIAL_ACTIVITY_KINDS: tuple[str, ...] = ("wave", "like", "message")

# --- demographic --------------------------------------------------------------------------------------
#: (feature suffix, lowest age, highest age) in years reached in the as-of year; None = open-ended.
AGE_GROUPS: tuple[tuple[str, int | None, int | None], ...] = (
    ("under_25", None, 24),
    ("25_34", 25, 34),
    ("35_44", 35, 44),
    ("45_54", 45, 54),
    ("55_64", 55, 64),
    ("65_plus", 65, None),
)
YEARS_AT_RESIDENCE_CAP = 30.0
LANGUAGES_CAP = 5.0

# --- contextual ---------------------------------------------------------------------------------------
NEARBY_ACTIVITY_RADIUS_KM = 5.0
NEARBY_ACTIVITY_HORIZON_DAYS = 7
NEARBY_ACTIVITY_COUNT_CAP = 20.0
TEMPERATURE_RANGE_C: tuple[float, float] = (-20.0, 40.0)
PRECIPITATION_CAP_MM_PER_H = 10.0


#: The normalisation text of every missing indicator.
INDICATOR_NORMALISATION = "1.0 = missing, 0.0 = present"


# --- the schema's building blocks ---------------------------------------------------------------------
@dataclass(frozen=True)
class FeatureSpec:
    """One value of a group's vector.

    `missing_value` is what the value is when its data is missing; `missing_indicator` names the feature of
    the same group that is 1.0 exactly then. An indicator's own `missing_value` is 1.0. `family` groups
    consecutive features that render as one row of the schema table (the 20 interests, for instance).
    """

    name: str
    description: str
    normalisation: str
    missing_value: float = 0.0
    missing_indicator: str | None = None
    family: str = ""

    @property
    def is_indicator(self) -> bool:
        return self.normalisation == INDICATOR_NORMALISATION


@dataclass(frozen=True)
class GroupSchema:
    """An ordered group of features. `stored=False`: computed at request time (the store may keep an
    as-of snapshot for training, but serving recomputes it)."""

    name: str
    features: tuple[FeatureSpec, ...]
    stored: bool = True
    description: str = ""
    _index: dict[str, int] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        index: dict[str, int] = {}
        for position, spec in enumerate(self.features):
            if spec.name in index:
                raise ValueError(f"{self.name}: feature {spec.name!r} appears twice")
            if not math.isfinite(spec.missing_value):
                raise ValueError(f"{self.name}.{spec.name}: missing_value must be finite")
            index[spec.name] = position
        for spec in self.features:
            indicator = spec.missing_indicator
            if indicator is not None and indicator not in index:
                raise ValueError(f"{self.name}.{spec.name}: unknown missing indicator {indicator!r}")
            if indicator is not None and not self.features[index[indicator]].is_indicator:
                raise ValueError(f"{self.name}.{spec.name}: {indicator!r} is not a missing indicator")
            if spec.is_indicator and spec.missing_value != 1.0:
                raise ValueError(f"{self.name}.{spec.name}: an indicator's missing_value must be 1.0")
        object.__setattr__(self, "_index", index)

    @property
    def dim(self) -> int:
        return len(self.features)

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(spec.name for spec in self.features)

    def __contains__(self, name: object) -> bool:
        return name in self._index

    def index(self, name: str) -> int:
        """The column of feature `name` in this group's vector."""
        try:
            return self._index[name]
        except KeyError:
            raise KeyError(f"group {self.name!r} has no feature {name!r}") from None

    def missing_vector(self) -> np.ndarray:
        """(dim,) float32: every feature at its missing value (indicators at 1.0)."""
        return np.array([spec.missing_value for spec in self.features], dtype=np.float32)


@dataclass(frozen=True)
class FeatureSchema:
    version: int
    groups: tuple[GroupSchema, ...]

    def __post_init__(self) -> None:
        names = tuple(group.name for group in self.groups)
        if names != GROUP_NAMES:
            raise ValueError(f"the groups must be {GROUP_NAMES}, in that order; got {names}")

    @property
    def dims(self) -> dict[str, int]:
        """{group name: dimension}, in group order."""
        return {group.name: group.dim for group in self.groups}

    @property
    def total_dim(self) -> int:
        return sum(group.dim for group in self.groups)

    def group(self, name: str) -> GroupSchema:
        for group in self.groups:
            if group.name == name:
                return group
        raise KeyError(f"no feature group {name!r}")

    def qualified_names(self) -> tuple[str, ...]:
        """'group.feature' for every value, in the order of the concatenated vector."""
        return tuple(f"{group.name}.{spec.name}" for group in self.groups for spec in group.features)

    def signature(self) -> str:
        """SHA-256 over the version and every qualified name: any change of names or order changes it."""
        text = "\n".join((str(self.version), *self.qualified_names()))
        return hashlib.sha256(text.encode()).hexdigest()

    def schema_table_markdown(self) -> str:
        """The schema as Markdown: a summary of the groups, then one table per group.

        Consecutive features of one `family` share a row; columns give their positions in the group's vector.
        """
        lines = [
            f"Feature schema version {self.version}: {self.total_dim} values in {len(self.groups)} groups.",
            "",
            "| group | dim | stored | what it holds |",
            "|---|---:|---|---|",
        ]
        for group in self.groups:
            stored = "yes" if group.stored else "no (request time; as-of snapshot stored)"
            lines.append(f"| {group.name} | {group.dim} | {stored} | {_cell(group.description)} |")
        for group in self.groups:
            lines += ["", f"**{group.name}** ({group.dim})", ""]
            lines += ["| # | feature | normalisation | when missing |", "|---|---|---|---|"]
            for start, specs in _rows(group.features):
                first, last = specs[0], specs[-1]
                if len(specs) == 1:
                    position, name = f"{start}", f"`{first.name}`"
                elif len(specs) == 2:
                    position, name = f"{start}–{start + 1}", f"`{first.name}`, `{last.name}`"
                else:
                    position = f"{start}–{start + len(specs) - 1}"
                    name = f"`{first.name}` … `{last.name}` ({len(specs)})"
                if first.missing_indicator is not None:
                    missing = f"{_number(first.missing_value)}, flagged by `{first.missing_indicator}`"
                elif first.is_indicator:
                    missing = "is the flag"
                else:
                    missing = "never missing"
                lines.append(f"| {position} | {name} | {_cell(first.normalisation)} | {missing} |")
        return "\n".join(lines) + "\n"


def _rows(features: Sequence[FeatureSpec]) -> list[tuple[int, list[FeatureSpec]]]:
    rows: list[tuple[int, list[FeatureSpec]]] = []
    for position, spec in enumerate(features):
        if rows and spec.family and rows[-1][1][-1].family == spec.family:
            rows[-1][1].append(spec)
        else:
            rows.append((position, [spec]))
    return rows


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def _number(value: float) -> str:
    return f"{value:g}"


# --- normalisation helpers, shared with the computation -----------------------------------------------
def decay_weights(*, age_days: np.ndarray) -> np.ndarray:
    """(k,) ages in days (≥ 0, real-valued) → (k,) weights DECAY_PER_DAY ** age."""
    return np.power(DECAY_PER_DAY, np.asarray(age_days, dtype=np.float64))


def decayed_days(*, days: int) -> float:
    """Σ_{d=0}^{days−1} DECAY_PER_DAY^d: what one event a day for `days` days sums to under the decay.

    Dividing a decayed sum by it turns the sum into a decay-weighted mean per day.
    """
    return (1.0 - DECAY_PER_DAY**days) / (1.0 - DECAY_PER_DAY)


def interaction_cap(*, window_days: int) -> float:
    """The decayed interaction count that normalises to 1.0 for a window: the cap rate held every day."""
    return INTERACTIONS_PER_DAY_CAP * decayed_days(days=window_days)


def capped_ratio(values: np.ndarray, *, cap: float) -> np.ndarray:
    """(…) → (…) min(x / cap, 1) for x ≥ 0."""
    return np.minimum(np.asarray(values, dtype=np.float64) / cap, 1.0)


def capped_log(values: np.ndarray, *, cap: float) -> np.ndarray:
    """(…) → (…) min(log1p(x) / log1p(cap), 1) for x ≥ 0: counts spread over [0, 1] on a log scale."""
    return np.minimum(np.log1p(np.asarray(values, dtype=np.float64)) / math.log1p(cap), 1.0)


def solar_utc_offset_hours(*, longitude: np.ndarray) -> np.ndarray:
    """(k,) longitudes in degrees → (k,) int64 whole-hour offsets of local solar time from UTC.

    round(longitude / 15), halves rounded up (np.round would round halves to even), so 7.5°E is UTC+1.
    """
    return np.floor(np.asarray(longitude, dtype=np.float64) / 15.0 + 0.5).astype(np.int64)


def day_part_index(*, local_hours: np.ndarray) -> np.ndarray:
    """(k,) local hours in [0, 24) → (k,) int64 index into DAY_PARTS (0 morning … 3 night)."""
    hours = np.asarray(local_hours, dtype=np.float64)
    index = np.full(hours.shape, len(DAY_PARTS) - 1, dtype=np.int64)
    for position, (_name, start, end) in enumerate(DAY_PARTS):
        index[(hours >= start) & (hours < end)] = position
    return index


def cyclical(*, value: np.ndarray, period: float) -> tuple[np.ndarray, np.ndarray]:
    """(…) → two (…) arrays: sin and cos of 2π·value/period, so that e.g. 23:00 sits next to 00:00."""
    angle = 2.0 * math.pi * np.asarray(value, dtype=np.float64) / period
    return np.sin(angle), np.cos(angle)


def age_group_index(*, ages: np.ndarray) -> np.ndarray:
    """(k,) ages in whole years → (k,) int64 index into AGE_GROUPS; −1 for a negative age (not born yet)."""
    ages = np.asarray(ages, dtype=np.int64)
    index = np.full(ages.shape, -1, dtype=np.int64)
    for position, (_suffix, low, high) in enumerate(AGE_GROUPS):
        inside = ages >= (0 if low is None else low)
        if high is not None:
            inside &= ages <= high
        index[inside] = position
    return index


# --- building the schema from the vocabularies --------------------------------------------------------
def _require(vocabulary: Sequence[str], *, required: Sequence[str], what: str) -> None:
    if len(set(vocabulary)) != len(vocabulary):
        raise ValueError(f"{what}: the vocabulary has duplicates: {list(vocabulary)}")
    absent = [name for name in required if name not in vocabulary]
    if absent:
        raise ValueError(f"{what}: the schema needs {absent}, absent from {list(vocabulary)}")


def _days(count: int) -> str:
    return f"{count} day" if count == 1 else f"{count} days"


def _indicator(name: str, description: str) -> FeatureSpec:
    return FeatureSpec(name, description, INDICATOR_NORMALISATION, missing_value=1.0)


def _one_hot(
    *, prefix: str, values: Sequence[str], what: str, indicator: str, family: str
) -> list[FeatureSpec]:
    return [
        FeatureSpec(
            f"{prefix}_{value}",
            f"{what} is {value.replace('_', ' ')}",
            "one-hot: 1.0 for the person's value, else 0.0",
            missing_indicator=indicator,
            family=family,
        )
        for value in values
    ]


def _geographic() -> GroupSchema:
    position = "location_missing"
    history = "history_missing"
    visits = "visits_missing"
    features = [
        FeatureSpec(
            "latitude",
            "latitude of the position as of `at`",
            "latitude / 90 → [−1, 1]",
            missing_indicator=position,
        ),
        FeatureSpec(
            "longitude",
            "longitude of the position as of `at`",
            "longitude / 180 → [−1, 1]",
            missing_indicator=position,
        ),
        *(
            FeatureSpec(
                f"geohash_{precision}",
                f"geohash of the position at precision {precision}",
                "the geohash cut to p characters, read as an integer in the geohash base-32 alphabet, "
                "/ 32^p → [0, 1)",
                missing_indicator=position,
                family="geohash",
            )
            for precision in GEOHASH_PRECISIONS
        ),
        FeatureSpec(
            "location_stability",
            "how little the location history before `at` spreads",
            f"1 − min(radius of gyration km / {STABILITY_SPREAD_CAP_KM:g}, 1); radius of gyration = "
            "√(mean squared great-circle distance of every ping from the mean position); 1 = one spot",
            missing_indicator=history,
        ),
        FeatureSpec(
            "activity_radius",
            "the largest distance of a ping from the person's centre (mean of the history)",
            f"min(km / {ACTIVITY_RADIUS_CAP_KM:g}, 1)",
            missing_indicator=history,
        ),
        *(
            FeatureSpec(
                f"visit_share_{place_type}",
                f"preference for {place_type} places, from visits before `at`",
                "Σ weights of visits to places of the type / Σ weights of all visits; a visit d days "
                f"before the person's latest weighs {DECAY_PER_DAY}^d (the same shares as decaying from "
                "`at`, without underflow for old histories)",
                missing_indicator=visits,
                family="visit_share",
            )
            for place_type in VISIT_SHARE_PLACE_TYPES
        ),
        _indicator(
            position,
            "no position before `at`: no ping, and no current location last updated before `at`",
        ),
        _indicator(history, "fewer than 2 pings before `at`: no spread to measure"),
        _indicator(visits, "no visit before `at`"),
    ]
    return GroupSchema(
        "geographic",
        tuple(features),
        description=(
            "Where the person is (the latest ping before `at`, else a current location updated before "
            "`at`), how settled they are, and which places they visit"
        ),
    )


def _behavioural(*, event_kinds: Sequence[str]) -> GroupSchema:
    features: list[FeatureSpec] = []
    for window in BEHAVIOUR_WINDOWS_DAYS:
        indicator = f"no_interactions_{window}d"
        cap = interaction_cap(window_days=window)
        features += [
            FeatureSpec(
                f"interactions_{window}d",
                f"interactions made in the {_days(window)} before `at`",
                f"Σ {DECAY_PER_DAY}^d over the person's events as actor (d = days before `at`), "
                f"/ {cap:.4g} (= {INTERACTIONS_PER_DAY_CAP:g} a day held for {_days(window)}, decayed), "
                "capped at 1",
            ),
            FeatureSpec(
                f"interaction_diversity_{window}d",
                f"kinds of interaction made in the {_days(window)} before `at`",
                f"distinct event kinds / {len(event_kinds)} (all kinds)",
            ),
            *(
                FeatureSpec(
                    f"{part}_share_{window}d",
                    f"share of the {window}-day interactions made in the {part} ({start:02d}–{end:02d} h)",
                    "decayed events in the part / decayed events; local solar time, UTC offset "
                    "round(longitude / 15) h from the position as of `at` (UTC when unknown)",
                    missing_indicator=indicator,
                    family=f"day_parts_{window}d",
                )
                for part, start, end in DAY_PARTS
            ),
            _indicator(indicator, f"no interaction in the {_days(window)} before `at`"),
        ]
    per_day = decayed_days(days=APP_WINDOW_DAYS)
    features += [
        FeatureSpec(
            "app_minutes_per_day",
            f"app use per day over the {APP_WINDOW_DAYS} days before `at`",
            f"Σ {DECAY_PER_DAY}^d · session minutes / {per_day:.4g} (Σ_{{d<{APP_WINDOW_DAYS}}} "
            f"{DECAY_PER_DAY}^d: a decay-weighted mean per day) / {MINUTES_PER_DAY:g}, capped at 1; "
            "sessions count by start, end clipped to `at`, an unended session counts 0 minutes",
            missing_indicator="app_missing",
        ),
        FeatureSpec(
            "app_sessions_per_day",
            f"app sessions per day over the {APP_WINDOW_DAYS} days before `at`",
            f"Σ {DECAY_PER_DAY}^d per session / {per_day:.4g} / {APP_SESSIONS_PER_DAY_CAP:g}, capped at 1",
            missing_indicator="app_missing",
        ),
        *(
            FeatureSpec(
                f"app_{part}_share",
                f"share of app sessions started in the {part} ({start:02d}–{end:02d} h)",
                "decayed sessions started in the part / decayed sessions; local solar time as above",
                missing_indicator="app_missing",
                family="app_day_parts",
            )
            for part, start, end in DAY_PARTS
        ),
        _indicator("app_missing", f"no app session started in the {APP_WINDOW_DAYS} days before `at`"),
    ]
    return GroupSchema(
        "behavioural",
        tuple(features),
        description=(
            f"How much, how variedly and when the person interacts (windows {BEHAVIOUR_WINDOWS_DAYS} days, "
            f"decay {DECAY_PER_DAY}/day), and their app usage"
        ),
    )


def _social() -> GroupSchema:
    no_follows = "follows_missing"
    no_friends = "friends_missing"
    window = SOCIAL_WINDOW_DAYS
    activity = [
        FeatureSpec(
            f"{kind}s_{direction}_{window}d",
            f"{kind}s {direction} in the {window} days before `at`",
            f"min(log1p(n) / log1p({SOCIAL_COUNT_LOG_CAP:g}), 1)",
            family="social_activity",
        )
        for kind in SOCIAL_ACTIVITY_KINDS
        for direction in ("sent", "received")
    ]
    features = [
        FeatureSpec(
            "friend_count",
            "friends: people the person follows who follow back (both follows made before `at`)",
            f"min(n / {FRIEND_COUNT_CAP:g}, 1)",
        ),
        FeatureSpec(
            "network_density",
            "how reciprocated the person's follows are",
            "directed follows touching the person whose reverse also exists / all directed follows "
            "touching the person (3 out, 2 back → 4/5)",
            missing_indicator=no_follows,
        ),
        FeatureSpec(
            "influence",
            "followers times the rate at which the person draws interactions",
            f"min(log1p(followers) / log1p({FOLLOWERS_LOG_CAP:g}), 1) × person-to-person events received "
            f"/ (received + sent), over the {window} days before `at` (0 when neither)",
        ),
        *activity,
        FeatureSpec(
            "circles",
            "separate circles among the person's friends: connected components of the friends, linked "
            "when two friends are friends of each other",
            f"min(components / {CIRCLES_CAP:g}, 1)",
            missing_indicator=no_friends,
        ),
        FeatureSpec(
            "circle_activity",
            f"how active the friends are: mean number of events each made in the {window} days before `at`",
            f"min(log1p(mean) / log1p({CIRCLE_ACTIVITY_LOG_CAP:g}), 1)",
            missing_indicator=no_friends,
        ),
        _indicator(no_follows, "no follow in either direction before `at`"),
        _indicator(no_friends, "no friend before `at`"),
    ]
    return GroupSchema(
        "social",
        tuple(features),
        description=(
            "The person's place in the follow graph as of `at`; pair features (mutual friends) live where "
            "pairs are scored"
        ),
    )


def _demographic(
    *,
    genders: Sequence[str],
    occupations: Sequence[str],
    marital_statuses: Sequence[str],
    education_levels: int,
    income_levels: int,
    city_levels: int,
) -> GroupSchema:
    def ranges(low: int | None, high: int | None) -> str:
        if low is None:
            return f"at most {high}"
        return f"{low} or more" if high is None else f"{low}–{high}"

    features: list[FeatureSpec] = [
        FeatureSpec(
            f"age_{suffix}",
            f"aged {ranges(low, high)}",
            "one-hot on the age reached in `at`'s year (year of `at` − birth year)",
            missing_indicator="age_missing",
            family="age",
        )
        for suffix, low, high in AGE_GROUPS
    ]
    features.append(_indicator("age_missing", "no birth year, or one after `at`'s year"))
    features += _one_hot(
        prefix="gender", values=genders, what="gender", indicator="gender_missing", family="gender"
    )
    features.append(_indicator("gender_missing", "gender not given"))
    scales = (
        ("education", f"education level 1–{education_levels}", education_levels, "level / "),
        ("income", f"income quintile 1–{income_levels}", income_levels, "quintile / "),
    )
    for name, description, levels, formula in scales:
        features += [
            FeatureSpec(name, description, f"{formula}{levels}", missing_indicator=f"{name}_missing"),
            _indicator(f"{name}_missing", f"{name} not given"),
        ]
    features += _one_hot(
        prefix="occupation",
        values=occupations,
        what="occupation",
        indicator="occupation_missing",
        family="occupation",
    )
    features.append(_indicator("occupation_missing", "occupation not given"))
    features += _one_hot(
        prefix="marital",
        values=marital_statuses,
        what="marital status",
        indicator="marital_missing",
        family="marital",
    )
    features.append(_indicator("marital_missing", "marital status not given"))
    features += [
        FeatureSpec(
            "city_level",
            f"city level 1 (largest metropolis) – {city_levels} (rural)",
            f"(level − 1) / {city_levels - 1}",
            missing_indicator="city_level_missing",
        ),
        _indicator("city_level_missing", "city level not given"),
        FeatureSpec(
            "years_at_residence",
            "years at the current residence",
            f"min(years / {YEARS_AT_RESIDENCE_CAP:g}, 1)",
            missing_indicator="years_at_residence_missing",
        ),
        _indicator("years_at_residence_missing", "years at residence not given"),
        FeatureSpec(
            "languages",
            "number of distinct languages spoken",
            f"min(n / {LANGUAGES_CAP:g}, 1)",
            missing_indicator="languages_missing",
        ),
        _indicator("languages_missing", "no language given"),
    ]
    return GroupSchema(
        "demographic",
        tuple(features),
        description=(
            "The profile's demographics. Profiles keep no history: these are the profile as it is when the "
            "features are computed, not as of `at` (only the age is computed as of `at`)"
        ),
    )


def _preference(
    *,
    interests: Sequence[str],
    activity_types: Sequence[str],
    place_types: Sequence[str],
    time_preferences: Sequence[str],
) -> GroupSchema:
    vocabularies = (
        ("interest", interests, "interests", "interest in"),
        ("activity", activity_types, "activity_preferences", "liking for the activity"),
        ("place_type", place_types, "place_type_preferences", "liking for places of type"),
        ("time", time_preferences, "time_preferences", "preference for the time"),
    )
    features: list[FeatureSpec] = []
    indicators: list[FeatureSpec] = []
    for prefix, vocabulary, field_name, what in vocabularies:
        indicator = f"{field_name}_missing"
        features += [
            FeatureSpec(
                f"{prefix}_{value}",
                f"{what} {value.replace('_', ' ')}",
                "the profile's weight, clipped to [0, 1]; 0 when the key is absent",
                missing_indicator=indicator,
                family=prefix,
            )
            for value in vocabulary
        ]
        indicators.append(_indicator(indicator, f"the profile's {field_name.replace('_', ' ')} are empty"))
    return GroupSchema(
        "preference",
        tuple(features + indicators),
        description=(
            "Stated tastes, straight from the profile. Profiles keep no history: these are the profile as it "
            "is when the features are computed, not as of `at`"
        ),
    )


def _contextual(*, activity_types: Sequence[str]) -> GroupSchema:
    place = "location_missing"
    radius, horizon = NEARBY_ACTIVITY_RADIUS_KM, NEARBY_ACTIVITY_HORIZON_DAYS
    low, high = TEMPERATURE_RANGE_C
    features = [
        *(
            FeatureSpec(
                f"{unit}_{function}",
                f"{function} of the {unit} of the moment in local solar time "
                "(UTC when the position is unknown)",
                f"sin and cos of 2π · {value} / {period}",
                family=unit,
            )
            for unit, value, period in (
                ("hour", "hour (fractional)", 24),
                ("weekday", "weekday (Monday 0)", 7),
                ("month", "(month − 1)", 12),
            )
            for function in ("sin", "cos")
        ),
        FeatureSpec(
            "nearby_activities",
            f"open activities starting within {horizon} days, within {radius:g} km",
            f"min(n / {NEARBY_ACTIVITY_COUNT_CAP:g}, 1)",
            missing_indicator=place,
        ),
        FeatureSpec(
            "nearby_activity_diversity",
            "distinct activity types among those nearby activities",
            f"distinct types / {len(activity_types)}",
            missing_indicator=place,
        ),
        _indicator(place, "the position is unknown"),
        FeatureSpec(
            "temperature",
            "air temperature, from the context provider",
            f"clip((°C − low) / (high − low), 0, 1) with low {low:g} °C, high {high:g} °C",
            missing_indicator="weather_missing",
        ),
        FeatureSpec(
            "precipitation",
            "precipitation, from the context provider",
            f"min(mm/h / {PRECIPITATION_CAP_MM_PER_H:g}, 1)",
            missing_indicator="weather_missing",
        ),
        _indicator(
            "weather_missing", "the provider does not know the weather (the default provider never does)"
        ),
        FeatureSpec(
            "traffic_congestion",
            "traffic congestion, from the context provider",
            "0 free flow … 1 standstill, clipped",
            missing_indicator="traffic_missing",
        ),
        _indicator(
            "traffic_missing", "the provider does not know the traffic (the default provider never does)"
        ),
    ]
    return GroupSchema(
        "contextual",
        tuple(features),
        stored=False,
        description=(
            "The moment and the place of a request. Computed at request time; the store keeps only an as-of "
            "snapshot at the person's own position, for training"
        ),
    )


def build_schema(
    *,
    interests: Sequence[str],
    activity_types: Sequence[str],
    place_types: Sequence[str],
    time_preferences: Sequence[str],
    genders: Sequence[str],
    occupations: Sequence[str],
    marital_statuses: Sequence[str],
    event_kinds: Sequence[str],
    education_levels: int,
    income_levels: int,
    city_levels: int,
    version: int = SCHEMA_VERSION,
) -> FeatureSchema:
    """The six groups over the given vocabularies (the caller owns them; `ml` repeats none of them)."""
    _require(place_types, required=VISIT_SHARE_PLACE_TYPES, what="place_types")
    _require(event_kinds, required=SOCIAL_ACTIVITY_KINDS, what="event_kinds")
    for what, vocabulary in (
        ("interests", interests),
        ("activity_types", activity_types),
        ("time_preferences", time_preferences),
        ("genders", genders),
        ("occupations", occupations),
        ("marital_statuses", marital_statuses),
    ):
        _require(vocabulary, required=(), what=what)
    if min(education_levels, income_levels) < 1 or city_levels < 2:
        raise ValueError("education and income need ≥ 1 level, city level ≥ 2")
    return FeatureSchema(
        version=version,
        groups=(
            _geographic(),
            _behavioural(event_kinds=event_kinds),
            _social(),
            _demographic(
                genders=genders,
                occupations=occupations,
                marital_statuses=marital_statuses,
                education_levels=education_levels,
                income_levels=income_levels,
                city_levels=city_levels,
            ),
            _preference(
                interests=interests,
                activity_types=activity_types,
                place_types=place_types,
                time_preferences=time_preferences,
            ),
            _contextual(activity_types=activity_types),
        ),
    )
