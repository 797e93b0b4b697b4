"""Tiny RALM artefacts for the serving tests: real models and files, a few hundred weights each."""

from __future__ import annotations

import torch

from matching import services
from matching.features import SCHEMA
from matching.models import ModelVersion
from matching.serving import ralm_artefact_save
from ml.ralm import (
    LookalikeConfig,
    LookalikeModel,
    UserRepresentationModel,
    UserTowerConfig,
    fields_from_schema,
)

EMBEDDING_DIM = 8


def tiny_ralm(*, seed: int) -> tuple[UserRepresentationModel, LookalikeModel]:
    """Both stages, untrained, initialised from `seed` (two seeds give two different models), eval mode."""
    tower = UserRepresentationModel(
        UserTowerConfig(
            fields=fields_from_schema(SCHEMA),
            n_places=5,
            field_dim=8,
            attention_dim=4,
            hidden_dims=(8,),
            embedding_dim=EMBEDDING_DIM,
            seed=seed,
        )
    )
    lookalike = LookalikeModel(
        LookalikeConfig(input_dim=EMBEDDING_DIM, hidden_dim=8, attention_dim=4, k=3, seed=seed)
    )
    return tower.eval(), lookalike.eval()


def tiny_ralm_register(*, version: str, seed: int = 0, name: str = "ralm") -> ModelVersion:
    """Save a tiny model under VICINO_MODEL_DIR/<name>/<version> and register it as a candidate."""
    tower, lookalike = tiny_ralm(seed=seed)
    artefact_path = f"{name}/{version}"
    ralm_artefact_save(artefact_path=artefact_path, user_tower=tower, lookalike=lookalike)
    return services.model_version_register(
        name=name,
        version=version,
        artefact_path=artefact_path,
        metrics={"val_auc": 0.5},
        feature_schema_version=SCHEMA.version,
    )


def embed(model_version: ModelVersion, matrix) -> torch.Tensor:
    from matching.serving import ralm_loaded, user_embeddings_encode

    return torch.from_numpy(
        user_embeddings_encode(user_tower=ralm_loaded(model_version=model_version).user_tower, matrix=matrix)
    )
