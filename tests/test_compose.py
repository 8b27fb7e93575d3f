"""docker-compose.yml: a plain `docker compose up` (production) never starts the exchange
simulator - its control API has no authentication - and nothing there needs it."""

from __future__ import annotations

import os
import shutil
import subprocess

import pytest
import yaml

from tests.conftest import BASE_DIR

COMPOSE_FILE = BASE_DIR / "docker-compose.yml"
# What the ${VAR:?} markers require, as an env file would give them.
ENV = {
    "DJANGO_SECRET_KEY": "secret",
    "DJANGO_ALLOWED_HOSTS": "trading.example.com",
    "FIELD_ENCRYPTION_KEYS": "key",
    "DATABASE_URL": "postgres://trading:pw@postgres:5432/trading",
    "REDIS_URL": "redis://redis:6379/0",
    "POSTGRES_PASSWORD": "pw",
}


def _depends_on(service: dict) -> set[str]:
    depends = service.get("depends_on") or []
    return set(depends) if isinstance(depends, list | dict) else set()


def assert_simulator_only_by_profile(services: dict) -> None:
    assert services["simulator"].get("profiles"), "the simulator must need a profile"
    default = {name for name, service in services.items() if not service.get("profiles")}
    assert "web" in default and "simulator" not in default
    for name in default:
        assert not _depends_on(services[name]) - default, name
        assert "simulator" not in str(services[name].get("links", "")), name
        url = (services[name].get("environment") or {}).get("SIMULATOR_URL") or ""
        assert "simulator" not in url, f"{name} defaults SIMULATOR_URL to {url!r}"


def test_the_simulator_starts_only_with_its_profile_and_nothing_depends_on_it():
    assert_simulator_only_by_profile(yaml.safe_load(COMPOSE_FILE.read_text())["services"])


@pytest.mark.skipif(
    shutil.which("docker-compose") is None,
    reason="docker-compose is not installed (Debian: apt-get install docker-compose)",
)
def test_docker_compose_validates_the_file_and_resolves_the_same():
    resolved = subprocess.run(  # noqa: S603
        [shutil.which("docker-compose"), "-f", str(COMPOSE_FILE), "config"],
        env={"PATH": os.environ.get("PATH", "/usr/bin:/bin"), **ENV},
        cwd=BASE_DIR,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )

    assert resolved.returncode == 0, resolved.stderr
    services = yaml.safe_load(resolved.stdout)["services"]
    assert_simulator_only_by_profile(services)
    assert services["web"]["environment"]["SIMULATOR_URL"] in ("", None)
