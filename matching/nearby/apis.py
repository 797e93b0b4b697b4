"""The nearby API: the people around you, and waving at someone. Never a coordinate or a geohash of anyone.

Views are thin: they validate the shape of the input, call one service, and shape the output.
"""

from __future__ import annotations

from drf_spectacular.utils import extend_schema
from rest_framework import serializers
from rest_framework.permissions import IsAuthenticated
from rest_framework.response import Response
from rest_framework.views import APIView

from config.fields import FiniteFloatField
from config.schema import error_responses
from matching.nearby import privacy, services
from users.permissions import IsPersonOrOrganiser

MAX_RADIUS_KM = 50.0
DEFAULT_LIMIT, MAX_LIMIT = 20, 100


class DistanceBucketSerializer(serializers.Serializer):
    key = serializers.ChoiceField(choices=[(b.key, b.label) for b in privacy.DISTANCE_BUCKETS])
    label = serializers.CharField()


class NearbyPersonSerializer(serializers.Serializer):
    """Someone near you. Their distance is a bucket between ~1 km cells; no coordinate, no geohash."""

    id = serializers.IntegerField(source="user_id")
    display_name = serializers.CharField()
    age_group = serializers.CharField(allow_null=True, help_text="e.g. '25–34'; null when hidden or unknown.")
    reasons = serializers.ListField(child=serializers.CharField(), help_text="e.g. 'you both like music'.")
    shared_interests = serializers.ListField(child=serializers.CharField())
    similarity = serializers.FloatField(help_text="Look-alike similarity to you (and your friends), 0..1.")
    similarity_source = serializers.ChoiceField(
        choices=[("ralm", "RALM look-alike model"), ("profile", "Cosine of stated tastes")]
    )
    score = serializers.FloatField(help_text="w_d · distance score of the bucket + w_s · similarity.")
    distance = DistanceBucketSerializer(source="distance_bucket")


class NearbyListApi(APIView):
    permission_classes = [IsAuthenticated, IsPersonOrOrganiser]
    throttle_scope = "nearby"

    class FilterSerializer(serializers.Serializer):
        radius_km = FiniteFloatField(
            required=False,
            max_value=MAX_RADIUS_KM,
            help_text=f"More than 0, at most {MAX_RADIUS_KM:g}. Default 5 (or your experiment variant's).",
        )
        limit = serializers.IntegerField(
            required=False, min_value=1, max_value=MAX_LIMIT, default=DEFAULT_LIMIT
        )
        with_friends = serializers.BooleanField(
            required=False, default=False, help_text="Also use your mutual follows as look-alike seeds."
        )

        class Meta:
            ref_name = "NearbyFilter"

        def validate_radius_km(self, value: float) -> float:
            if value <= 0:
                raise serializers.ValidationError("Must be more than 0.")
            return value

    class OutputSerializer(serializers.Serializer):
        radius_km = serializers.FloatField()
        count = serializers.IntegerField()
        results = NearbyPersonSerializer(many=True)

        class Meta:
            ref_name = "NearbyList"

    @extend_schema(
        operation_id="nearby_list",
        parameters=[FilterSerializer],
        responses={200: OutputSerializer, **error_responses(400, 401, 403, 409, 429)},
        description=(
            "People near you, best first: a blend of a distance bucket and look-alike similarity, with a "
            "diversity pass. Distances are computed between ~1 km cells and shown only as buckets. "
            "409 until you have shared a location."
        ),
    )
    def get(self, request):
        filters = self.FilterSerializer(data=request.query_params)
        filters.is_valid(raise_exception=True)
        page = services.nearby_people_serve(
            user=request.user,
            radius_km=filters.validated_data.get("radius_km"),
            limit=filters.validated_data["limit"],
            with_friends=filters.validated_data["with_friends"],
        )
        return Response(nearby_page_data(page))


def nearby_page_data(page) -> dict:
    """The OutputSerializer's shape, built directly: this is the hottest endpoint, and DRF's generic
    field-by-field representation cost more CPU than the whole ranking. tests/matching/test_nearby_api.py
    checks that both give the same JSON."""
    return {
        "radius_km": page.radius_km,
        "count": len(page.results),
        "results": [
            {
                "id": person.user_id,
                "display_name": person.display_name,
                "age_group": person.age_group,
                "reasons": list(person.reasons),
                "shared_interests": list(person.shared_interests),
                "similarity": float(person.similarity),
                "similarity_source": person.similarity_source,
                "score": float(person.score),
                "distance": {"key": person.distance_bucket.key, "label": person.distance_bucket.label},
            }
            for person in page.results
        ],
    }
