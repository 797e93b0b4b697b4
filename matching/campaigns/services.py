"""Writes for look-alike campaigns: define, upload seeds, build (plan → score chunks → rank), export.

**The build** is a Celery job (matching.campaigns.tasks) made of these steps, each idempotent:

1. `campaign_plan` (once): resolves the seeds (lifetime value ≥ X or a tag; an upload is stored
   already) into CampaignSeed rows, takes the active RALM version, summarises the seeds (global vector and
   k-means centroids, `seed_summary_get`) and stores that summary on the campaign, counts the eligible
   people and cuts them into chunks of user-id ranges. Everything later reads this snapshot, so any
   worker, at any time, scores against the same seeds and model.
2. `campaign_chunk_score` (per chunk, fanned out as a Celery chord): scores the chunk's eligible people
   and writes those that can still make the audience as members, in the transaction that flips the
   chunk's `finished_at` from NULL. A chunk delivered twice (a redelivery, or a resume after a worker died
   mid-build) writes its members once; a worker killed mid-chunk rolls back and writes nothing. Dropping
   candidates loses nobody: a chunk keeps at most its best target_size (the audience is the best
   target_size overall, all of whom are among their own chunk's best), and none that ranks below the
   target_size-th best member already written (`_audience_bound`: members only grow, so the final cut is
   at least that good).
3. `campaign_build_finish`: ranks the members (score descending, then user id, the same total order the
   chunks kept by), drops all but the target size, and computes the statistics.

A build that stops half-way (a worker killed, a chunk that gave up) is resumed by `campaign_build_start`
(POST …/build/ again) or by beat (`campaigns_resume_stalled`): both dispatch the unfinished chunks only.
"""

from __future__ import annotations

import csv
import logging
import math
from collections.abc import Callable, Iterator, Sequence
from datetime import datetime, timedelta
from decimal import Decimal, InvalidOperation
from typing import Any

import numpy as np
import torch
from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import connection, transaction
from django.db.models import Count, F, Max, Q, Window
from django.db.models.functions import Mod, RowNumber
from django.utils import timezone

from config.api import ApplicationError
from matching import seed_cache, serving
from matching.campaigns.models import (
    Campaign,
    CampaignChunk,
    CampaignExport,
    CampaignMember,
    CampaignSeed,
    CampaignStatus,
    ExportIdentifier,
    SeedKind,
    SizeKind,
)
from matching.campaigns.selectors import campaign_eligible_embeddings, campaign_export_rows, campaign_get
from matching.features import SCHEMA
from matching.index import lookalike_probabilities
from matching.models import STORED_DTYPE, ModelVersion
from matching.selectors import feature_matrix
from matching.services import SeedSetError, seed_summary_get
from users.models import Profile, Role, User, UserTag

logger = logging.getLogger(__name__)

NAME_MAX = Campaign._meta.get_field("name").max_length
MAX_REGION_RADIUS_KM = 500.0
MAX_SEED_ROWS = 100_000
#: Per-row errors listed in a refused upload; the message counts all of them.
MAX_ROW_ERRORS_LISTED = 50
HISTOGRAM_BINS = 20
#: Members whose features are read per query when the statistics are computed.
STATISTICS_BLOCK = 5000
#: Features that would reveal a place: the seeds' "mean latitude" of a one-person seed set is where
#: that person is. The group comparison leaves them out.
LOCATION_FEATURES = {"latitude", "longitude"}


class CampaignBuildError(Exception):
    """The build cannot go on (no seeds, no model, …): the campaign fails with this message."""


def _forbidden(message: str) -> ApplicationError:
    return ApplicationError(message, code="permission_denied", status_code=403)


def _require_marketer(user: User) -> None:
    if user.role != Role.MARKETER:
        raise _forbidden("Only marketers can run campaigns.")


# Definition -------------------------------------------------------------------------------------------


def _lifetime_value(value: Any) -> Decimal:
    try:
        amount = Decimal(str(value))
    except (InvalidOperation, ValueError):
        raise ApplicationError("Must be a number.", field="seed.min_lifetime_value") from None
    if not amount.is_finite() or amount < 0 or amount >= Decimal("1e10"):
        raise ApplicationError("Must be from 0 to 9,999,999,999.99.", field="seed.min_lifetime_value")
    return amount.quantize(Decimal("0.01"))


@transaction.atomic
def campaign_create(
    *,
    owner: User,
    name: str,
    seed_kind: str,
    size_kind: str,
    size_value: float,
    seed_min_lifetime_value: Any = None,
    seed_tag: str = "",
    region: dict[str, float] | None = None,
    exclude_seeds: bool = True,
) -> Campaign:
    """A draft campaign. An upload campaign's seeds come next (`campaign_seeds_upload`), then the build."""
    _require_marketer(owner)
    if not isinstance(name, str) or not name.strip() or len(name) > NAME_MAX:
        raise ApplicationError(f"Give a name of 1 to {NAME_MAX} characters.", field="name")
    values: dict[str, Any] = {"seed_kind": seed_kind, "size_kind": size_kind}
    if seed_kind == SeedKind.LIFETIME_VALUE:
        if seed_min_lifetime_value is None:
            raise ApplicationError("Required for lifetime-value seeds.", field="seed.min_lifetime_value")
        values["seed_min_lifetime_value"] = _lifetime_value(seed_min_lifetime_value)
    elif seed_kind == SeedKind.TAG:
        tag = (seed_tag or "").strip().lower()
        if not tag or len(tag) > 40 or not all(ch.isalnum() or ch in "-_" for ch in tag):
            raise ApplicationError("A tag of 1 to 40 letters, digits, '-' or '_'.", field="seed.tag")
        values["seed_tag"] = tag
    elif seed_kind != SeedKind.UPLOAD:
        raise ApplicationError(f"Choose one of {', '.join(SeedKind.values)}.", field="seed.kind")
    if size_kind == SizeKind.TOP_N:
        if isinstance(size_value, bool) or not float(size_value).is_integer() or not 1 <= size_value <= 10**9:
            raise ApplicationError("A whole number of people, at least 1.", field="size.value")
        values["size_top_n"] = int(size_value)
    elif size_kind == SizeKind.TOP_PERCENT:
        if isinstance(size_value, bool) or not math.isfinite(size_value) or not 0 < size_value <= 100:
            raise ApplicationError("A percentage above 0 and at most 100.", field="size.value")
        values["size_top_percent"] = float(size_value)
    else:
        raise ApplicationError(f"Choose one of {', '.join(SizeKind.values)}.", field="size.kind")
    if region is not None:
        radius = region.get("radius_km")
        if radius is None or not 0 < radius <= MAX_REGION_RADIUS_KM:
            raise ApplicationError(
                f"More than 0 and at most {MAX_REGION_RADIUS_KM:g} km.", field="region.radius_km"
            )
        values.update(
            region_latitude=region["latitude"], region_longitude=region["longitude"], region_radius_km=radius
        )
    return Campaign.objects.create(owner=owner, name=name.strip(), exclude_seeds=exclude_seeds, **values)


def _draft_upload_campaign(*, campaign_id: int, owner: User) -> Campaign:
    _require_marketer(owner)
    campaign = campaign_get(campaign_id=campaign_id, owner=owner)
    campaign = Campaign.objects.select_for_update().get(pk=campaign.pk)
    if campaign.seed_kind != SeedKind.UPLOAD:
        raise ApplicationError(
            f"This campaign's seeds are defined by {campaign.seed_kind.replace('_', ' ')}, not an upload.",
            field="seed.kind",
            code="not_upload",
            status_code=409,
        )
    if campaign.status != CampaignStatus.DRAFT:
        raise ApplicationError(
            "The seeds are fixed once the build has started.", code="not_draft", status_code=409
        )
    return campaign


def _csv_user_ids(text: str) -> list[int]:
    """The user ids of an uploaded CSV, in file order; every bad row is named ("csv.row[N]", N counted
    from 1 as a spreadsheet does). One column, or a `user_id` column among several, with or without a
    header row."""
    errors: dict[str, list[str]] = {}
    reader = csv.reader(text.splitlines())
    column = 0
    user_ids: list[tuple[int, int]] = []  # (row number, id)
    first_row_of: dict[int, int] = {}
    for number, row in enumerate(reader, start=1):
        cells = [cell.strip() for cell in row]
        if not any(cells):
            continue
        if number == 1 and not cells[0].lstrip("-").isdigit():
            lowered = [cell.lower() for cell in cells]
            if "user_id" not in lowered:
                raise ApplicationError(
                    "The header row needs a user_id column (or leave the header out).", field="csv.row[1]"
                )
            column = lowered.index("user_id")
            continue
        key = f"csv.row[{number}]"
        value = cells[column] if column < len(cells) else ""
        if not value.isdigit() or len(value) > 18 or int(value) < 1:
            errors[key] = [f"{value!r} is not a user id (a whole number from 1)."]
        elif int(value) in first_row_of:
            errors[key] = [f"User {value} is already on row {first_row_of[int(value)]}."]
        else:
            first_row_of[int(value)] = number
            user_ids.append((number, int(value)))
        if len(user_ids) + len(errors) > MAX_SEED_ROWS:
            raise ApplicationError(f"At most {MAX_SEED_ROWS:,} rows.", field="csv")
    known = dict(
        User.objects.filter(pk__in=[user_id for _n, user_id in user_ids]).values_list("pk", "is_active")
    )
    for number, user_id in user_ids:
        if user_id not in known:
            errors[f"csv.row[{number}]"] = [f"No person has the id {user_id}."]
        elif not known[user_id]:
            errors[f"csv.row[{number}]"] = [f"The account {user_id} is inactive."]
    if errors:
        ordered = sorted(errors, key=lambda key: int(key[len("csv.row[") : -1]))
        listed = {key: errors[key] for key in ordered[:MAX_ROW_ERRORS_LISTED]}
        if len(errors) > MAX_ROW_ERRORS_LISTED:
            listed["csv"] = [f"{len(errors)} rows have errors; the first {MAX_ROW_ERRORS_LISTED} are listed."]
        raise ValidationError(listed)
    if not user_ids:
        raise ApplicationError("The file holds no user ids.", field="csv")
    return [user_id for _n, user_id in user_ids]


@transaction.atomic
def campaign_seeds_upload(*, campaign_id: int, owner: User, csv_text: str) -> int:
    """Replace an upload campaign's seeds with the user ids of a CSV. All or nothing: any bad row refuses
    the whole file, naming every bad row (up to MAX_ROW_ERRORS_LISTED). Returns the number of seeds."""
    campaign = _draft_upload_campaign(campaign_id=campaign_id, owner=owner)
    user_ids = _csv_user_ids(csv_text)
    CampaignSeed.objects.filter(campaign=campaign).delete()
    CampaignSeed.objects.bulk_create(
        [CampaignSeed(campaign=campaign, user_id=user_id) for user_id in user_ids], batch_size=5000
    )
    campaign.seed_count = len(user_ids)
    campaign.save(update_fields=["seed_count"])
    return len(user_ids)


# Build: start, plan, chunks, finish -------------------------------------------------------------------


def _dispatch_build(campaign_id: int) -> None:
    from matching.campaigns.tasks import campaign_build  # tasks import this module

    campaign_build.apply_async(kwargs={"campaign_id": campaign_id})


@transaction.atomic
def campaign_build_start(*, campaign_id: int, owner: User) -> Campaign:
    """Start the build, or resume one that stopped (a failed or stalled build continues with its unfinished
    chunks). A finished campaign is left as it is. The job starts once this commits."""
    _require_marketer(owner)
    campaign = Campaign.objects.select_for_update().get(
        pk=campaign_get(campaign_id=campaign_id, owner=owner).pk
    )
    if campaign.status == CampaignStatus.SUCCEEDED:
        return campaign
    if campaign.seed_kind == SeedKind.UPLOAD and not CampaignSeed.objects.filter(campaign=campaign).exists():
        raise ApplicationError("Upload the seeds (a CSV of user ids) first.", field="seeds")
    campaign.status = CampaignStatus.BUILDING
    campaign.error = ""
    campaign.finished_at = None
    campaign.started_at = campaign.started_at or timezone.now()
    campaign.progressed_at = timezone.now()
    campaign.save(update_fields=["status", "error", "finished_at", "started_at", "progressed_at"])
    transaction.on_commit(lambda: _dispatch_build(campaign.pk))
    return campaign


def _seed_ids_resolve(*, campaign: Campaign) -> list[int]:
    """The seed user ids, stored as CampaignSeed rows at planning (an upload's are there already)."""
    if campaign.seed_kind != SeedKind.UPLOAD:
        people = User.objects.filter(is_active=True)
        if campaign.seed_kind == SeedKind.LIFETIME_VALUE:
            chosen = Profile.objects.filter(
                user__in=people, lifetime_value__gte=campaign.seed_min_lifetime_value
            ).values_list("user_id", flat=True)
        else:
            chosen = UserTag.objects.filter(user__in=people, tag=campaign.seed_tag).values_list(
                "user_id", flat=True
            )
        CampaignSeed.objects.bulk_create(
            [CampaignSeed(campaign=campaign, user_id=user_id) for user_id in chosen],
            batch_size=5000,
            ignore_conflicts=True,
        )
    return list(
        CampaignSeed.objects.filter(campaign=campaign).order_by("user_id").values_list("user_id", flat=True)
    )


def _target_size(*, campaign: Campaign, eligible: int) -> int:
    if campaign.size_kind == SizeKind.TOP_N:
        return min(campaign.size_top_n, eligible)
    return min(eligible, math.ceil(campaign.size_top_percent / 100.0 * eligible))


@transaction.atomic
def campaign_plan(*, campaign_id: int, chunk_size: int | None = None) -> Campaign:
    """Plan the build once (see the module doc); later calls return the plan as it is."""
    campaign = Campaign.objects.select_for_update().get(pk=campaign_id)
    if campaign.planned_at is not None:
        return campaign
    seed_ids = _seed_ids_resolve(campaign=campaign)
    if not seed_ids:
        raise CampaignBuildError("No seeds: nobody matches the seed definition.")
    model = serving.ralm_active()
    if model is None:
        raise CampaignBuildError(
            "No look-alike model is active: train one (manage.py train_ralm --activate)."
        )
    model_version = ModelVersion.objects.get(pk=model.model_version_id)
    try:
        summary = seed_summary_get(model_version=model_version, seed_user_ids=seed_ids)
    except SeedSetError:
        raise CampaignBuildError(
            f"None of the {len(seed_ids)} seeds has an embedding or stored features yet."
        ) from None
    campaign.model_version = model_version
    campaign.seed_summary = seed_cache.seed_summary_encode(summary)
    campaign.seed_count = len(seed_ids)
    campaign.seeds_used = (
        User.objects.filter(pk__in=seed_ids)
        .filter(
            Q(embeddings__model_version=model_version) | Q(feature_vectors__schema_version=SCHEMA.version)
        )
        .distinct()
        .count()
    )
    campaign.chunk_size = chunk_size or settings.VICINO_CAMPAIGN_CHUNK_SIZE
    campaign.save(update_fields=["model_version", "seed_summary", "seed_count", "seeds_used", "chunk_size"])

    # The cut points, the head count and the last id in one window query, one snapshot (as the feature
    # refresh plans its chunks): memory grows with the number of chunks, not of people.
    plan = list(
        campaign_eligible_embeddings(campaign=campaign)
        .annotate(
            position=Window(RowNumber(), order_by=F("user_id").asc()),
            total=Window(Count("pk")),
            last_id=Window(Max("user_id")),
        )
        .annotate(slot=Mod(F("position") - 1, campaign.chunk_size))
        .filter(slot=0)
        .order_by("user_id")
        .values_list("user_id", "total", "last_id")
    )
    cuts = [user_id for user_id, _total, _last in plan]
    eligible, last_id = plan[0][1:] if plan else (0, None)
    ends = [*cuts[1:], last_id + 1] if cuts else []
    CampaignChunk.objects.bulk_create(
        CampaignChunk(
            campaign=campaign,
            index=index,
            first_user_id=first,
            end_user_id=end,
            people=min(campaign.chunk_size, eligible - index * campaign.chunk_size),
        )
        for index, (first, end) in enumerate(zip(cuts, ends, strict=True))
    )
    now = timezone.now()
    campaign.eligible_count = eligible
    campaign.target_size = _target_size(campaign=campaign, eligible=eligible)
    campaign.total_chunks = len(cuts)
    campaign.planned_at = now
    campaign.progressed_at = now
    campaign.save(
        update_fields=["eligible_count", "target_size", "total_chunks", "planned_at", "progressed_at"]
    )
    return campaign


def campaign_chunks_pending(*, campaign_id: int) -> list[int]:
    """Indexes of the planned chunks not finished yet (all of them on a first run)."""
    return list(
        CampaignChunk.objects.filter(campaign_id=campaign_id, finished_at__isnull=True)
        .order_by("index")
        .values_list("index", flat=True)
    )


def _scored(*, campaign: Campaign, vectors: np.ndarray) -> np.ndarray:
    model = serving.ralm_loaded(model_version=campaign.model_version)
    summary = seed_cache.seed_summary_decode(bytes(campaign.seed_summary))
    if summary is None:
        raise CampaignBuildError("The stored seed summary is unreadable; rebuild the campaign.")
    # One thread: the same chunk then gives bit-identical scores in any process, so a resumed build
    # equals a clean one exactly; a 5,000 × 32 product gains nothing from more threads anyway.
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        with torch.no_grad():
            raw = model.lookalike.score_with_summary(torch.from_numpy(vectors), summary).scores.numpy()
    finally:
        torch.set_num_threads(threads)
    return lookalike_probabilities(model=model, scores=raw)


def _audience_bound(*, campaign: Campaign) -> tuple[float, int] | None:
    """(score, user id) of the target_size-th best member written so far, or None while there are fewer.

    Members only grow until the final ranking, so the final target_size-th best is at least this good:
    a candidate below it in the audience's order can never be in the audience, and need not be written.
    """
    size = campaign.target_size
    rows = list(
        CampaignMember.objects.filter(campaign=campaign)
        .order_by("-score", "user_id")
        .values_list("score", "user_id")[size - 1 : size]
    )
    return rows[0] if rows else None


def _members_write(*, campaign_id: int, user_ids: np.ndarray, scores: np.ndarray) -> None:
    if connection.vendor == "postgresql":
        # COPY: several times faster than a multi-row INSERT for the thousands of rows a chunk may keep.
        table = connection.ops.quote_name(CampaignMember._meta.db_table)
        with (
            connection.cursor() as cursor,
            cursor.copy(f"COPY {table} (campaign_id, user_id, score) FROM STDIN") as copy,
        ):
            for user_id, score in zip(user_ids.tolist(), scores.tolist(), strict=True):
                copy.write_row((campaign_id, user_id, score))
        return
    CampaignMember.objects.bulk_create(
        [
            CampaignMember(campaign_id=campaign_id, user_id=user_id, score=score)
            for user_id, score in zip(user_ids.tolist(), scores.tolist(), strict=True)
        ],
        batch_size=2000,
    )


def campaign_chunk_score(*, campaign_id: int, index: int) -> int:
    """Score one chunk and write its candidates that can still make the audience, once (see the module
    doc). Returns members written (0 when another delivery of the chunk had written them)."""
    chunk = CampaignChunk.objects.select_related("campaign", "campaign__model_version").get(
        campaign_id=campaign_id, index=index
    )
    if chunk.finished_at is not None:
        return 0
    CampaignChunk.objects.filter(pk=chunk.pk).update(attempts=F("attempts") + 1)
    campaign = chunk.campaign
    rows = list(
        campaign_eligible_embeddings(campaign=campaign)
        .filter(user_id__gte=chunk.first_user_id, user_id__lt=chunk.end_user_id)
        .order_by("user_id")
        .values_list("user_id", "vector")
    )
    user_ids = np.fromiter((user_id for user_id, _raw in rows), dtype=np.int64, count=len(rows))
    scores = np.empty(0, dtype=np.float64)
    if rows:
        vectors = np.frombuffer(b"".join(bytes(raw) for _id, raw in rows), dtype=STORED_DTYPE)
        scores = _scored(campaign=campaign, vectors=vectors.reshape(len(rows), -1).astype(np.float32))
        bound = _audience_bound(campaign=campaign)
        if bound is not None:
            better = (scores > bound[0]) | ((scores == bound[0]) & (user_ids < bound[1]))
            user_ids, scores = user_ids[better], scores[better]
        # The audience's total order: score descending, then user id ascending.
        order = np.lexsort((user_ids, -scores))[: campaign.target_size]
        user_ids, scores = user_ids[order], scores[order]
    with transaction.atomic():
        claimed = CampaignChunk.objects.filter(pk=chunk.pk, finished_at__isnull=True).update(
            finished_at=timezone.now(), scored=len(rows), kept=len(user_ids)
        )
        if not claimed:
            return 0  # another delivery finished it first (and wrote the members)
        _members_write(campaign_id=campaign_id, user_ids=user_ids, scores=scores)
        # Last in the transaction: every chunk updates this one row, so hold its lock briefly.
        Campaign.objects.filter(pk=campaign_id).update(
            done_chunks=F("done_chunks") + 1,
            done_people=F("done_people") + chunk.people,
            progressed_at=timezone.now(),
        )
    return len(user_ids)


def _rank_members(*, campaign: Campaign) -> int:
    """Drop every member past target_size, then rank the rest; returns the members kept."""
    table = connection.ops.quote_name(CampaignMember._meta.db_table)
    rank = connection.ops.quote_name("rank")
    # Only quoted identifiers are interpolated; values are bound parameters.
    with connection.cursor() as cursor:
        cursor.execute(
            f"DELETE FROM {table} WHERE campaign_id = %s AND id NOT IN ("  # noqa: S608
            f"  SELECT id FROM {table} WHERE campaign_id = %s ORDER BY score DESC, user_id ASC LIMIT %s"
            f")",
            [campaign.pk, campaign.pk, campaign.target_size],
        )
        cursor.execute(
            f"UPDATE {table} SET {rank} = ranked.position FROM ("  # noqa: S608
            f"  SELECT id, ROW_NUMBER() OVER (ORDER BY score DESC, user_id ASC) AS position"
            f"  FROM {table} WHERE campaign_id = %s"
            f") AS ranked WHERE {table}.id = ranked.id",
            [campaign.pk],
        )
    return CampaignMember.objects.filter(campaign=campaign).count()


@transaction.atomic
def campaign_build_finish(*, campaign_id: int) -> Campaign:
    """Rank, trim and describe the audience once every chunk is in; fail naming the chunks that are not."""
    campaign = (
        Campaign.objects.select_for_update(of=("self",)).select_related("model_version").get(pk=campaign_id)
    )
    if campaign.status == CampaignStatus.SUCCEEDED:
        return campaign
    missing = campaign_chunks_pending(campaign_id=campaign_id)
    if missing or campaign.planned_at is None:
        campaign.status = CampaignStatus.FAILED
        campaign.error = f"chunks not finished: {missing[:20]}" if missing else "the build was never planned"
        campaign.finished_at = timezone.now()
        campaign.save(update_fields=["status", "error", "finished_at"])
        return campaign
    campaign.member_count = _rank_members(campaign=campaign)
    campaign.statistics = campaign_statistics(campaign=campaign)
    campaign.status = CampaignStatus.SUCCEEDED
    campaign.error = ""
    campaign.finished_at = timezone.now()
    campaign.progressed_at = campaign.finished_at
    campaign.save(
        update_fields=["member_count", "statistics", "status", "error", "finished_at", "progressed_at"]
    )
    return campaign


@transaction.atomic
def campaign_build_fail(*, campaign_id: int, error: str) -> None:
    """Record why the build stopped; finished chunks stay counted and a resume skips them."""
    Campaign.objects.filter(pk=campaign_id).exclude(status=CampaignStatus.SUCCEEDED).update(
        status=CampaignStatus.FAILED, error=error[:2000], finished_at=timezone.now()
    )


def campaigns_resume_stalled(*, stall_seconds: int, now: datetime | None = None) -> list[int]:
    """Re-dispatch the builds that made no progress for `stall_seconds` (their worker died, or a chunk's
    message was lost): each continues with its unfinished chunks. Returns their ids."""
    now = now or timezone.now()
    stalled = list(
        Campaign.objects.filter(
            status=CampaignStatus.BUILDING, progressed_at__lt=now - timedelta(seconds=stall_seconds)
        ).values_list("pk", flat=True)
    )
    for campaign_id in stalled:
        Campaign.objects.filter(pk=campaign_id).update(progressed_at=now)  # one resume per stall period
        _dispatch_build(campaign_id)
    return stalled


def campaign_build_execute(*, campaign_id: int, on_chunk: Callable[[int], None] | None = None) -> Campaign:
    """Run the whole build here, step by step, with the services the Celery tasks use (benchmarks, shell)."""
    try:
        campaign_plan(campaign_id=campaign_id)
        for index in campaign_chunks_pending(campaign_id=campaign_id):
            campaign_chunk_score(campaign_id=campaign_id, index=index)
            if on_chunk is not None:
                on_chunk(index)
    except CampaignBuildError as exc:
        campaign_build_fail(campaign_id=campaign_id, error=str(exc))
        return Campaign.objects.get(pk=campaign_id)
    return campaign_build_finish(campaign_id=campaign_id)


# Statistics -------------------------------------------------------------------------------------------


def _group_sums(user_ids: Sequence[int]) -> tuple[int, np.ndarray | None]:
    """(people with stored features, Σ of their feature rows) over the ids, read in blocks."""
    count, total = 0, None
    for start in range(0, len(user_ids), STATISTICS_BLOCK):
        _ids, matrix = feature_matrix(user_ids=user_ids[start : start + STATISTICS_BLOCK])
        if matrix.shape[0]:
            block = matrix.astype(np.float64).sum(axis=0)
            total = block if total is None else total + block
            count += matrix.shape[0]
    return count, total


def campaign_statistics(*, campaign: Campaign) -> dict[str, Any]:
    """The audience's score histogram, and how seeds and audience compare on each feature group.

    Per group: the mean of its features over the seeds and over the audience (people with stored
    features), the root-mean-square difference and the cosine between the two mean vectors, and the three
    features that differ most. Coordinates (latitude, longitude, geohash numbers) are left out: the mean
    position of a small seed set is where those people are.
    """
    scores = np.fromiter(
        CampaignMember.objects.filter(campaign=campaign).values_list("score", flat=True), dtype=np.float64
    )
    if scores.size:
        counts, edges = np.histogram(scores, bins=HISTOGRAM_BINS)
        histogram = {"edges": [round(float(e), 6) for e in edges], "counts": [int(c) for c in counts]}
    else:
        histogram = {"edges": [], "counts": []}
    seed_ids = list(
        CampaignSeed.objects.filter(campaign=campaign).order_by("user_id").values_list("user_id", flat=True)
    )
    member_ids = list(
        CampaignMember.objects.filter(campaign=campaign).order_by("user_id").values_list("user_id", flat=True)
    )
    seeds_n, seed_sum = _group_sums(seed_ids)
    audience_n, audience_sum = _group_sums(member_ids)
    groups = []
    if seed_sum is not None and audience_sum is not None:
        seed_mean, audience_mean = seed_sum / seeds_n, audience_sum / audience_n
        offset = 0
        for group in SCHEMA.groups:
            keep = [
                i
                for i, name in enumerate(group.names)
                if name not in LOCATION_FEATURES and not name.startswith("geohash_")
            ]
            s = seed_mean[offset : offset + group.dim][keep]
            a = audience_mean[offset : offset + group.dim][keep]
            offset += group.dim
            norm = float(np.linalg.norm(s) * np.linalg.norm(a))
            biggest = np.argsort(-np.abs(s - a), kind="stable")[:3]
            groups.append(
                {
                    "group": group.name,
                    "features_compared": len(keep),
                    "seed_mean": round(float(s.mean()), 6),
                    "audience_mean": round(float(a.mean()), 6),
                    "rms_difference": round(float(np.sqrt(np.mean((s - a) ** 2))), 6),
                    "cosine": round(float(s @ a) / norm, 6) if norm > 0 else None,
                    "largest_differences": [
                        {
                            "feature": group.names[keep[i]],
                            "seeds": round(float(s[i]), 6),
                            "audience": round(float(a[i]), 6),
                        }
                        for i in biggest
                    ],
                }
            )
    return {
        "score_histogram": histogram,
        "seeds_with_features": seeds_n,
        "audience_with_features": audience_n,
        "feature_groups": groups,
    }


# Export -----------------------------------------------------------------------------------------------


class _Line:
    """csv.writer's file: hands back each written line instead of storing it."""

    def write(self, value: str) -> str:
        return value


def campaign_export_start(
    *, campaign_id: int, user: User, identifier: str
) -> tuple[CampaignExport, Iterator[str]]:
    """Record the export (the audit row is committed before the first byte goes out, so a download cut
    short is on record too) and return the CSV lines to stream: `rank,score,<identifier>`.

    The audit row gets the number of rows and the time once the stream has been read to its end.
    """
    _require_marketer(user)
    campaign = campaign_get(campaign_id=campaign_id, owner=user)
    if identifier not in ExportIdentifier.values:
        raise ApplicationError(f"Choose one of {', '.join(ExportIdentifier.values)}.", field="identifier")
    if campaign.status != CampaignStatus.SUCCEEDED:
        raise ApplicationError(
            f"Only a built campaign can be exported; this one is {campaign.status}.",
            code="not_built",
            status_code=409,
        )
    export = CampaignExport.objects.create(campaign=campaign, exported_by=user, identifier=identifier)
    logger.info(
        "campaign %s exported by user %s as %s (audit %s)", campaign.pk, user.pk, identifier, export.pk
    )

    def lines() -> Iterator[str]:
        writer = csv.writer(_Line())
        yield writer.writerow(["rank", "score", identifier])
        rows = 0
        for rank, score, value in campaign_export_rows(campaign=campaign, identifier=identifier):
            rows += 1
            yield writer.writerow([rank, f"{score:.6f}", value])
        CampaignExport.objects.filter(pk=export.pk).update(rows=rows, completed_at=timezone.now())

    return export, lines()
