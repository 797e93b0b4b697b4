"""The organiser's suggestions page: people to invite to an activity, ranked with reasons and scores;
select some and invite them; see what became of the invitations and the acceptance rate.

Thin, like the API views (matching.invitations.apis): invitation_suggestions_list ranks,
invitations_send sends, activity_invitations_list reads the answers. Names, age groups, distance
buckets, scores and reasons only: never a position.
"""

from __future__ import annotations

from django.core.exceptions import PermissionDenied, ValidationError
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import render
from django.views.decorators.http import require_GET, require_POST

from config.api import ApplicationError
from config.pages import page
from matching.invitations.apis import MAX_INVITATIONS_PER_REQUEST
from matching.invitations.selectors import activity_invitations_list, invitation_suggestions_list
from matching.invitations.services import invitations_send
from users.models import Role

ORGANISERS = [Role.ORGANISER]
SUGGESTIONS_SHOWN = 30
BIGINT_MAX = 2**63 - 1


def _raise_for(exc: ApplicationError) -> None:
    if exc.status_code == 404:
        raise Http404(exc.message) from exc
    if exc.status_code == 403:
        raise PermissionDenied(exc.message) from exc


def _context(request: HttpRequest, pk: int) -> dict:
    """The activity's invitations, and the suggestions while it still takes people (a started, full or
    cancelled activity says why instead)."""
    try:
        sent = activity_invitations_list(activity_id=pk, organiser=request.user)
    except ApplicationError as exc:
        _raise_for(exc)
        raise
    suggestions, closed = None, None
    try:
        suggestions = invitation_suggestions_list(
            activity_id=pk, organiser=request.user, limit=SUGGESTIONS_SHOWN
        )
    except ApplicationError as exc:
        _raise_for(exc)
        closed = exc.message
    return {"activity": sent.activity, "sent": sent, "suggestions": suggestions, "closed": closed}


@page(roles=ORGANISERS)
@require_GET
def activity_suggestions(request: HttpRequest, pk: int) -> HttpResponse:
    return render(request, "matching/suggestions.html", _context(request, pk))


@page(roles=ORGANISERS)
@require_GET
def activity_invitation_statuses(request: HttpRequest, pk: int) -> HttpResponse:
    """The statuses panel alone: the page polls it, so answers show up without a reload."""
    try:
        sent = activity_invitations_list(activity_id=pk, organiser=request.user)
    except ApplicationError as exc:
        _raise_for(exc)
        raise
    return render(request, "matching/_invitation_statuses.html", {"activity": sent.activity, "sent": sent})


def _selected_ids(request: HttpRequest) -> tuple[list[int], str | None]:
    raw = request.POST.getlist("user_ids")
    if not raw:
        return [], "Tick at least one person to invite."
    if len(raw) > MAX_INVITATIONS_PER_REQUEST:
        return [], f"Invite at most {MAX_INVITATIONS_PER_REQUEST} people at a time."
    if not all(value.isdigit() and 0 < int(value) <= BIGINT_MAX for value in raw):
        return [], "Those are not people's ids."
    return [int(value) for value in raw], None


@page(roles=ORGANISERS)
@require_POST
def activity_invite(request: HttpRequest, pk: int) -> HttpResponse:
    user_ids, error = _selected_ids(request)
    notice, status = None, 200
    if error is None:
        try:
            outcomes = invitations_send(activity_id=pk, organiser=request.user, user_ids=user_ids)
        except ApplicationError as exc:
            _raise_for(exc)
            error, status = exc.message, (429 if exc.status_code == 429 else 400)
        except ValidationError as exc:
            # One message per bad id, each already saying what is wrong (never who blocked whom).
            error = " ".join(
                sorted({message for messages in exc.message_dict.values() for message in messages})
            )
            status = 400
        else:
            created = sum(outcome.created for outcome in outcomes)
            already = len(outcomes) - created
            notice = f"Invited {created} {'person' if created == 1 else 'people'}."
            if already:
                notice += f" {already} had been invited already or take part."
    else:
        status = 400
    context = _context(request, pk) | {"error": error, "notice": notice}
    # A refused send re-renders the panel with its reason (the panel swaps in its 429 too: data-swap-errors).
    template = "matching/_suggestions_panel.html" if request.htmx else "matching/suggestions.html"
    return render(request, template, context, status=status)
