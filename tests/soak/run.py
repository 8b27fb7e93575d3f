"""The soak's course: start the stack, load it under faults and kills, settle, verify."""

from __future__ import annotations

import random
import socket
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path

from tests.soak import verify
from tests.soak.chaos import Chaos, control
from tests.soak.load import Api, Load
from tests.soak.stack import KILLABLE, Stack

START_BALANCES = {
    "spot": {"USDT": Decimal("1000000"), "BTC": Decimal("20"), "ETH": Decimal("300")},
    "swap": {"USDT": Decimal("1000000")},
}


@dataclass
class Config:
    minutes: float = 2.0
    seed: int = 1
    accounts: int = 2  # of each market type
    rate: float = 4.0  # API operations per second
    chaos: bool = True
    settle_seconds: float = 120.0


@dataclass
class Report:
    seconds: float = 0.0
    answers: Counter = field(default_factory=Counter)
    orders: Counter = field(default_factory=Counter)
    faults_injected: Counter = field(default_factory=Counter)
    faults_fired: Counter = field(default_factory=Counter)
    kills: Counter = field(default_factory=Counter)
    ws_drops: int = 0
    settled_after: float | None = None
    violations: dict[str, list[str]] = field(default_factory=dict)
    accepted: set[int] = field(default_factory=set)

    @property
    def violation_count(self) -> int:
        return sum(len(v) for v in self.violations.values())

    def text(self) -> str:
        def counts(counter: Counter) -> str:
            return ", ".join(f"{k} {v}" for k, v in sorted(counter.items())) or "none"

        lines = [
            f"soak: {self.seconds:.0f} s of load",
            f"  API answers      {counts(self.answers)}",
            f"  orders           {counts(self.orders)} (total {sum(self.orders.values())})",
            f"  faults injected  {counts(self.faults_injected)}",
            f"  faults fired     {counts(self.faults_fired)} "
            f"(total {sum(self.faults_fired.values())})",
            f"  websocket drops  {self.ws_drops}",
            f"  kills            {counts(self.kills)}",
            "  settled after    "
            + (f"{self.settled_after:.1f} s" if self.settled_after is not None else "NEVER"),
            f"  violations       {self.violation_count}",
        ]
        for name, problems in self.violations.items():
            lines.append(f"    {name}: {len(problems)}")
            lines += [f"      {p}" for p in problems[:5]]
        return "\n".join(lines)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def soak_env(base: dict[str, str], sim_url: str) -> dict[str, str]:
    """The platform's settings for a soak: short beat periods, so one sync cycle is seconds."""
    return {
        **base,
        "SIMULATOR_URL": sim_url,
        "ORDERS_POLL_SECONDS": "5",
        "POSITIONS_SYNC_SECONDS": "5",
        "ORDERS_SWEEP_SECONDS": "3",
        "PRICES_REFRESH_SECONDS": "5",
        "ORDER_LOST_AFTER_SECONDS": "30",
        "DRIFT_CONFIRM_SECONDS": "20",
        "HEALTH_BEAT_MAX_AGE_SECONDS": "60",
    }


def run(config: Config, base_env: dict[str, str], work_dir: Path, make_accounts) -> Report:
    """The whole soak. ``make_accounts(sim_url, balances)`` creates the user, token and
    accounts in the database (the caller owns the database) and returns
    ``(token, {account: sim_id})``."""
    rng = random.Random(config.seed)
    sim_port, web_port = free_port(), free_port()
    sim_url = f"http://127.0.0.1:{sim_port}"
    stack = Stack(soak_env(base_env, sim_url), work_dir / "soak.log",
                  sim_port=sim_port, web_port=web_port)  # fmt: skip
    report = Report()
    try:
        stack.start("simulator")
        _wait(lambda: _answers(sim_url), 30, "the simulator", stack)
        token, accounts = make_accounts(sim_url, START_BALANCES, config.accounts)
        for name in ("web", "orders-worker", "worker", "beat", "streams"):
            stack.start(name)
        api = Api(web_port, token)
        _wait(lambda: api.call("GET", "/api/orders/?limit=1")[0] == 200, 60, "web", stack)
        _load(config, stack, api, accounts, rng, report)
        _settle(config, stack, sim_url, accounts, report)
        return report
    finally:
        stack.stop()


def _answers(sim_url: str) -> bool:
    try:
        control(sim_url, "GET", "/state")
    except OSError:
        return False
    return True


def _wait(condition, seconds: float, what: str, stack: Stack) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        if (dead := stack.dead()) is not None:
            raise RuntimeError(f"{dead} exited while waiting for {what}:\n  {stack.tail()}")
        if time.monotonic() > deadline:
            raise RuntimeError(f"{what} did not come up within {seconds:g} s:\n  {stack.tail()}")
        time.sleep(0.2)


def _prices(sim_url: str):
    """Mid prices from the simulator, refreshed at most once a second."""
    cache: dict = {"at": 0.0, "markets": {}}
    lock = threading.Lock()

    def price(market_type: str, symbol: str) -> Decimal:
        with lock:
            if time.monotonic() - cache["at"] > 1.0:
                cache["markets"] = control(sim_url, "GET", "/markets")
                cache["at"] = time.monotonic()
            venue = "spot" if market_type == "spot" else "futures"
            market_id = symbol.split(":")[0].replace("/", "")
            return Decimal(str(cache["markets"][venue][market_id]["mid"]))

    return price


def _load(config: Config, stack: Stack, api: Api, accounts: dict, rng, report: Report) -> None:
    load = Load(api, {a.pk: a.market_type for a in accounts}, _prices(stack.sim_url), rng)
    chaos = Chaos(stack.sim_url, rng)
    started = time.monotonic()
    end = started + config.minutes * 60
    next_fault = started + 5
    next_kill = started + 15
    restarts: list[tuple[float, str]] = []
    tick = 0
    while time.monotonic() < end:
        due = started + tick / config.rate
        tick += 1
        if (pause := due - time.monotonic()) > 0:
            time.sleep(pause)  # the load's own schedule, not a wait for a condition
        load.step()
        now = time.monotonic()
        if config.chaos and now >= next_fault:
            chaos.inject()
            if rng.random() < 0.3:
                chaos.drop_websockets()
            next_fault = now + rng.uniform(2, 6)
        if config.chaos and now >= next_kill:
            victim = rng.choice(KILLABLE)
            if victim not in {name for _, name in restarts}:
                stack.kill(victim)
                report.kills[victim] += 1
                restarts.append((now + rng.uniform(0.5, 3.0), victim))
            next_kill = now + rng.uniform(8, 20)
        for at, name in list(restarts):
            if now >= at:
                stack.start(name)
                restarts.remove((at, name))
        if (dead := stack.dead()) is not None:
            raise RuntimeError(f"{dead} exited by itself during the soak:\n  {stack.tail()}")
    for _, name in restarts:
        stack.start(name)
    if config.chaos:
        chaos.clear()
    report.seconds = time.monotonic() - started
    report.answers = load.tally.answers
    report.faults_injected = chaos.injected
    report.faults_fired = chaos.fired
    report.ws_drops = chaos.ws_drops
    report.accepted = load.tally.accepted


def _settle(config: Config, stack: Stack, sim_url: str, accounts, report: Report) -> None:
    """Faults off, every process up: check every invariant until all hold or the deadline
    passes (the platform's own sweeps, polls and syncs must bring it there by themselves);
    the report keeps the last check's violations and how long settling took."""
    started = time.monotonic()
    while True:
        if (dead := stack.dead()) is not None:
            raise RuntimeError(f"{dead} exited while settling:\n  {stack.tail()}")
        report.violations = _verify(sim_url, accounts, report)
        if not report.violations:
            report.settled_after = time.monotonic() - started
            return
        if time.monotonic() - started > config.settle_seconds:
            return
        time.sleep(2)  # between two checks of the exchange: the condition is polled


def _verify(sim_url: str, accounts, report: Report) -> dict[str, list[str]]:
    from accounts.gateway import load_credentials
    from orders.models import Order
    from simulator.client import simulator_client

    ids = [a.pk for a in accounts]
    report.orders = Counter(
        Order.objects.filter(account_id__in=ids).values_list("status", flat=True)
    )
    venues = []
    for account in accounts:
        credentials = load_credentials(account)
        client = simulator_client(
            sim_url,
            market_type=account.market_type,
            api_key=credentials.api_key,
            secret=credentials.secret,
        )
        venues.append(verify.read_venue(sim_url, account, account.sim_id, client))
    found = {
        "no client order id twice on the exchange": [
            p for v in venues for p in verify.no_client_order_id_twice(v)
        ],
        "every accepted order on the exchange or rejected with a reason": (
            verify.accepted_orders_reached_the_exchange(report.accepted, venues)
        ),
        "every exchange order ours, equal status, filled and average": [
            p for v in venues for p in verify.exchange_orders_equal_ours(v)
        ],
        "every exchange trade exactly one fill": [
            p for v in venues for p in verify.every_trade_one_fill(v)
        ],
        "holdings from fills equal the exchange's": [
            p
            for v, a in zip(venues, accounts, strict=True)
            for p in verify.holdings_from_fills_equal_the_exchanges(
                v, START_BALANCES[a.market_type]
            )
        ],
        "nothing left pending, submitting, unknown or cancel_requested": (
            verify.nothing_left_unsettled(ids)
        ),
        "no drift row": verify.no_drift(ids),
        "exchange history read whole": [p for v in venues for p in v.truncated],
    }
    return {name: problems for name, problems in found.items() if problems}
