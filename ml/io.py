"""Saving and loading every ml model: safetensors weights + a JSON sidecar. Never pickle.

    model.safetensors   the state dict (safetensors cannot execute code on load)
    model.json          {"format", "model", "config", "feature_schema_version", "feature_schema_signature",
                         "weights_sha256"}

The sidecar's header (everything but the hash) is also written into the safetensors metadata, and the hash
pins the weights file, so a sidecar paired with the wrong weights is caught. Loading checks, before any
weight is used, that the file was trained on the feature-schema version the caller has (and the same
signature, when given) and, if the caller passes one, the expected config: a model reading features laid out
differently would not crash, it would quietly score wrong.

A model kind is known here by name ("user_tower", "lookalike", "din", "eta", "two_tower"); its class must
take its config as the only constructor argument and the config must round-trip through
`to_dict` / `from_dict`. Files written before the kinds were generalised carry the format "vicino-ralm/1";
they are read as before.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

from safetensors import safe_open
from safetensors.torch import load_file, save_file
from torch import nn

FORMAT = "vicino-model/1"
#: Earlier files (RALM only) were written under this name; the layout is the same.
READABLE_FORMATS = (FORMAT, "vicino-ralm/1")
METADATA_KEY = "vicino_model_header"
LEGACY_METADATA_KEY = "vicino_ralm_header"


class ModelFileError(ValueError):
    """A model file that must not be used: wrong format, schema version, config or a mismatched pair."""


def model_kinds() -> dict[str, tuple[type, type]]:
    """kind name → (model class, config class). Imported here, not at module level, so that the model
    packages can themselves import this module."""
    from ml.ralm.config import LookalikeConfig, UserTowerConfig
    from ml.ralm.lookalike import LookalikeModel
    from ml.ralm.user_tower import UserRepresentationModel
    from ml.ranking.din import DIN, DINConfig
    from ml.ranking.eta import ETA, ETAConfig
    from ml.recall.models import TwoTowerConfig, TwoTowerModel

    return {
        "user_tower": (UserRepresentationModel, UserTowerConfig),
        "lookalike": (LookalikeModel, LookalikeConfig),
        "din": (DIN, DINConfig),
        "eta": (ETA, ETAConfig),
        "two_tower": (TwoTowerModel, TwoTowerConfig),
    }


def sidecar_path(path: str | Path) -> Path:
    """model.safetensors → model.json."""
    return Path(path).with_suffix(".json")


def _kind(model: nn.Module) -> str:
    for kind, (cls, _config) in model_kinds().items():
        if type(model) is cls:
            return kind
    raise TypeError(f"cannot save a {type(model).__name__}")


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def save_model(
    model: nn.Module,
    path: str | Path,
    *,
    feature_schema_version: int,
    feature_schema_signature: str | None = None,
) -> Path:
    """Write `path` (safetensors) and its JSON sidecar; returns the sidecar's path."""
    path = Path(path)
    header: dict[str, Any] = {
        "format": FORMAT,
        "model": _kind(model),
        "config": model.config.to_dict(),
        "feature_schema_version": int(feature_schema_version),
        "feature_schema_signature": feature_schema_signature,
    }
    header_text = json.dumps(header, sort_keys=True)
    state = {name: tensor.detach().contiguous() for name, tensor in model.state_dict().items()}
    save_file(state, str(path), metadata={METADATA_KEY: header_text})
    sidecar = sidecar_path(path)
    sidecar.write_text(
        json.dumps({**header, "weights_sha256": _sha256(path)}, indent=2, sort_keys=True) + "\n"
    )
    return sidecar


def read_header(path: str | Path) -> dict[str, Any]:
    """The sidecar of `path`, checked against the weights file it describes."""
    path = Path(path)
    sidecar = sidecar_path(path)
    if not path.is_file() or not sidecar.is_file():
        raise ModelFileError(f"a model needs both {path} and its sidecar {sidecar}")
    header = json.loads(sidecar.read_text())
    if header.get("format") not in READABLE_FORMATS:
        raise ModelFileError(f"{sidecar}: format {header.get('format')!r}, expected {FORMAT!r}")
    if header.get("weights_sha256") != _sha256(path):
        raise ModelFileError(f"{sidecar} does not describe {path}: the weights' SHA-256 differs")
    return header


def load_model(
    path: str | Path,
    *,
    feature_schema_version: int,
    feature_schema_signature: str | None = None,
    expected_config: Any | None = None,
) -> nn.Module:
    """Load a model saved by `save_model`, in eval mode, after checking it fits the caller's features.

    Raises ModelFileError when the schema version (or the signature, if given) or the expected config
    differs from the file's, or the sidecar and weights don't belong together.
    """
    path = Path(path)
    header = read_header(path)
    saved_version = header["feature_schema_version"]
    if saved_version != feature_schema_version:
        raise ModelFileError(
            f"{path} was trained on feature schema version {saved_version}, but the features now follow "
            f"version {feature_schema_version}; retrain the model (its scores would be wrong, not an error)"
        )
    saved_signature = header.get("feature_schema_signature")
    if feature_schema_signature is not None and saved_signature != feature_schema_signature:
        raise ModelFileError(
            f"{path} was trained on feature schema signature {saved_signature}, not "
            f"{feature_schema_signature}: same version number, different features; retrain the model"
        )
    kinds = model_kinds()
    kind = header.get("model")
    if kind not in kinds:
        raise ModelFileError(f"{path}: unknown model kind {kind!r}")
    model_class, config_class = kinds[kind]
    config = config_class.from_dict(header["config"])
    if expected_config is not None and expected_config != config:
        raise ModelFileError(f"{path}: its config {config} differs from the expected {expected_config}")
    state = load_file(str(path))
    with safe_open(str(path), framework="pt") as handle:
        metadata = handle.metadata() or {}
    embedded = metadata.get(METADATA_KEY, metadata.get(LEGACY_METADATA_KEY))
    own = {key: value for key, value in header.items() if key != "weights_sha256"}
    if embedded is None or json.loads(embedded) != own:
        raise ModelFileError(f"{path}: the header inside the weights differs from the sidecar")
    model = model_class(config)
    try:
        model.load_state_dict(state, strict=True)
    except RuntimeError as error:
        raise ModelFileError(f"{path}: weights do not fit the config: {error}") from error
    model.eval()
    return model
