"""Shared plumbing for the benchmarks: throwaway PostgreSQL databases, environments, result tables, child
processes, Celery workers, and the synthetic city of people around the real NYC venues."""

from __future__ import annotations

import json
import os
import platform
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

REPO_ROOT = Path(__file__).resolve().parents[1]
SERVER_URL = "postgres://postgres@127.0.0.1:5432"
RESULTS_DIR = REPO_ROOT / "docs" / "benchmarks"


def benchmark_environment(database: str, **extra: str) -> dict[str, str]:
    """The environment a benchmark's Django processes run with: the throwaway database, real settings."""
    return {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "config.settings",
        "DATABASE_URL": f"{SERVER_URL}/{database}",
        "SECRET_KEY": "benchmark-only-not-a-secret",
        "PYTHONPATH": str(REPO_ROOT),
        **extra,
    }


def database_recreate(database: str) -> str:
    """Drop and create `database`; return the server version."""
    import psycopg
    from psycopg import sql

    with psycopg.connect(f"{SERVER_URL}/postgres", autocommit=True) as connection:
        connection.execute(
            sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(database))
        )
        connection.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(database)))
        return connection.execute("SHOW server_version").fetchone()[0]


def database_drop(database: str) -> None:
    import psycopg
    from psycopg import sql

    with psycopg.connect(f"{SERVER_URL}/postgres", autocommit=True) as connection:
        connection.execute(
            sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(database))
        )


def migrate(environment: dict[str, str]) -> None:
    subprocess.run(
        [sys.executable, "manage.py", "migrate", "--no-input", "-v", "0"],
        env=environment,
        cwd=REPO_ROOT,
        check=True,
    )


def machine_line(server_version: str) -> str:
    return (
        f"{os.cpu_count()} CPU cores, {platform.machine()}, Python {platform.python_version()}, "
        f"PostgreSQL {server_version}"
    )


def markdown_table(header: list[str], rows: list[list[str]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    return "\n".join(lines)


def write_result(*, name: str, title: str, command: str, body: str) -> Path:
    """Write docs/benchmarks/<name>.md with a dated header; return the path."""
    RESULTS_DIR.mkdir(parents=True, exist_ok=True)
    path = RESULTS_DIR / f"{name}.md"
    header = (
        f"# Benchmark: {title}\n\nCommand: `{command}`\n\n- date: {datetime.now(UTC):%Y-%m-%d %H:%M} UTC\n"
    )
    path.write_text(header + body)
    return path


# Child processes and workers ---------------------------------------------------------------------------


def run_child(script: str | Path, mode: str, environment: dict[str, str], *args: str) -> dict:
    """Run `script mode args…` in a fresh interpreter; its last stdout line is a JSON report."""
    completed = subprocess.run(
        [sys.executable, str(script), mode, *args],
        env=environment,
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
    )
    if completed.returncode != 0:
        sys.stderr.write(completed.stdout[-3000:] + completed.stderr[-5000:])
        raise SystemExit(f"{mode} failed with exit code {completed.returncode}")
    return json.loads(completed.stdout.strip().splitlines()[-1])


def peak_rss_mb(pid: int) -> float:
    """VmHWM (the high-water mark of resident memory) of a live process, in MB."""
    with open(f"/proc/{pid}/status") as status:
        for line in status:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    raise RuntimeError(f"no VmHWM for {pid}")


@contextmanager
def celery_workers(
    environment: dict[str, str], *, count: int, redis_url: str
) -> Iterator[tuple[dict[str, str], list[subprocess.Popen]]]:
    """`count` single-process (`--pool solo`) Celery workers on a fresh queue of `redis_url`.

    Yields the environment to dispatch with (the queue is every process's default) and the workers.
    """
    queue = f"bench-{uuid.uuid4().hex[:8]}"
    env = {**environment, "REDIS_URL": redis_url, "VICINO_CELERY_QUEUE": queue}
    processes = [
        subprocess.Popen(
            [sys.executable, "-m", "celery", "-A", "config", "worker", "--pool", "solo",
             "--loglevel", "WARNING", "--queues", queue, "--hostname", f"{queue}-{i}@localhost",
             "--without-gossip", "--without-mingle", "--without-heartbeat"],
            env=env, cwd=REPO_ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )
        for i in range(count)
    ]  # fmt: skip
    try:
        time.sleep(3)  # let the workers connect before work is published
        yield env, processes
    finally:
        for process in processes:
            process.send_signal(signal.SIGTERM)
        for process in processes:
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                process.kill()


# The synthetic city (call with Django set up) -----------------------------------------------------------


def copy_rows(cursor, table: str, columns: tuple[str, ...], rows: Iterable[tuple]) -> int:
    """COPY rows into a table through an open psycopg cursor; returns how many."""
    count = 0
    with cursor.copy(f"COPY {table} ({', '.join(columns)}) FROM STDIN") as copy:
        for row in rows:
            copy.write_row(row)
            count += 1
    return count


def venue_positions(rng, data_dir: Path) -> tuple:
    """(latitudes, longitudes) of the venues people cluster around: the real NYC POIs when present."""
    import numpy as np

    pois = data_dir / "foursquare-nyc" / "stan_NYC_pois.csv"
    if pois.is_file():
        data = np.loadtxt(pois, delimiter=",", skiprows=1, usecols=(1, 2))
        return data[:, 0], data[:, 1]
    centre_lat, centre_lon = 40.7580, -73.9855
    return centre_lat + rng.normal(0, 0.05, 5_000), centre_lon + rng.normal(0, 0.06, 5_000)


@dataclass
class SyntheticCity:
    place_ids: Any  # (venues,) int64
    user_ids: Any  # (people,) int64, ascending
    home: Any  # (people,) index of the venue each person lives near
    home_lat: Any
    home_lon: Any
    counts: dict[str, int]


def city_people_load(*, people: int, rng, location_updated_at: datetime) -> SyntheticCity:
    """Venues (the real NYC POIs when $VICINO_DATA_DIR has them), `people` people with profiles, each living
    near one venue, and their current locations. Inside the caller's transaction; draws from `rng` in a
    fixed order, so a seed gives the same city."""
    import numpy as np
    from django.conf import settings
    from django.db import connection

    from users import geo, taxonomy
    from users.models import Place, Profile, User

    venue_lat, venue_lon = venue_positions(rng, settings.VICINO_DATA_DIR)
    place_types = np.array(taxonomy.PLACE_TYPES)
    counts: dict[str, int] = {}
    Place.objects.bulk_create(
        [
            Place(
                source="bench",
                external_id=str(i),
                name=f"Venue {i}",
                place_type=str(place_types[rng.integers(len(place_types))]),
                latitude=float(lat),
                longitude=float(lon),
                geohash=geo.encode(float(lat), float(lon)),
            )
            for i, (lat, lon) in enumerate(zip(venue_lat, venue_lon, strict=True))
        ],
        batch_size=5_000,
    )
    place_ids = np.array(Place.objects.order_by("pk").values_list("pk", flat=True))
    counts["places"] = len(place_ids)

    unusable = "!"  # noqa: S105 - Django's marker for "no password can log in"
    User.objects.bulk_create(
        [
            User(username=f"bench_{i}", email=f"bench_{i}@example.org", password=unusable, role="person")
            for i in range(people)
        ],
        batch_size=5_000,
    )
    user_ids = np.array(User.objects.order_by("pk").values_list("pk", flat=True))
    counts["people"] = len(user_ids)
    genders, occupations = Profile.Gender.values, Profile.Occupation.values
    Profile.objects.bulk_create(
        [
            Profile(
                user_id=int(uid),
                birth_year=int(rng.integers(1950, 2008)) if rng.random() > 0.1 else None,
                gender=genders[rng.integers(len(genders))] if rng.random() > 0.1 else "",
                education_level=int(rng.integers(1, 7)),
                income_level=int(rng.integers(1, 6)),
                occupation=occupations[rng.integers(len(occupations))],
                city_level=1,
                years_at_residence=int(rng.integers(0, 30)),
                languages=["en"] if rng.random() > 0.3 else ["en", "es"],
                interests={k: round(float(rng.random()), 2) for k in rng.choice(taxonomy.INTERESTS, 4)},
                activity_preferences={k: 1.0 for k in rng.choice(taxonomy.ACTIVITY_TYPES, 2)},
                time_preferences={k: 1.0 for k in rng.choice(taxonomy.TIME_PREFERENCES, 2)},
            )
            for uid in user_ids
        ],
        batch_size=5_000,
    )

    # Each person lives near one venue.
    home = rng.integers(len(venue_lat), size=people)
    home_lat = venue_lat[home] + rng.normal(0, 0.003, people)
    home_lon = venue_lon[home] + rng.normal(0, 0.004, people)
    with connection.cursor() as cursor:
        counts["locations"] = copy_rows(
            cursor,
            "users_location",
            ("user_id", "latitude", "longitude", "geohash", "accuracy_m", "updated_at"),
            (
                (int(uid), float(a), float(b), geo.encode(float(a), float(b)), 15.0, location_updated_at)
                for uid, a, b in zip(user_ids, home_lat, home_lon, strict=True)
            ),
        )
    return SyntheticCity(place_ids, user_ids, home, home_lat, home_lon, counts)


def untrained_ralm_activate(
    *, version: str, n_places: int, embedding_dim: int, field_dim: int, hidden_dim: int, k: int, seed: int
):
    """A seeded, untrained RALM of the given sizes, saved, registered and activated as `ralm <version>`
    (inside a process with Django set up). Serving costs the same as with trained weights.
    Returns (user tower in eval mode, the ModelVersion)."""
    from matching import services
    from matching.features import SCHEMA
    from matching.serving import ralm_artefact_save
    from ml.ralm import (
        LookalikeConfig,
        LookalikeModel,
        UserRepresentationModel,
        UserTowerConfig,
        fields_from_schema,
    )

    tower = UserRepresentationModel(
        UserTowerConfig(
            fields=fields_from_schema(SCHEMA),
            n_places=n_places,
            field_dim=field_dim,
            attention_dim=max(4, field_dim // 2),
            hidden_dims=(2 * embedding_dim,),
            embedding_dim=embedding_dim,
            seed=seed,
        )
    ).eval()
    lookalike = LookalikeModel(
        LookalikeConfig(
            input_dim=embedding_dim,
            hidden_dim=hidden_dim,
            attention_dim=max(4, hidden_dim // 2),
            k=k,
            seed=seed,
        )
    ).eval()
    artefact_path = f"ralm/{version}"
    ralm_artefact_save(artefact_path=artefact_path, user_tower=tower, lookalike=lookalike)
    model_version = services.model_version_register(
        name="ralm",
        version=version,
        artefact_path=artefact_path,
        metrics={},
        feature_schema_version=SCHEMA.version,
    )
    services.model_version_activate(name="ralm", version=version)
    return tower, model_version
