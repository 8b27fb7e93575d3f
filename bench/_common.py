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

# A bench's own Redis databases (broker, channel layer, cache) and the prefix of its
# request-budget keys in database 3 (bench/_settings.py): flushed by it. The defaults are
# order_pipeline's; another bench sets BENCH_REDIS_DBS ("9,10,11") and
# BENCH_RATE_LIMIT_PREFIX in the environment before importing this, so that two benches
# never flush each other's queues (its children read the same variables).
BENCH_REDIS_DBS = tuple(int(db) for db in os.environ.get("BENCH_REDIS_DBS", "12,13,14").split(","))
BENCH_RATE_LIMIT_PREFIX = os.environ.get("BENCH_RATE_LIMIT_PREFIX", "bench-ratelimit")


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


def start_stack(
    processes, *, sim_port: int, web_port: int, concurrency: int, workers: dict[str, str]
) -> tuple[int, int, list[int]]:
    """Start the simulator (paused market), web (daphne) and a Celery prefork worker per
    entry of ``workers`` (its name -> the queues it consumes; make run has ``orders``
    apart) under ``processes`` (order_pipeline.Processes); (simulator, web, workers)
    pids. No beat and no streams: the order path needs neither."""
    python = sys.executable
    sim_pid = processes.start(
        "simulator",
        [python, "-m", "simulator", "--port", str(sim_port), "--paused", "--log-level", "WARNING"],
    )
    web_pid = processes.start(
        "web",
        [python, "-m", "daphne", "-b", "127.0.0.1", "-p", str(web_port),
         "trading_site.asgi:application"],
    )  # fmt: skip
    worker_pids = []
    for name, queues in workers.items():
        argv = [python, "-m", "celery", "-A", "trading_site", "worker", "--pool", "prefork",
                "--concurrency", str(concurrency), "--queues", queues,
                "--hostname", f"{name}-{os.getpid()}@%h", "--without-mingle", "--without-gossip",
                "--loglevel", "INFO"]  # fmt: skip
        worker_pids.append(processes.start(name, argv))
    return sim_pid, web_pid, worker_pids


def open_loop(
    rate: float,
    seconds: float,
    threads: int,
    make_sender: Callable[[], Callable[[int], T]],
    close: Callable[[Callable[[int], T]], None] = lambda send: None,
) -> tuple[list[T], float]:
    """Open loop: call i is due at t0 + i / rate, whatever came before, on ``threads``
    threads, each with its own sender from ``make_sender`` (e.g. a keep-alive connection).

    Returns the senders' results and the largest lag of a call behind its due time (the
    senders falling behind the offered rate).
    """
    import queue
    import threading

    jobs: queue.Queue = queue.Queue()
    results: list[T] = []
    lag = [0.0]
    lock = threading.Lock()

    def worker() -> None:
        send = make_sender()
        while (job := jobs.get()) is not None:
            due, index = job
            late = time.monotonic() - due
            result = send(index)
            with lock:
                results.append(result)
                lag[0] = max(lag[0], late)
        close(send)

    pool = [threading.Thread(target=worker, daemon=True) for _ in range(threads)]
    for thread in pool:
        thread.start()
    total = max(1, round(rate * seconds))
    t0 = time.monotonic() + 0.05
    for i in range(total):
        due = t0 + i / rate
        pause = due - time.monotonic()
        if pause > 0:
            time.sleep(pause)  # the schedule itself, not a readiness wait
        jobs.put((due, i))
    for _ in pool:
        jobs.put(None)
    for thread in pool:
        thread.join()
    return results, lag[0]
