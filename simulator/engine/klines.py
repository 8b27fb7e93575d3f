"""Klines as Binance serves them: one series of history, then the live market.

A market's 1m series has two parts that meet at its *seam* (``MarketState.seam_ms``, the
minute the venue started): before it, the synthetic history of :mod:`.history`; from it
on, the candles the engine builds from trades (``MarketState.candles``). A minute without
trades is a flat candle at the previous close with no volume, as Binance shows a quiet
minute, so the series has no gap from :data:`~.history.HISTORY_START_MS` to now. Larger
intervals aggregate the 1m series; the interval that holds the seam aggregates history's
minutes and live ones together.

Paging (:func:`select`), as Binance's ``GET /api/v3/klines`` and ``/fapi/v1/klines``:
candles whose open time lies in [``startTime``, ``endTime``], at most ``limit``; with
``startTime``, the first ``limit`` from there; with only ``endTime``, the last ``limit``
up to it; with neither, the latest. The candle in progress is included; none opens after
now. Before the first candle there is nothing: a ``startTime`` before it starts there.

Everything is int64 counts (see :mod:`.history` for the rows): live candles are converted
once they are closed and kept converted, so a page costs numpy slicing whatever its mix.
"""

from __future__ import annotations

from bisect import bisect_left
from collections import deque
from typing import TYPE_CHECKING

import numpy as np

from .history import (
    CLOSE,
    COLUMNS,
    DAY_MS,
    HIGH,
    HISTORY_START_MS,
    LOW,
    MINUTE_MS,
    OPEN,
    QUOTE,
    TAKER,
    TAKER_QUOTE,
    TIME,
    TRADES,
    VOLUME,
    Units,
    aggregate,
)
from .model import Candle

if TYPE_CHECKING:
    from .history import MarketHistory
    from .market import MarketState

EMPTY = np.empty((COLUMNS, 0), dtype=np.int64)


def select(
    mkt: MarketState,
    interval_ms: int,
    start: int | None,
    end: int | None,
    limit: int,
    now: int,
) -> np.ndarray:
    """The bars Binance would answer for these parameters (see the module docstring)."""
    seam = mkt.seam_ms
    history = mkt.history() if seam > HISTORY_START_MS else None
    first_available = HISTORY_START_MS if history is not None else seam - seam % interval_ms
    last = min(now, end) if end is not None else now
    last -= last % interval_ms
    if start is not None:
        first = max(start, first_available)
        first = -(-first // interval_ms) * interval_ms
        last = min(last, first + (limit - 1) * interval_ms)
    else:
        first = max(first_available, last - (limit - 1) * interval_ms)
    if first > last:
        return EMPTY
    stop = last + interval_ms
    parts = []
    if history is not None and first < seam:
        parts.append(_history_part(history, interval_ms, first, min(stop, seam)))
    if stop > seam:
        low = max(first, seam)
        high = min(stop, now - now % MINUTE_MS + MINUTE_MS)
        if low < high:
            parts.append(aggregate(live_minutes(mkt, low, high), interval_ms))
    if not parts:
        return EMPTY
    if len(parts) == 2 and parts[0].shape[1] and parts[1].shape[1]:
        before, after = parts
        if before[TIME, -1] == after[TIME, 0]:  # the interval holding the seam: one candle
            joined = _join(before[:, -1], after[:, 0])
            parts = [before[:, :-1], joined[:, None], after[:, 1:]]
    return np.concatenate(parts, axis=1)


def _join(first: np.ndarray, second: np.ndarray) -> np.ndarray:
    out = first + second  # volumes, trades: sums
    out[TIME], out[OPEN], out[CLOSE] = first[TIME], first[OPEN], second[CLOSE]
    out[HIGH] = max(first[HIGH], second[HIGH])
    out[LOW] = min(first[LOW], second[LOW])
    return out


def _history_part(history: MarketHistory, interval_ms: int, low: int, high: int) -> np.ndarray:
    """History's bars of ``interval_ms`` for [low, high): low on an interval boundary,
    high on one too or at the seam (then the last bar holds the minutes before it)."""
    pieces = []
    for day in range(low // DAY_MS, (high - 1) // DAY_MS + 1):
        day_start = day * DAY_MS
        begin, finish = max(low, day_start) - day_start, min(high, day_start + DAY_MS) - day_start
        if finish % interval_ms == 0:
            bars = history.aggregated(day, interval_ms // MINUTE_MS)
            pieces.append(bars[:, begin // interval_ms : finish // interval_ms])
        else:
            minutes = history.minutes(day)[:, begin // MINUTE_MS : finish // MINUTE_MS]
            pieces.append(aggregate(minutes, interval_ms))
    return pieces[0] if len(pieces) == 1 else np.concatenate(pieces, axis=1)


class LiveIndex:
    """The closed live candles of a market as int rows, converted once (a market's
    ``candles`` deque only ever changes at its end: a new candle, or the last one
    updated; the oldest fall off the front)."""

    def __init__(self, units: Units) -> None:
        self.units = units
        self.times: list[int] = []
        self.rows: list[tuple[int, ...]] = []

    def sync(self, candles: deque[Candle]) -> None:
        if not candles:
            self.times.clear()
            self.rows.clear()
            return
        if self.times and self.times[0] < candles[0].open_time:
            gone = bisect_left(self.times, candles[0].open_time)
            del self.times[:gone], self.rows[:gone]
        known = self.times[-1] if self.times else -1
        fresh: list[Candle] = []
        newest = reversed(candles)
        next(newest)  # the last candle may still change: converted on each use
        for candle in newest:
            if candle.open_time <= known:
                break
            fresh.append(candle)
        for candle in reversed(fresh):
            self.times.append(candle.open_time)
            self.rows.append(self.row(candle))

    def row(self, c: Candle) -> tuple[int, ...]:
        u = self.units
        return (
            u.ticks(c.open),
            u.ticks(c.high),
            u.ticks(c.low),
            u.ticks(c.close),
            u.steps(c.volume),
            u.quote_units(c.quote_volume),
            c.trades,
            u.steps(c.taker_buy_volume),
            u.quote_units(c.taker_buy_quote_volume),
        )


def live_minutes(mkt: MarketState, low: int, high: int) -> np.ndarray:
    """1m bars for the minutes [low, high) at or after the seam: the live candles, and
    flat ones at the previous close where no trade printed."""
    index = mkt.live_index()
    index.sync(mkt.candles)
    times, rows = index.times, index.rows
    begin, finish = bisect_left(times, low), bisect_left(times, high)
    found_times = times[begin:finish]
    found = rows[begin:finish]
    previous_close = rows[begin - 1][3] if begin else None
    if mkt.candles:  # the candle in progress, newer than every closed one
        current = mkt.candles[-1]
        if low <= current.open_time < high:
            found_times = [*found_times, current.open_time]
            found = [*found, index.row(current)]
        elif current.open_time < low:
            previous_close = index.row(current)[3]
    if previous_close is None:
        previous_close = mkt.seam_close_ticks()
    count = (high - low) // MINUTE_MS
    bars = np.zeros((COLUMNS, count), dtype=np.int64)
    bars[TIME] = low + np.arange(count, dtype=np.int64) * MINUTE_MS
    filled = np.zeros(count, dtype=bool)
    if found:
        at = (np.array(found_times, dtype=np.int64) - low) // MINUTE_MS
        bars[OPEN : TAKER_QUOTE + 1, at] = np.array(found, dtype=np.int64).T
        filled[at] = True
    if not filled.all():
        latest = np.where(filled, np.arange(count), -1)
        np.maximum.accumulate(latest, out=latest)
        closes = np.where(latest >= 0, bars[CLOSE, np.maximum(latest, 0)], previous_close)
        empty = ~filled
        for row in (OPEN, HIGH, LOW, CLOSE):
            bars[row, empty] = closes[empty]
    return bars


def to_candle(bar: np.ndarray, units: Units, interval_ms: int) -> Candle:
    """One bar as the engine's Decimal candle (for the websocket payloads)."""
    t = int(bar[TIME])
    return Candle(
        open_time=t,
        close_time=t + interval_ms - 1,
        open=units.price(int(bar[OPEN])),
        high=units.price(int(bar[HIGH])),
        low=units.price(int(bar[LOW])),
        close=units.price(int(bar[CLOSE])),
        volume=units.qty(int(bar[VOLUME])),
        quote_volume=units.quote(int(bar[QUOTE])),
        trades=int(bar[TRADES]),
        taker_buy_volume=units.qty(int(bar[TAKER])),
        taker_buy_quote_volume=units.quote(int(bar[TAKER_QUOTE])),
    )
