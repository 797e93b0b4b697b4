"""Ranking models for acceptance and click prediction: DIN on the recent history, ETA on the long one.

`din` holds DIN with its building blocks (Dice, the target-attention unit, mini-batch-aware L2), `eta`
the SimHash / Hamming top-k retrieval and the ETA model with its comparison variants, `train` the training
loop of both (BCE + λ·MBA) with ragged long histories.
"""

from ml.ranking.din import (
    DIN,
    Dice,
    DINConfig,
    ItemEmbedding,
    SparseFeature,
    TargetAttention,
    feature_frequencies,
    mba_l2,
)
from ml.ranking.eta import ETA, ETAConfig, hamming_distance, pack_bits, popcount64, retrieve_top_k
from ml.ranking.train import (
    RaggedHistory,
    RankingSamples,
    RankTrainConfig,
    predict_ranker,
    ranking_frequencies,
    train_ranker,
)

__all__ = [
    "DIN",
    "DINConfig",
    "Dice",
    "ETA",
    "ETAConfig",
    "ItemEmbedding",
    "RaggedHistory",
    "RankTrainConfig",
    "RankingSamples",
    "SparseFeature",
    "TargetAttention",
    "feature_frequencies",
    "hamming_distance",
    "mba_l2",
    "pack_bits",
    "popcount64",
    "predict_ranker",
    "ranking_frequencies",
    "retrieve_top_k",
    "train_ranker",
]
