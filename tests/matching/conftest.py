"""Fixtures shared by the matching tests."""

from __future__ import annotations

import pytest
import torch

from matching import serving


@pytest.fixture
def model_dir(settings, tmp_path):
    """Model files go under a fresh directory, and no model is loaded in this process before or after the
    test. One torch thread: the models are tiny and the suite runs in parallel."""
    torch.set_num_threads(1)
    settings.VICINO_MODEL_DIR = tmp_path / "models"
    serving.loaded_models_clear()
    yield settings.VICINO_MODEL_DIR
    serving.loaded_models_clear()


@pytest.fixture
def nearby_models(model_dir):
    """model_dir, and nearby's per-process cache of registry rows emptied (model ids restart per test)."""
    from matching.nearby import selectors

    selectors._model_rows.clear()
    return model_dir
