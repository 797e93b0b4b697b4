"""Settings come from the environment; the embedded default needs no service; tests insist on real ones."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured

from config.servicecheck import require_services

ROOT = Path(__file__).resolve().parents[2]
PROBE = (
    "import json, django; django.setup(); from django.conf import settings as s; "
    "print(json.dumps({'engine': s.DATABASES['default']['ENGINE'], 'cache': s.CACHES['default']['BACKEND'], "
    "'eager': s.CELERY_TASK_ALWAYS_EAGER, 'debug': s.DEBUG, 'hosts': s.ALLOWED_HOSTS, "
    "'data': str(s.VICINO_DATA_DIR), 'broker': s.CELERY_BROKER_URL}))"
)


def _settings_in_subprocess(env: dict[str, str], tmp_path: Path) -> subprocess.CompletedProcess:
    clean = {
        k: v for k, v in os.environ.items() if k not in {"DATABASE_URL", "REDIS_URL", "SECRET_KEY", "DEBUG"}
    }
    clean.update({"DJANGO_SETTINGS_MODULE": "config.settings", "VICINO_VAR_DIR": str(tmp_path), **env})
    return subprocess.run(
        [sys.executable, "-c", PROBE], cwd=ROOT, env=clean, capture_output=True, text=True, timeout=60
    )


def test_embedded_default_uses_sqlite_eager_tasks_and_local_memory(tmp_path):
    result = _settings_in_subprocess({}, tmp_path)
    assert result.returncode == 0, result.stderr
    probe = json.loads(result.stdout)
    assert probe["engine"] == "django.db.backends.sqlite3"
    assert probe["cache"].endswith("LocMemCache")
    assert probe["eager"] is True
    assert probe["debug"] is False
    # The embedded mode makes its own secret key, outside the repository, readable only by its owner.
    key_file = tmp_path / "secret_key"
    assert key_file.exists() and oct(key_file.stat().st_mode & 0o777) == "0o600"


def test_environment_selects_postgres_redis_and_a_real_broker(tmp_path):
    result = _settings_in_subprocess(
        {
            "DATABASE_URL": "postgres://u@db.example:5432/x",
            "REDIS_URL": "redis://cache.example:6379/0",
            "SECRET_KEY": "s3cret",
            "ALLOWED_HOSTS": "vicino.example, api.vicino.example",
            "VICINO_DATA_DIR": str(tmp_path / "data"),
            "DEBUG": "true",
        },
        tmp_path,
    )
    assert result.returncode == 0, result.stderr
    probe = json.loads(result.stdout)
    assert probe["engine"] == "django.db.backends.postgresql"
    assert probe["cache"] == "django_redis.cache.RedisCache"
    assert probe["eager"] is False
    assert probe["broker"] == "redis://cache.example:6379/0"
    assert probe["hosts"] == ["vicino.example", "api.vicino.example"]
    assert probe["data"] == str(tmp_path / "data")
    assert probe["debug"] is True


def test_production_mode_refuses_to_run_without_a_secret_key(tmp_path):
    result = _settings_in_subprocess({"DATABASE_URL": "postgres://u@db.example:5432/x"}, tmp_path)
    assert result.returncode != 0
    assert "SECRET_KEY must be set" in result.stderr


def test_a_malformed_boolean_is_refused(tmp_path):
    result = _settings_in_subprocess({"DEBUG": "maybe"}, tmp_path)
    assert result.returncode != 0
    assert "DEBUG must be a boolean" in result.stderr


def test_unreachable_services_fail_with_a_message_that_says_what_to_do():
    with pytest.raises(ImproperlyConfigured) as excinfo:
        require_services(database_url="postgres://postgres@127.0.0.1:1/x", redis_url="redis://127.0.0.1:1/0")
    message = str(excinfo.value)
    assert "PostgreSQL is not reachable at 127.0.0.1:1" in message
    assert "Redis is not reachable at 127.0.0.1:1" in message
    assert "pg_ctlcluster" in message and "redis-server" in message


def test_sqlite_is_refused_for_tests():
    with pytest.raises(ImproperlyConfigured, match="needs PostgreSQL"):
        require_services(database_url="sqlite:///x.db", redis_url="redis://127.0.0.1:6379/1")


def test_this_suite_really_runs_on_postgres_and_redis():
    assert settings.DATABASES["default"]["ENGINE"] == "django.db.backends.postgresql"
    assert settings.CACHES["default"]["BACKEND"] == "django_redis.cache.RedisCache"
    assert settings.CELERY_BROKER_URL.startswith("redis://")
    assert settings.CELERY_TASK_ALWAYS_EAGER is False


def test_celery_is_configured_for_safe_redelivery():
    assert settings.CELERY_TASK_ACKS_LATE is True
    assert settings.CELERY_BROKER_TRANSPORT_OPTIONS["visibility_timeout"] > settings.CELERY_TASK_TIME_LIMIT
    assert settings.CELERY_ACCEPT_CONTENT == ["json"]
    tasks = {entry["task"] for entry in settings.CELERY_BEAT_SCHEDULE.values()}
    assert tasks == {
        "activities.tasks.invitations_expire",
        "activities.tasks.activities_complete",
        "matching.tasks.features_refresh_all",
        "matching.campaigns.tasks.campaigns_resume_stalled",
        "matching.tasks.experiments_impressions_flush",
    }
