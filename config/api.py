"""API plumbing shared by every app: one error type, one JSON error shape, a JSON parser.

Every error response looks like::

    {"error": {"code": "invalid", "message": "latitude: Ensure this value is less than or equal to 90.",
               "fields": {"latitude": ["Ensure this value is less than or equal to 90."]}}}

`message` always names the field(s) at fault when there is one; `fields` maps each to its messages.
"""

from __future__ import annotations

import logging
from typing import Any

from django.conf import settings
from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
from django.core.exceptions import RequestDataTooBig, TooManyFieldsSent
from django.core.exceptions import ValidationError as DjangoValidationError
from django.http import Http404
from rest_framework import exceptions, status
from rest_framework.response import Response
from rest_framework.views import exception_handler as drf_exception_handler

logger = logging.getLogger(__name__)


class ApplicationError(Exception):
    """A business rule said no. Services raise it; the API turns it into a 4xx with the one shape."""

    def __init__(
        self, message: str, *, field: str | None = None, code: str = "invalid", status_code: int = 400
    ):
        super().__init__(message)
        self.message = message
        self.field = field
        self.code = code
        self.status_code = status_code


def _flatten(detail: Any, prefix: str = "") -> dict[str, list[str]]:
    """DRF's nested error detail → {"field.sub": [messages]}."""
    out: dict[str, list[str]] = {}
    if isinstance(detail, dict):
        for key, value in detail.items():
            name = f"{prefix}.{key}" if prefix else str(key)
            if key == "non_field_errors":
                name = prefix or "non_field_errors"
            for k, v in _flatten(value, name).items():
                out.setdefault(k, []).extend(v)
    elif isinstance(detail, list):
        if all(not isinstance(item, dict | list) for item in detail):
            out[prefix or "non_field_errors"] = [str(item) for item in detail]
        else:
            for index, item in enumerate(detail):
                for k, v in _flatten(item, f"{prefix}[{index}]").items():
                    out.setdefault(k, []).extend(v)
    else:
        out[prefix or "non_field_errors"] = [str(detail)]
    return out


def error_response(
    *, code: str, message: str, status_code: int, fields: dict[str, list[str]] | None = None
) -> Response:
    body: dict[str, Any] = {"code": code, "message": message}
    if fields:
        body["fields"] = fields
    return Response({"error": body}, status=status_code)


def _body_too_big(exc: Exception) -> Response:
    if isinstance(exc, TooManyFieldsSent):
        detail = f"Too many fields (the limit is {settings.DATA_UPLOAD_MAX_NUMBER_FIELDS})."
    else:
        limit_kb = settings.DATA_UPLOAD_MAX_MEMORY_SIZE // 1024
        detail = f"The request body is larger than the {limit_kb} KB limit."
    return error_response(
        code="request_too_large",
        message=f"body: {detail}",
        status_code=status.HTTP_400_BAD_REQUEST,
        fields={"body": [detail]},
    )


def exception_handler(exc: Exception, context: dict) -> Response | None:
    if isinstance(exc, ApplicationError):
        fields = {exc.field: [exc.message]} if exc.field else None
        message = f"{exc.field}: {exc.message}" if exc.field else exc.message
        return error_response(code=exc.code, message=message, status_code=exc.status_code, fields=fields)
    if isinstance(exc, RequestDataTooBig | TooManyFieldsSent):
        return _body_too_big(exc)
    if isinstance(exc, DjangoValidationError):
        exc = exceptions.ValidationError(
            detail=exc.message_dict if hasattr(exc, "error_dict") else exc.messages
        )
    if isinstance(exc, Http404):
        exc = exceptions.NotFound()
    if isinstance(exc, DjangoPermissionDenied):
        exc = exceptions.PermissionDenied()

    response = drf_exception_handler(exc, context)
    if response is None:
        return None  # a real bug: let Django log it and answer 500

    if isinstance(exc, exceptions.ValidationError):
        fields = _flatten(exc.detail)
        message = "; ".join(f"{name}: {' '.join(msgs)}" for name, msgs in fields.items())
        response.data = {"error": {"code": "invalid", "message": message, "fields": fields}}
    else:
        detail = exc.detail if isinstance(exc, exceptions.APIException) else str(exc)
        code = exc.get_codes() if isinstance(exc, exceptions.APIException) else "error"
        if isinstance(code, dict | list):
            code = "error"
        response.data = {"error": {"code": str(code), "message": str(detail)}}
    return response
