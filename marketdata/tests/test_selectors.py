"""Reads for the rest of the platform: quotes, books with their age, the forming candle."""

from datetime import UTC, datetime
from decimal import Decimal

import pytest

from marketdata import live
from marketdata.selectors import StaleData, best_bid_ask, book_top, candles_frame, last_price
from marketdata.services import candles_store
from marketdata.timeframes import to_ms

pytestmark = pytest.mark.django_db

VENUE = "simulator:swap"
SYMBOL = "BTC/USDT:USDT"


def test_last_price_and_best_bid_ask_come_from_the_book_while_it_is_fresh():
    live.ticker_write(
        VENUE, SYMBOL, {"last": 60000.1, "bid": 59999.9, "ask": 60000.3, "timestamp": live.now_ms()}
    )
    assert last_price(venue=VENUE, symbol=SYMBOL) == Decimal("60000.1")
    assert best_bid_ask(venue=VENUE, symbol=SYMBOL) == (Decimal("59999.9"), Decimal("60000.3"))
    book = {
        "bids": [[60000.0, 1.5], [59999.5, 2]],
        "asks": [[60000.2, 0.7]],
        "timestamp": live.now_ms(),
    }
    live.book_write(VENUE, SYMBOL, book, depth=10)
    assert best_bid_ask(venue=VENUE, symbol=SYMBOL) == (Decimal("60000"), Decimal("60000.2"))
    top = book_top(venue=VENUE, symbol=SYMBOL, levels=1)
    assert top["bids"] == [["60000", "1.5"]] and top["asks"] == [["60000.2", "0.7"]]


def test_a_stale_book_is_never_served_as_fresh(settings):
    settings.MARKETDATA_BOOK_MAX_AGE_SECONDS = 5
    old = {"bids": [[1.0, 1.0]], "asks": [[2.0, 1.0]], "timestamp": live.now_ms() - 30_000}
    live.book_write(VENUE, "ETH/USDT:USDT", old, depth=5)
    with pytest.raises(StaleData, match=r"30\.\d s old"):
        book_top(venue=VENUE, symbol="ETH/USDT:USDT")
    live.ticker_write(VENUE, "ETH/USDT:USDT", {"last": 3000.5, "bid": 3000.0, "ask": 3001.0})
    # The stale book is skipped for the ticker's bid and ask.
    assert best_bid_ask(venue=VENUE, symbol="ETH/USDT:USDT") == (Decimal("3000"), Decimal("3001"))


def test_nothing_streamed_reads_as_none():
    assert last_price(venue=VENUE, symbol="SOL/USDT:USDT") is None
    assert book_top(venue=VENUE, symbol="SOL/USDT:USDT") is None


def test_the_frame_ends_with_the_streams_forming_candle():
    t0 = to_ms(datetime(2026, 11, 3, tzinfo=UTC))
    rows = [[t0 + m * 60_000, 10.0, 11.0, 9.0, 10.0 + m, 1.0] for m in range(3)]
    candles_store(
        venue=VENUE, symbol="XRP/USDT:USDT", timeframe="1m", rows=rows, now_ms=t0 + 180_000
    )
    live.forming_write(VENUE, "XRP/USDT:USDT", "1m", [t0 + 180_000, 12.0, 12.5, 11.5, 12.25, 4.0])
    frame = candles_frame(venue=VENUE, symbol="XRP/USDT:USDT", timeframe="1m", n=3)
    assert list(frame["close"]) == [11.0, 12.0, 12.25]
    assert list(frame["closed"]) == [True, True, False]
    closed_only = candles_frame(venue=VENUE, symbol="XRP/USDT:USDT", timeframe="1m", forming=False)
    assert list(closed_only["close"]) == [10.0, 11.0, 12.0]
