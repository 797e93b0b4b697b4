"""A/B experiments on a ranking surface: variants, the exposure log and impression counts.

An experiment splits people between variants by a hash of (salt, user id) (see
matching.experiments.services.experiment_assign); its variants' configs change how the surface ranks
(blend weights, model version, candidate radius). What happened afterwards is read from the event log
(`users.InteractionEvent`, `activities.Invitation`), so outcomes need no table of their own.
"""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils import timezone


class ExperimentStatus(models.TextChoices):
    DRAFT = "draft", "Draft"
    RUNNING = "running", "Running"
    STOPPED = "stopped", "Stopped"


class ExperimentSurface(models.TextChoices):
    NEARBY = "nearby", "Nearby people"
    INVITATIONS = "invitations", "Activity invitations"


class ExperimentMetric(models.TextChoices):
    """The outcome a person converts on: at least one such event after their first exposure."""

    WAVE = "wave", "Waved at someone"
    LIKE = "like", "Liked someone"
    MESSAGE = "message", "Messaged someone"
    INVITATION_ACCEPTED = "invitation_accepted", "An invitation they sent was accepted"


class Experiment(models.Model):
    """One experiment on one surface. `variants` is a list of {"key", "weight", "config"}; the first is
    the control. Variants, weights and salt are frozen once it starts, which is what keeps assignment
    sticky while it runs."""

    Status = ExperimentStatus
    Surface = ExperimentSurface
    Metric = ExperimentMetric

    key = models.SlugField(max_length=64, unique=True)
    description = models.CharField(max_length=500, blank=True)
    surface = models.CharField(max_length=16, choices=ExperimentSurface.choices)
    metric = models.CharField(max_length=24, choices=ExperimentMetric.choices)
    status = models.CharField(max_length=8, choices=ExperimentStatus.choices, default=ExperimentStatus.DRAFT)
    salt = models.CharField(max_length=64)
    variants = models.JSONField()
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="experiments_created"
    )
    created_at = models.DateTimeField(default=timezone.now)
    started_at = models.DateTimeField(null=True, blank=True)
    stopped_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [
            models.CheckConstraint(
                condition=Q(status__in=ExperimentStatus.values), name="experiment_status_valid"
            ),
            models.CheckConstraint(
                condition=Q(surface__in=ExperimentSurface.values), name="experiment_surface_valid"
            ),
            models.CheckConstraint(
                condition=Q(metric__in=ExperimentMetric.values), name="experiment_metric_valid"
            ),
            # Two running experiments on one surface would fight over the same config keys.
            models.UniqueConstraint(
                fields=["surface"],
                condition=Q(status=ExperimentStatus.RUNNING),
                name="experiment_one_running_per_surface",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.key} ({self.surface}, {self.status})"


class ExperimentExposure(models.Model):
    """The first time a person was served a variant of a running experiment: one row per person."""

    experiment = models.ForeignKey(Experiment, on_delete=models.CASCADE, related_name="exposures")
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="exposures")
    variant = models.CharField(max_length=32)
    exposed_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["experiment", "user"], name="experimentexposure_unique"),
        ]
        indexes = [models.Index(fields=["experiment", "variant"], name="experimentexposure_variant")]

    def __str__(self) -> str:
        return f"{self.user_id} in {self.experiment_id}/{self.variant}"


class ExperimentImpressions(models.Model):
    """How many results a variant has shown, flushed from Redis counters (see services)."""

    experiment = models.ForeignKey(Experiment, on_delete=models.CASCADE, related_name="impressions")
    variant = models.CharField(max_length=32)
    impressions = models.BigIntegerField(default=0)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["experiment", "variant"], name="experimentimpressions_unique"),
        ]
        verbose_name_plural = "experiment impressions"

    def __str__(self) -> str:
        return f"{self.experiment_id}/{self.variant}: {self.impressions}"
