"""docker-compose.yml validates and stays in step with the settings and the canonical process commands."""

from __future__ import annotations

import os
import re
import shlex
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

from config.processes import PROCESS_COMMANDS, REQUIRED_ENV

ROOT = Path(__file__).resolve().parents[2]
APP_SERVICES = ("web", "worker", "beat")


TEST_SECRET = "compose-test-secret"  # noqa: S105 - a throwaway value for `docker-compose config`


def _compose(*args: str, secret: str | None = TEST_SECRET) -> subprocess.CompletedProcess:
    binary = shutil.which("docker-compose")
    assert binary, "docker-compose is missing: `bash scripts/services.sh` installs Debian's package"
    env = {k: v for k, v in os.environ.items() if k not in {"SECRET_KEY", "DATABASE_URL", "REDIS_URL"}}
    if secret is not None:
        env["SECRET_KEY"] = secret
    return subprocess.run([binary, *args], cwd=ROOT, env=env, capture_output=True, text=True, timeout=60)


@pytest.fixture(scope="module")
def compose() -> dict:
    result = _compose("config")
    assert result.returncode == 0, result.stderr
    return yaml.safe_load(result.stdout)


def _settings_env_names() -> set[str]:
    source = (ROOT / "config" / "settings.py").read_text()
    return set(re.findall(r"""(?:os\.environ\.get|env_bool|env_list)\(\s*["']([A-Z_]+)["']""", source))


def test_compose_validates_quietly():
    result = _compose("config", "--quiet")
    assert result.returncode == 0, result.stderr


def test_compose_refuses_to_start_without_a_secret_key():
    result = _compose("config", "--quiet", secret=None)
    assert result.returncode != 0
    assert "SECRET_KEY" in result.stderr


def test_compose_has_exactly_the_five_services_each_with_a_healthcheck(compose):
    assert set(compose["services"]) == {"web", "worker", "beat", "postgres", "redis"}
    for name, service in compose["services"].items():
        assert service.get("healthcheck", {}).get("test"), f"{name} has no healthcheck"


def test_app_services_set_every_required_variable_and_only_variables_settings_read(compose):
    read_by_settings = _settings_env_names()
    assert set(REQUIRED_ENV) <= read_by_settings
    for name in APP_SERVICES:
        env = compose["services"][name]["environment"]
        assert set(REQUIRED_ENV) <= set(env), f"{name} misses {set(REQUIRED_ENV) - set(env)}"
        unknown = set(env) - read_by_settings
        assert not unknown, f"{name} sets variables that settings never read: {unknown}"
        assert env["DATABASE_URL"].startswith("postgres://") and env["REDIS_URL"].startswith("redis://")


def test_app_services_run_the_canonical_commands(compose):
    services = compose["services"]
    assert services["worker"]["command"] == PROCESS_COMMANDS["worker"]
    assert services["beat"]["command"] == PROCESS_COMMANDS["beat"]
    web = services["web"]["command"]
    assert web[:2] == ["sh", "-c"]
    assert web[2].endswith("exec " + shlex.join(PROCESS_COMMANDS["web"]))
    assert "migrate --no-input" in web[2]


def test_database_and_redis_are_healthy_before_the_app_starts(compose):
    for name in APP_SERVICES:
        depends = compose["services"][name]["depends_on"]
        assert depends["postgres"]["condition"] == "service_healthy"
        assert depends["redis"]["condition"] == "service_healthy"


def test_makefile_runs_the_same_processes():
    makefile = (ROOT / "Makefile").read_text()
    for name in APP_SERVICES:
        assert f"-m config.processes {name}" in makefile
