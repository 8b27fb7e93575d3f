"""Fixtures for tests that start real processes against the test database and Redis."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import urllib.request
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


class Worker:
    """A real Celery worker process consuming ``queues`` (by default ``orders``, on the
    solo pool)."""

    def __init__(
        self,
        env: dict[str, str],
        log_path: Path,
        *,
        queues: str = "orders",
        pool: str = "solo",
        concurrency: int = 1,
    ):
        self.hostname = f"test-{uuid.uuid4().hex[:8]}@localhost"
        self.log_path = log_path
        self.queues = queues.split(",")
        with log_path.open("a") as log:
            self.proc = subprocess.Popen(  # noqa: S603
                [
                    sys.executable,
                    "-m",
                    "celery",
                    "-A",
                    "trading_site",
                    "worker",
                    "--pool",
                    pool,
                    "--concurrency",
                    str(concurrency),
                    "--queues",
                    queues,
                    "--hostname",
                    self.hostname,
                    "--without-mingle",
                    "--without-gossip",
                    "--loglevel",
                    "INFO",
                ],
                cwd=BASE_DIR,
                env=env,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )

    def wait_until_consuming(self) -> None:
        from trading_site.celery import app

        def consuming() -> bool:
            if self.proc.poll() is not None:
                pytest.fail(f"the Celery worker exited early:\n{self.log_path.read_text()}")
            replies = app.control.inspect(timeout=0.5, destination=[self.hostname]).active_queues()
            names = {q["name"] for q in (replies or {}).get(self.hostname, [])}
            return set(self.queues) <= names

        poll_until(consuming, timeout=60, message=f"the worker to consume {self.queues}")

    def kill(self) -> None:
        """SIGKILL the whole process group: no shutdown, no acknowledgement."""
        os.killpg(self.proc.pid, signal.SIGKILL)
        self.proc.wait(timeout=10)

    def stop(self) -> None:
        stop_process_group(self.proc)


@pytest.fixture
def start_worker(subprocess_env, tmp_path):
    """``start_worker(**env)``: a worker with extra environment, stopped after the test."""
    workers: list[Worker] = []

    def start(**extra_env: str) -> Worker:
        worker = Worker({**subprocess_env, **extra_env}, tmp_path / "worker.log")
        workers.append(worker)
        worker.wait_until_consuming()
        return worker

    yield start
    for worker in workers:
        worker.stop()


# Module scope: a worker left running would take other modules' `orders` tasks.
@pytest.fixture(scope="module")
def orders_worker(subprocess_env, tmp_path_factory) -> str:
    """A real Celery worker consuming the ``orders`` queue; yields its hostname."""
    worker = Worker(subprocess_env, tmp_path_factory.mktemp("worker") / "worker.log")
    try:
        worker.wait_until_consuming()
        yield worker.hostname
    finally:
        worker.stop()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class WebServer:
    """daphne serving trading_site.asgi on a free port, as the web process runs it (its
    request threads from WEB_THREADS in ``env``)."""

    def __init__(self, env: dict[str, str], log_path: Path):
        self.url = f"http://127.0.0.1:{free_port()}"
        self.log_path = log_path
        port = self.url.rsplit(":", 1)[1]
        with log_path.open("a") as log:
            self.proc = subprocess.Popen(  # noqa: S603
                [sys.executable, "-m", "daphne", "-b", "127.0.0.1", "-p", port,
                 "trading_site.asgi:application"],
                cwd=BASE_DIR,
                env=env,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )  # fmt: skip

    def wait_until_answering(self) -> None:
        def answering() -> bool:
            if self.proc.poll() is not None:
                pytest.fail(f"daphne exited early:\n{self.log_path.read_text()}")
            try:
                with urllib.request.urlopen(f"{self.url}/login/", timeout=2) as answer:  # noqa: S310
                    return answer.status == 200
            except OSError:
                return False

        poll_until(answering, timeout=60, message="daphne to answer")

    def stop(self) -> None:
        stop_process_group(self.proc)
