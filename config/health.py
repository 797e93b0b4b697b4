"""Liveness of the parts Vicino depends on: database, cache (Redis) and Celery broker."""

from __future__ import annotations

import time

from django.conf import settings
from django.core.cache import cache
from django.db import connection
from drf_spectacular.utils import extend_schema, inline_serializer
from rest_framework import serializers
from rest_framework.permissions import AllowAny
from rest_framework.response import Response
from rest_framework.views import APIView

from config.celery import app as celery_app


def _check(fn) -> dict:
    started = time.perf_counter()
    try:
        detail = fn()
    except Exception as exc:  # a health check reports failures, it does not raise them
        return {"ok": False, "error": type(exc).__name__}
    return {"ok": True, "ms": round((time.perf_counter() - started) * 1000, 1), **(detail or {})}


def _database() -> dict:
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1")
        cursor.fetchone()
    return {"engine": connection.vendor}


def _cache() -> dict:
    cache.set("health:ping", "pong", 10)
    if cache.get("health:ping") != "pong":
        raise RuntimeError("cache round trip failed")
    return {"backend": "redis" if settings.REDIS_URL else "local-memory"}


def _broker() -> dict:
    if settings.CELERY_TASK_ALWAYS_EAGER:
        return {"mode": "eager (in-process)"}
    with celery_app.connection_for_write() as conn:
        conn.ensure_connection(max_retries=1, timeout=2)
    return {"mode": "redis"}


class HealthApi(APIView):
    """Public on purpose (load balancers and compose healthchecks call it). Reveals no data."""

    permission_classes = [AllowAny]
    authentication_classes: list = []

    @extend_schema(
        responses=inline_serializer(
            "Health", {"status": serializers.CharField(), "checks": serializers.DictField()}
        )
    )
    def get(self, request):
        checks = {"database": _check(_database), "redis": _check(_cache), "broker": _check(_broker)}
        healthy = all(c["ok"] for c in checks.values())
        return Response(
            {"status": "ok" if healthy else "degraded", "checks": checks}, status=200 if healthy else 503
        )
