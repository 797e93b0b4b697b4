"""Vicino's fixed vocabularies. Pure Python: the feature schema and the importers read them too.

Changing a list changes feature dimensions: bump the feature-schema version when you do.
"""

from __future__ import annotations

#: 20 interest categories. Profiles hold {interest: strength in [0, 1]}.
INTERESTS: tuple[str, ...] = (
    "sports", "fitness", "outdoors", "music", "arts", "food", "coffee", "nightlife", "travel", "reading",
    "technology", "gaming", "movies", "photography", "fashion", "shopping", "wellness", "volunteering",
    "pets", "family",
)  # fmt: skip

#: 10 activity types. Activities have one; profiles hold a preference weight and a skill level per type.
ACTIVITY_TYPES: tuple[str, ...] = (
    "badminton", "tennis", "basketball", "football", "running", "cycling", "hiking", "climbing", "yoga",
    "board_games",
)  # fmt: skip

#: 15 place types. Venues have one; profiles hold a preference weight per type.
PLACE_TYPES: tuple[str, ...] = (
    "home", "work", "education", "food", "nightlife", "entertainment", "shopping", "transport", "outdoors",
    "sports", "arts", "health", "travel", "services", "other",
)  # fmt: skip

#: 6 time preferences: two day kinds and four parts of the day, each a weight in [0, 1].
TIME_PREFERENCES: tuple[str, ...] = ("weekday", "weekend", "morning", "afternoon", "evening", "night")

#: Skill levels, shared by profiles (per activity type) and activities.
SKILL_MIN, SKILL_MAX = 1, 5
SKILL_LABELS = {1: "beginner", 2: "casual", 3: "intermediate", 4: "advanced", 5: "expert"}


def choices(values: tuple[str, ...]) -> list[tuple[str, str]]:
    return [(v, v.replace("_", " ").capitalize()) for v in values]
