"""Benchmark: GET /api/nearby/ for a city of 100,000 people, served by gunicorn on loopback.

    .venv/bin/python benchmarks/nearby.py [--people 100000] [--requests 6000] [--paced-requests 1500]
                                          [--think-ms 1000,500,250] [--reference-requests 3000]
                                          [--clients 20] [--workers 3] [--steady-warmup-seconds 60]
                                          [--keep-database]

It recreates the throwaway database `vicino_bench_nearby` on 127.0.0.1:5432, migrates it and loads the
city (in a child process with Django set up):

- 100,000 people, each living around a real Foursquare NYC venue ($VICINO_DATA_DIR/foursquare-nyc; a
  venue is picked in proportion to its check-ins, and the home scattered ~300 m around it), or around a
  built-in synthetic Manhattan when the data is absent; profiles with tastes; a few mutual follows each;
  locations updated over the last two days;
- a RALM model of the production size (embedding 32, as `train_ralm` builds it; untrained, seeded: serving
  costs the same) registered and active, and every person's embedding stored;
- a running nearby experiment with two variants, so every request also does the assignment, the
  exposure log and the impression count;
- API tokens for the people who query.

Then it starts gunicorn (`config.wsgi`, sync workers, the production stack: PostgreSQL and Redis, not the
embedded mode) on 127.0.0.1, warms each worker up, runs the first phase's load unmeasured for a minute
(the lifetime of a cell's cached roster, so that the rosters are in the steady state of a city being
served), and runs 20 concurrent clients (one asyncio task each, a new connection per request as
gunicorn's sync workers close them): paced (each client waits 1 s, then
0.5 s, then 0.25 s between requests), then in a closed loop (each client sends its next request as soon as
the last one answered: saturation). Each request is a different person (token) asking for the default radius
(5 km) and 20 results, one in five with their friends as seeds. Last, as a reference, the same closed
loop on GET /api/me/, the smallest authenticated endpoint: the floor of the stack on this machine. It
prints p50/p95/p99, throughput and the error count (any status but 200, or a failed connection) of each,
and the CPU each part spent per request, and writes docs/benchmarks/nearby.md. Target: p95 ≤ 50 ms with
0 errors.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import math
import os
import secrets
import signal
import socket
import subprocess
import sys
import tempfile
import time
from datetime import timedelta
from typing import NamedTuple

from common import (
    REPO_ROOT,
    SERVER_URL,
    benchmark_environment,
    copy_rows,
    database_drop,
    database_recreate,
    machine_line,
    markdown_table,
    migrate,
    run_child,
    untrained_ralm_activate,
    write_result,
)

DATABASE_NAME = "vicino_bench_nearby"
REDIS_URL = "redis://127.0.0.1:6379/7"
SEED = 20261122
FOLLOWS_PER_PERSON = 4
HOME_SCATTER_KM = 0.3
TARGET_P95_MS = 50.0
WITH_FRIENDS_SHARE = 0.2
WARMUP_PER_WORKER = 40
#: After the per-worker warm-up, the first phase's load runs this long unmeasured, so that the cells'
#: rosters (kept VICINO_NEARBY_ROSTER_SECONDS, 60) reach the steady state of a service that has been
#: serving: by then every roster cached at the start has expired and been rebuilt at least once.
STEADY_WARMUP_SECONDS = 60.0
#: Requests whose round trips (SQL statements, Redis commands and pipelines) are counted after the load.
ROUND_TRIP_REQUESTS = 50
#: The paced phases: each client waits this long between requests. 1 s is one person refreshing every
#: second (twice what the per-person rate limit of 30/min allows); the shorter ones find where the
#: target stops holding as the offered load grows towards saturation.
PACED_THINK_MS = (1000.0, 500.0, 250.0)
#: The reference phase: the same clients, closed loop, on the smallest authenticated endpoint (token
#: lookup, one profile read, a serializer): what the stack (gunicorn, Django, DRF, PostgreSQL on these 2
#: cores) costs before nearby does any work.
REFERENCE_PATH = "/api/me/"
REFERENCE_NAME = f"reference: GET {REFERENCE_PATH}, closed loop"


class Phase(NamedTuple):
    name: str
    requests: int
    think_seconds: float
    #: None: the nearby mix; else every request GETs this path.
    path: str | None = None


# The city (a child process with Django set up) --------------------------------------------------------


def _venues(rng, data_dir):
    """(latitudes, longitudes, weights, source) of the places people live around."""
    import numpy as np

    pois = data_dir / "foursquare-nyc" / "stan_NYC_pois.csv"
    checkins = data_dir / "foursquare-nyc" / "stan_NYC_checkins.csv"
    if pois.is_file():
        data = np.loadtxt(pois, delimiter=",", skiprows=1, usecols=(0, 1, 2))
        weights = np.ones(len(data))
        if checkins.is_file():
            visited = np.loadtxt(checkins, delimiter=",", skiprows=1, usecols=(1,), dtype=np.int64)
            index = {int(poi): row for row, poi in enumerate(data[:, 0])}
            for poi, count in zip(*np.unique(visited, return_counts=True), strict=True):
                if int(poi) in index:
                    weights[index[int(poi)]] += count
        return (
            data[:, 1],
            data[:, 2],
            weights / weights.sum(),
            "the 5,135 Foursquare NYC venues, by check-ins",
        )
    # Built-in fallback: a synthetic Manhattan, dense in the middle and thinning out.
    lat = 40.7580 + rng.normal(0, 0.035, 5_000)
    lon = -73.9855 + rng.normal(0, 0.03, 5_000)
    return lat, lon, np.full(5_000, 1 / 5_000), "a synthetic Manhattan (Foursquare NYC not found)"


def child_populate(people: int, queriers: int, model_dir: str) -> None:
    import django

    django.setup()
    import numpy as np
    import torch
    from django.conf import settings
    from django.db import connection, transaction
    from django.utils import timezone

    from matching.experiments import services as experiments
    from matching.features import SCHEMA
    from matching.serving import user_embeddings_encode
    from matching.training import RalmTrainingOptions
    from users import geo, taxonomy
    from users.models import User

    started = time.perf_counter()
    rng = np.random.default_rng(SEED)
    venue_lat, venue_lon, weights, source = _venues(rng, settings.VICINO_DATA_DIR)
    home = rng.choice(len(venue_lat), size=people, p=weights)
    scatter = HOME_SCATTER_KM / geo.KM_PER_DEGREE_LAT
    lat = venue_lat[home] + rng.normal(0, scatter, people)
    lon = venue_lon[home] + rng.normal(0, scatter / np.cos(np.radians(40.75)), people)
    now = timezone.now()
    counts = {"source": source}

    with transaction.atomic(), connection.cursor() as cursor:
        unusable = "!"  # noqa: S105 - Django's marker for "no password can log in"
        counts["people"] = copy_rows(
            cursor,
            "users_user",
            ("username", "password", "role", "display_name", "email", "first_name", "last_name", "is_staff",
             "is_active", "is_superuser", "date_joined"),
            ((f"bench_{i}", unusable, "person", f"Person {i}", "", "", "", False, True, False, now)
             for i in range(people)),
        )  # fmt: skip
        cursor.execute("SELECT id FROM users_user ORDER BY id")
        user_ids = np.array([row[0] for row in cursor.fetchall()], dtype=np.int64)

        def tastes(vocabulary, k):
            return json.dumps(
                {str(key): round(float(rng.random()), 2) for key in rng.choice(vocabulary, k, replace=False)}
            )

        copy_rows(
            cursor,
            "users_profile",
            ("user_id", "birth_year", "gender", "occupation", "marital_status", "languages", "interests",
             "activity_preferences", "place_type_preferences", "time_preferences", "skills", "bio",
             "hide_from_nearby", "show_age_group", "allow_invitations", "lifetime_value", "marketing_opt_out",
             "updated_at"),
            ((int(uid), int(rng.integers(1950, 2008)), "", "", "", "[]", tastes(taxonomy.INTERESTS, 4),
              tastes(taxonomy.ACTIVITY_TYPES, 2), "{}", "{}", "{}", "", bool(rng.random() < 0.03), True, True,
              0, False, now)
             for uid in user_ids),
        )  # fmt: skip
        copy_rows(
            cursor,
            "users_location",
            ("user_id", "latitude", "longitude", "geohash", "accuracy_m", "updated_at"),
            ((int(uid), float(a), float(b), geo.encode(float(a), float(b)), 15.0,
              now - timedelta(minutes=int(rng.integers(0, 48 * 60))))
             for uid, a, b in zip(user_ids, lat, lon, strict=True)),
        )  # fmt: skip
        # Friends live near each other: follows between people of neighbouring ids, both ways.
        follower = np.repeat(np.arange(people), FOLLOWS_PER_PERSON)
        followee = (follower + rng.integers(1, 40, follower.size)) % people
        pairs = np.unique(np.concatenate([follower * people + followee, followee * people + follower]))
        counts["follows"] = copy_rows(
            cursor,
            "users_follow",
            ("follower_id", "followee_id", "created_at"),
            ((int(user_ids[k // people]), int(user_ids[k % people]), now) for k in pairs.tolist()),
        )
        tokens = [
            (secrets.token_hex(20), int(uid), now) for uid in rng.choice(user_ids, queriers, replace=False)
        ]
        copy_rows(cursor, "authtoken_token", ("key", "user_id", "created"), tokens)

    # RALM of the size train_ralm builds (its default options), untrained: serving does the same work.
    sizes = RalmTrainingOptions()
    tower, version = untrained_ralm_activate(
        version="bench",
        n_places=5_135,
        embedding_dim=sizes.embedding_dim,
        field_dim=sizes.field_dim,
        hidden_dim=sizes.hidden_dim,
        k=sizes.k,
        seed=SEED,
    )
    features = rng.random((people, SCHEMA.total_dim), dtype=np.float32)
    with torch.no_grad():
        vectors = user_embeddings_encode(user_tower=tower, matrix=features).astype("<f4")
    with transaction.atomic(), connection.cursor() as cursor:
        counts["embeddings"] = copy_rows(
            cursor,
            "matching_userembedding",
            ("user_id", "model_version_id", "vector", "features_as_of", "computed_at"),
            ((int(uid), version.pk, vectors[row].tobytes(), now, now) for row, uid in enumerate(user_ids)),
        )
    marketer = User.objects.create(username="bench_marketer", role="marketer", password="!")  # noqa: S106
    experiment = experiments.experiment_create(
        created_by=marketer,
        key="nearby-blend",
        surface="nearby",
        variants=[
            {"key": "control", "weight": 1},
            {"key": "closer", "weight": 1, "config": {"w_d": 0.7, "w_s": 0.3}},
        ],
    )
    experiments.experiment_start(experiment_id=experiment.pk)
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE")
    counts["tokens"] = [key for key, _uid, _now in tokens]
    counts["seconds"] = time.perf_counter() - started
    sys.stdout.write(json.dumps(counts) + "\n")


def child_stats() -> None:
    """What the run left in the database (exposures), then the round trips one request makes: ROUND_TRIP_
    REQUESTS people who have not asked yet (so, like the load, a cold seed summary and a first exposure)
    each ask once through Django's whole stack in this process, counting the SQL statements sent through
    Django's connection and the round trips to Redis (a command, or a pipeline of them; a script's own
    commands run inside Redis). Unlike latency, these counts do not depend on what else the machine does."""
    import django

    django.setup()
    import redis
    from django.db import connection
    from django.test import Client
    from django.test.utils import CaptureQueriesContext
    from rest_framework.authtoken.models import Token

    from matching.experiments.models import ExperimentExposure

    exposures = ExperimentExposure.objects.count()
    keys = list(
        Token.objects.exclude(user_id__in=ExperimentExposure.objects.values("user_id"))
        .order_by("user_id")
        .values_list("key", flat=True)[:ROUND_TRIP_REQUESTS]
    )
    sent = {"redis": 0}
    execute = redis.Redis.execute_command

    def counted(self, *args, **options):
        sent["redis"] += 1
        return execute(self, *args, **options)

    pipeline_execute = redis.client.Pipeline.execute

    def counted_pipeline(self, *args, **options):
        # A pipeline queues its commands (Pipeline overrides execute_command) and sends them in one go.
        sent["redis"] += bool(self.command_stack)
        return pipeline_execute(self, *args, **options)

    redis.Redis.execute_command = counted  # this measuring process only
    redis.client.Pipeline.execute = counted_pipeline
    client, statements = Client(), 0
    for key in keys:
        with CaptureQueriesContext(connection) as queries:
            response = client.get("/api/nearby/", HTTP_AUTHORIZATION=f"Token {key}", HTTP_HOST="127.0.0.1")
        if response.status_code != 200:
            raise SystemExit(f"counting round trips: {response.status_code} {response.content[:200]!r}")
        statements += len(queries.captured_queries)
    commands = sent["redis"]
    sys.stdout.write(
        json.dumps(
            {
                "exposures": exposures,
                "sql_per_request": statements / len(keys),
                "redis_per_request": commands / len(keys),
            }
        )
        + "\n"
    )


# The server and the clients ----------------------------------------------------------------------------


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


async def _get(port: int, path: str, token: str) -> tuple[int, bytes]:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        writer.write(
            f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Token {token}\r\n"
            "Connection: close\r\n\r\n".encode()
        )
        await writer.drain()
        raw = await reader.read()
    finally:
        writer.close()
    status_line, _, rest = raw.partition(b"\r\n")
    _headers, _, body = rest.partition(b"\r\n\r\n")
    return int(status_line.split()[1]), body


async def _load(
    port: int,
    tokens: list[str],
    total: int,
    clients: int,
    think_seconds: float = 0.0,
    path: str | None = None,
) -> dict:
    """`total` requests from `clients` concurrent clients, each a different person: GET /api/nearby/
    (one in WITH_FRIENDS_SHARE with friends as seeds), or `path` for every request."""
    import random

    rng = random.Random(SEED)
    plan = [
        (
            tokens[i % len(tokens)],
            path
            or ("/api/nearby/?with_friends=true" if rng.random() < WITH_FRIENDS_SHARE else "/api/nearby/"),
        )
        for i in range(total)
    ]
    latencies: list[float] = []
    errors: list[str] = []
    results_per_answer: list[int] = []
    ralm_share: list[float] = []
    cursor = iter(plan)

    async def client() -> None:
        for token, url in cursor:
            started = time.perf_counter()
            try:
                status, body = await _get(port, url, token)
            except OSError as error:
                errors.append(repr(error))
                continue
            latencies.append(time.perf_counter() - started)
            if status != 200:
                errors.append(f"{status}: {body[:200]!r}")
                continue
            if path:
                continue
            rows = json.loads(body)["results"]
            results_per_answer.append(len(rows))
            if rows:
                ralm_share.append(sum(row["similarity_source"] == "ralm" for row in rows) / len(rows))
            if think_seconds:
                await asyncio.sleep(think_seconds)

    started = time.perf_counter()
    await asyncio.gather(*(client() for _ in range(clients)))
    return {
        "seconds": time.perf_counter() - started,
        "latencies": latencies,
        "errors": errors,
        "results": results_per_answer,
        "ralm_share": ralm_share,
    }


def _summary(measured: dict) -> dict:
    import numpy as np

    latencies_ms = np.array(measured["latencies"]) * 1000
    return {
        "requests": len(measured["latencies"]) + sum(1 for e in measured["errors"] if not e[:3].isdigit()),
        "errors": measured["errors"],
        "seconds": measured["seconds"],
        "p50": float(np.percentile(latencies_ms, 50)),
        "p95": float(np.percentile(latencies_ms, 95)),
        "p99": float(np.percentile(latencies_ms, 99)),
        "max": float(latencies_ms.max()),
        "mean_results": float(np.mean(measured["results"])) if measured["results"] else None,
        "ralm_share": float(np.mean(measured["ralm_share"])) if measured["ralm_share"] else None,
    }


def _cpu_seconds(pid: int) -> float:
    """User + system CPU seconds a process has used so far (0 when it is gone)."""
    try:
        with open(f"/proc/{pid}/stat") as stat:
            fields = stat.read().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _database_backends(database: str) -> list[int]:
    """PostgreSQL backends connected to `database`, read from /proc (their command line names it)."""
    pids = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/cmdline", "rb") as cmdline:
                line = cmdline.read().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue
        if line.startswith("postgres: ") and f" {database} " in line:
            pids.append(int(entry))
    return pids


class _CpuMeter:
    """CPU seconds used by groups of processes over a phase. Processes come and go (the web workers recycle
    their PostgreSQL connections every CONN_MAX_AGE seconds), so a thread samples each group's processes
    every SAMPLE_SECONDS and keeps the last value seen per process: a backend that ends between two samples
    loses at most that long of its CPU time; one that starts during the phase counts from zero."""

    SAMPLE_SECONDS = 0.2

    def __init__(self, groups: dict) -> None:
        import threading

        self.groups = groups  # name -> () -> list of pids
        self.first: dict[tuple[str, int], float] = {}
        self.last: dict[tuple[str, int], float] = {}
        self.started = False
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)

    def _sample(self) -> None:
        for name, pids in self.groups.items():
            for pid in pids():
                used = _cpu_seconds(pid)
                if used:
                    self.first.setdefault((name, pid), 0.0 if self.started else used)
                    self.last[(name, pid)] = used

    def _run(self) -> None:
        while not self.stop.wait(self.SAMPLE_SECONDS):
            self._sample()

    def __enter__(self) -> _CpuMeter:
        import resource

        self._sample()  # what each process had used before the phase
        self.started = True
        usage = resource.getrusage(resource.RUSAGE_SELF)
        self.clients = usage.ru_utime + usage.ru_stime
        self.thread.start()
        return self

    def __exit__(self, *exc) -> None:
        import resource

        self.stop.set()
        self.thread.join()
        self._sample()
        usage = resource.getrusage(resource.RUSAGE_SELF)
        self.clients = usage.ru_utime + usage.ru_stime - self.clients

    def seconds(self) -> dict[str, float]:
        used = dict.fromkeys(self.groups, 0.0)
        for (name, pid), last in self.last.items():
            used[name] += last - self.first[(name, pid)]
        return {**used, "clients": self.clients}


def _cpu_groups(server_pid: int) -> dict:
    """The processes that serve a request: gunicorn's master and workers and Redis (the same processes for
    the whole phase, so looked up once), and the PostgreSQL backends of the benchmark database (they come
    and go, so read from /proc at every sample; no process is forked while the phase is measured)."""

    def pids(*command: str) -> list[int]:
        return list(map(int, subprocess.run(command, capture_output=True, text=True).stdout.split()))

    web = [server_pid, *pids("pgrep", "-P", str(server_pid))]
    redis_server = pids("pgrep", "-x", "redis-server")
    return {
        "web": lambda: web,
        "PostgreSQL": lambda: _database_backends(DATABASE_NAME),
        "Redis": lambda: redis_server,
    }


def _roster_builds() -> int:
    """How many times PostgreSQL has run the rosters' build query (vicino_nearby_rosters) in the benchmark
    database: its function statistics (track_functions, set on the database). Each backend reports its
    counts at the end of a transaction at most once a second, so a phase's count may be off by about a
    second's builds at either end."""
    import psycopg

    with psycopg.connect(f"{SERVER_URL}/{DATABASE_NAME}", autocommit=True) as connection:
        row = connection.execute(
            "SELECT coalesce(sum(calls), 0) FROM pg_stat_user_functions "
            "WHERE funcname = 'vicino_nearby_rosters'"
        ).fetchone()
    return int(row[0])


def serve_and_load(
    environment: dict,
    *,
    tokens: list[str],
    phases: list[Phase],
    clients: int,
    workers: int,
    steady_warmup: Phase | None,
) -> dict[str, dict]:
    """Start gunicorn, warm it up (each worker, then the unmeasured `steady_warmup`), then run each phase
    with fresh people."""
    port = _free_port()
    server = subprocess.Popen(
        [sys.executable, "-m", "gunicorn", "config.wsgi:application", "--bind", f"127.0.0.1:{port}",
         "--workers", str(workers), "--log-level", "warning", "--backlog", "256"],
        env=environment, cwd=REPO_ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
    )  # fmt: skip
    reports = {}
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                status, _body = asyncio.run(_get(port, "/api/health/", tokens[0]))
                if status == 200:
                    break
            except OSError:
                pass
            if server.poll() is not None or time.monotonic() > deadline:
                raise SystemExit(f"gunicorn did not come up: {server.stderr.read().decode()[-3000:]}")
            time.sleep(0.3)
        # Unmeasured, with people not measured afterwards: every worker loads the model and fills its
        # caches; then the steady-state warm-up, when asked for, brings the cells' rosters to steady state.
        warmups = [Phase("warm-up", WARMUP_PER_WORKER * workers, 0.0), *filter(None, [steady_warmup])]
        offset = 0
        for name, requests, think, _path in warmups:
            warm = asyncio.run(_load(port, tokens[offset : offset + requests], requests, clients, think))
            if warm["errors"]:
                raise SystemExit(f"{name} failed: {warm['errors'][:3]}")
            offset += requests
        for name, requests, think, path in phases:
            builds = _roster_builds()
            with _CpuMeter(_cpu_groups(server.pid)) as meter:
                measured = asyncio.run(
                    _load(port, tokens[offset : offset + requests], requests, clients, think, path)
                )
            reports[name] = _summary(measured)
            reports[name]["roster_builds"] = (_roster_builds() - builds) / requests
            # CPU each part spent per request in this phase: on 2 cores, their sum bounds the throughput.
            reports[name]["cpu_ms"] = {part: used * 1000 / requests for part, used in meter.seconds().items()}
            offset += requests
            sys.stderr.write(
                f"  {name}: p95 {reports[name]['p95']:.1f} ms, {len(measured['errors'])} errors\n"
            )
    finally:
        server.send_signal(signal.SIGTERM)
        try:
            server.wait(timeout=30)
        except subprocess.TimeoutExpired:
            server.kill()
    return reports


def _function_statistics_track() -> None:
    """Have PostgreSQL count the calls of the benchmark database's plpgsql functions (for _roster_builds),
    in every connection opened from now on."""
    import psycopg
    from psycopg import sql

    with psycopg.connect(f"{SERVER_URL}/postgres", autocommit=True) as connection:
        connection.execute(
            sql.SQL("ALTER DATABASE {} SET track_functions = 'pl'").format(sql.Identifier(DATABASE_NAME))
        )


def _redis_flush() -> None:
    import redis

    redis.Redis.from_url(REDIS_URL).flushdb()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--child-populate", nargs=3, help=argparse.SUPPRESS)
    parser.add_argument("--child-stats", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--people", type=int, default=100_000)
    parser.add_argument("--requests", type=int, default=6_000, help="closed-loop requests")
    parser.add_argument(
        "--paced-requests", type=int, default=1_500, help="requests of each phase with a think time"
    )
    parser.add_argument(
        "--think-ms",
        type=lambda text: [float(part) for part in text.split(",")],
        default=list(PACED_THINK_MS),
        help="think times of the paced phases, comma-separated (default %(default)s)",
    )
    parser.add_argument(
        "--reference-requests",
        type=int,
        default=3_000,
        help=f"closed-loop requests to {REFERENCE_PATH}, the stack's floor (0: skip)",
    )
    parser.add_argument("--clients", type=int, default=20)
    parser.add_argument("--workers", type=int, default=3, help="gunicorn sync workers (production: 3)")
    parser.add_argument(
        "--steady-warmup-seconds",
        type=float,
        default=STEADY_WARMUP_SECONDS,
        help="unmeasured load at the first phase's think time before measuring (0: start cold)",
    )
    parser.add_argument("--keep-database", action="store_true")
    options = parser.parse_args()
    if options.child_populate:
        people, queriers, model_dir = options.child_populate
        child_populate(int(people), int(queriers), model_dir)
        return
    if options.child_stats:
        child_stats()
        return

    model_dir = tempfile.mkdtemp(prefix="vicino-bench-models-")
    environment = benchmark_environment(
        DATABASE_NAME,
        REDIS_URL=REDIS_URL,
        VICINO_MODEL_DIR=model_dir,
        ALLOWED_HOSTS="127.0.0.1,localhost",
        LOG_LEVEL="WARNING",
    )
    # Growing load: paced from the slowest, then saturation. (Each phase leaves work behind, autovacuum of
    # the exposure log for one, so the lightest loads go first rather than in the heaviest one's wake.)
    phases = [
        *(
            Phase(f"paced, {think / 1000:g} s think time", options.paced_requests, think / 1000)
            for think in sorted(options.think_ms, reverse=True)
        ),
        Phase("closed loop, no think time", options.requests, 0.0),
    ]
    if options.reference_requests:
        phases.append(Phase(REFERENCE_NAME, options.reference_requests, 0.0, REFERENCE_PATH))
    # The steady-state warm-up: each client keeps the first phase's pace (1 s when that is a closed loop)
    # for at least --steady-warmup-seconds, with people not measured afterwards.
    warmup_think = phases[0].think_seconds or 1.0
    steady_warmup = (
        Phase(
            "steady-state warm-up",
            options.clients * math.ceil(options.steady_warmup_seconds / warmup_think),
            warmup_think,
        )
        if options.steady_warmup_seconds > 0
        else None
    )
    queriers = (
        WARMUP_PER_WORKER * options.workers
        + (steady_warmup.requests if steady_warmup else 0)
        + sum(p.requests for p in phases)
        + ROUND_TRIP_REQUESTS
    )
    server_version = database_recreate(DATABASE_NAME)
    _redis_flush()
    try:
        migrate(environment)
        _function_statistics_track()
        sys.stderr.write(f"loading a city of {options.people:,} people …\n")
        city = run_child(
            __file__, "--child-populate", environment, str(options.people), str(queriers), model_dir
        )
        sys.stderr.write(f"loaded in {city['seconds']:.0f} s ({city['source']})\n")
        _redis_flush()  # start from cold caches: only what serving itself puts there
        sys.stderr.write(f"serving with {options.workers} gunicorn workers, {options.clients} clients …\n")
        load_before = os.getloadavg()[0]
        reports = serve_and_load(
            environment,
            tokens=city["tokens"],
            phases=phases,
            clients=options.clients,
            workers=options.workers,
            steady_warmup=steady_warmup,
        )
        load_after = os.getloadavg()[0]
        stats = run_child(__file__, "--child-stats", environment)
    finally:
        if not options.keep_database:
            database_drop(DATABASE_NAME)
        _redis_flush()

    header = [
        "load",
        "requests",
        "p50 ms",
        "p95 ms",
        "p99 ms",
        "max ms",
        "req/s",
        "errors",
        "p95 ≤ 50 ms, 0 errors",
    ]
    rows = []
    for name, report in reports.items():
        meets = report["p95"] <= TARGET_P95_MS and not report["errors"]
        rows.append([
            name, f"{report['requests']:,}", f"{report['p50']:.1f}", f"{report['p95']:.1f}",
            f"{report['p99']:.1f}", f"{report['max']:.0f}", f"{report['requests'] / report['seconds']:,.0f}",
            str(len(report["errors"])), "meets" if meets else "MISSES",
        ])  # fmt: skip
    table = markdown_table(header, rows)
    parts = list(next(iter(reports.values()))["cpu_ms"])
    cpu_rows = [
        [name, *(f"{report['cpu_ms'][part]:.1f}" for part in parts), f"{sum(report['cpu_ms'].values()):.1f}",
         f"{2000 / sum(report['cpu_ms'].values()):,.0f}", f"{report['roster_builds']:.2f}"]
        for name, report in reports.items()
    ]  # fmt: skip
    cpu_table = markdown_table(
        ["load", *(f"{part} CPU ms/request" for part in parts), "total", "req/s the 2 cores allow",
         "roster build queries/request"],
        cpu_rows,
    )  # fmt: skip
    table += (
        "\n\nCPU per request, from /proc (gunicorn master and workers, the PostgreSQL backends of the "
        "benchmark database, Redis, and this process's clients), and how often a request had to build "
        "cells' rosters (PostgreSQL's count of the build query's calls; 0 when every cell it read was "
        "cached):\n\n" + cpu_table
    )
    round_trips = (
        f"{stats['sql_per_request']:.1f} SQL statements, {stats['redis_per_request']:.1f} Redis round trips"
    )
    sys.stdout.write(f"{table}\nround trips per nearby request: {round_trips}\n")
    errors = [error for report in reports.values() for error in report["errors"]]
    if errors:
        sys.stdout.write("first errors: " + "; ".join(errors[:5]) + "\n")
    first = next(iter(reports.values()))
    steady_line = (
        f"{steady_warmup.requests:,} unmeasured requests at the first phase's pace (each client waiting "
        f"{steady_warmup.think_seconds:g} s, at least {options.steady_warmup_seconds:g} s: the cells' "
        "rosters (matching/nearby/rosters.py), kept 60 s, start empty and have reached the steady state of a "
        "serving city by its end"
        if steady_warmup
        else "no steady-state warm-up: the cells' rosters start empty, so the first phase starts cold"
    )
    path = write_result(
        name="nearby",
        title="nearby people under load",
        command=".venv/bin/python benchmarks/nearby.py",
        body=(
            f"- machine: {machine_line(server_version)}; gunicorn, PostgreSQL, Redis and the clients share "
            f"it; 1-minute load average {load_before:.1f} before serving (above ~2, other processes were "
            f"competing for the 2 cores) and {load_after:.1f} after (that one includes this benchmark's own "
            "load)\n"
            f"- city: {options.people:,} people around {city['source']} (homes scattered "
            f"~{HOME_SCATTER_KM * 1000:.0f} m), {city['follows']:,} follows, a production-size RALM "
            "(embedding 32) active with every embedding stored, a running two-variant nearby experiment\n"
            f"- server: gunicorn `config.wsgi`, {options.workers} sync workers on 127.0.0.1, the production "
            "stack (PostgreSQL + Redis)\n"
            f"- load: {options.clients} concurrent clients; every request a different person (a cold seed "
            "summary and a first experiment exposure each time), default radius 5 km, 20 results, "
            f"{WITH_FRIENDS_SHARE:.0%} with friends as seeds; after a warm-up of {WARMUP_PER_WORKER} "
            f"requests per worker, then {steady_line}. Closed loop: each client sends its next request "
            "as soon as the last one answers (saturation: the latency is the queue). Paced: each client "
            "waits the think time between requests. Reference: the same closed loop on "
            f"`{REFERENCE_PATH}` (token lookup, one profile read, a serializer), the floor of the stack on "
            "this machine\n"
            f"- answers: {first['mean_results']:.1f} results on average, {first['ralm_share']:.0%} of them "
            f"scored by RALM; {stats['exposures']:,} first exposures logged\n"
            f"- round trips per nearby request (counted after the load, {ROUND_TRIP_REQUESTS} new people, "
            f"through Django's stack in one process): {round_trips}\n\n"
            f"{table}\n"
        ),
    )
    sys.stdout.write(f"written to {path.relative_to(REPO_ROOT)}\n")


if __name__ == "__main__":
    main()
