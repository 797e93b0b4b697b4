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
import sys
import time
from datetime import UTC, datetime, timedelta

from common import (
    REPO_ROOT,
    benchmark_environment,
    celery_workers,
    city_people_load,
    copy_rows,
    database_drop,
    database_recreate,
    machine_line,
    markdown_table,
    migrate,
    peak_rss_mb,
    run_child,
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


def child_populate(people: int) -> None:
    """Load the synthetic city with COPY, in one transaction; print the row counts as JSON."""
    import django

    django.setup()
    import numpy as np
    from django.db import connection, transaction

    from users import geo

    rng = np.random.default_rng(SEED)
    started = time.perf_counter()
    history_start = AS_OF - timedelta(days=HISTORY_DAYS)

    with transaction.atomic():
        city = city_people_load(people=people, rng=rng, location_updated_at=AS_OF - timedelta(hours=1))
        counts: dict[str, int] = dict(city.counts)
        place_ids, user_ids, home = city.place_ids, city.user_ids, city.home
        home_lat, home_lon = city.home_lat, city.home_lon
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
            counts["pings"] = copy_rows(
                cursor,
                "users_locationping",
                ("user_id", "latitude", "longitude", "geohash", "accuracy_m", "recorded_at", "source"),
                (
                    (int(user_ids[o]), float(a), float(b), geo.encode(float(a), float(b)), 15.0,
                     history_start + timedelta(minutes=int(m)), "app")
                    for o, a, b, m in zip(owners, lats, lons, minutes, strict=True)
                ),
            )  # fmt: skip

            owners, minutes = minutes_unique_per_person(VISITS_PER_PERSON)
            # Visits go to venues near home: the home venue's neighbours in file order, a cheap locality.
            visited = np.clip(home[owners] + rng.integers(-20, 21, owners.size), 0, len(place_ids) - 1)
            counts["visits"] = copy_rows(
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
            counts["follows"] = copy_rows(
                cursor,
                "users_follow",
                ("follower_id", "followee_id", "created_at"),
                ((int(user_ids[k // people]), int(user_ids[k % people]), history_start) for k in pairs),
            )

            actors = np.repeat(np.arange(people), EVENTS_PER_PERSON)
            targets = (actors + rng.integers(1, 200, actors.size)) % people
            kinds = np.array(["view", "like", "wave", "message"])[rng.integers(0, 4, actors.size)]
            minutes = rng.integers(0, span_minutes, actors.size)
            counts["events"] = copy_rows(
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
            counts["sessions"] = copy_rows(
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


def refresh_with_workers(environment: dict[str, str], workers: int) -> dict:
    with celery_workers(environment, count=workers, redis_url=REDIS_URL) as (env, processes):
        report = run_child(__file__, "--child-dispatch", env)
        report["peak_rss_mb"] = max(peak_rss_mb(p.pid) for p in processes)
        return report


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
            loaded = run_child(__file__, "--child-populate", environment, str(people))
            sys.stderr.write(f"[{people:,} people] loaded in {loaded['seconds']:.0f} s: {loaded}\n")
            modes = [("1 process", run_child(__file__, "--child-in-process", environment))]
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
