"""Test settings: the real services, never the embedded default.

PostgreSQL at 127.0.0.1:5432 and Redis at 127.0.0.1:6379 (override with TEST_DATABASE_URL and
TEST_REDIS_URL). Importing this module fails with a clear message when either is unreachable:
the suite never skips or silently falls back to SQLite.
"""

import os

os.environ.setdefault(
    "DATABASE_URL", os.environ.get("TEST_DATABASE_URL", "postgres://postgres@127.0.0.1:5432/vicino")
)
os.environ.setdefault("REDIS_URL", os.environ.get("TEST_REDIS_URL", "redis://127.0.0.1:6379/1"))
os.environ.setdefault("SECRET_KEY", "test-only-secret-key-not-for-production")

from config.servicecheck import require_services  # noqa: E402
from config.settings import *  # noqa: E402,F403
from config.settings import DATABASE_URL, REDIS_URL  # noqa: E402

require_services(database_url=DATABASE_URL, redis_url=REDIS_URL)

PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]  # speed only; tests use throwaway users
CELERY_TASK_ALWAYS_EAGER = False
REST_FRAMEWORK = {**REST_FRAMEWORK}  # noqa: F405
REST_FRAMEWORK["DEFAULT_THROTTLE_RATES"] = {
    "auth": "1000/min",
    "location": "1000/min",
    "interactions": "1000/min",
    "nearby": "1000/min",
}
# Serve static files straight from the finders: tests never run collectstatic.
WHITENOISE_USE_FINDERS = True
WHITENOISE_AUTOREFRESH = True
STATIC_ROOT = None
