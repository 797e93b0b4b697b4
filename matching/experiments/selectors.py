"""Reads for experiments: the list, one experiment, and its results."""

from __future__ import annotations

from dataclasses import dataclass

from django.db.models import Count, Exists, OuterRef, Q, QuerySet

from activities.models import Invitation, InvitationStatus
from matching.experiments import services
from matching.experiments.models import (
    Experiment,
    ExperimentExposure,
    ExperimentImpressions,
    ExperimentMetric,
)
from matching.experiments.stats import Analysis, VariantCounts, experiment_analyse
from users.models import EventKind, InteractionEvent

_EVENT_KIND = {
    ExperimentMetric.WAVE: EventKind.WAVE,
    ExperimentMetric.LIKE: EventKind.LIKE,
    ExperimentMetric.MESSAGE: EventKind.MESSAGE,
}


def experiment_list() -> QuerySet[Experiment]:
    return Experiment.objects.select_related("created_by").order_by("-created_at", "-pk")


def experiment_get(*, experiment_id: int) -> Experiment:
    return Experiment.objects.select_related("created_by").get(pk=experiment_id)


def _converted(experiment: Experiment) -> Exists:
    """Whether the exposed person (OuterRef) had an outcome after their first exposure, and before the
    experiment stopped."""
    if experiment.metric == ExperimentMetric.INVITATION_ACCEPTED:
        outcomes = Invitation.objects.filter(
            invited_by_id=OuterRef("user_id"),
            status=InvitationStatus.ACCEPTED,
            responded_at__gte=OuterRef("exposed_at"),
        )
        moment = "responded_at"
    else:
        outcomes = InteractionEvent.objects.filter(
            actor_id=OuterRef("user_id"),
            kind=_EVENT_KIND[experiment.metric],
            occurred_at__gte=OuterRef("exposed_at"),
        )
        moment = "occurred_at"
    if experiment.stopped_at is not None:
        outcomes = outcomes.filter(**{f"{moment}__lte": experiment.stopped_at})
    return Exists(outcomes)


@dataclass(frozen=True)
class ExperimentResults:
    experiment: Experiment
    analysis: Analysis


def experiment_results(*, experiment: Experiment) -> ExperimentResults:
    """Exposed people and conversions per variant (one query), impressions (one query and a Redis read),
    and their analysis."""
    per_variant = {
        row["variant"]: row
        for row in ExperimentExposure.objects.filter(experiment=experiment)
        .annotate(converted=_converted(experiment))
        .values("variant")
        .annotate(exposed=Count("pk"), conversions=Count("pk", filter=Q(converted=True)))
        .order_by()
    }
    impressions = dict(
        ExperimentImpressions.objects.filter(experiment=experiment).values_list("variant", "impressions")
    )
    for variant, count in services.impressions_pending(experiment_id=experiment.pk).items():
        impressions[variant] = impressions.get(variant, 0) + count
    counts = [
        VariantCounts(
            key=variant["key"],
            weight=float(variant["weight"]),
            exposed=per_variant.get(variant["key"], {}).get("exposed", 0),
            converted=per_variant.get(variant["key"], {}).get("conversions", 0),
            impressions=impressions.get(variant["key"], 0),
        )
        for variant in experiment.variants
    ]
    return ExperimentResults(experiment=experiment, analysis=experiment_analyse(variants=counts))
