"""Per-market state: the book, the seeded random walk, public trades and klines.

Klines: the synthetic history (:mod:`.history`) up to the minute the venue started (the
*seam*), then the 1m candles built here from trades - one series, served by
:mod:`.klines`. With the default anchor, history ends at the configured price, where the
live walk starts.
"""

from __future__ import annotations

import hashlib
import random
from collections import deque
from decimal import ROUND_DOWN, Decimal
from functools import lru_cache
from typing import Any

import numpy as np

from ..config import MarketSpec
from . import klines as kl
from .book import OrderBook
from .history import HISTORY_START_MS, HistoryKey, MarketHistory, Units, history_for
from .model import ZERO, Candle, Order, PublicTradeRecord

MINUTE_MS = 60_000
KLINE_INTERVALS_MS = {
    "1m": MINUTE_MS,
    "3m": 3 * MINUTE_MS,
    "5m": 5 * MINUTE_MS,
    "15m": 15 * MINUTE_MS,
    "30m": 30 * MINUTE_MS,
    "1h": 60 * MINUTE_MS,
    "2h": 120 * MINUTE_MS,
    "4h": 240 * MINUTE_MS,
    "6h": 360 * MINUTE_MS,
    "8h": 480 * MINUTE_MS,
    "12h": 720 * MINUTE_MS,
    "1d": 1440 * MINUTE_MS,
}
MAX_CANDLES = 20_000  # two weeks of 1m candles
MAX_PUBLIC_TRADES = 1_000


def market_seed(seed: int, venue: str, symbol: str) -> int:
    """A stable per-market seed: hashlib, not hash(), which is salted per process."""
    digest = hashlib.sha256(f"{seed}:{venue}:{symbol}".encode()).digest()
    return int.from_bytes(digest[:8], "big")


@lru_cache(maxsize=256)
def units_of(tick: Decimal, step: Decimal) -> Units:
    return Units.of(tick, step)


class MarketState:
    # Not kept with the venue's state (rebuilt on use): the converted live candles.
    _live: kl.LiveIndex | None = None

    def __init__(
        self,
        venue: str,
        spec: MarketSpec,
        seed: int,
        start_ms: int,
        history_anchor_ms: int | None = None,
    ) -> None:
        self.venue = venue
        self.spec = spec
        self.symbol = spec.symbol_id
        self.book = OrderBook()
        self.seed = seed
        self.rng = random.Random(market_seed(seed, venue, spec.symbol_id))
        # History up to the seam, live candles from it. The anchor is where history's price
        # is the configured one: by default the seam, so the live walk starts there.
        self.seam_ms = start_ms - start_ms % MINUTE_MS
        self.anchor_ms = self.seam_ms
        self.anchor_price = spec.price
        self.mid = spec.price
        if history_anchor_ms is not None:
            self.anchor_ms = history_anchor_ms - history_anchor_ms % MINUTE_MS
            if self.seam_ms > HISTORY_START_MS:
                self.mid = self.units.price(self.history().close_before(self.seam_ms))
        self.last_price = self.mid
        self.lp_orders: list[Order] = []
        self.trades: deque[PublicTradeRecord] = deque(maxlen=MAX_PUBLIC_TRADES)
        self.candles: deque[Candle] = deque(maxlen=MAX_CANDLES)
        self.next_trade_id = 1
        # Spot stop orders waiting for their trigger (not on the book), by order id.
        self.pending_stops: dict[int, Order] = {}

    def __getstate__(self) -> dict[str, Any]:
        state = self.__dict__.copy()
        state.pop("_live", None)
        return state

    @property
    def units(self) -> Units:
        return units_of(self.spec.tick_size, self.spec.step_size)

    def history(self) -> MarketHistory:
        spec = self.spec
        return history_for(
            HistoryKey(
                market_seed=market_seed(self.seed, self.venue, self.symbol),
                tick=spec.tick_size,
                step=spec.step_size,
                level_qty=spec.lp_level_qty,
                volatility_bps=spec.history_volatility_bps,
                anchor_ms=self.anchor_ms,
                anchor_price=self.anchor_price,
            )
        )

    def live_index(self) -> kl.LiveIndex:
        if self._live is None or self._live.units != self.units:
            self._live = kl.LiveIndex(self.units)
        return self._live

    def seam_close_ticks(self) -> int:
        """History's last close: where the live series starts before any trade."""
        if self.seam_ms > HISTORY_START_MS:
            return self.history().close_before(self.seam_ms)
        return self.units.ticks(self.anchor_price)

    # Rounding helpers: prices and quantities snap to the market's filters.
    def round_price(self, price: Decimal) -> Decimal:
        tick = self.spec.tick_size
        return (price / tick).to_integral_value(ROUND_DOWN) * tick

    def round_qty(self, qty: Decimal) -> Decimal:
        # Down: a rounded quantity never exceeds what the caller could pay for.
        step = self.spec.step_size
        return (qty / step).to_integral_value(ROUND_DOWN) * step

    def walk(self) -> None:
        """Move the mid by a Gaussian number of ticks (integer ticks keep prices exact)."""
        spec = self.spec
        sigma_ticks = float(self.mid * spec.volatility_bps / Decimal(10_000) / spec.tick_size)
        ticks = round(self.rng.gauss(0.0, sigma_ticks))
        floor = spec.tick_size * 10
        self.mid = max(floor, self.mid + spec.tick_size * ticks)

    def record_trade(self, trade: PublicTradeRecord, taker_is_buyer: bool) -> Candle:
        self.trades.append(trade)
        self.last_price = trade.price
        open_time = trade.time - trade.time % MINUTE_MS
        candle = self.candles[-1] if self.candles else None
        if candle is None or candle.open_time < open_time:
            candle = Candle(
                open_time=open_time,
                close_time=open_time + MINUTE_MS - 1,
                open=trade.price,
                high=trade.price,
                low=trade.price,
                close=trade.price,
            )
            self.candles.append(candle)
        # A clock that steps backwards (never in practice) folds into the current candle.
        candle.high = max(candle.high, trade.price)
        candle.low = min(candle.low, trade.price)
        candle.close = trade.price
        candle.volume += trade.qty
        candle.quote_volume += trade.quote_qty
        candle.trades += 1
        if taker_is_buyer:
            candle.taker_buy_volume += trade.qty
            candle.taker_buy_quote_volume += trade.quote_qty
        return candle

    def current_kline(self, interval_ms: int) -> Candle | None:
        """The ``interval_ms`` candle the latest 1m candle belongs to, as ``klines`` gives
        it (history's minutes included when the interval holds the seam)."""
        if not self.candles:
            return None
        latest = self.candles[-1].open_time
        bars = self.klines(interval_ms, latest - latest % interval_ms, None, 1, latest)
        return kl.to_candle(bars[:, 0], self.units, interval_ms)

    def klines(
        self, interval_ms: int, start: int | None, end: int | None, limit: int, now: int
    ) -> np.ndarray:
        """Bars of ``interval_ms`` as Binance pages them (see :mod:`.klines`)."""
        return kl.select(self, interval_ms, start, end, limit, now)

    def stats_24h(self, now: int) -> dict[str, Decimal | int]:
        since = now - 1440 * MINUTE_MS
        candles = [c for c in self.candles if c.open_time >= since - MINUTE_MS]
        if not candles:
            price = self.last_price
            return {
                "open": price,
                "high": price,
                "low": price,
                "close": price,
                "volume": ZERO,
                "quote_volume": ZERO,
                "count": 0,
                "open_time": since,
                "close_time": now,
            }
        return {
            "open": candles[0].open,
            "high": max(c.high for c in candles),
            "low": min(c.low for c in candles),
            "close": self.last_price,
            "volume": sum((c.volume for c in candles), ZERO),
            "quote_volume": sum((c.quote_volume for c in candles), ZERO),
            "count": sum(c.trades for c in candles),
            "open_time": candles[0].open_time,
            "close_time": now,
        }
