"""Scoring with loaded models: the ranker's probabilities and the recall model's similarities.

Pure tensor work on ids already mapped through the model's `ContentVocabulary`; the selectors read the
database and call these.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch

from matching.ranking.artefacts import LoadedRanker, LoadedRecall
from matching.ranking.content import (
    FIRST_ID,
    ITEM_FEATURES,
    RECALL_ITEM_FEATURES,
    UNKNOWN,
    RawItems,
    padded,
)

#: People (or candidates) per forward pass: bounds the memory of a (B, L, F) long-history batch.
SCORING_BATCH = 64


@torch.no_grad()
def ranker_probabilities_for_person(
    loaded: LoadedRanker, *, history: RawItems, candidates: RawItems
) -> np.ndarray:
    """(n,) P(join / accept) of one person for each candidate item, from their history (oldest first).

    The long history is embedded and hashed once and shared by every candidate (ETA's serving form)."""
    n = len(candidates)
    if n == 0:
        return np.empty(0, dtype=np.float64)
    ids = loaded.vocabulary.encode(history, ITEM_FEATURES)
    features = len(ITEM_FEATURES)
    long = torch.from_numpy(padded([ids], width=loaded.long_length, features=features))
    short = torch.from_numpy(padded([ids], width=loaded.short_length, features=features))
    targets = torch.from_numpy(loaded.vocabulary.encode(candidates, ITEM_FEATURES))
    scores = []
    for rows in torch.arange(n).split(SCORING_BATCH):
        logits = loaded.model(targets[rows], short.expand(rows.shape[0], -1, -1), long)
        scores.append(torch.sigmoid(logits).to(torch.float64))
    return torch.cat(scores).numpy()


@torch.no_grad()
def ranker_probabilities_for_people(
    loaded: LoadedRanker, *, histories: Sequence[RawItems], candidate: RawItems
) -> np.ndarray:
    """(len(histories),) P(accept) of each person for one candidate item (a one-row RawItems)."""
    if len(histories) == 0:
        return np.empty(0, dtype=np.float64)
    features = len(ITEM_FEATURES)
    target = torch.from_numpy(loaded.vocabulary.encode(candidate, ITEM_FEATURES))
    encoded = [loaded.vocabulary.encode(history, ITEM_FEATURES) for history in histories]
    # People of similar history length share a batch: each batch is padded to its longest history, and
    # one person with a thousand check-ins would otherwise make everyone in theirs pay for it.
    order = np.argsort([ids.shape[0] for ids in encoded], kind="stable")
    scores = np.empty(len(encoded), dtype=np.float64)
    for start in range(0, len(encoded), SCORING_BATCH):
        rows = order[start : start + SCORING_BATCH]
        chunk = [encoded[row] for row in rows]
        longest = max((ids.shape[0] for ids in chunk), default=0)
        long = torch.from_numpy(padded(chunk, width=min(loaded.long_length, longest), features=features))
        short = torch.from_numpy(padded(chunk, width=loaded.short_length, features=features))
        logits = loaded.model(target.expand(len(chunk), -1), short, long)
        scores[rows] = torch.sigmoid(logits).to(torch.float64).numpy()
    return scores


def home_area_id(loaded: LoadedRecall, history: RawItems) -> int:
    """The area id the history holds most (UNKNOWN when none is known): the recall user feature."""
    areas = loaded.vocabulary.encode(history, ("area",))[:, 0]
    areas = areas[areas >= FIRST_ID]
    if areas.shape[0] == 0:
        return UNKNOWN
    values, counts = np.unique(areas, return_counts=True)
    return int(values[np.argmax(counts)])


@torch.no_grad()
def recall_similarities(loaded: LoadedRecall, *, history: RawItems, candidates: RawItems) -> np.ndarray:
    """(n,) the two-tower similarity (cosine or dot, before the temperature) of one person to each
    candidate; items are encoded by the item tower from their content, so activities at venues the model
    never saw still get a vector."""
    if len(candidates) == 0:
        return np.empty(0, dtype=np.float64)
    model = loaded.model
    model.eval()
    item_ids = loaded.vocabulary.encode(history, ("item",))
    recent = padded([item_ids], width=loaded.history_length, features=1)[..., 0]
    user = model.user_vectors(
        torch.tensor([[home_area_id(loaded, history)]], dtype=torch.int64), torch.from_numpy(recent)
    )
    items = model.item_vectors(torch.from_numpy(loaded.vocabulary.encode(candidates, RECALL_ITEM_FEATURES)))
    return (items @ user[0]).to(torch.float64).numpy()
