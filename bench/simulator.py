"""Throughput of the exchange simulator with the real async ccxt client.

Starts ``python -m simulator`` as a separate process (so client and server each get a
core), creates accounts through the control API, then has several async ccxt clients place
limit orders away from the market for ``--seconds``. Prints orders/s accepted, p50/p99
request latency as ccxt sees it, and the simulator's RSS.

    .venv/bin/python bench/simulator.py --seconds 10 --clients 8
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import subprocess
import sys
import time

from _common import ROOT, control, free_port, percentile, rss_mb, wait_up

from simulator.client import simulator_client


async def worker(
    url: str, account: dict, symbol: str, seconds: float, latencies: list[float]
) -> int:
    client = simulator_client(
        url,
        market_type="spot",
        api_key=account["api_key"],
        secret=account["secret"],
        asynchronous=True,
        options={"adjustForTimeDifference": False},
    )
    client.enableRateLimit = False  # the bench measures the server, not ccxt's throttle
    placed = 0
    try:
        await client.load_markets()
        end = time.perf_counter() + seconds
        i = 0
        while time.perf_counter() < end:
            price = 30000 + (i % 500)  # far below the ~60000 market: rests, never fills
            started = time.perf_counter()
            await client.create_order(symbol, "limit", "buy", 0.001, price)
            latencies.append(time.perf_counter() - started)
            placed += 1
            i += 1
    finally:
        await client.close()
    return placed


async def run(
    url: str, clients: int, accounts: int, seconds: float
) -> tuple[int, list[float], float]:
    made = [
        control(url, "POST", "/accounts", {"spot": {"USDT": "100000000"}}) for _ in range(accounts)
    ]
    latencies: list[float] = []
    started = time.perf_counter()
    counts = await asyncio.gather(
        *(worker(url, made[i % accounts], "BTC/USDT", seconds, latencies) for i in range(clients))
    )
    return sum(counts), latencies, time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=10)
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument("--accounts", type=int, default=4)
    parser.add_argument(
        "--state-dir", help="run the simulator with its state kept here (as make run does)"
    )
    args = parser.parse_args()

    port = free_port()
    url = f"http://127.0.0.1:{port}"
    server = subprocess.Popen(  # noqa: S603 - our own interpreter and module
        [
            sys.executable,
            "-m",
            "simulator",
            "--port",
            str(port),
            "--seed",
            "1",
            "--log-level",
            "WARNING",
            *(["--state-dir", args.state_dir] if args.state_dir else []),
        ],
        cwd=ROOT,
    )
    try:
        wait_up(url, time.monotonic() + 15)
        rss_before = rss_mb(server.pid)
        placed, latencies, elapsed = asyncio.run(
            run(url, args.clients, args.accounts, args.seconds)
        )
        rss_after = rss_mb(server.pid)
        latencies.sort()
        p99 = percentile(latencies, 0.99)
        kept = f" state-dir={args.state_dir}" if args.state_dir else " (state in memory)"
        print(f"clients={args.clients} accounts={args.accounts} seconds={args.seconds:g}{kept}")
        print(f"orders accepted: {placed} in {elapsed:.1f} s = {placed / elapsed:,.0f} orders/s")
        print(
            f"latency p50 {statistics.median(latencies) * 1000:.2f} ms, "
            f"p99 {p99 * 1000:.2f} ms (ccxt create_order round trip)"
        )
        print(f"simulator RSS: {rss_before:.0f} MB at start, {rss_after:.0f} MB after")
    finally:
        server.terminate()
        server.wait(10)


if __name__ == "__main__":
    main()
