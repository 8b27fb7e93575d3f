"""Faults injected through the simulator's control API, and kills of the platform's
processes, on a seeded schedule."""

from __future__ import annotations

import json
import random
import urllib.request
from collections import Counter

ORDER_PATHS = ("/api/v3/order", "/fapi/v1/order", "/fapi/v1/algoOrder")

# (kind, fault body without path/method): what an exchange does to a client on a bad day.
FAULTS = (
    ("drop after accepting", {"action": "drop", "mode": "close"}),
    ("drop, answer hangs", {"action": "drop", "mode": "hang", "delay_ms": 12_000}),
    ("timeout", {"action": "timeout", "delay_ms": 12_000}),
    ("429", {"action": "status", "status": 429}),
    ("503", {"action": "status", "status": 503}),
    ("502 html", {"action": "status", "status": 502, "raw_body": "<html>Bad gateway</html>"}),
    # Slow, but inside the receive window and the client's timeout.
    ("latency near the window", {"action": "latency", "delay_ms": 8_000}),
)
METHODS = ("POST", "DELETE", "GET", "PUT")


def control(url: str, method: str, path: str, body: dict | None = None):
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(  # noqa: S310 - the soak's own simulator on loopback
        f"{url}/_sim{path}", data=data, method=method, headers={"Content-Type": "application/json"}
    )
    with urllib.request.urlopen(request, timeout=10) as response:  # noqa: S310
        text = response.read()
    return json.loads(text) if text else None


class Chaos:
    def __init__(self, sim_url: str, rng: random.Random):
        self.sim_url = sim_url
        self.rng = rng
        self.injected: Counter = Counter()
        self.fired: Counter = Counter()
        self.kills: Counter = Counter()
        self.ws_drops = 0
        self._ids: dict[int, tuple[str, int]] = {}  # fault id -> (kind, shots)

    def inject(self) -> None:
        """One fault on an order endpoint (send, cancel, lookup, amend), firing 1-3 times."""
        kind, fault = self.rng.choice(FAULTS)
        body = {
            **fault,
            "path": self.rng.choice(ORDER_PATHS),
            "method": self.rng.choice(METHODS),
            "count": self.rng.randint(1, 3),
        }
        answer = control(self.sim_url, "POST", "/faults", body)
        self._ids[answer["fault_id"]] = (kind, body["count"])
        self.injected[kind] += 1

    def drop_websockets(self) -> None:
        control(self.sim_url, "POST", "/ws/drop", {"mode": self.rng.choice(["close", "abort"])})
        self.ws_drops += 1

    def collect(self) -> None:
        """Count how often each injected fault fired: a fault leaves the list once it has
        fired all its shots; one still listed says how often it fired so far."""
        listed = {f["fault_id"]: f["fired"] for f in control(self.sim_url, "GET", "/faults")}
        for fault_id, (kind, shots) in self._ids.items():
            self.fired[kind] += listed.get(fault_id, shots)
        self._ids.clear()

    def clear(self) -> None:
        self.collect()
        control(self.sim_url, "DELETE", "/faults")
