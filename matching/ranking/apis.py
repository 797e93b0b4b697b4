"""`GET /api/activities/for-you/`: the signed-in person's suggested activities, best first, with reasons."""

from __future__ import annotations

from drf_spectacular.utils import extend_schema
from rest_framework import serializers
from rest_framework.permissions import IsAuthenticated
from rest_framework.response import Response
from rest_framework.views import APIView

from activities.apis import ActivitySerializer
from config.schema import error_responses
from matching.ranking.selectors import activities_for_you_list

DEFAULT_LIMIT = 20
MAX_LIMIT = 50


class ActivityForYouSerializer(serializers.Serializer):
    activity = ActivitySerializer()
    score = serializers.FloatField(
        allow_null=True,
        help_text="The ranker's probability that you join (else the recall similarity); null in fallback.",
    )
    reasons = serializers.ListField(
        child=serializers.CharField(), help_text="Why, from your own history and the public venue."
    )


class ActivitiesForYouSerializer(serializers.Serializer):
    ranked_by = serializers.ChoiceField(
        choices=["ranker", "recall", "fallback"],
        help_text=(
            "ranker: two-tower recall (when active) then the DIN+ETA ranker; recall: the two-tower model "
            "alone; fallback: no model active, by venue distance bucket then soonest start."
        ),
    )
    results = ActivityForYouSerializer(many=True)


class ActivitiesForYouApi(APIView):
    permission_classes = [IsAuthenticated]

    class InputSerializer(serializers.Serializer):
        limit = serializers.IntegerField(
            min_value=1,
            max_value=MAX_LIMIT,
            required=False,
            default=DEFAULT_LIMIT,
            help_text=f"How many (1 to {MAX_LIMIT}, default {DEFAULT_LIMIT}).",
        )

        class Meta:
            ref_name = "ActivitiesForYouInput"

    @extend_schema(
        operation_id="activities_for_you",
        parameters=[InputSerializer],
        responses={200: ActivitiesForYouSerializer, **error_responses(400, 401)},
        description=(
            "Upcoming open activities you can still join (not started, not full, not joined, no block "
            "between you and the organiser), best first for you: two-tower recall over them, then the "
            "DIN+ETA acceptance ranker on your history of places and activities. Without an active model, "
            "the nearest venues (in distance buckets) and soonest starts come first."
        ),
    )
    def get(self, request):
        params = self.InputSerializer(data=request.query_params)
        params.is_valid(raise_exception=True)
        results = activities_for_you_list(user=request.user, limit=params.validated_data["limit"])
        ranked_by = results[0].ranked_by if results else "fallback"
        return Response(ActivitiesForYouSerializer({"ranked_by": ranked_by, "results": results}).data)
