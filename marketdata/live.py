"""The latest ticker, book top and forming candle of each stream, in the shared cache.

The streams process writes them as they arrive (at most once per subscription
interval); any process reads them in one cache round trip. Each carries the venue's
timestamp (``ts``, ms) and ours (``received``, ms), so a reader can tell its age; prices
and amounts travel as decimal strings, as everywhere.
"""

from __future__ import annotations

import time

from django.conf import settings
from django.core.cache import cache

from common.decimal import normalize, to_decimal

# Kept a while past the point where they are stale, so a reader can still say how old
# they are rather than "nothing".
LIVE_SECONDS = 3600


def _key(kind: str, venue: str, symbol: str, timeframe: str = "") -> str:
    return f"marketdata:{kind}:{venue}:{symbol}:{timeframe}"


def now_ms() -> int:
    return int(time.time() * 1000)


def number(value) -> str | None:
    """A ccxt number (float, or None) as the venue's decimal string."""
    if value is None or value != value:
        return None
    return str(normalize(to_decimal(value)))


def ticker_write(venue: str, symbol: str, ticker: dict) -> dict:
    data = {
        "symbol": symbol,
        "bid": number(ticker.get("bid")),
        "ask": number(ticker.get("ask")),
        "last": number(ticker.get("last")),
        "ts": ticker.get("timestamp"),
        "received": now_ms(),
    }
    cache.set(_key("ticker", venue, symbol), data, timeout=LIVE_SECONDS)
    return data


def book_write(venue: str, symbol: str, book: dict, depth: int) -> dict:
    received = now_ms()
    data = {
        "symbol": symbol,
        "bids": [[number(p), number(a)] for p, a, *_ in book.get("bids", [])[:depth]],
        "asks": [[number(p), number(a)] for p, a, *_ in book.get("asks", [])[:depth]],
        "ts": book.get("timestamp") or received,
        "received": received,
    }
    cache.set(_key("book", venue, symbol), data, timeout=LIVE_SECONDS)
    return data


def forming_write(venue: str, symbol: str, timeframe: str, row: list) -> dict:
    data = {
        "open_time": int(row[0]),
        "open": number(row[1]),
        "high": number(row[2]),
        "low": number(row[3]),
        "close": number(row[4]),
        "volume": number(row[5] or 0),
        "received": now_ms(),
    }
    cache.set(_key("forming", venue, symbol, timeframe), data, timeout=LIVE_SECONDS)
    return data


def _with_age(data: dict | None) -> dict | None:
    if data is None:
        return None
    return {**data, "age_ms": max(0, now_ms() - int(data.get("ts") or data["received"]))}


def ticker_read(venue: str, symbol: str) -> dict | None:
    return _with_age(cache.get(_key("ticker", venue, symbol)))


def book_read(venue: str, symbol: str) -> dict | None:
    return _with_age(cache.get(_key("book", venue, symbol)))


def forming_read(venue: str, symbol: str, timeframe: str) -> dict | None:
    return cache.get(_key("forming", venue, symbol, timeframe))


def book_is_fresh(book: dict) -> bool:
    return book["age_ms"] <= settings.MARKETDATA_BOOK_MAX_AGE_SECONDS * 1000


def status_write(venue: str, status: dict) -> None:
    cache.set(f"marketdata:status:{venue}", status, timeout=60)


def status_read(venues: list[str]) -> dict[str, dict]:
    prefix = "marketdata:status:"
    found = cache.get_many([prefix + venue for venue in venues])
    return {key[len(prefix) :]: status for key, status in found.items()}
