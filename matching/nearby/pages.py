"""The nearby page: the people around you, ranked, with wave / like / block / report on each card.

Thin, like the API view (matching.nearby.apis): a form checks the controls, `nearby_people_serve` ranks
(and logs the experiment exposure and impressions, exactly as for the API). The page shows names, age
groups, distance buckets and shared tastes only; the map shows the viewer's own position and rings.
"""

from __future__ import annotations

from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.views.decorators.http import require_GET

from config.pages import page, rate_limited
from matching.nearby import privacy
from matching.nearby.forms import MAX_LIMIT, PAGE_SIZE, NearbyPeopleFilterForm
from matching.nearby.services import nearby_people_serve
from users.forms import ReportForm
from users.pages import PEOPLE_ROLES
from users.selectors import me_get


@page(roles=PEOPLE_ROLES)
@rate_limited("nearby", methods=("GET",))
@require_GET
def people_nearby(request: HttpRequest) -> HttpResponse:
    me = me_get(user=request.user)
    form = NearbyPeopleFilterForm(request.GET or None)
    context: dict = {"form": form, "location": me.location}
    if me.location is not None:
        filters = form.filters()
        served = nearby_people_serve(user=request.user, **filters)
        form.show_radius(served.radius_km)
        limit = filters["limit"]
        more_query = request.GET.copy()
        more_query["limit"] = str(min(limit + PAGE_SIZE, MAX_LIMIT))
        context |= {
            "served": served,
            "people": [
                {"person": person, "report_form": ReportForm(person_id=person.user_id)}
                for person in served.results
            ],
            "more_url": f"?{more_query.urlencode()}"
            if len(served.results) == limit and limit < MAX_LIMIT
            else None,
            # Rings of the distance buckets inside the radius, and the radius itself.
            "rings_km": sorted(
                {b.low_km for b in privacy.DISTANCE_BUCKETS if 0 < b.low_km < served.radius_km}
                | {served.radius_km}
            ),
        }
    if request.htmx and request.htmx.target == "people-results":
        return render(request, "matching/_people_results.html", context)
    return render(request, "matching/people_nearby.html", context)
