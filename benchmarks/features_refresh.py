"""Benchmark: the full feature refresh over a synthetic city, in one process and with 2 Celery workers.

    .venv/bin/python benchmarks/features_refresh.py [--sizes 25000,100000] [--keep-database]

For each size it recreates the throwaway database `vicino_bench_features` on 127.0.0.1:5432, migrates it
and loads N people with about 20 location pings and visits each (2,000,000 at 100,000 people), plus
follows, interaction events and app sessions, positioned around the real Foursquare NYC venues when
$VICINO_DATA_DIR has them (a synthetic Manhattan otherwise). Then it times the full refresh as of one
fixed moment:

- one process: `manage.py compute_features`, in-process, chunk by chunk;
- 2 workers: two `celery worker --pool solo` processes on Redis take the chunks of one chord.

It prints people per second and peak memory (max RSS of the refreshing process, or of either worker) and
writes the table to docs/benchmarks/features_refresh.md. Targets: under 5 minutes at 100,000 people with 2
workers, and peak memory that does not grow with the number of people.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import signal
import subprocess
import sys
import time
import uuid
from datetime import UTC, datetime, timedelta

from common import (
    REPO_ROOT,
    benchmark_environment,
    database_drop,
    database_recreate,
    machine_line,
    markdown_table,
    migrate,
    write_result,
)

DATABASE_NAME = "vicino_bench_features"
REDIS_URL = "redis://127.0.0.1:6379/6"
AS_OF = datetime(2026, 11, 1, tzinfo=UTC)
HISTORY_DAYS = 60
PINGS_PER_PERSON = 10
VISITS_PER_PERSON = 10
EVENTS_PER_PERSON = 8
FOLLOWS_PER_PERSON = 6
SESSIONS_PER_PERSON = 5
CHUNK_SIZE = 2_000
TARGET_SECONDS_2_WORKERS = 300
SEED = 20261101


# Population (runs in a child process with Django set up) ----------------------------------------------


def _copy_rows(cursor, table: str, columns: tuple[str, ...], rows) -> int:
    count = 0
    with cursor.copy(f"COPY {table} ({', '.join(columns)}) FROM STDIN") as copy:
        for row in rows:
            copy.write_row(row)
            count += 1
    return count


def _venues(rng, settings) -> tuple:
    """(latitudes, longitudes) of the venues people cluster around: real NYC POIs when present."""
    import numpy as np

    pois = settings.VICINO_DATA_DIR / "foursquare-nyc" / "stan_NYC_pois.csv"
    if pois.is_file():
        data = np.loadtxt(pois, delimiter=",", skiprows=1, usecols=(1, 2))
        return data[:, 0], data[:, 1]
    centre_lat, centre_lon = 40.7580, -73.9855
    return centre_lat + rng.normal(0, 0.05, 5_000), centre_lon + rng.normal(0, 0.06, 5_000)


def child_populate(people: int) -> None:
    """Load the synthetic city with COPY, in one transaction; print the row counts as JSON."""
    import django

    django.setup()
    import numpy as np
    from django.conf import settings
    from django.db import connection, transaction

    from users import geo, taxonomy
    from users.models import Place, Profile, User

    rng = np.random.default_rng(SEED)
    started = time.perf_counter()
    venue_lat, venue_lon = _venues(rng, settings)
    place_types = np.array(taxonomy.PLACE_TYPES)
    counts: dict[str, int] = {}
    history_start = AS_OF - timedelta(days=HISTORY_DAYS)

    with transaction.atomic():
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
            [User(username=f"bench_{i}", password=unusable, role="person") for i in range(people)],
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

        # Each person lives near one venue and moves around it.
        home = rng.integers(len(venue_lat), size=people)
        home_lat = venue_lat[home] + rng.normal(0, 0.003, people)
        home_lon = venue_lon[home] + rng.normal(0, 0.004, people)
        span_minutes = HISTORY_DAYS * 24 * 60

        def minutes_unique_per_person(per_person: int):
            owners = np.repeat(np.arange(people), per_person)
            minutes = rng.integers(0, span_minutes, size=owners.size)
            keys = np.unique(owners.astype(np.int64) * span_minutes + minutes)
            return keys // span_minutes, keys % span_minutes

        with connection.cursor() as cursor:
            owners, minutes = minutes_unique_per_person(PINGS_PER_PERSON)
            lats = home_lat[owners] + rng.normal(0, 0.01, owners.size)
            lons = home_lon[owners] + rng.normal(0, 0.013, owners.size)
            counts["pings"] = _copy_rows(
                cursor,
                "users_locationping",
                ("user_id", "latitude", "longitude", "geohash", "accuracy_m", "recorded_at", "source"),
                (
                    (int(user_ids[o]), float(a), float(b), geo.encode(float(a), float(b)), 15.0,
                     history_start + timedelta(minutes=int(m)), "app")
                    for o, a, b, m in zip(owners, lats, lons, minutes, strict=True)
                ),
            )  # fmt: skip
            counts["locations"] = _copy_rows(
                cursor,
                "users_location",
                ("user_id", "latitude", "longitude", "geohash", "accuracy_m", "updated_at"),
                (
                    (
                        int(uid),
                        float(a),
                        float(b),
                        geo.encode(float(a), float(b)),
                        15.0,
                        AS_OF - timedelta(hours=1),
                    )
                    for uid, a, b in zip(user_ids, home_lat, home_lon, strict=True)
                ),
            )

            owners, minutes = minutes_unique_per_person(VISITS_PER_PERSON)
            # Visits go to venues near home: the home venue's neighbours in file order, a cheap locality.
            visited = np.clip(home[owners] + rng.integers(-20, 21, owners.size), 0, len(place_ids) - 1)
            counts["visits"] = _copy_rows(
                cursor,
                "users_visit",
                ("user_id", "place_id", "visited_at"),
                (
                    (int(user_ids[o]), int(place_ids[p]), history_start + timedelta(minutes=int(m)))
                    for o, p, m in zip(owners, visited, minutes, strict=True)
                ),
            )

            # Follows to people with nearby ids (small communities), half of them returned.
            follower = np.repeat(np.arange(people), FOLLOWS_PER_PERSON)
            followee = (follower + rng.integers(1, 50, follower.size)) % people
            back = rng.random(follower.size) < 0.5
            pairs = np.unique(
                np.concatenate(
                    [follower * people + followee, followee[back] * people + follower[back]]
                ).astype(np.int64)
            )
            counts["follows"] = _copy_rows(
                cursor,
                "users_follow",
                ("follower_id", "followee_id", "created_at"),
                ((int(user_ids[k // people]), int(user_ids[k % people]), history_start) for k in pairs),
            )

            actors = np.repeat(np.arange(people), EVENTS_PER_PERSON)
            targets = (actors + rng.integers(1, 200, actors.size)) % people
            kinds = np.array(["view", "like", "wave", "message"])[rng.integers(0, 4, actors.size)]
            minutes = rng.integers(0, span_minutes, actors.size)
            counts["events"] = _copy_rows(
                cursor,
                "users_interactionevent",
                ("kind", "actor_id", "target_id", "occurred_at", "metadata"),
                (
                    (
                        str(k),
                        int(user_ids[a]),
                        int(user_ids[t]),
                        history_start + timedelta(minutes=int(m)),
                        "{}",
                    )
                    for k, a, t, m in zip(kinds, actors, targets, minutes, strict=True)
                ),
            )

            owners = np.repeat(np.arange(people), SESSIONS_PER_PERSON)
            starts = rng.integers(0, span_minutes, owners.size)
            lengths = rng.integers(1, 90, owners.size)
            counts["sessions"] = _copy_rows(
                cursor,
                "users_appsession",
                ("user_id", "platform", "started_at", "ended_at"),
                (
                    (int(user_ids[o]), "web", history_start + timedelta(minutes=int(s)),
                     history_start + timedelta(minutes=int(s + n)))
                    for o, s, n in zip(owners, starts, lengths, strict=True)
                ),
            )  # fmt: skip
        cursor = connection.cursor()
        cursor.execute("ANALYZE")
    counts["seconds"] = time.perf_counter() - started
    sys.stdout.write(json.dumps(counts) + "\n")


# The two ways of refreshing ------------------------------------------------------------------------------


def child_refresh_in_process() -> None:
    """The synchronous command, in this process; print seconds, rows and peak RSS as JSON."""
    import django

    django.setup()
    from django.core.management import call_command

    from matching.models import FeatureVector

    started = time.perf_counter()
    with open(os.devnull, "w") as quiet:
        call_command(
            "compute_features", as_of=AS_OF.isoformat(), chunk_size=CHUNK_SIZE, stdout=quiet, stderr=quiet
        )
    seconds = time.perf_counter() - started
    report = {
        "seconds": seconds,
        "rows": FeatureVector.objects.filter(as_of=AS_OF).count(),
        "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
    }
    sys.stdout.write(json.dumps(report) + "\n")


def child_refresh_dispatch() -> None:
    """Start a full refresh through Celery and wait for it; print seconds and rows as JSON."""
    import django

    django.setup()
    from matching.models import FeatureRefreshRun, FeatureVector
    from matching.services import feature_refresh_run_start

    started = time.perf_counter()
    run = feature_refresh_run_start(at=AS_OF, chunk_size=CHUNK_SIZE)
    while True:
        run.refresh_from_db()
        if run.status in (FeatureRefreshRun.Status.SUCCEEDED, FeatureRefreshRun.Status.FAILED):
            break
        time.sleep(0.2)
    seconds = time.perf_counter() - started
    if run.status != FeatureRefreshRun.Status.SUCCEEDED:
        raise SystemExit(f"the refresh failed: {run.error}")
    sys.stdout.write(
        json.dumps({"seconds": seconds, "rows": FeatureVector.objects.filter(as_of=AS_OF).count()}) + "\n"
    )


def _peak_rss_mb(pid: int) -> float:
    """VmHWM (the high-water mark of resident memory) of a live process, in MB."""
    with open(f"/proc/{pid}/status") as status:
        for line in status:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    raise RuntimeError(f"no VmHWM for {pid}")


def run_child(mode: str, environment: dict[str, str], *args: str) -> dict:
    completed = subprocess.run(
        [sys.executable, __file__, mode, *args],
        env=environment,
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
    )
    if completed.returncode != 0:
        sys.stderr.write(completed.stdout[-3000:] + completed.stderr[-5000:])
        raise SystemExit(f"{mode} failed with exit code {completed.returncode}")
    return json.loads(completed.stdout.strip().splitlines()[-1])


def refresh_with_workers(environment: dict[str, str], workers: int) -> dict:
    queue = f"bench-{uuid.uuid4().hex[:8]}"
    env = {**environment, "REDIS_URL": REDIS_URL, "VICINO_CELERY_QUEUE": queue}
    processes = [
        subprocess.Popen(
            [sys.executable, "-m", "celery", "-A", "config", "worker", "--pool", "solo",
             "--loglevel", "WARNING", "--queues", queue, "--hostname", f"{queue}-{i}@localhost",
             "--without-gossip", "--without-mingle", "--without-heartbeat"],
            env=env, cwd=REPO_ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )
        for i in range(workers)
    ]  # fmt: skip
    try:
        time.sleep(3)  # let the workers connect before the chord is published
        report = run_child("--child-dispatch", env)
        report["peak_rss_mb"] = max(_peak_rss_mb(p.pid) for p in processes)
        return report
    finally:
        for process in processes:
            process.send_signal(signal.SIGTERM)
        for process in processes:
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                process.kill()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--child-populate", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--child-in-process", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--child-dispatch", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--sizes", default="25000,100000", help="Comma-separated numbers of people.")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--keep-database", action="store_true")
    options = parser.parse_args()
    if options.child_populate:
        child_populate(options.child_populate)
        return
    if options.child_in_process:
        child_refresh_in_process()
        return
    if options.child_dispatch:
        child_refresh_dispatch()
        return

    environment = benchmark_environment(DATABASE_NAME)
    rows, verdicts, server_version = [], [], ""
    for people in (int(size) for size in options.sizes.split(",")):
        server_version = database_recreate(DATABASE_NAME)
        try:
            migrate(environment)
            sys.stderr.write(f"[{people:,} people] loading the synthetic city …\n")
            loaded = run_child("--child-populate", environment, str(people))
            sys.stderr.write(f"[{people:,} people] loaded in {loaded['seconds']:.0f} s: {loaded}\n")
            modes = [("1 process", run_child("--child-in-process", environment))]
            sys.stderr.write(f"[{people:,} people] 1 process: {modes[-1][1]}\n")
            modes.append((f"{options.workers} workers", refresh_with_workers(environment, options.workers)))
            sys.stderr.write(f"[{people:,} people] {options.workers} workers: {modes[-1][1]}\n")
        finally:
            if not options.keep_database:
                database_drop(DATABASE_NAME)
        for mode, report in modes:
            if report["rows"] != people:
                raise SystemExit(f"{mode} stored {report['rows']} rows for {people} people")
            rows.append(
                [
                    f"{people:,}",
                    f"{loaded['pings'] + loaded['visits']:,}",
                    mode,
                    f"{report['seconds']:.1f}",
                    f"{people / report['seconds']:,.0f}",
                    f"{report['peak_rss_mb']:.0f}",
                ]
            )
            if mode.endswith("workers") and people >= 100_000:
                meets = "meets" if report["seconds"] < TARGET_SECONDS_2_WORKERS else "MISSES"
                verdicts.append(
                    f"{people:,} people with {mode}: {report['seconds']:.0f} s, {meets} the "
                    f"< {TARGET_SECONDS_2_WORKERS} s target"
                )

    header = ["people", "pings + visits", "refresh", "seconds", "people/s", "peak RSS MB"]
    table = markdown_table(header, rows)
    sys.stdout.write(table + "\n" + "\n".join(verdicts) + "\n")
    path = write_result(
        name="features_refresh",
        title="full feature refresh",
        command=".venv/bin/python benchmarks/features_refresh.py",
        body=(
            f"- machine: {machine_line(server_version)}\n"
            f"- data: synthetic people around the Foursquare NYC venues, {PINGS_PER_PERSON} pings, "
            f"{VISITS_PER_PERSON} visits, {EVENTS_PER_PERSON} events, ~{FOLLOWS_PER_PERSON * 1.5:.0f} "
            f"follows and {SESSIONS_PER_PERSON} app sessions per person over {HISTORY_DAYS} days; "
            f"as of {AS_OF:%Y-%m-%d}\n"
            f"- chunks of {CHUNK_SIZE:,} people; peak RSS is the refreshing process's high-water mark (for "
            "workers, the larger of the two)\n\n"
            f"{table}\n\n" + "\n".join(f"- {line}" for line in verdicts) + "\n"
        ),
    )
    sys.stdout.write(f"written to {path.relative_to(REPO_ROOT)}\n")


if __name__ == "__main__":
    main()
