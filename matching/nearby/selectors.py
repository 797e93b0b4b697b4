"""Reads for nearby people: candidates from the snap cells around the person, scored, blended, diversified.

**Candidates.** The snap cells (matching.nearby.privacy) whose centres are within the radius of the
person's own cell's centre are walked nearest first (equal distances in grid order), each cell's most
recently located people first, until `candidate_cap` people have been read. Each cell is read from its
roster (matching.nearby.rosters: its freshest people with all nearby needs of them, cached in Redis for a
few seconds, built by one query on a miss), a few cells per Redis round trip: the own cell first (enough
in a dense area), then 4, 16, 64, … at a time as people thin out. Of the people read, the person themself
and anyone located before VICINO_NEARBY_STALE_HOURS never count; anyone blocked in either direction,
hidden from nearby, inactive or a marketer counts towards the cap (it bounds the rows read) but is left
out. Who makes the cap depends on cells and recency, never on where inside a cell anyone is.

**Scores.** similarity is RALM's look-alike score of the candidate against the seeds (the person, and
with `with_friends` their mutual follows too), from the stored embeddings and the seed summary cached in
Redis, mapped from [−(α+β), α+β] to [0, 1]. When no RALM model is active, the seeds cannot be
summarised, or a candidate has no embedding yet, it is the cosine between the candidate's stated tastes
(interests and activity preferences, the preference feature group read from the profile) and the seeds'
mean; each result says which (`similarity_source`). Never an error: a model that cannot be loaded is
logged and the profile cosine used. final = w_d · distance score of the bucket + w_s · similarity, with
w_d, w_s from the person's experiment variant (default VICINO_NEARBY_DISTANCE_WEIGHT / _SIMILARITY_WEIGHT).

**Diversity.** The list is taken greedily from the best DIVERSITY_WINDOW_FACTOR × limit candidates, each
pick's score lowered by DIVERSITY_PENALTY for every person of the same dominant taste already above it, so
the top is not one interest cluster.
"""

from __future__ import annotations

import functools
import heapq
import itertools
import logging
from collections import deque
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import numpy as np
from django.conf import settings
from django.db import connection
from django.db.models import Q
from django.utils import timezone

from config.api import ApplicationError
from matching import serving
from matching.index import embedding_scores
from matching.models import ModelVersion, UserEmbedding
from matching.nearby import privacy, rosters
from matching.nearby.tastes import dominant_tastes, shared_tastes, taste_vector
from matching.services import SeedSetError, seed_summary_get
from ml.features.schema import AGE_GROUPS
from users.models import Block, Location, Profile, User
from users.selectors import friend_ids

logger = logging.getLogger(__name__)

RALM_MODEL_NAME = "ralm"
#: Cells read per Redis round trip: the own cell (enough in a dense area), then more at a time as people
#: thin out; past the last size, CHUNK_SIZES[-1] each.
CHUNK_SIZES: tuple[int, ...] = (1, 4, 16, 64)
DIVERSITY_PENALTY = 0.05
DIVERSITY_WINDOW_FACTOR = 4
MAX_REASONS = 3


@dataclass(frozen=True)
class NearbyPerson:
    user_id: int
    display_name: str
    age_group: str | None
    reasons: list[str]
    shared_interests: list[str]
    similarity: float
    similarity_source: str
    score: float
    distance_bucket: privacy.DistanceBucket


@dataclass(frozen=True)
class NearbyPage:
    radius_km: float
    results: list[NearbyPerson]
    #: "ralm <version>" when RALM scored anyone, else None.
    model_version: str | None
    #: How many candidates were scored (at most the cap).
    candidates: int
    w_d: float
    w_s: float


@dataclass(frozen=True)
class Pool:
    """The candidates to rank: m people, as arrays of m rows (see rosters.Roster for each field)."""

    user_ids: np.ndarray
    #: Snapped distance (between cell centres).
    distances_km: np.ndarray
    has_embedding: np.ndarray
    embeddings: np.ndarray
    tastes: np.ndarray
    birth_years: np.ndarray
    show_age_group: np.ndarray
    names: list[str]

    def __len__(self) -> int:
        return int(self.user_ids.shape[0])


# Candidates ---------------------------------------------------------------------------------------


def _chunks(total: int) -> Iterator[tuple[int, int]]:
    sizes = itertools.chain(CHUNK_SIZES, itertools.repeat(CHUNK_SIZES[-1]))
    start = 0
    while start < total:
        stop = min(total, start + next(sizes))
        yield start, stop
        start = stop


def nearby_pool(
    *,
    user_id: int,
    blocked: Sequence[int],
    centre: str,
    radius_km: float,
    fresh_after: datetime,
    cap: int,
    model_version_id: int | None = None,
    width: int = 0,
) -> Pool:
    """The people to rank: of the first `cap` people read nearest first (by snapped distance, within the
    radius; each cell's freshest first), those that may be shown (see the module doc). `width` is the
    embedding width of `model_version_id` (0: none read)."""
    ring = privacy.cells_within(centre, radius_km)
    size = cap + 1  # a roster holds everyone, and the person themself may be in their own cell's
    fresh = fresh_after.timestamp()
    blocked_ids = np.array(sorted(blocked), dtype=np.int64)
    seen: set[int] = set()  # someone who moved during a roster's lifetime is in two: the nearer counts
    parts: list[tuple[rosters.Roster, np.ndarray, float]] = []
    taken = 0

    def countable(roster: rosters.Roster) -> np.ndarray:
        keep = (roster.located_at >= fresh) & (roster.user_ids != user_id)
        if not seen.isdisjoint(roster.user_ids.tolist()):
            keep &= ~np.isin(roster.user_ids, np.fromiter(seen, dtype=np.int64, count=len(seen)))
        return np.flatnonzero(keep)

    for start, stop in _chunks(len(ring)):
        if taken >= cap:
            break
        cells = ring.cells(start, stop)
        cached = rosters.cell_rosters_cached(
            cells=cells, size=size, model_version_id=model_version_id, width=width
        )
        found = cached.found
        for position in range(len(cells)):
            if taken >= cap:
                break
            if position not in found:
                # Build this cell's roster and, in the same query, as many of the missing ones after it as
                # the cap may still need (+1: a built roster may hold the person themself).
                known = [len(countable(found[p])) if p in found else -1 for p in range(position, len(cells))]
                built = rosters.cell_rosters_build(
                    cells=cells[position:],
                    known=known,
                    needed=cap - taken + 1,
                    size=size,
                    fresh_after=fresh_after,
                    model_version_id=model_version_id,
                    width=width,
                )
                built = {position + p: roster for p, roster in built.items()}
                rosters.cell_rosters_store(
                    rosters={cells[p]: (roster, cached.generations[p]) for p, roster in built.items()},
                    size=size,
                    model_version_id=model_version_id,
                )
                found.update(built)
            roster = found[position]
            indexes = countable(roster)[: cap - taken]
            taken += len(indexes)
            seen.update(roster.user_ids[indexes].tolist())
            shown = indexes[roster.listed[indexes] & ~np.isin(roster.user_ids[indexes], blocked_ids)]
            parts.append((roster, shown, float(ring.distances_km[start + position])))
    return _pool_from(parts, width=width)


def _pool_from(parts: Sequence[tuple[rosters.Roster, np.ndarray, float]], *, width: int) -> Pool:
    if not parts:
        empty = rosters.roster_from_people([], width=width)
        parts = [(empty, np.zeros(0, dtype=np.int64), 0.0)]
    return Pool(
        user_ids=np.concatenate([roster.user_ids[shown] for roster, shown, _km in parts]),
        distances_km=np.concatenate([np.full(len(shown), km) for _roster, shown, km in parts]),
        has_embedding=np.concatenate([roster.has_embedding[shown] for roster, shown, _km in parts]),
        embeddings=np.concatenate([roster.embeddings[shown] for roster, shown, _km in parts]),
        tastes=np.concatenate([roster.tastes[shown] for roster, shown, _km in parts]),
        birth_years=np.concatenate([roster.birth_years[shown] for roster, shown, _km in parts]),
        show_age_group=np.concatenate([roster.show_age_group[shown] for roster, shown, _km in parts]),
        names=[roster.names[i] for roster, shown, _km in parts for i in shown.tolist()],
    )


# Similarity ---------------------------------------------------------------------------------------


def _cosine(matrix: np.ndarray, vector: np.ndarray) -> np.ndarray:
    norms = np.linalg.norm(matrix, axis=1) * float(np.linalg.norm(vector))
    with np.errstate(invalid="ignore", divide="ignore"):
        cosine = np.where(norms > 0, matrix @ vector / np.where(norms > 0, norms, 1.0), 0.0)
    return np.clip(cosine, 0.0, 1.0)


_model_rows: dict[int, ModelVersion] = {}


def _model_version_row(*, model_version_id: int) -> ModelVersion:
    # A version's name, version and artefact never change: one read per process.
    row = _model_rows.get(model_version_id)
    if row is None:
        row = _model_rows[model_version_id] = ModelVersion.objects.get(pk=model_version_id)
    return row


def _ralm_for(*, version: str | None) -> serving.LoadedRalm | None:
    """The experiment's model version when it names one (and it loads), else the active one, else None."""
    try:
        if version:
            row = ModelVersion.objects.filter(name=RALM_MODEL_NAME, version=version).first()
            if row is not None:
                _model_rows.setdefault(row.pk, row)
                return serving.ralm_loaded(model_version=row)
            logger.warning("experiment model version %r is not registered: serving the active one", version)
        return serving.ralm_active(name=RALM_MODEL_NAME)
    except serving.ModelArtefactError:
        logger.exception("the RALM model cannot be loaded: nearby falls back to profile similarity")
        return None


def _embedding_width(model: serving.LoadedRalm | None) -> int:
    return int(model.lookalike.config.input_dim) if model is not None else 0


def _ralm_similarities(
    *, model: serving.LoadedRalm, seed_ids: Sequence[int], pool: Pool, my_embedding: bytes | None
) -> np.ndarray | None:
    """(m,) RALM similarity in [0, 1] of the pool's people that have an embedding (the others' entries are
    meaningless), or None when the seeds cannot be summarised. `my_embedding` is the asker's
    (seed_ids[0]) stored one, already read."""
    width = _embedding_width(model)
    known = {}
    if my_embedding is not None and len(my_embedding) == 4 * width:
        known[seed_ids[0]] = np.frombuffer(my_embedding, dtype=np.float32)
    try:
        summary = seed_summary_get(
            model_version=_model_version_row(model_version_id=model.model_version_id),
            seed_user_ids=seed_ids,
            known_embeddings=known,
        )
    except SeedSetError:
        return None
    similarity = np.zeros(len(pool), dtype=np.float64)
    scored = np.flatnonzero(pool.has_embedding)
    if len(scored):
        # A copy: contiguous and writable (torch.from_numpy warns on the cache's read-only memory).
        scores = embedding_scores(model=model, summary=summary, vectors=pool.embeddings[scored].copy())
        scale = float(model.lookalike.mixing.detach().abs().sum()) or 1.0  # |α| + |β|
        similarity[scored] = np.clip((scores / scale + 1.0) / 2.0, 0.0, 1.0)
    return similarity


# Ranking ------------------------------------------------------------------------------------------


def diversify(
    *, ranked: Sequence[int], scores: Mapping[int, float], clusters: Mapping[int, int], limit: int
) -> list[int]:
    """Greedy re-ranking of `ranked` (best first): each pick maximises score − DIVERSITY_PENALTY × (people
    of its cluster already picked); ties keep the given order. Within a cluster the order never changes,
    so only each cluster's first remaining person can be the next pick: a heap of those heads, where a
    pick changes only its own cluster's."""
    queues: dict[int, deque[tuple[int, int]]] = {}
    for position, key in enumerate(ranked):
        queues.setdefault(clusters[key], deque()).append((position, key))
    heap = [(-scores[queue[0][1]], queue[0][0], cluster) for cluster, queue in queues.items()]
    heapq.heapify(heap)
    picked: list[int] = []
    per_cluster = dict.fromkeys(queues, 0)
    while len(picked) < limit and heap:
        _key, _position, cluster = heapq.heappop(heap)
        queue = queues[cluster]
        picked.append(queue.popleft()[1])
        per_cluster[cluster] += 1
        if queue:
            position, head = queue[0]
            penalty = DIVERSITY_PENALTY * per_cluster[cluster]
            heapq.heappush(heap, (-(scores[head] - penalty), position, cluster))
    return picked


def age_group_label(*, birth_year: int | None, year: int) -> str | None:
    if birth_year is None:
        return None
    age = year - birth_year
    for _suffix, low, high in AGE_GROUPS:
        if (low is None or age >= low) and (high is None or age <= high):
            if low is None:
                return f"under {high + 1}"
            return f"{low}+" if high is None else f"{low}–{high}"
    return None


def _reason(kind: str, key: str) -> str:
    label = key.replace("_", " ")
    return f"you both like {label}" if kind == "interest" else f"you both enjoy {label}"


_BUCKET_LOWS_KM = np.array([bucket.low_km for bucket in privacy.DISTANCE_BUCKETS[1:]])
_BUCKET_SCORES = np.array([privacy.bucket_distance_score(bucket) for bucket in privacy.DISTANCE_BUCKETS])


@dataclass(frozen=True)
class _Me:
    geohash: str
    taste: np.ndarray
    #: Their stored RALM embedding (raw float32 bytes) under the model version asked for, None without one.
    embedding: bytes | None
    #: Everyone they blocked or who blocked them.
    blocked: list[int]


def _table(model) -> str:
    return connection.ops.quote_name(model._meta.db_table)


@functools.cache
def _me_sql(*, postgresql: bool) -> str:
    location, profile, embedding, block = (
        _table(Location),
        _table(Profile),
        _table(UserEmbedding),
        _table(Block),
    )
    # On PostgreSQL the blocks (both ways) come along as an array; elsewhere they are a second query.
    blocks = (
        f", ARRAY(SELECT b.blocked_id FROM {block} b WHERE b.blocker_id = l.user_id "  # noqa: S608
        f"UNION SELECT b.blocker_id FROM {block} b WHERE b.blocked_id = l.user_id)"
        if postgresql
        else ""
    )
    # Only table names are interpolated; the values are bound parameters.
    return (
        f"SELECT l.geohash, p.interests, p.activity_preferences, e.vector{blocks} FROM {location} l "  # noqa: S608
        f"LEFT JOIN {profile} p ON p.user_id = l.user_id "
        f"LEFT JOIN {embedding} e ON e.user_id = l.user_id AND e.model_version_id = %s "
        "WHERE l.user_id = %s"
    )


def _me_get(*, user_id: int, model_version_id: int | None) -> _Me | None:
    """The person asking: location, tastes, stored embedding and blocks, in one round trip on PostgreSQL;
    None when they have shared no location. (Their own position: it never leaves this function but as its
    snap cell.)"""
    postgresql = connection.vendor == "postgresql"
    with connection.cursor() as cursor:
        cursor.execute(_me_sql(postgresql=postgresql), [model_version_id, user_id])
        row = cursor.fetchone()
    if row is None:
        return None
    geohash, interests, preferences, vector = row[:4]
    if postgresql:
        blocked = list(row[4])
    else:
        blocked = list(
            Block.objects.filter(Q(blocker_id=user_id) | Q(blocked_id=user_id))
            .values_list("blocked_id", "blocker_id")
            .distinct()
        )
        blocked = sorted({other for pair in blocked for other in pair} - {user_id})
    taste = taste_vector(interests=interests, activity_preferences=preferences)
    return _Me(geohash, taste, None if vector is None else bytes(vector), blocked)


def nearby_people_list(
    *,
    user: User,
    radius_km: float,
    limit: int,
    with_friends: bool = False,
    config: Mapping[str, Any],
    now: datetime | None = None,
) -> NearbyPage:
    """The people near `user`, best first, at most `limit` (see the module doc). `config` is the surface
    config from experiment_config_for (w_d, w_s, model_version, candidate_cap).

    Queries: the person's location, profile, embedding and blocks (one); none for the candidates when
    their cells' rosters are cached, else one per round of cells built; with friends as seeds, theirs,
    when their summary is not cached. None per result.
    """
    now = now or timezone.now()
    model = _ralm_for(version=config.get("model_version"))
    model_version_id = model.model_version_id if model is not None else None
    me = _me_get(user_id=user.pk, model_version_id=model_version_id)
    if me is None:
        raise ApplicationError(
            "Share your location first (POST /api/me/location/).",
            field="location",
            code="location_required",
            status_code=409,
        )
    pool = nearby_pool(
        user_id=user.pk,
        blocked=me.blocked,
        centre=privacy.snap_cell(me.geohash),
        radius_km=radius_km,
        fresh_after=now - timedelta(hours=settings.VICINO_NEARBY_STALE_HOURS),
        cap=int(config.get("candidate_cap") or settings.VICINO_NEARBY_CANDIDATE_CAP),
        model_version_id=model_version_id,
        width=_embedding_width(model),
    )
    w_d, w_s = float(config["w_d"]), float(config["w_s"])
    if not len(pool):
        return NearbyPage(radius_km, [], None, 0, w_d, w_s)

    seed_ids = [user.pk, *sorted(friend_ids(user=user))] if with_friends else [user.pk]
    ralm = (
        _ralm_similarities(model=model, seed_ids=seed_ids, pool=pool, my_embedding=me.embedding)
        if model
        else None
    )
    from_ralm = pool.has_embedding if ralm is not None else np.zeros(len(pool), dtype=np.bool_)
    similarity = ralm if ralm is not None else np.zeros(len(pool), dtype=np.float64)
    if not from_ralm.all():
        seed_taste = me.taste
        if len(seed_ids) > 1:
            friends = Profile.objects.filter(user_id__in=seed_ids[1:]).values_list(
                "interests", "activity_preferences"
            )
            seed_taste = np.mean(
                [me.taste, *(taste_vector(interests=i, activity_preferences=a) for i, a in friends)], axis=0
            )
        profile = ~from_ralm
        similarity[profile] = _cosine(pool.tastes[profile], seed_taste)

    # Blend and order in arrays: one bucket per candidate from their snapped distance.
    bucket_ranks = np.searchsorted(_BUCKET_LOWS_KM, pool.distances_km, side="right")
    scores = w_d * _BUCKET_SCORES[bucket_ranks] + w_s * similarity
    order = np.lexsort((pool.user_ids, -scores))  # best first, ties by id
    window = order[: max(limit * DIVERSITY_WINDOW_FACTOR, limit)].tolist()
    clusters = dict(zip(window, dominant_tastes(pool.tastes[window]), strict=True))
    chosen = diversify(
        ranked=window,
        scores=dict(zip(window, scores[window].tolist(), strict=True)),
        clusters=clusters,
        limit=limit,
    )

    results = []
    for p in chosen:
        shared = shared_tastes(mine=me.taste, theirs=pool.tastes[p])
        birth_year = int(pool.birth_years[p])
        results.append(
            NearbyPerson(
                user_id=int(pool.user_ids[p]),
                display_name=pool.names[p],
                age_group=age_group_label(birth_year=None if birth_year < 0 else birth_year, year=now.year)
                if pool.show_age_group[p]
                else None,
                reasons=[_reason(kind, key) for kind, key in shared[:MAX_REASONS]],
                shared_interests=[key for _kind, key in shared],
                similarity=round(float(similarity[p]), 3),
                similarity_source="ralm" if from_ralm[p] else "profile",
                score=round(float(scores[p]), 3),
                distance_bucket=privacy.DISTANCE_BUCKETS[int(bucket_ranks[p])],
            )
        )
    version = f"{model.name} {model.version}" if model is not None and from_ralm.any() else None
    return NearbyPage(radius_km, results, version, len(pool), w_d, w_s)
