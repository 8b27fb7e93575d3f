"""Binance's websocket event shapes, built from engine events and state (pure functions).

Field letters follow Binance's docs and what ccxt.pro reads (``parse_ws_order``,
``parse_ws_trade``, ``handle_balance``, ``handle_positions``, ``handle_order_book``,
``parse_ws_ticker``, ``handle_ohlcv``). Spot numbers are 8-decimal strings, USD-M numbers
plain strings, as on the REST side.
"""

from __future__ import annotations

from collections.abc import Callable
from decimal import Decimal
from typing import Any

from ..config import SPOT
from ..engine import Exchange
from ..engine.events import (
    AlgoOrderUpdated,
    BookChanged,
    KlineUpdated,
    MarkPriceUpdated,
    OrderUpdated,
    PublicTrade,
)
from ..engine.market import MarketState
from ..engine.model import ZERO, Candle
from ..rest import serializers as ser
from ..rest.fmt import d8, plain

FUNDING_INTERVAL_MS = 8 * 3_600_000
FUNDING_RATE = "0.00010000"


def _fmt(venue: str) -> Callable[[Decimal], str]:
    return d8 if venue == SPOT else plain


# ---------------------------------------------------------------------- user data: orders
def execution_report(event: OrderUpdated) -> dict[str, Any]:
    """Spot ``executionReport`` (user data stream)."""
    o = event.order
    fill = event.last_fill
    canceled = event.execution_type in ("CANCELED", "EXPIRED")
    return {
        "e": "executionReport",
        "E": event.event_time,
        "s": o.symbol,
        "c": o.client_order_id,
        "S": o.side,
        "o": o.type,
        "f": o.time_in_force,
        "q": d8(o.orig_qty),
        "p": d8(o.price),
        "P": d8(o.stop_price),
        "F": d8(ZERO),
        "g": o.order_list_id,
        # Binance puts the original client id in C when an order is cancelled.
        "C": o.client_order_id if canceled else "",
        "x": event.execution_type,
        "X": o.status,
        "r": "NONE",
        "i": o.order_id,
        "l": d8(fill.qty if fill else ZERO),
        "z": d8(o.executed_qty),
        "L": d8(fill.price if fill else ZERO),
        "n": d8(fill.commission if fill else ZERO),
        "N": fill.commission_asset if fill else None,
        "T": fill.time if fill else (o.update_time or o.time),
        "t": fill.trade_id if fill else -1,
        "I": o.order_id,
        "w": o.is_open and o.is_working,
        "m": fill.is_maker if fill else False,
        "M": fill is not None,
        "O": o.time,
        "Z": d8(o.cum_quote),
        "Y": d8(fill.quote_qty if fill else ZERO),
        "Q": d8(o.quote_order_qty),
        "W": o.working_time,
        "V": "NONE",
    }


def order_trade_update(event: OrderUpdated) -> dict[str, Any]:
    """USD-M ``ORDER_TRADE_UPDATE``."""
    o = event.order
    fill = event.last_fill
    body: dict[str, Any] = {
        "s": o.symbol,
        "c": o.client_order_id,
        "S": o.side,
        "o": o.type,
        "f": o.time_in_force,
        "q": plain(o.orig_qty),
        "p": plain(o.price),
        "ap": plain(o.avg_price),
        "sp": plain(o.stop_price),
        "x": event.execution_type,
        "X": o.status,
        "i": o.order_id,
        "l": plain(fill.qty if fill else ZERO),
        "z": plain(o.executed_qty),
        "L": plain(fill.price if fill else ZERO),
        "T": fill.time if fill else (o.update_time or o.time),
        "t": fill.trade_id if fill else 0,
        "b": "0",
        "a": "0",
        "m": fill.is_maker if fill else False,
        "R": o.reduce_only,
        "wt": "CONTRACT_PRICE",
        "ot": o.orig_type or o.type,
        "ps": "BOTH",
        "cp": False,
        "rp": plain(fill.realized_pnl if fill else ZERO),
        "pP": False,
        "si": 0,
        "ss": 0,
        "V": "EXPIRE_MAKER",
        "pm": "NONE",
        "gtd": 0,
    }
    if fill is not None:
        body["N"] = fill.commission_asset
        body["n"] = plain(fill.commission)
    return {"e": "ORDER_TRADE_UPDATE", "E": event.event_time, "T": body["T"], "o": body}


def algo_update(event: AlgoOrderUpdated) -> dict[str, Any]:
    """USD-M ``ALGO_UPDATE`` (conditional orders of the algo-order API)."""
    a = event.algo
    body: dict[str, Any] = {
        "caid": a.client_algo_id,
        "aid": a.algo_id,
        "at": "CONDITIONAL",
        "o": a.order_type,
        "s": a.symbol,
        "S": a.side,
        "ps": "BOTH",
        "f": a.time_in_force,
        "q": plain(a.quantity),
        "X": a.status,
        "ai": str(a.actual_order_id) if a.actual_order_id is not None else "",
        "ap": "0",
        "aq": "0",
        "act": "0",
        "tp": plain(a.trigger_price),
        "p": plain(a.price),
        "V": "EXPIRE_MAKER",
        "wt": a.working_type,
        "pm": "NONE",
        "cp": a.close_position,
        "pP": False,
        "R": a.reduce_only,
        "tt": a.trigger_time,
        "gtd": 0,
    }
    if a.order_type == "TRAILING_STOP_MARKET":
        body["AP"] = plain(a.activate_price)
        body["cr"] = plain(a.callback_rate)
    return {"e": "ALGO_UPDATE", "T": event.event_time, "E": event.event_time, "o": body}


# ---------------------------------------------------------------------- user data: account
def outbound_account_position(
    exchange: Exchange, account_id: str, assets: set[str], now: int
) -> dict[str, Any]:
    """Spot ``outboundAccountPosition``: free/locked of the assets that changed."""
    balances = exchange.accounts[account_id].spot_balances
    rows = []
    for asset in sorted(assets):
        b = balances.get(asset)
        rows.append({"a": asset, "f": d8(b.free if b else ZERO), "l": d8(b.locked if b else ZERO)})
    return {"e": "outboundAccountPosition", "E": now, "u": now, "B": rows}


def account_update(
    exchange: Exchange,
    account_id: str,
    assets: set[str],
    symbols: set[str],
    reason: str,
    now: int,
) -> dict[str, Any]:
    """USD-M ``ACCOUNT_UPDATE``: wallet of the assets and the positions that changed."""
    account = exchange.accounts[account_id]
    balances = [
        {
            "a": asset,
            "wb": plain(account.futures_wallet.get(asset, ZERO)),
            "cw": plain(account.futures_wallet.get(asset, ZERO)),
            "bc": "0",
        }
        for asset in sorted(assets)
    ]
    positions = []
    for symbol in sorted(symbols):
        pos = account.positions.get(symbol)
        mkt = exchange.markets["futures"].get(symbol)
        if pos is None or mkt is None:
            continue
        positions.append(
            {
                "s": symbol,
                "pa": plain(pos.amount),
                "ep": plain(pos.entry_price),
                "bep": plain(pos.entry_price),
                "cr": "0",
                "up": plain((mkt.mid - pos.entry_price) * pos.amount if pos.amount else ZERO),
                "mt": "cross",
                "iw": "0",
                "ps": "BOTH",
                "ma": mkt.spec.quote,
            }
        )
    return {
        "e": "ACCOUNT_UPDATE",
        "E": now,
        "T": now,
        "a": {"m": reason, "B": balances, "P": positions},
    }


# ---------------------------------------------------------------------- market streams
def depth_update(event: BookChanged) -> dict[str, Any]:
    """Diff depth: ``U``..``u`` continue the REST snapshot's ``lastUpdateId`` (``pu`` = U-1)."""
    fmt = _fmt(event.venue)
    body: dict[str, Any] = {"e": "depthUpdate", "E": event.event_time}
    if event.venue != SPOT:
        body["T"] = event.event_time
    body.update(
        {
            "s": event.symbol,
            "U": event.first_update_id,
            "u": event.last_update_id,
        }
    )
    if event.venue != SPOT:
        body["pu"] = event.first_update_id - 1
    body["b"] = [[fmt(p), fmt(q)] for p, q in sorted(event.bids, reverse=True)]
    body["a"] = [[fmt(p), fmt(q)] for p, q in sorted(event.asks)]
    return body


def trade(event: PublicTrade) -> dict[str, Any]:
    t = event.trade
    fmt = _fmt(event.venue)
    body: dict[str, Any] = {
        "e": "trade",
        "E": t.time,
        "s": event.symbol,
        "t": t.trade_id,
        "p": fmt(t.price),
        "q": fmt(t.qty),
        "T": t.time,
        "m": t.is_buyer_maker,
    }
    if event.venue == SPOT:
        body["M"] = True
    else:
        body["X"] = "MARKET"
    return body


def agg_trade(event: PublicTrade) -> dict[str, Any]:
    t = event.trade
    fmt = _fmt(event.venue)
    body: dict[str, Any] = {
        "e": "aggTrade",
        "E": t.time,
        "s": event.symbol,
        "a": t.trade_id,
        "p": fmt(t.price),
        "q": fmt(t.qty),
        "f": t.trade_id,
        "l": t.trade_id,
        "T": t.time,
        "m": t.is_buyer_maker,
    }
    if event.venue == SPOT:
        body["M"] = True
    return body


def kline(
    event: KlineUpdated, interval: str = "1m", candle: Candle | None = None
) -> dict[str, Any]:
    c = candle or event.candle
    fmt = _fmt(event.venue)
    return {
        "e": "kline",
        "E": event.event_time,
        "s": event.symbol,
        "k": {
            "t": c.open_time,
            "T": c.close_time,
            "s": event.symbol,
            "i": interval,
            "f": -1,
            "L": -1,
            "o": fmt(c.open),
            "c": fmt(c.close),
            "h": fmt(c.high),
            "l": fmt(c.low),
            "v": fmt(c.volume),
            "n": c.trades,
            "x": False,
            "q": fmt(c.quote_volume),
            "V": fmt(c.taker_buy_volume),
            "Q": fmt(c.taker_buy_quote_volume),
            "B": "0",
        },
    }


def mark_price(event: MarkPriceUpdated) -> dict[str, Any]:
    mark = plain(event.mark_price)
    now = event.event_time
    return {
        "e": "markPriceUpdate",
        "E": now,
        "s": event.symbol,
        "p": mark,
        "ap": mark,
        "P": mark,
        "i": mark,
        "r": FUNDING_RATE,
        "T": now - now % FUNDING_INTERVAL_MS + FUNDING_INTERVAL_MS,
    }


def ticker(mkt: MarketState, now: int) -> dict[str, Any]:
    """``24hrTicker`` from the same figures as REST ``ticker/24hr``."""
    spot = mkt.venue == SPOT
    rest = ser.ticker_24hr(mkt, now, not spot)
    body: dict[str, Any] = {
        "e": "24hrTicker",
        "E": now,
        "s": mkt.symbol,
        "p": rest["priceChange"],
        "P": rest["priceChangePercent"],
        "w": rest["weightedAvgPrice"],
    }
    if spot:
        body["x"] = rest["prevClosePrice"]
    body.update({"c": rest["lastPrice"], "Q": rest["lastQty"]})
    if spot:
        body.update(
            {
                "b": rest["bidPrice"],
                "B": rest["bidQty"],
                "a": rest["askPrice"],
                "A": rest["askQty"],
            }
        )
    body.update(
        {
            "o": rest["openPrice"],
            "h": rest["highPrice"],
            "l": rest["lowPrice"],
            "v": rest["volume"],
            "q": rest["quoteVolume"],
            "O": rest["openTime"],
            "C": rest["closeTime"],
            "F": rest["firstId"],
            "L": rest["lastId"],
            "n": rest["count"],
        }
    )
    return body


def mini_ticker(full: dict[str, Any]) -> dict[str, Any]:
    return {
        "e": "24hrMiniTicker",
        **{k: full[k] for k in ("E", "s", "c", "o", "h", "l", "v", "q")},
    }


def book_ticker(mkt: MarketState, now: int) -> dict[str, Any]:
    fmt = _fmt(mkt.venue)
    bids, asks = mkt.book.depth(1)
    bid = bids[0] if bids else (ZERO, ZERO)
    ask = asks[0] if asks else (ZERO, ZERO)
    body: dict[str, Any] = {}
    if mkt.venue != SPOT:
        body.update({"e": "bookTicker", "E": now, "T": now})
    body.update(
        {
            "u": mkt.book.update_id,
            "s": mkt.symbol,
            "b": fmt(bid[0]),
            "B": fmt(bid[1]),
            "a": fmt(ask[0]),
            "A": fmt(ask[1]),
        }
    )
    return body
