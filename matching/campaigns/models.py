"""Look-alike campaigns: a marketer's seed group expanded to the most similar other people.

Imported at the bottom of matching/models.py, so the models belong to the `matching` app.
"""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import F, Q
from django.utils import timezone


class CampaignStatus(models.TextChoices):
    DRAFT = "draft", "Draft"
    BUILDING = "building", "Building"
    SUCCEEDED = "succeeded", "Succeeded"
    FAILED = "failed", "Failed"


class SeedKind(models.TextChoices):
    LIFETIME_VALUE = "lifetime_value", "Lifetime value at least"
    TAG = "tag", "Tagged"
    UPLOAD = "upload", "Uploaded list"


class SizeKind(models.TextChoices):
    TOP_N = "top_n", "Top N"
    TOP_PERCENT = "top_percent", "Top % of eligible people"


class ExportIdentifier(models.TextChoices):
    USER_ID = "user_id", "User id"
    EMAIL_SHA256 = "email_sha256", "SHA-256 of the normalised e-mail address"


class Campaign(models.Model):
    """A campaign's definition, its build's plan and progress, and its result's statistics.

    The build (matching.campaigns.services) snapshots the seeds (CampaignSeed), the model version and the
    seeds' summary here when it is planned, so every chunk, on any worker and after any restart, scores
    against exactly the same thing.
    """

    Status = CampaignStatus

    owner = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="campaigns")
    name = models.CharField(max_length=120)
    seed_kind = models.CharField(max_length=16, choices=SeedKind.choices)
    seed_min_lifetime_value = models.DecimalField(max_digits=12, decimal_places=2, null=True, blank=True)
    seed_tag = models.SlugField(max_length=40, blank=True)
    #: Optional region: people whose current location lies within radius_km of the centre.
    region_latitude = models.FloatField(null=True, blank=True)
    region_longitude = models.FloatField(null=True, blank=True)
    region_radius_km = models.FloatField(null=True, blank=True)
    size_kind = models.CharField(max_length=12, choices=SizeKind.choices)
    size_top_n = models.PositiveIntegerField(null=True, blank=True)
    size_top_percent = models.FloatField(null=True, blank=True)
    #: Opted-out people are always excluded; the seeds themselves unless this is False.
    exclude_seeds = models.BooleanField(default=True)

    status = models.CharField(max_length=10, choices=CampaignStatus.choices, default=CampaignStatus.DRAFT)
    model_version = models.ForeignKey(
        "matching.ModelVersion", on_delete=models.PROTECT, null=True, blank=True, related_name="campaigns"
    )
    #: The seeds' RALM summary, in matching.seed_cache's raw float layout (never a pickle).
    seed_summary = models.BinaryField(null=True, blank=True)
    chunk_size = models.PositiveIntegerField(default=5000)
    seed_count = models.PositiveIntegerField(default=0)
    #: Seeds the summary was made of: those with an embedding or stored features.
    seeds_used = models.PositiveIntegerField(default=0)
    eligible_count = models.PositiveIntegerField(default=0)
    #: The audience size asked for, resolved against eligible_count when planned.
    target_size = models.PositiveIntegerField(default=0)
    member_count = models.PositiveIntegerField(default=0)
    total_chunks = models.PositiveIntegerField(default=0)
    done_chunks = models.PositiveIntegerField(default=0)
    done_people = models.PositiveIntegerField(default=0)
    statistics = models.JSONField(default=dict, blank=True)
    error = models.TextField(blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    planned_at = models.DateTimeField(null=True, blank=True)
    started_at = models.DateTimeField(null=True, blank=True)
    #: Last progress of the build (planned, or a chunk counted): what beat's stall check reads.
    progressed_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [
            models.CheckConstraint(
                condition=Q(status__in=CampaignStatus.values), name="campaign_status_valid"
            ),
            models.CheckConstraint(
                condition=(Q(seed_kind=SeedKind.LIFETIME_VALUE) & Q(seed_min_lifetime_value__isnull=False))
                | (Q(seed_kind=SeedKind.TAG) & ~Q(seed_tag=""))
                | Q(seed_kind=SeedKind.UPLOAD),
                name="campaign_seed_definition_complete",
            ),
            models.CheckConstraint(
                condition=(
                    Q(
                        region_latitude__isnull=True,
                        region_longitude__isnull=True,
                        region_radius_km__isnull=True,
                    )
                    | (
                        Q(region_latitude__gte=-90, region_latitude__lte=90)
                        & Q(region_longitude__gte=-180, region_longitude__lte=180)
                        & Q(region_radius_km__gt=0)
                    )
                ),
                name="campaign_region_all_or_nothing",
            ),
            models.CheckConstraint(
                condition=(Q(size_kind=SizeKind.TOP_N) & Q(size_top_n__gte=1))
                | (
                    Q(size_kind=SizeKind.TOP_PERCENT)
                    & Q(size_top_percent__gt=0)
                    & Q(size_top_percent__lte=100)
                ),
                name="campaign_size_complete",
            ),
            models.CheckConstraint(
                condition=Q(done_chunks__lte=F("total_chunks")) & Q(done_people__lte=F("eligible_count")),
                name="campaign_progress_within_plan",
            ),
        ]
        indexes = [
            models.Index(fields=["owner", "created_at"], name="campaign_owner_time"),
            models.Index(fields=["status", "progressed_at"], name="campaign_status_progress"),
        ]

    def __str__(self) -> str:
        return f"{self.name} ({self.status})"

    @property
    def has_region(self) -> bool:
        return self.region_radius_km is not None

    @property
    def stage(self) -> str:
        """draft, planning, scoring, ranking, succeeded or failed."""
        if self.status != CampaignStatus.BUILDING:
            return self.status
        if self.planned_at is None:
            return "planning"
        return "scoring" if self.done_chunks < self.total_chunks else "ranking"

    @property
    def percent(self) -> float:
        """How far the build is, 0..100, by eligible people scored (ranking counts as the last step)."""
        if self.status == CampaignStatus.SUCCEEDED:
            return 100.0
        if self.planned_at is None or self.eligible_count == 0:
            return 0.0
        return min(99.0, 100.0 * self.done_people / self.eligible_count)


class CampaignSeed(models.Model):
    """One seed of a campaign: uploaded, or resolved from the definition when the build is planned."""

    campaign = models.ForeignKey(Campaign, on_delete=models.CASCADE, related_name="seeds")
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")

    class Meta:
        constraints = [models.UniqueConstraint(fields=["campaign", "user"], name="campaignseed_unique")]

    def __str__(self) -> str:
        return f"seed {self.user_id} of campaign {self.campaign_id}"


class CampaignChunk(models.Model):
    """A slice of a build: the eligible people with first_user_id <= id < end_user_id.

    Fixed when the build is planned; `finished_at` flips from NULL once, in the transaction that writes
    the chunk's members, so a chunk's members are written exactly once however often it is delivered.
    """

    campaign = models.ForeignKey(Campaign, on_delete=models.CASCADE, related_name="chunks")
    index = models.PositiveIntegerField()
    first_user_id = models.BigIntegerField()
    end_user_id = models.BigIntegerField()
    people = models.PositiveIntegerField()
    #: Candidates the finishing attempt scored and kept (at most the target size).
    scored = models.PositiveIntegerField(null=True, blank=True)
    kept = models.PositiveIntegerField(null=True, blank=True)
    attempts = models.PositiveIntegerField(default=0)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["campaign", "index"], name="campaignchunk_unique"),
            models.CheckConstraint(
                condition=Q(end_user_id__gt=F("first_user_id")), name="campaignchunk_range_not_empty"
            ),
        ]

    def __str__(self) -> str:
        return f"chunk {self.index} of campaign {self.campaign_id}"


class CampaignMember(models.Model):
    """A person in a campaign's audience, with their look-alike score and, once ranked, their rank.

    While the build runs, each chunk writes the candidates that can still make the audience (rank NULL);
    the final step drops all but the target size and ranks them.
    """

    campaign = models.ForeignKey(Campaign, on_delete=models.CASCADE, related_name="members")
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    #: RALM look-alike probability against the seeds, 0..1.
    score = models.FloatField()
    rank = models.PositiveIntegerField(null=True, blank=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["campaign", "user"], name="campaignmember_unique")]
        indexes = [
            models.Index(fields=["campaign", "rank"], name="campaignmember_rank"),
            # The audience's order: the chunks' running cut-off and the final ranking read it.
            models.Index(fields=["campaign", "-score", "user"], name="campaignmember_order"),
        ]

    def __str__(self) -> str:
        return f"{self.user_id} in campaign {self.campaign_id} (rank {self.rank})"


class CampaignExport(models.Model):
    """Audit: who exported which campaign, with which identifier, when, and how many rows went out."""

    campaign = models.ForeignKey(Campaign, on_delete=models.CASCADE, related_name="exports")
    exported_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="campaign_exports"
    )
    identifier = models.CharField(max_length=16, choices=ExportIdentifier.choices)
    created_at = models.DateTimeField(default=timezone.now)
    #: Set when the stream finished; NULL means the download was cut short.
    rows = models.PositiveIntegerField(null=True, blank=True)
    completed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        indexes = [models.Index(fields=["campaign", "created_at"], name="campaignexport_time")]

    def __str__(self) -> str:
        return f"export of campaign {self.campaign_id} by user {self.exported_by_id}"
