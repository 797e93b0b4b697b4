"""The marketer's campaign pages: the list, the builder, the build's live progress, the results (score
histogram, seeds vs audience by feature group) and the CSV download.

Thin, like the API views (matching.campaigns.apis): a form checks the shapes, matching.campaigns.services
defines, uploads, builds (on the Celery workers) and exports, matching.campaigns.selectors reads.
"""

from __future__ import annotations

from django.contrib import messages
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.http import HttpRequest, HttpResponse, StreamingHttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_GET, require_POST

from config.api import ApplicationError
from config.pages import page
from matching.campaigns import services
from matching.campaigns.forms import CampaignForm, ExportForm
from matching.campaigns.models import Campaign, SeedKind
from matching.campaigns.selectors import campaign_get, campaign_list
from users.models import Role

MARKETERS = [Role.MARKETER]
#: How often the progress bar asks how far the build is, in seconds.
PROGRESS_POLL_SECONDS = 1


@page(roles=MARKETERS)
@require_GET
def campaign_list_page(request: HttpRequest) -> HttpResponse:
    campaigns = list(campaign_list(owner=request.user))
    return render(request, "matching/campaigns/list.html", {"campaigns": campaigns})


@page(roles=MARKETERS)
def campaign_create_page(request: HttpRequest) -> HttpResponse:
    form = CampaignForm(request.POST or None, request.FILES or None)
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        try:
            # Define, upload and start as one: a refused file leaves no half-made draft behind. The build
            # is dispatched to the workers once this commits.
            with transaction.atomic():
                campaign = services.campaign_create(
                    owner=request.user,
                    name=data["name"],
                    seed_kind=data["seed_kind"],
                    seed_min_lifetime_value=data["min_lifetime_value"],
                    seed_tag=data["tag"],
                    region=form.region(),
                    size_kind=data["size_kind"],
                    size_value=data["size_value"],
                    exclude_seeds=data["exclude_seeds"],
                )
                if data["seed_kind"] == SeedKind.UPLOAD:
                    services.campaign_seeds_upload(
                        campaign_id=campaign.pk, owner=request.user, csv_text=data["seed_file"]
                    )
                services.campaign_build_start(campaign_id=campaign.pk, owner=request.user)
        except (ApplicationError, ValidationError) as exc:
            if isinstance(exc, ApplicationError) and exc.status_code == 403:
                raise PermissionDenied(exc.message) from exc
            form.add_service_error(exc)
        else:
            return redirect("campaign-detail-page", pk=campaign.pk)
    return render(request, "matching/campaigns/form.html", {"form": form})


def _status_context(campaign: Campaign) -> dict:
    statistics = campaign.statistics or {}
    histogram = statistics.get("score_histogram") or {"edges": [], "counts": []}
    edges = histogram["edges"]
    chart = {
        "labels": [f"{low:.2f}–{high:.2f}" for low, high in zip(edges, edges[1:], strict=False)],
        "counts": histogram["counts"],
        "label": "People in the audience",
        "xTitle": "Look-alike score",
        "yTitle": "People",
    }
    bins = [
        {"low": low, "high": high, "count": count}
        for low, high, count in zip(edges, edges[1:], histogram["counts"], strict=False)
    ]
    return {
        "campaign": campaign,
        "statistics": statistics,
        "histogram_chart": chart,
        "histogram_bins": bins,
        "export_form": ExportForm(initial={"identifier": "user_id"}),
        "poll_seconds": PROGRESS_POLL_SECONDS,
    }


@page(roles=MARKETERS)
@require_GET
def campaign_detail_page(request: HttpRequest, pk: int) -> HttpResponse:
    campaign = campaign_get(campaign_id=pk, owner=request.user)
    return render(request, "matching/campaigns/detail.html", _status_context(campaign))


@page(roles=MARKETERS)
@require_GET
def campaign_progress_page(request: HttpRequest, pk: int) -> HttpResponse:
    """The build's status panel alone: the progress bar polls it; once the build is over it brings the
    results (or the failure) and stops polling."""
    campaign = campaign_get(campaign_id=pk, owner=request.user)
    return render(request, "matching/campaigns/_status.html", _status_context(campaign))


@page(roles=MARKETERS)
@require_POST
def campaign_build_page(request: HttpRequest, pk: int) -> HttpResponse:
    """Start a draft's build, or resume a failed one (only its unfinished chunks run again)."""
    try:
        services.campaign_build_start(campaign_id=pk, owner=request.user)
    except ApplicationError as exc:
        messages.error(request, exc.message)
    return redirect("campaign-detail-page", pk=pk)


@page(roles=MARKETERS)
@require_GET
def campaign_export_page(request: HttpRequest, pk: int) -> HttpResponse:
    """The audience as a streamed CSV download (recorded as an export, like the API's)."""
    campaign = campaign_get(campaign_id=pk, owner=request.user)
    form = ExportForm(request.GET)
    if not form.is_valid():
        messages.error(request, "Choose how people are identified in the file.")
        return redirect("campaign-detail-page", pk=campaign.pk)
    identifier = form.cleaned_data["identifier"]
    try:
        export, lines = services.campaign_export_start(
            campaign_id=campaign.pk, user=request.user, identifier=identifier
        )
    except ApplicationError as exc:
        messages.error(request, exc.message)
        return redirect("campaign-detail-page", pk=campaign.pk)
    response = StreamingHttpResponse(lines, content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="campaign-{campaign.pk}-{identifier}.csv"'
    response["X-Export-Id"] = str(export.pk)
    response["Cache-Control"] = "no-store"
    return response
