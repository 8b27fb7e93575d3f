"""Portfolio valuation: 5 accounts x 100 open positions, valued in one call.

    python bench/portfolio.py [--accounts 5] [--positions 100] [--runs 300]

Uses DATABASE_URL when set (PostgreSQL: a database ``bench_portfolio`` is made beside
the one named and dropped afterwards), otherwise a throwaway SQLite file. Prices are
given (as the ticker cache would), so the figure is the platform's own work: the
queries (a fixed number of them) and the valuation. Prints p50 / p99 per call.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from decimal import Decimal
from pathlib import Path
from urllib.parse import urlsplit

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench._common import percentile


def configure() -> str:
    url = os.environ.get("DATABASE_URL", "")
    if url.startswith("postgres"):
        parts = urlsplit(url)
        os.environ["DATABASE_URL"] = parts._replace(path="/bench_portfolio").geturl()
        return "postgresql"
    os.environ["DATABASE_URL"] = f"sqlite:///{tempfile.mkdtemp()}/portfolio.sqlite3"
    return "sqlite"


def create_database(engine: str) -> None:
    if engine != "postgresql":
        return
    import psycopg

    admin = urlsplit(os.environ["DATABASE_URL"])._replace(path="/postgres").geturl()
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute("DROP DATABASE IF EXISTS bench_portfolio WITH (FORCE)")
        conn.execute("CREATE DATABASE bench_portfolio")


def drop_database(engine: str) -> None:
    if engine != "postgresql":
        return
    import psycopg
    from django.db import connections

    for connection in connections.all():
        if hasattr(connection, "close_pool"):  # the pool keeps idle sessions open
            connection.close_pool()
    connections.close_all()
    admin = urlsplit(os.environ["DATABASE_URL"])._replace(path="/postgres").geturl()
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute("DROP DATABASE IF EXISTS bench_portfolio WITH (FORCE)")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--accounts", type=int, default=5)
    parser.add_argument("--positions", type=int, default=100)
    parser.add_argument("--runs", type=int, default=300)
    args = parser.parse_args()

    engine = configure()
    create_database(engine)
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "trading_site.settings.local")
    import django

    django.setup()
    from django.core.management import call_command
    from django.utils import timezone

    from accounts.tests.factories import ExchangeAccountFactory, UserFactory
    from positions.models import Balance, Position
    from positions.selectors import portfolio_summary

    try:
        call_command("migrate", verbosity=0)
        owner = UserFactory()
        now = timezone.now()
        prices = {}
        for a in range(args.accounts):
            account = ExchangeAccountFactory(owner=owner, market_type="swap", label=f"a{a}")
            Balance.objects.create(
                account=account,
                asset="USDT",
                total="10000",
                free="9000",
                used="1000",
                synced_at=now,
            )
            Position.objects.bulk_create(
                [
                    Position(
                        account=account,
                        symbol=f"C{p}/USDT:USDT",
                        side="long",
                        source="exchange",
                        base_asset=f"C{p}",
                        quote_asset="USDT",
                        contracts=Decimal("1.5"),
                        entry_price=Decimal("100"),
                        mark_price=Decimal("101"),
                        unrealized_pnl=Decimal("1.5"),
                        opened_at=now,
                    )
                    for p in range(args.positions)
                ]
            )
        for p in range(args.positions):
            prices[f"C{p}/USDT"] = Decimal("101.5")

        portfolio_summary(user=owner, prices=prices)  # warm up
        timings = []
        for _ in range(args.runs):
            started = time.perf_counter()
            portfolio = portfolio_summary(user=owner, prices=prices)
            timings.append((time.perf_counter() - started) * 1000)
        timings.sort()
        expected_equity = Decimal(10000 * args.accounts)
        assert portfolio.equity == expected_equity, portfolio.equity
        print(
            f"portfolio of {args.accounts} accounts x {args.positions} positions "
            f"on {engine}, {args.runs} runs"
        )
        print(
            f"  p50 {percentile(timings, 0.5):.2f} ms   p99 {percentile(timings, 0.99):.2f} ms"
            f"   mean {statistics.fmean(timings):.2f} ms   max {timings[-1]:.2f} ms"
        )
    finally:
        drop_database(engine)
    return 0


if __name__ == "__main__":
    sys.exit(main())
