"""`manage.py compute_features [--chunk-size N] [--as-of ISO] [--users ID,ID]`: features, in-process.

The same services the Celery full refresh uses, run chunk by chunk here, with a progress bar on stderr.
"""

from __future__ import annotations

import time
from datetime import datetime

from django.core.management.base import BaseCommand, CommandError
from django.utils import timezone
from django.utils.dateparse import parse_datetime

from matching import services
from matching.features import SCHEMA
from users.management.commands.import_checkins import TqdmProgress
from users.models import User


def _as_of(raw: str | None) -> datetime:
    if raw is None:
        return timezone.now()
    try:
        value = parse_datetime(raw)
    except ValueError:
        value = None
    if value is None:
        raise CommandError(f"--as-of must be an ISO 8601 date-time such as 2026-05-01T03:00:00Z, got {raw!r}")
    if timezone.is_naive(value):
        value = timezone.make_aware(value)  # settings.TIME_ZONE, i.e. UTC
    if value > timezone.now():
        raise CommandError("--as-of is in the future: features can only describe what has happened")
    return value


def _user_ids(raw: str) -> list[int]:
    try:
        ids = sorted({int(part) for part in raw.split(",") if part.strip()})
    except ValueError:
        raise CommandError(f"--users must be comma-separated user ids, got {raw!r}") from None
    if not ids:
        raise CommandError("--users names nobody")
    found = set(User.objects.filter(pk__in=ids).values_list("pk", flat=True))
    missing = [user_id for user_id in ids if user_id not in found]
    if missing:
        raise CommandError(f"no such users: {', '.join(map(str, missing[:20]))}")
    return ids


class Command(BaseCommand):
    help = (
        f"Compute the stored feature groups (schema v{SCHEMA.version}) for everyone, or for --users, as of "
        "now or --as-of, synchronously in this process. Idempotent: the same --as-of gives the same rows."
    )

    def add_arguments(self, parser) -> None:
        parser.add_argument("--chunk-size", type=int, default=services.FEATURE_CHUNK_SIZE, metavar="N")
        parser.add_argument("--as-of", default=None, metavar="ISO", help="Default: now. Naive times are UTC.")
        parser.add_argument("--users", default=None, metavar="ID,ID", help="Only these people (no run).")
        parser.add_argument(
            "--schema-table",
            action="store_true",
            help="Print the feature schema as Markdown (as in README.md).",
        )

    def handle(self, *args, **options) -> None:
        if options["schema_table"]:
            self.stdout.write(SCHEMA.schema_table_markdown())
            return
        chunk_size = options["chunk_size"]
        if chunk_size < 1:
            raise CommandError("--chunk-size must be at least 1")
        at = _as_of(options["as_of"])
        started = time.perf_counter()
        progress = TqdmProgress(self.stderr, label="compute_features")
        try:
            if options["users"] is not None:
                ids = _user_ids(options["users"])
                for start in range(0, len(ids), chunk_size):
                    part = ids[start : start + chunk_size]
                    services.feature_refresh_people(user_ids=part, at=at, chunk_size=chunk_size)
                    progress("people", len(part), len(ids))
                people, label = len(ids), "listed people"
            else:
                run = services.feature_refresh_run_create(at=at, chunk_size=chunk_size)
                progress(f"run {run.pk}", 0, run.total_people)
                run = services.feature_refresh_run_execute(
                    run_id=run.pk, on_chunk=lambda chunk: progress(f"run {run.pk}", chunk.people, None)
                )
                if run.status != run.Status.SUCCEEDED:
                    raise CommandError(f"run {run.pk} {run.status}: {run.error}")
                people, label = run.done_people, f"run {run.pk}, {run.total_chunks} chunks"
        finally:
            progress.close()

        seconds = time.perf_counter() - started
        rate = people / seconds if seconds > 0 else 0.0
        self.stdout.write(
            f"features v{SCHEMA.version} as of {at.isoformat()}: {people:,} people ({label}) "
            f"in {seconds:.1f} s, {rate:,.0f} people/s"
        )
