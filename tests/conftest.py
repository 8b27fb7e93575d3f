"""Fixtures for tests that start real processes against the test database and Redis."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import uuid
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from common.testing import poll_until

BASE_DIR = Path(__file__).resolve().parent.parent


def stop_process_group(proc: subprocess.Popen, timeout: float = 10) -> None:
    try:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(timeout=timeout)
    except ProcessLookupError:
        pass
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=timeout)


def _test_database_url(settings_dict: dict) -> str:
    if settings_dict["ENGINE"] == "django.db.backends.sqlite3":
        return f"sqlite:///{settings_dict['NAME']}"
    # Same server and credentials as DATABASE_URL, but the test database pytest-django made.
    url = urlsplit(os.environ["DATABASE_URL"])
    return url._replace(path=f"/{settings_dict['NAME']}").geturl()


@pytest.fixture(scope="session")
def subprocess_env(django_db_setup, django_db_blocker) -> dict[str, str]:
    """Environment for a child process that must use this run's test database and Redis.

    settings.test already exported REDIS_URL (its embedded Redis, or CI's).
    """
    from django.db import connection

    return {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "trading_site.settings.test",
        "DATABASE_URL": _test_database_url(connection.settings_dict),
        "PYTHONUNBUFFERED": "1",
    }


@pytest.fixture(scope="session")
def orders_worker(subprocess_env, tmp_path_factory) -> str:
    """A real Celery worker consuming the ``orders`` queue; yields its hostname."""
    from trading_site.celery import app

    hostname = f"test-{uuid.uuid4().hex[:8]}@localhost"
    log_path = tmp_path_factory.mktemp("worker") / "worker.log"
    with log_path.open("w") as log:
        proc = subprocess.Popen(  # noqa: S603
            [
                sys.executable,
                "-m",
                "celery",
                "-A",
                "trading_site",
                "worker",
                "--pool",
                "solo",
                "--queues",
                "orders",
                "--hostname",
                hostname,
                "--without-mingle",
                "--without-gossip",
                "--loglevel",
                "INFO",
            ],
            cwd=BASE_DIR,
            env=subprocess_env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )

    def consuming_orders() -> bool:
        if proc.poll() is not None:
            pytest.fail(f"the Celery worker exited early:\n{log_path.read_text()}")
        replies = app.control.inspect(timeout=0.5, destination=[hostname]).active_queues()
        return any(q["name"] == "orders" for q in (replies or {}).get(hostname, []))

    try:
        poll_until(consuming_orders, timeout=60, message="the worker to consume 'orders'")
        yield hostname
    finally:
        stop_process_group(proc)
