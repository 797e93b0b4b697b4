"""The activities API: list, create, read, edit, join and leave; the invitee's side of invitations.

Views are thin: they validate the shape of the input, call one service or selector, and shape the output.
"""

from __future__ import annotations

from drf_spectacular.utils import extend_schema
from rest_framework import serializers, status
from rest_framework.permissions import SAFE_METHODS, BasePermission, IsAuthenticated
from rest_framework.response import Response
from rest_framework.views import APIView

from activities import services
from activities.models import ActivityStatus, InvitationStatus
from activities.selectors import activity_get, activity_list, invitation_get, invitation_inbox_list
from config.fields import FiniteFloatField, LatitudeField, LongitudeField
from config.pagination import paginated_response, paginated_serializer, pagination_parameters
from config.schema import error_responses
from users import taxonomy
from users.models import Role

MAX_RADIUS_KM = 100.0
DEFAULT_RADIUS_KM = 10.0
BIGINT_MAX = 2**63 - 1


class IsOrganiserToCreate(BasePermission):
    message = "Only organisers can create activities."

    def has_permission(self, request, view):
        return request.method in SAFE_METHODS or getattr(request.user, "role", None) == Role.ORGANISER


class IsActivityOrganiserToEdit(BasePermission):
    message = "Only this activity's organiser can change it."

    def has_object_permission(self, request, view, obj):
        return request.method in SAFE_METHODS or obj.organiser_id == request.user.pk


# Output -------------------------------------------------------------------------------------------


class OrganiserSerializer(serializers.Serializer):
    """Who organises: a public name only, never a location."""

    id = serializers.IntegerField()
    name = serializers.CharField(source="public_name")


class PlaceRefSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    name = serializers.CharField()


class ActivitySerializer(serializers.Serializer):
    """An activity. Its venue is public, so latitude/longitude are exact."""

    id = serializers.IntegerField()
    activity_type = serializers.ChoiceField(choices=taxonomy.choices(taxonomy.ACTIVITY_TYPES))
    subtype = serializers.CharField()
    title = serializers.CharField()
    description = serializers.CharField()
    latitude = serializers.FloatField()
    longitude = serializers.FloatField()
    place = PlaceRefSerializer(allow_null=True)
    starts_at = serializers.DateTimeField()
    ends_at = serializers.DateTimeField()
    skill_level = serializers.IntegerField(allow_null=True)
    capacity = serializers.IntegerField()
    status = serializers.ChoiceField(choices=ActivityStatus.choices)
    organiser = OrganiserSerializer()
    participant_count = serializers.IntegerField(help_text="Organiser included.")
    joined = serializers.BooleanField(help_text="Whether you take part.")
    distance_km = serializers.FloatField(
        required=False, help_text="Only when the list is filtered by `near`."
    )
    created_at = serializers.DateTimeField()


class ActivityInputSerializer(serializers.Serializer):
    """What an organiser sets. Give latitude and longitude, or a place_id (its coordinates are then used)."""

    activity_type = serializers.ChoiceField(choices=taxonomy.choices(taxonomy.ACTIVITY_TYPES))
    subtype = serializers.CharField(max_length=60, required=False, allow_blank=True, default="")
    title = serializers.CharField(max_length=120)
    description = serializers.CharField(max_length=2000, required=False, allow_blank=True, default="")
    latitude = LatitudeField(required=False, allow_null=True, default=None)
    longitude = LongitudeField(required=False, allow_null=True, default=None)
    place_id = serializers.IntegerField(
        min_value=1, max_value=BIGINT_MAX, required=False, allow_null=True, default=None
    )
    starts_at = serializers.DateTimeField(help_text="In the future.")
    ends_at = serializers.DateTimeField(help_text="After starts_at.")
    skill_level = serializers.IntegerField(
        min_value=taxonomy.SKILL_MIN,
        max_value=taxonomy.SKILL_MAX,
        required=False,
        allow_null=True,
        default=None,
    )
    capacity = serializers.IntegerField(
        min_value=services.CAPACITY_MIN, max_value=services.CAPACITY_MAX, help_text="Organiser included."
    )

    class Meta:
        ref_name = "ActivityInput"


def _activity_response(activity_id: int, request, status_code: int = status.HTTP_200_OK) -> Response:
    activity = activity_get(activity_id=activity_id, viewer=request.user)
    return Response(ActivitySerializer(activity).data, status=status_code)


# Views --------------------------------------------------------------------------------------------


class ActivityListCreateApi(APIView):
    permission_classes = [IsAuthenticated, IsOrganiserToCreate]

    class FilterSerializer(serializers.Serializer):
        activity_type = serializers.ChoiceField(
            choices=taxonomy.choices(taxonomy.ACTIVITY_TYPES), required=False
        )
        status = serializers.ChoiceField(
            choices=ActivityStatus.choices, required=False, help_text="Default: open."
        )
        starts_after = serializers.DateTimeField(required=False, help_text="Default: now (upcoming only).")
        starts_before = serializers.DateTimeField(required=False)
        near = serializers.CharField(required=False, max_length=100, help_text="'latitude,longitude'")
        radius_km = FiniteFloatField(
            required=False,
            max_value=MAX_RADIUS_KM,
            help_text=f"With near; more than 0, at most {MAX_RADIUS_KM:g}. Default {DEFAULT_RADIUS_KM:g}.",
        )

        class Meta:
            ref_name = "ActivityFilter"

        def validate_near(self, value: str) -> tuple[float, float]:
            parts = value.split(",")
            if len(parts) != 2:
                raise serializers.ValidationError("Expected 'latitude,longitude'.")
            latitude = LatitudeField().run_validation(parts[0].strip())
            longitude = LongitudeField().run_validation(parts[1].strip())
            return latitude, longitude

        def validate_radius_km(self, value: float) -> float:
            if value <= 0:
                raise serializers.ValidationError("Ensure this value is greater than 0.")
            return value

        def validate(self, attrs):
            if "radius_km" in attrs and "near" not in attrs:
                raise serializers.ValidationError({"radius_km": "Only meaningful together with near."})
            if "near" in attrs:
                attrs.setdefault("radius_km", DEFAULT_RADIUS_KM)
            return attrs

    @extend_schema(
        operation_id="activities_list",
        parameters=[FilterSerializer, *pagination_parameters()],
        responses={
            200: paginated_serializer("PaginatedActivityList", ActivitySerializer),
            **error_responses(400, 401, 403),
        },
        description="Upcoming open activities by default, soonest first.",
    )
    def get(self, request):
        filters = self.FilterSerializer(data=request.query_params)
        filters.is_valid(raise_exception=True)
        activities = activity_list(viewer=request.user, filters=filters.validated_data)
        return paginated_response(
            queryset=activities, serializer_class=ActivitySerializer, request=request, view=self
        )

    @extend_schema(
        operation_id="activities_create",
        request=ActivityInputSerializer,
        responses={201: ActivitySerializer, **error_responses(400, 401, 403)},
        description="Organisers only. The organiser becomes the first participant.",
    )
    def post(self, request):
        serializer = ActivityInputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        activity = services.activity_create(organiser=request.user, **serializer.validated_data)
        return _activity_response(activity.pk, request, status.HTTP_201_CREATED)


class ActivityDetailApi(APIView):
    permission_classes = [IsAuthenticated, IsActivityOrganiserToEdit]

    @extend_schema(
        operation_id="activities_retrieve",
        responses={200: ActivitySerializer, **error_responses(401, 403, 404)},
    )
    def get(self, request, pk: int):
        return _activity_response(pk, request)

    def _update(self, request, pk: int, *, partial: bool) -> Response:
        activity = activity_get(activity_id=pk, viewer=request.user)
        self.check_object_permissions(request, activity)
        serializer = ActivityInputSerializer(data=request.data, partial=partial)
        serializer.is_valid(raise_exception=True)
        services.activity_update(activity_id=activity.pk, user=request.user, data=serializer.validated_data)
        return _activity_response(activity.pk, request)

    @extend_schema(
        operation_id="activities_partial_update",
        request=ActivityInputSerializer,
        responses={200: ActivitySerializer, **error_responses(400, 401, 403, 404)},
        description="The activity's organiser only; capacity cannot drop below the participant count.",
    )
    def patch(self, request, pk: int):
        return self._update(request, pk, partial=True)

    @extend_schema(
        operation_id="activities_update",
        request=ActivityInputSerializer,
        responses={200: ActivitySerializer, **error_responses(400, 401, 403, 404)},
        description=(
            "Replace every editable field (omitted optional ones reset). The activity's organiser only."
        ),
    )
    def put(self, request, pk: int):
        return self._update(request, pk, partial=False)


class ActivityJoinApi(APIView):
    permission_classes = [IsAuthenticated]

    @extend_schema(
        operation_id="activities_join",
        request=None,
        responses={
            200: ActivitySerializer,
            201: ActivitySerializer,
            **error_responses(400, 401, 403, 404, 409),
        },
        description=(
            "201 when you joined now, 200 when you had already joined. 409 when the activity is full."
        ),
    )
    def post(self, request, pk: int):
        _activity, joined_now = services.activity_join(activity_id=pk, user=request.user)
        return _activity_response(pk, request, status.HTTP_201_CREATED if joined_now else status.HTTP_200_OK)


class ActivityLeaveApi(APIView):
    permission_classes = [IsAuthenticated]

    @extend_schema(
        operation_id="activities_leave",
        request=None,
        responses={204: None, **error_responses(400, 401, 403, 404)},
        description="Leave before the activity starts; leaving twice is fine. The organiser cannot leave.",
    )
    def post(self, request, pk: int):
        services.activity_leave(activity_id=pk, user=request.user)
        return Response(status=status.HTTP_204_NO_CONTENT)


# Invitations: the invitee's side ------------------------------------------------------------------


class InvitationActivitySerializer(serializers.Serializer):
    """The activity an invitation is for. Its venue is public, so latitude/longitude are exact."""

    id = serializers.IntegerField()
    activity_type = serializers.ChoiceField(choices=taxonomy.choices(taxonomy.ACTIVITY_TYPES))
    title = serializers.CharField()
    latitude = serializers.FloatField()
    longitude = serializers.FloatField()
    place = PlaceRefSerializer(allow_null=True)
    starts_at = serializers.DateTimeField()
    ends_at = serializers.DateTimeField()
    skill_level = serializers.IntegerField(allow_null=True)
    capacity = serializers.IntegerField()
    status = serializers.ChoiceField(choices=ActivityStatus.choices)
    organiser = OrganiserSerializer()


class InvitationSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    status = serializers.ChoiceField(
        choices=InvitationStatus.choices,
        source="effective_status",
        help_text="'expired' as soon as the activity has started.",
    )
    activity = InvitationActivitySerializer()
    created_at = serializers.DateTimeField()
    responded_at = serializers.DateTimeField(allow_null=True)


def _invitation_response(invitation_id: int, request, status_code: int = status.HTTP_200_OK) -> Response:
    invitation = invitation_get(invitation_id=invitation_id, invitee=request.user)
    return Response(InvitationSerializer(invitation).data, status=status_code)


class InvitationInboxApi(APIView):
    permission_classes = [IsAuthenticated]

    class FilterSerializer(serializers.Serializer):
        status = serializers.ChoiceField(
            choices=InvitationStatus.choices, required=False, help_text="Default: every status."
        )

        class Meta:
            ref_name = "InvitationFilter"

    @extend_schema(
        operation_id="invitations_list",
        parameters=[FilterSerializer, *pagination_parameters()],
        responses={
            200: paginated_serializer("PaginatedInvitationList", InvitationSerializer),
            **error_responses(400, 401),
        },
        description="The invitations you received, newest first.",
    )
    def get(self, request):
        filters = self.FilterSerializer(data=request.query_params)
        filters.is_valid(raise_exception=True)
        invitations = invitation_inbox_list(invitee=request.user, status=filters.validated_data.get("status"))
        return paginated_response(
            queryset=invitations, serializer_class=InvitationSerializer, request=request, view=self
        )


class InvitationAcceptApi(APIView):
    permission_classes = [IsAuthenticated]

    @extend_schema(
        operation_id="invitations_accept",
        request=None,
        responses={
            200: InvitationSerializer,
            201: InvitationSerializer,
            **error_responses(400, 401, 403, 404, 409),
        },
        description=(
            "Take a place in the activity. 201 when you accepted now, 200 when you had already. 409 with "
            "code 'full' when the activity has no place left (the invitation stays open), 'declined' or "
            "'expired' when it can no longer be accepted. Only the invitee may; anyone else gets 404."
        ),
    )
    def post(self, request, pk: int):
        _invitation, accepted_now = services.invitation_accept(invitation_id=pk, user=request.user)
        return _invitation_response(
            pk, request, status.HTTP_201_CREATED if accepted_now else status.HTTP_200_OK
        )


class InvitationDeclineApi(APIView):
    permission_classes = [IsAuthenticated]

    @extend_schema(
        operation_id="invitations_decline",
        request=None,
        responses={200: InvitationSerializer, **error_responses(401, 404, 409)},
        description=(
            "Decline; declining twice is fine. 409 with code 'accepted' once accepted (leave the activity "
            "instead) or 'expired' once the activity has started."
        ),
    )
    def post(self, request, pk: int):
        services.invitation_decline(invitation_id=pk, user=request.user)
        return _invitation_response(pk, request)
