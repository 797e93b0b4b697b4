"""What people did, as one time-ordered event log: check-ins, activities joined, invitations answered.

    VISIT     users.Visit                                   a positive, and part of the history
    JOIN      activities.Participation (not the organiser)  a positive, and part of the history
    ORGANISE  the organiser's own Participation             part of the history only (not a decision)
    ACCEPT    activities.Invitation accepted, no Participation for it    a positive, and history
    DECLINE   activities.Invitation declined                a negative, never history

An accepted invitation that also has a Participation is the same decision: the Participation stands for
it. Every event is described in the shared content space of `matching.ranking.content`.

Times are epoch seconds: a visit's `visited_at`, a participation's `joined_at`, an answer's
`responded_at`. A person's history as of t is their history events strictly before t.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from enum import IntEnum

import numpy as np
from django.db.models import Exists, OuterRef

from activities.models import Invitation, InvitationStatus, Participation
from matching.ranking.content import (
    RawItems,
    activity_category_and_interest,
    area_of,
    category_id,
    place_interest_id,
    slot_ids,
)
from users.models import Visit


class EventKind(IntEnum):
    VISIT = 0
    JOIN = 1
    ORGANISE = 2
    ACCEPT = 3
    DECLINE = 4


HISTORY_KINDS = (EventKind.VISIT, EventKind.JOIN, EventKind.ORGANISE, EventKind.ACCEPT)
POSITIVE_KINDS = (EventKind.VISIT, EventKind.JOIN, EventKind.ACCEPT)
ACTIVITY_KINDS = (EventKind.JOIN, EventKind.ORGANISE, EventKind.ACCEPT, EventKind.DECLINE)


@dataclass(frozen=True)
class EventLog:
    """n events ordered by (person, time, kind). activity_ids is 0 for visits."""

    user_ids: np.ndarray  # (n,) int64
    times: np.ndarray  # (n,) float64 epoch seconds
    kinds: np.ndarray  # (n,) int64 EventKind
    activity_ids: np.ndarray  # (n,) int64
    items: RawItems

    def __len__(self) -> int:
        return int(self.user_ids.shape[0])

    @property
    def is_history(self) -> np.ndarray:
        return np.isin(self.kinds, HISTORY_KINDS)

    @property
    def is_positive(self) -> np.ndarray:
        return np.isin(self.kinds, POSITIVE_KINDS)

    def take(self, rows: np.ndarray) -> EventLog:
        return EventLog(
            self.user_ids[rows],
            self.times[rows],
            self.kinds[rows],
            self.activity_ids[rows],
            self.items.take(rows),
        )


def _seconds(values: Sequence) -> np.ndarray:
    return np.fromiter((value.timestamp() for value in values), dtype=np.float64, count=len(values))


def _visit_rows(user_ids: Sequence[int] | None) -> list[tuple]:
    rows = Visit.objects.all()
    if user_ids is not None:
        rows = rows.filter(user_id__in=user_ids)
    return list(
        rows.values_list(
            "user_id", "visited_at", "place_id", "place__place_type", "place__category", "place__geohash",
            "place__longitude",
        )
    )  # fmt: skip


_ACTIVITY_FIELDS = (
    "activity_id",
    "activity__activity_type",
    "activity__place_id",
    "activity__geohash",
    "activity__longitude",
    "activity__starts_at",
)


def _participation_rows(user_ids: Sequence[int] | None) -> list[tuple]:
    rows = Participation.objects.all()
    if user_ids is not None:
        rows = rows.filter(user_id__in=user_ids)
    return list(rows.values_list("user_id", "joined_at", "activity__organiser_id", *_ACTIVITY_FIELDS))


def _invitation_rows(user_ids: Sequence[int] | None) -> list[tuple]:
    rows = Invitation.objects.filter(status__in=[InvitationStatus.ACCEPTED, InvitationStatus.DECLINED])
    if user_ids is not None:
        rows = rows.filter(invitee_id__in=user_ids)
    joined = Participation.objects.filter(activity_id=OuterRef("activity_id"), user_id=OuterRef("invitee_id"))
    rows = rows.annotate(joined=Exists(joined)).exclude(status=InvitationStatus.ACCEPTED, joined=True)
    return list(rows.values_list("invitee_id", "responded_at", "status", *_ACTIVITY_FIELDS))


def _log_part(
    *,
    users: list[int],
    seconds: np.ndarray,
    kinds: np.ndarray,
    activity_ids: list[int],
    place_ids: list[int | None],
    categories: list[int],
    interests: list[int],
    geohashes: list[str],
    longitudes: list[float],
    slot_seconds: np.ndarray,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, RawItems]:
    n = len(users)
    items = RawItems(
        place_ids=np.fromiter((p or 0 for p in place_ids), dtype=np.int64, count=n),
        categories=np.asarray(categories, dtype=np.int64).reshape(n),
        interests=np.asarray(interests, dtype=np.int64).reshape(n),
        areas=np.array([area_of(g) for g in geohashes], dtype=object).reshape(n),
        slots=slot_ids(seconds=slot_seconds, longitude=np.asarray(longitudes, dtype=np.float64).reshape(n)),
    )
    return (
        np.asarray(users, dtype=np.int64).reshape(n),
        seconds,
        kinds,
        np.asarray(activity_ids, dtype=np.int64).reshape(n),
        items,
    )


def event_log_load(*, user_ids: Sequence[int] | None = None, answers: bool = True) -> EventLog:
    """Everyone's events (or these people's), ordered by (person, time, kind), in at most three queries.

    `answers=False` leaves invitation answers out: serving reads histories, and a decline is no history.
    """
    ids = None if user_ids is None else sorted({int(user_id) for user_id in user_ids})
    parts = []
    visits = _visit_rows(ids)
    if visits:
        seconds = _seconds([row[1] for row in visits])
        parts.append(
            _log_part(
                users=[row[0] for row in visits],
                seconds=seconds,
                kinds=np.full(len(visits), EventKind.VISIT, dtype=np.int64),
                activity_ids=[0] * len(visits),
                place_ids=[row[2] for row in visits],
                categories=[category_id(row[3]) for row in visits],
                interests=[place_interest_id(row[4]) for row in visits],
                geohashes=[row[5] for row in visits],
                longitudes=[row[6] for row in visits],
                slot_seconds=seconds,
            )
        )
    joins = _participation_rows(ids)
    answered = _invitation_rows(ids) if answers else []
    for rows, kind_of in (
        (joins, lambda row: EventKind.ORGANISE if row[2] == row[0] else EventKind.JOIN),
        (
            answered,
            lambda row: EventKind.ACCEPT if row[2] == InvitationStatus.ACCEPTED else EventKind.DECLINE,
        ),
    ):
        if not rows:
            continue
        content = [activity_category_and_interest(row[4]) for row in rows]
        parts.append(
            _log_part(
                users=[row[0] for row in rows],
                seconds=_seconds([row[1] for row in rows]),
                kinds=np.fromiter((kind_of(row) for row in rows), dtype=np.int64, count=len(rows)),
                activity_ids=[row[3] for row in rows],
                place_ids=[row[5] for row in rows],
                categories=[category for category, _interest in content],
                interests=[interest for _category, interest in content],
                geohashes=[row[6] for row in rows],
                longitudes=[row[7] for row in rows],
                slot_seconds=_seconds([row[8] for row in rows]),
            )
        )
    if not parts:
        empty = np.empty(0, dtype=np.int64)
        return EventLog(empty, np.empty(0, dtype=np.float64), empty, empty, RawItems.empty())
    users = np.concatenate([part[0] for part in parts])
    times = np.concatenate([part[1] for part in parts])
    kinds = np.concatenate([part[2] for part in parts])
    activity_ids = np.concatenate([part[3] for part in parts])
    items = RawItems.concatenate([part[4] for part in parts])
    order = np.lexsort((activity_ids, kinds, times, users))
    return EventLog(users[order], times[order], kinds[order], activity_ids[order], items.take(order))


@dataclass(frozen=True)
class Histories:
    """Every person's history events (HISTORY_KINDS), flattened in (person, time) order: person p's are
    rows starts[p]:ends[p] of `times` / `items`, `people` sorted."""

    people: np.ndarray  # (P,) int64
    starts: np.ndarray  # (P,) int64
    ends: np.ndarray  # (P,) int64
    times: np.ndarray  # (H,) float64
    items: RawItems  # H rows

    @classmethod
    def from_log(cls, log: EventLog) -> Histories:
        rows = np.flatnonzero(log.is_history)
        users = log.user_ids[rows]
        people, starts = np.unique(users, return_index=True)
        ends = np.r_[starts[1:], users.shape[0]].astype(np.int64)
        return cls(people, starts.astype(np.int64), ends, log.times[rows], log.items.take(rows))

    def window_end(self, *, user_ids: np.ndarray, times: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """For each (person, t): (start, end) of their history strictly before t (end = start when none,
        and for a person with no history at all)."""
        user_ids = np.asarray(user_ids, dtype=np.int64)
        position = np.searchsorted(self.people, user_ids)
        known = (position < self.people.shape[0]) & (
            self.people[np.minimum(position, max(self.people.shape[0] - 1, 0))] == user_ids
        )
        starts = np.zeros(user_ids.shape[0], dtype=np.int64)
        ends = np.zeros(user_ids.shape[0], dtype=np.int64)
        for i in np.flatnonzero(known):
            start, stop = self.starts[position[i]], self.ends[position[i]]
            starts[i] = start
            ends[i] = start + np.searchsorted(self.times[start:stop], times[i], side="left")
        return starts, ends
