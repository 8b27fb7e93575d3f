"""A TradingView alert end to end: webhook -> signal -> risk gate -> order -> simulator.

One command starts everything in its own PostgreSQL database and Redis databases, measures,
prints a table and stops every process it started (also on Ctrl-C, SIGTERM or failure):

    .venv/bin/python bench/signal_to_order.py [--seconds 30] [--rate 20] [--accounts 4]
                                              [--concurrency 2] [--decisions 500]

- Services and processes as bench/order_pipeline.py (its machinery, imported): its own
  database (``--database``, default ``trading_bench_signals``, dropped at exit unless
  ``--keep-db``) and Redis databases 9-11 plus ``bench-signals-ratelimit`` keys in database
  3, flushed at start and exit, so it never touches order_pipeline's. As ``make run``, two
  prefork workers of ``--concurrency`` pool processes each: one on ``strategies``, one on
  ``orders``. An alert takes two tasks, ``strategies.signal_process`` (the risk gate
  decides and the order is stored) and ``orders.order_send``.
- Accounts: ``--accounts`` simulator accounts, each with a webhook SignalSource (default
  account, fixed-quote sizing of 50 USDT), a USDT Balance row (the gate's equity) and one
  account-scope RiskLimit (order value, position %, open positions, daily loss, drawdown,
  orders per minute, symbols) that every order passes. Alerts are limit buys at 30,000
  (the paused market is at 60,000): they rest on the book and never fill, so nothing
  drains and every order stays visible to the simulator's snapshot.
- Exchange limits: at most 10 orders/s and 200 open orders per symbol per account
  (Binance's); the options are refused otherwise.
- Latency: alerts (each with a unique ``id``) POSTed to ``/api/webhooks/tradingview/<source>/``
  at ``--rate`` per second for ``--seconds``, round-robin over the accounts, from keep-alive
  connections. An alert's latency is the simulator's receive time of its order (matched by
  client order id; ms resolution, taken as the middle of its millisecond) minus the wall
  clock at the start of its POST. Stages from our rows' own timestamps (same clock):
  stored (Signal.received_at), claimed by the worker (Signal.processed_at), order stored
  (Order.created_at), at the simulator.
- Risk decision: in this process, ``RiskGate().check`` for a prepared order (as
  ``order_submit`` calls it: in a transaction, here rolled back each time) ``--decisions``
  times on an account holding 1, then 50 open positions and working orders; time and the
  query count of one decision.
"""

from __future__ import annotations

import os

# Redis databases and rate-limit keys of this bench's own (read by _common, _settings and
# the children): order_pipeline's (12-14) may be in use by a run of it.
os.environ["BENCH_REDIS_DBS"] = "9,10,11"
os.environ["BENCH_RATE_LIMIT_PREFIX"] = "bench-signals-ratelimit"

import argparse
import http.client
import itertools
import json
import logging
import statistics
import sys
import time
from dataclasses import dataclass, field
from decimal import Decimal

from _common import (
    open_loop,
    percentile,
    poll_until,
    start_stack,
    wait_up,
)
from order_pipeline import (
    READY_TIMEOUT,
    SYMBOL,
    Bench,
    Processes,
    SetupFailed,
    p50_p99,
    run_with_stack,
    stats,
    wait_ready,
)

QUOTE_PER_ORDER = Decimal(50)  # USDT per alert: the sources' fixed-quote sizing
ENTRY_PRICE = 30_000  # well below the paused market (60,000): rests, never fills
EQUITY = Decimal(1_000_000)  # USDT Balance row of each account: the gate's equity
MAX_ORDERS_PER_SECOND = 10  # per account, Binance's
MAX_OPEN_ORDERS = 200  # per account and symbol, Binance's MAX_NUM_ORDERS


# --- Setup ----------------------------------------------------------------------------------


def account_limits(owner, account, **overrides):
    """One account-scope RiskLimit that the bench's orders pass, every rule switched on."""
    from risk.models import RiskLimit

    values = {
        "max_order_value": Decimal(1000),
        "min_order_value": Decimal(10),
        "max_order_amount": Decimal(1),
        "max_position_pct": Decimal("0.5"),
        "max_open_positions": 100,
        "max_daily_loss": Decimal(10_000),
        "max_drawdown_pct": Decimal("0.5"),
        "loss_cooldown_minutes": 5,
        "max_orders_per_minute": 1000,
        "allowed_symbols": [SYMBOL],
        **overrides,
    }
    return RiskLimit.objects.create(
        owner=owner, scope=RiskLimit.Scope.ACCOUNT, account=account, **values
    )


def equity_row(account) -> None:
    from django.utils import timezone

    from positions.models import Balance

    Balance.objects.create(
        account=account, asset="USDT", total=EQUITY, free=EQUITY, used=0, synced_at=timezone.now()
    )


@dataclass
class Source:
    account: int
    source: int
    secret: str


def add_sources(bench: Bench, accounts: list[int]) -> list[Source]:
    """A webhook source (default account, fixed quote), equity and a limit per account."""
    from accounts.models import ExchangeAccount
    from strategies.models import SignalSource
    from strategies.services import source_set_secret

    sources = []
    for account in ExchangeAccount.objects.filter(pk__in=accounts).order_by("pk"):
        equity_row(account)
        account_limits(bench.user, account)
        source = SignalSource.objects.create(
            owner=bench.user,
            name=f"tradingview {account.pk}",
            kind=SignalSource.Kind.WEBHOOK,
            account=account,
            sizing=SignalSource.Sizing.FIXED_QUOTE,
            sizing_value=QUOTE_PER_ORDER,
        )
        sources.append(Source(account.pk, source.pk, source_set_secret(source=source)))
    return sources


# --- Load -----------------------------------------------------------------------------------


@dataclass
class Alert:
    account: int
    start_ns: int  # wall clock at the start of the POST
    end_ns: int
    status: int
    signal_id: int = 0
    error: str = ""


class Webhook:
    """One keep-alive HTTP/1.1 connection posting alerts, as TradingView would."""

    def __init__(self, port: int, sources: list[Source], run: str):
        self.port, self.sources, self.run = port, sources, run
        self.conn: http.client.HTTPConnection | None = None

    def __call__(self, index: int) -> Alert:
        source = self.sources[index % len(self.sources)]
        body = json.dumps(
            {
                "secret": source.secret,
                "id": f"{self.run}-{index}",
                "ticker": SYMBOL.replace("/", ""),
                "action": "buy",
                "entry_price": str(ENTRY_PRICE + index % 500),
            }
        )
        if self.conn is None:
            self.conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=30)
            self.conn.connect()
        start = time.time_ns()
        try:
            self.conn.request(
                "POST",
                f"/api/webhooks/tradingview/{source.source}/",
                body=body,
                headers={"Content-Type": "application/json"},
            )
            response = self.conn.getresponse()
            data = response.read()
        except (OSError, http.client.HTTPException) as exc:
            self.conn.close()
            self.conn = None
            return Alert(source.account, start, time.time_ns(), 0, error=repr(exc))
        end = time.time_ns()
        if response.status != 202:
            return Alert(
                source.account, start, end, response.status, error=data[:300].decode("replace")
            )
        return Alert(source.account, start, end, 202, json.loads(data)["signal"])

    def close(self) -> None:
        if self.conn is not None:
            self.conn.close()


@dataclass
class Phase:
    name: str
    rate: float
    lag: float
    latencies_ms: list[float] = field(default_factory=list)  # POST start -> simulator
    post_ms: list[float] = field(default_factory=list)  # webhook round trip
    stages_ms: dict[str, list[float]] = field(default_factory=dict)
    throughput: float = 0.0
    errors: list[str] = field(default_factory=list)


def run_phase(bench: Bench, sources: list[Source], name: str, rate: float, seconds: float) -> Phase:
    from orders.models import Order
    from strategies.models import Signal

    threads = max(4, min(32, round(rate / 5)))
    alerts, lag = open_loop(
        rate,
        seconds,
        threads,
        lambda: Webhook(bench.web_port, sources, f"{name}-{time.time_ns()}"),
        lambda sender: sender.close(),
    )
    phase = Phase(name, rate, lag)
    phase.errors = [f"HTTP {a.status}: {a.error}" for a in alerts if a.status != 202]
    ok = {a.signal_id: a for a in alerts if a.status == 202}

    def processed() -> bool:
        if Signal.objects.filter(pk__in=ok, status=Signal.Status.RECEIVED).exists():
            return False
        return not Order.objects.filter(
            idempotency_key__in=[f"signal-{pk}" for pk in ok],
            status__in=("pending", "submitting"),
        ).exists()

    poll_until(processed, timeout=60, message=f"the {name} signals to be sent", interval=0.1)
    signals = {
        pk: (status, reason, received, claimed)
        for pk, status, reason, received, claimed in Signal.objects.filter(pk__in=ok).values_list(
            "pk", "status", "status_reason", "received_at", "processed_at"
        )
    }
    refused = [(pk, s[0], s[1]) for pk, s in signals.items() if s[0] != Signal.Status.APPROVED]
    if refused:
        phase.errors.append(f"{len(refused)} signals not approved, e.g. {refused[:3]}")
    orders = {
        int(key.removeprefix("signal-")): (client_id, status, created)
        for key, client_id, status, created in Order.objects.filter(
            idempotency_key__in=[f"signal-{pk}" for pk in ok]
        ).values_list("idempotency_key", "client_order_id", "status", "created_at")
    }
    not_open = [(pk, o[1]) for pk, o in orders.items() if o[1] != "open"]
    if not_open:
        phase.errors.append(f"{len(not_open)} orders not open, e.g. {not_open[:3]}")
    received = bench.simulator_times({a.account for a in ok.values()})
    stages: dict[str, list[float]] = {
        "POST -> signal stored": [],
        "stored -> claimed (strategies queue)": [],
        "claimed -> order stored (sizing, gate)": [],
        "order stored -> simulator (orders queue, send)": [],
    }
    arrived = []
    for pk, alert in ok.items():
        order = orders.get(pk)
        at = received.get(order[0]) if order else None
        if at is None:
            continue
        arrived.append((alert, at))
        start = alert.start_ns / 1e6
        _status, _reason, stored, claimed = signals[pk]
        marks = [start, stored.timestamp() * 1000, claimed.timestamp() * 1000]
        marks += [order[2].timestamp() * 1000, at]
        for stage, (a, b) in zip(stages, itertools.pairwise(marks), strict=True):
            stages[stage].append(b - a)
    missing = len(ok) - len(arrived)
    if missing:
        phase.errors.append(f"{missing} of {len(ok)} alerts' orders not on the simulator")
    phase.post_ms = sorted((a.end_ns - a.start_ns) / 1e6 for a in ok.values())
    phase.latencies_ms = sorted(at - a.start_ns / 1e6 for a, at in arrived)
    phase.stages_ms = {stage: sorted(values) for stage, values in stages.items()}
    if arrived:
        first = min(a.start_ns for a, _ in arrived) / 1e6
        last = max(at for _, at in arrived)
        phase.throughput = len(arrived) / max((last - first) / 1000, 1e-9)
    return phase


# --- Risk decision --------------------------------------------------------------------------


@dataclass
class DecisionCost:
    holdings: int  # open positions and, as many, working orders on the account
    times_ms: list[float]
    queries: int
    approved: bool


def bench_decisions(bench: Bench, account_pk: int, iterations: int) -> list[DecisionCost]:
    """``RiskGate().check`` as order_submit calls it, with 1 and then 50 open positions and
    working orders on the account: time of one decision and its queries."""
    from django.db import connection, transaction
    from django.test.utils import CaptureQueriesContext
    from django.utils import timezone

    from accounts.models import ExchangeAccount
    from orders import venue
    from orders.models import Order
    from orders.services import OrderRequest
    from orders.services.submit import order_prepare
    from positions.models import Position
    from risk.services import RiskGate

    account = ExchangeAccount.objects.get(pk=account_pk)
    equity_row(account)
    account_limits(bench.user, account)
    request = OrderRequest(
        symbol=SYMBOL, side="buy", type="limit", amount=Decimal("0.001"), price=Decimal(30_000)
    )
    order = order_prepare(account=account, request=request, origin=Order.Origin.API)
    gate = RiskGate()
    prepared = gate.prepare(account=account, order=order)
    context = {"signal": 0, "strategy": ""}
    now = timezone.now()
    results = []
    held = 0
    for holdings in (1, 50):
        Position.objects.bulk_create(
            Position(
                account=account,
                symbol=f"X{i}/USDT",
                side=Position.Side.LONG,
                source=Position.Source.FILLS,
                base_asset=f"X{i}",
                quote_asset="USDT",
                contracts=Decimal(1),
                entry_price=Decimal(10),
                mark_price=Decimal(11),
                opened_at=now,
            )
            for i in range(held, holdings)
        )
        Order.objects.bulk_create(
            Order(
                account=account,
                symbol=SYMBOL,
                side="buy",
                type="limit",
                time_in_force="GTC",
                amount=Decimal("0.001"),
                price=Decimal(20_000),
                remaining=Decimal("0.001"),
                client_order_id=venue.client_order_id(account_id=account.pk),
                exchange_order_id=str(8_000_000 + i),
                status="open",
                origin="api",
            )
            for i in range(held, holdings)
        )
        held = holdings

        def decide():
            with transaction.atomic(durable=True):
                row = gate.check(
                    account=account, order=order, prepared=prepared, actor="bench", context=context
                )
                gate.record(verdict=row, order=None)
                transaction.set_rollback(True)  # the same state every time
            return row

        with transaction.atomic(durable=True):
            # Committed (decisions below roll back): the account's RiskState row and its
            # equity peak exist, as they do for every account that has traded.
            gate.check(account=account, order=order, prepared=prepared, actor="bench", context={})
        for _ in range(20):
            decide()  # warm: caches filled
        with CaptureQueriesContext(connection) as captured:
            row = decide()
        # Without the transaction's own BEGIN/ROLLBACK (order_submit's, not the gate's).
        queries = [q for q in captured.captured_queries if q["sql"] not in ("BEGIN", "ROLLBACK")]
        times = []
        for _ in range(iterations):
            started = time.perf_counter()
            decide()
            times.append((time.perf_counter() - started) * 1000)
        results.append(DecisionCost(holdings, sorted(times), len(queries), row.approved))
    return results


# --- Report ---------------------------------------------------------------------------------


def report(args: argparse.Namespace, lat: Phase, costs: list[DecisionCost]) -> None:
    rule = "-" * 78
    lines = [
        rule,
        f"signal to order: {args.rate:g} alerts/s for {args.seconds:g} s over {args.accounts} "
        f"accounts, workers prefork -c {args.concurrency} on strategies and on orders",
        rule,
        f"webhook POST -> simulator {stats(lat.latencies_ms)}   (n={len(lat.latencies_ms)})",
        f"webhook response          {stats(lat.post_ms)}",
    ]
    for stage, values in lat.stages_ms.items():
        lines.append(f"  {stage:<44} p50 {statistics.median(values):6.2f}  "
                     f"p99 {percentile(values, 0.99):6.2f} ms")  # fmt: skip
    lines.append(
        f"offered / end to end      {lat.rate:g} / {lat.throughput:.1f} alerts/s "
        f"(senders at most {lat.lag * 1000:.1f} ms behind schedule)"
    )
    for cost in costs:
        lines.append(
            f"risk decision, {cost.holdings:2d} open   {stats(cost.times_ms)}   "
            f"{cost.queries} queries ({'approved' if cost.approved else 'refused'})"
        )
    counts = sorted({cost.queries for cost in costs})
    lines += [
        rule,
        "| figure | result | target |",
        "|---|---|---|",
        f"| webhook -> simulator p50 / p99 / max | {p50_p99(lat.latencies_ms)} / "
        f"{lat.latencies_ms[-1]:.1f} ms | < 15 / < 40 ms |",
        f"| webhook response p50 / p99 | {p50_p99(lat.post_ms)} ms | < 3 s (TradingView) |",
        "| risk decision p50 / p99 (1 / 50 open) | "
        + " ; ".join(
            f"{statistics.median(c.times_ms):.2f} / {percentile(c.times_ms, 0.99):.2f}"
            for c in costs
        )
        + " ms | < 3 ms |",
        "| risk decision queries (1 / 50 open) | "
        + " / ".join(str(c.queries) for c in costs)
        + f" ({'constant' if len(counts) == 1 else 'NOT constant'}) | fixed |",
    ]
    print("\n".join(lines))


# --- Main -----------------------------------------------------------------------------------


def measure(args, processes: Processes, sim_port: int, web_port: int) -> None:
    import django

    django.setup()
    from django.db import connections

    logging.getLogger().setLevel(logging.WARNING)
    sim_url = f"http://127.0.0.1:{sim_port}"
    processes.run_step("migrate", [sys.executable, "manage.py", "migrate", "--noinput"])
    start_stack(
        processes,
        sim_port=sim_port,
        web_port=web_port,
        concurrency=args.concurrency,
        # As make run: orders on a worker of their own.
        workers={"orders-worker": "orders", "worker": "strategies"},
    )
    wait_up(sim_url, time.monotonic() + READY_TIMEOUT)
    bench = Bench(args, sim_url, web_port)
    bench.create_user()
    accounts = bench.add_accounts(args.accounts)
    sources = add_sources(bench, accounts)
    wait_ready(processes, sim_url, web_port)
    connections.close_all()

    # Warm-up: every account's client in web and in each pool process, markets and prices
    # cached; its alerts count towards each account's open orders.
    warm = bench_warmup_seconds(args)
    phase = run_phase(bench, sources, "warm-up", min(args.rate, 10.0), warm)
    if phase.errors:
        raise SetupFailed("warm-up: " + "; ".join(phase.errors[:5]))
    latency = run_phase(bench, sources, "latency", args.rate, args.seconds)
    processes.check_alive()
    if latency.errors:
        raise SetupFailed("latency run: " + "; ".join(latency.errors[:5]))
    costs = bench_decisions(bench, bench.add_accounts(1)[0], args.decisions)
    bench.stop_caches_warm()
    connections.close_all()
    report(args, latency, costs)


def bench_warmup_seconds(args) -> float:
    return max(2.0, 2 * args.concurrency * args.accounts / 10)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=30, help="latency run length (30)")
    parser.add_argument("--rate", type=float, default=20, help="alerts/s of the latency run (20)")
    parser.add_argument("--accounts", type=int, default=4, help="simulator accounts (4)")
    parser.add_argument(
        "--concurrency", type=int, default=2, help="pool processes of each worker (2)"
    )
    parser.add_argument(
        "--decisions", type=int, default=500, help="risk decisions timed per case (500)"
    )
    parser.add_argument(
        "--database", default="trading_bench_signals", help="bench database, dropped and created"
    )
    parser.add_argument("--keep-db", action="store_true", help="keep the bench database at exit")
    args = parser.parse_args()
    if args.rate / args.accounts > MAX_ORDERS_PER_SECOND:
        parser.error(f"more than {MAX_ORDERS_PER_SECOND} orders/s per account: add --accounts")
    warm_orders = min(args.rate, 10.0) * bench_warmup_seconds(args)
    per_account = (args.rate * args.seconds + warm_orders) / args.accounts
    if per_account > MAX_OPEN_ORDERS:
        parser.error(
            f"{per_account:.0f} open orders per account, above the exchange's "
            f"{MAX_OPEN_ORDERS}: add --accounts or shorten --seconds"
        )

    return run_with_stack(
        "signal to order",
        args,
        lambda processes, env, sim_port, web_port: measure(args, processes, sim_port, web_port),
    )


if __name__ == "__main__":
    sys.exit(main())
