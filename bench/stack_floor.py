"""The floor under the order path's latency: the platform's stack with none of its code.

    .venv/bin/python bench/stack_floor.py [--seconds 20] [--rate 20] [--accounts 4]

``bench/order_pipeline.py`` measures ``POST /api/orders/`` -> the simulator receiving the
order through the platform. This bench runs the same chain of servers - daphne and Django,
PostgreSQL through psycopg, Celery on Redis with the platform's task settings and a prefork
worker, the real ccxt client, the simulator - with the least work an order can take through
them (bench/stack_floor_site/): the view inserts one row and queues a task on commit; the
task claims the row with a conditional UPDATE and sends the order with ccxt. No
authentication, validation, risk gate, audit event or push. Whatever this costs, the
platform cannot go below it on this machine: the difference between the two benches is
what the platform's own work costs.

It prints, per order at ``--rate`` orders/s over ``--accounts`` simulator accounts (5
orders/s each, as order_pipeline):

- POST start -> simulator receiving the order (its order ``time``, ms resolution, taken
  as the middle of its millisecond), and the legs of that path, from wall-clock stamps
  taken by the view, the task and the simulator (one machine, one clock):
  POST -> view entered (HTTP, daphne, Django's handler and its thread hop);
  view -> task started (INSERT, COMMIT, Celery publish, broker, worker, pool process);
  task -> ccxt called (the claiming UPDATE); ccxt -> simulator (build, sign, send);
- the round trip of an empty view (GET /ping) through daphne and Django.

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

from _common import control, cpu_seconds, open_loop, percentile, poll_until, process_tree, wait_up
from order_pipeline import PER_ACCOUNT_RATE, READY_TIMEOUT, Processes, SetupFailed, run_with_stack

SITE = "bench.stack_floor_site"
TABLE = """
    CREATE TABLE floor_order (
        id bigserial PRIMARY KEY,
        account integer NOT NULL,
        price numeric(36, 18) NOT NULL,
        status varchar(20) NOT NULL DEFAULT 'pending',
        view_at double precision NOT NULL,
        task_at double precision,
        send_at double precision
    )
"""


@dataclass
class Posted:
    order_id: int
    start: float  # wall clock, s
    end: float
    error: str = ""


class Client:
    """One keep-alive HTTP/1.1 connection to the floor's web process."""

    def __init__(self, port: int):
        self.conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)

    def post(self, account: int, price: int) -> Posted:
        body = json.dumps({"account": account, "price": price})
        start = time.time()
        try:
            self.conn.request(
                "POST", "/orders", body=body, headers={"Content-Type": "application/json"}
            )
            response = self.conn.getresponse()
            data = response.read()
        except (OSError, http.client.HTTPException) as exc:
            self.conn.close()
            return Posted(0, start, time.time(), repr(exc))
        end = time.time()
        if response.status != 201:
            return Posted(0, start, end, f"HTTP {response.status}: {data[:200]!r}")
        return Posted(json.loads(data)["id"], start, end)

    def ping(self) -> float:
        """Round trip of the empty view, ms."""
        start = time.perf_counter()
        self.conn.request("GET", "/ping")
        self.conn.getresponse().read()
        return (time.perf_counter() - start) * 1000


def post_orders(port: int, accounts: int, rate: float, seconds: float) -> list[Posted]:
    def make_sender():
        client = Client(port)
        # Far below the market (65,000): rests on the book, never fills.
        return lambda i: client.post(i % accounts, 30_000 + i % 500)

    posted, _ = open_loop(rate, seconds, threads=4, make_sender=make_sender)
    errors = [p.error for p in posted if p.error]
    if errors:
        raise SetupFailed(f"{len(errors)} POSTs failed, e.g. {errors[0]}")
    return posted


def wait_open(database_url: str, ids: list[int]) -> dict[int, tuple[float, float, float]]:
    """Wait until every order is open; order id -> (view_at, task_at, send_at)."""
    import psycopg

    with psycopg.connect(database_url, autocommit=True) as conn:

        def all_open() -> bool:
            row = conn.execute(
                "SELECT count(*) FROM floor_order WHERE id = ANY(%s) AND status = 'open'", [ids]
            ).fetchone()
            return row[0] == len(ids)

        poll_until(all_open, timeout=60, message="every order to be sent", interval=0.1)
        rows = conn.execute(
            "SELECT id, view_at, task_at, send_at FROM floor_order WHERE id = ANY(%s)", [ids]
        ).fetchall()
    return {row[0]: row[1:] for row in rows}


def simulator_times(sim_url: str, sim_ids: list[str]) -> dict[int, float]:
    """order id -> the simulator's receive time (s, middle of its millisecond)."""
    times = {}
    for sim_id in sim_ids:
        for order in control(sim_url, "GET", f"/accounts/{sim_id}")["open_orders"]:
            times[int(order["clientOrderId"].removeprefix("floor"))] = (order["time"] + 0.5) / 1000
    return times


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
        conn.execute(TABLE)

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
    worker_pid = processes.start(
        "worker",
        [python, "-m", "celery", "-A", f"{SITE}.tasks", "worker", "--pool", "prefork",
         "--concurrency", str(args.concurrency), "--queues", "orders",
         "--hostname", f"floor-{os.getpid()}@%h", "--without-mingle", "--without-gossip",
         "--loglevel", "WARNING"],
    )  # fmt: skip

    def web_up() -> bool:
        processes.check_alive()
        try:
            Client(web_port).ping()
        except (OSError, http.client.HTTPException):
            return False
        return True

    poll_until(web_up, timeout=READY_TIMEOUT, message="the web process")
    # Warm-up: every account's client in each pool process, markets loaded.
    warm = post_orders(web_port, args.accounts, rate=10, seconds=2 * args.concurrency)
    wait_open(env["DATABASE_URL"], [p.order_id for p in warm])

    client = Client(web_port)
    pings = []
    for _ in range(200):
        pings.append(client.ping())
        time.sleep(0.01)  # idle between pings, as between orders, not back to back

    pids = {"web": [web_pid], "worker": process_tree(worker_pid)}
    cpu_before = {name: cpu_seconds(group) for name, group in pids.items()}
    posted = post_orders(web_port, args.accounts, args.rate, args.seconds)
    stamps = wait_open(env["DATABASE_URL"], [p.order_id for p in posted])
    cpu = {
        name: (cpu_seconds(g) - cpu_before[name]) * 1000 / len(posted) for name, g in pids.items()
    }
    received = simulator_times(sim_url, [m["account_id"] for m in made])
    missing = [p.order_id for p in posted if p.order_id not in received]
    if missing:
        raise SetupFailed(f"{len(missing)} orders not on the simulator, e.g. {missing[:3]}")

    legs: dict[str, list[float]] = {
        "POST start -> simulator": [],
        "POST round trip": [],
        "  POST -> view entered": [],
        "  view -> task started": [],
        "  task -> ccxt called": [],
        "  ccxt -> simulator": [],
    }
    for p in posted:
        view_at, task_at, send_at = stamps[p.order_id]
        at = received[p.order_id]
        for name, seconds in zip(
            legs,
            (at - p.start, p.end - p.start, view_at - p.start, task_at - view_at,
             send_at - task_at, at - send_at),
            strict=True,
        ):  # fmt: skip
            legs[name].append(seconds * 1000)

    line = "-" * 78
    print(line)
    print(
        f"stack floor: {args.rate:g} orders/s for {args.seconds:g} s over {args.accounts} "
        f"accounts, worker prefork -c {args.concurrency}"
    )
    print(line)
    for name, values in legs.items():
        print(f"{name:28s}{p50_p99(values)}")
    print(f"{'empty view round trip':28s}{p50_p99(pings)}")
    print(f"{'CPU per order':28s}web {cpu['web']:.1f} ms, worker {cpu['worker']:.1f} ms")
    print(line)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=20, help="run length (20)")
    parser.add_argument("--rate", type=float, default=20, help="orders/s (20)")
    parser.add_argument("--accounts", type=int, default=4, help="simulator accounts (4)")
    parser.add_argument("--concurrency", type=int, default=2, help="worker pool processes (2)")
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
