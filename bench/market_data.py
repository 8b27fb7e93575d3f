"""Market data: backfill speed, the last candles as a DataFrame, ticker -> browser latency,
and the streams process's memory and CPU under subscriptions.

    .venv/bin/python bench/market_data.py [--days 30] [--seconds 30] [--symbols 25]

- Services: ``DATABASE_URL`` names the PostgreSQL server (default
  ``postgres://postgres@127.0.0.1:5432/``); the bench makes its own database there
  (``trading_marketdata_bench``) and drops it at exit. ``REDIS_URL`` names the Redis
  server; broker, channel layer and cache use databases of their own (bench/_settings.py),
  flushed at start and exit.
- Processes: the simulator (``--symbols`` symbols, spot and USD-M, ticking every 100 ms),
  web (daphne, DEBUG off), ``manage.py streams``. This process runs the backfill and the
  DataFrame reads itself, and an aiohttp websocket client logged in with a session cookie.
- Figures:
  1. backfill: ``--days`` of 1m candles of BTC/USDT through the real ccxt, paged from the
     simulator, stored (candles/s end to end), and the store alone (rows/s);
  2. the last 1,000 candles as a float64 DataFrame: p50 / p99 of 200 reads;
  3. ticker -> browser: the venue's time of a ticker to the dashboard socket receiving its
     push (one clock: the simulator is on this machine), p50 / p99;
  4. the streams process with 50 ticker and 10 book subscriptions (``--symbols`` symbols
     on both venues) for ``--seconds``: RSS and CPU (% of one core), messages/s.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))
os.environ.setdefault("BENCH_REDIS_DBS", "9,10,11")
os.environ.setdefault("BENCH_RATE_LIMIT_PREFIX", "bench-marketdata-ratelimit")

from bench._common import (  # noqa: E402
    BENCH_REDIS_DBS,
    cpu_seconds,
    free_port,
    percentile,
    poll_until,
    process_tree,
    rss_mb,
    wait_up,
)
from bench.order_pipeline import Processes  # noqa: E402

DATABASE = "trading_marketdata_bench"
BASES = ["BTC", "ETH", "SOL", "BNB", "XRP", "ADA", "DOGE", "TRX", "DOT", "LINK", "AVAX",
         "LTC", "BCH", "UNI", "ATOM", "XLM", "ETC", "FIL", "APT", "ARB", "OP", "NEAR",
         "INJ", "SUI", "AAVE", "MKR", "SNX", "CRV", "SAND", "MANA"]  # fmt: skip


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


def _answers(url: str) -> bool:
    import urllib.request

    try:
        with urllib.request.urlopen(url, timeout=1):  # noqa: S310 - loopback
            return True
    except OSError:
        return False


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--days", type=float, default=30)
    parser.add_argument("--seconds", type=float, default=30)
    parser.add_argument("--symbols", type=int, default=25)
    args = parser.parse_args()

    maintenance, database_url, redis_url = _urls()
    sim_port, web_port = free_port(), free_port()
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "bench._settings",
        "DATABASE_URL": database_url,
        "REDIS_URL": redis_url,
        "DJANGO_SECRET_KEY": "bench-market-data",
        "FIELD_ENCRYPTION_KEYS": "2PUdC-W5ihO3ZOagRKBr4eCRxZp2Uu26qx5H0LuiVkQ=",
        "DJANGO_ALLOWED_HOSTS": "127.0.0.1,localhost",
        "SIMULATOR_URL": f"http://127.0.0.1:{sim_port}",
        "MARKETDATA_STREAM_WARMUP": "10",
        "LOG_LEVEL": "WARNING",
        "PYTHONPATH": str(ROOT),
    }
    os.environ.update(env)
    _psql(maintenance, f"DROP DATABASE IF EXISTS {DATABASE} WITH (FORCE)")
    _psql(maintenance, f"CREATE DATABASE {DATABASE}")
    _flush(redis_url)
    config = Path(tempfile.mkdtemp()) / "simulator.json"
    symbols = [f"{base}/USDT" for base in BASES[: args.symbols]]
    config.write_text(json.dumps({"tick_ms": 100, "symbols": symbols}))
    processes = Processes(env, Path(tempfile.mkdtemp()) / "market_data.log")
    try:
        processes.run_step("migrate", [sys.executable, "manage.py", "migrate", "-v", "0"])
        python = sys.executable
        processes.start(
            "simulator",
            [python, "-m", "simulator", "--port", str(sim_port), "--config", str(config),
             "--log-level", "WARNING"],
        )  # fmt: skip
        wait_up(f"http://127.0.0.1:{sim_port}", time.monotonic() + 60)
        processes.start(
            "web",
            [python, "-m", "daphne", "-b", "127.0.0.1", "-p", str(web_port),
             "trading_site.asgi:application"],
        )  # fmt: skip
        run(processes, args, symbols, sim_port, web_port)
    finally:
        processes.stop()
        from django.db import connections

        connections.close_all()
        _psql(maintenance, f"DROP DATABASE IF EXISTS {DATABASE} WITH (FORCE)")
        _flush(redis_url)


def run(processes: Processes, args, symbols: list[str], sim_port: int, web_port: int) -> None:
    import django

    django.setup()
    from django.contrib.auth import get_user_model

    from accounts.models import ExchangeAccount
    from bench._common import control

    sim_url = f"http://127.0.0.1:{sim_port}"
    user = get_user_model().objects.create_user("bench")
    accounts = {}
    for market_type in ("spot", "swap"):
        created = control(sim_url, "POST", "/accounts", {"spot": {}, "futures": {}})
        accounts[market_type] = ExchangeAccount.objects.create(
            owner=user,
            exchange_id="binance",
            label=f"bench {market_type}",
            mode="simulator",
            market_type=market_type,
            api_key=created["api_key"],
            api_secret=created["secret"],
        )
    backfill(accounts["spot"], args.days)
    frame_reads(accounts["spot"])
    streams(processes, args, user, accounts, symbols, web_port)


def backfill(account, days: float) -> None:
    import random
    from datetime import UTC, datetime, timedelta

    from marketdata import services
    from marketdata.timeframes import floor_ms, to_ms

    since = to_ms(datetime.now(UTC) - timedelta(days=days))
    started = time.perf_counter()
    result = services.candles_backfill(
        account=account, symbol="BTC/USDT", timeframe="1m", since=since
    )
    seconds = time.perf_counter() - started
    print(f"backfill, {days:g} days of 1m BTC/USDT from the simulator through ccxt:")
    print(
        f"  {result.stored:,} candles in {seconds:.2f} s = {result.stored / seconds:,.0f}/s "
        f"end to end ({result.requests} requests, gaps left {len(result.missing)})"
    )
    # The store alone: pages of 1,000 rows, as a backfill writes them.
    rng = random.Random(1)
    start = floor_ms(since, "1m") - 10 * 365 * 86_400_000
    pages = [
        [[start + (p * 1000 + i) * 60_000, 100.0, 101.5, 99.5, round(100 + rng.random(), 2),
          round(rng.random() * 10, 4)] for i in range(1000)]
        for p in range(50)
    ]  # fmt: skip
    started = time.perf_counter()
    for page in pages:
        services.candles_store(
            venue="bench:spot", symbol="BTC/USDT", timeframe="1m", rows=page, now_ms=10**15
        )
    seconds = time.perf_counter() - started
    print(f"  store alone: 50,000 rows in pages of 1,000: {50_000 / seconds:,.0f} rows/s")


def frame_reads(account) -> None:
    from marketdata.selectors import candles_frame

    venue = account.data_venue
    timings, cpu = [], []
    for _ in range(220):
        started, started_cpu = time.perf_counter(), time.process_time()
        frame = candles_frame(venue=venue, symbol="BTC/USDT", timeframe="1m", n=1000)
        timings.append((time.perf_counter() - started) * 1000)
        cpu.append((time.process_time() - started_cpu) * 1000)
    timings, cpu = sorted(timings[20:]), sorted(cpu[20:])
    print(f"last 1,000 candles as a DataFrame ({len(frame)} rows, {len(timings)} reads, ms):")
    print(
        f"  p50 {percentile(timings, 0.5):.2f}  p99 {percentile(timings, 0.99):.2f}; "
        f"CPU per read p50 {percentile(cpu, 0.5):.2f}"
    )


def streams(processes: Processes, args, user, accounts, symbols, web_port: int) -> None:
    import aiohttp
    from django.conf import settings
    from django.test import Client

    from accounts import gateway
    from marketdata.models import Subscription

    for account in accounts.values():
        gateway.ensure_markets(gateway.get_client(account), account)
        for index, symbol in enumerate(symbols):
            unified = symbol if account.market_type == "spot" else f"{symbol}:USDT"
            Subscription.objects.create(
                owner=user, account=account, venue=account.data_venue, kind="ticker",
                symbol=unified, interval_ms=100,
            )  # fmt: skip
            if index < 5:
                Subscription.objects.create(
                    owner=user, account=account, venue=account.data_venue, kind="orderbook",
                    symbol=unified, depth=10, interval_ms=100,
                )  # fmt: skip
    tickers = Subscription.objects.filter(kind="ticker").count()
    books = Subscription.objects.filter(kind="orderbook").count()
    pid = processes.start("streams", [sys.executable, "manage.py", "streams", "--heartbeat", "5"])
    poll_until(lambda: _answers(f"http://127.0.0.1:{web_port}/login/"), timeout=60, message="web")

    client = Client()
    client.force_login(user)
    session = client.cookies[settings.SESSION_COOKIE_NAME].value
    latencies: list[float] = []
    stop = threading.Event()
    watching = threading.Event()

    async def listen() -> None:
        async with (
            aiohttp.ClientSession(cookies={settings.SESSION_COOKIE_NAME: session}) as http,
            http.ws_connect(
                f"ws://127.0.0.1:{web_port}/ws/dashboard/", origin=f"http://127.0.0.1:{web_port}"
            ) as socket,
        ):
            await socket.send_json(
                {"type": "watch", "account": accounts["spot"].pk, "symbol": "BTC/USDT"}
            )
            async for message in socket:
                data = message.json()
                if data["event"] == "watching":
                    watching.set()
                elif data["event"] == "market.ticker" and data["payload"].get("ts"):
                    latencies.append(time.time() * 1000 - data["payload"]["ts"])
                if stop.is_set():
                    break

    listener = threading.Thread(target=lambda: asyncio.run(listen()), daemon=True)
    listener.start()
    if not watching.wait(30):
        raise RuntimeError("the websocket client did not start watching")
    poll_until(lambda: len(latencies) >= 20, timeout=60, message="tickers at the browser")
    latencies.clear()
    pids = process_tree(pid)
    cpu_before, wall_before = cpu_seconds(pids), time.monotonic()
    rss = []
    deadline = time.monotonic() + args.seconds
    while time.monotonic() < deadline:
        rss.append(rss_mb(pid))
        time.sleep(1)  # sampling period of the RSS, not a readiness wait
        processes.check_alive()
    cpu = (cpu_seconds(pids) - cpu_before) / (time.monotonic() - wall_before)
    stop.set()
    from marketdata import live

    status = live.status_read([a.data_venue for a in accounts.values()])
    rate = sum(s["messages_per_second"] for s in status.values())
    latencies.sort()
    print(f"ticker -> browser websocket, venue time to the socket ({len(latencies)} pushes, ms):")
    print(f"  p50 {percentile(latencies, 0.5):.1f}  p99 {percentile(latencies, 0.99):.1f}")
    print(f"streams process, {tickers} ticker and {books} book subscriptions, {args.seconds:g} s:")
    print(
        f"  RSS {max(rss):.0f} MB, CPU {cpu * 100:.1f}% of one core, "
        f"{rate:.0f} messages/s over {len(status)} venues"
    )


if __name__ == "__main__":
    main()
