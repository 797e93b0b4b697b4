"""The experiments API, for marketers: create, list, start, stop, and read the results.

Views are thin: they validate the shape of the input, call one service or selector, and shape the output.
"""

from __future__ import annotations

from django.http import Http404
from drf_spectacular.utils import extend_schema
from rest_framework import serializers, status
from rest_framework.permissions import IsAuthenticated
from rest_framework.response import Response
from rest_framework.views import APIView

from config.pagination import paginated_response, paginated_serializer, pagination_parameters
from config.schema import error_responses
from matching.experiments import selectors, services
from matching.experiments.models import Experiment, ExperimentMetric, ExperimentStatus, ExperimentSurface
from users.permissions import IsMarketer


class VariantSerializer(serializers.Serializer):
    key = serializers.CharField(max_length=32)
    weight = serializers.FloatField(help_text="Relative share of people; any positive numbers.")
    config = serializers.DictField(
        required=False,
        default=dict,
        help_text=(
            "What the variant changes. nearby: w_d, w_s (0..1), model_version, radius_km, candidate_cap; "
            "invitations: the same and w_a."
        ),
    )


class ExperimentSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    key = serializers.CharField()
    description = serializers.CharField()
    surface = serializers.ChoiceField(choices=ExperimentSurface.choices)
    metric = serializers.ChoiceField(choices=ExperimentMetric.choices)
    status = serializers.ChoiceField(choices=ExperimentStatus.choices)
    variants = VariantSerializer(many=True, help_text="The first variant is the control.")
    created_by = serializers.CharField(source="created_by.username")
    created_at = serializers.DateTimeField()
    started_at = serializers.DateTimeField(allow_null=True)
    stopped_at = serializers.DateTimeField(allow_null=True)


def _experiment(pk: int) -> Experiment:
    try:
        return selectors.experiment_get(experiment_id=pk)
    except Experiment.DoesNotExist:
        raise Http404("No such experiment.") from None


class ExperimentListCreateApi(APIView):
    permission_classes = [IsAuthenticated, IsMarketer]

    class InputSerializer(serializers.Serializer):
        key = serializers.SlugField(max_length=64)
        description = serializers.CharField(max_length=500, required=False, allow_blank=True, default="")
        surface = serializers.ChoiceField(choices=ExperimentSurface.choices)
        metric = serializers.ChoiceField(
            choices=ExperimentMetric.choices,
            required=False,
            help_text="Default: wave on nearby, invitation_accepted on invitations.",
        )
        salt = serializers.CharField(
            max_length=64, required=False, help_text="Default: random. Same salt + same ids = same split."
        )
        variants = serializers.ListField(child=serializers.DictField(), min_length=2, max_length=10)

        class Meta:
            ref_name = "ExperimentInput"

    @extend_schema(
        operation_id="experiments_list",
        parameters=pagination_parameters(),
        responses={200: paginated_serializer("PaginatedExperimentList", ExperimentSerializer),
                   **error_responses(401, 403)},
    )  # fmt: skip
    def get(self, request):
        return paginated_response(
            queryset=selectors.experiment_list(),
            serializer_class=ExperimentSerializer,
            request=request,
            view=self,
        )

    @extend_schema(
        operation_id="experiments_create",
        request=InputSerializer,
        responses={201: ExperimentSerializer, **error_responses(400, 401, 403)},
        description="A draft experiment; variants are [{key, weight, config}], the first being the control.",
    )
    def post(self, request):
        serializer = self.InputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        experiment = services.experiment_create(created_by=request.user, **serializer.validated_data)
        return Response(ExperimentSerializer(experiment).data, status=status.HTTP_201_CREATED)


class ExperimentDetailApi(APIView):
    permission_classes = [IsAuthenticated, IsMarketer]

    @extend_schema(
        operation_id="experiments_retrieve",
        responses={200: ExperimentSerializer, **error_responses(401, 403, 404)},
    )
    def get(self, request, pk: int):
        return Response(ExperimentSerializer(_experiment(pk)).data)


class ExperimentStartApi(APIView):
    permission_classes = [IsAuthenticated, IsMarketer]

    @extend_schema(
        operation_id="experiments_start",
        request=None,
        responses={200: ExperimentSerializer, **error_responses(401, 403, 404, 409)},
        description="draft → running. 409 while another experiment runs on the same surface.",
    )
    def post(self, request, pk: int):
        experiment = services.experiment_start(experiment_id=_experiment(pk).pk)
        return Response(ExperimentSerializer(experiment).data)


class ExperimentStopApi(APIView):
    permission_classes = [IsAuthenticated, IsMarketer]

    @extend_schema(
        operation_id="experiments_stop",
        request=None,
        responses={200: ExperimentSerializer, **error_responses(401, 403, 404, 409)},
        description="running → stopped. Outcomes after this moment no longer count.",
    )
    def post(self, request, pk: int):
        experiment = services.experiment_stop(experiment_id=_experiment(pk).pk)
        return Response(ExperimentSerializer(experiment).data)


class VariantResultSerializer(serializers.Serializer):
    key = serializers.CharField()
    weight = serializers.FloatField()
    is_control = serializers.BooleanField()
    n = serializers.IntegerField(help_text="People exposed.")
    conversions = serializers.IntegerField(help_text="Exposed people with the metric's event afterwards.")
    impressions = serializers.IntegerField(help_text="Results shown under this variant.")
    rate = serializers.FloatField(allow_null=True)
    ci_low = serializers.FloatField(allow_null=True, help_text="Wilson 95 % interval of the rate.")
    ci_high = serializers.FloatField(allow_null=True)
    absolute_lift = serializers.FloatField(allow_null=True, help_text="rate − control rate.")
    relative_lift = serializers.FloatField(allow_null=True, help_text="(rate − control rate) / control rate.")
    p_value = serializers.FloatField(allow_null=True, help_text="Chi-square test against the control.")


class SrmSerializer(serializers.Serializer):
    observed = serializers.DictField(child=serializers.IntegerField())
    expected = serializers.DictField(child=serializers.FloatField())
    chi2 = serializers.FloatField(allow_null=True)
    p_value = serializers.FloatField(allow_null=True)
    flagged = serializers.BooleanField(help_text="p < 0.001: the split is broken; do not trust the lifts.")


class ExperimentResultsApi(APIView):
    permission_classes = [IsAuthenticated, IsMarketer]

    class OutputSerializer(serializers.Serializer):
        experiment = ExperimentSerializer()
        metric = serializers.CharField()
        variants = VariantResultSerializer(many=True)
        overall_p_value = serializers.FloatField(allow_null=True)
        srm = SrmSerializer()

        class Meta:
            ref_name = "ExperimentResults"

    @extend_schema(
        operation_id="experiments_results",
        responses={200: OutputSerializer, **error_responses(401, 403, 404)},
    )
    def get(self, request, pk: int):
        results = selectors.experiment_results(experiment=_experiment(pk))
        analysis = results.analysis
        return Response(
            self.OutputSerializer(
                {
                    "experiment": results.experiment,
                    "metric": results.experiment.metric,
                    "variants": analysis.variants,
                    "overall_p_value": analysis.overall_p_value,
                    "srm": analysis.srm,
                }
            ).data
        )
