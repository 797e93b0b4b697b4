"""The six feature groups of a person, as of a moment.

`SCHEMA` is the one schema (`ml.features.schema` over `users.taxonomy` and the profile choices);
`features_as_of` computes every group for many people with a fixed number of queries;
`contextual_features` computes the contextual group at request time.
"""

from matching.features.compute import MAX_CHUNK, FeatureBatch, features_as_of
from matching.features.context import (
    ContextProvider,
    UnknownContextProvider,
    WeatherReading,
    contextual_features,
)
from matching.features.schema import SCHEMA

__all__ = [
    "MAX_CHUNK",
    "SCHEMA",
    "ContextProvider",
    "FeatureBatch",
    "UnknownContextProvider",
    "WeatherReading",
    "contextual_features",
    "features_as_of",
]
