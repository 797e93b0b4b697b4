"""Reachability checks for PostgreSQL and Redis, with messages that say what to do."""

from __future__ import annotations

import socket
from urllib.parse import urlparse

from django.core.exceptions import ImproperlyConfigured


def _tcp_reachable(host: str, port: int, timeout: float = 2.0) -> str | None:
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return None
    except OSError as exc:
        return str(exc)


def require_services(*, database_url: str, redis_url: str) -> None:
    """Raise ImproperlyConfigured naming every unreachable service and how to start it."""
    problems = []
    db = urlparse(database_url)
    if db.scheme.startswith("postgres"):
        error = _tcp_reachable(db.hostname or "127.0.0.1", db.port or 5432)
        if error:
            problems.append(
                f"PostgreSQL is not reachable at {db.hostname}:{db.port or 5432} ({error}). "
                "Start it, e.g. `pg_ctlcluster --skip-systemctl-redirect $(ls /etc/postgresql) main start`."
            )
    else:
        problems.append(f"The test suite needs PostgreSQL, but DATABASE_URL is {database_url!r}.")
    rd = urlparse(redis_url)
    error = _tcp_reachable(rd.hostname or "127.0.0.1", rd.port or 6379)
    if error:
        problems.append(
            f"Redis is not reachable at {rd.hostname}:{rd.port or 6379} ({error}). "
            "Start it, e.g. `redis-server --daemonize yes --bind 127.0.0.1 --port 6379 --save ''`."
        )
    if problems:
        raise ImproperlyConfigured("Vicino's tests run against real services.\n  " + "\n  ".join(problems))
