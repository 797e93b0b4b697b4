"""Two-tower recall of the DSSM family (DSSM, YoutubeDNN, YoutubeSBC, FacebookDSSM).

`models` holds the towers and the temperature-scaled score, `losses` the point-, pair- and list-wise
losses with logQ correction, `frequency` the streaming frequency estimator of the in-batch softmax,
`sampling` the per-epoch negatives, `train` the training loop and `evaluate` the exact full-corpus
evaluation and the FAISS export of the item vectors.
"""

from ml.recall.evaluate import (
    encode_items,
    encode_users,
    full_ranking_metrics,
    item_index,
    model_item_index,
)
from ml.recall.frequency import StreamingFrequencyEstimator
from ml.recall.losses import (
    in_batch_logits,
    in_batch_softmax,
    pairwise_bpr,
    pairwise_hinge,
    pointwise_bce,
    sampled_softmax,
)
from ml.recall.models import ARCHITECTURES, TwoTowerConfig, TwoTowerModel
from ml.recall.sampling import NegativeSampler
from ml.recall.train import RecallSamples, RecallTrainConfig, default_recipe, train_two_tower

__all__ = [
    "ARCHITECTURES",
    "NegativeSampler",
    "RecallSamples",
    "RecallTrainConfig",
    "StreamingFrequencyEstimator",
    "TwoTowerConfig",
    "TwoTowerModel",
    "default_recipe",
    "encode_items",
    "encode_users",
    "full_ranking_metrics",
    "in_batch_logits",
    "in_batch_softmax",
    "item_index",
    "model_item_index",
    "pairwise_bpr",
    "pairwise_hinge",
    "pointwise_bce",
    "sampled_softmax",
    "train_two_tower",
]
