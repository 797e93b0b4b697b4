"""Activities for you and acceptance probabilities: the DIN + ETA ranker and the two-tower recall in the app.

`content` puts places visited and activities joined in one content space, `events` reads what people did
as one event log, `training` builds time-split samples and trains both models (`manage.py train_ranker`,
`manage.py train_recall`), `artefacts` saves and loads them for the registry (`matching.serving`),
`scoring` runs the loaded models and `selectors` answers the app:

- `activities_for_you_list(*, user, limit)` → suggestions with reasons (GET /api/activities/for-you/);
- `acceptance_probabilities(*, activity, user_ids)` → {user id: P(accept)}, for invitation suggestions.
"""

from matching.ranking.selectors import ActivityForYou, acceptance_probabilities, activities_for_you_list

__all__ = ["ActivityForYou", "acceptance_probabilities", "activities_for_you_list"]
