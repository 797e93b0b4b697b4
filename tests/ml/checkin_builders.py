"""Small check-in data sets written in the two file layouts `ml.datasets.checkins` reads."""

from __future__ import annotations

import csv
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import numpy as np

NYC_HEADER = [
    "user_id",
    "poi_idx",
    "utc_time",
    "latitude",
    "longitude",
    "venue_id",
    "category_id",
    "category_name",
]
START = datetime(2012, 4, 3, tzinfo=UTC).timestamp()
DAY = 86_400.0


@dataclass(frozen=True)
class TinyCity:
    """rows: (user, place, unix time); places: {place: (lat, lon)}; categories: {place: [category names]};
    friendships: [(user, user)]. Ids are the original (file) ids."""

    rows: list[tuple[int, int, float]]
    places: dict[int, tuple[float, float]]
    categories: dict[int, list[str]]
    friendships: list[tuple[int, int]]


def tiny_city(
    *, people: int = 48, places: int = 24, days: int = 120, per_person: int = 40, seed: int = 0
) -> TinyCity:
    """Three neighbourhoods; people check in mostly at their own neighbourhood's places, each with a
    favourite subset, at random moments, so places gain new visitors over time."""
    rng = np.random.default_rng(seed)
    centres = [(40.70, -74.00), (40.75, -73.98), (40.80, -73.95)]
    place_coordinates = {
        place: (
            centres[place % 3][0] + float(rng.normal(0, 0.004)),
            centres[place % 3][1] + float(rng.normal(0, 0.004)),
        )
        for place in range(1, places + 1)
    }
    categories = {place: [f"Category {place % 5}"] for place in place_coordinates if place % 7}
    rows = []
    for person in range(1, people + 1):
        home = person % 3
        own = [place for place in place_coordinates if place % 3 == home]
        liked = list(rng.choice(own, size=min(4, len(own)), replace=False))
        for _ in range(per_person):
            roll = rng.random()
            if roll < 0.6:
                place = int(rng.choice(liked))
            elif roll < 0.9:
                place = int(rng.choice(own))
            else:
                place = int(rng.integers(1, places + 1))
            rows.append((person, place, START + float(rng.uniform(0, days)) * DAY))
    friendships = [(person, person + 3) for person in range(1, people - 2, 2)]
    return TinyCity(rows, place_coordinates, categories, friendships)


def write_nyc_csv(city: TinyCity, path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(NYC_HEADER)
        for user, place, at in city.rows:
            latitude, longitude = city.places[place]
            category = city.categories.get(place, [""])[0]
            moment = datetime.fromtimestamp(at, tz=UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
            writer.writerow(
                [user, place, moment, latitude, longitude, f"v{place}" if category else "", "", category]
            )
    return path


def write_lbsn(city: TinyCity, folder: Path, *, prefix: str = "Tiny", optional: bool = True) -> Path:
    """The Liu et al. 2017 layout; category names become integer ids. Returns the folder."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / f"{prefix}_check_ins.txt").write_text(
        "".join(f"{user}\t{place}\t{at:.1f}\n" for user, place, at in city.rows)
    )
    (folder / f"{prefix}_poi_coos.txt").write_text(
        "".join(f"{place}\t{lat}\t{lon}\n" for place, (lat, lon) in city.places.items())
    )
    if optional:
        (folder / f"{prefix}_poi_categories.txt").write_text(
            "".join(
                f"{place}\t{name.split()[-1]}\n{place}\t{int(name.split()[-1]) + 10}\n"
                for place, names in city.categories.items()
                for name in names
            )
        )
        (folder / f"{prefix}_social_relations.txt").write_text(
            "".join(f"{a}\t{b}\n" for a, b in city.friendships)
        )
    return folder
