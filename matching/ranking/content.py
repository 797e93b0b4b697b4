"""One content space for places visited and activities joined, so that models trained mostly on visits
can score activities.

The app has two kinds of things a person does: check-ins at places (`users.Visit`, ~147k in the NYC demo)
and activities they join (`activities.Participation`; a handful in the demo). A model over activity ids
alone would have nearly nothing to learn from, so both are described by the same ITEM FEATURES:

    item      the place: a visit's place, an activity's venue place (`Activity.place`); an activity with
              no venue place, or a place too rare in the training period, is the shared id UNKNOWN
    category  a place type of `users.taxonomy.PLACE_TYPES`: the place's own `place_type` (itself mapped
              from the venue category by `users.category_map`) for a visit; for an activity, the place
              type its activity type belongs to (`ACTIVITY_TYPE_CONTENT`: tennis → sports, running →
              outdoors, board games → entertainment)
    interest  an interest of `users.taxonomy.INTERESTS`: the first interest `users.category_map` gives
              the place's venue category; for an activity, its activity type's (`ACTIVITY_TYPE_CONTENT`:
              yoga → wellness, climbing → fitness)
    area      the geohash cell of precision AREA_PRECISION (~4.9 km) of the place or the venue (public)
    slot      weekday or weekend × the part of the day (`ml.features.schema.DAY_PARTS`) in local solar
              time: of the check-in for a visit, of the start for an activity

so "Sunset yoga in the park" at a park someone checks in at shares its item id and area with those
check-ins and its category and interest with gyms and yoga studios.

**Limits, honestly.** The transfer rests on the two mapping tables: a visit to a park is evidence for a
running group there only as far as "outdoors"/"fitness" and the park's own id carry it. A check-in is
not a decision among offered options the way joining an activity is; the models learn "where does this
person go next" and are trusted to say "which activity would they join". Activity types without a
close place type (board games) land in a broad one. Nothing here knows skill level or group size, so
those do not enter the score (the selectors still filter on capacity and time). Once real joins and
invitation answers accumulate, the same builder trains on them directly (they are in the event log), and
the activity-only metrics in the training table say how far the transfer holds.

`ContentVocabulary` maps these features to the integer ids the models read. Ids 0 (padding, masked) and
1 (UNKNOWN) are reserved in every feature; places and areas are numbered from the TRAINING period only, so
a place first seen later is UNKNOWN rather than an id whose embedding was fitted to the future.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ml.features import schema as fs
from ml.layers import PADDING_INDEX
from ml.ranking.din import SparseFeature
from users import taxonomy
from users.category_map import category_mapping

AREA_PRECISION = 5
UNKNOWN = 1
#: The first id of a real value in every feature.
FIRST_ID = 2
ITEM_FEATURES: tuple[str, ...] = ("item", "category", "interest", "area", "slot")
#: The two-tower models leave the time slot out: recall asks "which places and activities", the ranker
#: then weighs the moment.
RECALL_ITEM_FEATURES: tuple[str, ...] = ("item", "category", "interest", "area")
SLOTS: tuple[str, ...] = tuple(
    f"{day}_{part}" for day in ("weekday", "weekend") for part, _start, _end in fs.DAY_PARTS
)
CONTENT_FORMAT = "vicino-content/1"

#: activity type → (place type, interest): where in the visits' space each activity type sits.
ACTIVITY_TYPE_CONTENT: dict[str, tuple[str, str]] = {
    "badminton": ("sports", "sports"),
    "tennis": ("sports", "sports"),
    "basketball": ("sports", "sports"),
    "football": ("sports", "sports"),
    "running": ("outdoors", "fitness"),
    "cycling": ("outdoors", "outdoors"),
    "hiking": ("outdoors", "outdoors"),
    "climbing": ("sports", "fitness"),
    "yoga": ("sports", "wellness"),
    "board_games": ("entertainment", "gaming"),
}

_CATEGORY_ID = {name: FIRST_ID + i for i, name in enumerate(taxonomy.PLACE_TYPES)}
_INTEREST_ID = {name: FIRST_ID + i for i, name in enumerate(taxonomy.INTERESTS)}
_SLOT_ID = {name: FIRST_ID + i for i, name in enumerate(SLOTS)}


def _check_tables() -> None:
    if set(ACTIVITY_TYPE_CONTENT) != set(taxonomy.ACTIVITY_TYPES):
        raise ValueError("ACTIVITY_TYPE_CONTENT must cover exactly users.taxonomy.ACTIVITY_TYPES")
    for place_type, interest in ACTIVITY_TYPE_CONTENT.values():
        if place_type not in _CATEGORY_ID or interest not in _INTEREST_ID:
            raise ValueError(
                f"unknown place type or interest in ACTIVITY_TYPE_CONTENT: {place_type, interest}"
            )


_check_tables()


def category_id(place_type: str) -> int:
    return _CATEGORY_ID.get(place_type, UNKNOWN)


def category_name(category: int) -> str | None:
    index = category - FIRST_ID
    return taxonomy.PLACE_TYPES[index] if 0 <= index < len(taxonomy.PLACE_TYPES) else None


def interest_id(interest: str | None) -> int:
    return _INTEREST_ID.get(interest or "", UNKNOWN)


def slot_name(slot: int) -> str | None:
    index = slot - FIRST_ID
    return SLOTS[index] if 0 <= index < len(SLOTS) else None


_interest_of_category: dict[str, int] = {}


def place_interest_id(category: str) -> int:
    """The first interest `users.category_map` gives a venue category (UNKNOWN when it gives none)."""
    cached = _interest_of_category.get(category)
    if cached is None:
        interests = category_mapping(category).interests
        cached = _interest_of_category[category] = interest_id(interests[0] if interests else None)
    return cached


def activity_category_and_interest(activity_type: str) -> tuple[int, int]:
    place_type, interest = ACTIVITY_TYPE_CONTENT.get(activity_type, ("other", ""))
    return category_id(place_type), interest_id(interest)


def slot_ids(*, seconds: np.ndarray, longitude: np.ndarray) -> np.ndarray:
    """(n,) epoch seconds, (n,) longitudes → (n,) int64 slot ids: weekday/weekend × part of the day in
    local solar time (UTC + round(longitude / 15) h, as the feature schema reckons it)."""
    offsets = fs.solar_utc_offset_hours(longitude=np.asarray(longitude, dtype=np.float64))
    local = np.asarray(seconds, dtype=np.float64) + offsets * 3600.0
    days = np.floor(local / 86400.0).astype(np.int64)
    hours = (local - days * 86400.0) / 3600.0
    weekend = ((days + 3) % 7) >= 5  # 1970-01-01 was a Thursday (weekday 3)
    parts = fs.day_part_index(local_hours=hours)
    return FIRST_ID + weekend.astype(np.int64) * len(fs.DAY_PARTS) + parts


def area_of(geohash: str) -> str:
    return geohash[:AREA_PRECISION]


@dataclass(frozen=True)
class RawItems:
    """n item descriptions before vocabulary lookup: place ids (0 = none), the categorical ids that need
    no vocabulary (category, interest, slot) and area cells."""

    place_ids: np.ndarray  # (n,) int64
    categories: np.ndarray  # (n,) int64
    interests: np.ndarray  # (n,) int64
    areas: np.ndarray  # (n,) object (str)
    slots: np.ndarray  # (n,) int64

    def __len__(self) -> int:
        return int(self.place_ids.shape[0])

    def take(self, rows: np.ndarray) -> RawItems:
        return RawItems(
            self.place_ids[rows],
            self.categories[rows],
            self.interests[rows],
            self.areas[rows],
            self.slots[rows],
        )

    @classmethod
    def concatenate(cls, parts: Sequence[RawItems]) -> RawItems:
        return cls(
            *(
                np.concatenate([getattr(part, name) for part in parts])
                for name in ("place_ids", "categories", "interests", "areas", "slots")
            )
        )

    @classmethod
    def empty(cls) -> RawItems:
        ints = np.empty(0, dtype=np.int64)
        return cls(ints, ints, ints, np.empty(0, dtype=object), ints)


@dataclass
class ContentVocabulary:
    """Ids of places and areas seen in the training period (0 padding, 1 UNKNOWN, then from 2), plus the
    serving parameters a model was trained with. Saved as JSON beside the weights (never a pickle)."""

    place_ids: list[int]  # place id of item id FIRST_ID + i
    areas: list[str]  # area of area id FIRST_ID + i
    serving: dict = field(default_factory=dict)

    def __post_init__(self) -> None:
        self._item_of_place = {place: FIRST_ID + i for i, place in enumerate(self.place_ids)}
        self._area_id = {area: FIRST_ID + i for i, area in enumerate(self.areas)}

    @classmethod
    def build(
        cls,
        *,
        place_ids: np.ndarray,
        areas: Iterable[str],
        min_place_count: int,
        serving: dict | None = None,
    ) -> ContentVocabulary:
        """From the TRAINING period's occurrences: places occurring at least min_place_count times get an
        id (the rest share UNKNOWN, whose embedding is then trained on them), every area seen gets one."""
        places, counts = np.unique(np.asarray(place_ids, dtype=np.int64), return_counts=True)
        kept = places[(counts >= min_place_count) & (places != 0)]
        return cls(
            place_ids=[int(p) for p in kept],
            areas=sorted({area for area in areas if area}),
            serving=dict(serving or {}),
        )

    @property
    def item_vocab_size(self) -> int:
        return FIRST_ID + len(self.place_ids)

    @property
    def area_vocab_size(self) -> int:
        return FIRST_ID + len(self.areas)

    def features(self, names: Sequence[str] = ITEM_FEATURES) -> tuple[SparseFeature, ...]:
        sizes = {
            "item": self.item_vocab_size,
            "category": FIRST_ID + len(taxonomy.PLACE_TYPES),
            "interest": FIRST_ID + len(taxonomy.INTERESTS),
            "area": self.area_vocab_size,
            "slot": FIRST_ID + len(SLOTS),
        }
        return tuple(SparseFeature(name, sizes[name]) for name in names)

    def item_id(self, place_id: int) -> int:
        return self._item_of_place.get(int(place_id), UNKNOWN)

    def encode(self, raw: RawItems, names: Sequence[str] = ITEM_FEATURES) -> np.ndarray:
        """(n, len(names)) int64 model ids; unknown places and areas read UNKNOWN, never padding."""
        columns = {
            "item": np.fromiter(
                (self._item_of_place.get(int(p), UNKNOWN) for p in raw.place_ids), np.int64, len(raw)
            ),
            "category": raw.categories.astype(np.int64),
            "interest": raw.interests.astype(np.int64),
            "area": np.fromiter((self._area_id.get(a, UNKNOWN) for a in raw.areas), np.int64, len(raw)),
            "slot": raw.slots.astype(np.int64),
        }
        if len(raw) == 0:
            return np.zeros((0, len(names)), dtype=np.int64)
        return np.stack([columns[name] for name in names], axis=1)

    def to_dict(self) -> dict:
        return {
            "format": CONTENT_FORMAT,
            "place_ids": self.place_ids,
            "areas": self.areas,
            "serving": self.serving,
        }

    @classmethod
    def from_dict(cls, data: dict) -> ContentVocabulary:
        if data.get("format") != CONTENT_FORMAT:
            raise ValueError(f"content format {data.get('format')!r}, expected {CONTENT_FORMAT!r}")
        return cls(
            place_ids=[int(p) for p in data["place_ids"]],
            areas=[str(a) for a in data["areas"]],
            serving=dict(data.get("serving", {})),
        )

    def save(self, path: Path) -> None:
        path.write_text(json.dumps(self.to_dict(), sort_keys=True) + "\n")

    @classmethod
    def load(cls, path: Path) -> ContentVocabulary:
        return cls.from_dict(json.loads(path.read_text()))


def padded(rows: Sequence[np.ndarray], *, width: int, features: int) -> np.ndarray:
    """Per-row (k_i, F) id arrays (or (k_i,) when F = 1), oldest first → (n, width, F) int64, the latest
    `width` of each, post-padded with PADDING_INDEX (the models mask by id ≠ 0)."""
    out = np.full((len(rows), max(width, 1), features), PADDING_INDEX, dtype=np.int64)
    for i, row in enumerate(rows):
        row = np.asarray(row, dtype=np.int64).reshape(-1, features)
        latest = row[-width:] if width > 0 else row[:0]
        out[i, : latest.shape[0]] = latest
    return out
