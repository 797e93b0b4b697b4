"""The users API: sign-up, log-in, log-out, the caller's profile and their location.

Views are thin: they validate the shape of the input, call one service or selector, and shape the output.
"""

from __future__ import annotations

from django.contrib.auth import logout as django_logout
from django.contrib.auth.validators import UnicodeUsernameValidator
from drf_spectacular.utils import extend_schema
from rest_framework import serializers, status
from rest_framework.permissions import AllowAny, IsAuthenticated
from rest_framework.response import Response
from rest_framework.views import APIView

from config.fields import FiniteFloatField, LatitudeField, LongitudeField
from config.schema import error_responses
from users import services
from users.models import Profile, Report, Role
from users.permissions import IsPersonOrOrganiser
from users.selectors import me_get

# Output shapes shared by several views ------------------------------------------------------------


class OwnUserSerializer(serializers.Serializer):
    """The caller's own account (includes the email, which nobody else sees)."""

    id = serializers.IntegerField()
    username = serializers.CharField()
    email = serializers.EmailField()
    display_name = serializers.CharField()
    role = serializers.ChoiceField(choices=Role.choices)
    date_joined = serializers.DateTimeField()


class ProfileSerializer(serializers.Serializer):
    birth_year = serializers.IntegerField(allow_null=True)
    gender = serializers.CharField()
    education_level = serializers.IntegerField(allow_null=True)
    income_level = serializers.IntegerField(allow_null=True)
    occupation = serializers.CharField()
    marital_status = serializers.CharField()
    city_level = serializers.IntegerField(allow_null=True)
    years_at_residence = serializers.IntegerField(allow_null=True)
    languages = serializers.ListField(child=serializers.CharField())
    interests = serializers.DictField(child=serializers.FloatField())
    activity_preferences = serializers.DictField(child=serializers.FloatField())
    place_type_preferences = serializers.DictField(child=serializers.FloatField())
    time_preferences = serializers.DictField(child=serializers.FloatField())
    skills = serializers.DictField(child=serializers.IntegerField())
    bio = serializers.CharField()
    hide_from_nearby = serializers.BooleanField()
    show_age_group = serializers.BooleanField()
    allow_invitations = serializers.BooleanField()
    marketing_opt_out = serializers.BooleanField(help_text="Never in a marketing audience or export.")
    updated_at = serializers.DateTimeField(allow_null=True)


class OwnLocationSerializer(serializers.Serializer):
    """The caller's own exact position. Never used for anyone else."""

    latitude = serializers.FloatField()
    longitude = serializers.FloatField()
    accuracy_m = serializers.FloatField(allow_null=True)
    updated_at = serializers.DateTimeField()


class TokenUserSerializer(serializers.Serializer):
    token = serializers.CharField(help_text="Send as `Authorization: Token <token>`.")
    user = OwnUserSerializer()


def _token_user(token, user) -> dict:
    return TokenUserSerializer({"token": token.key, "user": user}).data


# Auth ---------------------------------------------------------------------------------------------


class SignupApi(APIView):
    authentication_classes: list = []
    permission_classes = [AllowAny]
    throttle_scope = "auth"

    class InputSerializer(serializers.Serializer):
        username = serializers.CharField(max_length=150, validators=[UnicodeUsernameValidator()])
        email = serializers.EmailField(max_length=254)
        password = serializers.CharField(
            max_length=256, trim_whitespace=False, style={"input_type": "password"}
        )
        display_name = serializers.CharField(max_length=60, required=False, allow_blank=True, default="")
        role = serializers.ChoiceField(
            choices=[(Role.PERSON, Role.PERSON.label), (Role.ORGANISER, Role.ORGANISER.label)],
            required=False,
            default=Role.PERSON,
            help_text="Marketer accounts are granted by staff, never chosen at sign-up.",
        )

        class Meta:
            ref_name = "SignupInput"

    @extend_schema(
        operation_id="auth_signup",
        request=InputSerializer,
        responses={201: TokenUserSerializer, **error_responses(400, 429)},
        auth=[],
    )
    def post(self, request):
        serializer = self.InputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        user = services.user_signup(**serializer.validated_data)
        token = services.auth_token_get(user=user)
        return Response(_token_user(token, user), status=status.HTTP_201_CREATED)


class LoginApi(APIView):
    authentication_classes: list = []
    permission_classes = [AllowAny]
    throttle_scope = "auth"

    class InputSerializer(serializers.Serializer):
        username = serializers.CharField(max_length=150)
        password = serializers.CharField(
            max_length=256, trim_whitespace=False, style={"input_type": "password"}
        )

        class Meta:
            ref_name = "LoginInput"

    @extend_schema(
        operation_id="auth_login",
        request=InputSerializer,
        responses={200: TokenUserSerializer, **error_responses(400, 429)},
        auth=[],
    )
    def post(self, request):
        serializer = self.InputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        user, token = services.auth_login(**serializer.validated_data)
        return Response(_token_user(token, user))


class LogoutApi(APIView):
    permission_classes = [IsAuthenticated]
    throttle_scope = "auth"

    @extend_schema(
        operation_id="auth_logout", request=None, responses={204: None, **error_responses(401, 403, 429)}
    )
    def post(self, request):
        services.auth_logout(user=request.user)
        if request.auth is None:  # authenticated by session, not by token: end the session too
            django_logout(request._request)
        return Response(status=status.HTTP_204_NO_CONTENT)


# The caller ---------------------------------------------------------------------------------------


class MeApi(APIView):
    permission_classes = [IsAuthenticated]

    class InputSerializer(serializers.Serializer):
        """Every field is optional: only those sent change."""

        display_name = serializers.CharField(max_length=60, required=False, allow_blank=True)
        birth_year = serializers.IntegerField(
            required=False, allow_null=True, help_text="Such that the age this year is 16 to 110."
        )
        gender = serializers.ChoiceField(choices=Profile.Gender.choices, required=False, allow_blank=True)
        education_level = serializers.ChoiceField(
            choices=Profile.Education.choices, required=False, allow_null=True
        )
        income_level = serializers.IntegerField(min_value=1, max_value=5, required=False, allow_null=True)
        occupation = serializers.ChoiceField(
            choices=Profile.Occupation.choices, required=False, allow_blank=True
        )
        marital_status = serializers.ChoiceField(
            choices=Profile.MaritalStatus.choices, required=False, allow_blank=True
        )
        city_level = serializers.IntegerField(min_value=1, max_value=5, required=False, allow_null=True)
        years_at_residence = serializers.IntegerField(
            min_value=0, max_value=120, required=False, allow_null=True
        )
        languages = serializers.ListField(
            child=serializers.RegexField(r"^[a-z]{2}$", max_length=2),
            max_length=services.MAX_LANGUAGES,
            required=False,
            help_text="ISO 639-1 codes, lowercase, e.g. ['en', 'it'].",
        )
        interests = serializers.DictField(
            child=FiniteFloatField(min_value=0, max_value=1),
            required=False,
            help_text="{interest: weight 0..1}",
        )
        activity_preferences = serializers.DictField(
            child=FiniteFloatField(min_value=0, max_value=1),
            required=False,
            help_text="{activity type: weight 0..1}",
        )
        place_type_preferences = serializers.DictField(
            child=FiniteFloatField(min_value=0, max_value=1),
            required=False,
            help_text="{place type: weight 0..1}",
        )
        time_preferences = serializers.DictField(
            child=FiniteFloatField(min_value=0, max_value=1),
            required=False,
            help_text="{weekday|weekend|morning|afternoon|evening|night: weight 0..1}",
        )
        skills = serializers.DictField(
            child=serializers.IntegerField(min_value=1, max_value=5),
            required=False,
            help_text="{activity type: level 1..5}",
        )
        bio = serializers.CharField(max_length=500, required=False, allow_blank=True)
        hide_from_nearby = serializers.BooleanField(required=False)
        show_age_group = serializers.BooleanField(required=False)
        allow_invitations = serializers.BooleanField(required=False)
        marketing_opt_out = serializers.BooleanField(
            required=False, help_text="True: never in a marketing audience or export."
        )

        class Meta:
            ref_name = "MeUpdateInput"

    class OutputSerializer(serializers.Serializer):
        user = OwnUserSerializer()
        profile = ProfileSerializer()
        location = OwnLocationSerializer(
            allow_null=True, help_text="Your own exact location; null if unknown."
        )

        class Meta:
            ref_name = "Me"

    def _me(self, request) -> Response:
        return Response(self.OutputSerializer(me_get(user=request.user)).data)

    @extend_schema(operation_id="me_retrieve", responses={200: OutputSerializer, **error_responses(401, 403)})
    def get(self, request):
        return self._me(request)

    @extend_schema(
        operation_id="me_update",
        request=InputSerializer,
        responses={200: OutputSerializer, **error_responses(400, 401, 403)},
    )
    def patch(self, request):
        serializer = self.InputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        services.profile_update(user=request.user, data=serializer.validated_data)
        return self._me(request)


class MeLocationApi(APIView):
    permission_classes = [IsAuthenticated]
    throttle_scope = "location"

    class InputSerializer(serializers.Serializer):
        latitude = LatitudeField()
        longitude = LongitudeField()
        accuracy_m = FiniteFloatField(
            min_value=0, max_value=1_000_000, required=False, allow_null=True, help_text="Metres."
        )

        class Meta:
            ref_name = "LocationUpdateInput"

    @extend_schema(
        operation_id="me_location_update",
        request=InputSerializer,
        responses={200: OwnLocationSerializer, **error_responses(400, 401, 403, 429)},
        description="Record where you are. Positions implying travel faster than 1,000 km/h are refused.",
    )
    def post(self, request):
        serializer = self.InputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        location = services.location_update(
            user=request.user,
            latitude=serializer.validated_data["latitude"],
            longitude=serializer.validated_data["longitude"],
            accuracy_m=serializer.validated_data.get("accuracy_m"),
        )
        return Response(OwnLocationSerializer(location).data)


# What people do to each other -----------------------------------------------------------------------


class DoneSerializer(serializers.Serializer):
    changed = serializers.BooleanField(help_text="False when it was already so (every action is idempotent).")


class GestureSerializer(serializers.Serializer):
    id = serializers.IntegerField(source="target_id", help_text="Whom it was for.")
    kind = serializers.CharField()
    at = serializers.DateTimeField(source="occurred_at")

    class Meta:
        ref_name = "Gesture"


class _PersonActionApi(APIView):
    permission_classes = [IsAuthenticated, IsPersonOrOrganiser]
    throttle_scope = "interactions"


def _person_schema(operation_id: str, description: str, request=None, response=DoneSerializer, status=200):
    return extend_schema(
        operation_id=operation_id,
        request=request,
        responses={status: response, **error_responses(400, 401, 403, 404, 429)},
        description=description,
    )


class PersonWaveApi(_PersonActionApi):
    @_person_schema(
        "person_wave",
        "Wave at someone you can see nearby. Counts as an outcome of the nearby experiment you are in.",
        response=GestureSerializer,
        status=201,
    )
    def post(self, request, person_id: int):
        event = services.person_gesture_send(actor=request.user, target_id=person_id, kind="wave")
        return Response(GestureSerializer(event).data, status=status.HTTP_201_CREATED)


class PersonLikeApi(_PersonActionApi):
    @_person_schema("person_like", "Like someone's profile.", response=GestureSerializer, status=201)
    def post(self, request, person_id: int):
        event = services.person_gesture_send(actor=request.user, target_id=person_id, kind="like")
        return Response(GestureSerializer(event).data, status=status.HTTP_201_CREATED)


class PersonFollowApi(_PersonActionApi):
    @_person_schema("person_follow", "Follow someone. Two people who follow each other are friends.")
    def post(self, request, person_id: int):
        changed = services.follow_set(actor=request.user, target_id=person_id, following=True)
        return Response(DoneSerializer({"changed": changed}).data)

    @_person_schema("person_unfollow", "Stop following someone.")
    def delete(self, request, person_id: int):
        changed = services.follow_set(actor=request.user, target_id=person_id, following=False)
        return Response(DoneSerializer({"changed": changed}).data)


class PersonBlockApi(_PersonActionApi):
    @_person_schema("person_block", "Block someone: you disappear from each other everywhere.")
    def post(self, request, person_id: int):
        changed = services.block_create(actor=request.user, target_id=person_id)
        return Response(DoneSerializer({"changed": changed}).data)

    @_person_schema("person_unblock", "Lift a block you made.")
    def delete(self, request, person_id: int):
        changed = services.block_delete(actor=request.user, target_id=person_id)
        return Response(DoneSerializer({"changed": changed}).data)


class PersonReportApi(_PersonActionApi):
    class InputSerializer(serializers.Serializer):
        reason = serializers.ChoiceField(choices=Report.Reason.choices)
        details = serializers.CharField(max_length=1000, required=False, allow_blank=True, default="")

        class Meta:
            ref_name = "ReportInput"

    class OutputSerializer(serializers.Serializer):
        id = serializers.IntegerField()
        reason = serializers.CharField()
        created_at = serializers.DateTimeField()

        class Meta:
            ref_name = "ReportOutput"

    @extend_schema(
        operation_id="person_report",
        request=InputSerializer,
        responses={201: OutputSerializer, **error_responses(400, 401, 404, 429)},
        description="Report someone to the moderators. They are blocked at the same time.",
    )
    def post(self, request, person_id: int):
        serializer = self.InputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        report = services.report_create(actor=request.user, target_id=person_id, **serializer.validated_data)
        return Response(self.OutputSerializer(report).data, status=status.HTTP_201_CREATED)
