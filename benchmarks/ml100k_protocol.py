"""The MovieLens-100K protocol (../shared/benchmarks/ml100k-protocol.md), built once and fed to every model.

Pure numpy. `ranking_data` gives the DIN samples, `retrieval_data` the two-tower samples; both follow the
protocol to the letter:

- each person's ratings are sorted stably by (timestamp, item id); a sample's history holds only ratings
  with a STRICTLY earlier timestamp (50,561 ratings share their second with an earlier one), the latest 50,
  most recent last, POST-padded with 0 (DeepCTR-Torch's length mask assumes real items first);
- user features: user_id, gender, age bucketed as in ML-1M (<18, 18-24, 25-34, 35-44, 45-49, 50-55, 56+),
  occupation; item features: item_id and genre (the first set flag of u.item, 0 = "unknown");
- every id is re-indexed from 1 over the TRAINING split only (index 0 = padding); a value met only outside
  training maps to one out-of-vocabulary id, the last of its vocabulary, never trained;
- ranking: label = rating ≥ 4, samples with an empty history dropped, each person's last 10 samples are
  the test split;
- retrieval: leave-last-out, every rating a positive; the test person's history is the 50 latest ratings
  strictly before their last one; the corpus is all 1,682 movies; negatives come from the training items,
  outside the person's training positives, redrawn per epoch (`retrieval_negatives`).

Used by benchmarks/peers_ml100k.py, for our models and the peers alike.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np

HISTORY_LENGTH = 50
TEST_PER_USER = 10
AGE_EDGES = (18, 25, 35, 45, 50, 56)  # ML-1M buckets: <18, 18-24, 25-34, 35-44, 45-49, 50-55, 56+
USER_FIELDS = ("user_id", "gender", "age", "occupation")
ITEM_FIELDS = ("item_id", "genre")


@dataclass(frozen=True)
class Ratings:
    """Every rating, sorted by (user, timestamp, item id); raw ids. items_genre[raw item] = raw genre."""

    user: np.ndarray
    item: np.ndarray
    rating: np.ndarray
    timestamp: np.ndarray
    user_fields: dict[str, np.ndarray]  # field → (max raw user id + 1,) raw values (gender, age, occupation)
    item_genre: np.ndarray  # (max raw item id + 1,)
    n_items: int


def load_ratings(directory: Path) -> Ratings:
    data = np.loadtxt(directory / "u.data", dtype=np.int64)
    user, item, rating, timestamp = data.T
    # Stable: equal (user, timestamp) keep ascending item id, as the protocol's sort key says.
    order = np.lexsort((item, timestamp, user))
    users_table = [line.split("|") for line in (directory / "u.user").read_text().splitlines() if line]
    size = max(int(row[0]) for row in users_table) + 1
    genders = np.zeros(size, dtype=object)
    ages = np.zeros(size, dtype=np.int64)
    occupations = np.zeros(size, dtype=object)
    for row in users_table:
        raw_id = int(row[0])
        ages[raw_id] = int(np.searchsorted(AGE_EDGES, int(row[1]), side="right"))
        genders[raw_id] = row[2]
        occupations[raw_id] = row[3]
    item_lines = (directory / "u.item").read_text(encoding="iso-8859-1").splitlines()
    n_items = len([line for line in item_lines if line])
    genre = np.zeros(n_items + 1, dtype=np.int64)
    for line in item_lines:
        if not line:
            continue
        parts = line.split("|")
        flags = np.array(parts[5:24], dtype=np.int64)
        genre[int(parts[0])] = int(np.argmax(flags)) if flags.any() else 0
    return Ratings(
        user=user[order],
        item=item[order],
        rating=rating[order],
        timestamp=timestamp[order],
        user_fields={"gender": genders, "age": ages, "occupation": occupations},
        item_genre=genre,
        n_items=n_items,
    )


class Vocabulary:
    """Raw values seen in training → 1 … n (sorted); anything else → n + 1 (out of vocabulary)."""

    def __init__(self, training_values: np.ndarray) -> None:
        self.values = np.unique(np.asarray(training_values))
        self.oov = len(self.values) + 1

    @property
    def size(self) -> int:
        """Counts padding 0 and the out-of-vocabulary id."""
        return len(self.values) + 2

    def encode(self, raw: np.ndarray) -> np.ndarray:
        raw = np.asarray(raw)
        where = np.searchsorted(self.values, raw).clip(0, max(len(self.values) - 1, 0))
        found = self.values[where] == raw
        return np.where(found, where + 1, self.oov).astype(np.int64)


def strictly_earlier_histories(ratings: Ratings) -> tuple[np.ndarray, np.ndarray]:
    """For every rating (in the sorted order): (start, end) of its history in the flat order — the user's
    ratings with a strictly earlier timestamp, at most the latest HISTORY_LENGTH."""
    n = ratings.user.shape[0]
    starts = np.empty(n, dtype=np.int64)
    ends = np.empty(n, dtype=np.int64)
    user_start = block_start = 0
    for position in range(n):
        if position > 0 and ratings.user[position] != ratings.user[position - 1]:
            user_start = position
        # the first rating of this user's timestamp block: everything before it is strictly earlier
        if position == user_start or ratings.timestamp[position] != ratings.timestamp[position - 1]:
            block_start = position
        ends[position] = block_start
        starts[position] = max(user_start, block_start - HISTORY_LENGTH)
    return starts, ends


def padded_windows(values: np.ndarray, starts: np.ndarray, ends: np.ndarray) -> np.ndarray:
    """(N, HISTORY_LENGTH) windows values[start:end], oldest first, post-padded with 0."""
    offsets = np.arange(HISTORY_LENGTH)
    lengths = ends - starts
    index = np.minimum(starts[:, None] + offsets, len(values) - 1)
    return np.where(offsets < lengths[:, None], values[index], 0)


@dataclass(frozen=True)
class RankingSplit:
    user: np.ndarray  # (N, 4) user_id, gender, age, occupation
    target: np.ndarray  # (N, 2) item_id, genre
    history: np.ndarray  # (N, 50, 2) post-padded
    length: np.ndarray  # (N,) real history length
    label: np.ndarray  # (N,) 0/1
    raw_user: np.ndarray  # (N,) for GAUC


@dataclass(frozen=True)
class RankingData:
    train: RankingSplit
    test: RankingSplit
    vocab_sizes: dict[str, int]


def _user_columns(ratings: Ratings, raw_users: np.ndarray, vocabularies: dict[str, Vocabulary]) -> np.ndarray:
    columns = [vocabularies["user_id"].encode(raw_users)]
    for field in USER_FIELDS[1:]:
        columns.append(vocabularies[field].encode(ratings.user_fields[field][raw_users]))
    return np.stack(columns, axis=1)


def _user_vocabularies(ratings: Ratings, training_users: np.ndarray) -> dict[str, Vocabulary]:
    vocabularies = {"user_id": Vocabulary(training_users)}
    for field in USER_FIELDS[1:]:
        vocabularies[field] = Vocabulary(ratings.user_fields[field][np.unique(training_users)])
    return vocabularies


def ranking_data(directory: Path) -> RankingData:
    ratings = load_ratings(directory)
    starts, ends = strictly_earlier_histories(ratings)
    keep = ends > starts  # an empty history drops the sample
    positions = np.flatnonzero(keep)
    users = ratings.user[positions]
    # the last TEST_PER_USER kept samples of each user are the test split
    rank_from_end = np.zeros(positions.shape[0], dtype=np.int64)
    boundaries = np.flatnonzero(np.r_[users[1:] != users[:-1], True])
    first = 0
    for last in boundaries:
        rank_from_end[first : last + 1] = np.arange(last - first, -1, -1)
        first = last + 1
    is_test = rank_from_end < TEST_PER_USER
    train_positions, test_positions = positions[~is_test], positions[is_test]
    # training vocabularies: the items a training sample reads (its target and its history)
    train_history_items = np.concatenate(
        [ratings.item[starts[p] : ends[p]] for p in train_positions] + [ratings.item[train_positions]]
    )
    item_vocabulary = Vocabulary(train_history_items)
    genre_vocabulary = Vocabulary(ratings.item_genre[train_history_items])
    vocabularies = _user_vocabularies(ratings, ratings.user[train_positions])
    encoded_item = item_vocabulary.encode(ratings.item)
    encoded_genre = genre_vocabulary.encode(ratings.item_genre[ratings.item])

    def split(selected: np.ndarray) -> RankingSplit:
        s, e = starts[selected], ends[selected]
        history = np.stack([padded_windows(encoded_item, s, e), padded_windows(encoded_genre, s, e)], axis=-1)
        return RankingSplit(
            user=_user_columns(ratings, ratings.user[selected], vocabularies),
            target=np.stack([encoded_item[selected], encoded_genre[selected]], axis=1),
            history=history,
            length=e - s,
            label=(ratings.rating[selected] >= 4).astype(np.int64),
            raw_user=ratings.user[selected],
        )

    sizes = {name: vocabulary.size for name, vocabulary in vocabularies.items()}
    sizes.update(item_id=item_vocabulary.size, genre=genre_vocabulary.size)
    return RankingData(train=split(train_positions), test=split(test_positions), vocab_sizes=sizes)


@dataclass(frozen=True)
class RetrievalData:
    """Training positives and one test target per person, plus the whole corpus.

    train_*: (N, …) one row per training positive; person: (N,) encoded user id (the key of the negatives
    filter); test_*: one row per person; corpus: (n_items, 2) item_id, genre of raw movies 1 … 1682 (row r =
    raw movie r + 1); seen[u] / target[u]: corpus rows of test person u's training items and test item.
    """

    train_user: np.ndarray
    train_history: np.ndarray  # (N, 50) item ids, post-padded
    train_item: np.ndarray  # (N,) encoded item id
    person: np.ndarray
    test_user: np.ndarray
    test_history: np.ndarray
    corpus: np.ndarray
    seen: list[np.ndarray]
    target: list[np.ndarray]
    item_counts: np.ndarray  # (item vocab size,) training positives per encoded item id
    vocab_sizes: dict[str, int]


def without_last_rating(ratings: Ratings) -> Ratings:
    """Every person's ratings but their last (in the protocol's order): the retrieval test targets gone, the
    last training positive of each person becomes the target of a validation split."""
    keep = np.r_[ratings.user[1:] == ratings.user[:-1], False]
    return replace(
        ratings,
        user=ratings.user[keep],
        item=ratings.item[keep],
        rating=ratings.rating[keep],
        timestamp=ratings.timestamp[keep],
    )


def retrieval_data(directory: Path, *, validation: bool = False) -> RetrievalData:
    """The retrieval split; with `validation`, the same construction over the training ratings only (each
    person's test rating removed first), so choices made on it never read a test target."""
    ratings = load_ratings(directory)
    if validation:
        ratings = without_last_rating(ratings)
    starts, ends = strictly_earlier_histories(ratings)
    n = ratings.user.shape[0]
    is_last = np.r_[ratings.user[1:] != ratings.user[:-1], True]
    train_positions, test_positions = np.flatnonzero(~is_last), np.flatnonzero(is_last)
    item_vocabulary = Vocabulary(ratings.item[train_positions])
    genre_vocabulary = Vocabulary(ratings.item_genre[ratings.item[train_positions]])
    vocabularies = _user_vocabularies(ratings, ratings.user[train_positions])
    encoded_item = item_vocabulary.encode(ratings.item)
    history = padded_windows(encoded_item, starts, ends)
    raw_corpus = np.arange(1, ratings.n_items + 1)
    corpus = np.stack(
        [item_vocabulary.encode(raw_corpus), genre_vocabulary.encode(ratings.item_genre[raw_corpus])], axis=1
    )
    seen, target = [], []
    for position in test_positions:
        user = ratings.user[position]
        mine = train_positions[ratings.user[train_positions] == user]
        seen.append(ratings.item[mine] - 1)
        target.append(np.array([ratings.item[position] - 1]))
    train_user = _user_columns(ratings, ratings.user[train_positions], vocabularies)
    counts = np.bincount(encoded_item[train_positions], minlength=item_vocabulary.size)
    sizes = {name: vocabulary.size for name, vocabulary in vocabularies.items()}
    sizes.update(item_id=item_vocabulary.size, genre=genre_vocabulary.size)
    assert n == train_positions.size + test_positions.size
    return RetrievalData(
        train_user=train_user,
        train_history=history[train_positions],
        train_item=encoded_item[train_positions],
        person=train_user[:, 0],
        test_user=_user_columns(ratings, ratings.user[test_positions], vocabularies),
        test_history=history[test_positions],
        corpus=corpus,
        seen=seen,
        target=target,
        item_counts=counts,
        vocab_sizes=sizes,
    )


def item_genre_table(data: RetrievalData) -> np.ndarray:
    """(item vocab size, 2) features by encoded item id (row 0 = padding; OOV row = the OOV id with the
    unknown genre), for building negatives' features."""
    table = np.zeros((data.vocab_sizes["item_id"], 2), dtype=np.int64)
    table[:, 0] = np.arange(data.vocab_sizes["item_id"])
    table[data.corpus[:, 0], 1] = data.corpus[:, 1]
    table[0] = 0
    return table
