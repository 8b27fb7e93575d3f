"""The floor under the order and signal paths' latency: the platform's stack, none of its code.

    .venv/bin/python bench/stack_floor.py [--seconds 20] [--rate 20] [--accounts 4]

``bench/order_pipeline.py`` measures ``POST /api/orders/`` -> the simulator receiving the
order through the platform, ``bench/signal_to_order.py`` a webhook alert -> the simulator.
This bench runs the same chain of servers - daphne and Django on the platform's request
threads and connection pool, PostgreSQL through psycopg, Celery on Redis with the
platform's task settings and prefork workers on ``orders`` and on ``strategies``, the real ccxt
client, the simulator - with the least work a request can take through them
(bench/stack_floor_site/):

- an order: the view inserts one row and queues a task on commit; the task claims the row
  with a conditional UPDATE and sends the order with ccxt;
- a signal: the view inserts one row and queues a task on commit; that task claims it,
  inserts its order and queues the order's send on commit (two tasks, as DESIGN.md's
  signal path); then as an order.

No authentication, validation, risk gate, sizing, audit event or push. Whatever this
costs, the platform cannot go below it on this machine: the difference between the
benches is what the platform's own work costs.

It prints, for each path at ``--rate`` per second over ``--accounts`` simulator accounts
(5/s each, as order_pipeline), POST start -> simulator receiving the order (its order
``time``, ms resolution, taken as the middle of its millisecond) and the legs of that
path, from wall-clock stamps taken by the views, the tasks and the simulator (one machine,
one clock); the CPU the web and worker processes spent per request; and the round trip
of an empty view (GET /ping) through daphne and Django.

Services as ``bench/order_pipeline.py``: ``DATABASE_URL`` names the PostgreSQL server (the
bench drops and creates its own database, ``trading_floor``, and drops it at exit);
``REDIS_URL`` the Redis server, of which it uses database 15, flushed at start and exit.
"""

from __future__ import annotations

import os

# Before _common is imported: the Redis database this bench owns and flushes.
os.environ["BENCH_REDIS_DBS"] = "15,15,15"

import argparse
import http.client
import json
import sys
import time
from dataclasses import dataclass

from _common import (
    control,
    cpu_seconds,
    open_loop,
    percentile,
    poll_until,
    process_tree,
    wait_up,
)
from order_pipeline import PER_ACCOUNT_RATE, READY_TIMEOUT, Processes, SetupFailed, run_with_stack

SITE = "bench.stack_floor_site"
TABLES = (
    """CREATE TABLE floor_signal (
        id bigserial PRIMARY KEY,
        account integer NOT NULL,
        price numeric(36, 18) NOT NULL,
        view_at double precision NOT NULL,
        process_at double precision
    )""",
    """CREATE TABLE floor_order (
        id bigserial PRIMARY KEY,
        account integer NOT NULL,
        price numeric(36, 18) NOT NULL,
        status varchar(20) NOT NULL DEFAULT 'pending',
        signal_id bigint REFERENCES floor_signal (id),
        view_at double precision NOT NULL,
        task_at double precision,
        send_at double precision
    )""",
)
# The legs of each path, from the stamps its rows carry (all wall clock, seconds).
ORDER_LEGS = (
    ("POST start -> simulator", "start", "sim"),
    ("POST round trip", "start", "end"),
    ("  POST -> view entered", "start", "view"),
    ("  view -> send task started", "view", "task"),
    ("  task -> ccxt called", "task", "send"),
    ("  ccxt -> simulator", "send", "sim"),
)
SIGNAL_LEGS = (
    ("POST start -> simulator", "start", "sim"),
    ("POST round trip", "start", "end"),
    ("  POST -> view entered", "start", "view"),
    ("  view -> signal task started", "view", "process"),
    ("  signal task -> order stored", "process", "stored"),
    ("  stored -> send task started", "stored", "task"),
    ("  task -> ccxt called", "task", "send"),
    ("  ccxt -> simulator", "send", "sim"),
)


@dataclass
class Posted:
    row_id: int  # the order's (orders) or the signal's (signals)
    start: float  # wall clock, s
    end: float
    error: str = ""


class Client:
    """One keep-alive HTTP/1.1 connection to the floor's web process."""

    def __init__(self, port: int):
        self.conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)

    def post(self, path: str, account: int, price: int) -> Posted:
        body = json.dumps({"account": account, "price": price})
        start = time.time()
        try:
            self.conn.request("POST", path, body=body, headers={"Content-Type": "application/json"})
            response = self.conn.getresponse()
            data = response.read()
        except (OSError, http.client.HTTPException) as exc:
            self.conn.close()
            return Posted(0, start, time.time(), repr(exc))
        end = time.time()
        if response.status not in (201, 202):
            return Posted(0, start, end, f"HTTP {response.status}: {data[:200]!r}")
        return Posted(json.loads(data)["id"], start, end)

    def ping(self) -> float:
        """Round trip of the empty view, ms."""
        start = time.perf_counter()
        self.conn.request("GET", "/ping")
        self.conn.getresponse().read()
        return (time.perf_counter() - start) * 1000


class Floor:
    def __init__(self, args, sim_url: str, web_port: int, database_url: str, sim_ids: list[str]):
        self.args = args
        self.sim_url = sim_url
        self.web_port = web_port
        self.database_url = database_url
        self.sim_ids = sim_ids

    def post(self, path: str, rate: float, seconds: float) -> list[Posted]:
        accounts = len(self.sim_ids)

        def make_sender():
            client = Client(self.web_port)
            # Far below the market (65,000): rests on the book, never fills.
            return lambda i: client.post(path, i % accounts, 30_000 + i % 500)

        posted, _ = open_loop(rate, seconds, threads=4, make_sender=make_sender)
        errors = [p.error for p in posted if p.error]
        if errors:
            raise SetupFailed(f"{len(errors)} POSTs to {path} failed, e.g. {errors[0]}")
        return posted

    def stamps(self, posted: list[Posted], *, signals: bool) -> dict[int, dict[str, float]]:
        """Wait until every order is open; posted row id -> its stamps by name."""
        import psycopg

        ids = [p.row_id for p in posted]
        key = "signal_id" if signals else "id"
        with psycopg.connect(self.database_url, autocommit=True) as conn:

            def all_open() -> bool:
                (count,) = conn.execute(
                    f"SELECT count(*) FROM floor_order WHERE {key} = ANY(%s) AND status = 'open'",  # noqa: S608
                    [ids],
                ).fetchone()
                return count == len(ids)

            poll_until(all_open, timeout=60, message="every order to be sent", interval=0.1)
            query = (
                "SELECT o.id, o.signal_id, o.view_at, o.task_at, o.send_at, s.view_at,"  # noqa: S608
                " s.process_at FROM floor_order o LEFT JOIN floor_signal s ON s.id = o.signal_id"
                f" WHERE o.{key} = ANY(%s)"  # key: one of two column names
            )
            rows = conn.execute(query, [ids]).fetchall()
        received = self.simulator_times()
        stamps = {}
        for order_id, signal_id, stored, task, send, signal_view, process in rows:
            if order_id not in received:
                raise SetupFailed(f"order {order_id} is not on the simulator")
            row = {"task": task, "send": send, "sim": received[order_id]}
            if signals:
                row.update(view=signal_view, process=process, stored=stored)
            else:
                row["view"] = stored
            stamps[signal_id if signals else order_id] = row
        return stamps

    def simulator_times(self) -> dict[int, float]:
        """floor order id -> the simulator's receive time (s, middle of its millisecond)."""
        times = {}
        for sim_id in self.sim_ids:
            for order in control(self.sim_url, "GET", f"/accounts/{sim_id}")["open_orders"]:
                order_id = int(order["clientOrderId"].removeprefix("floor"))
                times[order_id] = (order["time"] + 0.5) / 1000
        return times

    def run(self, path: str, legs: tuple, *, signals: bool, pids: dict) -> dict[str, list[float]]:
        cpu_before = {name: cpu_seconds(group) for name, group in pids.items()}
        posted = self.post(path, self.args.rate, self.args.seconds)
        stamps = self.stamps(posted, signals=signals)
        per = {
            f"CPU {name}": (cpu_seconds(group) - cpu_before[name]) * 1000 / len(posted)
            for name, group in pids.items()
        }
        figures: dict[str, list[float]] = {name: [] for name, _, _ in legs}
        for p in posted:
            row = {"start": p.start, "end": p.end, **stamps[p.row_id]}
            for name, since, until in legs:
                figures[name].append((row[until] - row[since]) * 1000)
        self.cpu = per
        return figures


def p50_p99(values_ms: list[float]) -> str:
    values_ms = sorted(values_ms)
    return f"p50 {percentile(values_ms, 0.5):6.2f}  p99 {percentile(values_ms, 0.99):6.2f} ms"


def measure(args, processes: Processes, env: dict[str, str], sim_port: int, web_port: int):
    import psycopg

    python = sys.executable
    sim_url = f"http://127.0.0.1:{sim_port}"
    redis_base = env["REDIS_URL"].rstrip("/")
    if redis_base.rsplit("/", 1)[-1].isdigit():
        redis_base = redis_base.rsplit("/", 1)[0]
    with psycopg.connect(env["DATABASE_URL"], autocommit=True) as conn:
        for table in TABLES:
            conn.execute(table)

    processes.start(
        "simulator",
        [python, "-m", "simulator", "--port", str(sim_port), "--paused", "--log-level", "WARNING"],
    )
    wait_up(sim_url, time.monotonic() + READY_TIMEOUT)
    made = [
        control(sim_url, "POST", "/accounts", {"spot": {"USDT": "100000000"}})
        for _ in range(args.accounts)
    ]
    # The children (not this process) run the floor site.
    env["DJANGO_SETTINGS_MODULE"] = f"{SITE}.settings"
    env["STACK_FLOOR_BROKER_URL"] = f"{redis_base}/15"
    env["STACK_FLOOR_ACCOUNTS"] = json.dumps([[m["api_key"], m["secret"]] for m in made])
    web_pid = processes.start(
        "web",
        [python, "-m", "daphne", "-b", "127.0.0.1", "-p", str(web_port),
         f"{SITE}.asgi:application"],
    )  # fmt: skip
    # As make run: orders on a worker of their own.
    worker_pids = []
    for name, queues in (("orders-worker", "orders"), ("worker", "strategies")):
        argv = [python, "-m", "celery", "-A", f"{SITE}.tasks", "worker", "--pool", "prefork",
                "--concurrency", str(args.concurrency), "--queues", queues,
                "--hostname", f"floor-{name}-{os.getpid()}@%h", "--without-mingle",
                "--without-gossip", "--loglevel", "WARNING"]  # fmt: skip
        worker_pids.append(processes.start(name, argv))

    def web_up() -> bool:
        processes.check_alive()
        try:
            Client(web_port).ping()
        except (OSError, http.client.HTTPException):
            return False
        return True

    poll_until(web_up, timeout=READY_TIMEOUT, message="the web process")
    floor = Floor(args, sim_url, web_port, env["DATABASE_URL"], [m["account_id"] for m in made])
    # Warm-up: every account's client in each pool process, markets loaded.
    warm_seconds = 2 * args.concurrency
    floor.stamps(floor.post("/orders", 10, warm_seconds), signals=False)
    floor.stamps(floor.post("/signals", 10, warm_seconds), signals=True)

    client = Client(web_port)
    pings = []
    for _ in range(200):
        pings.append(client.ping())
        time.sleep(0.01)  # idle between pings, as between orders, not back to back

    pids = {"web": [web_pid], "workers": [p for pid in worker_pids for p in process_tree(pid)]}
    runs = (
        ("orders: POST /orders -> simulator", "/orders", ORDER_LEGS, False),
        ("signals: POST /signals -> simulator", "/signals", SIGNAL_LEGS, True),
    )
    line = "-" * 78
    print(line)
    print(
        f"stack floor: {args.rate:g}/s for {args.seconds:g} s over {args.accounts} accounts, "
        f"workers prefork -c {args.concurrency} on orders and on strategies"
    )
    for title, path, legs, signals in runs:
        figures = floor.run(path, legs, signals=signals, pids=pids)
        print(line)
        print(title)
        for name, values in figures.items():
            print(f"{name:32s}{p50_p99(values)}")
        cpu = floor.cpu
        print(
            f"{'CPU per order':32s}web {cpu['CPU web']:.1f} ms, workers {cpu['CPU workers']:.1f} ms"
        )
    print(line)
    print(f"{'empty view round trip':32s}{p50_p99(pings)}")
    print(line)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=20, help="run length (20)")
    parser.add_argument("--rate", type=float, default=20, help="orders/s (20)")
    parser.add_argument("--accounts", type=int, default=4, help="simulator accounts (4)")
    parser.add_argument(
        "--concurrency", type=int, default=2, help="pool processes of each worker (2)"
    )
    parser.add_argument("--database", default="trading_floor", help="dropped and created")
    parser.add_argument("--keep-db", action="store_true", help="keep the database at exit")
    args = parser.parse_args()
    if args.rate / args.accounts > PER_ACCOUNT_RATE:
        parser.error(f"more than {PER_ACCOUNT_RATE:g} orders/s per account; add --accounts")
    return run_with_stack(
        "stack floor",
        args,
        lambda processes, env, sim_port, web_port: measure(
            args, processes, env, sim_port, web_port
        ),
    )


if __name__ == "__main__":
    sys.exit(main())
