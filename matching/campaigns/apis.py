"""The campaigns API (marketers only): define, upload seeds, build, follow progress, read, export.

A marketer sees their own campaigns only; anyone else's is a 404. Nothing here carries a location.
"""

from __future__ import annotations

from django.core.exceptions import RequestDataTooBig
from django.http import StreamingHttpResponse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import (
    OpenApiExample,
    OpenApiParameter,
    OpenApiResponse,
    extend_schema,
    extend_schema_field,
)
from rest_framework import exceptions, serializers, status
from rest_framework.parsers import BaseParser
from rest_framework.permissions import BasePermission, IsAuthenticated
from rest_framework.response import Response
from rest_framework.views import APIView

from config.fields import FiniteFloatField, LatitudeField, LongitudeField
from config.pagination import paginated_response, paginated_serializer, pagination_parameters
from config.schema import error_responses
from matching.campaigns import services
from matching.campaigns.models import CampaignStatus, ExportIdentifier, SeedKind, SizeKind
from matching.campaigns.selectors import campaign_get, campaign_list, campaign_member_list
from users.models import Role

#: An uploaded seed CSV may be this large: ~100,000 ids, more than the JSON body limit allows.
MAX_CSV_BYTES = 2 * 1024 * 1024


class IsMarketer(BasePermission):
    message = "Only marketers can run campaigns."

    def has_permission(self, request, view):
        return getattr(request.user, "role", None) == Role.MARKETER


class CsvParser(BaseParser):
    """A text/csv body as text, read with its own size limit (the JSON limit is too small for seed lists)."""

    media_type = "text/csv"

    def parse(self, stream, media_type=None, parser_context=None):
        raw = stream.read(MAX_CSV_BYTES + 1) if stream is not None else b""
        if len(raw) > MAX_CSV_BYTES:
            raise RequestDataTooBig(f"more than {MAX_CSV_BYTES} bytes")
        try:
            return raw.decode("utf-8-sig")  # spreadsheets like to start with a byte-order mark
        except UnicodeDecodeError as exc:
            raise exceptions.ParseError(f"csv: not UTF-8 text - {exc}") from exc


# Serializers ------------------------------------------------------------------------------------------


class SeedSerializer(serializers.Serializer):
    kind = serializers.ChoiceField(choices=SeedKind.choices)
    min_lifetime_value = serializers.DecimalField(
        max_digits=12, decimal_places=2, min_value=0, required=False, help_text="With kind lifetime_value."
    )
    tag = serializers.SlugField(max_length=40, required=False, help_text="With kind tag.")

    class Meta:
        ref_name = "CampaignSeedDefinition"

    def validate(self, attrs):
        if attrs["kind"] == SeedKind.LIFETIME_VALUE and "min_lifetime_value" not in attrs:
            raise serializers.ValidationError({"min_lifetime_value": "Required with kind lifetime_value."})
        if attrs["kind"] == SeedKind.TAG and "tag" not in attrs:
            raise serializers.ValidationError({"tag": "Required with kind tag."})
        return attrs


class RegionSerializer(serializers.Serializer):
    latitude = LatitudeField()
    longitude = LongitudeField()
    radius_km = FiniteFloatField(min_value=0.001, max_value=services.MAX_REGION_RADIUS_KM)

    class Meta:
        ref_name = "CampaignRegion"


class SizeSerializer(serializers.Serializer):
    kind = serializers.ChoiceField(choices=SizeKind.choices)
    value = FiniteFloatField(help_text="top_n: a whole number of people; top_percent: above 0, at most 100.")

    class Meta:
        ref_name = "CampaignSize"


class CampaignInputSerializer(serializers.Serializer):
    name = serializers.CharField(max_length=services.NAME_MAX)
    seed = SeedSerializer()
    region = RegionSerializer(required=False, allow_null=True, default=None)
    size = SizeSerializer()
    exclude_seeds = serializers.BooleanField(
        required=False,
        default=True,
        help_text="Leave the seeds out of the audience (opted-out people always are).",
    )

    class Meta:
        ref_name = "CampaignInput"


class ScoreHistogramSerializer(serializers.Serializer):
    edges = serializers.ListField(child=serializers.FloatField())
    counts = serializers.ListField(child=serializers.IntegerField())


class FeatureDifferenceSerializer(serializers.Serializer):
    feature = serializers.CharField()
    seeds = serializers.FloatField()
    audience = serializers.FloatField()


class FeatureGroupComparisonSerializer(serializers.Serializer):
    group = serializers.CharField()
    features_compared = serializers.IntegerField(help_text="Coordinates are never compared.")
    seed_mean = serializers.FloatField()
    audience_mean = serializers.FloatField()
    rms_difference = serializers.FloatField()
    cosine = serializers.FloatField(allow_null=True)
    largest_differences = FeatureDifferenceSerializer(many=True)


class StatisticsSerializer(serializers.Serializer):
    score_histogram = ScoreHistogramSerializer()
    seeds_with_features = serializers.IntegerField()
    audience_with_features = serializers.IntegerField()
    feature_groups = FeatureGroupComparisonSerializer(many=True)


class CampaignSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    name = serializers.CharField()
    seed = serializers.SerializerMethodField()
    region = serializers.SerializerMethodField()
    size = serializers.SerializerMethodField()
    exclude_seeds = serializers.BooleanField()
    status = serializers.ChoiceField(choices=CampaignStatus.choices)
    stage = serializers.CharField(help_text="draft, planning, scoring, ranking, succeeded or failed.")
    percent = serializers.FloatField(help_text="Build progress, 0..100.")
    model_version = serializers.CharField(source="model_version.version", allow_null=True, default=None)
    seed_count = serializers.IntegerField()
    seeds_used = serializers.IntegerField(help_text="Seeds the model knows (an embedding or features).")
    eligible_count = serializers.IntegerField()
    target_size = serializers.IntegerField()
    member_count = serializers.IntegerField()
    total_chunks = serializers.IntegerField()
    done_chunks = serializers.IntegerField()
    statistics = serializers.SerializerMethodField()
    error = serializers.CharField()
    created_at = serializers.DateTimeField()
    started_at = serializers.DateTimeField(allow_null=True)
    finished_at = serializers.DateTimeField(allow_null=True)

    @extend_schema_field(SeedSerializer)
    def get_seed(self, campaign) -> dict:
        seed = {"kind": campaign.seed_kind}
        if campaign.seed_kind == SeedKind.LIFETIME_VALUE:
            seed["min_lifetime_value"] = str(campaign.seed_min_lifetime_value)
        elif campaign.seed_kind == SeedKind.TAG:
            seed["tag"] = campaign.seed_tag
        return seed

    @extend_schema_field(RegionSerializer(allow_null=True))
    def get_region(self, campaign) -> dict | None:
        if not campaign.has_region:
            return None
        return {
            "latitude": campaign.region_latitude,
            "longitude": campaign.region_longitude,
            "radius_km": campaign.region_radius_km,
        }

    @extend_schema_field(SizeSerializer)
    def get_size(self, campaign) -> dict:
        value = campaign.size_top_n if campaign.size_kind == SizeKind.TOP_N else campaign.size_top_percent
        return {"kind": campaign.size_kind, "value": value}

    @extend_schema_field(StatisticsSerializer(allow_null=True))
    def get_statistics(self, campaign) -> dict | None:
        return campaign.statistics or None


class MemberSerializer(serializers.Serializer):
    rank = serializers.IntegerField()
    user_id = serializers.IntegerField()
    score = serializers.FloatField(help_text="Look-alike probability against the seeds, 0..1.")


# Views ------------------------------------------------------------------------------------------------


class CampaignListCreateApi(APIView):
    permission_classes = [IsAuthenticated, IsMarketer]

    @extend_schema(
        operation_id="campaigns_list",
        parameters=pagination_parameters(),
        responses={
            200: paginated_serializer("PaginatedCampaignList", CampaignSerializer),
            **error_responses(401, 403),
        },
        description="Your campaigns, newest first.",
    )
    def get(self, request):
        return paginated_response(
            queryset=campaign_list(owner=request.user),
            serializer_class=CampaignSerializer,
            request=request,
            view=self,
        )

    @extend_schema(
        operation_id="campaigns_create",
        request=CampaignInputSerializer,
        responses={201: CampaignSerializer, **error_responses(400, 401, 403)},
        description=(
            "A draft campaign. Seeds: people with lifetime value ≥ X, people with a tag, or an uploaded list "
            "(PUT …/seeds/ next). Size: top N, or top % of the eligible people. Then POST …/build/."
        ),
        examples=[
            OpenApiExample(
                "VIP look-alikes in Manhattan",
                value={
                    "name": "VIP look-alikes",
                    "seed": {"kind": "lifetime_value", "min_lifetime_value": "500.00"},
                    "region": {"latitude": 40.758, "longitude": -73.9855, "radius_km": 8},
                    "size": {"kind": "top_percent", "value": 5},
                },
                request_only=True,
            )
        ],
    )
    def post(self, request):
        serializer = CampaignInputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        campaign = services.campaign_create(
            owner=request.user,
            name=data["name"],
            seed_kind=data["seed"]["kind"],
            seed_min_lifetime_value=data["seed"].get("min_lifetime_value"),
            seed_tag=data["seed"].get("tag", ""),
            region=data["region"],
            size_kind=data["size"]["kind"],
            size_value=data["size"]["value"],
            exclude_seeds=data["exclude_seeds"],
        )
        return Response(CampaignSerializer(campaign).data, status=status.HTTP_201_CREATED)


class CampaignDetailApi(APIView):
    permission_classes = [IsAuthenticated, IsMarketer]

    @extend_schema(
        operation_id="campaigns_retrieve",
        responses={200: CampaignSerializer, **error_responses(401, 403, 404)},
        description="The campaign, its build's progress (`stage`, `percent`) and, once built, statistics.",
    )
    def get(self, request, pk: int):
        return Response(CampaignSerializer(campaign_get(campaign_id=pk, owner=request.user)).data)


class SeedUploadResultSerializer(serializers.Serializer):
    seed_count = serializers.IntegerField()


class CampaignSeedsApi(APIView):
    permission_classes = [IsAuthenticated, IsMarketer]
    parser_classes = [CsvParser]

    @extend_schema(
        operation_id="campaigns_seeds_upload",
        request={"text/csv": OpenApiTypes.STR},
        responses={200: SeedUploadResultSerializer, **error_responses(400, 401, 403, 404, 409)},
        description=(
            "Replace an upload campaign's seeds with a CSV of user ids (`Content-Type: text/csv`, at "
            f"most {MAX_CSV_BYTES // 1024 // 1024} MB): one column, or a `user_id` column with a header row. "
            "All or nothing: a bad file is a 400 naming each bad row, e.g. `csv.row[7]: 'x' is not a user id`"
        ),
    )
    def put(self, request, pk: int):
        text = request.data if isinstance(request.data, str) else ""
        count = services.campaign_seeds_upload(campaign_id=pk, owner=request.user, csv_text=text)
        return Response({"seed_count": count})


class CampaignBuildApi(APIView):
    permission_classes = [IsAuthenticated, IsMarketer]

    @extend_schema(
        operation_id="campaigns_build",
        request=None,
        responses={202: CampaignSerializer, 200: CampaignSerializer, **error_responses(400, 401, 403, 404)},
        description=(
            "Start the build on the workers (202), or resume one that stopped: only its unfinished chunks "
            "run again. 200 when the campaign is built already. Poll the campaign for `percent`."
        ),
    )
    def post(self, request, pk: int):
        campaign = services.campaign_build_start(campaign_id=pk, owner=request.user)
        code = status.HTTP_200_OK if campaign.status == CampaignStatus.SUCCEEDED else status.HTTP_202_ACCEPTED
        return Response(CampaignSerializer(campaign).data, status=code)


class CampaignMemberListApi(APIView):
    permission_classes = [IsAuthenticated, IsMarketer]

    @extend_schema(
        operation_id="campaigns_members",
        parameters=pagination_parameters(),
        responses={
            200: paginated_serializer("PaginatedCampaignMemberList", MemberSerializer),
            **error_responses(401, 403, 404),
        },
        description="The audience, best first (empty until the build has succeeded).",
    )
    def get(self, request, pk: int):
        campaign = campaign_get(campaign_id=pk, owner=request.user)
        return paginated_response(
            queryset=campaign_member_list(campaign=campaign),
            serializer_class=MemberSerializer,
            request=request,
            view=self,
        )


class CampaignExportApi(APIView):
    permission_classes = [IsAuthenticated, IsMarketer]

    class FilterSerializer(serializers.Serializer):
        identifier = serializers.ChoiceField(
            choices=ExportIdentifier.choices,
            help_text=(
                "user_id, or email_sha256: SHA-256 (lowercase hex) of the e-mail address, stripped and "
                "lowercased."
            ),
        )

        class Meta:
            ref_name = "CampaignExportFilter"

    @extend_schema(
        operation_id="campaigns_export",
        parameters=[
            OpenApiParameter(
                "identifier",
                OpenApiTypes.STR,
                enum=ExportIdentifier.values,
                required=True,
                description="user_id, or email_sha256 (members without an e-mail address are left out).",
            )
        ],
        responses={
            (200, "text/csv"): OpenApiResponse(
                response=OpenApiTypes.STR, description="`rank,score,<identifier>`, best first; streamed."
            ),
            **error_responses(400, 401, 403, 404, 409),
        },
        description=(
            "The built audience as a streamed CSV. Every export is recorded (who, which campaign, which "
            "identifier, when, how many rows). Never carries a location."
        ),
    )
    def get(self, request, pk: int):
        filters = self.FilterSerializer(data=request.query_params)
        filters.is_valid(raise_exception=True)
        identifier = filters.validated_data["identifier"]
        export, lines = services.campaign_export_start(
            campaign_id=pk, user=request.user, identifier=identifier
        )
        response = StreamingHttpResponse(lines, content_type="text/csv; charset=utf-8")
        response["Content-Disposition"] = f'attachment; filename="campaign-{pk}-{identifier}.csv"'
        response["X-Export-Id"] = str(export.pk)
        response["Cache-Control"] = "no-store"
        return response
