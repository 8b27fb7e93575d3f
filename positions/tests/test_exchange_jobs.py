"""Chart candles and the portfolio never wait for the exchange in the request: a worker on
the `sync` queue fetches what the cache lacks (accounts.jobs), the request answers with
what is there."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import pytest
from django.core.cache import cache
from django.utils import timezone
from rest_framework.test import APIClient

from accounts import gateway
from positions.tests.factories import BalanceFactory

pytestmark = pytest.mark.django_db


SYMBOLS = ("BTC/USDT", "NOPE/USDT")  # the charts these tests ask for


def api_for(user) -> APIClient:
    client = APIClient()
    client.force_authenticate(user)
    return client


def candles_key(account, limit: int, symbol: str = "BTC/USDT") -> str:
    """Where the chart's 1m candles of ``symbol`` are cached."""
    return f"ohlcv:{gateway.markets_cache_key(account)}:{symbol}:1m:{limit}"


def chart(client, account, symbol="BTC/USDT", limit=30):
    return client.get("/api/chart/", {"account": account.pk, "symbol": symbol, "limit": limit})


@pytest.fixture
def account(make_sim_account, sim):
    sim.control("POST", "/step", {"n": 3})  # a market that has moved has candles
    account = make_sim_account()
    cache.delete_many(
        [candles_key(account, limit, symbol) for limit in (30, 31) for symbol in SYMBOLS]
    )
    return account


def test_cold_candles_answer_202_at_once_and_a_worker_fetches_them(account, sim, exchange_jobs):
    client = api_for(account.owner)
    sim.control("DELETE", "/requests")

    cold = chart(client, account)
    again = chart(client, account)
    called_by_the_requests = sim.control("GET", "/requests")
    exchange_jobs.run()
    warm = chart(client, account)

    assert cold.status_code == again.status_code == 202
    assert cold["Retry-After"] == "1"
    assert (cold.json()["candles"], cold.json()["refreshing"]) == ([], True)
    assert called_by_the_requests == {}
    assert exchange_jobs.queues == ["sync"]  # one job for both requests, never `orders`
    assert warm.status_code == 200
    assert 1 <= len(warm.json()["candles"]) <= 30
    assert warm.json()["refreshing"] is False
    assert warm.json()["candles_as_of"] is not None
    assert exchange_jobs.held == []  # fresh: served from the cache, nothing asked


def test_stale_candles_are_shown_while_a_worker_fetches_newer(account, exchange_jobs):
    client = api_for(account.owner)
    chart(client, account)
    exchange_jobs.run()
    key = candles_key(account, 30)
    entry = cache.get(key)
    entry["fetched_at"] = timezone.now() - timedelta(minutes=1)
    cache.set(key, entry, 600)

    stale = chart(client, account)
    queued = list(exchange_jobs.names)
    exchange_jobs.run()
    fresh = chart(client, account)

    assert stale.status_code == 200
    assert stale.json()["candles"] and stale.json()["candles"] == entry["rows"]
    assert stale.json()["refreshing"] is True
    assert queued == ["positions.candles_refresh"]
    assert fresh.json()["refreshing"] is False
    assert fresh.json()["candles_as_of"] > stale.json()["candles_as_of"]


def test_a_symbol_the_exchange_refuses_is_400_once_a_worker_asked(account, exchange_jobs):
    client = api_for(account.owner)
    cache.delete_many(
        [gateway.markets_cache_key(account), gateway.precision_mode_cache_key(account)]
    )
    gateway.forget_all_clients()

    asked = chart(client, account, symbol="NOPE/USDT")
    exchange_jobs.run()
    refused = chart(client, account, symbol="NOPE/USDT")

    assert asked.status_code == 202
    assert refused.status_code == 400
    assert "NOPE/USDT" in refused.json()["detail"]


def test_a_symbol_unknown_to_the_cached_markets_is_400_without_a_job(account, sim, exchange_jobs):
    gateway.ensure_markets(gateway.build_client(account), account)
    sim.control("DELETE", "/requests")

    answer = chart(api_for(account.owner), account, symbol="NOPE/USDT")

    assert answer.status_code == 400
    assert "Unknown symbol 'NOPE/USDT'" in answer.json()["detail"]
    assert exchange_jobs.held == []
    assert sim.control("GET", "/requests") == {}


def test_a_cold_chart_past_the_users_jobs_is_429(account, exchange_jobs, settings):
    settings.EXCHANGE_JOBS_PER_USER = 1
    client = api_for(account.owner)

    first = chart(client, account, limit=30)
    second = chart(client, account, limit=31)

    assert (first.status_code, second.status_code) == (202, 429)
    assert second["Retry-After"] == "2"


def test_a_portfolio_on_cold_prices_answers_at_once_and_is_valued_once_a_worker_fetched_them(
    account, sim, exchange_jobs
):
    BalanceFactory(account=account, asset="BTC", total="2")
    client = api_for(account.owner)
    sim.control("DELETE", "/requests")

    cold = client.get("/api/portfolio/")
    called_by_the_request = sim.control("GET", "/requests")
    exchange_jobs.run()
    warm = client.get("/api/portfolio/")
    btc = Decimal(sim.control("GET", "/markets")["spot"]["BTCUSDT"]["last"])

    assert cold.status_code == 200
    assert (cold.json()["prices_pending"], cold.json()["unvalued_assets"]) == (True, ["BTC"])
    assert called_by_the_request == {}
    assert exchange_jobs.queues == ["sync"]
    assert (warm.json()["prices_pending"], warm.json()["unvalued_assets"]) == (False, [])
    assert Decimal(warm.json()["equity"]) == 2 * btc


def test_the_chart_reads_the_market_data_the_platform_keeps_without_a_job(
    account, sim, exchange_jobs
):
    """Candles a backfill or a candle subscription stored answer the chart from the
    database: no worker job, no exchange call."""
    from marketdata.services import candles_backfill
    from marketdata.timeframes import to_ms

    since = to_ms(timezone.now() - timedelta(minutes=40))
    candles_backfill(account=account, symbol="BTC/USDT", timeframe="1m", since=since)
    sim.control("DELETE", "/requests")

    answer = chart(api_for(account.owner), account)

    assert answer.status_code == 200, answer.content
    assert exchange_jobs.names == []
    assert sim.control("GET", "/requests") == {}
    candles = answer.json()["candles"]
    assert len(candles) == 30 and answer.json()["refreshing"] is False
    times = [c["time"] for c in candles]
    assert times == sorted(times) and times[-1] - times[0] == 29 * 60_000
    assert Decimal(candles[-1]["close"]) > 0
