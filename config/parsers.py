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
            data = json.loads(raw.decode(encoding), parse_constant=_nan_constant)
        except (ValueError, UnicodeDecodeError) as exc:
            raise exceptions.ParseError(f"body: JSON parse error - {exc}") from exc
        except RecursionError as exc:  # "[[[[..." nested deeper than the interpreter's stack
            raise exceptions.ParseError("body: JSON parse error - nested too deeply") from exc
        try:
            # A "\ud800" escape decodes to a lone surrogate, which no database or UTF-8 response can hold:
            # refuse it here rather than 500 when an error message echoes it back.
            json.dumps(data, ensure_ascii=False).encode("utf-8")
        except UnicodeEncodeError as exc:
            raise exceptions.ParseError("body: JSON parse error - unpaired UTF-16 surrogate escape") from exc
        except RecursionError as exc:
            raise exceptions.ParseError("body: JSON parse error - nested too deeply") from exc
        return data
