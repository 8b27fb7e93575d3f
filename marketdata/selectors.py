"""Reads of market data for the rest of the platform.

Candle math (indicators, strategies, backtests) works on float64 arrays: ``candles_frame``
gives them as a pandas DataFrame. Anything that goes back into an order is a Decimal
again (``price_decimal``), rounded by the order path to the market's precision.
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal

import numpy as np
import pandas as pd

from marketdata.models import Candle
from marketdata.timeframes import timeframe_ms

FRAME_COLUMNS = ["open", "high", "low", "close", "volume"]


def candles_queryset(*, venue: str, symbol: str, timeframe: str):
    timeframe_ms(timeframe)  # a clear 400 for a timeframe we cannot page
    return Candle.objects.filter(venue=venue, symbol=symbol, timeframe=timeframe)


def candles_range(
    *,
    venue: str,
    symbol: str,
    timeframe: str,
    start: datetime | None = None,
    end: datetime | None = None,
):
    """Candles between ``start`` and ``end`` (open times, inclusive), oldest first."""
    candles = candles_queryset(venue=venue, symbol=symbol, timeframe=timeframe)
    if start is not None:
        candles = candles.filter(open_time__gte=start)
    if end is not None:
        candles = candles.filter(open_time__lte=end)
    return candles.order_by("open_time")


def candles_frame(*, venue: str, symbol: str, timeframe: str, n: int = 1000) -> pd.DataFrame:
    """The last ``n`` candles, the forming one included when stored, oldest first: float64
    columns open, high, low, close, volume and a bool ``closed``, indexed by the open time
    (aware UTC). One indexed query read backwards; no model instances are built."""
    rows = list(
        candles_queryset(venue=venue, symbol=symbol, timeframe=timeframe)
        .order_by("-open_time")
        .values_list("open_time", *FRAME_COLUMNS, "closed")[:n]
    )
    rows.reverse()
    if not rows:
        frame = pd.DataFrame(
            {name: np.array([], dtype=np.float64) for name in FRAME_COLUMNS}
            | {"closed": np.array([], dtype=bool)},
            index=pd.DatetimeIndex([], tz="UTC", name="open_time"),
        )
        return frame
    times, *columns, closed = zip(*rows, strict=True)
    frame = pd.DataFrame(
        {
            name: np.fromiter(map(float, column), dtype=np.float64, count=len(rows))
            for name, column in zip(FRAME_COLUMNS, columns, strict=True)
        },
        index=pd.DatetimeIndex(times, name="open_time"),
    )
    frame["closed"] = np.fromiter(closed, dtype=bool, count=len(rows))
    return frame


def price_decimal(value: float) -> Decimal:
    """A price computed on float64 candles, as the Decimal an order takes (the order path
    rounds it to the market's tick): the shortest digits that read back as ``value``."""
    return Decimal(repr(float(value)))
