"""Backfill through the real ccxt from the simulator's deep kline history."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal
from io import StringIO

import pytest
from django.core.management import CommandError, call_command

from marketdata import services
from marketdata.models import Candle
from marketdata.timeframes import floor_ms, from_ms, to_ms

pytestmark = pytest.mark.django_db

MINUTE = 60_000
DAY = 1440


def venue_klines(sim_client, account, symbol, start, end):
    """The simulator's own 1m klines in [start, end] (open times, ms), straight from its
    REST API in pages, as exact decimals."""
    client = sim_client(account)
    rows, cursor = [], start
    while cursor <= end:
        page = client.publicGetKlines(
            {
                "symbol": symbol.replace("/", ""),
                "interval": "1m",
                "startTime": cursor,
                "limit": 1000,
            }
        )
        page = [k for k in page if int(k[0]) <= end]
        if not page:
            break
        rows += page
        cursor = int(page[-1][0]) + MINUTE
    return {int(k[0]): tuple(Decimal(v) for v in k[1:6]) for k in rows}


def stored(venue, symbol, start, end):
    candles = Candle.objects.filter(
        venue=venue,
        symbol=symbol,
        timeframe="1m",
        open_time__gte=from_ms(start),
        open_time__lte=from_ms(end),
    )
    return {
        to_ms(c.open_time): (c.open, c.high, c.low, c.close, c.volume)
        for c in candles.order_by("open_time")
    }


def test_thirty_days_of_two_symbols_are_complete_and_equal_the_venues_own(
    make_sim_account, sim_client
):
    account = make_sim_account()
    now = to_ms(datetime.now(UTC))
    since = floor_ms(now, "1m") - 30 * DAY * MINUTE
    for symbol in ("BTC/USDT", "ETH/USDT"):
        result = services.candles_backfill(
            account=account, symbol=symbol, timeframe="1m", since=since
        )
        assert result.missing == []
        last = result.end
        ours = stored("simulator:spot", symbol, since, last)
        assert len(ours) == (last - since) // MINUTE + 1 >= 30 * DAY
        assert sorted(ours) == list(range(since, last + MINUTE, MINUTE))  # no gap, no duplicate
        assert ours == venue_klines(sim_client, account, symbol, since, last)
        assert result.requests <= 30 * DAY // 1000 + 3


def test_an_interrupted_backfill_resumes_and_fills_what_is_missing(make_sim_account):
    account = make_sim_account()
    since = floor_ms(to_ms(datetime.now(UTC)), "1m") - 2 * DAY * MINUTE
    first = services.candles_backfill(
        account=account, symbol="BTC/USDT", timeframe="1m", since=since
    )
    candles = Candle.objects.filter(venue="simulator:spot", symbol="BTC/USDT")
    total = candles.filter(closed=True).count()
    # A hole in the middle (a crash between pages) and the newest hours (never fetched).
    hole = candles.filter(
        open_time__gte=from_ms(since + 600 * MINUTE), open_time__lt=from_ms(since + 700 * MINUTE)
    )
    hole.delete()
    candles.filter(open_time__gte=from_ms(first.end - 180 * MINUTE)).delete()

    again = services.candles_backfill(
        account=account, symbol="BTC/USDT", timeframe="1m", since=since
    )

    assert again.missing == []
    assert again.gaps_filled >= 100
    assert again.requests < first.requests
    assert candles.filter(closed=True, open_time__lte=from_ms(first.end)).count() == total


def test_the_command_shows_progress_and_refuses_bad_arguments_with_a_message(make_sim_account):
    account = make_sim_account()
    since = (datetime.now(UTC) - timedelta(hours=6)).strftime("%Y-%m-%dT%H:%M")
    out, err = StringIO(), StringIO()
    call_command(
        "candles_backfill", account=account.pk, symbol="BTC/USDT", timeframe="5m", since=since,
        stdout=out, stderr=err,
    )  # fmt: skip
    assert "candles stored" in out.getvalue()
    assert "100%" in err.getvalue()
    assert Candle.objects.filter(timeframe="5m").count() >= 70
    for arguments, says in [
        ({"account": 999_999, "symbol": "BTC/USDT", "since": since}, "No exchange account"),
        ({"account": account.pk, "symbol": "NOPE/USDT", "since": since}, "Unknown symbol"),
        ({"account": account.pk, "symbol": "BTC/USDT", "since": "yesterday"}, "not a date"),
        (
            {"account": account.pk, "symbol": "BTC/USDT", "since": since, "timeframe": "2x"},
            "Unsupported timeframe",
        ),
    ]:
        with pytest.raises(CommandError, match=says):
            call_command("candles_backfill", stdout=StringIO(), stderr=StringIO(), **arguments)
