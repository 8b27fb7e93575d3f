"""The streams process's public market data against the simulator's websockets (ccxt.pro).

The watcher runs on its own event loop in a thread, as in the streams process, so these
need committed data (transaction=True)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest

from marketdata import live, services
from marketdata.models import Candle, Subscription
from marketdata.signals import candle_closed
from marketdata.streams import StreamKey, split_closed
from marketdata.timeframes import floor_ms, to_ms

pytestmark = pytest.mark.django_db(transaction=True)

VENUE = "simulator:spot"


def subscribe(account, kind, symbol="BTC/USDT", **fields):
    return Subscription.objects.create(
        owner=account.owner, account=account, venue=VENUE, kind=kind, symbol=symbol, **fields
    )


def test_tickers_books_and_forming_candles_reach_the_cache_and_stop_with_the_subscription(
    make_sim_account, sim, running_markets, wait_for, settings
):
    settings.MARKETDATA_STREAM_WARMUP = 5
    account = make_sim_account()
    ticker = subscribe(account, "ticker", interval_ms=100)
    subscribe(account, "orderbook", depth=5, interval_ms=100)
    subscribe(account, "ohlcv", timeframe="1m", interval_ms=100)
    markets = running_markets()
    wait_for(lambda: len(markets.streams.watchers) == 3, timeout=10, message="three watchers")

    started = live.now_ms()

    def ours(row):  # not what an earlier test's streams left in the cache
        return row is not None and row["received"] > started

    def moved():
        sim.control("POST", "/step", {"n": 3})
        return ours(live.ticker_read(VENUE, "BTC/USDT")) and ours(live.book_read(VENUE, "BTC/USDT"))

    wait_for(moved, timeout=20, message="a ticker and a book in the cache")
    wait_for(
        lambda: (
            sim.control("POST", "/step", {"n": 3}) is not None
            and ours(live.forming_read(VENUE, "BTC/USDT", "1m"))
            and live.ticker_read(VENUE, "BTC/USDT")["bid"] is not None
        ),
        timeout=20,
        message="the forming candle and the best bid and ask in the cache",
    )
    quote = live.ticker_read(VENUE, "BTC/USDT")
    assert Decimal(quote["bid"]) < Decimal(quote["ask"])
    assert quote["age_ms"] >= 0
    book = live.book_read(VENUE, "BTC/USDT")
    assert len(book["bids"]) == 5 and len(book["asks"]) == 5
    assert Decimal(book["bids"][0][0]) < Decimal(book["asks"][0][0])
    assert live.book_is_fresh(book)
    wait_for(
        lambda: Subscription.objects.get(pk=ticker.pk).last_update_at is not None,
        timeout=10,
        message="the subscription stamped with its last update",
    )
    status = wait_for(
        lambda: (row := live.status_read([VENUE]).get(VENUE)) and row["streams"] == 3 and row,
        timeout=5,
        message="the status of three streams",
    )
    assert status["connected"] and status["last_message_age_ms"] is not None

    Subscription.objects.filter(kind="ticker").delete()
    wait_for(
        lambda: StreamKey(VENUE, "ticker", "BTC/USDT") not in markets.streams.watchers,
        timeout=1.0,
        message="the ticker watcher stopped within a second",
    )
    assert len(markets.streams.watchers) == 2


def test_a_dropped_candle_stream_reconnects_and_backfills_what_it_missed(
    make_sim_account, sim, running_markets, wait_for, settings
):
    settings.MARKETDATA_STREAM_WARMUP = 30
    account = make_sim_account()
    subscribe(account, "ohlcv", timeframe="1m", interval_ms=100)
    # History first: the simulator's closed candles of the last half hour.
    now = to_ms(datetime.now(UTC))
    last_closed = floor_ms(now, "1m") - 60_000

    def closed_stored():
        return Candle.objects.filter(venue=VENUE, symbol="BTC/USDT", closed=True)

    markets = running_markets()
    wait_for(
        lambda: (
            closed_stored()
            .filter(open_time__gte=datetime.fromtimestamp(last_closed / 1000, UTC))
            .exists()
        ),
        timeout=20,
        message="the warm-up backfill",
    )
    before = closed_stored().count()
    assert before >= 2
    started = live.now_ms()

    def delivering():
        sim.control("POST", "/step", {"n": 2})
        row = live.forming_read(VENUE, "BTC/USDT", "1m")  # an earlier test's is older
        return row is not None and row["received"] > started

    wait_for(delivering, timeout=20, message="the candle stream delivering")
    # Lose the newest candles, as if the stream had been away, and drop it.
    newest = closed_stored().order_by("-open_time")[:2]
    lost = sorted(c.open_time for c in newest)
    Candle.objects.filter(pk__in=[c.pk for c in newest]).delete()
    sim.control("POST", "/ws/drop", {})
    wait_for(
        lambda: closed_stored().filter(open_time__in=lost).count() == 2,
        timeout=40,
        message="the missed candles backfilled after the reconnect",
    )
    assert markets.streams.watchers


def test_a_closed_candle_is_announced_once_however_often_it_arrives():
    heard = []

    def receiver(sender, **kwargs):
        heard.append(kwargs)

    candle_closed.connect(receiver)
    try:
        start = to_ms(datetime(2026, 11, 2, tzinfo=UTC))
        row = [start, 10.0, 11.0, 9.5, 10.5, 7.0]
        for _ in range(3):
            services.candles_close(venue=VENUE, symbol="ETH/USDT", timeframe="1m", rows=[row])
        # A late, emptier copy of the same candle changes nothing.
        late = [start, 10.0, 10.8, 9.5, 10.2, 3.0]
        services.candles_close(venue=VENUE, symbol="ETH/USDT", timeframe="1m", rows=[late])
    finally:
        candle_closed.disconnect(receiver)
    assert len(heard) == 1
    assert heard[0]["close"] == Decimal("10.5")
    assert heard[0]["open_time"] == datetime(2026, 11, 2, tzinfo=UTC)
    candle = Candle.objects.get(venue=VENUE, symbol="ETH/USDT")
    assert (candle.close, candle.volume, candle.closed) == (Decimal("10.5"), Decimal("7"), True)


def test_candles_close_once_a_later_one_opens_and_late_updates_count_as_closed():
    t = 60_000
    closed, forming = split_closed(None, [[0, 1, 1, 1, 1, 1]])
    assert (closed, forming) == ([], [0, 1, 1, 1, 1, 1])
    closed, forming = split_closed(forming, [[0, 1, 2, 1, 2, 3], [t, 2, 2, 2, 2, 1]])
    assert closed == [[0, 1, 2, 1, 2, 3]] and forming[0] == t
    closed, forming = split_closed(forming, [[0, 1, 2, 1, 2, 2]])  # late copy of the old one
    assert closed == [[0, 1, 2, 1, 2, 2]] and forming[0] == t
    closed, forming = split_closed(forming, [[t, 2, 3, 2, 3, 2], [t, 2, 3, 2, 3, 2]])
    assert closed == [] and forming == [t, 2, 3, 2, 3, 2]
    assert timedelta(milliseconds=t) == timedelta(minutes=1)
