"""Writes for experiments: create, start, stop; assignment and the exposure log; impression counters.

**Assignment.** bucket = SHA-256("<salt>:<user id>") read as an integer, mod 10,000; the variants own
consecutive bucket ranges in proportion to their weights (the first variant, the control, the lowest).
It is a pure function of the salt, the weights and the id, and both are frozen once the experiment
runs, so a person stays in their variant however often, and in whichever process, they are served.

**The hot path** (`experiment_config_for`, called on every nearby or suggestions request) reads the
running experiment of the surface from the shared cache (one GET; the database only when the key is
missing), hashes, and logs the exposure the first time only: a cache ADD (Redis SET NX) per person and
experiment says whether this is the first time, and only then is the row inserted, with ON CONFLICT DO
NOTHING, so a lost cache key costs one no-op insert, never a second row. Impressions are counted in Redis
and flushed to the database by beat (`experiment_impressions_flush`), so serving writes nothing else.
"""

from __future__ import annotations

import hashlib
import logging
import math
import re
import secrets
from collections.abc import Mapping, Sequence
from typing import Any

from django.conf import settings
from django.core.cache import cache
from django.db import IntegrityError, connection, transaction
from django.db.models import F
from django.utils import timezone

from config.api import ApplicationError
from config.cache import redis_raw
from matching.experiments.models import (
    Experiment,
    ExperimentExposure,
    ExperimentImpressions,
    ExperimentMetric,
    ExperimentStatus,
    ExperimentSurface,
)
from matching.models import ModelVersion
from users.models import User

logger = logging.getLogger(__name__)

ASSIGNMENT_BUCKETS = 10_000
MIN_VARIANTS, MAX_VARIANTS = 2, 10
KEY_PATTERN = re.compile(r"^[a-z0-9][a-z0-9_-]*$")
#: How long a process may serve a stopped experiment if the cache delete on stop is lost.
RUNNING_CACHE_SECONDS = 60
#: How long "this person was already exposed" is remembered; afterwards one no-op insert renews it.
EXPOSURE_SEEN_SECONDS = 30 * 24 * 3600
DEFAULT_METRIC = {
    ExperimentSurface.NEARBY: ExperimentMetric.WAVE,
    ExperimentSurface.INVITATIONS: ExperimentMetric.INVITATION_ACCEPTED,
}
RALM_MODEL_NAME = "ralm"


# Variant configs ----------------------------------------------------------------------------------


def _unit_weight(value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not 0 <= value <= 1:
        raise ValueError("must be a number from 0 to 1")
    return float(value)


def _radius(value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not 0 < value <= 50:
        raise ValueError("must be a number of km, more than 0 and at most 50")
    return float(value)


def _candidate_cap(value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not 20 <= value <= 2000:
        raise ValueError("must be an integer from 20 to 2000")
    return value


def _model_version(value: Any) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str) or not value or len(value) > 64:
        raise ValueError("must be the version string of a registered RALM model")
    if not ModelVersion.objects.filter(name=RALM_MODEL_NAME, version=value).exists():
        raise ValueError(f"there is no registered {RALM_MODEL_NAME} model version {value!r}")
    return value


#: What a variant's config may set on each surface, and how each value is checked.
CONFIG_FIELDS: dict[str, dict[str, Any]] = {
    ExperimentSurface.NEARBY: {
        "w_d": _unit_weight,
        "w_s": _unit_weight,
        "model_version": _model_version,
        "radius_km": _radius,
        "candidate_cap": _candidate_cap,
    },
    # Invitation suggestions blend similarity (w_s), acceptance (w_a) and distance (w_d) within radius_km;
    # matching.invitations.ranking.invitation_ranking_config reads them.
    ExperimentSurface.INVITATIONS: {
        "w_d": _unit_weight,
        "w_s": _unit_weight,
        "w_a": _unit_weight,
        "radius_km": _radius,
    },
}


def surface_defaults(*, surface: str) -> dict[str, Any]:
    """The config a surface runs with outside any experiment (variants override keys of it)."""
    if surface == ExperimentSurface.NEARBY:
        return {
            "w_d": settings.VICINO_NEARBY_DISTANCE_WEIGHT,
            "w_s": settings.VICINO_NEARBY_SIMILARITY_WEIGHT,
            "model_version": None,
            "radius_km": None,
            "candidate_cap": settings.VICINO_NEARBY_CANDIDATE_CAP,
        }
    if surface == ExperimentSurface.INVITATIONS:
        # The invitations service owns its defaults (VICINO_INVITATION_*); variants override its keys.
        return {}
    raise ValueError(f"unknown surface {surface!r}; choose from {', '.join(ExperimentSurface.values)}")


def _clean_variants(*, surface: str, variants: Any) -> list[dict[str, Any]]:
    if not isinstance(variants, Sequence) or isinstance(variants, str | bytes):
        raise ApplicationError("Expected a list of variants.", field="variants")
    if not MIN_VARIANTS <= len(variants) <= MAX_VARIANTS:
        raise ApplicationError(f"Give {MIN_VARIANTS} to {MAX_VARIANTS} variants.", field="variants")
    allowed = CONFIG_FIELDS[surface]
    clean, seen = [], set()
    for index, variant in enumerate(variants):
        field = f"variants[{index}]"
        if not isinstance(variant, Mapping):
            raise ApplicationError("Expected an object with key, weight and config.", field=field)
        unknown = set(variant) - {"key", "weight", "config"}
        if unknown:
            raise ApplicationError("Not a variant field.", field=f"{field}.{sorted(unknown)[0]}")
        key = variant.get("key")
        if not isinstance(key, str) or not KEY_PATTERN.match(key) or len(key) > 32:
            raise ApplicationError(
                "Use 1 to 32 lowercase letters, digits, '-' or '_', starting with a letter or digit.",
                field=f"{field}.key",
            )
        if key in seen:
            raise ApplicationError(f"Variant {key!r} appears twice.", field=f"{field}.key", code="unique")
        seen.add(key)
        weight = variant.get("weight")
        if isinstance(weight, bool) or not isinstance(weight, int | float) or not (0 < weight < math.inf):
            raise ApplicationError("Must be a positive number.", field=f"{field}.weight")
        config = variant.get("config", {})
        if not isinstance(config, Mapping):
            raise ApplicationError("Expected an object.", field=f"{field}.config")
        clean_config = {}
        for name, value in config.items():
            if name not in allowed:
                raise ApplicationError(
                    f"Not a {surface} setting; choose from {', '.join(allowed)}.",
                    field=f"{field}.config.{name}",
                )
            try:
                clean_config[name] = allowed[name](value)
            except ValueError as error:
                raise ApplicationError(
                    f"{str(error).capitalize()}.", field=f"{field}.config.{name}"
                ) from None
        clean.append({"key": key, "weight": float(weight), "config": clean_config})
    return clean


# Assignment ---------------------------------------------------------------------------------------


def experiment_bucket(*, salt: str, user_id: int) -> int:
    """0..9,999, uniform over people and independent between salts."""
    digest = hashlib.sha256(f"{salt}:{int(user_id)}".encode()).digest()
    return int.from_bytes(digest[:8], "big") % ASSIGNMENT_BUCKETS


def variant_bucket_ranges(*, variants: Sequence[Mapping[str, Any]]) -> list[tuple[str, int, int]]:
    """[(variant key, first bucket, end bucket)] covering 0..9,999 in order, sized by weight."""
    total = sum(float(variant["weight"]) for variant in variants)
    ranges, start, cumulative = [], 0, 0.0
    for variant in variants:
        cumulative += float(variant["weight"])
        end = round(ASSIGNMENT_BUCKETS * cumulative / total)
        ranges.append((variant["key"], start, end))
        start = end
    return ranges


def experiment_assign(*, salt: str, variants: Sequence[Mapping[str, Any]], user_id: int) -> Mapping[str, Any]:
    """The variant (one of `variants`) a person is in."""
    bucket = experiment_bucket(salt=salt, user_id=user_id)
    for variant, (_key, start, end) in zip(variants, variant_bucket_ranges(variants=variants), strict=True):
        if start <= bucket < end:
            return variant
    raise AssertionError("the bucket ranges cover 0..9,999")  # pragma: no cover


# The hot path -------------------------------------------------------------------------------------


def _running_cache_key(surface: str) -> str:
    return f"experiments:running:v1:{surface}"


def running_experiment_get(*, surface: str) -> dict[str, Any] | None:
    """{"id", "key", "salt", "variants"} of the surface's running experiment, or None. One cache GET."""
    key = _running_cache_key(surface)
    snapshot = cache.get(key)
    if snapshot is None:
        row = (
            Experiment.objects.filter(surface=surface, status=ExperimentStatus.RUNNING)
            .values("id", "key", "salt", "variants")
            .first()
        )
        snapshot = row or {}
        # add, not set: a reader that loaded the row just before a stop must not put it back.
        cache.add(key, snapshot, timeout=RUNNING_CACHE_SECONDS)
    return snapshot or None


def _running_cache_forget(surface: str) -> None:
    transaction.on_commit(lambda: cache.delete(_running_cache_key(surface)))


def _exposure_seen_key(experiment_id: int, user_id: int) -> str:
    return f"experiments:seen:{experiment_id}:{user_id}"


def experiment_exposure_log(*, experiment_id: int, user_id: int, variant: str) -> bool:
    """Record the person's first exposure; True when this call wrote it. After the first, a cache ADD only."""
    key = _exposure_seen_key(experiment_id, user_id)
    if not cache.add(key, 1, timeout=EXPOSURE_SEEN_SECONDS):
        return False
    table = connection.ops.quote_name(ExperimentExposure._meta.db_table)
    exposed_at = ExperimentExposure._meta.get_field("exposed_at").get_db_prep_save(timezone.now(), connection)
    values = [experiment_id, user_id, variant, exposed_at]
    # Only the quoted table name is interpolated; every value is a bound parameter.
    insert = f"INSERT INTO {table} (experiment_id, user_id, variant, exposed_at) "  # noqa: S608
    conflict = " ON CONFLICT (experiment_id, user_id) DO NOTHING"
    try:
        with connection.cursor() as cursor:
            if connection.vendor == "postgresql":
                # One statement, one round trip, its own transaction. The request need not wait for this
                # row's WAL flush (an fsync, ~3 ms here, far more on a busy disk): set_config(…, true)
                # makes this transaction's commit asynchronous, still atomic and consistent; only a server
                # crash within ~3 × wal_writer_delay (0.6 s) could lose the row, and the person would then
                # simply be missing from the exposure log, as if they had not been served.
                asynchronous = "(SELECT set_config('synchronous_commit', 'off', true)) AS asynchronous_commit"
                cursor.execute(f"{insert}SELECT %s, %s, %s, %s FROM {asynchronous}{conflict}", values)  # noqa: S608
            else:
                cursor.execute(f"{insert}VALUES (%s, %s, %s, %s){conflict}", values)
            inserted = cursor.rowcount == 1
    except Exception:
        cache.delete(key)  # not logged after all: the next request tries again
        raise
    return inserted


def experiment_config_for(*, user_id: int, surface: str) -> dict[str, Any]:
    """The ranking config for this person on this surface: the surface defaults, overridden by the config
    of their variant when an experiment runs there (whose exposure is then logged, the first time).

    Besides the config keys (CONFIG_FIELDS), the dict holds "experiment" (key), "experiment_id" and
    "variant", all None outside an experiment: pass it back to experiment_impressions_record.
    """
    config = {**surface_defaults(surface=surface), "experiment": None, "experiment_id": None, "variant": None}
    running = running_experiment_get(surface=surface)
    if running is None:
        return config
    variant = experiment_assign(salt=running["salt"], variants=running["variants"], user_id=user_id)
    experiment_exposure_log(experiment_id=running["id"], user_id=user_id, variant=variant["key"])
    config.update(variant["config"])
    config.update(experiment=running["key"], experiment_id=running["id"], variant=variant["key"])
    return config


def _impressions_key(experiment_id: int) -> str:
    return f"vicino:experiments:impressions:{experiment_id}"


def experiment_impressions_record(*, config: Mapping[str, Any], count: int) -> None:
    """Count `count` results shown under the config's variant (nothing outside an experiment)."""
    if config.get("experiment_id") is None or count <= 0:
        return
    client = redis_raw()
    if client is not None:
        client.hincrby(_impressions_key(config["experiment_id"]), config["variant"], count)
        return
    # Embedded mode has no shared counter to batch in: write through.
    _impressions_add(experiment_id=config["experiment_id"], counts={config["variant"]: count})


def _impressions_add(*, experiment_id: int, counts: Mapping[str, int]) -> None:
    with transaction.atomic():
        for variant, count in counts.items():
            row, created = ExperimentImpressions.objects.get_or_create(
                experiment_id=experiment_id, variant=variant, defaults={"impressions": count}
            )
            if not created:
                ExperimentImpressions.objects.filter(pk=row.pk).update(impressions=F("impressions") + count)


def impressions_pending(*, experiment_id: int) -> dict[str, int]:
    """Counts in Redis not flushed to the database yet."""
    client = redis_raw()
    if client is None:
        return {}
    return {
        variant.decode(): int(count)
        for variant, count in client.hgetall(_impressions_key(experiment_id)).items()
        if int(count) > 0
    }


def experiment_impressions_flush() -> int:
    """Move the Redis impression counters of every experiment into the database. Returns impressions moved.

    Each counter is decremented by what was read only after the database commit: increments made in
    between stay for the next flush; a crash between the commit and the decrement counts that batch twice
    (at least once, never lost).
    """
    client = redis_raw()
    if client is None:
        return 0
    moved = 0
    for experiment_id in Experiment.objects.exclude(status=ExperimentStatus.DRAFT).values_list(
        "pk", flat=True
    ):
        counts = impressions_pending(experiment_id=experiment_id)
        if not counts:
            continue
        _impressions_add(experiment_id=experiment_id, counts=counts)
        pipe = client.pipeline()
        for variant, count in counts.items():
            pipe.hincrby(_impressions_key(experiment_id), variant, -count)
        pipe.execute()
        moved += sum(counts.values())
    return moved


# Lifecycle ----------------------------------------------------------------------------------------


@transaction.atomic
def experiment_create(
    *,
    created_by: User,
    key: str,
    surface: str,
    variants: Any,
    metric: str | None = None,
    description: str = "",
    salt: str | None = None,
) -> Experiment:
    """A draft experiment. The first variant is the control."""
    if not isinstance(key, str) or not KEY_PATTERN.match(key) or len(key) > 64:
        raise ApplicationError(
            "Use 1 to 64 lowercase letters, digits, '-' or '_', starting with a letter or digit.", field="key"
        )
    if surface not in ExperimentSurface.values:
        raise ApplicationError(f"Choose one of {', '.join(ExperimentSurface.values)}.", field="surface")
    metric = metric or DEFAULT_METRIC[surface]
    if metric not in ExperimentMetric.values:
        raise ApplicationError(f"Choose one of {', '.join(ExperimentMetric.values)}.", field="metric")
    if salt is not None and (not isinstance(salt, str) or not 1 <= len(salt) <= 64):
        raise ApplicationError("1 to 64 characters.", field="salt")
    clean = _clean_variants(surface=surface, variants=variants)
    if Experiment.objects.filter(key=key).exists():
        raise ApplicationError("An experiment with that key already exists.", field="key", code="unique")
    try:
        with transaction.atomic():
            return Experiment.objects.create(
                key=key,
                description=description,
                surface=surface,
                metric=metric,
                salt=salt or secrets.token_hex(8),
                variants=clean,
                created_by=created_by,
            )
    except IntegrityError:
        raise ApplicationError(
            "An experiment with that key already exists.", field="key", code="unique"
        ) from None


@transaction.atomic
def experiment_start(*, experiment_id: int) -> Experiment:
    """draft → running. Refused while another experiment runs on the same surface."""
    experiment = Experiment.objects.select_for_update().get(pk=experiment_id)
    if experiment.status != ExperimentStatus.DRAFT:
        raise ApplicationError(
            f"Only a draft can start; this experiment is {experiment.status}.",
            code="invalid_state",
            status_code=409,
        )
    experiment.status = ExperimentStatus.RUNNING
    experiment.started_at = timezone.now()
    try:
        with transaction.atomic():
            experiment.save(update_fields=["status", "started_at"])
    except IntegrityError:
        running = Experiment.objects.filter(
            surface=experiment.surface, status=ExperimentStatus.RUNNING
        ).first()
        raise ApplicationError(
            f"Experiment {running.key if running else '?'!r} is already running on {experiment.surface}; "
            "stop it first.",
            code="surface_busy",
            status_code=409,
        ) from None
    _running_cache_forget(experiment.surface)
    logger.info("experiment %s started on %s", experiment.key, experiment.surface)
    return experiment


@transaction.atomic
def experiment_stop(*, experiment_id: int) -> Experiment:
    """running → stopped. Outcomes after this moment no longer count."""
    experiment = Experiment.objects.select_for_update().get(pk=experiment_id)
    if experiment.status != ExperimentStatus.RUNNING:
        raise ApplicationError(
            f"Only a running experiment can stop; this one is {experiment.status}.",
            code="invalid_state",
            status_code=409,
        )
    experiment.status = ExperimentStatus.STOPPED
    experiment.stopped_at = timezone.now()
    experiment.save(update_fields=["status", "stopped_at"])
    _running_cache_forget(experiment.surface)
    logger.info("experiment %s stopped", experiment.key)
    return experiment
