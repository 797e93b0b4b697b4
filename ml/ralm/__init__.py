"""RALM (Liu et al., KDD 2019, arXiv 1906.05022): real-time attention-based look-alike model.

Stage 1 (`user_tower`): a person's fields → universal user embedding, trained on next-place prediction.
Stage 2 (`lookalike`): a target's similarity to a set of seed people through global and local attention,
with the seeds summarised by k-means (`kmeans`). `train` holds both training loops, `io` the safetensors
files with their JSON sidecar.
"""

from ml.ralm.config import FieldSpec, LookalikeConfig, TrainConfig, UserTowerConfig, fields_from_schema
from ml.ralm.io import ModelFileError, load_model, save_model
from ml.ralm.kmeans import KMeansResult, kmeans
from ml.ralm.lookalike import LookalikeModel, LookalikeOutput, SeedSummary
from ml.ralm.train import LookalikeTasks, train_lookalike, train_user_tower
from ml.ralm.user_tower import UserRepresentationModel, UserTower, UserTowerOutput

__all__ = [
    "FieldSpec",
    "KMeansResult",
    "LookalikeConfig",
    "LookalikeModel",
    "LookalikeOutput",
    "LookalikeTasks",
    "ModelFileError",
    "SeedSummary",
    "TrainConfig",
    "UserRepresentationModel",
    "UserTower",
    "UserTowerConfig",
    "UserTowerOutput",
    "fields_from_schema",
    "kmeans",
    "load_model",
    "save_model",
    "train_lookalike",
    "train_user_tower",
]
