"""Training data for the ranker and the recall model: the shared content space, the time split with no
leakage, negatives, and padding that cannot change a score."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import numpy as np
import pytest
import torch

from activities.models import Invitation
from matching.ranking.artefacts import LoadedRanker
from matching.ranking.content import (
    FIRST_ID,
    ITEM_FEATURES,
    UNKNOWN,
    ContentVocabulary,
    RawItems,
    activity_category_and_interest,
    category_id,
    interest_id,
    padded,
    slot_ids,
)
from matching.ranking.events import EventKind, Histories, event_log_load
from matching.ranking.scoring import ranker_probabilities_for_people
from matching.ranking.training import (
    RankerTrainingOptions,
    RecallTrainingOptions,
    ranker_data_build,
    recall_data_build,
)
from tests.factories import (
    ActivityFactory,
    InvitationFactory,
    OrganiserFactory,
    ParticipationFactory,
    UserFactory,
)
from tests.matching.ranking_builders import place_at, tiny_ranker, tiny_vocabulary, visits

DAY = timedelta(days=1)
T0 = datetime(2024, 3, 4, 9, 0, tzinfo=UTC)  # a Monday


# The content space -----------------------------------------------------------------------------------


def test_activities_and_places_share_categories_and_interests():
    # A park check-in and a running group land on the same place type; yoga on a wellness interest.
    assert activity_category_and_interest("running")[0] == category_id("outdoors")
    assert activity_category_and_interest("tennis") == (category_id("sports"), interest_id("sports"))
    assert activity_category_and_interest("yoga")[1] == interest_id("wellness")
    assert activity_category_and_interest("not a type") == (category_id("other"), UNKNOWN)
    assert category_id("no such place type") == UNKNOWN


def test_time_slots_follow_local_solar_time_and_the_weekend():
    saturday_noon_utc = datetime(2024, 3, 9, 12, 0, tzinfo=UTC).timestamp()
    # At New York's longitude (UTC−5 solar) Saturday 12:00 UTC is a Saturday morning; at 0° an afternoon.
    slots = slot_ids(seconds=np.array([saturday_noon_utc] * 2), longitude=np.array([-74.0, 0.0]))
    assert [int(s) - FIRST_ID for s in slots] == [4, 5]  # weekend morning, weekend afternoon
    monday_night = datetime(2024, 3, 4, 2, 0, tzinfo=UTC).timestamp()
    assert int(slot_ids(seconds=np.array([monday_night]), longitude=np.array([0.0]))[0]) - FIRST_ID == 3


def test_the_vocabulary_numbers_only_places_seen_often_enough_and_keeps_padding_apart():
    vocabulary = ContentVocabulary.build(
        place_ids=np.array([7, 7, 9, 0, 11, 11, 11]),
        areas=["dr5ru", "", "dr5rv"],
        min_place_count=2,
        serving={},
    )
    assert vocabulary.place_ids == [7, 11] and vocabulary.areas == ["dr5ru", "dr5rv"]
    raw = RawItems(
        place_ids=np.array([7, 9, 12345]),
        categories=np.array([2, 3, 4]),
        interests=np.array([2, 2, 2]),
        areas=np.array(["dr5ru", "zzzzz", "dr5rv"], dtype=object),
        slots=np.array([2, 3, 4]),
    )
    ids = vocabulary.encode(raw, ITEM_FEATURES)
    assert ids[:, 0].tolist() == [FIRST_ID, UNKNOWN, UNKNOWN]  # rare and unseen places share UNKNOWN
    assert ids[:, 3].tolist() == [FIRST_ID, UNKNOWN, FIRST_ID + 1]
    assert (ids != 0).all()  # a real event never reads as padding
    assert ContentVocabulary.from_dict(vocabulary.to_dict()).encode(raw).tolist() == ids.tolist()


# The split ----------------------------------------------------------------------------------------------


@pytest.fixture
def small_city(db):
    """Two people with ten check-ins each over ten days, then more later; an activity joined late, another
    open at the same time, a declined and an accepted invitation, and a place first visited late."""
    parks = [place_at(latitude=40.78 + 0.001 * i, longitude=-73.97, name=f"Park {i}") for i in range(4)]
    cafes = [
        place_at(latitude=40.73 + 0.001 * i, longitude=-73.99, category="Café", place_type="food")
        for i in range(3)
    ]
    late_place = place_at(latitude=40.79, longitude=-73.96, name="Opened late")
    ada, bo = UserFactory(), UserFactory()
    visits(user=ada, places=(parks * 3)[:10], start=T0, every=DAY)
    visits(user=bo, places=(cafes * 4)[:10], start=T0 + timedelta(hours=3), every=DAY)
    visits(user=ada, places=[late_place, parks[0]], start=T0 + 20 * DAY)
    visits(user=bo, places=[late_place, cafes[1]], start=T0 + 20 * DAY + timedelta(hours=1))
    organiser = OrganiserFactory()
    common = {"organiser": organiser, "created_at": T0 + 12 * DAY, "starts_at": T0 + 40 * DAY}
    run = ActivityFactory(activity_type="running", place=parks[1], latitude=parks[1].latitude,
                          longitude=parks[1].longitude, geohash=parks[1].geohash, **common)  # fmt: skip
    games = ActivityFactory(activity_type="board_games", place=cafes[0], latitude=cafes[0].latitude,
                            longitude=cafes[0].longitude, geohash=cafes[0].geohash, **common)  # fmt: skip
    ParticipationFactory(activity=run, user=organiser, joined_at=T0 + 12 * DAY)
    ParticipationFactory(activity=run, user=ada, joined_at=T0 + 21 * DAY)
    InvitationFactory(activity=run, invitee=ada, status="accepted", responded_at=T0 + 21 * DAY)  # = the join
    InvitationFactory(activity=games, invitee=bo, status="declined", responded_at=T0 + 22 * DAY)
    return {
        "ada": ada,
        "bo": bo,
        "parks": parks,
        "cafes": cafes,
        "late": late_place,
        "run": run,
        "games": games,
    }


@pytest.mark.django_db
def test_the_event_log_counts_an_accepted_invitation_with_its_participation_once(small_city):
    log = event_log_load()
    ada, organiser = small_city["ada"], small_city["run"].organiser
    ada_kinds = log.kinds[log.user_ids == ada.pk].tolist()
    assert ada_kinds.count(EventKind.JOIN) == 1 and EventKind.ACCEPT not in ada_kinds
    assert log.kinds[log.user_ids == organiser.pk].tolist() == [EventKind.ORGANISE]
    assert log.kinds[log.user_ids == small_city["bo"].pk].tolist().count(EventKind.DECLINE) == 1
    assert (np.diff(log.user_ids) >= 0).all()
    for user_id in np.unique(log.user_ids):
        assert (np.diff(log.times[log.user_ids == user_id]) >= 0).all()
    # Served histories leave the answers out: a decline is not something the person did.
    assert EventKind.DECLINE not in event_log_load(answers=False).kinds.tolist()


@pytest.mark.django_db
def test_ranker_samples_are_split_by_time_with_no_leakage(small_city):
    log = event_log_load()
    options = RankerTrainingOptions(split_quantile=0.75, min_place_count=1, negatives_per_positive=2)
    data = ranker_data_build(log=log, options=options)
    histories = data.histories
    assert len(data.train) > 0 and len(data.val) > 0
    assert (data.train.times < data.t_split).all() and (data.val.times >= data.t_split).all()

    for samples in (data.train, data.val):
        for i in range(len(samples)):
            start, end = samples.starts[i], samples.ends[i]
            person = histories.people.tolist().index(samples.user_ids[i])
            assert start == histories.starts[person]
            window = histories.times[start:end]
            # Strictly before the target, and every such event (nothing earlier is left out).
            assert (window < samples.times[i]).all()
            everything = histories.times[histories.starts[person] : histories.ends[person]]
            assert end - start == int((everything < samples.times[i]).sum())
            if samples.labels[i] == 0 and not samples.is_activity[i]:
                # A place negative: a place the person had not been to before that moment.
                assert samples.targets.place_ids[i] not in histories.items.place_ids[start:end]

    # Nothing from the validation period is numbered: the late place is UNKNOWN to the model.
    late = small_city["late"].pk
    assert late not in data.vocabulary.place_ids and data.vocabulary.item_id(late) == UNKNOWN
    before = log.times < data.t_split
    assert set(data.vocabulary.place_ids) <= set(log.items.place_ids[before].tolist())
    # Negatives are drawn from the training period's catalogue only.
    negatives = np.concatenate(
        [s.targets.place_ids[(s.labels == 0) & ~s.is_activity] for s in (data.train, data.val)]
    )
    assert set(negatives.tolist()) <= set(log.items.place_ids[before].tolist())


@pytest.mark.django_db
def test_activity_samples_use_joins_declines_and_what_else_was_open(small_city):
    data = ranker_data_build(
        log=event_log_load(), options=RankerTrainingOptions(split_quantile=0.75, min_place_count=1)
    )
    val = data.val
    ada, bo = small_city["ada"].pk, small_city["bo"].pk
    run_venue, games_venue = small_city["run"].place_id, small_city["games"].place_id
    joined = (val.user_ids == ada) & val.is_activity & (val.labels == 1)
    assert joined.sum() == 1 and val.targets.place_ids[joined][0] == run_venue
    # The other activity open when Ada joined is her activity negative, at the same moment.
    other = (val.user_ids == ada) & val.is_activity & (val.labels == 0)
    assert val.targets.place_ids[other].tolist() == [games_venue]
    assert val.times[other][0] == val.times[joined][0]
    declined = (val.user_ids == bo) & val.is_activity
    assert val.labels[declined].tolist() == [0] and val.targets.place_ids[declined].tolist() == [games_venue]
    # The organiser's own participation is history, never a target.
    assert small_city["run"].organiser_id not in np.concatenate([data.train.user_ids, val.user_ids]).tolist()


@pytest.mark.django_db
def test_recall_data_targets_new_places_after_the_split_and_filters_the_seen_ones(small_city):
    data = recall_data_build(
        log=event_log_load(), options=RecallTrainingOptions(split_quantile=0.75, min_place_count=1)
    )
    item_ids = {place: data.vocabulary.item_id(place) for place in data.vocabulary.place_ids}
    assert data.samples.items.min() >= FIRST_ID  # UNKNOWN is never a positive
    assert len(data.val_targets) == 2
    for targets, seen in zip(data.val_targets, data.val_seen, strict=True):
        assert np.intersect1d(targets, seen).size == 0
    # Ada's only new place after the split is the late one, which has no id: nothing to find; her seen
    # places are the parks she visited before it.
    parks = sorted(item_ids[p.pk] - FIRST_ID for p in small_city["parks"] if p.pk in item_ids)
    assert sorted(data.val_seen[0].tolist()) == parks or sorted(data.val_seen[1].tolist()) == parks
    assert data.item_counts[0] == 0 and data.item_counts[UNKNOWN] == 0


# Padding -----------------------------------------------------------------------------------------------


def test_padded_keeps_the_latest_events_oldest_first_and_pads_after_them():
    rows = [np.array([[1], [2], [3]]), np.empty((0, 1), dtype=np.int64), np.array([[9]])]
    out = padded(rows, width=2, features=1)[..., 0]
    assert out.tolist() == [[2, 3], [0, 0], [9, 0]]


def test_a_persons_probability_does_not_depend_on_who_else_is_in_the_batch():
    """Padding up to a longer neighbour's history (and the shared batch) cannot move a score."""
    vocabulary = tiny_vocabulary(place_ids=[101, 102, 103])
    loaded = LoadedRanker(0, "ranker", "t", tiny_ranker(vocabulary, seed=5), vocabulary)

    def items(places: list[int]) -> RawItems:
        n = len(places)
        return RawItems(
            place_ids=np.array(places, dtype=np.int64),
            categories=np.full(n, category_id("outdoors")),
            interests=np.full(n, interest_id("outdoors")),
            areas=np.array(["dr5ru"] * n, dtype=object),
            slots=np.full(n, FIRST_ID),
        )

    short_person, long_person = items([101, 102]), items([103, 101, 102] * 5)
    candidate = items([102])
    alone = ranker_probabilities_for_people(loaded, histories=[short_person], candidate=candidate)
    together = ranker_probabilities_for_people(
        loaded, histories=[short_person, long_person], candidate=candidate
    )
    nobody = ranker_probabilities_for_people(loaded, histories=[items([])], candidate=candidate)
    assert torch.isclose(torch.tensor(alone[0]), torch.tensor(together[0]), atol=1e-6)
    assert 0.0 <= nobody[0] <= 1.0 and not np.isclose(nobody[0], alone[0])


@pytest.mark.django_db
def test_histories_window_is_strictly_before_each_moment(small_city):
    histories = Histories.from_log(event_log_load())
    ada = small_city["ada"].pk
    starts, ends = histories.window_end(
        user_ids=np.array([ada, ada, 999_999]),
        times=np.array([T0.timestamp(), (T0 + 1 * DAY).timestamp(), 0.0]),
    )
    assert (ends - starts).tolist() == [0, 1, 0]  # the visit at exactly T0 + 1 day is not before itself


@pytest.mark.django_db
def test_an_unknown_invitation_status_is_ignored(small_city):
    Invitation.objects.filter(status="declined").update(status="expired", responded_at=None)
    assert EventKind.DECLINE not in event_log_load().kinds.tolist()
