"""Helpers shared by the benchmarks: ports, the simulator's control API, polling, memory."""

from __future__ import annotations

import json
import math
import os
import socket
import sys
import time
import urllib.request
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

T = TypeVar("T")

# The order-pipeline bench's own Redis databases (broker, channel layer, cache) and the
# prefix of its request-budget keys in database 3 (bench/_settings.py): flushed by it.
BENCH_REDIS_DBS = (12, 13, 14)
BENCH_RATE_LIMIT_PREFIX = "bench-ratelimit"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def control(url: str, method: str, path: str, body: dict | None = None) -> dict:
    """One call to the simulator's control API (``/_sim/...``) at ``url``."""
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(  # noqa: S310 - loopback
        f"{url}/_sim{path}", data=data, method=method, headers={"Content-Type": "application/json"}
    )
    with urllib.request.urlopen(request, timeout=10) as response:  # noqa: S310
        return json.loads(response.read())


def poll_until(
    condition: Callable[[], T], *, timeout: float, message: str, interval: float = 0.05
) -> T:
    """Poll ``condition`` until it returns something truthy; RuntimeError after ``timeout``."""
    deadline = time.monotonic() + timeout
    while True:
        result = condition()
        if result:
            return result
        if time.monotonic() > deadline:
            raise RuntimeError(f"timed out after {timeout:g} s waiting for {message}")
        time.sleep(interval)


def wait_up(url: str, deadline: float) -> None:
    """Wait until the simulator at ``url`` answers its control API."""

    def answers() -> bool:
        try:
            control(url, "GET", "/state")
        except OSError:
            return False
        return True

    poll_until(answers, timeout=max(0.0, deadline - time.monotonic()), message="the simulator")


def _status_kb(pid: int, field: str) -> int:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith(field):
                return int(line.split()[1])
    except OSError:
        pass
    return 0


def rss_mb(pid: int) -> float:
    """Resident memory of one process (VmRSS), in MiB; 0 when it is gone."""
    return _status_kb(pid, "VmRSS:") / 1024


def pss_mb(pid: int) -> float:
    """Proportional set size (shared pages split between their users), in MiB."""
    try:
        for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines():
            if line.startswith("Pss:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return 0.0


def process_tree(pid: int) -> list[int]:
    """``pid`` and all its live descendants (e.g. a Celery worker and its pool)."""
    parents: dict[int, list[int]] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            # "pid (command) state ppid ...": the command may hold spaces and ")".
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except (OSError, IndexError):
            continue
        if fields[0] not in ("Z", "X"):
            parents.setdefault(int(fields[1]), []).append(int(stat.parent.name))
    tree, todo = [], [pid]
    while todo:
        current = todo.pop()
        tree.append(current)
        todo += parents.get(current, [])
    return tree


def cpu_seconds(pids: list[int]) -> float:
    """User + system CPU time used so far by ``pids`` (their own, not their dead children's)."""
    tick = os.sysconf("SC_CLK_TCK")
    total = 0
    for pid in pids:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += int(fields[11]) + int(fields[12])  # utime, stime
    return total / tick


def percentile(sorted_values: list[float], fraction: float) -> float:
    """Nearest-rank percentile of an already sorted list."""
    if not sorted_values:
        return float("nan")
    index = min(len(sorted_values) - 1, max(0, math.ceil(len(sorted_values) * fraction) - 1))
    return sorted_values[index]
