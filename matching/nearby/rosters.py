"""Cell rosters: each snap cell's freshest people, with everything nearby needs of them, cached in Redis.

A *roster* is what the nearby list reads of one snap cell (matching.nearby.privacy): its `size` most
recently located people (fresher than VICINO_NEARBY_STALE_HOURS when it was read), freshest first, ties
by id, each with whether they may be listed at all (an active, non-marketer account with a profile that is
not hidden from nearby), their stored embedding under one model version, display name, birth year and
age-group setting, and taste vector. Everything that depends on who asks (the asker themself, their
blocks, staleness at the time of asking, the cap) is applied per request, on top (selectors).

**Cached.** Many people ask from the same few cells, so a roster is built by one query and kept in Redis
for VICINO_NEARBY_ROSTER_SECONDS (default 60) as one binary blob (numpy arrays and the names; nothing is
unpickled), keyed by cell, size and model version. What must apply at once goes through the cell's
*generation* (`cell_rosters_forget`, on commit; matching.receivers): hiding from nearby or any other
profile change, deactivation or a new name, a deleted account, a move to another cell (both cells), and
someone coming back after an hour. A roster whose recorded generation is not the current one is a miss,
and a build reads the generation before its query and records it, so a build that raced with a change is
never served after it. Blocks are never in a roster: they are read per request. What only the expiry
bounds: a dense cell reordering by recency as people ping from within it, and a new embedding replacing
the profile similarity.

**Built** by `vicino_nearby_rosters` (migration matching 0005) on PostgreSQL: the cells in order, each
from the expression index on (snap cell, updated_at), stopping once the rows read (with what the cached
cells in between hold) reach what the request still needs, so a cold cache costs one query and about the
rows the old per-request walk read. Elsewhere (the embedded demo: SQLite, no Redis) by the ORM, by
geohash prefix, and not cached.
"""

from __future__ import annotations

import functools
import itertools
import logging
import struct
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import numpy as np
from django.conf import settings
from django.db import connection
from django.db.models import Q

from config.cache import redis_raw
from matching.models import UserEmbedding
from matching.nearby import privacy
from matching.nearby.tastes import TASTE_DIM, taste_vector
from matching.selectors import user_embedding_matrix
from users import geo
from users.models import Location, Profile, Role, User

logger = logging.getLogger(__name__)

#: The format's version: a blob of any other is a miss (a deploy never misreads an older one).
_MAGIC = b"VNR2"
#: magic, generation, people, embedding width (floats), taste width (floats).
_HEADER = struct.Struct("<4sqIII")
#: A cell's generation outlives any roster recorded under it by far; after it expires it restarts at 0,
#: when no roster of an older generation can still exist.
GENERATION_SECONDS = 24 * 3600


@dataclass(frozen=True)
class Roster:
    """One cell's people, freshest first (ties by id). Arrays of n rows; `embeddings` is (n, d) with d the
    model's embedding width (0 without a model), zero rows where `has_embedding` is False."""

    user_ids: np.ndarray  # int64
    located_at: np.ndarray  # float64, Unix seconds
    listed: np.ndarray  # bool
    has_embedding: np.ndarray  # bool
    birth_years: np.ndarray  # int32, -1 when unknown
    show_age_group: np.ndarray  # bool
    embeddings: np.ndarray  # float32 (n, d)
    tastes: np.ndarray  # float32 (n, TASTE_DIM)
    #: The display names, UTF-8, NUL-separated (a PostgreSQL text never holds NUL): split only when a name
    #: is shown, which is for few of the people read.
    names_blob: bytes

    def __len__(self) -> int:
        return int(self.user_ids.shape[0])

    @functools.cached_property
    def names(self) -> list[str]:
        return self.names_blob.decode().split("\x00") if len(self) else []

    def to_bytes(self, *, generation: int) -> bytes:
        n, d = len(self), int(self.embeddings.shape[1])
        return b"".join(
            (
                _HEADER.pack(_MAGIC, generation, n, d, TASTE_DIM),
                self.user_ids.astype("<i8").tobytes(),
                self.located_at.astype("<f8").tobytes(),
                self.birth_years.astype("<i4").tobytes(),
                self.embeddings.astype("<f4").tobytes(),
                self.tastes.astype("<f4").tobytes(),
                self.listed.astype(np.bool_).tobytes(),
                self.has_embedding.astype(np.bool_).tobytes(),
                self.show_age_group.astype(np.bool_).tobytes(),
                self.names_blob,
            )
        )

    @classmethod
    def from_bytes(cls, data: bytes, *, generation: int, width: int) -> Roster | None:
        """The roster in `data`, or None when it is of another generation, width or format (a miss).
        The arrays are read-only views of `data`."""
        if len(data) < _HEADER.size:
            return None
        magic, recorded, n, d, t = _HEADER.unpack_from(data)
        if magic != _MAGIC or recorded != generation or d != width or t != TASTE_DIM:
            return None
        offset = _HEADER.size
        arrays = []
        # (dtype, columns): None for a 1-D array of n, else an (n, columns) matrix (d may be 0).
        layout = (
            ("<i8", None),
            ("<f8", None),
            ("<i4", None),
            ("<f4", d),
            ("<f4", t),
            ("?", None),
            ("?", None),
            ("?", None),
        )
        for dtype, columns in layout:
            count = n if columns is None else n * columns
            if offset + count * np.dtype(dtype).itemsize > len(data):
                return None
            array = np.frombuffer(data, dtype=dtype, count=count, offset=offset)
            arrays.append(array if columns is None else array.reshape(n, columns))
            offset += count * np.dtype(dtype).itemsize
        if n and data.count(b"\x00", offset) != n - 1:
            return None
        ids, located, births, embeddings, tastes, listed, has_embedding, show_age = arrays
        return cls(ids, located, listed, has_embedding, births, show_age, embeddings, tastes, data[offset:])


#: A row of roster_from_people: (user id, located at (Unix s), listed, raw embedding (float32) or None,
#: display name, birth year or None, show age group, raw taste vector (big-endian float32) or None).
Person = tuple[int, float, bool, bytes | None, str, int | None, bool, bytes | None]


def roster_from_people(people: Sequence[Person], *, width: int) -> Roster:
    """A roster from its people's rows, freshest first. An embedding of another width than the model's
    counts as none (a stale row is left to the profile fallback rather than misread)."""
    n = len(people)
    ids, located, listed, vectors, names, births, show_age, tastes = (
        zip(*people, strict=True) if n else ((),) * 8
    )
    byte_width, taste_width = 4 * width, 4 * TASTE_DIM
    has_embedding = np.array([v is not None and len(v) == byte_width for v in vectors], dtype=np.bool_)
    if width and n:
        zero = bytes(byte_width)
        raw = b"".join(v if ok else zero for v, ok in zip(vectors, has_embedding.tolist(), strict=True))
        embeddings = np.frombuffer(raw, dtype="<f4").reshape(n, width)
    else:
        embeddings, has_embedding = np.zeros((n, width), dtype=np.float32), np.zeros(n, dtype=np.bool_)
    if n:
        zero = bytes(taste_width)
        raw = b"".join(t if t is not None and len(t) == taste_width else zero for t in tastes)
        taste_matrix = np.frombuffer(raw, dtype=">f4").astype(np.float32).reshape(n, TASTE_DIM)
    else:
        taste_matrix = np.zeros((0, TASTE_DIM), dtype=np.float32)
    return Roster(
        user_ids=np.array(ids, dtype=np.int64),
        located_at=np.array(located, dtype=np.float64),
        listed=np.array(listed, dtype=np.bool_),
        has_embedding=has_embedding,
        birth_years=np.array([-1 if year is None else year for year in births], dtype=np.int32),
        show_age_group=np.array([bool(show) for show in show_age], dtype=np.bool_),
        embeddings=embeddings,
        tastes=taste_matrix,
        names_blob="\x00".join(names).encode(),
    )


# The cache ----------------------------------------------------------------------------------------


def _roster_key(*, cell: str, size: int, model_version_id: int | None) -> str:
    return f"vicino:nearby:roster:{size}:{model_version_id or 0}:{cell}"


def _generation_key(cell: str) -> str:
    return f"vicino:nearby:roster-generation:{cell}"


@dataclass(frozen=True)
class CachedRosters:
    #: The rosters found, by position in the cells asked for.
    found: dict[int, Roster]
    #: Every cell's current generation, by position: what a build of it must record.
    generations: list[int]


def cell_rosters_cached(
    *, cells: Sequence[str], size: int, model_version_id: int | None, width: int
) -> CachedRosters:
    """The cells' cached rosters and generations, in one Redis round trip (none without Redis)."""
    client = redis_raw()
    if client is None:
        return CachedRosters({}, [0] * len(cells))
    keys = [_roster_key(cell=cell, size=size, model_version_id=model_version_id) for cell in cells]
    replies = client.mget([*keys, *(_generation_key(cell) for cell in cells)])
    found, generations = {}, []
    for position in range(len(cells)):
        blob, generation = replies[position], int(replies[len(cells) + position] or 0)
        generations.append(generation)
        if blob is not None:
            roster = Roster.from_bytes(blob, generation=generation, width=width)
            if roster is not None:
                found[position] = roster
    return CachedRosters(found, generations)


def cell_rosters_store(
    *, rosters: Mapping[str, tuple[Roster, int]], size: int, model_version_id: int | None
) -> None:
    """Cache freshly built rosters ({cell: (roster, the generation read before building it)}), one round
    trip. A failure is logged: the next request builds them again."""
    client = redis_raw()
    if client is None or not rosters:
        return
    seconds = max(1, int(settings.VICINO_NEARBY_ROSTER_SECONDS))
    pipe = client.pipeline(transaction=False)
    for cell, (roster, generation) in rosters.items():
        key = _roster_key(cell=cell, size=size, model_version_id=model_version_id)
        pipe.set(key, roster.to_bytes(generation=generation), ex=seconds)
    try:
        pipe.execute()
    except Exception:  # a cache write never fails the request that built the roster
        logger.exception("could not cache %d nearby rosters", len(rosters))


def cell_rosters_forget(*, cells: Iterable[str]) -> None:
    """Bump these cells' generations: every roster of them cached so far is a miss from now on."""
    client = redis_raw()
    cells = sorted(set(cells))
    if client is None or not cells:
        return
    pipe = client.pipeline(transaction=False)
    for cell in cells:
        pipe.incr(_generation_key(cell))
        pipe.expire(_generation_key(cell), GENERATION_SECONDS)
    pipe.execute()


def cell_rosters_forget_people(*, user_ids: Iterable[int]) -> None:
    """Bump the generations of the cells these people are located in (a profile of theirs changed)."""
    if redis_raw() is None:
        return
    geohashes = Location.objects.filter(user_id__in=list(user_ids)).values_list("geohash", flat=True)
    cell_rosters_forget(cells=(privacy.snap_cell(geohash) for geohash in geohashes))


# Building -----------------------------------------------------------------------------------------


def _table(model) -> str:
    return connection.ops.quote_name(model._meta.db_table)


@functools.cache
def _build_sql() -> str:
    user, profile, embedding = _table(User), _table(Profile), _table(UserEmbedding)
    # Only table names and constants are interpolated; every value is a bound parameter.
    return f"""
        SELECT r.cell_position, r.person_id, extract(epoch FROM r.located_at)::float8,
               u.is_active AND u.role <> '{Role.MARKETER.value}' AND p.user_id IS NOT NULL
               AND NOT p.hide_from_nearby,
               e.vector, coalesce(nullif(u.display_name, ''), u.username), p.birth_year,
               coalesce(p.show_age_group, false), p.nearby_taste
        FROM vicino_nearby_rosters(%s::text[], %s::integer[], %s, %s, %s) r
        JOIN {user} u ON u.id = r.person_id
        LEFT JOIN {profile} p ON p.user_id = r.person_id
        LEFT JOIN {embedding} e ON e.user_id = r.person_id AND e.model_version_id = %s
        ORDER BY r.cell_position, r.located_at DESC, r.person_id
    """  # noqa: S608


def cell_rosters_build(
    *,
    cells: Sequence[str],
    known: Sequence[int],
    needed: int,
    size: int,
    fresh_after: datetime,
    model_version_id: int | None,
    width: int,
) -> dict[int, Roster]:
    """Build the rosters of the cells whose `known` count is negative, in order, until the people read
    (counting `known[i]` for the others) reach `needed`: {position: roster} of those built. One query."""
    build = cell_rosters_build_postgresql if connection.vendor == "postgresql" else cell_rosters_build_orm
    built = build(cells=cells, known=known, needed=needed, size=size, fresh_after=fresh_after,
                  model_version_id=model_version_id, width=width)  # fmt: skip
    return _reached(built=built, known=known, needed=needed, width=width)


def cell_rosters_build_postgresql(
    *,
    cells: Sequence[str],
    known: Sequence[int],
    needed: int,
    size: int,
    fresh_after: datetime,
    model_version_id: int | None,
    width: int,
) -> dict[int, Roster]:
    """cell_rosters_build by vicino_nearby_rosters: the walk in the database, one round trip."""
    with connection.cursor() as cursor:
        cursor.execute(_build_sql(), [list(cells), list(known), fresh_after, size, needed, model_version_id])
        rows = cursor.fetchall()
    return {
        position - 1: roster_from_people([row[1:] for row in group], width=width)
        for position, group in itertools.groupby(rows, key=lambda row: row[0])
    }


def _reached(
    *, built: Mapping[int, Roster], known: Sequence[int], needed: int, width: int
) -> dict[int, Roster]:
    """The built rosters the walk reached, as vicino_nearby_rosters walks: in order, while the people
    counted are fewer than `needed`. A cell it reached and found empty is a roster too (of nobody), so it
    is cached and not read again."""
    reached: dict[int, Roster] = {}
    taken = 0
    for position, count in enumerate(known):
        if taken >= needed:
            break
        if count >= 0:
            taken += count
        else:
            reached[position] = built.get(position) or roster_from_people([], width=width)
            taken += len(reached[position])
    return reached


def cell_rosters_build_orm(
    *,
    cells: Sequence[str],
    known: Sequence[int],
    needed: int,
    size: int,
    fresh_after: datetime,
    model_version_id: int | None,
    width: int,
) -> dict[int, Roster]:
    """cell_rosters_build through the ORM, for databases without the SQL function (the embedded demo): every
    missing cell is read (the caller keeps those the walk reaches), by the two 6-character geohash prefixes
    each snap cell is made of; the embeddings in a second query."""
    wanted = {cell: position for position, cell in enumerate(cells) if known[position] < 0}
    if not wanted:
        return {}
    cover = Q()
    for cell in wanted:
        odd = geo.GEOHASH_ALPHABET[geo.GEOHASH_ALPHABET.index(cell[-1]) + 1]
        cover |= Q(geohash__startswith=cell) | Q(geohash__startswith=cell[:-1] + odd)
    rows = Location.objects.filter(cover, updated_at__gte=fresh_after).values_list(
        "user_id",
        "geohash",
        "updated_at",
        "user__is_active",
        "user__role",
        "user__username",
        "user__display_name",
        "user__profile__user_id",
        "user__profile__hide_from_nearby",
        "user__profile__birth_year",
        "user__profile__show_age_group",
        "user__profile__interests",
        "user__profile__activity_preferences",
    )
    per_cell: dict[int, list[tuple[Any, ...]]] = {position: [] for position in wanted.values()}
    for (
        user_id, geohash, updated_at, active, role, username, display_name, profile_id, hidden,
        birth_year, show_age_group, interests, preferences,
    ) in rows:  # fmt: skip
        listed = active and role != Role.MARKETER and profile_id is not None and not hidden
        taste = taste_vector(interests=interests, activity_preferences=preferences).astype(">f4").tobytes()
        per_cell[wanted[privacy.snap_cell(geohash)]].append(
            (user_id, updated_at.timestamp(), listed, None, display_name or username, birth_year,
             show_age_group, taste)
        )  # fmt: skip
    stored: dict[int, bytes] = {}
    if model_version_id is not None and width:
        ids, vectors = user_embedding_matrix(
            model_version_id=model_version_id,
            user_ids=[person[0] for people in per_cell.values() for person in people],
        )
        stored = dict(zip(ids.tolist(), (vector.tobytes() for vector in vectors), strict=True))
    built = {}
    for position, people in per_cell.items():
        people.sort(key=lambda person: (-person[1], person[0]))
        people = [(*p[:3], stored.get(p[0]), *p[4:]) for p in people[:size]]
        built[position] = roster_from_people(people, width=width)
    return built
