from django.contrib import admin
from django.contrib.auth.admin import UserAdmin as DjangoUserAdmin

from users.models import (
    AppSession,
    Block,
    Follow,
    InteractionEvent,
    Location,
    LocationPing,
    Place,
    Profile,
    Report,
    User,
    UserTag,
    Visit,
)


class ProfileInline(admin.StackedInline):
    model = Profile
    can_delete = False


class UserTagInline(admin.TabularInline):
    model = UserTag
    extra = 0


@admin.register(User)
class UserAdmin(DjangoUserAdmin):
    list_display = ("username", "display_name", "email", "role", "is_staff", "date_joined")
    list_filter = ("role", "is_staff", "is_active")
    search_fields = ("username", "display_name", "email")
    fieldsets = (*DjangoUserAdmin.fieldsets, ("Vicino", {"fields": ("role", "display_name")}))
    inlines = [ProfileInline, UserTagInline]


@admin.register(Location)
class LocationAdmin(admin.ModelAdmin):
    list_display = ("user", "geohash", "accuracy_m", "updated_at")
    search_fields = ("user__username", "geohash")
    raw_id_fields = ("user",)


class AppendOnlyAdmin(admin.ModelAdmin):
    """History and event rows are facts: the admin may read them, never edit them."""

    def has_change_permission(self, request, obj=None):
        return False

    def has_add_permission(self, request):
        return False


@admin.register(LocationPing)
class LocationPingAdmin(AppendOnlyAdmin):
    list_display = ("user", "geohash", "recorded_at", "source")
    list_filter = ("source",)
    raw_id_fields = ("user",)
    date_hierarchy = "recorded_at"


@admin.register(InteractionEvent)
class InteractionEventAdmin(AppendOnlyAdmin):
    list_display = ("kind", "actor", "target", "activity_id", "occurred_at")
    list_filter = ("kind",)
    raw_id_fields = ("actor", "target")
    date_hierarchy = "occurred_at"


@admin.register(Place)
class PlaceAdmin(admin.ModelAdmin):
    list_display = ("name", "category", "place_type", "source", "external_id")
    list_filter = ("place_type", "source")
    search_fields = ("name", "category", "external_id")


@admin.register(Visit)
class VisitAdmin(admin.ModelAdmin):
    list_display = ("user", "place", "visited_at")
    raw_id_fields = ("user", "place")
    date_hierarchy = "visited_at"


@admin.register(Follow)
class FollowAdmin(admin.ModelAdmin):
    list_display = ("follower", "followee", "created_at")
    raw_id_fields = ("follower", "followee")


@admin.register(Block)
class BlockAdmin(admin.ModelAdmin):
    list_display = ("blocker", "blocked", "created_at")
    raw_id_fields = ("blocker", "blocked")


@admin.register(Report)
class ReportAdmin(admin.ModelAdmin):
    list_display = ("reported", "reason", "reporter", "created_at", "reviewed_at")
    list_filter = ("reason", "reviewed_at")
    raw_id_fields = ("reporter", "reported")


@admin.register(AppSession)
class AppSessionAdmin(admin.ModelAdmin):
    list_display = ("user", "platform", "started_at", "ended_at")
    list_filter = ("platform",)
    raw_id_fields = ("user",)
