"""Shared plumbing for the benchmarks: throwaway PostgreSQL databases, environments, result tables."""

from __future__ import annotations

import os
import platform
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

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
