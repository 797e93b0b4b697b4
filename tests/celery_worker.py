"""A real Celery worker process for tests: `celery -A config worker` on the test Redis and database.

Tests that use it need committed data (`transactional_db`), because the worker has its own connection.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from django.conf import settings
from django.db import connection

ROOT = Path(__file__).resolve().parents[1]


@contextmanager
def worker_process(*, queue: str, concurrency: int = 1, timeout: float = 60.0) -> Iterator[subprocess.Popen]:
    """Start a worker on `queue`, wait until it answers a ping, yield its process, stop it.

    The worker leads its own process group, so a test can kill it with its pool children at once
    (`os.killpg(process.pid, signal.SIGKILL)`) and start another one on the same queue.
    """
    from config.celery import app

    db = settings.DATABASES["default"]
    database_url = f"postgres://{db['USER']}@{db['HOST']}:{db['PORT']}/{connection.settings_dict['NAME']}"
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "config.settings_test",
        "DATABASE_URL": database_url,
        "REDIS_URL": settings.REDIS_URL,
        "VICINO_CELERY_QUEUE": queue,
    }
    node = f"{queue}-{uuid.uuid4().hex[:6]}@localhost"
    # A file, not a pipe: nobody reads a pipe while the worker runs, and a worker whose log fills the pipe
    # buffer blocks on its next write, which looks exactly like a hung task.
    log = tempfile.NamedTemporaryFile(prefix=f"{queue}-", suffix=".log", delete=False)  # noqa: SIM115
    process = subprocess.Popen(
        [sys.executable, "-m", "celery", "-A", "config", "worker", "--loglevel", "WARNING",
         "--pool", "prefork", "--concurrency", str(concurrency), "--queues", queue, "--hostname", node,
         "--without-gossip", "--without-mingle", "--without-heartbeat"],
        cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
    )  # fmt: skip
    failed = False
    try:
        deadline = time.monotonic() + timeout
        while not app.control.ping(destination=[node], timeout=1.0):
            if process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"the Celery worker did not come up:\n{_tail(log.name)}")
        yield process
    except BaseException:
        # Whatever failed inside the block, the worker's own account of it belongs in the report.
        failed = True
        sys.stderr.write(f"--- Celery worker log ({log.name}) ---\n{_tail(log.name)}\n")
        raise
    finally:
        if process.poll() is None:
            process.terminate()
            try:
                process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        log.close()
        if not failed:
            os.unlink(log.name)  # kept after a failure, for a closer look


@contextmanager
def running_worker(*, concurrency: int = 1, timeout: float = 60.0) -> Iterator[str]:
    """Start a worker on a fresh queue, wait until it answers a ping, yield the queue name, stop it.

    Send work to it with `task.apply_async(..., queue=queue)`.
    """
    queue = f"test-{uuid.uuid4().hex[:12]}"
    with worker_process(queue=queue, concurrency=concurrency, timeout=timeout):
        yield queue


def _tail(path: str, lines: int = 80) -> str:
    with open(path, errors="replace") as handle:
        return "".join(handle.readlines()[-lines:])
