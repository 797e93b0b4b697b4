"""The marketer's experiment pages: the list, a new experiment, start and stop, and the results.

Thin, like the API views (matching.experiments.apis): forms check shapes, matching.experiments.services
creates, starts and stops, matching.experiments.selectors reads and analyses.
"""

from __future__ import annotations

from django.contrib import messages
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_GET, require_POST

from config.api import ApplicationError
from config.pages import page
from matching.experiments import selectors, services
from matching.experiments.forms import ExperimentForm, VariantFormSet, experiment_forms_add_error
from matching.experiments.models import Experiment
from matching.selectors import model_version_list
from users.models import Role

MARKETERS = [Role.MARKETER]
#: The rows a new experiment starts with: the control and one treatment, equal shares.
INITIAL_VARIANTS = [{"key": "control", "weight": 1}, {"key": "treatment", "weight": 1}]


def _experiment(pk: int) -> Experiment:
    try:
        return selectors.experiment_get(experiment_id=pk)
    except Experiment.DoesNotExist:
        raise Http404("No such experiment.") from None


@page(roles=MARKETERS)
@require_GET
def experiment_list(request: HttpRequest) -> HttpResponse:
    return render(
        request, "matching/experiments/list.html", {"experiments": list(selectors.experiment_list())}
    )


@page(roles=MARKETERS)
def experiment_create(request: HttpRequest) -> HttpResponse:
    versions = [row.version for row in model_version_list(name=services.RALM_MODEL_NAME)]
    form = ExperimentForm(request.POST or None)
    variants = VariantFormSet(
        request.POST or None, prefix="variants", initial=INITIAL_VARIANTS, model_versions=versions
    )
    if request.method == "POST" and form.is_valid() and variants.is_valid():
        data = form.cleaned_data
        try:
            experiment = services.experiment_create(
                created_by=request.user,
                key=data["key"],
                surface=data["surface"],
                variants=variants.to_service_data(),
                metric=data["metric"] or None,
                description=data["description"],
                salt=data["salt"] or None,
            )
        except ApplicationError as exc:
            experiment_forms_add_error(form, variants, exc)
        else:
            messages.success(
                request, f"Experiment “{experiment.key}” is saved as a draft. Start it when ready."
            )
            return redirect("experiment-detail-page", pk=experiment.pk)
    return render(request, "matching/experiments/form.html", {"form": form, "variants": variants})


@page(roles=MARKETERS)
@require_GET
def experiment_detail(request: HttpRequest, pk: int) -> HttpResponse:
    experiment = _experiment(pk)
    results = selectors.experiment_results(experiment=experiment)
    analysis = results.analysis
    chart = {
        "labels": [variant.key for variant in analysis.variants],
        "rates": [variant.rate for variant in analysis.variants],
        "low": [variant.ci_low for variant in analysis.variants],
        "high": [variant.ci_high for variant in analysis.variants],
        "n": [variant.n for variant in analysis.variants],
    }
    configs = {variant["key"]: variant.get("config", {}) for variant in experiment.variants}
    context = {
        "experiment": experiment,
        "analysis": analysis,
        "rows": [
            {"result": variant, "config": configs.get(variant.key, {})} for variant in analysis.variants
        ],
        "chart": chart,
        "has_data": any(variant.n for variant in analysis.variants),
    }
    return render(request, "matching/experiments/detail.html", context)


def _transition(request: HttpRequest, pk: int, *, start: bool) -> HttpResponse:
    experiment = _experiment(pk)
    try:
        if start:
            services.experiment_start(experiment_id=experiment.pk)
        else:
            services.experiment_stop(experiment_id=experiment.pk)
    except ApplicationError as exc:
        messages.error(request, exc.message)
    else:
        messages.success(
            request,
            f"“{experiment.key}” is running: people are split between its variants from now on."
            if start
            else f"“{experiment.key}” is stopped: outcomes from now on no longer count.",
        )
    return redirect("experiment-detail-page", pk=experiment.pk)


@page(roles=MARKETERS)
@require_POST
def experiment_start(request: HttpRequest, pk: int) -> HttpResponse:
    return _transition(request, pk, start=True)


@page(roles=MARKETERS)
@require_POST
def experiment_stop(request: HttpRequest, pk: int) -> HttpResponse:
    return _transition(request, pk, start=False)
