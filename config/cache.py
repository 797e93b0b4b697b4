"""The raw Redis client behind Django's cache, for what the cache API cannot say in one step."""

from __future__ import annotations

from django.conf import settings


def redis_raw():
    """The raw Redis client behind the default cache, or None when the cache is not Redis (the embedded
    mode's local-memory cache)."""
    if not settings.CACHES["default"]["BACKEND"].startswith("django_redis."):
        return None
    from django_redis import get_redis_connection

    return get_redis_connection("default")
