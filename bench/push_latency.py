"""Dashboard push latency: a fill committed -> a websocket client receiving it.

    .venv/bin/python bench/push_latency.py [--fills 500] [--gap-ms 5]

- Services: ``DATABASE_URL`` names the PostgreSQL server (default
  ``postgres://postgres@127.0.0.1:5432/``); the bench creates its own database there
  (``trading_push_bench``) and drops it at exit. ``REDIS_URL`` names the Redis server
  (default ``redis://127.0.0.1:6379/0``); broker, channel layer and cache go to databases
  of their own (``BENCH_REDIS_DBS``, default "6,7,8"; bench/_settings.py), flushed at start
  and exit.
- Processes: web (daphne, DEBUG off, bench/_settings.py) with the dashboard websocket; this
  process commits fills through ``orders.services.fills_record`` (the service the stream and
  the poll use, with its on-commit ``fill.created`` push on the same Redis channel layer)
  and runs an aiohttp websocket client, logged in with a session cookie, on a thread.
- Latency: one clock (this process): the time a fill's transaction committed (an on-commit
  callback registered before the service's own) to the time the client's socket delivers
  that fill's ``fill.created`` event. One fill at a time, ``--gap-ms`` apart, after a
  warm-up of 20 fills.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import signal
import subprocess
import sys
import threading
import time
import urllib.request
from decimal import Decimal
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))
os.environ.setdefault("BENCH_REDIS_DBS", "6,7,8")
os.environ.setdefault("BENCH_RATE_LIMIT_PREFIX", "bench-push-ratelimit")

from bench._common import BENCH_REDIS_DBS, free_port, percentile, poll_until  # noqa: E402

DATABASE = "trading_push_bench"


def _urls() -> tuple[str, str, str]:
    server = os.environ.get("DATABASE_URL", "postgres://postgres@127.0.0.1:5432/").rstrip("/")
    server = server.rsplit("/", 1)[0] if server.count("/") > 2 else server
    redis_url = os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/0")
    return f"{server}/postgres", f"{server}/{DATABASE}", redis_url


def _psql(maintenance_url: str, sql: str) -> None:
    import psycopg

    with psycopg.connect(maintenance_url, autocommit=True) as connection:
        connection.execute(sql)


def _flush(redis_url: str) -> None:
    import redis

    base = redis_url.rstrip("/").rsplit("/", 1)[0]
    for db in BENCH_REDIS_DBS:
        redis.Redis.from_url(f"{base}/{db}").flushdb()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--fills", type=int, default=500)
    parser.add_argument("--gap-ms", type=float, default=5.0)
    args = parser.parse_args()

    maintenance, database_url, redis_url = _urls()
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "bench._settings",
        "DATABASE_URL": database_url,
        "REDIS_URL": redis_url,
        "DJANGO_SECRET_KEY": "bench-push-latency",
        "FIELD_ENCRYPTION_KEYS": "2PUdC-W5ihO3ZOagRKBr4eCRxZp2Uu26qx5H0LuiVkQ=",
        "DJANGO_ALLOWED_HOSTS": "127.0.0.1,localhost",
        "LOG_LEVEL": "WARNING",
        "PYTHONPATH": str(ROOT),
    }
    os.environ.update(env)
    _psql(maintenance, f"DROP DATABASE IF EXISTS {DATABASE} WITH (FORCE)")
    _psql(maintenance, f"CREATE DATABASE {DATABASE}")
    _flush(redis_url)
    web = None
    try:
        subprocess.run(
            [sys.executable, "manage.py", "migrate", "-v", "0"], cwd=ROOT, env=env, check=True
        )
        port = free_port()
        web = subprocess.Popen(  # noqa: S603
            [sys.executable, "-m", "daphne", "-b", "127.0.0.1", "-p", str(port),
             "trading_site.asgi:application"],
            cwd=ROOT, env=env, start_new_session=True,
        )  # fmt: skip
        run(port, args.fills, args.gap_ms / 1000)
    finally:
        if web is not None:
            os.killpg(web.pid, signal.SIGTERM)
            web.wait(timeout=10)
        from django.db import connections

        connections.close_all()
        _psql(maintenance, f"DROP DATABASE IF EXISTS {DATABASE} WITH (FORCE)")
        _flush(redis_url)


def run(port: int, count: int, gap: float) -> None:
    import django

    django.setup()
    import aiohttp
    from django.conf import settings
    from django.contrib.auth import get_user_model
    from django.db import transaction
    from django.test import Client
    from django.utils import timezone

    from accounts.models import ExchangeAccount
    from orders.services import fills_record
    from orders.venue import TradeUpdate

    user = get_user_model().objects.create_user("bench")
    account = ExchangeAccount.objects.create(
        owner=user, exchange_id="binance", label="bench", mode="paper", market_type="spot"
    )
    client = Client()
    client.force_login(user)
    session = client.cookies[settings.SESSION_COOKIE_NAME].value

    def up() -> bool:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/login/", timeout=1):
                return True
        except OSError:
            return False

    poll_until(up, timeout=60, message="daphne to answer")

    received: dict[str, float] = {}
    connected = threading.Event()
    stop = threading.Event()

    async def listen() -> None:
        async with (
            aiohttp.ClientSession(cookies={settings.SESSION_COOKIE_NAME: session}) as http,
            http.ws_connect(
                f"ws://127.0.0.1:{port}/ws/dashboard/", origin=f"http://127.0.0.1:{port}"
            ) as socket,
        ):
            async for message in socket:
                data = message.json()
                if data["event"] == "hello":
                    connected.set()
                elif data["event"] == "fill.created":
                    received[data["payload"]["exchange_trade_id"]] = time.perf_counter()
                if stop.is_set():
                    break

    listener = threading.Thread(target=lambda: asyncio.run(listen()), daemon=True)
    listener.start()
    if not connected.wait(30):
        raise RuntimeError("the websocket client did not connect")

    committed: dict[str, float] = {}

    def one(index: int) -> str:
        trade_id = f"bench-{index}"
        trade = TradeUpdate(
            trade_id=trade_id, order_id=None, client_order_id=None, symbol="BTC/USDT",
            side="buy" if index % 2 == 0 else "sell", price=Decimal("60000"),
            amount=Decimal("0.001"), cost=Decimal("60"), fee=Decimal("0.06"),
            fee_asset="USDT", is_maker=False, timestamp=timezone.now(), raw={},
        )  # fmt: skip
        with transaction.atomic():
            # Registered first, so it runs first when the transaction commits.
            transaction.on_commit(lambda: committed.__setitem__(trade_id, time.perf_counter()))
            fills_record(account=account, trades=[trade], actor="bench")
        return trade_id

    warmup = 20
    latencies: list[float] = []
    for index in range(warmup + count):
        trade_id = one(index)
        poll_until(lambda t=trade_id: t in received, timeout=5, message=f"{trade_id}", interval=0)
        if index >= warmup:
            latencies.append((received[trade_id] - committed[trade_id]) * 1000)
        time.sleep(gap)  # the pacing of the run, not a readiness wait
    stop.set()
    latencies.sort()
    print(f"push latency, fill committed -> websocket client, {count} fills (ms):")
    print(
        f"  p50 {percentile(latencies, 0.50):.2f}  p90 {percentile(latencies, 0.90):.2f}  "
        f"p99 {percentile(latencies, 0.99):.2f}  max {latencies[-1]:.2f}"
    )


if __name__ == "__main__":
    main()
