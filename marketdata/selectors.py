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
from django.db import connection
from django.db.models import F, FloatField
from django.db.models.functions import Cast, Extract

from common.exceptions import ApplicationError
from marketdata import live
from marketdata.models import Candle
from marketdata.timeframes import timeframe_ms


class StaleData(ApplicationError):
    """What is cached is too old to pass for the market now (the stream is down)."""

    status_code = 503
    code = "stale_market_data"


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


def candles_frame(
    *, venue: str, symbol: str, timeframe: str, n: int = 1000, forming: bool = True
) -> pd.DataFrame:
    """The last ``n`` candles, oldest first: float64 columns open, high, low, close,
    volume and a bool ``closed``, indexed by the open time (aware UTC). The forming candle
    (``forming``) is the streams' newest copy from the cache, or the stored one. One
    indexed query read backwards and one cache read; no model instances are built."""
    # Numbers as float8 and times as epoch seconds straight from the database: parsing a
    # thousand timestamps and five thousand numerics into datetimes and Decimals took
    # most of the read: CPU per read of 1,000 candles 13.3 -> 5.5 ms (bench/market_data.py).
    postgresql = connection.vendor == "postgresql"
    epoch = Cast(Extract("open_time", "epoch"), FloatField()) if postgresql else F("open_time")
    rows = list(
        candles_queryset(venue=venue, symbol=symbol, timeframe=timeframe)
        .order_by("-open_time")
        .annotate(epoch=epoch, **{f"f_{name}": Cast(name, FloatField()) for name in FRAME_COLUMNS})
        .values_list("epoch", *(f"f_{name}" for name in FRAME_COLUMNS), "closed")[:n]
    )
    rows.reverse()
    if not postgresql:  # SQLite has no epoch extract: its datetimes, converted here
        rows = [(row[0].timestamp(), *row[1:]) for row in rows]
    if forming:
        live_row = live.forming_read(venue, symbol, timeframe)
        if live_row is not None:
            opened = live_row["open_time"] / 1000
            values = tuple(float(live_row[name]) for name in FRAME_COLUMNS)
            if not rows or opened > rows[-1][0]:
                rows = [*rows, (opened, *values, False)][-n:]
            elif opened == rows[-1][0] and not rows[-1][-1]:
                rows[-1] = (opened, *values, False)
    else:
        rows = [row for row in rows if row[-1]]
    if not rows:
        return pd.DataFrame(
            {name: np.array([], dtype=np.float64) for name in FRAME_COLUMNS}
            | {"closed": np.array([], dtype=bool)},
            index=pd.DatetimeIndex([], tz="UTC", name="open_time"),
        )
    array = np.array([row[:-1] for row in rows], dtype=np.float64)
    frame = pd.DataFrame(
        array[:, 1:],
        columns=FRAME_COLUMNS,
        index=pd.to_datetime(array[:, 0], unit="s", utc=True).rename("open_time"),
    )
    frame["closed"] = np.fromiter((row[-1] for row in rows), dtype=bool, count=len(rows))
    return frame


def price_decimal(value: float) -> Decimal:
    """A price computed on float64 candles, as the Decimal an order takes (the order path
    rounds it to the market's tick): the shortest digits that read back as ``value``."""
    return Decimal(repr(float(value)))


def quote(*, venue: str, symbol: str) -> dict | None:
    """The latest ticker (last price, best bid and ask as decimal strings, ``ts`` and
    ``age_ms``), or None when nobody streams it."""
    return live.ticker_read(venue, symbol)


def last_price(*, venue: str, symbol: str) -> Decimal | None:
    data = live.ticker_read(venue, symbol)
    return Decimal(data["last"]) if data and data.get("last") else None


def best_bid_ask(*, venue: str, symbol: str) -> tuple[Decimal | None, Decimal | None]:
    """From the book when one is streamed and fresh, else from the ticker."""
    book = live.book_read(venue, symbol)
    if book is not None and live.book_is_fresh(book) and book["bids"] and book["asks"]:
        return Decimal(book["bids"][0][0]), Decimal(book["asks"][0][0])
    data = live.ticker_read(venue, symbol) or {}
    bid, ask = data.get("bid"), data.get("ask")
    return (Decimal(bid) if bid else None), (Decimal(ask) if ask else None)


def book_top(*, venue: str, symbol: str, levels: int = 10) -> dict | None:
    """The top ``levels`` of the book (price and amount as decimal strings). None when
    nobody streams it; a book older than MARKETDATA_BOOK_MAX_AGE_SECONDS is never served
    as fresh: ``StaleData`` (503) saying how old it is."""
    book = live.book_read(venue, symbol)
    if book is None:
        return None
    if not live.book_is_fresh(book):
        raise StaleData(
            f"The {symbol} book on {venue} is {book['age_ms'] / 1000:.1f} s old: its "
            "stream is not delivering. Check the streams process and its status."
        )
    return {**book, "bids": book["bids"][:levels], "asks": book["asks"][:levels]}
