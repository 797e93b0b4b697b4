"""Serving registered models: artefacts on disk, and the loaded models each process keeps, switched hot.

**Artefacts.** A ModelVersion's `artefact_path` is a directory under settings.VICINO_MODEL_DIR holding
`ml.io` files: safetensors weights plus a JSON sidecar, never a pickle. What the directory holds depends
on the model's name, its *kind* (`ARTEFACT_LOADERS`):

    ralm     user_tower.safetensors + .json (stage 1), lookalike.safetensors + .json (stage 2)
    ranker   ranker.safetensors + .json (ETA, with DIN on the short history), content.json
    recall   two_tower.safetensors + .json, content.json          (see matching.ranking.artefacts)

Every kind is loaded through `model_artefact_load`, which refuses, with ModelArtefactError, a version
registered for another feature-schema version, a path outside the model directory and a name with no
kind; `artefact_models_load` then refuses a file trained on another schema version or signature (checked
again by `ml.io.load_model` from the file's own header) or holding another class of model, and each kind
checks its own consistency (for RALM: a lookalike stage whose input width is not the user tower's
embedding width).

**Hot activation.** `model_active(name=…)` (and `ralm_active`, its RALM-typed form) answers from a
per-process dict of loaded models keyed by (name, version). Which version is active comes from the shared
Django cache (Redis), key `models:active:<name>`, holding {"id", "version"} of the active row:

- `model_version_activate` SETs the key on commit, so every web and worker process serves the new version
  on its next request, with no restart and no message to the processes;
- a reader that misses the key reads the database and ADDs it (add, not set: a reader holding the row it
  read just before an activation cannot overwrite the newer value the activation set);
- the key expires after ACTIVE_VERSION_TTL_SECONDS, which bounds how stale a process can be if a set is
  ever lost (Redis restarted between commit and set; or the embedded mode, whose local-memory cache is
  per process) to that long.

The hot path is one cache GET and a dict lookup. A version is loaded once per process, and only the
LOADED_VERSIONS_PER_NAME most recently served versions of each name stay in memory (per name, so that
serving RALM, the ranker and the recall model together does not evict one to load another).
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from django.conf import settings
from django.core.cache import cache
from django.utils.module_loading import import_string
from torch import nn

from matching.features import SCHEMA
from matching.models import ModelVersion
from ml.ralm import LookalikeModel, ModelFileError, UserRepresentationModel, load_model, save_model

USER_TOWER_FILE = "user_tower.safetensors"
LOOKALIKE_FILE = "lookalike.safetensors"
#: How long a process may keep serving a version after a lost activation signal (see the module doc).
ACTIVE_VERSION_TTL_SECONDS = 30
LOADED_VERSIONS_PER_NAME = 2

#: Model name → the function that loads a registered version of it from its artefact directory,
#: `loader(model_version=…, directory=…)`; the returned object has `model_version_id`, `name` and
#: `version`. Dotted paths, imported on first use: matching.ranking imports this module.
ARTEFACT_LOADERS: Mapping[str, str] = {
    "ralm": "matching.serving.ralm_artefact_directory_load",
    "ranker": "matching.ranking.artefacts.ranker_artefact_directory_load",
    "recall": "matching.ranking.artefacts.recall_artefact_directory_load",
}
#: The command that trains each kind, named in the error a stale version raises.
TRAINING_COMMANDS: Mapping[str, str] = {
    "ralm": "train_ralm",
    "ranker": "train_ranker",
    "recall": "train_recall",
}


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


def model_artefact_load(*, model_version: ModelVersion) -> Any:
    """Load a registered version of any kind from disk (no process cache). Raises ModelArtefactError,
    never scores with a model trained on other features."""
    label = f"{model_version.name} {model_version.version}"
    if model_version.feature_schema_version != SCHEMA.version:
        command = TRAINING_COMMANDS.get(model_version.name, "its training command")
        raise ModelArtefactError(
            f"model {label} was trained on feature schema v{model_version.feature_schema_version}, but "
            f"the features now follow v{SCHEMA.version}: retrain it ({command}) and activate the new one"
        )
    loader_path = ARTEFACT_LOADERS.get(model_version.name)
    if loader_path is None:
        raise ModelArtefactError(
            f"model {label}: no artefact kind for the name {model_version.name!r}; known: "
            f"{', '.join(sorted(ARTEFACT_LOADERS))}"
        )
    directory = artefact_directory(artefact_path=model_version.artefact_path)
    loader: Callable[..., Any] = import_string(loader_path)
    return loader(model_version=model_version, directory=directory)


def artefact_models_load(
    *, model_version: ModelVersion, directory: Path, files: Mapping[str, type[nn.Module]]
) -> dict[str, nn.Module]:
    """{filename: model} for `ml.io` files of the directory, each checked against the current feature
    schema (version and signature, from the file's own header) and to be an instance of its class."""
    label = f"{model_version.name} {model_version.version}"
    loaded = {}
    for filename, expected in files.items():
        try:
            model = load_model(
                directory / filename,
                feature_schema_version=SCHEMA.version,
                feature_schema_signature=SCHEMA.signature(),
            )
        except ModelFileError as error:
            raise ModelArtefactError(f"model {label}: {error}") from error
        if not isinstance(model, expected):
            raise ModelArtefactError(
                f"model {label}: {directory / filename} holds a {type(model).__name__}, not a "
                f"{expected.__name__}"
            )
        loaded[filename] = model
    return loaded


def ralm_artefact_load(*, model_version: ModelVersion) -> LoadedRalm:
    """Load a registered RALM version from disk (no process cache); see `model_artefact_load`."""
    model = model_artefact_load(model_version=model_version)
    if not isinstance(model, LoadedRalm):
        raise ModelArtefactError(f"model {model_version.name} {model_version.version} is not a RALM")
    return model


def ralm_artefact_directory_load(*, model_version: ModelVersion, directory: Path) -> LoadedRalm:
    """RALM's kind: both stages, which must agree on the embedding width."""
    label = f"{model_version.name} {model_version.version}"
    loaded = artefact_models_load(
        model_version=model_version,
        directory=directory,
        files={USER_TOWER_FILE: UserRepresentationModel, LOOKALIKE_FILE: LookalikeModel},
    )
    user_tower, lookalike = loaded[USER_TOWER_FILE], loaded[LOOKALIKE_FILE]
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

_loaded: OrderedDict[tuple[str, str], Any] = OrderedDict()
_loaded_lock = threading.Lock()


def active_version_cache_key(*, name: str) -> str:
    return f"models:active:{name}"


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


def model_loaded(*, model_version: ModelVersion) -> Any:
    """A version's models, loaded once per process (any status: evaluation may load a candidate)."""
    key = (model_version.name, model_version.version)
    with _loaded_lock:
        if key in _loaded:
            _loaded.move_to_end(key)
            return _loaded[key]
    # Loaded outside the lock: a slow disk must not stall requests served by the already loaded version.
    model = model_artefact_load(model_version=model_version)
    with _loaded_lock:
        model = _loaded.setdefault(key, model)
        _loaded.move_to_end(key)
        same_name = [other for other in _loaded if other[0] == key[0]]
        for stale in same_name[: max(len(same_name) - LOADED_VERSIONS_PER_NAME, 0)]:
            del _loaded[stale]  # least recently served first
    return model


def model_active(*, name: str) -> Any | None:
    """The loaded models of the active version of `name`, or None when none is active."""
    pointer = _active_pointer(name=name)
    if pointer is None:
        return None
    with _loaded_lock:
        model = _loaded.get((name, pointer["version"]))
        if model is not None:
            _loaded.move_to_end((name, pointer["version"]))
            return model
    return model_loaded(model_version=ModelVersion.objects.get(pk=pointer["id"]))


def ralm_loaded(*, model_version: ModelVersion) -> LoadedRalm:
    """`model_loaded` for a RALM version."""
    model = model_loaded(model_version=model_version)
    if not isinstance(model, LoadedRalm):
        raise ModelArtefactError(f"model {model_version.name} {model_version.version} is not a RALM")
    return model


def ralm_active(*, name: str = "ralm") -> LoadedRalm | None:
    """The models of the active RALM version of `name`, or None when none is active."""
    model = model_active(name=name)
    if model is not None and not isinstance(model, LoadedRalm):
        raise ModelArtefactError(f"the active {name} model is not a RALM")
    return model


def loaded_models_clear() -> None:
    """Forget every loaded model in this process (tests; or to free memory)."""
    with _loaded_lock:
        _loaded.clear()
