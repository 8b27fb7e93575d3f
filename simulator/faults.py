"""Fault injection and request counting, applied to Binance endpoints by the server middleware.

A fault matches a method (or ``*``) and a path (exact, or a prefix ending in ``*``) and
fires ``count`` times, or until cleared when ``count`` is None. Actions:

``latency``   sleep ``delay_ms`` then serve normally.
``status``    answer ``status`` without touching the engine: with ``{"code","msg"}`` JSON
              (``code``/``msg``, defaults per status) or, with ``raw_body``, that text as
              ``text/html`` (e.g. 502 from a proxy, which ccxt cannot parse).
``timeout``   sleep ``delay_ms`` (default 30 s, longer than any client timeout) and only
              then answer 504 - the request never reached the engine.
``drop``      process the request (the order IS placed) and never deliver the answer:
              ``mode="close"`` aborts the connection (client: NetworkError),
              ``mode="hang"`` holds the response for ``delay_ms`` (client: RequestTimeout).
"""

from __future__ import annotations

import itertools
from collections import defaultdict, deque
from dataclasses import asdict, dataclass

ACTIONS = ("latency", "status", "timeout", "drop")
DEFAULT_HANG_MS = 30_000

# Binance-style bodies for the statuses tests inject most.
DEFAULT_STATUS_BODIES: dict[int, tuple[int, str]] = {
    429: (
        -1003,
        "Too many requests; current limit of IP is 6000 requests per minute. "
        "Please use the websocket for live updates to avoid polling the API.",
    ),
    418: (-1003, "Way too many requests; IP banned until 1700000000000."),
    400: (-1003, "Too much request weight used; please use the websocket for live updates."),
    500: (-1000, "An unknown error occured while processing the request."),
    503: (-1001, "Internal error; unable to process your request. Please try again."),
}


@dataclass
class Fault:
    fault_id: int
    path: str
    method: str = "*"
    action: str = "status"
    status: int = 503
    code: int | None = None
    msg: str | None = None
    raw_body: str | None = None
    delay_ms: int = 0
    count: int | None = 1  # None: until cleared
    mode: str = "close"
    fired: int = 0

    def matches(self, method: str, path: str) -> bool:
        if self.method not in ("*", method):
            return False
        if self.path.endswith("*"):
            return path.startswith(self.path[:-1])
        return path == self.path

    def as_dict(self) -> dict:
        return asdict(self)


class FaultTable:
    def __init__(self) -> None:
        self._faults: list[Fault] = []
        self._ids = itertools.count(1)

    def add(self, **spec: object) -> Fault:
        action = str(spec.get("action", "status"))
        if action not in ACTIONS:
            raise ValueError(f"action must be one of {ACTIONS}")
        if "path" not in spec:
            raise ValueError("path is required")
        if spec.get("mode", "close") not in ("close", "hang"):
            raise ValueError("mode must be close or hang")
        fault = Fault(fault_id=next(self._ids), **spec)  # type: ignore[arg-type]
        fault.method = fault.method.upper()
        if fault.action in ("timeout",) or (fault.action == "drop" and fault.mode == "hang"):
            fault.delay_ms = fault.delay_ms or DEFAULT_HANG_MS
        self._faults.append(fault)
        return fault

    def take(self, method: str, path: str) -> Fault | None:
        """The first matching fault, consuming one of its shots."""
        for fault in self._faults:
            if fault.matches(method, path):
                fault.fired += 1
                if fault.count is not None:
                    fault.count -= 1
                    if fault.count <= 0:
                        self._faults.remove(fault)
                return fault
        return None

    def remove(self, fault_id: int) -> bool:
        before = len(self._faults)
        self._faults = [f for f in self._faults if f.fault_id != fault_id]
        return len(self._faults) != before

    def clear(self) -> None:
        self._faults = []

    def list(self) -> list[dict]:
        return [f.as_dict() for f in self._faults]


class RequestCounter:
    """Per-endpoint request times (ms), so tests can count requests in a time window."""

    MAX_PER_ENDPOINT = 100_000

    def __init__(self) -> None:
        self._times: dict[str, deque[int]] = defaultdict(
            lambda: deque(maxlen=self.MAX_PER_ENDPOINT)
        )
        self._totals: dict[str, int] = defaultdict(int)

    def record(self, method: str, path: str, now_ms: int) -> None:
        key = f"{method} {path}"
        self._times[key].append(now_ms)
        self._totals[key] += 1

    def counts(self, since_ms: int | None = None, until_ms: int | None = None) -> dict[str, int]:
        if since_ms is None and until_ms is None:
            return dict(self._totals)
        out = {}
        for key, times in self._times.items():
            n = sum(
                1
                for t in times
                if (since_ms is None or t >= since_ms) and (until_ms is None or t <= until_ms)
            )
            if n:
                out[key] = n
        return out

    def reset(self) -> None:
        self._times.clear()
        self._totals.clear()
