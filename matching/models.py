"""The feature store: one row of feature vectors per person and schema version, and the full-refresh runs."""

from __future__ import annotations

import numpy as np
from django.conf import settings
from django.db import models
from django.db.models import F, Q
from django.utils import timezone

#: How every stored group vector is laid out: little-endian float32, shape (dim,), dim from the schema.
#: Explicit byte order keeps rows portable between machines; BinaryField keeps them portable between
#: PostgreSQL (bytea) and SQLite (BLOB), which a float[] column would not.
STORED_DTYPE = np.dtype("<f4")
#: One column per feature group, in schema order. `contextual` is the schema's request-time group
#: (GroupSchema.stored=False): its column keeps the as-of snapshot at the person's own position, for
#: training; serving recomputes it for the request and never reads it from here.
STORED_GROUPS: tuple[str, ...] = (
    "geographic",
    "behavioural",
    "social",
    "demographic",
    "preference",
    "contextual",
)


class FeatureStoreError(ValueError):
    """Stored or offered vectors do not match the feature schema. Never guessed around: fix the data."""


def group_vector_decode(*, raw: bytes | memoryview, dim: int, user_id: int, group: str) -> np.ndarray:
    """One stored group vector as float32 (dim,); a length that disagrees with the schema raises."""
    if len(raw) != dim * STORED_DTYPE.itemsize:
        raise FeatureStoreError(
            f"user {user_id}: the stored {group!r} vector has {len(raw)} bytes, but the schema says "
            f"{dim} float32 values ({dim * STORED_DTYPE.itemsize} bytes). Recompute it (compute_features)."
        )
    return np.frombuffer(raw, dtype=STORED_DTYPE).astype(np.float32)


class FeatureVector(models.Model):
    """A person's feature groups under one schema version, as of `as_of`.

    Each group column holds that group's `dim` values (SCHEMA.dims) as STORED_DTYPE, little-endian
    float32: `np.frombuffer(raw, "<f4")` has shape (dim,). Read them through matching.selectors, which
    checks the lengths against the schema; never decode the bytes by hand.
    """

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="feature_vectors"
    )
    schema_version = models.PositiveIntegerField()
    geographic = models.BinaryField()
    behavioural = models.BinaryField()
    social = models.BinaryField()
    demographic = models.BinaryField()
    preference = models.BinaryField()
    contextual = models.BinaryField()
    #: The instant the features describe: events at or after it were not counted.
    as_of = models.DateTimeField()
    computed_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["user", "schema_version"], name="featurevector_user_version_unique"
            )
        ]
        indexes = [
            # Training exports read one schema version ordered by user: an index range scan, no sort.
            models.Index(fields=["schema_version", "user"], name="featurevector_version_user"),
            # "Whose features are older than X" (staleness reports, partial refreshes).
            models.Index(fields=["schema_version", "as_of"], name="featurevector_version_asof"),
        ]

    def __str__(self) -> str:
        return f"features v{self.schema_version} of {self.user_id} as of {self.as_of:%Y-%m-%d %H:%M}"


class FeatureRefreshRunStatus(models.TextChoices):
    PENDING = "pending", "Pending"
    RUNNING = "running", "Running"
    SUCCEEDED = "succeeded", "Succeeded"
    FAILED = "failed", "Failed"


class FeatureRefreshRun(models.Model):
    """A full refresh: everyone's features as of `as_of`, in chunks any worker can take.

    Progress is counted per chunk, once (see FeatureRefreshChunk), so it can be polled while it runs.
    """

    Status = FeatureRefreshRunStatus

    as_of = models.DateTimeField()
    schema_version = models.PositiveIntegerField()
    chunk_size = models.PositiveIntegerField()
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.PENDING)
    total_people = models.PositiveIntegerField(default=0)
    total_chunks = models.PositiveIntegerField(default=0)
    done_chunks = models.PositiveIntegerField(default=0)
    done_people = models.PositiveIntegerField(default=0)
    #: The Celery task that created the run (beat's nightly one): a redelivery finds it instead of
    #: starting a second run.
    request_id = models.CharField(max_length=64, null=True, blank=True, unique=True)
    created_at = models.DateTimeField(default=timezone.now)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    error = models.TextField(blank=True)

    class Meta:
        constraints = [
            models.CheckConstraint(
                condition=Q(status__in=FeatureRefreshRunStatus.values), name="featurerefreshrun_status_valid"
            ),
            # Belt and braces against double counting: progress can never pass the plan.
            models.CheckConstraint(
                condition=Q(done_chunks__lte=F("total_chunks")) & Q(done_people__lte=F("total_people")),
                name="featurerefreshrun_progress_within_plan",
            ),
        ]
        indexes = [models.Index(fields=["status", "created_at"], name="featurerefreshrun_status")]

    def __str__(self) -> str:
        return f"feature refresh {self.pk} as of {self.as_of:%Y-%m-%d %H:%M} ({self.status})"

    @property
    def percent(self) -> float:
        """How far the run is, 0..100, by people (chunks are equal-sized but for the last)."""
        if self.total_people == 0:
            return 100.0 if self.status == FeatureRefreshRunStatus.SUCCEEDED else 0.0
        return 100.0 * self.done_people / self.total_people


class FeatureRefreshChunk(models.Model):
    """One slice of a run: the active people with first_user_id <= id < end_user_id.

    The slice is fixed when the run is planned, so a redelivered chunk recomputes the same people, and
    `finished_at` is set at most once, so it adds to the run's progress at most once.
    """

    run = models.ForeignKey(FeatureRefreshRun, on_delete=models.CASCADE, related_name="chunks")
    index = models.PositiveIntegerField()
    first_user_id = models.BigIntegerField()
    end_user_id = models.BigIntegerField()
    #: People in the slice when the run was planned: what finishing the chunk adds to done_people.
    people = models.PositiveIntegerField()
    #: Rows the finishing attempt wrote (people deleted since planning are skipped).
    stored = models.PositiveIntegerField(null=True, blank=True)
    #: Deliveries that started the chunk; more than one means a retry or a redelivery.
    attempts = models.PositiveIntegerField(default=0)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["run", "index"], name="featurerefreshchunk_run_index_unique"),
            models.CheckConstraint(
                condition=Q(end_user_id__gt=F("first_user_id")), name="featurerefreshchunk_range_not_empty"
            ),
        ]

    def __str__(self) -> str:
        return f"chunk {self.index} of run {self.run_id}: users [{self.first_user_id}, {self.end_user_id})"


# Model registry and embeddings ------------------------------------------------------------------


class ModelVersionStatus(models.TextChoices):
    CANDIDATE = "candidate", "Candidate"
    ACTIVE = "active", "Active"
    RETIRED = "retired", "Retired"


class ModelVersion(models.Model):
    """A trained model's artefact, its metrics and the feature schema it reads; at most one active per name.

    `artefact_path` is relative to settings.VICINO_MODEL_DIR (a directory of safetensors files with JSON
    sidecars, see matching.serving), so the registry survives moving the model directory. Serving loads
    the active version; activating another one switches every process over without a restart.
    """

    Status = ModelVersionStatus

    name = models.CharField(max_length=40)
    version = models.CharField(max_length=64)
    artefact_path = models.CharField(max_length=255)
    metrics = models.JSONField(default=dict, blank=True)
    #: The ml.features.schema version the model was trained on: serving refuses any other.
    feature_schema_version = models.PositiveIntegerField()
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.CANDIDATE)
    created_at = models.DateTimeField(default=timezone.now)
    activated_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["name", "version"], name="modelversion_name_version_unique"),
            # The database, not only the activation service, guarantees a single served version per name.
            models.UniqueConstraint(
                fields=["name"],
                condition=Q(status=ModelVersionStatus.ACTIVE),
                name="modelversion_one_active_per_name",
            ),
            models.CheckConstraint(
                condition=Q(status__in=ModelVersionStatus.values), name="modelversion_status_valid"
            ),
        ]
        indexes = [models.Index(fields=["name", "status"], name="modelversion_name_status")]

    def __str__(self) -> str:
        return f"{self.name} {self.version} ({self.status})"


class UserEmbedding(models.Model):
    """A person's universal user embedding (RALM stage 1) under one model version.

    `vector` holds STORED_DTYPE (little-endian float32) values, shape (embedding_dim,) of the model; read
    them through matching.selectors, which checks the length.
    """

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="embeddings")
    model_version = models.ForeignKey(ModelVersion, on_delete=models.CASCADE, related_name="embeddings")
    vector = models.BinaryField()
    #: as_of of the feature row the embedding was encoded from.
    features_as_of = models.DateTimeField()
    computed_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["model_version", "user"], name="userembedding_version_user_unique"
            )
        ]

    def __str__(self) -> str:
        return f"embedding of {self.user_id} under model version {self.model_version_id}"


# Models of matching's sub-packages: imported here so that Django finds them in the `matching` app.
from matching.campaigns.models import (  # noqa: E402,F401
    Campaign,
    CampaignChunk,
    CampaignExport,
    CampaignMember,
    CampaignSeed,
)
from matching.experiments.models import (  # noqa: E402,F401
    Experiment,
    ExperimentExposure,
    ExperimentImpressions,
)
