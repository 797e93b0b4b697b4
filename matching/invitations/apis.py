"""The organiser's side of invitations: suggestions of whom to invite, and sending the invitations.

Answers carry display names, age groups, distance buckets, scores and reasons: never a coordinate, a
geohash or a continuous distance of anyone.
"""

from __future__ import annotations

from drf_spectacular.utils import extend_schema
from rest_framework import serializers, status
from rest_framework.permissions import IsAuthenticated
from rest_framework.response import Response
from rest_framework.views import APIView

from config.schema import error_responses
from matching.invitations.selectors import invitation_suggestions_list
from matching.invitations.services import invitations_send
from matching.nearby import privacy

BIGINT_MAX = 2**63 - 1
MAX_SUGGESTIONS = 100
MAX_INVITATIONS_PER_REQUEST = 100


class ScoresSerializer(serializers.Serializer):
    final = serializers.FloatField(help_text="The blend the list is ordered by, 0..1.")
    similarity = serializers.FloatField(
        allow_null=True, help_text="RALM look-alike probability against the participants; null: no model."
    )
    acceptance = serializers.FloatField(
        allow_null=True, help_text="DIN/ETA acceptance probability; null: no acceptance model is active."
    )
    distance = serializers.FloatField(help_text="Score of the distance bucket, 0..1.")


class ReasonSerializer(serializers.Serializer):
    code = serializers.CharField(
        help_text="similar_to_participants, likely_to_accept, likes_activity, skill_fits, free_then, "
        "shared_interests or nearby."
    )
    text = serializers.CharField()


class SuggestionSerializer(serializers.Serializer):
    user_id = serializers.IntegerField()
    display_name = serializers.CharField()
    age_group = serializers.CharField(allow_null=True, help_text="Null when unknown or hidden by the person.")
    distance_bucket = serializers.ChoiceField(
        choices=[(label, label) for label in privacy.DISTANCE_BUCKET_LABELS],
        allow_null=True,
        help_text="Between the venue and the person's position, both snapped to ~1 km cells.",
    )
    scores = ScoresSerializer(source="score")
    reasons = ReasonSerializer(many=True)


class ModelVersionsSerializer(serializers.Serializer):
    ralm = serializers.CharField(allow_null=True)
    acceptance = serializers.CharField(allow_null=True)


class SuggestionListSerializer(serializers.Serializer):
    activity_id = serializers.IntegerField(source="activity.pk")
    weights = serializers.DictField(
        child=serializers.FloatField(), source="scoring.weights", help_text="The blend weights applied."
    )
    model_versions = ModelVersionsSerializer(source="scoring.model_versions")
    results = SuggestionSerializer(many=True)


class SuggestionListApi(APIView):
    permission_classes = [IsAuthenticated]

    class FilterSerializer(serializers.Serializer):
        limit = serializers.IntegerField(min_value=1, max_value=MAX_SUGGESTIONS, required=False, default=20)

        class Meta:
            ref_name = "SuggestionFilter"

    @extend_schema(
        operation_id="activities_suggestions",
        parameters=[FilterSerializer],
        responses={200: SuggestionListSerializer, **error_responses(400, 401, 403, 404)},
        description=(
            "The activity's organiser only: people around the venue to invite, best first, each with its "
            "scores and reasons. Left out: participants, people already invited, blocks either way, "
            "clashing time preferences, a skill more than 1 level away."
        ),
    )
    def get(self, request, pk: int):
        filters = self.FilterSerializer(data=request.query_params)
        filters.is_valid(raise_exception=True)
        suggestions = invitation_suggestions_list(
            activity_id=pk, organiser=request.user, limit=filters.validated_data["limit"]
        )
        return Response(SuggestionListSerializer(suggestions).data)


class InvitationSentSerializer(serializers.Serializer):
    user_id = serializers.IntegerField()
    invitation_id = serializers.IntegerField(source="invitation.pk", allow_null=True, default=None)
    status = serializers.SerializerMethodField(
        help_text="The invitation's status, or 'participating' for someone already taking part."
    )
    created = serializers.BooleanField(help_text="False: they had been invited already; nothing was added.")
    score = serializers.FloatField(source="invitation.score", allow_null=True, default=None)

    def get_status(self, outcome) -> str:
        return "participating" if outcome.invitation is None else outcome.invitation.status


class InvitationSendApi(APIView):
    permission_classes = [IsAuthenticated]

    class InputSerializer(serializers.Serializer):
        user_ids = serializers.ListField(
            child=serializers.IntegerField(min_value=1, max_value=BIGINT_MAX),
            allow_empty=False,
            max_length=MAX_INVITATIONS_PER_REQUEST,
            help_text=f"The people to invite, at most {MAX_INVITATIONS_PER_REQUEST}.",
        )

        class Meta:
            ref_name = "InvitationSendInput"

    @extend_schema(
        operation_id="activities_invitations_send",
        request=InputSerializer,
        responses={
            200: InvitationSentSerializer(many=True),
            201: InvitationSentSerializer(many=True),
            **error_responses(400, 401, 403, 404, 429),
        },
        description=(
            "The activity's organiser only. Idempotent: 201 when at least one invitation was created, 200 "
            "when everyone had been invited already. A bad id is a 400 naming its position "
            "(`user_ids[2]`); 429 past the organiser's daily limit (nothing is sent)."
        ),
    )
    def post(self, request, pk: int):
        serializer = self.InputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        outcomes = invitations_send(
            activity_id=pk, organiser=request.user, user_ids=serializer.validated_data["user_ids"]
        )
        created = any(outcome.created for outcome in outcomes)
        return Response(
            InvitationSentSerializer(outcomes, many=True).data,
            status=status.HTTP_201_CREATED if created else status.HTTP_200_OK,
        )
