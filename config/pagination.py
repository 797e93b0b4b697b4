"""Limit/offset pagination for thin APIViews (which do not get GenericAPIView's helpers)."""

from __future__ import annotations

from django.db.models import QuerySet
from rest_framework import serializers
from rest_framework.pagination import LimitOffsetPagination
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView


class LimitOffset(LimitOffsetPagination):
    default_limit = 50
    max_limit = 200


def paginated_response(
    *, queryset: QuerySet, serializer_class: type[serializers.Serializer], request: Request, view: APIView
) -> Response:
    paginator = LimitOffset()
    page = paginator.paginate_queryset(queryset, request, view=view)
    return paginator.get_paginated_response(serializer_class(page, many=True).data)


def pagination_parameters() -> list:
    """The limit/offset query parameters, for extend_schema(parameters=...)."""
    from drf_spectacular.types import OpenApiTypes
    from drf_spectacular.utils import OpenApiParameter

    return [
        OpenApiParameter(
            "limit",
            OpenApiTypes.INT,
            description=f"Page size (default {LimitOffset.default_limit}, at most {LimitOffset.max_limit}).",
        ),
        OpenApiParameter("offset", OpenApiTypes.INT, description="How many results to skip."),
    ]


def paginated_serializer(name: str, item: type[serializers.Serializer]) -> serializers.Serializer:
    """The schema of a paginated list of `item`, for extend_schema(responses=...)."""
    from drf_spectacular.utils import inline_serializer

    return inline_serializer(
        name,
        {
            "count": serializers.IntegerField(),
            "next": serializers.URLField(allow_null=True),
            "previous": serializers.URLField(allow_null=True),
            "results": item(many=True),
        },
    )
