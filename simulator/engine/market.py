"""Per-market state: the book, the seeded random walk, public trades and klines."""

from __future__ import annotations

import hashlib
import random
from collections import deque
from decimal import ROUND_DOWN, Decimal

from ..config import MarketSpec
from .book import OrderBook
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


class MarketState:
    def __init__(self, venue: str, spec: MarketSpec, seed: int) -> None:
        self.venue = venue
        self.spec = spec
        self.symbol = spec.symbol_id
        self.book = OrderBook()
        self.rng = random.Random(market_seed(seed, venue, spec.symbol_id))
        self.mid = spec.price
        self.last_price = spec.price
        self.lp_orders: list[Order] = []
        self.trades: deque[PublicTradeRecord] = deque(maxlen=MAX_PUBLIC_TRADES)
        self.candles: deque[Candle] = deque(maxlen=MAX_CANDLES)
        self.next_trade_id = 1
        # Spot stop orders waiting for their trigger (not on the book), by order id.
        self.pending_stops: dict[int, Order] = {}

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
        """The ``interval_ms`` candle the latest 1m candle belongs to, aggregated as
        ``klines`` aggregates it (read from the end: a stream sends it on every tick)."""
        if not self.candles:
            return None
        start = self.candles[-1].open_time - self.candles[-1].open_time % interval_ms
        recent: list[Candle] = []
        for candle in reversed(self.candles):
            if candle.open_time < start:
                break
            recent.append(candle)
        recent.reverse()
        first = recent[0]
        return Candle(
            open_time=start,
            close_time=start + interval_ms - 1,
            open=first.open,
            high=max(c.high for c in recent),
            low=min(c.low for c in recent),
            close=recent[-1].close,
            volume=sum((c.volume for c in recent), ZERO),
            quote_volume=sum((c.quote_volume for c in recent), ZERO),
            trades=sum(c.trades for c in recent),
            taker_buy_volume=sum((c.taker_buy_volume for c in recent), ZERO),
            taker_buy_quote_volume=sum((c.taker_buy_quote_volume for c in recent), ZERO),
        )

    def klines(
        self, interval_ms: int, start: int | None, end: int | None, limit: int
    ) -> list[Candle]:
        """Candles of ``interval_ms`` aggregated from the 1m series."""
        out: list[Candle] = []
        for c in self.candles:
            if start is not None and c.open_time + MINUTE_MS <= start:
                continue
            if end is not None and c.open_time > end:
                break
            open_time = c.open_time - c.open_time % interval_ms
            if out and out[-1].open_time == open_time:
                agg = out[-1]
                agg.high = max(agg.high, c.high)
                agg.low = min(agg.low, c.low)
                agg.close = c.close
                agg.volume += c.volume
                agg.quote_volume += c.quote_volume
                agg.trades += c.trades
                agg.taker_buy_volume += c.taker_buy_volume
                agg.taker_buy_quote_volume += c.taker_buy_quote_volume
            else:
                out.append(
                    Candle(
                        open_time=open_time,
                        close_time=open_time + interval_ms - 1,
                        open=c.open,
                        high=c.high,
                        low=c.low,
                        close=c.close,
                        volume=c.volume,
                        quote_volume=c.quote_volume,
                        trades=c.trades,
                        taker_buy_volume=c.taker_buy_volume,
                        taker_buy_quote_volume=c.taker_buy_quote_volume,
                    )
                )
        if start is None:
            return out[-limit:]
        return out[:limit]

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
