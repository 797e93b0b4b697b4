"""Reads for nearby people: candidates from the snap cells around the person, scored, blended, diversified.

**Candidates.** The snap cells (matching.nearby.privacy) whose centres are within the radius of the
person's own cell's centre are walked nearest first (equal distances in grid order), each cell's most
recently updated locations first, until `candidate_cap` locations have been read: the database function
`vicino_nearby_walk` (migration matching 0003) loops over the cells, reading each from the expression index
on (snap cell, updated_at), so the rows read are the rows returned and a dense block of Manhattan costs
no more than `cap` index entries, however many people live there. The cells are handed over in bands
(the own cell, then ≤ 2.5, 6.4, 16 and 51.2 km), one query each, until the cap is reached; one query is
the usual case. Of the locations read, the same query drops anyone blocked in either direction, people
hidden from nearby, inactive accounts and marketers (they still count towards the cap: it bounds the rows
read); the person themself and locations older than VICINO_NEARBY_STALE_HOURS are never read. Who makes
the cap depends on cells and recency, never on where inside a cell anyone is. (Off PostgreSQL, in the
embedded demo, the same candidates are read from the geohash cells covering the radius and cut in
Python.)

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
the top is not one interest cluster. Names and tastes are read for that window only (and for whoever
needed the profile similarity), never for every candidate.
"""

from __future__ import annotations

import functools
import json
import logging
from collections import deque
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, NamedTuple

import numpy as np
from django.conf import settings
from django.db import connection
from django.db.models import Q
from django.utils import timezone

from config.api import ApplicationError
from matching import serving
from matching.features.sql import int_array_literal
from matching.index import embedding_scores
from matching.models import ModelVersion, UserEmbedding
from matching.nearby import privacy
from matching.selectors import user_embedding_matrix
from matching.services import SeedSetError, seed_summary_get
from ml.features.schema import AGE_GROUPS
from users import geo, taxonomy
from users.models import Block, Location, Profile, Role, User
from users.selectors import friend_ids

logger = logging.getLogger(__name__)

RALM_MODEL_NAME = "ralm"
#: Bands of the candidate walk, as snapped distances: the own cell (enough in a dense area), then rings
#: that widen as people thin out; each band is one query.
BAND_EDGES_KM: tuple[float, ...] = (0.0, 2.5, 6.4, 16.0, 51.2)
#: Half the diagonal of the widest snap cell (at the equator): how far a person can be from their cell's
#: centre. The embedded path widens its geohash cover by it.
SNAP_SLACK_KM = 0.87
DIVERSITY_PENALTY = 0.05
DIVERSITY_WINDOW_FACTOR = 4
#: A taste counts as shared, and as a reason, when both weigh it at least this much.
SHARED_TASTE_THRESHOLD = 0.5
MAX_REASONS = 3
TASTES: tuple[tuple[str, str, tuple[str, ...]], ...] = (
    ("interests", "interest", taxonomy.INTERESTS),
    ("activity_preferences", "activity", taxonomy.ACTIVITY_TYPES),
)
_TASTE_INDEX = {
    (field, key): offset
    for offset, (field, key) in enumerate(
        (field, key) for field, _kind, vocabulary in TASTES for key in vocabulary
    )
}
TASTE_DIM = len(_TASTE_INDEX)
_INTEREST_OFFSETS = {key: offset for (field, key), offset in _TASTE_INDEX.items() if field == "interests"}
_ACTIVITY_OFFSETS = {
    key: offset for (field, key), offset in _TASTE_INDEX.items() if field == "activity_preferences"
}


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


class Candidate(NamedTuple):
    """A tuple, not a dataclass: hundreds are made per request, and a frozen dataclass costs 5× more to
    build."""

    user_id: int
    cell: str
    distance_km: float
    #: The stored RALM embedding (raw float32 bytes) under the model version asked for, None without one.
    embedding: bytes | None = None


@dataclass(frozen=True)
class PersonDetails:
    display_name: str
    birth_year: int | None
    show_age_group: bool
    #: (TASTE_DIM,) float32, see taste_vector.
    taste: np.ndarray


# Candidates ---------------------------------------------------------------------------------------


def _table(model) -> str:
    return connection.ops.quote_name(model._meta.db_table)


@functools.cache
def _walk_sql() -> str:
    user, profile, block = _table(User), _table(Profile), _table(Block)
    embedding = _table(UserEmbedding)
    # vicino_nearby_walk (migration matching 0003) reads the cells in order, each cell's freshest locations
    # first, and stops at the cap; this query says which of the rows read may be shown (the person's blocks,
    # both ways, read once into a hashed set rather than probed per row), and brings each
    # one's stored embedding under the model version asked for (NULL: none) in the same round trip. Only
    # table names and constants are interpolated; every value is a bound parameter.
    return f"""
        SELECT w.cell_position, w.person_id,
               u.is_active AND u.role <> '{Role.MARKETER.value}' AND p.user_id IS NOT NULL
               AND NOT p.hide_from_nearby
               AND w.person_id NOT IN (SELECT b.blocked_id FROM {block} b WHERE b.blocker_id = %s
                                       UNION ALL
                                       SELECT b.blocker_id FROM {block} b WHERE b.blocked_id = %s)
               AS shown,
               e.vector
        FROM vicino_nearby_walk(%s::text[], %s, %s, %s) w
        JOIN {user} u ON u.id = w.person_id
        LEFT JOIN {profile} p ON p.user_id = w.person_id
        LEFT JOIN {embedding} e ON e.user_id = w.person_id AND e.model_version_id = %s
        ORDER BY w.cell_position, w.located_at DESC, w.person_id
    """  # noqa: S608


def _candidates_postgresql(
    *, user_id: int, ring: privacy.CellRing, fresh_after: datetime, cap: int, model_version_id: int | None
) -> list[Candidate]:
    sql = _walk_sql()
    found: list[Candidate] = []
    read, start = 0, 0
    with connection.cursor() as cursor:
        for edge in BAND_EDGES_KM:
            if start >= len(ring) or read >= cap:
                break
            stop = int(np.searchsorted(ring.distances_km, edge, side="right"))
            if stop <= start:
                continue
            cells = ring.cells(start, stop)
            cursor.execute(sql, [user_id, user_id, cells, fresh_after, user_id, cap - read, model_version_id])
            rows = cursor.fetchall()
            read += len(rows)
            distances = ring.distances_km[start:stop].tolist()
            found += [
                Candidate(
                    other, cells[position - 1], distances[position - 1], None if raw is None else bytes(raw)
                )
                for position, other, shown, raw in rows
                if shown
            ]
            start = stop
    return found


def candidates_by_geohash_cover(
    *, user_id: int, centre: str, ring: privacy.CellRing, radius_km: float, fresh_after: datetime, cap: int
) -> list[Candidate]:
    """The same candidates as the PostgreSQL walk, for databases without its SQL (the embedded demo):
    everyone in the geohash cells covering the radius (widened by SNAP_SLACK_KM), cut in Python."""
    position_of = {cell: position for position, cell in enumerate(ring.cells(0, len(ring)))}
    latitude, longitude = privacy.snap_cell_centre(centre)
    cover = Q()
    for cell in geo.cells_covering(latitude, longitude, radius_km + SNAP_SLACK_KM):
        cover |= Q(geohash__startswith=cell)
    blocked = set(Block.objects.filter(blocker_id=user_id).values_list("blocked_id", flat=True))
    blocked |= set(Block.objects.filter(blocked_id=user_id).values_list("blocker_id", flat=True))
    rows = (
        Location.objects.filter(cover, updated_at__gte=fresh_after)
        .exclude(user_id=user_id)
        .values_list(
            "user_id",
            "geohash",
            "updated_at",
            "user__is_active",
            "user__role",
            "user__profile__user_id",
            "user__profile__hide_from_nearby",
        )
    )
    ranked = []
    for other, geohash, updated_at, active, role, profile_id, hidden in rows:
        cell = privacy.snap_cell(geohash)
        if cell in position_of:
            shown = active and role != Role.MARKETER and profile_id is not None and not hidden
            ranked.append(
                (position_of[cell], -updated_at.timestamp(), other, cell, shown and other not in blocked)
            )
    ranked.sort(key=lambda row: row[:3])
    return [
        Candidate(other, cell, float(ring.distances_km[position]))
        for position, _t, other, cell, shown in ranked[:cap]
        if shown
    ]


def nearby_candidates(
    *,
    user_id: int,
    centre: str,
    radius_km: float,
    fresh_after: datetime,
    cap: int,
    model_version_id: int | None = None,
) -> list[Candidate]:
    """The people to rank: of the first `cap` locations read nearest first (by snapped distance, within the
    radius; each cell's freshest first), those that may be shown (see the module doc). With a
    `model_version_id`, each carries their stored embedding under it (None when they have none yet)."""
    ring = privacy.cells_within(centre, radius_km)
    if connection.vendor == "postgresql":
        return _candidates_postgresql(
            user_id=user_id, ring=ring, fresh_after=fresh_after, cap=cap, model_version_id=model_version_id
        )
    found = candidates_by_geohash_cover(
        user_id=user_id, centre=centre, ring=ring, radius_km=radius_km, fresh_after=fresh_after, cap=cap
    )
    if model_version_id is None or not found:
        return found
    ids, vectors = user_embedding_matrix(
        model_version_id=model_version_id, user_ids=[candidate.user_id for candidate in found]
    )
    stored = dict(zip(ids.tolist(), (row.tobytes() for row in vectors), strict=True))
    return [candidate._replace(embedding=stored.get(candidate.user_id)) for candidate in found]


@functools.cache
def _details_sql() -> str:
    user, profile = _table(User), _table(Profile)
    return f"""
        SELECT u.id, u.username, u.display_name, p.birth_year, p.show_age_group, p.interests,
               p.activity_preferences
        FROM {user} u LEFT JOIN {profile} p ON p.user_id = u.id
        WHERE u.id = ANY(%s::bigint[])
    """  # noqa: S608


def person_details(*, user_ids: Sequence[int]) -> dict[int, PersonDetails]:
    """Display name, birth year and tastes of these people, in one query."""
    if connection.vendor == "postgresql":
        # The ids as one array: a short statement the driver parses once, however many people.
        with connection.cursor() as cursor:
            cursor.execute(_details_sql(), [int_array_literal(user_ids)])
            rows = cursor.fetchall()
    else:
        rows = User.objects.filter(pk__in=user_ids).values_list(
            "pk",
            "username",
            "display_name",
            "profile__birth_year",
            "profile__show_age_group",
            "profile__interests",
            "profile__activity_preferences",
        )
    return {
        pk: PersonDetails(
            display_name=display_name or username,
            birth_year=birth_year,
            show_age_group=bool(show_age_group),
            taste=taste_vector(interests=_json(interests), activity_preferences=_json(preferences)),
        )
        for pk, username, display_name, birth_year, show_age_group, interests, preferences in rows
    }


def _json(value: Any) -> Mapping[str, Any]:
    # Django's PostgreSQL backend hands jsonb back as text too (JSONField decodes it).
    if value is None:
        return {}
    return json.loads(value) if isinstance(value, str) else value


# Similarity ---------------------------------------------------------------------------------------


def taste_vector(*, interests: Mapping[str, Any], activity_preferences: Mapping[str, Any]) -> np.ndarray:
    """(TASTE_DIM,) float32: interests then activity preferences in taxonomy order, as the preference
    feature group holds them."""
    vector = [0.0] * TASTE_DIM
    for offsets, values in ((_INTEREST_OFFSETS, interests), (_ACTIVITY_OFFSETS, activity_preferences)):
        for key, weight in values.items():
            offset = offsets.get(key)
            if offset is not None and isinstance(weight, int | float) and not isinstance(weight, bool):
                vector[offset] = min(max(float(weight), 0.0), 1.0)
    return np.array(vector, dtype=np.float32)


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


def _ralm_similarities(
    *,
    model: serving.LoadedRalm,
    seed_ids: Sequence[int],
    candidates: Sequence[Candidate],
    my_embedding: bytes | None,
) -> dict[int, float]:
    """{user id: RALM similarity in [0, 1]} of the candidates that carry an embedding of the same length
    as the model's (a stale row of another size is left to the profile fallback rather than misread).
    `my_embedding` is the asker's (seed_ids[0]) stored one, already read."""
    width = 4 * int(model.lookalike.config.input_dim)  # float32 bytes per stored embedding
    known = {}
    if my_embedding is not None and len(my_embedding) == width:
        known[seed_ids[0]] = np.frombuffer(my_embedding, dtype=np.float32)
    try:
        summary = seed_summary_get(
            model_version=_model_version_row(model_version_id=model.model_version_id),
            seed_user_ids=seed_ids,
            known_embeddings=known,
        )
    except SeedSetError:
        return {}
    scored = [
        candidate for candidate in candidates if candidate.embedding and len(candidate.embedding) == width
    ]
    if not scored:
        return {}
    # A bytearray, so the array is writable (torch.from_numpy warns on read-only memory).
    vectors = np.frombuffer(bytearray(b"".join(c.embedding for c in scored)), dtype=np.float32)
    scores = embedding_scores(model=model, summary=summary, vectors=vectors.reshape(len(scored), -1))
    scale = float(model.lookalike.mixing.detach().abs().sum()) or 1.0  # |α| + |β|
    normalised = np.clip((scores / scale + 1.0) / 2.0, 0.0, 1.0)
    return dict(zip((candidate.user_id for candidate in scored), normalised.tolist(), strict=True))


# Ranking ------------------------------------------------------------------------------------------


def dominant_tastes(tastes: np.ndarray) -> list[int]:
    """Each row's strongest taste (its offset), or -1 for a row with none: the diversity clusters."""
    return np.where(tastes.max(axis=1) > 0, tastes.argmax(axis=1), -1).tolist()


def diversify(
    *, ranked: Sequence[int], scores: Mapping[int, float], clusters: Mapping[int, int], limit: int
) -> list[int]:
    """Greedy re-ranking of `ranked` (best first): each pick maximises score − DIVERSITY_PENALTY × (people
    of its cluster already picked); ties keep the given order. Within a cluster the order never changes,
    so only each cluster's first remaining person can be the next pick."""
    queues: dict[int, deque[tuple[int, int]]] = {}
    for position, user_id in enumerate(ranked):
        queues.setdefault(clusters[user_id], deque()).append((position, user_id))
    picked: list[int] = []
    per_cluster = dict.fromkeys(queues, 0)
    while len(picked) < limit and queues:
        cluster = max(
            queues,
            key=lambda c: (scores[queues[c][0][1]] - DIVERSITY_PENALTY * per_cluster[c], -queues[c][0][0]),
        )
        picked.append(queues[cluster].popleft()[1])
        per_cluster[cluster] += 1
        if not queues[cluster]:
            del queues[cluster]
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


def shared_tastes(*, mine: np.ndarray, theirs: np.ndarray) -> list[tuple[str, str]]:
    """[(kind, key)] both weigh at least SHARED_TASTE_THRESHOLD, strongest shared first."""
    both = np.minimum(mine, theirs)
    offsets = np.flatnonzero(both >= SHARED_TASTE_THRESHOLD)
    ordered = sorted(offsets.tolist(), key=lambda offset: (-float(both[offset]), offset))
    keys = list(_TASTE_INDEX)
    kinds = {field: kind for field, kind, _vocabulary in TASTES}
    return [(kinds[keys[offset][0]], keys[offset][1]) for offset in ordered]


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


def _me_get(*, user_id: int, model_version_id: int | None) -> _Me | None:
    """The person asking: location, tastes and stored embedding, in one round trip; None when they have
    shared no location. (Their own position: it never leaves this function but as its snap cell.)"""
    location, profile, embedding = _table(Location), _table(Profile), _table(UserEmbedding)
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT l.geohash, p.interests, p.activity_preferences, e.vector FROM {location} l "  # noqa: S608
            f"LEFT JOIN {profile} p ON p.user_id = l.user_id "
            f"LEFT JOIN {embedding} e ON e.user_id = l.user_id AND e.model_version_id = %s "
            "WHERE l.user_id = %s",
            [model_version_id, user_id],
        )
        row = cursor.fetchone()
    if row is None:
        return None
    geohash, interests, preferences, vector = row
    taste = taste_vector(interests=_json(interests), activity_preferences=_json(preferences))
    return _Me(geohash, taste, None if vector is None else bytes(vector))


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

    Queries: the person's location, profile and embedding; one per band walked (it brings the candidates'
    embeddings); the details (names, tastes) of the diversity window, and first of anyone RALM could not
    score; with friends as seeds, theirs, when their summary is not cached. None per result.
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
    my_taste = me.taste
    candidates = nearby_candidates(
        user_id=user.pk,
        centre=privacy.snap_cell(me.geohash),
        radius_km=radius_km,
        fresh_after=now - timedelta(hours=settings.VICINO_NEARBY_STALE_HOURS),
        cap=int(config.get("candidate_cap") or settings.VICINO_NEARBY_CANDIDATE_CAP),
        model_version_id=model_version_id,
    )
    w_d, w_s = float(config["w_d"]), float(config["w_s"])
    if not candidates:
        return NearbyPage(radius_km, [], None, 0, w_d, w_s)

    seed_ids = [user.pk, *sorted(friend_ids(user=user))] if with_friends else [user.pk]
    candidate_ids = [candidate.user_id for candidate in candidates]

    ralm = (
        _ralm_similarities(model=model, seed_ids=seed_ids, candidates=candidates, my_embedding=me.embedding)
        if model
        else {}
    )
    similarity: dict[int, float] = dict(ralm)
    details: dict[int, PersonDetails] = {}
    missing = [user_id for user_id in candidate_ids if user_id not in ralm]
    if missing:
        details = person_details(user_ids=missing)
        seed_taste = my_taste
        if len(seed_ids) > 1:
            friends = Profile.objects.filter(user_id__in=seed_ids[1:]).values_list(
                "interests", "activity_preferences"
            )
            seed_taste = np.mean(
                [my_taste, *(taste_vector(interests=i, activity_preferences=a) for i, a in friends)], axis=0
            )
        cosine = _cosine(np.stack([details[user_id].taste for user_id in missing]), seed_taste)
        similarity.update(zip(missing, cosine.tolist(), strict=True))

    # Blend and order in arrays: one bucket per candidate from their snapped distance.
    bucket_ranks = np.searchsorted(
        _BUCKET_LOWS_KM, np.array([candidate.distance_km for candidate in candidates]), side="right"
    )
    similarities = np.array([similarity[user_id] for user_id in candidate_ids])
    scores = w_d * _BUCKET_SCORES[bucket_ranks] + w_s * similarities
    ids = np.array(candidate_ids)
    order = np.lexsort((ids, -scores))  # best first, ties by id
    window_positions = order[: max(limit * DIVERSITY_WINDOW_FACTOR, limit)].tolist()
    window = [candidate_ids[position] for position in window_positions]
    blended = {candidate_ids[p]: float(scores[p]) for p in window_positions}
    bucket_of = {candidate_ids[p]: privacy.DISTANCE_BUCKETS[int(bucket_ranks[p])] for p in window_positions}
    unknown = [user_id for user_id in window if user_id not in details]
    if unknown:
        details.update(person_details(user_ids=unknown))
    clusters = dict(zip(window, dominant_tastes(np.stack([details[u].taste for u in window])), strict=True))
    chosen = diversify(ranked=window, scores=blended, clusters=clusters, limit=limit)

    results = []
    for user_id in chosen:
        person = details[user_id]
        shared = shared_tastes(mine=my_taste, theirs=person.taste)
        results.append(
            NearbyPerson(
                user_id=user_id,
                display_name=person.display_name,
                age_group=age_group_label(birth_year=person.birth_year, year=now.year)
                if person.show_age_group
                else None,
                reasons=[_reason(kind, key) for kind, key in shared[:MAX_REASONS]],
                shared_interests=[key for _kind, key in shared],
                similarity=round(similarity[user_id], 3),
                similarity_source="ralm" if user_id in ralm else "profile",
                score=round(blended[user_id], 3),
                distance_bucket=bucket_of[user_id],
            )
        )
    version = f"{model.name} {model.version}" if model is not None and ralm else None
    return NearbyPage(radius_km, results, version, len(candidates), w_d, w_s)
