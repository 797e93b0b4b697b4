"""Benchmark: the full Foursquare NYC import into a fresh PostgreSQL database, first run and rerun.

    .venv/bin/python benchmarks/import_checkins.py [--keep-database]

Drops and recreates the throwaway database `vicino_bench_import` on 127.0.0.1:5432 (user postgres),
migrates it, then runs the import twice, each in its own process so peak RSS is per run. Prints a table
and writes it to docs/benchmarks/import_checkins.md. Target: first run < 3 minutes on 2 cores; the
second run adds no rows.
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import time

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

DATABASE_NAME = "vicino_bench_import"
TABLES = ("users", "profiles", "places", "visits", "pings", "locations", "follows")
TARGET_FIRST_RUN_SECONDS = 180


def child_run() -> None:
    """One import, in this process: prints its measurements as JSON on the last line of stdout."""
    import django

    django.setup()
    from django.conf import settings

    from users.importers import checkins_load, foursquare_nyc_dataset

    started = time.perf_counter()
    dataset = foursquare_nyc_dataset(data_dir=settings.VICINO_DATA_DIR)
    result = checkins_load(dataset=dataset)
    seconds = time.perf_counter() - started
    peak_rss_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux reports KiB
    report = {
        "seconds": seconds,
        "rows_read": result.rows_read["check-ins"],
        "added": result.added,
        "peak_rss_mb": peak_rss_mb,
    }
    sys.stdout.write(json.dumps(report) + "\n")


def run_import(environment: dict[str, str]) -> dict:
    completed = subprocess.run(
        [sys.executable, __file__, "--child"], env=environment, cwd=REPO_ROOT, capture_output=True, text=True
    )
    if completed.returncode != 0:
        sys.stderr.write(completed.stderr)
        raise SystemExit(f"import run failed with exit code {completed.returncode}")
    return json.loads(completed.stdout.strip().splitlines()[-1])


def runs_table(runs: list[tuple[str, dict]]) -> str:
    header = ["run", "seconds", "check-ins read", *(f"{table} added" for table in TABLES), "peak RSS MB"]
    rows = [
        [
            name,
            f"{run['seconds']:.1f}",
            f"{run['rows_read']:,}",
            *(f"{run['added'][table]:,}" for table in TABLES),
            f"{run['peak_rss_mb']:.0f}",
        ]
        for name, run in runs
    ]
    return markdown_table(header, rows)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--keep-database", action="store_true", help=f"Leave {DATABASE_NAME} for inspection.")
    options = parser.parse_args()
    if options.child:
        child_run()
        return

    environment = benchmark_environment(DATABASE_NAME)
    server_version = database_recreate(DATABASE_NAME)
    migrate(environment)
    try:
        runs = [("first", run_import(environment)), ("second", run_import(environment))]
    finally:
        if not options.keep_database:
            database_drop(DATABASE_NAME)

    table = runs_table(runs)
    first, second = runs[0][1], runs[1][1]
    meets = "meets" if first["seconds"] < TARGET_FIRST_RUN_SECONDS else "MISSES"
    verdict = [
        f"first run {first['seconds']:.1f} s: {meets} the < {TARGET_FIRST_RUN_SECONDS} s target",
        f"second run adds {sum(second['added'].values())} rows (target 0)",
    ]
    sys.stdout.write(table + "\n" + "\n".join(verdict) + "\n")

    path = write_result(
        name="import_checkins",
        title="Foursquare NYC check-in import",
        command=".venv/bin/python benchmarks/import_checkins.py",
        body=(
            f"- machine: {machine_line(server_version)}\n"
            "- setup: fresh PostgreSQL database, migrated; each run in its own process; peak RSS is that "
            "process's\n"
            "- data: `foursquare-nyc/derived/nyc_checkins_full_derived.csv` (147,938 check-ins) plus the "
            "GETNext val/test files\n\n"
            f"{table}\n\n" + "\n".join(f"- {line}" for line in verdict) + "\n\n"
            "Rows not added on the first run are duplicates the unique constraints drop: pings, one per "
            "person and minute; visits, one per person, place and minute.\n"
        ),
    )
    sys.stdout.write(f"written to {path.relative_to(REPO_ROOT)}\n")


if __name__ == "__main__":
    main()
