"""The activities pages: activities near me (join and leave in place), one activity, and the organiser's
own activities with a venue picker on a map.

Thin, like the API views: a form checks the input's shape, activities.services / selectors do the work.
"""

from __future__ import annotations

from django.conf import settings
from django.contrib import messages
from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.http import require_GET, require_POST

from activities import services
from activities.forms import ActivityForm, NearbyActivitiesFilterForm, VenueSearchForm
from activities.models import Activity
from activities.selectors import (
    activity_get,
    activity_list,
    activity_list_organised,
    invitation_get,
    invitation_inbox_list,
)
from config.api import ApplicationError
from config.forms import form_add_application_error
from config.pages import page
from users.models import Place, Role
from users.pages import PEOPLE_ROLES
from users.selectors import me_get, venue_get, venue_list_near

#: The most activities one page of "near me" shows (soonest first).
NEAR_LIST_LIMIT = 50


@page()
@require_GET
def activities_near(request: HttpRequest) -> HttpResponse:
    me = me_get(user=request.user)
    form = NearbyActivitiesFilterForm(request.GET or None)
    activities: list[Activity] = []
    filters = form.filters()
    if me.location is not None:
        filters["near"] = (me.location.latitude, me.location.longitude)
        activities = list(activity_list(viewer=request.user, filters=filters)[: NEAR_LIST_LIMIT + 1])
    context = {
        "form": form,
        "location": me.location,
        "activities": activities[:NEAR_LIST_LIMIT],
        "more": len(activities) > NEAR_LIST_LIMIT,
        "radius_km": filters["radius_km"],
    }
    if request.htmx and request.htmx.target == "near-results":
        return render(request, "activities/_near_results.html", context)
    return render(request, "activities/near.html", context)


@page()
@require_GET
def activity_detail(request: HttpRequest, pk: int) -> HttpResponse:
    activity = activity_get(activity_id=pk, viewer=request.user)
    return render(request, "activities/detail.html", {"activity": activity})


def _back(request: HttpRequest, pk: int) -> HttpResponse:
    target = request.POST.get("next", "")
    if url_has_allowed_host_and_scheme(target, allowed_hosts={request.get_host()}):
        return redirect(target)
    return redirect("activity-detail-page", pk=pk)


def _participation_change(request: HttpRequest, pk: int, *, join: bool) -> HttpResponse:
    error = None
    try:
        if join:
            _activity, changed = services.activity_join(activity_id=pk, user=request.user)
            message = "You're in! See you there." if changed else "You had already joined."
        else:
            _activity, changed = services.activity_leave(activity_id=pk, user=request.user)
            message = "You left the activity." if changed else "You were not taking part."
    except ApplicationError as exc:
        if exc.status_code == 404:
            raise Http404(exc.message) from exc
        error, status = exc.message, (409 if exc.status_code == 409 else 400)
    if request.htmx:
        activity = activity_get(activity_id=pk, viewer=request.user)
        context = {"activity": activity, "error": error, "notice": None if error else message}
        return render(
            request,
            "activities/_card.html",
            context | {"next": request.POST.get("next", "")},
            status=status if error else 200,
        )
    if error:
        messages.error(request, error)
    else:
        messages.success(request, message)
    return _back(request, pk)


@page()
@require_POST
def activity_join(request: HttpRequest, pk: int) -> HttpResponse:
    return _participation_change(request, pk, join=True)


@page()
@require_POST
def activity_leave(request: HttpRequest, pk: int) -> HttpResponse:
    return _participation_change(request, pk, join=False)


# Invitations: the invitee's inbox ----------------------------------------------------------------------

#: The inbox's tabs: what needs an answer first, then the rest.
INBOX_FILTERS = {"open": "sent", "all": None}


@page(roles=PEOPLE_ROLES)
@require_GET
def invitation_inbox(request: HttpRequest) -> HttpResponse:
    show = request.GET.get("show", "open")
    show = show if show in INBOX_FILTERS else "open"
    invitations = list(invitation_inbox_list(invitee=request.user, status=INBOX_FILTERS[show]))
    return render(request, "activities/invitations.html", {"invitations": invitations, "show": show})


def _invitation_answer(request: HttpRequest, pk: int, *, accept: bool) -> HttpResponse:
    error, status = None, 200
    try:
        if accept:
            _invitation, changed = services.invitation_accept(invitation_id=pk, user=request.user)
            notice = "You're in! See you there." if changed else "You had already accepted."
        else:
            _invitation, changed = services.invitation_decline(invitation_id=pk, user=request.user)
            notice = "You declined. The organiser is told, without a reason." if changed else "Declined."
    except ApplicationError as exc:
        if exc.status_code == 404:
            raise Http404(exc.message) from exc
        error, status = exc.message, (409 if exc.status_code == 409 else 400)
    if request.htmx:
        invitation = invitation_get(invitation_id=pk, invitee=request.user)
        context = {"invitation": invitation, "error": error, "notice": None if error else notice}
        return render(request, "activities/_invitation_card.html", context, status=status)
    if error:
        messages.error(request, error)
    else:
        messages.success(request, notice)
    return redirect("invitation-inbox")


@page(roles=PEOPLE_ROLES)
@require_POST
def invitation_accept(request: HttpRequest, pk: int) -> HttpResponse:
    return _invitation_answer(request, pk, accept=True)


@page(roles=PEOPLE_ROLES)
@require_POST
def invitation_decline(request: HttpRequest, pk: int) -> HttpResponse:
    return _invitation_answer(request, pk, accept=False)


# Organisers -----------------------------------------------------------------------------------------


@page(roles=[Role.ORGANISER])
@require_GET
def organised_activities(request: HttpRequest) -> HttpResponse:
    activities = list(activity_list_organised(organiser=request.user))
    return render(request, "activities/organised.html", {"activities": activities})


def _map_start(request: HttpRequest, form: ActivityForm, selected_place: Place | None) -> tuple[float, float]:
    """Where the venue picker opens: the spot or venue chosen, else the organiser's own position, else the
    configured centre."""
    chosen = getattr(form, "cleaned_data", {})
    if chosen.get("latitude") is not None and chosen.get("longitude") is not None:
        return chosen["latitude"], chosen["longitude"]
    if selected_place is not None:
        return selected_place.latitude, selected_place.longitude
    if form.activity is not None and not form.is_bound:
        return form.activity.latitude, form.activity.longitude
    me = me_get(user=request.user)
    if me.location is not None:
        return me.location.latitude, me.location.longitude
    return settings.VICINO_MAP_CENTER


def _activity_form_page(request: HttpRequest, *, activity: Activity | None) -> HttpResponse:
    form = ActivityForm(request.POST or None, activity=activity)
    if request.method == "POST" and form.is_valid():
        try:
            if activity is None:
                saved = services.activity_create(organiser=request.user, **form.service_fields())
            else:
                saved = services.activity_update(
                    activity_id=activity.pk, user=request.user, data=form.service_fields()
                )
        except ApplicationError as exc:
            if exc.status_code == 403:
                raise PermissionDenied(exc.message) from exc
            form_add_application_error(form, exc, aliases=ActivityForm.ERROR_ALIASES)
        else:
            messages.success(request, f"“{saved.title}” is {'created' if activity is None else 'saved'}.")
            return redirect("organised-activities")
    place_id = str(form["place_id"].value() or "")
    selected_place = venue_get(place_id=int(place_id)) if place_id.isdigit() and len(place_id) < 19 else None
    latitude, longitude = _map_start(request, form, selected_place)
    context = {
        "form": form,
        "activity": activity,
        "selected_place": selected_place,
        "map_start": (latitude, longitude),
        "venues": venue_list_near(latitude=latitude, longitude=longitude, radius_km=1.5),
    }
    return render(request, "activities/form.html", context)


@page(roles=[Role.ORGANISER])
def activity_create(request: HttpRequest) -> HttpResponse:
    return _activity_form_page(request, activity=None)


@page(roles=[Role.ORGANISER])
def activity_edit(request: HttpRequest, pk: int) -> HttpResponse:
    activity = activity_get(activity_id=pk, viewer=request.user)
    if activity.organiser_id != request.user.pk:
        raise PermissionDenied("Only this activity's organiser can change it.")
    return _activity_form_page(request, activity=activity)


@page(roles=[Role.ORGANISER])
@require_GET
def venue_options(request: HttpRequest) -> HttpResponse:
    """The venue picker's list (an HTMX partial): public venues around the map's centre."""
    form = VenueSearchForm(request.GET)
    if not form.is_valid():
        return render(request, "activities/_venue_options.html", {"errors": form.errors}, status=400)
    data = form.cleaned_data
    venues = venue_list_near(
        latitude=data["latitude"],
        longitude=data["longitude"],
        radius_km=data["radius_km"] or 1.5,
        query=data["q"],
    )
    selected = venue_get(place_id=data["selected"]) if data["selected"] else None
    return render(
        request,
        "activities/_venue_options.html",
        {"venues": venues, "selected_place": selected, "query": data["q"]},
    )
