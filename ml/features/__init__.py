"""The feature schema: names, dimensions, normalisation and missing values of the six groups."""

from ml.features.schema import (
    GROUP_NAMES,
    SCHEMA_VERSION,
    FeatureSchema,
    FeatureSpec,
    GroupSchema,
    build_schema,
)

__all__ = ["GROUP_NAMES", "SCHEMA_VERSION", "FeatureSchema", "FeatureSpec", "GroupSchema", "build_schema"]
