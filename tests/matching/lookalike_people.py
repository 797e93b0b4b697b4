"""People the look-alike model knows: feature rows chosen by the test, a tiny active RALM, embeddings."""

from __future__ import annotations

import numpy as np
import torch
from django.utils import timezone

from matching import services, serving
from matching.features import SCHEMA, FeatureBatch
from matching.models import ModelVersion
from tests.matching.ralm_builders import tiny_ralm_register


def model_dir_setup(settings, tmp_path, monkeypatch):
    """Models under a fresh directory, for this process and for workers started by the test."""
    torch.set_num_threads(1)
    directory = tmp_path / "models"
    settings.VICINO_MODEL_DIR = directory
    monkeypatch.setenv("VICINO_MODEL_DIR", str(directory))
    serving.loaded_models_clear()
    return directory


def feature_rows(*, count: int, seed: int, like: np.ndarray | None = None, noise: float = 0.0) -> np.ndarray:
    """(count, total dim) float32 feature rows in [0, 1]: random, or `like` plus a little noise."""
    rng = np.random.default_rng(seed)
    if like is None:
        return rng.random((count, SCHEMA.total_dim), dtype=np.float32)
    rows = np.repeat(like[None, :], count, axis=0) + noise * rng.standard_normal((count, SCHEMA.total_dim))
    return np.clip(rows, 0.0, 1.0).astype(np.float32)


def features_store(*, user_ids: list[int], rows: np.ndarray) -> None:
    """Store the rows as the people's feature groups (split in schema order)."""
    groups, offset = {}, 0
    for name, dim in SCHEMA.dims.items():
        groups[name] = np.ascontiguousarray(rows[:, offset : offset + dim])
        offset += dim
    services.feature_vectors_store(
        batch=FeatureBatch(
            user_ids=np.asarray(user_ids, dtype=np.int64),
            groups=groups,
            as_of=timezone.now(),
            schema_version=SCHEMA.version,
        )
    )


def active_ralm(*, version: str = "v1", seed: int = 0) -> ModelVersion:
    """A tiny RALM, registered and active, with everyone who has stored features encoded under it."""
    model_version = tiny_ralm_register(version=version, seed=seed)
    services.model_version_activate(name="ralm", version=version)
    services.user_embeddings_encode_all(model_version_id=model_version.pk)
    return model_version
