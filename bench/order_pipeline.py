"""The order path end to end: API -> Celery worker -> exchange simulator, and updates applied.

One command starts everything in its own PostgreSQL database and Redis databases, measures,
prints a table and stops every process it started (also on Ctrl-C, SIGTERM or failure):

    .venv/bin/python bench/order_pipeline.py [--seconds 30] [--rate 20] [--accounts 4]
                                             [--concurrency 2]

- Services: ``DATABASE_URL`` names the PostgreSQL server (default
  ``postgres://postgres@127.0.0.1:5432/``); the bench drops and creates its own database
  there (``--database``, default ``trading_bench``), never the one the URL names, and drops
  it at exit (``--keep-db`` keeps it). ``REDIS_URL`` names the Redis server (default
  ``redis://127.0.0.1:6379/0``); the bench uses databases 12-14 of it and ``bench-ratelimit``
  keys in database 3 (see bench/_settings.py), flushed at start and exit.
- Processes: the simulator (paused market: orders rest far below it and never fill),
  web (daphne, DEBUG off) and a real Celery prefork worker consuming ``orders``, with
  ``--concurrency`` pool processes. No beat and no streams: the order path needs neither.
- Latency: ``POST /api/orders/`` at ``--rate`` orders/s for ``--seconds``, round-robin over
  ``--accounts`` simulator accounts (each below its exchange order limit), from keep-alive
  HTTP connections. An order's latency is the simulator's receive time (its order
  ``time``, wall clock, ms resolution, taken as the middle of its millisecond) minus the
  wall-clock start of its POST. Every order must reach the simulator exactly once and be
  ``open`` in our database.
- Sustained orders/s: steps of a rising rate (5 orders/s per account, accounts added as
  needed) until end-to-end throughput falls behind the offered rate or p99 degrades.
- Updates/s: in this process, ccxt-shaped order updates (partially filled, partially
  filled, filled, each with its trade) through ``orders.services.order_apply_update`` for
  orders stored directly, with their events, fills and dashboard pushes.
- Memory: VmRSS of web and of the worker (main process, and the sum with its pool
  processes; PSS for the sum, which counts pages shared after fork once) idle after
  warm-up and the maximum sampled under the latency run.
"""

from __future__ import annotations

import argparse
import fcntl
import http.client
import json
import logging
import math
import os
import queue
import signal
import statistics
import sys
import tempfile
import threading
import time
import urllib.parse
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from _common import (
    BENCH_RATE_LIMIT_PREFIX,
    BENCH_REDIS_DBS,
    ROOT,
    control,
    cpu_seconds,
    free_port,
    percentile,
    poll_until,
    process_tree,
    pss_mb,
    rss_mb,
    wait_up,
)

SETTINGS = "bench._settings"
SYMBOL = "BTC/USDT"
PER_ACCOUNT_RATE = 5.0  # orders/s: Binance allows 10/s per account; our budget 6/s sustained
READY_TIMEOUT = 90.0


class SetupFailed(Exception):
    """The bench could not start or prepare what it measures."""


# --- Configuration --------------------------------------------------------------------------


def service_urls(database: str) -> tuple[str, str, str]:
    """(bench database URL, maintenance database URL, Redis URL) from the environment."""
    db = urllib.parse.urlsplit(
        os.environ.get("DATABASE_URL") or "postgres://postgres@127.0.0.1:5432/"
    )
    if db.scheme not in ("postgres", "postgresql", "pgsql"):
        raise SetupFailed(f"DATABASE_URL must be a PostgreSQL URL, not {db.scheme!r}.")
    bench_url = db._replace(path=f"/{database}").geturl()
    maintenance_url = db._replace(path="/postgres", scheme="postgresql").geturl()
    redis_url = os.environ.get("REDIS_URL") or "redis://127.0.0.1:6379/0"
    return bench_url, maintenance_url, redis_url


def recreate_database(maintenance_url: str, name: str, *, drop_only: bool = False) -> None:
    import psycopg
    from psycopg import sql

    try:
        with psycopg.connect(maintenance_url, autocommit=True, connect_timeout=5) as conn:
            conn.execute(
                sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
            )
            if not drop_only:
                conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    except psycopg.Error as exc:
        raise SetupFailed(f"PostgreSQL at {maintenance_url}: {exc}") from exc


def flush_bench_redis(redis_url: str) -> None:
    """Empty the bench's own Redis databases and its request-budget keys."""
    import redis

    base = redis_url.rstrip("/")
    if base.rsplit("/", 1)[-1].isdigit():
        base = base.rsplit("/", 1)[0]
    try:
        for db in BENCH_REDIS_DBS:
            with redis.Redis.from_url(f"{base}/{db}", socket_connect_timeout=2) as client:
                client.flushdb()
        with redis.Redis.from_url(f"{base}/3", socket_connect_timeout=2) as client:
            keys = list(client.scan_iter(match=f"{{{BENCH_RATE_LIMIT_PREFIX}:*"))
            if keys:
                client.delete(*keys)
    except redis.RedisError as exc:
        raise SetupFailed(f"Redis at {base}: {exc}") from exc


# --- Processes ------------------------------------------------------------------------------


class Processes:
    """The children, through trading_site.run's supervisor (process groups, SIGTERM, SIGKILL)."""

    def __init__(self, env: dict[str, str], log_path: Path):
        from trading_site.run import Supervisor

        self.log_path = log_path
        self.log = log_path.open("w")
        self.supervisor = Supervisor(env=env, output=self.log, cwd=ROOT)
        self.children: dict[str, Any] = {}

    def run_step(self, name: str, argv: list[str], timeout: float = 300) -> None:
        child = self.supervisor.start(name, argv)
        child.expected_exit = True
        try:
            child.proc.wait(timeout)
        except Exception as exc:
            raise SetupFailed(f"{name} did not finish in {timeout:g} s") from exc
        child.pump.join(timeout=5)
        if child.proc.returncode != 0:
            raise SetupFailed(f"{name} failed (exit code {child.proc.returncode}){self.tail()}")

    def start(self, name: str, argv: list[str]) -> int:
        child = self.supervisor.start(name, argv)
        self.children[name] = child
        return child.proc.pid

    def check_alive(self) -> None:
        dead = self.supervisor.first_dead()
        if dead is not None:
            raise SetupFailed(f"{dead.name} exited with code {dead.proc.returncode}{self.tail()}")

    def tail(self, lines: int = 30) -> str:
        self.log.flush()
        text = self.log_path.read_text(errors="replace").splitlines()[-lines:]
        return "\nlast lines of " + str(self.log_path) + ":\n  " + "\n  ".join(text)

    def stop(self) -> None:
        self.supervisor.stop_all(deadline_seconds=15)
        self.log.close()


def wait_ready(processes: Processes, sim_url: str, web_port: int) -> None:
    """The simulator answers and /healthz reports database, Redis and an ``orders`` worker."""
    deadline = time.monotonic() + READY_TIMEOUT
    last: list[str] = []

    def ready() -> bool:
        processes.check_alive()
        try:
            control(sim_url, "GET", "/state")
            conn = http.client.HTTPConnection("127.0.0.1", web_port, timeout=5)
            conn.request("GET", "/healthz")
            checks = json.loads(conn.getresponse().read())["checks"]
            conn.close()
        except (OSError, ValueError, KeyError, http.client.HTTPException) as exc:
            last[:] = [repr(exc)]
            return False
        # No beat runs in the bench: its heartbeat check is the one allowed to fail.
        failing = [name for name in ("database", "redis", "worker") if not checks[name]["ok"]]
        last[:] = [f"{name}: {checks[name].get('error')}" for name in failing]
        return not failing

    try:
        poll_until(
            ready,
            timeout=deadline - time.monotonic(),
            message="web, worker, simulator",
            interval=0.2,
        )
    except RuntimeError as exc:
        raise SetupFailed(f"{exc} ({'; '.join(last)}){processes.tail()}") from exc


# --- Load -----------------------------------------------------------------------------------


@dataclass
class Sent:
    account: int  # our ExchangeAccount pk
    start_ns: int  # wall clock at the start of the POST
    end_ns: int
    status: int
    client_order_id: str = ""
    order_id: int = 0
    error: str = ""


class Api:
    """One keep-alive HTTP/1.1 connection to the web process."""

    def __init__(self, port: int, token: str):
        self.port = port
        self.headers = {"Authorization": f"Token {token}", "Content-Type": "application/json"}
        self.conn: http.client.HTTPConnection | None = None

    def post_order(self, account: int, price: int) -> Sent:
        body = json.dumps(
            {
                "account": account,
                "symbol": SYMBOL,
                "side": "buy",
                "type": "limit",
                "amount": "0.001",
                "price": str(price),
            }
        )
        if self.conn is None:
            self.conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=30)
            self.conn.connect()
        start = time.time_ns()
        try:
            self.conn.request("POST", "/api/orders/", body=body, headers=self.headers)
            response = self.conn.getresponse()
            data = response.read()
        except (OSError, http.client.HTTPException) as exc:
            self.conn.close()
            self.conn = None
            return Sent(account, start, time.time_ns(), 0, error=repr(exc))
        end = time.time_ns()
        if response.status != 201:
            return Sent(
                account, start, end, response.status, error=data[:300].decode(errors="replace")
            )
        order = json.loads(data)
        return Sent(account, start, end, 201, order["client_order_id"], order["id"])


def drive(
    port: int, token: str, accounts: list[int], rate: float, seconds: float, threads: int
) -> tuple[list[Sent], float]:
    """Open loop: order i is due at t0 + i / rate on account i mod n, whatever came before.

    Returns what was sent and the largest lag of a POST start behind its due time (the
    senders falling behind the offered rate).
    """
    jobs: queue.Queue = queue.Queue()
    results: list[Sent] = []
    lag = [0.0]
    lock = threading.Lock()

    def sender() -> None:
        api = Api(port, token)
        while (job := jobs.get()) is not None:
            due, account, price = job
            late = time.monotonic() - due
            sent = api.post_order(account, price)
            with lock:
                results.append(sent)
                lag[0] = max(lag[0], late)
        if api.conn is not None:
            api.conn.close()

    pool = [threading.Thread(target=sender, daemon=True) for _ in range(threads)]
    for thread in pool:
        thread.start()
    total = max(1, round(rate * seconds))
    t0 = time.monotonic() + 0.05
    for i in range(total):
        due = t0 + i / rate
        pause = due - time.monotonic()
        if pause > 0:
            time.sleep(pause)  # the schedule itself, not a readiness wait
        # Far below the market (65,000): rests on the book, never fills.
        jobs.put((due, accounts[i % len(accounts)], 30_000 + i % 500))
    for _ in pool:
        jobs.put(None)
    for thread in pool:
        thread.join()
    return results, lag[0]


@dataclass
class Phase:
    name: str
    rate: float
    sent: list[Sent]
    lag: float
    latencies_ms: list[float] = field(default_factory=list)  # POST start -> simulator
    post_ms: list[float] = field(default_factory=list)  # POST round trip
    throughput: float = 0.0  # orders received by the simulator per second, end to end
    errors: list[str] = field(default_factory=list)


class Bench:
    def __init__(self, args: argparse.Namespace, sim_url: str, web_port: int):
        self.args = args
        self.sim_url = sim_url
        self.web_port = web_port
        self.sim_ids: dict[int, str] = {}  # our account pk -> simulator account id
        self.user = None
        self.token = ""

    # Setup ------------------------------------------------------------------------------
    def create_user(self) -> None:
        from django.contrib.auth import get_user_model

        from accounts.services import api_token_create

        self.user = get_user_model().objects.create_user("bench", "bench@localhost", "x" * 20)
        _, self.token = api_token_create(user=self.user, name="bench")

    def add_accounts(self, count: int) -> list[int]:
        from accounts.services import account_check_connection, account_create, account_update

        made = []
        for _ in range(count):
            sim = control(self.sim_url, "POST", "/accounts", {"spot": {"USDT": "100000000"}})
            account = account_create(
                owner=self.user,
                exchange_id="binance",
                label=f"bench {len(self.sim_ids) + 1}",
                mode="simulator",
                market_type="spot",
                api_key=sim["api_key"],
                api_secret=sim["secret"],
            )
            # A key trades once the connection test found it cannot withdraw.
            account_check_connection(account=account)
            account_update(account=account, can_trade=True)
            self.sim_ids[account.pk] = sim["account_id"]
            made.append(account.pk)
        self.keep_caches_warm()
        return made

    def keep_caches_warm(self) -> None:
        """What beat does in production: markets in the shared cache, last prices
        refreshed every 10 s. The web reads both from there on the order path (it never
        loads ccxt or calls the venue for them); this bench runs no beat."""
        from accounts.models import ExchangeAccount
        from accounts.services import markets_refresh
        from positions.selectors import prices_refresh

        markets_refresh()

        def refresh() -> None:
            for account in ExchangeAccount.objects.filter(pk__in=list(self.sim_ids)):
                prices_refresh(account)

        refresh()
        if getattr(self, "_refresher", None) is None:
            self._stop_refreshing = threading.Event()

            def loop() -> None:
                # Beat's period for prices_refresh_all; stops with the bench's measuring.
                while not self._stop_refreshing.wait(10):
                    refresh()

            self._refresher = threading.Thread(target=loop, name="prices", daemon=True)
            self._refresher.start()

    def stop_caches_warm(self) -> None:
        """Before the stack stops: no price refresh against a simulator that is gone."""
        if getattr(self, "_refresher", None) is not None:
            self._stop_refreshing.set()
            self._refresher.join(timeout=30)

    # Measuring --------------------------------------------------------------------------
    def run_phase(self, name: str, accounts: list[int], rate: float, seconds: float) -> Phase:
        threads = max(4, min(32, math.ceil(rate / 10)))
        sent, lag = drive(self.web_port, self.token, accounts, rate, seconds, threads)
        phase = Phase(name, rate, sent, lag)
        phase.errors = [f"HTTP {s.status}: {s.error}" for s in sent if s.status != 201]
        ok = [s for s in sent if s.status == 201]
        phase.post_ms = sorted((s.end_ns - s.start_ns) / 1e6 for s in ok)
        self.wait_sent({s.order_id for s in ok}, name)
        received = self.simulator_times({s.account for s in ok})
        missing = [s.client_order_id for s in ok if s.client_order_id not in received]
        if missing:
            phase.errors.append(f"{len(missing)} orders not on the simulator, e.g. {missing[:3]}")
        arrived = [(s, received[s.client_order_id]) for s in ok if s.client_order_id in received]
        phase.latencies_ms = sorted(at - s.start_ns / 1e6 for s, at in arrived)
        if arrived:
            first = min(s.start_ns for s, _ in arrived) / 1e6
            last = max(at for _, at in arrived)
            phase.throughput = len(arrived) / max((last - first) / 1000, 1e-9)
        return phase

    def wait_sent(self, order_ids: set[int], name: str) -> None:
        from orders.models import Order

        def settled() -> bool:
            return not Order.objects.filter(
                pk__in=order_ids, status__in=("pending", "submitting")
            ).exists()

        poll_until(settled, timeout=60, message=f"the {name} orders to be sent", interval=0.1)

    def simulator_times(self, accounts: set[int]) -> dict[str, float]:
        """client order id -> the simulator's receive time (ms, middle of its millisecond)."""
        times: dict[str, float] = {}
        for account in accounts:
            snapshot = control(self.sim_url, "GET", f"/accounts/{self.sim_ids[account]}")
            for order in snapshot["open_orders"]:
                times[order["clientOrderId"]] = order["time"] + 0.5
        return times

    def check_exactly_once(self) -> str:
        """Every order we stored reached the simulator once and is open here."""
        from django.db.models import Count

        from orders.models import Order

        problems = []
        stored = dict(
            Order.objects.filter(account_id__in=self.sim_ids)
            .values_list("account_id")
            .annotate(n=Count("id"))
        )
        not_open = Order.objects.filter(account_id__in=self.sim_ids).exclude(status="open").count()
        if not_open:
            problems.append(f"{not_open} orders not open in our database")
        total_sim = 0
        for account, sim_id in self.sim_ids.items():
            snapshot = control(self.sim_url, "GET", f"/accounts/{sim_id}")
            total_sim += snapshot["orders"]
            if snapshot["orders"] != stored.get(account, 0):
                problems.append(
                    f"account {account}: {stored.get(account, 0)} stored, "
                    f"{snapshot['orders']} on the simulator"
                )
            ids = [o["clientOrderId"] for o in snapshot["open_orders"]]
            if len(ids) != len(set(ids)):
                problems.append(f"account {account}: a client order id twice on the simulator")
        if problems:
            raise SetupFailed("exactly-once check failed: " + "; ".join(problems))
        return f"{sum(stored.values())} orders stored, {total_sim} on the simulator, all open"


class MemorySampler:
    """Samples web and worker memory in the background; keeps the maxima."""

    def __init__(self, web_pid: int, worker_pid: int):
        self.web_pid, self.worker_pid = web_pid, worker_pid
        self.peak: dict[str, float] = {}
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def sample(self) -> dict[str, float]:
        tree = process_tree(self.worker_pid)
        return {
            "web": rss_mb(self.web_pid),
            "worker": rss_mb(self.worker_pid),
            "worker_sum": sum(rss_mb(pid) for pid in tree),
            "worker_pss": sum(pss_mb(pid) for pid in tree),
            "worker_procs": float(len(tree)),
        }

    def __enter__(self) -> MemorySampler:
        self.peak = {}

        def loop() -> None:
            while not self._stop.wait(0.25):
                for key, value in self.sample().items():
                    self.peak[key] = max(self.peak.get(key, 0.0), value)

        self._stop.clear()
        self._thread = threading.Thread(target=loop, daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join()


# --- Updates --------------------------------------------------------------------------------


def ccxt_trade(
    *, trade_id: int, order_id: str, client_id: str, amount: str, price: str, ts: int
) -> dict:
    """A trade as ccxt's binance parse_trade returns it inside an order (FULL response)."""
    cost = float(amount) * float(price)
    return {
        "info": {
            "price": price,
            "qty": amount,
            "commission": "0.0",
            "commissionAsset": "BNB",
            "tradeId": trade_id,
        },
        "id": str(trade_id),
        "order": order_id,
        "timestamp": ts,
        "datetime": None,
        "symbol": SYMBOL,
        "type": "limit",
        "side": "buy",
        "takerOrMaker": "maker",
        "price": float(price),
        "amount": float(amount),
        "cost": cost,
        "fee": {"cost": cost * 0.001, "currency": "USDT"},
        "fees": [{"cost": cost * 0.001, "currency": "USDT"}],
    }


def ccxt_order(
    *, order_id: str, client_id: str, filled: float, trades: list[dict], ts: int
) -> dict:
    """An order as ccxt's binance parse_order returns it (the fields venue.parse_order reads)."""
    amount, price = 0.01, 60000.0
    status = "closed" if filled >= amount else "open"
    info_status = "FILLED" if status == "closed" else "PARTIALLY_FILLED"
    return {
        "info": {
            "symbol": "BTCUSDT",
            "orderId": int(order_id),
            "clientOrderId": client_id,
            "price": "60000.00",
            "origQty": "0.01000000",
            "executedQty": f"{filled:.8f}",
            "status": info_status,
            "timeInForce": "GTC",
            "type": "LIMIT",
            "side": "BUY",
            "updateTime": ts,
        },
        "id": order_id,
        "clientOrderId": client_id,
        "timestamp": ts - 1000,
        "datetime": None,
        "lastTradeTimestamp": ts,
        "lastUpdateTimestamp": ts,
        "symbol": SYMBOL,
        "type": "limit",
        "timeInForce": "GTC",
        "postOnly": False,
        "reduceOnly": None,
        "side": "buy",
        "price": price,
        "triggerPrice": None,
        "amount": amount,
        "cost": filled * price,
        "average": price if filled else None,
        "filled": filled,
        "remaining": round(amount - filled, 8),
        "status": status,
        "fee": None,
        "trades": trades,
        "fees": [{"cost": filled * price * 0.001, "currency": "USDT"}],
    }


# Updates per stream delivery in the updates run: a busy account's websocket delivers
# tens of order updates between two watch_orders calls.
STREAM_BATCH = 20


def bench_updates(user, count: int) -> dict[str, float]:
    """``count`` orders, three updates each (two partial fills, then filled), one trade each."""
    from decimal import Decimal

    from accounts.models import ExchangeAccount
    from orders import services, venue
    from orders.models import Fill, Order, OrderEvent

    account = ExchangeAccount.objects.create(
        owner=user,
        exchange_id="binance",
        label="bench updates",
        mode="simulator",
        # Never used: these orders are only updated, nothing is sent.
        api_key="updates-key-not-used-0000",
        api_secret="updates-secret-not-used",  # noqa: S106
        can_trade=True,
    )
    orders = Order.objects.bulk_create(
        Order(
            account=account,
            symbol=SYMBOL,
            side="buy",
            type="limit",
            time_in_force="GTC",
            amount=Decimal("0.01"),
            price=Decimal("60000"),
            remaining=Decimal("0.01"),
            client_order_id=venue.client_order_id(account_id=account.pk),
            exchange_order_id=str(9_000_000 + i),
            status="open",
            origin="api",
        )
        for i in range(count)
    )
    now_ms = int(time.time() * 1000)
    steps = (("0.004", 0.004), ("0.003", 0.007), ("0.003", 0.01))
    updates = []
    trade_id = 50_000_000
    # Like a stream: every order's first update, then every order's second, ...
    for step, (amount, filled) in enumerate(steps):
        for order in orders:
            trade_id += 1
            ts = now_ms + step * 10
            trade = ccxt_trade(
                trade_id=trade_id,
                order_id=order.exchange_order_id,
                client_id=order.client_order_id,
                amount=amount,
                price="60000.00",
                ts=ts,
            )
            raw = ccxt_order(
                order_id=order.exchange_order_id,
                client_id=order.client_order_id,
                filled=filled,
                trades=[trade],
                ts=ts,
            )
            updates.append(raw)
    events_before, fills_before = OrderEvent.objects.count(), Fill.objects.count()
    started = time.perf_counter()
    # As the stream delivers them: ccxt's watch_orders hands over what arrived since the
    # last call, applied as one batch (parsing included).
    for start in range(0, len(updates), STREAM_BATCH):
        services.order_apply_updates(
            account=account,
            updates=[venue.parse_order(raw) for raw in updates[start : start + STREAM_BATCH]],
            actor="stream",
        )
    elapsed = time.perf_counter() - started
    events = OrderEvent.objects.count() - events_before
    fills = Fill.objects.count() - fills_before
    filled = Order.objects.filter(account=account, status="filled").count()
    if filled != count or fills != len(updates):
        raise SetupFailed(f"updates: {filled}/{count} orders filled, {fills}/{len(updates)} fills")
    return {
        "updates": len(updates),
        "seconds": elapsed,
        "events": events,
        "fills": fills,
        "per_second": len(updates) / elapsed,
    }


# --- Report ---------------------------------------------------------------------------------


def stats(values: list[float]) -> str:
    if not values:
        return "-"
    p50, p99 = statistics.median(values), percentile(values, 0.99)
    return f"p50 {p50:6.2f}  p99 {p99:6.2f}  max {values[-1]:6.2f} ms"


def p50_p99(values: list[float]) -> str:
    return f"{statistics.median(values):.1f} / {percentile(values, 0.99):.1f}"


@dataclass
class Results:
    latency: Phase
    steps: list[Phase]
    sustained: Phase | None
    updates: dict[str, float]
    idle: dict[str, float]
    load: dict[str, float]
    once: str
    cpu_ms: dict[str, float]  # CPU milliseconds per order in the latency run, by process


def report(args: argparse.Namespace, r: Results) -> None:
    lat, idle, load, upd = r.latency, r.idle, r.load, r.updates
    pool = int(idle["worker_procs"]) - 1
    rule = "-" * 78
    lines = [
        rule,
        f"order pipeline: {args.rate:g} orders/s for {args.seconds:g} s over {args.accounts} "
        f"accounts, worker prefork -c {args.concurrency}",
        rule,
        f"POST start -> simulator   {stats(lat.latencies_ms)}   (n={len(lat.latencies_ms)})",
        f"POST response             {stats(lat.post_ms)}",
        f"offered / end to end      {lat.rate:g} / {lat.throughput:.1f} orders/s "
        f"(senders at most {lat.lag * 1000:.1f} ms behind schedule)",
        f"exactly once              {r.once}",
        "CPU per order             "
        + ", ".join(f"{name} {ms:.1f} ms" for name, ms in r.cpu_ms.items()),
        f"sustained, {PER_ACCOUNT_RATE:g} orders/s per account:",
    ]
    for step in r.steps:
        error = f"  errors: {step.errors[0]}" if step.errors else ""
        lines.append(
            f"  offered {step.rate:5.0f}/s  end to end {step.throughput:6.1f}/s  "
            f"{stats(step.latencies_ms)}{error}"
        )
    best = r.sustained.throughput if r.sustained else 0.0
    lines += [
        f"sustained orders/s        {best:.1f} (the last step before throughput or p99 fell off)",
        f"updates applied           {upd['per_second']:.0f}/s ({upd['updates']:.0f} updates, "
        f"{upd['events']:.0f} events, {upd['fills']:.0f} fills in {upd['seconds']:.2f} s)",
        f"RSS idle                  web {idle['web']:.0f} MB; worker {idle['worker']:.0f} MB "
        f"main, {idle['worker_sum']:.0f} MB with {pool} pool processes "
        f"(PSS {idle['worker_pss']:.0f} MB)",
        f"RSS under load (max)      web {load['web']:.0f} MB; worker {load['worker']:.0f} MB "
        f"main, {load['worker_sum']:.0f} MB with the pool (PSS {load['worker_pss']:.0f} MB)",
        rule,
        "| figure | result | target |",
        "|---|---|---|",
        f"| POST -> simulator p50 / p99 / max | {p50_p99(lat.latencies_ms)} / "
        f"{lat.latencies_ms[-1]:.1f} ms | < 10 / < 25 ms |",
        f"| POST response p50 / p99 | {p50_p99(lat.post_ms)} ms | |",
        f"| sustained orders/s, end to end | {best:.0f} | |",
        f"| updates applied/s (with events and fills) | {upd['per_second']:.0f} | >= 500 |",
        f"| RSS web idle / load | {idle['web']:.0f} / {load['web']:.0f} MB | < 150 MB |",
        f"| RSS worker main idle / load | {idle['worker']:.0f} / {load['worker']:.0f} MB | "
        "< 250 MB |",
        f"| RSS worker + {pool} pool idle / load (PSS) | {idle['worker_sum']:.0f} / "
        f"{load['worker_sum']:.0f} MB ({idle['worker_pss']:.0f} / {load['worker_pss']:.0f}) | |",
    ]
    print("\n".join(lines))


# --- Main -----------------------------------------------------------------------------------


def degraded(step: Phase, baseline_p99: float) -> bool:
    if step.errors or not step.latencies_ms:
        return True
    return step.throughput < 0.95 * step.rate or percentile(step.latencies_ms, 0.99) > max(
        100.0, 4 * baseline_p99
    )


def measure(args, processes: Processes, env: dict[str, str], sim_url: str, web_port: int) -> None:
    import django

    django.setup()
    from django.db import connections

    # The children log to their file; here only what goes wrong.
    logging.getLogger().setLevel(logging.WARNING)

    python = sys.executable
    processes.run_step("migrate", [python, "manage.py", "migrate", "--noinput"])
    processes.start(
        "simulator",
        [
            python,
            "-m",
            "simulator",
            "--port",
            env["SIMULATOR_PORT"],
            "--paused",
            "--log-level",
            "WARNING",
        ],
    )
    web_pid = processes.start(
        "web",
        [
            python,
            "-m",
            "daphne",
            "-b",
            "127.0.0.1",
            "-p",
            str(web_port),
            "trading_site.asgi:application",
        ],
    )
    worker_pid = processes.start(
        "worker",
        [
            python,
            "-m",
            "celery",
            "-A",
            "trading_site",
            "worker",
            "--pool",
            "prefork",
            "--concurrency",
            str(args.concurrency),
            "--queues",
            "orders",
            "--hostname",
            f"bench-{os.getpid()}@%h",
            "--without-mingle",
            "--without-gossip",
            "--loglevel",
            "INFO",
        ],
    )
    wait_up(sim_url, time.monotonic() + READY_TIMEOUT)
    bench = Bench(args, sim_url, web_port)
    bench.create_user()
    accounts = bench.add_accounts(args.accounts)
    wait_ready(processes, sim_url, web_port)
    connections.close_all()

    # Warm-up: every account's client in web and in each pool process, markets cached.
    bench.run_phase(
        "warm-up",
        accounts,
        rate=min(args.rate, 10.0),
        seconds=max(2.0, 2 * args.concurrency * len(accounts) / 10),
    )
    memory = MemorySampler(web_pid, worker_pid)
    idle = memory.sample()

    pids = {
        "web": [web_pid],
        "worker": process_tree(worker_pid),
        "simulator": [processes.children["simulator"].proc.pid],
        "bench": [os.getpid()],
    }
    cpu_before = {name: cpu_seconds(group) for name, group in pids.items()}
    with memory:
        latency = bench.run_phase("latency", accounts, rate=args.rate, seconds=args.seconds)
    load = dict(memory.peak)
    ok = max(1, len(latency.latencies_ms))
    cpu = {
        name: (cpu_seconds(group) - cpu_before[name]) * 1000 / ok for name, group in pids.items()
    }
    processes.check_alive()
    if latency.errors:
        raise SetupFailed("latency run: " + "; ".join(latency.errors[:5]))

    steps: list[Phase] = []
    sustained = None
    rate = args.rate
    baseline = percentile(latency.latencies_ms, 0.99)
    while rate <= args.max_rate:
        needed = math.ceil(rate / PER_ACCOUNT_RATE)
        if len(bench.sim_ids) < needed:
            new = bench.add_accounts(needed - len(bench.sim_ids))
            bench.run_phase(
                "warm-up",
                new,
                rate=min(10.0, 2 * len(new)),
                seconds=max(1.0, args.concurrency * len(new) / min(10.0, 2 * len(new))),
            )
        step = bench.run_phase(
            f"{rate:g}/s", list(bench.sim_ids)[:needed], rate=rate, seconds=args.step_seconds
        )
        steps.append(step)
        if degraded(step, baseline):
            break
        sustained = step
        rate += args.rate_step
    once = bench.check_exactly_once()

    updates = bench_updates(bench.user, args.updates)
    bench.stop_caches_warm()
    connections.close_all()
    report(args, Results(latency, steps, sustained, updates, idle, load, once, cpu))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=30, help="latency run length (30)")
    parser.add_argument("--rate", type=float, default=20, help="orders/s of the latency run (20)")
    parser.add_argument("--accounts", type=int, default=4, help="simulator accounts (4)")
    parser.add_argument("--concurrency", type=int, default=2, help="worker pool processes (2)")
    parser.add_argument(
        "--step-seconds", type=float, default=5, help="length of each sustained step (5)"
    )
    parser.add_argument("--rate-step", type=float, default=20, help="rate increase per step (20)")
    parser.add_argument("--max-rate", type=float, default=200, help="highest rate tried (200)")
    parser.add_argument("--updates", type=int, default=500, help="orders for the updates run (500)")
    parser.add_argument(
        "--database", default="trading_bench", help="bench database, dropped and created"
    )
    parser.add_argument("--keep-db", action="store_true", help="keep the bench database at exit")
    args = parser.parse_args()
    if args.rate / args.accounts > 10:
        parser.error("more than 10 orders/s per account: above Binance's limit; add --accounts")

    return run_with_stack(
        "order pipeline",
        args,
        lambda processes, env, sim_port, web_port: measure(
            args, processes, env, f"http://127.0.0.1:{sim_port}", web_port
        ),
    )


def run_with_stack(name: str, args, measure) -> int:
    """Run ``measure(processes, env, sim_port, web_port)`` on a stack of its own: a fresh
    bench database and Redis databases, the simulator, web and worker processes - and
    stop and drop all of it at exit, on Ctrl-C or SIGTERM, or when setup fails. Shared by
    every benchmark that needs the whole platform running."""
    slug = name.replace(" ", "-")

    def stop(signum, frame):
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    # One run at a time: two would drop each other's database and flush each other's Redis.
    lock = (Path(tempfile.gettempdir()) / f"bench-{slug}-{args.database}.lock").open("w")
    try:
        fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        print(f"another {name} bench is using {args.database!r}", file=sys.stderr)
        return 1
    log_dir = Path(tempfile.mkdtemp(prefix=f"bench-{slug}-"))
    processes = None
    failed = True
    try:
        bench_url, maintenance_url, redis_url = service_urls(args.database)
        sim_port, web_port = free_port(), free_port()
        env = {
            **os.environ,
            "DJANGO_SETTINGS_MODULE": SETTINGS,
            "DATABASE_URL": bench_url,
            "REDIS_URL": redis_url,
            "SIMULATOR_URL": f"http://127.0.0.1:{sim_port}",
            "SIMULATOR_PORT": str(sim_port),
            "PYTHONUNBUFFERED": "1",
            "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")])),
        }
        os.environ.update(env)
        recreate_database(maintenance_url, args.database)
        flush_bench_redis(redis_url)
        processes = Processes(env, log_dir / "processes.log")
        measure(processes, env, sim_port, web_port)
        failed = False
        return 0
    except (SetupFailed, RuntimeError) as exc:  # RuntimeError: poll_until's timeouts
        print(f"{name} bench failed: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("interrupted: stopping everything", file=sys.stderr)
        return 130
    finally:
        if processes is not None:
            processes.stop()
        if not args.keep_db:
            try:
                from django.db import connections

                connections.close_all()
            except Exception:  # noqa: BLE001, S110 - Django may never have been set up
                pass
            try:
                urls = service_urls(args.database)
                recreate_database(urls[1], args.database, drop_only=True)
                flush_bench_redis(urls[2])
            except SetupFailed as exc:
                print(f"cleanup: {exc}", file=sys.stderr)
        if failed:
            print(f"process logs kept in {log_dir}", file=sys.stderr)
        else:
            for path in log_dir.iterdir():
                path.unlink()


if __name__ == "__main__":
    sys.exit(main())
