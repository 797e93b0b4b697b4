from django.contrib import admin

from matching.models import (
    Campaign,
    CampaignChunk,
    CampaignExport,
    CampaignMember,
    CampaignSeed,
    Experiment,
    ExperimentExposure,
    ExperimentImpressions,
    FeatureRefreshChunk,
    FeatureRefreshRun,
    FeatureVector,
    ModelVersion,
    UserEmbedding,
)


class ReadOnlyAdmin(admin.ModelAdmin):
    """Computed rows: the jobs write them; the admin only shows them."""

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False


@admin.register(FeatureVector)
class FeatureVectorAdmin(ReadOnlyAdmin):
    list_display = ("user", "schema_version", "as_of", "computed_at")
    list_filter = ("schema_version",)
    raw_id_fields = ("user",)
    exclude = ("geographic", "behavioural", "social", "demographic", "preference", "contextual")


class FeatureRefreshChunkInline(admin.TabularInline):
    model = FeatureRefreshChunk
    fields = ("index", "first_user_id", "end_user_id", "people", "stored", "attempts", "finished_at")
    readonly_fields = fields
    can_delete = False
    extra = 0
    max_num = 0


@admin.register(FeatureRefreshRun)
class FeatureRefreshRunAdmin(ReadOnlyAdmin):
    list_display = ("pk", "status", "progress", "total_people", "as_of", "started_at", "finished_at")
    list_filter = ("status",)
    inlines = [FeatureRefreshChunkInline]

    @admin.display(description="progress")
    def progress(self, run: FeatureRefreshRun) -> str:
        if not run.total_chunks:
            return "–"
        return f"{run.done_chunks}/{run.total_chunks} chunks ({100 * run.done_chunks // run.total_chunks}%)"


@admin.register(ModelVersion)
class ModelVersionAdmin(ReadOnlyAdmin):
    """Registered by train_ralm, switched by matching.services.model_version_activate (which also tells
    every process): editing the status here would bypass both."""

    list_display = ("name", "version", "status", "feature_schema_version", "created_at", "activated_at")
    list_filter = ("name", "status")


@admin.register(UserEmbedding)
class UserEmbeddingAdmin(ReadOnlyAdmin):
    list_display = ("user", "model_version", "features_as_of", "computed_at")
    list_filter = ("model_version",)
    raw_id_fields = ("user",)
    exclude = ("vector",)


class ExperimentImpressionsInline(admin.TabularInline):
    model = ExperimentImpressions
    fields = ("variant", "impressions")


# Campaigns: built by their Celery job, exported through the API (which audits it); read-only here.


class CampaignChunkInline(admin.TabularInline):
    model = CampaignChunk
    fields = ("index", "first_user_id", "end_user_id", "people", "scored", "kept", "attempts", "finished_at")
    readonly_fields = fields
    can_delete = False
    extra = 0
    max_num = 0


@admin.register(Experiment)
class ExperimentAdmin(admin.ModelAdmin):
    """Experiments are created and started through the API (its services validate and freeze them)."""

    list_display = ("key", "surface", "metric", "status", "created_at", "started_at", "stopped_at")
    list_filter = ("surface", "status")
    search_fields = ("key",)
    readonly_fields = ("key", "surface", "metric", "status", "salt", "variants", "created_by", "created_at",
                       "started_at", "stopped_at")  # fmt: skip
    inlines = [ExperimentImpressionsInline]

    def has_add_permission(self, request):
        return False


@admin.register(ExperimentExposure)
class ExperimentExposureAdmin(ReadOnlyAdmin):
    list_display = ("experiment", "user", "variant", "exposed_at")
    list_filter = ("experiment", "variant")
    raw_id_fields = ("user",)


@admin.register(Campaign)
class CampaignAdmin(ReadOnlyAdmin):
    list_display = ("name", "owner", "status", "seed_kind", "target_size", "member_count", "created_at")
    list_filter = ("status", "seed_kind")
    raw_id_fields = ("owner", "model_version")
    exclude = ("seed_summary",)
    inlines = [CampaignChunkInline]


@admin.register(CampaignSeed)
class CampaignSeedAdmin(ReadOnlyAdmin):
    list_display = ("campaign", "user")
    raw_id_fields = ("campaign", "user")


@admin.register(CampaignMember)
class CampaignMemberAdmin(ReadOnlyAdmin):
    list_display = ("campaign", "rank", "user", "score")
    raw_id_fields = ("campaign", "user")


@admin.register(CampaignExport)
class CampaignExportAdmin(ReadOnlyAdmin):
    """The export audit: never editable."""

    list_display = ("campaign", "exported_by", "identifier", "created_at", "rows", "completed_at")
    list_filter = ("identifier",)
    raw_id_fields = ("campaign", "exported_by")
