"""Serving RALM: model artefacts on disk, and the loaded model each process keeps, switched hot.

**Artefacts.** A ModelVersion's `artefact_path` is a directory under settings.VICINO_MODEL_DIR holding
the two stages as `ml.ralm.io` files: safetensors weights plus a JSON sidecar, never a pickle.

    <VICINO_MODEL_DIR>/<artefact_path>/user_tower.safetensors   user_tower.json    stage 1
    <VICINO_MODEL_DIR>/<artefact_path>/lookalike.safetensors    lookalike.json     stage 2

Loading refuses, with ModelArtefactError, a version registered for another feature-schema version, a
file trained on another schema version or signature (checked again by `ml.ralm.io.load_model` from the
file's own header), a path outside the model directory, and a lookalike stage whose input width is not
the user tower's embedding width.

**Hot activation.** `ralm_active(name=…)` answers from a per-process dict of loaded models keyed by
(name, version). Which version is active comes from the shared Django cache (Redis), key
`ralm:active:<name>`, holding {"id", "version"} of the active row:

- `model_version_activate` SETs the key on commit, so every web and worker process serves the new version
  on its next request, with no restart and no message to the processes;
- a reader that misses the key reads the database and ADDs it (add, not set: a reader holding the row it
  read just before an activation cannot overwrite the newer value the activation set);
- the key expires after ACTIVE_VERSION_TTL_SECONDS, which bounds how stale a process can be if a set is
  ever lost (Redis restarted between commit and set; or the embedded mode, whose local-memory cache is
  per process) to that long.

The hot path is one cache GET and a dict lookup. A version is loaded once per process, and only the
LOADED_MODELS_PER_PROCESS most recently served stay in memory.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from django.conf import settings
from django.core.cache import cache

from matching.features import SCHEMA
from matching.models import ModelVersion
from ml.ralm import LookalikeModel, ModelFileError, UserRepresentationModel, load_model, save_model

USER_TOWER_FILE = "user_tower.safetensors"
LOOKALIKE_FILE = "lookalike.safetensors"
#: How long a process may keep serving a version after a lost activation signal (see the module doc).
ACTIVE_VERSION_TTL_SECONDS = 30
LOADED_MODELS_PER_PROCESS = 2


class ModelArtefactError(ValueError):
    """A model that must not be served: missing, for another feature schema, or inconsistent."""


@dataclass(frozen=True)
class LoadedRalm:
    """Both RALM stages of one registered version, in eval mode."""

    model_version_id: int
    name: str
    version: str
    user_tower: UserRepresentationModel
    lookalike: LookalikeModel

    @property
    def embedding_dim(self) -> int:
        return self.user_tower.config.embedding_dim


def artefact_directory(*, artefact_path: str) -> Path:
    """The absolute directory of a registered artefact; a path that escapes VICINO_MODEL_DIR is refused."""
    root = Path(settings.VICINO_MODEL_DIR).resolve()
    relative = Path(artefact_path)
    if relative.is_absolute() or not artefact_path.strip():
        raise ModelArtefactError(f"artefact_path must be relative to VICINO_MODEL_DIR, got {artefact_path!r}")
    directory = (root / relative).resolve()
    if not directory.is_relative_to(root):
        raise ModelArtefactError(f"artefact_path {artefact_path!r} points outside VICINO_MODEL_DIR ({root})")
    return directory


def ralm_artefact_save(
    *, artefact_path: str, user_tower: UserRepresentationModel, lookalike: LookalikeModel
) -> Path:
    """Write both stages under VICINO_MODEL_DIR/artefact_path (created), for the current feature schema."""
    if lookalike.config.input_dim != user_tower.config.embedding_dim:
        raise ModelArtefactError(
            f"the lookalike stage reads {lookalike.config.input_dim}-dim embeddings, the user tower makes "
            f"{user_tower.config.embedding_dim}"
        )
    directory = artefact_directory(artefact_path=artefact_path)
    directory.mkdir(parents=True, exist_ok=True)
    signature = SCHEMA.signature()
    for model, filename in ((user_tower, USER_TOWER_FILE), (lookalike, LOOKALIKE_FILE)):
        save_model(
            model,
            directory / filename,
            feature_schema_version=SCHEMA.version,
            feature_schema_signature=signature,
        )
    return directory


def ralm_artefact_load(*, model_version: ModelVersion) -> LoadedRalm:
    """Load a registered version from disk (no process cache). Raises ModelArtefactError, never scores
    with a model trained on other features."""
    label = f"{model_version.name} {model_version.version}"
    if model_version.feature_schema_version != SCHEMA.version:
        raise ModelArtefactError(
            f"model {label} was trained on feature schema v{model_version.feature_schema_version}, but "
            f"the features now follow v{SCHEMA.version}: retrain it (train_ralm) and activate the new one"
        )
    directory = artefact_directory(artefact_path=model_version.artefact_path)
    loaded = {}
    for filename in (USER_TOWER_FILE, LOOKALIKE_FILE):
        try:
            loaded[filename] = load_model(
                directory / filename,
                feature_schema_version=SCHEMA.version,
                feature_schema_signature=SCHEMA.signature(),
            )
        except ModelFileError as error:
            raise ModelArtefactError(f"model {label}: {error}") from error
    user_tower, lookalike = loaded[USER_TOWER_FILE], loaded[LOOKALIKE_FILE]
    if not isinstance(user_tower, UserRepresentationModel) or not isinstance(lookalike, LookalikeModel):
        raise ModelArtefactError(f"model {label}: {directory} holds the stages under the wrong names")
    if lookalike.config.input_dim != user_tower.config.embedding_dim:
        raise ModelArtefactError(f"model {label}: the two stages disagree on the embedding width")
    return LoadedRalm(model_version.pk, model_version.name, model_version.version, user_tower, lookalike)


def tower_inputs(matrix: np.ndarray) -> dict[str, torch.Tensor]:
    """A feature_matrix of all six groups (n, total dim) → the user tower's dense fields {group: (n, dim)}."""
    if matrix.ndim != 2 or matrix.shape[1] != SCHEMA.total_dim:
        raise ModelArtefactError(f"need (n, {SCHEMA.total_dim}) features of every group, got {matrix.shape}")
    tensor = torch.from_numpy(np.ascontiguousarray(matrix, dtype=np.float32))
    inputs, offset = {}, 0
    for name, dim in SCHEMA.dims.items():
        inputs[name] = tensor[:, offset : offset + dim]
        offset += dim
    return inputs


@torch.no_grad()
def user_embeddings_encode(*, user_tower: UserRepresentationModel, matrix: np.ndarray) -> np.ndarray:
    """Feature rows (n, total dim) → universal user embeddings float32 (n, embedding_dim), eval mode."""
    if user_tower.training:
        raise RuntimeError("encode with the user tower in eval mode")
    if matrix.shape[0] == 0:
        return np.empty((0, user_tower.config.embedding_dim), dtype=np.float32)
    return user_tower(tower_inputs(matrix)).embeddings.numpy().astype(np.float32)


# The per-process cache --------------------------------------------------------------------------

_loaded: OrderedDict[tuple[str, str], LoadedRalm] = OrderedDict()
_loaded_lock = threading.Lock()


def active_version_cache_key(*, name: str) -> str:
    return f"ralm:active:{name}"


def active_version_publish(*, model_version: ModelVersion) -> None:
    """Tell every process which version of `name` is active (called on commit of an activation)."""
    cache.set(
        active_version_cache_key(name=model_version.name),
        {"id": model_version.pk, "version": model_version.version},
        timeout=ACTIVE_VERSION_TTL_SECONDS,
    )


def embedding_revision_key(*, model_version_id: int) -> str:
    return f"ralm:embeddings-revision:{model_version_id}"


def embedding_revision_bump(*, model_version_id: int) -> None:
    """Tell every process that a version's stored embeddings changed, so in-memory indexes rebuild."""
    key = embedding_revision_key(model_version_id=model_version_id)
    if not cache.add(key, 1, timeout=None):
        try:
            cache.incr(key)
        except ValueError:  # expired or evicted between add and incr
            cache.add(key, 1, timeout=None)


def _active_pointer(*, name: str) -> dict | None:
    key = active_version_cache_key(name=name)
    pointer = cache.get(key)
    if pointer is None:
        row = ModelVersion.objects.filter(name=name, status=ModelVersion.Status.ACTIVE).first()
        pointer = {"id": row.pk, "version": row.version} if row is not None else {}
        cache.add(key, pointer, timeout=ACTIVE_VERSION_TTL_SECONDS)
    return pointer or None


def active_version_pointer(*, name: str) -> dict | None:
    """{"id", "version"} of the active version of any registered model `name`, or None; one cache GET on
    the hot path (the same pointer ralm_active reads, so other model families switch just as hot)."""
    return _active_pointer(name=name)


def ralm_loaded(*, model_version: ModelVersion) -> LoadedRalm:
    """A version's models, loaded once per process (any status: evaluation may load a candidate)."""
    key = (model_version.name, model_version.version)
    with _loaded_lock:
        if key in _loaded:
            _loaded.move_to_end(key)
            return _loaded[key]
    # Loaded outside the lock: a slow disk must not stall requests served by the already loaded version.
    model = ralm_artefact_load(model_version=model_version)
    with _loaded_lock:
        model = _loaded.setdefault(key, model)
        _loaded.move_to_end(key)
        while len(_loaded) > LOADED_MODELS_PER_PROCESS:
            _loaded.popitem(last=False)
    return model


def ralm_active(*, name: str = "ralm") -> LoadedRalm | None:
    """The models of the active version of `name`, or None when none is active."""
    pointer = _active_pointer(name=name)
    if pointer is None:
        return None
    with _loaded_lock:
        model = _loaded.get((name, pointer["version"]))
        if model is not None:
            _loaded.move_to_end((name, pointer["version"]))
            return model
    return ralm_loaded(model_version=ModelVersion.objects.get(pk=pointer["id"]))


def loaded_models_clear() -> None:
    """Forget every loaded model in this process (tests; or to free memory)."""
    with _loaded_lock:
        _loaded.clear()
