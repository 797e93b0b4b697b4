"""OpenAPI pieces shared by every app: the one error shape, documented once."""

from __future__ import annotations

from drf_spectacular.utils import OpenApiResponse
from rest_framework import serializers


class ErrorBodySerializer(serializers.Serializer):
    code = serializers.CharField(help_text="Machine-readable, e.g. 'invalid', 'not_authenticated'.")
    message = serializers.CharField(
        help_text="Human-readable; names the field(s) at fault when there are any."
    )
    fields = serializers.DictField(
        child=serializers.ListField(child=serializers.CharField()),
        required=False,
        help_text="{field path: [messages]}, e.g. {'interests.knitting': ['...']}.",
    )


class ErrorSerializer(serializers.Serializer):
    error = ErrorBodySerializer()


_DESCRIPTIONS = {
    400: "Invalid input or a business rule refused it; the message names the field.",
    401: "Not authenticated.",
    403: "Authenticated, but not allowed.",
    404: "Not found.",
    409: "Conflicts with the current state (e.g. the activity is full).",
    429: "Throttled: too many requests.",
}


def error_responses(*status_codes: int) -> dict[int, OpenApiResponse]:
    """`responses={...}` entries for the given error statuses, all with the one error shape."""
    return {
        code: OpenApiResponse(response=ErrorSerializer, description=_DESCRIPTIONS[code])
        for code in status_codes
    }
