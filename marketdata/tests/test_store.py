"""Candles stored once: duplicates, forming bars, late and out-of-order updates."""

from datetime import UTC, datetime
from decimal import Decimal

import numpy as np
import pytest

from marketdata.models import Candle
from marketdata.selectors import candles_frame, price_decimal
from marketdata.services import candles_store
from marketdata.timeframes import to_ms

pytestmark = pytest.mark.django_db

VENUE, SYMBOL = "simulator:spot", "BTC/USDT"
T0 = to_ms(datetime(2026, 11, 1, tzinfo=UTC))
MINUTE = 60_000


def store(rows, now_ms):
    return candles_store(venue=VENUE, symbol=SYMBOL, timeframe="1m", rows=rows, now_ms=now_ms)


def row(minute, close, volume):
    return [T0 + minute * MINUTE, 100.0, max(101.5, close), 99.5, close, volume]


def stored(minute):
    return Candle.objects.get(
        venue=VENUE,
        symbol=SYMBOL,
        timeframe="1m",
        open_time=datetime.fromtimestamp((T0 + minute * MINUTE) / 1000, UTC),
    )


def test_a_candle_fetched_twice_is_one_row_with_exact_decimals():
    rows = [row(0, 100.1, 2.5), row(1, 100.2, 3.0)]
    store(rows, now_ms=T0 + 10 * MINUTE)
    store(rows, now_ms=T0 + 10 * MINUTE)
    assert Candle.objects.count() == 2
    first = stored(0)
    assert (first.close, first.volume, first.closed) == (Decimal("100.1"), Decimal("2.5"), True)


def test_a_forming_candle_is_replaced_when_it_closes():
    store([row(0, 100.1, 1.0)], now_ms=T0 + 30_000)
    assert stored(0).closed is False
    store([row(0, 100.3, 4.0)], now_ms=T0 + MINUTE)
    candle = stored(0)
    assert (candle.close, candle.volume, candle.closed) == (Decimal("100.3"), Decimal("4"), True)


def test_a_late_or_repeated_forming_update_changes_nothing():
    store([row(0, 100.2, 3.0)], now_ms=T0 + 40_000)
    store([row(0, 100.1, 1.0)], now_ms=T0 + 41_000)  # older, overtaken on the way
    assert (stored(0).close, stored(0).volume) == (Decimal("100.2"), Decimal("3"))
    store([row(0, 100.5, 5.0)], now_ms=T0 + MINUTE)  # closes
    store([row(0, 100.4, 4.5)], now_ms=T0 + 50_000)  # a forming copy after the close
    candle = stored(0)
    assert (candle.close, candle.volume, candle.closed) == (Decimal("100.5"), Decimal("5"), True)
    assert Candle.objects.count() == 1


def test_the_last_candles_are_a_float_frame_oldest_first_with_the_forming_one(
    django_assert_num_queries,
):
    store([row(m, 100 + m / 10, 1 + m) for m in range(5)], now_ms=T0 + 4 * MINUTE + 1)
    with django_assert_num_queries(1):
        frame = candles_frame(venue=VENUE, symbol=SYMBOL, timeframe="1m", n=3)
    assert list(frame.columns) == ["open", "high", "low", "close", "volume", "closed"]
    assert frame["close"].dtype == np.float64
    assert list(frame["close"]) == [100.2, 100.3, 100.4]
    assert list(frame["closed"]) == [True, True, False]
    assert frame.index[-1] == datetime.fromtimestamp((T0 + 4 * MINUTE) / 1000, UTC)
    assert str(frame.index.tz) == "UTC"
    assert price_decimal(frame["close"].iloc[-1]) == Decimal("100.4")


def test_no_candles_is_an_empty_frame_of_the_same_shape():
    frame = candles_frame(venue=VENUE, symbol="ETH/USDT", timeframe="1m")
    assert frame.empty and frame["close"].dtype == np.float64
    assert list(frame.columns) == ["open", "high", "low", "close", "volume", "closed"]
