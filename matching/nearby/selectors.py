"""Reads for nearby people: candidates from the snap cells around the person, scored, blended, diversified.

**Candidates.** The snap cells (matching.nearby.privacy) whose centres are within the radius of the
person's own cell's centre are walked nearest first, in bands (the own cell, then ≤ 1.6 km, ≤ 3.2 km, …
doubling). Each band is one query that takes, cell by cell, the most recently updated locations through
the expression index on (snap cell, updated_at) and stops at the cap (`candidate_cap`), so a dense block
of Manhattan costs one query of at most `cap` rows, however many people live there. Excluded in the same
query: the person themself, anyone blocked in either direction, people hidden from nearby, inactive
accounts, marketers, and locations older than VICINO_NEARBY_STALE_HOURS. "Nearest" is the snapped
distance and ties go to the most recently updated, so who makes the cap depends on cells and recency,
never on where inside a cell anyone is. (Off PostgreSQL, in the embedded demo, the same candidates are
read from the geohash cells covering the radius and cut in Python.)

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

import json
import logging
from collections.abc import Mapping, Sequence
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
from matching.index import candidate_scores
from matching.models import ModelVersion
from matching.nearby import privacy
from matching.services import SeedSetError, seed_summary_get
from ml.features.schema import AGE_GROUPS
from users import geo, taxonomy
from users.models import Block, Location, Profile, Role, User
from users.selectors import friend_ids

logger = logging.getLogger(__name__)

RALM_MODEL_NAME = "ralm"
#: Bands of the candidate walk, as snapped distances: the own cell, then doubling rings.
BAND_EDGES_KM: tuple[float, ...] = (0.0, 1.6, 3.2, 6.4, 12.8, 25.6, 51.2)
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


@dataclass
class Candidate:
    user_id: int
    cell: str
    distance_km: float
    display_name: str
    birth_year: int | None
    show_age_group: bool
    interests: dict
    activity_preferences: dict


# Candidates ---------------------------------------------------------------------------------------


def _table(model) -> str:
    return connection.ops.quote_name(model._meta.db_table)


def _band_sql() -> str:
    location, user, profile, block = _table(Location), _table(User), _table(Profile), _table(Block)
    # Only table names and constants are interpolated; every value is a bound parameter.
    return f"""
        SELECT c.cell, c.distance_km, l.user_id, u.username, u.display_name,
               p.birth_year, p.show_age_group, p.interests, p.activity_preferences
        FROM unnest(%s::text[], %s::float8[]) AS c(cell, distance_km)
        CROSS JOIN LATERAL (
            SELECT loc.user_id, loc.updated_at
            FROM {location} loc
            JOIN {user} lu ON lu.id = loc.user_id
            JOIN {profile} lp ON lp.user_id = loc.user_id
            WHERE {privacy.snap_cell_sql("loc.geohash")} = c.cell
              AND loc.updated_at >= %s
              AND loc.user_id <> %s
              AND lu.is_active AND lu.role <> '{Role.MARKETER.value}'
              AND NOT lp.hide_from_nearby
              AND NOT EXISTS (SELECT 1 FROM {block} b WHERE b.blocker_id = %s AND b.blocked_id = loc.user_id)
              AND NOT EXISTS (SELECT 1 FROM {block} b WHERE b.blocked_id = %s AND b.blocker_id = loc.user_id)
            ORDER BY loc.updated_at DESC
            LIMIT %s
        ) l
        JOIN {user} u ON u.id = l.user_id
        JOIN {profile} p ON p.user_id = l.user_id
        ORDER BY c.distance_km, l.updated_at DESC, l.user_id
        LIMIT %s
    """  # noqa: S608


def _json(value: Any) -> dict:
    if isinstance(value, dict):
        return value
    return json.loads(value) if value else {}


def _candidates_postgresql(
    *, user_id: int, ring: privacy.CellRing, fresh_after: datetime, cap: int
) -> list[Candidate]:
    sql = _band_sql()
    found: list[Candidate] = []
    start = 0
    with connection.cursor() as cursor:
        for edge in BAND_EDGES_KM:
            if start >= len(ring) or len(found) >= cap:
                break
            stop = int(np.searchsorted(ring.distances_km, edge, side="right"))
            if stop <= start:
                continue
            remaining = cap - len(found)
            cells = ring.cells(start, stop)
            distances = [float(d) for d in ring.distances_km[start:stop]]
            cursor.execute(
                sql, [cells, distances, fresh_after, user_id, user_id, user_id, remaining, remaining]
            )
            for (
                cell,
                distance,
                other,
                username,
                display_name,
                birth_year,
                show_age,
                interests,
                prefs,
            ) in cursor.fetchall():
                found.append(
                    Candidate(
                        user_id=other,
                        cell=cell,
                        distance_km=distance,
                        display_name=display_name or username,
                        birth_year=birth_year,
                        show_age_group=show_age,
                        interests=_json(interests),
                        activity_preferences=_json(prefs),
                    )
                )
            start = stop
    return found


def candidates_by_geohash_cover(
    *, user_id: int, centre: str, ring: privacy.CellRing, radius_km: float, fresh_after: datetime, cap: int
) -> list[Candidate]:
    """The same candidates as the PostgreSQL walk, for databases without its SQL (the embedded demo):
    everyone in the geohash cells covering the radius (widened by SNAP_SLACK_KM), cut in Python."""
    distance_of = dict(zip(ring.cells(0, len(ring)), (float(d) for d in ring.distances_km), strict=True))
    latitude, longitude = privacy.snap_cell_centre(centre)
    cover = Q()
    for cell in geo.cells_covering(latitude, longitude, radius_km + SNAP_SLACK_KM):
        cover |= Q(geohash__startswith=cell)
    blocked = Block.objects.filter(blocker_id=user_id).values("blocked_id")
    blocking = Block.objects.filter(blocked_id=user_id).values("blocker_id")
    rows = (
        Location.objects.filter(cover, updated_at__gte=fresh_after)
        .exclude(user_id=user_id)
        .exclude(user_id__in=blocked)
        .exclude(user_id__in=blocking)
        .filter(user__is_active=True, user__profile__hide_from_nearby=False)
        .exclude(user__role=Role.MARKETER)
        .values_list(
            "user_id",
            "geohash",
            "updated_at",
            "user__username",
            "user__display_name",
            "user__profile__birth_year",
            "user__profile__show_age_group",
            "user__profile__interests",
            "user__profile__activity_preferences",
        )
    )
    ranked = []
    for other, geohash, updated_at, username, display_name, birth_year, show_age, interests, prefs in rows:
        cell = privacy.snap_cell(geohash)
        if cell not in distance_of:
            continue
        ranked.append(
            (
                distance_of[cell],
                -updated_at.timestamp(),
                other,
                Candidate(other, cell, distance_of[cell], display_name or username, birth_year, show_age,
                          _json(interests), _json(prefs)),
            )
        )  # fmt: skip
    ranked.sort(key=lambda row: row[:3])
    return [row[3] for row in ranked[:cap]]


def nearby_candidates(
    *, user_id: int, centre: str, radius_km: float, fresh_after: datetime, cap: int
) -> list[Candidate]:
    """Up to `cap` people whose snapped distance is within the radius, nearest first (see the module doc)."""
    ring = privacy.cells_within(centre, radius_km)
    if connection.vendor == "postgresql":
        return _candidates_postgresql(user_id=user_id, ring=ring, fresh_after=fresh_after, cap=cap)
    return candidates_by_geohash_cover(
        user_id=user_id, centre=centre, ring=ring, radius_km=radius_km, fresh_after=fresh_after, cap=cap
    )


# Similarity ---------------------------------------------------------------------------------------


def taste_vector(*, interests: Mapping[str, Any], activity_preferences: Mapping[str, Any]) -> np.ndarray:
    """(TASTE_DIM,) float32: interests then activity preferences in taxonomy order, as the preference
    feature group holds them."""
    vector = np.zeros(TASTE_DIM, dtype=np.float32)
    for field, values in (("interests", interests), ("activity_preferences", activity_preferences)):
        for key, weight in values.items():
            offset = _TASTE_INDEX.get((field, key))
            if offset is not None and isinstance(weight, int | float):
                vector[offset] = min(max(float(weight), 0.0), 1.0)
    return vector


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
    *, model: serving.LoadedRalm, seed_ids: Sequence[int], candidate_ids: Sequence[int]
) -> dict[int, float]:
    try:
        summary = seed_summary_get(
            model_version=_model_version_row(model_version_id=model.model_version_id), seed_user_ids=seed_ids
        )
    except SeedSetError:
        return {}
    ids, scores = candidate_scores(model=model, summary=summary, user_ids=candidate_ids)
    scale = float(model.lookalike.mixing.detach().abs().sum()) or 1.0  # |α| + |β|
    normalised = np.clip((scores / scale + 1.0) / 2.0, 0.0, 1.0)
    return dict(zip(ids.tolist(), normalised.tolist(), strict=True))


# Ranking ------------------------------------------------------------------------------------------


def _dominant_taste(vector: np.ndarray) -> int:
    return int(np.argmax(vector)) if vector.max() > 0 else -1


def diversify(
    *, ranked: Sequence[int], scores: Mapping[int, float], clusters: Mapping[int, int], limit: int
) -> list[int]:
    """Greedy re-ranking of `ranked` (best first): each pick maximises score − DIVERSITY_PENALTY × (people
    of its cluster already picked); ties keep the given order. Looks at the first
    DIVERSITY_WINDOW_FACTOR × limit only."""
    window = list(ranked[: max(limit * DIVERSITY_WINDOW_FACTOR, limit)])
    picked: list[int] = []
    per_cluster: dict[int, int] = {}
    while window and len(picked) < limit:
        best = max(
            range(len(window)),
            key=lambda i: (
                scores[window[i]] - DIVERSITY_PENALTY * per_cluster.get(clusters[window[i]], 0),
                -i,
            ),
        )
        chosen = window.pop(best)
        picked.append(chosen)
        per_cluster[clusters[chosen]] = per_cluster.get(clusters[chosen], 0) + 1
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
    config from experiment_config_for (w_d, w_s, model_version, candidate_cap)."""
    now = now or timezone.now()
    me = Location.objects.filter(user_id=user.pk).select_related("user__profile").first()
    if me is None:
        raise ApplicationError(
            "Share your location first (POST /api/me/location/).",
            field="location",
            code="location_required",
            status_code=409,
        )
    centre = privacy.snap_cell(me.geohash)
    fresh_after = now - timedelta(hours=settings.VICINO_NEARBY_STALE_HOURS)
    candidates = nearby_candidates(
        user_id=user.pk,
        centre=centre,
        radius_km=radius_km,
        fresh_after=fresh_after,
        cap=int(config.get("candidate_cap") or settings.VICINO_NEARBY_CANDIDATE_CAP),
    )
    w_d, w_s = float(config["w_d"]), float(config["w_s"])
    if not candidates:
        return NearbyPage(radius_km, [], None, 0, w_d, w_s)

    seed_ids = [user.pk]
    if with_friends:
        seed_ids += sorted(friend_ids(user=user))
    candidate_ids = [candidate.user_id for candidate in candidates]
    tastes = np.stack(
        [taste_vector(interests=c.interests, activity_preferences=c.activity_preferences) for c in candidates]
    )
    try:
        profile = me.user.profile
    except Profile.DoesNotExist:
        profile = Profile(user=me.user)
    my_taste = taste_vector(interests=profile.interests, activity_preferences=profile.activity_preferences)

    model = _ralm_for(version=config.get("model_version"))
    ralm = _ralm_similarities(model=model, seed_ids=seed_ids, candidate_ids=candidate_ids) if model else {}
    similarity: dict[int, float] = dict(ralm)
    missing = [row for row, c in enumerate(candidates) if c.user_id not in ralm]
    if missing:
        seed_taste = my_taste
        if len(seed_ids) > 1:
            friends = Profile.objects.filter(user_id__in=seed_ids[1:]).values_list(
                "interests", "activity_preferences"
            )
            seed_taste = np.mean(
                [my_taste, *(taste_vector(interests=i, activity_preferences=a) for i, a in friends)], axis=0
            )
        cosine = _cosine(tastes[missing], seed_taste)
        for row, value in zip(missing, cosine.tolist(), strict=True):
            similarity[candidates[row].user_id] = value

    buckets = {c.user_id: privacy.distance_bucket(c.distance_km) for c in candidates}
    blended = {
        c.user_id: w_d * privacy.bucket_distance_score(buckets[c.user_id]) + w_s * similarity[c.user_id]
        for c in candidates
    }
    ranked = sorted(candidate_ids, key=lambda user_id: (-blended[user_id], user_id))
    clusters = {c.user_id: _dominant_taste(tastes[row]) for row, c in enumerate(candidates)}
    chosen = diversify(ranked=ranked, scores=blended, clusters=clusters, limit=limit)

    by_id = {c.user_id: (row, c) for row, c in enumerate(candidates)}
    results = []
    for user_id in chosen:
        row, candidate = by_id[user_id]
        shared = shared_tastes(mine=my_taste, theirs=tastes[row])
        results.append(
            NearbyPerson(
                user_id=user_id,
                display_name=candidate.display_name,
                age_group=age_group_label(birth_year=candidate.birth_year, year=now.year)
                if candidate.show_age_group
                else None,
                reasons=[_reason(kind, key) for kind, key in shared[:MAX_REASONS]],
                shared_interests=[key for _kind, key in shared],
                similarity=round(similarity[user_id], 3),
                similarity_source="ralm" if user_id in ralm else "profile",
                score=round(blended[user_id], 3),
                distance_bucket=buckets[user_id],
            )
        )
    version = f"{model.name} {model.version}" if model is not None and ralm else None
    return NearbyPage(radius_km, results, version, len(candidates), w_d, w_s)
