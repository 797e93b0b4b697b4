"""The samples the ranking/recall benchmarks build: the ML-100K protocol and the next-place task
(read from a Foursquare NYC CSV or a Liu et al. LBSN folder).

They decide what every compared model sees, so they are tested on hand-made files: histories hold only
strictly earlier events, padding goes last, vocabularies come from training, the split is by time.
"""

from __future__ import annotations

import dataclasses
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from ml.datasets import checkin_log_read
from ml.datasets.checkins import LAYOUT_LBSN, LAYOUT_NYC
from tests.ml.checkin_builders import tiny_city, write_lbsn, write_nyc_csv

BENCHMARKS = Path(__file__).resolve().parents[2] / "benchmarks"
sys.path.insert(0, str(BENCHMARKS))

import eta as eta_benchmark  # noqa: E402
import ml100k_protocol as protocol  # noqa: E402


def write_movielens(directory: Path, ratings: list[tuple[int, int, int, int]], n_items: int = 6) -> Path:
    (directory / "u.data").write_text("".join(f"{u}\t{i}\t{r}\t{t}\n" for u, i, r, t in ratings))
    (directory / "u.user").write_text("1|24|M|technician|1\n2|17|F|student|2\n3|60|M|other|3\n")
    lines = []
    for item in range(1, n_items + 1):
        flags = ["0"] * 19
        if item != n_items:  # the last movie has no genre flag: genre 0 ("unknown")
            flags[item % 19] = "1"
        lines.append("|".join([str(item), f"Movie {item}", "01-Jan-1995", "", "url", *flags]))
    (directory / "u.item").write_text("\n".join(lines) + "\n", encoding="iso-8859-1")
    return directory


def test_strictly_earlier_histories_leave_out_same_second_ratings(tmp_path):
    ratings = [(1, 3, 5, 100), (1, 1, 4, 100), (1, 2, 2, 200), (1, 4, 5, 200), (1, 5, 1, 300)]
    loaded = protocol.load_ratings(write_movielens(tmp_path, ratings))
    assert loaded.item.tolist() == [1, 3, 2, 4, 5]  # (timestamp, item id) order
    starts, ends = protocol.strictly_earlier_histories(loaded)
    histories = [loaded.item[s:e].tolist() for s, e in zip(starts, ends, strict=True)]
    assert histories == [[], [], [1, 3], [1, 3], [1, 3, 2, 4]]
    assert loaded.item_genre[6] == 0 and loaded.item_genre[2] == 2


def test_ranking_split_padding_vocabulary_and_dropped_samples(tmp_path):
    # user 1: 13 ratings one second apart of items cycling 1..5; user 2: items 1, 6 (6 only in test).
    ratings = [(1, 1 + k % 5, 4 if k % 2 else 2, 1000 + k) for k in range(13)]
    ratings += [(2, 1, 5, 50), (2, 6, 5, 60)]
    data = protocol.ranking_data(write_movielens(tmp_path, ratings))
    # user 1: 12 samples with a history (the first has none): 2 train, 10 test; user 2: 1 test sample.
    assert len(data.train.label) == 2 and len(data.test.label) == 11
    first = data.train
    assert first.length.tolist() == [1, 2]
    assert first.history[1, :3, 0].tolist() == [first.history[1, 0, 0], first.history[1, 1, 0], 0]
    assert (first.history[:, 2:] == 0).all()  # post-padded
    assert first.label.tolist() == [1, 0]  # ratings 4 and 2
    oov = data.vocab_sizes["item_id"] - 1
    user2 = data.test.raw_user == 2
    assert data.test.target[user2, 0].tolist() == [oov]  # movie 6 never appears in training
    assert data.test.history[user2, 0, 0].tolist() == [1]  # movie 1, seen in user 1's training


def test_retrieval_is_leave_last_out_with_seen_items(tmp_path):
    ratings = [(1, 1, 3, 10), (1, 2, 3, 20), (1, 3, 3, 30), (2, 2, 3, 5), (2, 4, 3, 5), (2, 5, 3, 9)]
    data = protocol.retrieval_data(write_movielens(tmp_path, ratings))
    assert len(data.train_item) == 4  # each person's last rating is their test target
    assert [t.tolist() for t in data.target] == [[2], [4]]  # corpus rows = movie id − 1
    assert [sorted(s.tolist()) for s in data.seen] == [[0, 1], [1, 3]]
    # person 2's test history: movies 2 and 4 (both at t=5, strictly before t=9)
    assert sorted(data.test_history[1][data.test_history[1] > 0].tolist()) == sorted(
        data.train_item[[2, 3]].tolist()
    )
    assert data.train_history[3].tolist()[:2] == [0, 0]  # same second as the other one: empty history
    assert data.corpus.shape == (6, 2)


def test_retrieval_validation_split_never_reads_a_test_rating(tmp_path):
    ratings = [(1, 1, 3, 10), (1, 2, 3, 20), (1, 3, 3, 30), (2, 2, 3, 5), (2, 4, 3, 5), (2, 5, 3, 9)]
    data = protocol.retrieval_data(write_movielens(tmp_path, ratings), validation=True)
    # the test ratings (movies 3 and 5) are gone; each person's last remaining rating is the target
    assert [t.tolist() for t in data.target] == [[1], [3]]
    assert [sorted(s.tolist()) for s in data.seen] == [[0], [1]]
    assert len(data.train_item) == 2
    # movies 3 and 5 occur nowhere in training: they are out of vocabulary for the validation split
    oov = data.vocab_sizes["item_id"] - 1
    assert data.corpus[[2, 4], 0].tolist() == [oov, oov]
    assert data.item_counts[oov] == 0


def test_checkin_task_splits_by_time_and_reads_only_earlier_check_ins(tmp_path):
    rows = ["user_id,poi_idx,utc_time,latitude,longitude,venue_id,category_id,category_name"]
    times = ["2012-04-03T18:00:00Z", "2012-04-03T19:00:00Z", "2012-04-03T19:00:00Z", "2012-04-04T10:00:00Z"]
    for user in (1, 2):
        for k, stamp in enumerate(times):
            rows.append(f"{user},{10 * user + k},{stamp},40.7,-74.0,v,{'c' if k % 2 else ''},name")
    rows.append("1,99,2012-05-01T10:00:00Z,40.7,-74.0,v,c,name")  # the latest check-in: test period
    path = tmp_path / "nyc.csv"
    path.write_text("\n".join(rows) + "\n")
    checkins = eta_benchmark.checkins_from_log(checkin_log_read(path))
    task = eta_benchmark.checkin_task(checkins, train_from=0.0, test_quantile=0.95)
    lengths = (task.ends - task.starts).tolist()
    # per person: 0 earlier, 1, 1 (same minute as the third), 3; person 1 then 4 before the test one
    assert lengths[:5] == [0, 1, 1, 3, 4] and lengths[5:] == [0, 1, 1, 3]
    assert task.test_rows.tolist() == [4]
    assert set(task.train_rows.tolist()) == {1, 2, 3, 6, 7, 8}
    oov = task.sizes["place"] - 1
    assert int(task.events[4, 0]) == oov  # poi 99 only appears in the test period
    samples = eta_benchmark.checkin_samples(task, task.test_rows, 2, torch.Generator().manual_seed(0))
    assert samples.labels.tolist() == [1, 0, 0]
    assert torch.all(samples.target[1:, 0] != oov)  # negatives come from the training period's places
    history = samples.long_history.batch(torch.arange(3))
    assert history.shape[1] == 4 and torch.equal(history[0], history[1])


def test_the_eta_task_reads_the_nyc_csv_and_the_liu_layout_alike(tmp_path):
    city = tiny_city()
    # whole minutes, so the LBSN file's decimal seconds and the CSV's whole seconds fall in the same minute
    city = dataclasses.replace(city, rows=[(u, p, round(t / 60) * 60.0) for u, p, t in city.rows])
    nyc_log = checkin_log_read(write_nyc_csv(city, tmp_path / "nyc" / "derived" / "checkins.csv"))
    liu_log = checkin_log_read(write_lbsn(city, tmp_path / "Tiny_1"))
    assert (nyc_log.layout, liu_log.layout) == (LAYOUT_NYC, LAYOUT_LBSN)
    nyc, liu = eta_benchmark.checkins_from_log(nyc_log), eta_benchmark.checkins_from_log(liu_log)
    for field in ("person", "place", "minute"):
        assert np.array_equal(getattr(nyc, field), getattr(liu, field))
    # sorted by (person, minute, place)
    keys = np.stack([nyc.person, nyc.minute, nyc.place], 1)
    assert all(tuple(a) <= tuple(b) for a, b in zip(keys[:-1], keys[1:], strict=True))
    # a place's category: "Category k" in the CSV; k and k + 10 in the Liu file, where the first (k) wins
    for checkins, log, unknown_is in ((nyc, nyc_log, -1), (liu, liu_log, -1)):
        for place, category in zip(checkins.place.tolist(), checkins.category.tolist(), strict=True):
            original = int(log.place_keys[place])
            if original % 7 == 0:
                assert category == unknown_is
            else:
                assert log.category_keys[category].split()[-1] == str(original % 5)
    nyc_task = eta_benchmark.checkin_task(nyc, train_from=0.5, test_quantile=0.8)
    liu_task = eta_benchmark.checkin_task(liu, train_from=0.5, test_quantile=0.8)
    for field in ("events", "starts", "ends", "train_rows", "test_rows"):
        assert torch.equal(getattr(nyc_task, field), getattr(liu_task, field)), field
    assert nyc_task.train_rows.numel() > 0 and nyc_task.test_rows.numel() > 0


@pytest.mark.parametrize("length", [18, 40])
def test_synthetic_histories_keep_every_interest_event_when_resized(length):
    histories, targets, labels = eta_benchmark.synthetic_people(4, 20, seed=0)
    resized = eta_benchmark.resize_histories(histories, length, seed=1)
    assert resized.shape == (4, length, 2)
    interest = eta_benchmark.INTEREST_CATEGORIES
    for person in range(4):
        before = np.sort(histories[person, :, 1][histories[person, :, 1] <= interest])
        after = np.sort(resized[person, :, 1][resized[person, :, 1] <= interest])
        assert np.array_equal(before, after)
    assert labels.tolist() == [1] * 4 + [0] * 4
    clicked, other = targets[:4, 1], targets[4:, 1]
    for person in range(4):
        interests = set(histories[person, :, 1][histories[person, :, 1] <= interest].tolist())
        assert clicked[person] in interests and other[person] not in interests
