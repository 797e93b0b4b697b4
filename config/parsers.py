"""Request parsers. Kept apart from config.api, which imports rest_framework.views: DRF's views read
DEFAULT_PARSER_CLASSES at import time, so the parser module must not import them back."""

from __future__ import annotations

import json
import math

from django.conf import settings
from django.core.exceptions import RequestDataTooBig
from rest_framework import exceptions
from rest_framework.parsers import JSONParser


def _nan_constant(name: str) -> float:
    # Accept NaN/Infinity *tokens* so the field that received one can reject it by name,
    # instead of the whole body failing with an anonymous parse error.
    return {"NaN": math.nan, "Infinity": math.inf, "-Infinity": -math.inf}[name]


class LenientNumberJSONParser(JSONParser):
    """JSON parser that turns NaN/Infinity into floats so serializers reject them per field."""

    def parse(self, stream, media_type=None, parser_context=None):
        parser_context = parser_context or {}
        encoding = parser_context.get("encoding", "utf-8")
        # DRF hands parsers the raw WSGI stream, bypassing Django's DATA_UPLOAD_MAX_MEMORY_SIZE check:
        # read at most one byte past the limit so an oversized body is refused without being buffered.
        limit = settings.DATA_UPLOAD_MAX_MEMORY_SIZE
        raw = stream.read(limit + 1) if stream is not None else b""
        if len(raw) > limit:
            raise RequestDataTooBig(f"more than {limit} bytes")
        if not raw:
            return {}
        try:
            return json.loads(raw.decode(encoding), parse_constant=_nan_constant)
        except (ValueError, UnicodeDecodeError) as exc:
            raise exceptions.ParseError(f"body: JSON parse error - {exc}") from exc
