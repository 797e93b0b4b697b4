from django.contrib import admin

from activities.models import Activity, Invitation, Participation


class ParticipationInline(admin.TabularInline):
    model = Participation
    raw_id_fields = ("user",)
    extra = 0


@admin.register(Activity)
class ActivityAdmin(admin.ModelAdmin):
    list_display = ("title", "activity_type", "organiser", "starts_at", "capacity", "status")
    list_filter = ("activity_type", "status")
    search_fields = ("title", "description")
    raw_id_fields = ("organiser", "place")
    date_hierarchy = "starts_at"
    inlines = [ParticipationInline]


@admin.register(Invitation)
class InvitationAdmin(admin.ModelAdmin):
    list_display = ("activity", "invitee", "status", "score", "model_version", "created_at")
    list_filter = ("status",)
    raw_id_fields = ("activity", "invitee", "invited_by")
