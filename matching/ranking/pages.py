"""The "Activities for you" page: upcoming activities picked for a person by the two-tower recall and the
DIN + ETA ranker, each with why, and join / leave in place.

Thin, like the API view (matching.ranking.apis): `activities_for_you_list` does the work, exactly as for
GET /api/activities/for-you/. Each card is the activities' own `activities/_card.html`, so joining and
leaving go through the same HTMX partial (and the same capacity-checked services) as "activities near me".

Without an active model the selector orders the candidates by venue distance, then start: that list is
"activities near me" again, not a suggestion, so the page says that suggestions are not ready yet and
points there.
"""

from __future__ import annotations

from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.views.decorators.http import require_GET

from config.pages import page
from matching.ranking.selectors import activities_for_you_list
from users.models import Role

#: How many suggestions the page shows (the API's default page).
FOR_YOU_LIMIT = 20


@page(roles=[Role.PERSON])
@require_GET
def activities_for_you(request: HttpRequest) -> HttpResponse:
    suggestions = activities_for_you_list(user=request.user, limit=FOR_YOU_LIMIT)
    ranked_by = suggestions[0].ranked_by if suggestions else None
    context = {
        "suggestions": [] if ranked_by == "fallback" else suggestions,
        "no_model": ranked_by == "fallback",
        "ranked_by": ranked_by,
    }
    return render(request, "matching/activities_for_you.html", context)
