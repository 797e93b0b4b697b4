"""Activities, who takes part in them, and who was invited."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import F, Q
from django.utils import timezone

from users import taxonomy
from users.models import Place, coordinate_constraints, geohash_prefix_index


class ActivityStatus(models.TextChoices):
    OPEN = "open", "Open"
    CANCELLED = "cancelled", "Cancelled"
    COMPLETED = "completed", "Completed"


class InvitationStatus(models.TextChoices):
    SENT = "sent", "Sent"
    ACCEPTED = "accepted", "Accepted"
    DECLINED = "declined", "Declined"
    EXPIRED = "expired", "Expired"


class Activity(models.Model):
    """Something to do together. Its venue is public, so its coordinates are exact."""

    Status = ActivityStatus

    organiser = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="organised_activities"
    )
    activity_type = models.CharField(max_length=16, choices=taxonomy.choices(taxonomy.ACTIVITY_TYPES))
    subtype = models.CharField(max_length=60, blank=True, help_text="e.g. 'doubles' for tennis.")
    title = models.CharField(max_length=120)
    description = models.TextField(max_length=2000, blank=True)
    latitude = models.FloatField()
    longitude = models.FloatField()
    geohash = models.CharField(max_length=12)
    place = models.ForeignKey(
        Place, on_delete=models.SET_NULL, null=True, blank=True, related_name="activities"
    )
    starts_at = models.DateTimeField()
    ends_at = models.DateTimeField()
    skill_level = models.PositiveSmallIntegerField(
        null=True, blank=True, help_text="1 (beginner) to 5 (expert)."
    )
    capacity = models.PositiveSmallIntegerField(help_text="Participants, organiser included.")
    status = models.CharField(max_length=12, choices=Status.choices, default=Status.OPEN)
    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name_plural = "activities"
        constraints = [
            *coordinate_constraints("activity"),
            models.CheckConstraint(condition=Q(ends_at__gt=F("starts_at")), name="activity_ends_after_start"),
            models.CheckConstraint(
                condition=Q(capacity__gte=2) & Q(capacity__lte=500), name="activity_capacity_range"
            ),
            models.CheckConstraint(
                condition=Q(skill_level__isnull=True)
                | (Q(skill_level__gte=taxonomy.SKILL_MIN) & Q(skill_level__lte=taxonomy.SKILL_MAX)),
                name="activity_skill_level_range",
            ),
            models.CheckConstraint(
                condition=Q(activity_type__in=taxonomy.ACTIVITY_TYPES), name="activity_type_valid"
            ),
            models.CheckConstraint(
                condition=Q(status__in=ActivityStatus.values), name="activity_status_valid"
            ),
        ]
        indexes = [
            geohash_prefix_index("activity"),
            models.Index(fields=["status", "starts_at"], name="activity_status_start"),
            models.Index(fields=["organiser", "starts_at"], name="activity_organiser_start"),
        ]

    def __str__(self) -> str:
        return self.title


class Participation(models.Model):
    activity = models.ForeignKey(Activity, on_delete=models.CASCADE, related_name="participations")
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="participations"
    )
    joined_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["activity", "user"], name="participation_unique")]
        indexes = [models.Index(fields=["user", "joined_at"], name="participation_user_time")]

    def __str__(self) -> str:
        return f"{self.user_id} in {self.activity_id}"


class Invitation(models.Model):
    Status = InvitationStatus

    activity = models.ForeignKey(Activity, on_delete=models.CASCADE, related_name="invitations")
    invitee = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="invitations"
    )
    invited_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="invitations_sent"
    )
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.SENT)
    #: The ranking score that led to the invitation, and the model version that produced it.
    score = models.FloatField(null=True, blank=True)
    model_version = models.CharField(max_length=64, blank=True)
    #: How `score` was made: each component's score, the blend weights and the ranking config
    #: (experiments compare invitations by it).
    score_details = models.JSONField(default=dict, blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    responded_at = models.DateTimeField(null=True, blank=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["activity", "invitee"], name="invitation_unique"),
            models.CheckConstraint(
                condition=Q(status__in=InvitationStatus.values), name="invitation_status_valid"
            ),
            models.CheckConstraint(
                condition=Q(status__in=["accepted", "declined"], responded_at__isnull=False)
                | Q(status__in=["sent", "expired"], responded_at__isnull=True),
                name="invitation_responded_iff_answered",
            ),
            models.CheckConstraint(condition=~Q(invitee=F("invited_by")), name="invitation_not_self"),
        ]
        indexes = [
            models.Index(fields=["invitee", "status"], name="invitation_invitee_status"),
            models.Index(fields=["status", "created_at"], name="invitation_status_time"),
            # The organiser's daily sending limit counts their invitations of the last 24 hours.
            models.Index(fields=["invited_by", "created_at"], name="invitation_sender_time"),
        ]

    def __str__(self) -> str:
        return f"{self.invitee_id} to {self.activity_id}: {self.status}"
