"""Kline paging from the exchange simulator: what a 30-day backfill of 1m candles costs.

Three views of one workload - ``--days`` of 1m candles for BTCUSDT and ETHUSDT, paged as a
backfill pages them (spot pages of 1000, USD-M pages of 1500), first cold (every day
generated) then warm (days in the simulator's cache):

* server side: the simulator's klines function in this process (parameters parsed,
  candles selected, JSON text built), per page - what a request costs the server;
* HTTP: ``python -m simulator`` as its own process, raw GETs from one aiohttp client;
* ccxt: async ``ccxt.binance.fetch_ohlcv`` pages (what the platform's backfill uses),
  and the candles/s it reaches with the two symbols fetched concurrently.

Prints p50/p99 per page, candles/s, and the simulator's RSS before and after.

    .venv/bin/python bench/klines.py --days 30
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import subprocess
import sys
import time
from collections.abc import Awaitable, Callable

import aiohttp
from _common import ROOT, free_port, percentile, rss_mb, wait_up

from simulator.client import simulator_client
from simulator.config import SimConfig
from simulator.engine import Exchange
from simulator.engine import history as hs
from simulator.engine.history import DAY_MS, MINUTE_MS
from simulator.rest.common import klines

SYMBOLS = ("BTCUSDT", "ETHUSDT")


def windows(start: int, days: int, limit: int) -> list[tuple[int, int]]:
    stop = start + days * DAY_MS
    return [(since, limit) for since in range(start, stop, limit * MINUTE_MS)]


def report(label: str, latencies: list[float], candles: int, elapsed: float) -> None:
    latencies.sort()
    print(
        f"{label:<44} p50 {statistics.median(latencies) * 1000:6.2f} ms  "
        f"p99 {percentile(latencies, 0.99) * 1000:6.2f} ms  "
        f"{candles / elapsed:>9,.0f} candles/s  ({len(latencies)} pages)"
    )


def server_side(days: int) -> None:
    exchange = Exchange(SimConfig.build(seed=1))
    start = exchange.now() - exchange.now() % DAY_MS - (days + 1) * DAY_MS
    for venue, futures, limit in (("spot", False, 1000), ("futures", True, 1500)):
        for run in ("cold", "warm"):
            if run == "cold":
                hs.CACHE.clear()
            latencies: list[float] = []
            candles = 0
            began = time.perf_counter()
            for symbol in SYMBOLS:
                mkt = exchange.market(venue, symbol)
                for since, size in windows(start, days, limit):
                    params = {"symbol": symbol, "interval": "1m", "startTime": str(since)}
                    params["limit"] = str(size)
                    started = time.perf_counter()
                    body = klines(mkt, params, futures, exchange.now())
                    latencies.append(time.perf_counter() - started)
                    candles += body.count("],[") + 1
            report(
                f"server side, {venue} pages of {limit}, {run}",
                latencies,
                candles,
                time.perf_counter() - began,
            )


async def timed_pages(
    fetch: Callable[[str, int, int], Awaitable[int]], symbol: str, start: int, days: int, limit: int
) -> tuple[list[float], int]:
    latencies: list[float] = []
    candles = 0
    for since, size in windows(start, days, limit):
        started = time.perf_counter()
        candles += await fetch(symbol, since, size)
        latencies.append(time.perf_counter() - started)
    return latencies, candles


async def over_http(url: str, days: int, start: int) -> None:
    async with aiohttp.ClientSession() as session:
        for path, limit in (("/api/v3/klines", 1000), ("/fapi/v1/klines", 1500)):

            async def fetch(symbol: str, since: int, size: int, path: str = path) -> int:
                params = {"symbol": symbol, "interval": "1m", "startTime": since, "limit": size}
                async with session.get(url + path, params=params) as response:
                    return len(await response.json())

            for run in ("cold", "warm"):
                began = time.perf_counter()
                latencies: list[float] = []
                candles = 0
                for symbol in SYMBOLS:
                    lat, count = await timed_pages(fetch, symbol, start, days, limit)
                    latencies += lat
                    candles += count
                label = f"HTTP {path} limit={limit}, {run}"
                report(label, latencies, candles, time.perf_counter() - began)
            start -= (days + 1) * DAY_MS  # the next path's cold run: days not generated yet


async def through_ccxt(url: str, days: int, start: int) -> None:
    client = simulator_client(url, market_type="spot", asynchronous=True)
    client.enableRateLimit = False  # the bench measures the simulator, not ccxt's throttle
    try:
        await client.load_markets()

        async def fetch(symbol: str, since: int, size: int) -> int:
            unified = client.markets_by_id[symbol][0]["symbol"]
            return len(await client.fetch_ohlcv(unified, "1m", since, size))

        for run in ("cold", "warm"):
            began = time.perf_counter()
            results = await asyncio.gather(
                *(timed_pages(fetch, symbol, start, days, 1000) for symbol in SYMBOLS)
            )
            latencies = [x for lat, _ in results for x in lat]
            candles = sum(count for _, count in results)
            label = f"ccxt fetch_ohlcv limit=1000, 2 symbols at once, {run}"
            report(label, latencies, candles, time.perf_counter() - began)
    finally:
        await client.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--days", type=int, default=30)
    args = parser.parse_args()

    print(f"{args.days} days of 1m candles for {', '.join(SYMBOLS)}")
    server_side(args.days)

    port = free_port()
    url = f"http://127.0.0.1:{port}"
    server = subprocess.Popen(  # noqa: S603 - our own interpreter and module
        [sys.executable, "-m", "simulator", "--port", str(port), "--seed", "1", "--paused",
         "--log-level", "WARNING"],
        cwd=ROOT,
    )  # fmt: skip
    try:
        wait_up(url, time.monotonic() + 15)
        rss_before = rss_mb(server.pid)
        today = int(time.time() * 1000) // DAY_MS * DAY_MS
        # Separate windows, so that each client's cold run generates its own days.
        asyncio.run(over_http(url, args.days, today - (args.days + 1) * DAY_MS))
        asyncio.run(through_ccxt(url, args.days, today - 4 * (args.days + 1) * DAY_MS))
        print(f"simulator RSS: {rss_before:.0f} MB at start, {rss_mb(server.pid):.0f} MB after")
    finally:
        server.terminate()
        server.wait(10)


if __name__ == "__main__":
    main()
