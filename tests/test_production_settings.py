"""Production settings refuse to start without their secrets, and pass `check --deploy`."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from cryptography.fernet import Fernet

BASE_DIR = Path(__file__).resolve().parent.parent

REQUIRED = {
    "DJANGO_SECRET_KEY": "x7Kq2-long-random-secret-for-tests-only-4b9f1c0e8d2a6f3b5e7c9a1d0f2e4",
    "DJANGO_ALLOWED_HOSTS": "trading.example.com",
    "FIELD_ENCRYPTION_KEYS": Fernet.generate_key().decode(),
    "DATABASE_URL": "postgres://trading@127.0.0.1:5432/trading",
    "REDIS_URL": "redis://127.0.0.1:6379/0",
}


def run_production(args: list[str], **overrides: str | None) -> subprocess.CompletedProcess:
    """Run python with production settings and a clean environment (no inherited secrets)."""
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "DJANGO_SETTINGS_MODULE": "trading_site.settings.production",
        **REQUIRED,
    }
    for name, value in overrides.items():
        if value is None:
            env.pop(name)
        else:
            env[name] = value
    return subprocess.run(  # noqa: S603
        [sys.executable, *args],
        cwd=BASE_DIR,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


@pytest.mark.parametrize("name", sorted(REQUIRED))
@pytest.mark.parametrize("value", [None, ""], ids=["unset", "empty"])
def test_production_settings_refuse_to_load_without(name, value):
    result = run_production(["-c", "import trading_site.settings.production"], **{name: value})

    assert result.returncode != 0
    assert "ImproperlyConfigured" in result.stderr
    assert f"{name} is not set" in result.stderr


def test_production_settings_load_with_every_required_variable():
    result = run_production(
        ["-c", "from trading_site.settings import production as p; print(p.DEBUG, p.REDIS_URL)"]
    )

    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["False", "redis://127.0.0.1:6379/0"]


def test_check_deploy_reports_no_security_warning():
    result = run_production(
        ["manage.py", "check", "--deploy", "--tag", "security", "--fail-level", "WARNING"]
    )

    assert result.returncode == 0, result.stdout + result.stderr
    assert "no issues" in result.stdout


@pytest.mark.parametrize(
    "keys",
    [
        "notakey",
        "CwhxhlZVH3ye43a03qrozS9z9JddDaKIDQorCm-XHRQ=",  # the development key
        f"{REQUIRED['FIELD_ENCRYPTION_KEYS']},CwhxhlZVH3ye43a03qrozS9z9JddDaKIDQorCm-XHRQ=",
    ],
    ids=["not-a-key", "development-key", "development-key-as-fallback"],
)
def test_production_refuses_a_bad_or_public_field_encryption_key(keys):
    started = run_production(
        ["-c", "import trading_site.settings.production"], FIELD_ENCRYPTION_KEYS=keys
    )

    assert started.returncode != 0
    assert "FIELD_ENCRYPTION_KEYS entry" in started.stderr


@pytest.mark.parametrize(
    ("keys", "error"),
    [
        (["notakey"], "common.E001"),
        (["CwhxhlZVH3ye43a03qrozS9z9JddDaKIDQorCm-XHRQ="], "common.E002"),
    ],
)
def test_the_deploy_check_fails_on_a_bad_or_public_field_encryption_key(settings, keys, error):
    from django.core.management import call_command
    from django.core.management.base import SystemCheckError

    settings.FIELD_ENCRYPTION_KEYS = keys

    with pytest.raises(SystemCheckError, match=error):
        call_command("check", "--deploy", "--tag", "security")


def test_production_names_no_simulator_unless_told():
    """The simulator's control API has no authentication: production points at none by
    default (simulator-mode accounts are refused), only at one it is given."""
    show = ["-c", "from trading_site.settings import production as p; print(repr(p.SIMULATOR_URL))"]

    default = run_production(show)
    given = run_production(show, SIMULATOR_URL="http://simulator:8765")

    assert default.returncode == 0, default.stderr
    assert default.stdout.strip() == "''"
    assert given.stdout.strip() == "'http://simulator:8765'"
