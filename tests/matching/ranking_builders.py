"""Small app data and tiny ranker / recall artefacts for the ranking tests: real models and files."""

from __future__ import annotations

from datetime import datetime, timedelta

from matching import services
from matching.features import SCHEMA
from matching.models import ModelVersion
from matching.ranking.artefacts import (
    RANKER_NAME,
    RECALL_NAME,
    ranker_artefact_save,
    recall_artefact_save,
)
from matching.ranking.content import ITEM_FEATURES, RECALL_ITEM_FEATURES, ContentVocabulary
from ml.ranking import ETA, ETAConfig, SparseFeature
from ml.recall import TwoTowerConfig, TwoTowerModel
from tests.factories import PlaceFactory, VisitFactory
from users import geo


def tiny_vocabulary(*, place_ids: list[int], areas: list[str] | None = None) -> ContentVocabulary:
    return ContentVocabulary(
        place_ids=place_ids,
        areas=areas or ["dr5ru"],
        serving={"short_length": 4, "long_length": 16, "history_length": 8},
    )


def tiny_ranker(vocabulary: ContentVocabulary, *, seed: int = 0) -> ETA:
    return ETA(
        ETAConfig(
            item_features=vocabulary.features(ITEM_FEATURES),
            embedding_dim=4,
            attention_dims=(8,),
            output_dims=(8,),
            top_k=4,
            seed=seed,
        )
    ).eval()


def tiny_recall(vocabulary: ContentVocabulary, *, seed: int = 0) -> TwoTowerModel:
    return TwoTowerModel(
        TwoTowerConfig(
            architecture="dssm",
            user_features=(SparseFeature("home_area", vocabulary.area_vocab_size),),
            item_features=vocabulary.features(RECALL_ITEM_FEATURES),
            embedding_dim=4,
            user_dims=(8,),
            item_dims=(8,),
            seed=seed,
        )
    ).eval()


def tiny_ranker_register(*, version: str, vocabulary: ContentVocabulary, seed: int = 0) -> ModelVersion:
    artefact_path = f"{RANKER_NAME}/{version}"
    ranker_artefact_save(
        artefact_path=artefact_path, model=tiny_ranker(vocabulary, seed=seed), vocabulary=vocabulary
    )
    return services.model_version_register(
        name=RANKER_NAME,
        version=version,
        artefact_path=artefact_path,
        metrics={"val_auc": 0.5},
        feature_schema_version=SCHEMA.version,
    )


def tiny_recall_register(*, version: str, vocabulary: ContentVocabulary, seed: int = 0) -> ModelVersion:
    artefact_path = f"{RECALL_NAME}/{version}"
    recall_artefact_save(
        artefact_path=artefact_path, model=tiny_recall(vocabulary, seed=seed), vocabulary=vocabulary
    )
    return services.model_version_register(
        name=RECALL_NAME,
        version=version,
        artefact_path=artefact_path,
        metrics={"hit@50": 0.0},
        feature_schema_version=SCHEMA.version,
    )


def place_at(
    *, latitude: float, longitude: float, category: str = "Park", place_type: str = "outdoors", **kwargs
):
    return PlaceFactory(
        latitude=latitude,
        longitude=longitude,
        geohash=geo.encode(latitude, longitude),
        category=category,
        place_type=place_type,
        **kwargs,
    )


def visits(*, user, places, start: datetime, every: timedelta = timedelta(hours=5)) -> list:
    """One visit per place, in order, `every` apart from `start`."""
    return [
        VisitFactory(user=user, place=place, visited_at=start + i * every) for i, place in enumerate(places)
    ]
