"""The ranker's and the recall model's artefacts: `ml.io` model files plus the content vocabulary.

    <VICINO_MODEL_DIR>/ranker/<version>/ranker.safetensors  ranker.json   ETA (DIN on the short history)
                                        content.json                      places, areas, history lengths
    <VICINO_MODEL_DIR>/recall/<version>/two_tower.safetensors  two_tower.json
                                        content.json                      places, areas, history length
                                        item_index.faiss (optional)       the catalogue's item vectors

Both kinds are loaded, cached per process and switched hot by `matching.serving` like RALM
(`serving.ARTEFACT_LOADERS` names the loaders below). Loading also refuses a vocabulary that does not fit
the model (its places, areas or the shared vocabularies of `users.taxonomy` changed size).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import faiss
import torch

from matching import serving
from matching.features import SCHEMA
from matching.models import ModelVersion
from matching.ranking.content import (
    FIRST_ID,
    ITEM_FEATURES,
    RECALL_ITEM_FEATURES,
    ContentVocabulary,
)
from ml.io import save_model
from ml.ranking import ETA, SparseFeature
from ml.recall import TwoTowerModel, model_item_index

RANKER_NAME = "ranker"
RECALL_NAME = "recall"
RANKER_FILE = "ranker.safetensors"
RECALL_FILE = "two_tower.safetensors"
CONTENT_FILE = "content.json"
ITEM_INDEX_FILE = "item_index.faiss"


@dataclass(frozen=True)
class LoadedRanker:
    model_version_id: int
    name: str
    version: str
    model: ETA
    vocabulary: ContentVocabulary

    @property
    def short_length(self) -> int:
        return int(self.vocabulary.serving["short_length"])

    @property
    def long_length(self) -> int:
        return int(self.vocabulary.serving["long_length"])


@dataclass(frozen=True)
class LoadedRecall:
    model_version_id: int
    name: str
    version: str
    model: TwoTowerModel
    vocabulary: ContentVocabulary

    @property
    def history_length(self) -> int:
        return int(self.vocabulary.serving["history_length"])


def _save(
    *, artefact_path: str, model: torch.nn.Module, filename: str, vocabulary: ContentVocabulary
) -> Path:
    directory = serving.artefact_directory(artefact_path=artefact_path)
    directory.mkdir(parents=True, exist_ok=True)
    save_model(
        model,
        directory / filename,
        feature_schema_version=SCHEMA.version,
        feature_schema_signature=SCHEMA.signature(),
    )
    vocabulary.save(directory / CONTENT_FILE)
    return directory


def ranker_artefact_save(*, artefact_path: str, model: ETA, vocabulary: ContentVocabulary) -> Path:
    _check_fits(model.config.item_features, vocabulary.features(ITEM_FEATURES), "ranker")
    return _save(artefact_path=artefact_path, model=model, filename=RANKER_FILE, vocabulary=vocabulary)


def recall_artefact_save(*, artefact_path: str, model: TwoTowerModel, vocabulary: ContentVocabulary) -> Path:
    _check_fits(model.config.item_features, vocabulary.features(RECALL_ITEM_FEATURES), "recall")
    return _save(artefact_path=artefact_path, model=model, filename=RECALL_FILE, vocabulary=vocabulary)


def _check_fits(
    model_features: tuple[SparseFeature, ...], wanted: tuple[SparseFeature, ...], label: str
) -> None:
    if tuple(model_features) != tuple(wanted):
        raise serving.ModelArtefactError(
            f"{label}: the model reads the item features {model_features}, the vocabulary makes {wanted}"
        )


def _vocabulary(*, model_version: ModelVersion, directory: Path, needs: tuple[str, ...]) -> ContentVocabulary:
    label = f"{model_version.name} {model_version.version}"
    try:
        vocabulary = ContentVocabulary.load(directory / CONTENT_FILE)
    except FileNotFoundError as error:
        raise serving.ModelArtefactError(f"model {label}: {directory / CONTENT_FILE} is missing") from error
    except (ValueError, KeyError, TypeError) as error:
        raise serving.ModelArtefactError(f"model {label}: unreadable {CONTENT_FILE}: {error}") from error
    missing = [key for key in needs if not isinstance(vocabulary.serving.get(key), int)]
    if missing:
        raise serving.ModelArtefactError(f"model {label}: {CONTENT_FILE} lacks {missing}")
    return vocabulary


def ranker_artefact_directory_load(*, model_version: ModelVersion, directory: Path) -> LoadedRanker:
    """The ranker kind (see matching.serving.model_artefact_load, which calls this)."""
    model = serving.artefact_models_load(
        model_version=model_version, directory=directory, files={RANKER_FILE: ETA}
    )[RANKER_FILE]
    vocabulary = _vocabulary(
        model_version=model_version, directory=directory, needs=("short_length", "long_length")
    )
    _check_fits(model.config.item_features, vocabulary.features(ITEM_FEATURES), model_version.artefact_path)
    return LoadedRanker(model_version.pk, model_version.name, model_version.version, model, vocabulary)


def recall_artefact_directory_load(*, model_version: ModelVersion, directory: Path) -> LoadedRecall:
    """The recall kind (see matching.serving.model_artefact_load, which calls this)."""
    model = serving.artefact_models_load(
        model_version=model_version, directory=directory, files={RECALL_FILE: TwoTowerModel}
    )[RECALL_FILE]
    vocabulary = _vocabulary(model_version=model_version, directory=directory, needs=("history_length",))
    _check_fits(
        model.config.item_features, vocabulary.features(RECALL_ITEM_FEATURES), model_version.artefact_path
    )
    user_features = tuple(model.config.user_features)
    if user_features != (SparseFeature("home_area", vocabulary.area_vocab_size),):
        raise serving.ModelArtefactError(
            f"model {model_version.artefact_path}: user features {user_features} do not fit the vocabulary"
        )
    return LoadedRecall(model_version.pk, model_version.name, model_version.version, model, vocabulary)


def ranker_active() -> LoadedRanker | None:
    """The active ranker, or None; a broken or stale artefact counts as none (logged by the caller)."""
    model = serving.model_active(name=RANKER_NAME)
    if model is not None and not isinstance(model, LoadedRanker):
        raise serving.ModelArtefactError("the active ranker is not a DIN+ETA ranker")
    return model


def recall_active() -> LoadedRecall | None:
    model = serving.model_active(name=RECALL_NAME)
    if model is not None and not isinstance(model, LoadedRecall):
        raise serving.ModelArtefactError("the active recall model is not a two-tower model")
    return model


def recall_item_index_export(*, model: TwoTowerModel, item_features: torch.Tensor, path: Path) -> int:
    """Write the FAISS index of the catalogue's item vectors (row i = item id i + FIRST_ID, i.e. the
    vocabulary's place_ids[i]; normalised when the model scores by cosine). Returns the rows written."""
    index = model_item_index(model, item_features[FIRST_ID:])
    faiss.write_index(index, str(path))
    return int(index.ntotal)


def item_index_read(path: Path) -> faiss.Index:
    """An index written by recall_item_index_export (FAISS's own format, not a pickle)."""
    return faiss.read_index(str(path))
