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
import os
import platform
import resource
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]
DATABASE_NAME = "vicino_bench_import"
SERVER_URL = "postgres://postgres@127.0.0.1:5432"
RESULT_PATH = REPO_ROOT / "docs" / "benchmarks" / "import_checkins.md"
TABLES = ("users", "profiles", "places", "visits", "pings", "locations", "follows")
TARGET_FIRST_RUN_SECONDS = 180


def benchmark_environment() -> dict[str, str]:
    return {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "config.settings",
        "DATABASE_URL": f"{SERVER_URL}/{DATABASE_NAME}",
        "SECRET_KEY": "benchmark-only-not-a-secret",
        "PYTHONPATH": str(REPO_ROOT),
    }


def database_recreate() -> str:
    import psycopg
    from psycopg import sql

    with psycopg.connect(f"{SERVER_URL}/postgres", autocommit=True) as connection:
        connection.execute(
            sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(DATABASE_NAME))
        )
        connection.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(DATABASE_NAME)))
        return connection.execute("SHOW server_version").fetchone()[0]


def database_drop() -> None:
    import psycopg
    from psycopg import sql

    with psycopg.connect(f"{SERVER_URL}/postgres", autocommit=True) as connection:
        connection.execute(
            sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(DATABASE_NAME))
        )


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


def markdown_table(runs: list[tuple[str, dict]]) -> str:
    header = ["run", "seconds", "check-ins read", *(f"{table} added" for table in TABLES), "peak RSS MB"]
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for name, run in runs:
        cells = [
            name,
            f"{run['seconds']:.1f}",
            f"{run['rows_read']:,}",
            *(f"{run['added'][table]:,}" for table in TABLES),
            f"{run['peak_rss_mb']:.0f}",
        ]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--keep-database", action="store_true", help=f"Leave {DATABASE_NAME} for inspection.")
    options = parser.parse_args()
    if options.child:
        child_run()
        return

    environment = benchmark_environment()
    server_version = database_recreate()
    subprocess.run(
        [sys.executable, "manage.py", "migrate", "--no-input", "-v", "0"],
        env=environment,
        cwd=REPO_ROOT,
        check=True,
    )
    try:
        runs = [("first", run_import(environment)), ("second", run_import(environment))]
    finally:
        if not options.keep_database:
            database_drop()

    table = markdown_table(runs)
    first, second = runs[0][1], runs[1][1]
    meets = "meets" if first["seconds"] < TARGET_FIRST_RUN_SECONDS else "MISSES"
    verdict = [
        f"first run {first['seconds']:.1f} s: {meets} the < {TARGET_FIRST_RUN_SECONDS} s target",
        f"second run adds {sum(second['added'].values())} rows (target 0)",
    ]
    sys.stdout.write(table + "\n" + "\n".join(verdict) + "\n")

    RESULT_PATH.parent.mkdir(parents=True, exist_ok=True)
    RESULT_PATH.write_text(
        "# Benchmark: Foursquare NYC check-in import\n\n"
        "Command: `.venv/bin/python benchmarks/import_checkins.py` (fresh PostgreSQL database, migrated; "
        "each run in its own process; peak RSS is that process's).\n\n"
        f"- date: {datetime.now(UTC):%Y-%m-%d %H:%M} UTC\n"
        f"- machine: {os.cpu_count()} CPU cores, {platform.machine()}, Python {platform.python_version()}, "
        f"PostgreSQL {server_version}\n"
        "- data: `foursquare-nyc/derived/nyc_checkins_full_derived.csv` (147,938 check-ins) plus the GETNext "
        "val/test files\n\n"
        f"{table}\n\n" + "\n".join(f"- {line}" for line in verdict) + "\n\n"
        "Rows not added on the first run are duplicates the unique constraints drop: pings, one per person "
        "and minute; visits, one per person, place and minute.\n"
    )
    sys.stdout.write(f"written to {RESULT_PATH.relative_to(REPO_ROOT)}\n")


if __name__ == "__main__":
    main()
