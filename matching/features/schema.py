"""THE feature schema: `ml.features.schema` over Vicino's own vocabularies.

`ml` may not import `users`, so the vocabularies are handed to `build_schema` from here, the one place on
the Django side that knows both. Changing a vocabulary changes `SCHEMA.signature()`; bump
`ml.features.schema.SCHEMA_VERSION` with it (tests pin the signature).
"""

from __future__ import annotations

from ml.features.schema import build_schema
from users import taxonomy
from users.models import EventKind, Profile

#: Income quintiles and city levels run 1..5: the bounds of Profile's check constraints.
INCOME_LEVELS = 5
CITY_LEVELS = 5

SCHEMA = build_schema(
    interests=taxonomy.INTERESTS,
    activity_types=taxonomy.ACTIVITY_TYPES,
    place_types=taxonomy.PLACE_TYPES,
    time_preferences=taxonomy.TIME_PREFERENCES,
    genders=tuple(Profile.Gender.values),
    occupations=tuple(Profile.Occupation.values),
    marital_statuses=tuple(Profile.MaritalStatus.values),
    event_kinds=tuple(EventKind.values),
    education_levels=len(Profile.Education.values),
    income_levels=INCOME_LEVELS,
    city_levels=CITY_LEVELS,
)
