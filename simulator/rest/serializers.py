"""Binance's JSON shapes for the engine's objects (field names and string-typed numbers)."""

from __future__ import annotations

import json
from decimal import Decimal
from typing import Any

import numpy as np

from ..config import MarketSpec, SimConfig
from ..engine import CancelReplaceResult, Exchange
from ..engine import history as hs
from ..engine.exchange import FUTURES_EXCHANGE_INFO_TYPES, SPOT_ORDER_TYPES
from ..engine.history import Units
from ..engine.market import MarketState
from ..engine.model import (
    BUY,
    ZERO,
    AlgoOrder,
    Fill,
    Order,
    OrderList,
    PublicTradeRecord,
)
from .fmt import d8, decimal_digits, fixed, int_digits, places, plain

RATE_LIMITS = [
    {"rateLimitType": "REQUEST_WEIGHT", "interval": "MINUTE", "intervalNum": 1, "limit": 6000},
    {"rateLimitType": "ORDERS", "interval": "SECOND", "intervalNum": 10, "limit": 100},
    {"rateLimitType": "ORDERS", "interval": "DAY", "intervalNum": 1, "limit": 200000},
]


# ---------------------------------------------------------------------- exchange info
def spot_symbol_info(spec: MarketSpec) -> dict[str, Any]:
    return {
        "symbol": spec.symbol_id,
        "status": "TRADING",
        "baseAsset": spec.base,
        "baseAssetPrecision": 8,
        "quoteAsset": spec.quote,
        "quotePrecision": 8,
        "quoteAssetPrecision": 8,
        "baseCommissionPrecision": 8,
        "quoteCommissionPrecision": 8,
        "orderTypes": list(SPOT_ORDER_TYPES),
        "icebergAllowed": False,
        "ocoAllowed": True,
        "otoAllowed": False,
        "quoteOrderQtyMarketAllowed": True,
        "allowTrailingStop": False,
        "cancelReplaceAllowed": True,
        "amendAllowed": False,
        "isSpotTradingAllowed": True,
        "isMarginTradingAllowed": False,
        "filters": [
            {
                "filterType": "PRICE_FILTER",
                "minPrice": d8(spec.tick_size),
                "maxPrice": "1000000.00000000",
                "tickSize": d8(spec.tick_size),
            },
            {
                "filterType": "LOT_SIZE",
                "minQty": d8(spec.min_qty),
                "maxQty": "9000.00000000",
                "stepSize": d8(spec.step_size),
            },
            {
                "filterType": "MARKET_LOT_SIZE",
                "minQty": "0.00000000",
                "maxQty": "9000.00000000",
                "stepSize": "0.00000000",
            },
            {
                "filterType": "NOTIONAL",
                "minNotional": d8(spec.min_notional),
                "applyMinToMarket": True,
                "maxNotional": "9000000.00000000",
                "applyMaxToMarket": False,
                "avgPriceMins": 5,
            },
            {"filterType": "MAX_NUM_ORDERS", "maxNumOrders": 200},
        ],
        # No TRD_GRP_003 here: ccxt marks markets holding it inactive.
        "permissions": [],
        "permissionSets": [["SPOT"]],
        "defaultSelfTradePreventionMode": "NONE",
        "allowedSelfTradePreventionModes": ["NONE"],
    }


def spot_exchange_info(exchange: Exchange, now: int, symbols: list[str] | None) -> dict[str, Any]:
    specs = exchange.config.spot
    chosen = [specs[s] for s in sorted(specs) if symbols is None or s in symbols]
    return {
        "timezone": "UTC",
        "serverTime": now,
        "rateLimits": RATE_LIMITS,
        "exchangeFilters": [],
        "symbols": [spot_symbol_info(spec) for spec in chosen],
    }


def futures_symbol_info(spec: MarketSpec) -> dict[str, Any]:
    return {
        "symbol": spec.symbol_id,
        "pair": spec.symbol_id,
        "contractType": "PERPETUAL",
        "deliveryDate": 4133404800000,
        "onboardDate": 1569398400000,
        "status": "TRADING",
        "maintMarginPercent": "2.5000",
        "requiredMarginPercent": "5.0000",
        "baseAsset": spec.base,
        "quoteAsset": spec.quote,
        "marginAsset": spec.quote,
        "pricePrecision": places(spec.tick_size),
        "quantityPrecision": places(spec.step_size),
        "baseAssetPrecision": 8,
        "quotePrecision": 8,
        "underlyingType": "COIN",
        "underlyingSubType": [],
        "settlePlan": 0,
        "triggerProtect": "0.0500",
        "liquidationFee": "0.012500",
        "marketTakeBound": "0.05",
        "maxMoveOrderLimit": 10000,
        "filters": [
            {
                "filterType": "PRICE_FILTER",
                "minPrice": plain(spec.tick_size),
                "maxPrice": "4529764",
                "tickSize": plain(spec.tick_size),
            },
            {
                "filterType": "LOT_SIZE",
                "minQty": plain(spec.min_qty),
                "maxQty": "1000",
                "stepSize": plain(spec.step_size),
            },
            {
                "filterType": "MARKET_LOT_SIZE",
                "minQty": plain(spec.min_qty),
                "maxQty": "120",
                "stepSize": plain(spec.step_size),
            },
            {"filterType": "MAX_NUM_ORDERS", "limit": 200},
            {"filterType": "MAX_NUM_ALGO_ORDERS", "limit": 10},
            {"filterType": "MIN_NOTIONAL", "notional": plain(spec.min_notional)},
            {
                "filterType": "PERCENT_PRICE",
                "multiplierUp": "1.0500",
                "multiplierDown": "0.9500",
                "multiplierDecimal": "4",
            },
        ],
        "orderTypes": list(FUTURES_EXCHANGE_INFO_TYPES),
        "timeInForce": ["GTC", "IOC", "FOK", "GTX"],
        "permissionSets": ["GRID", "COPY"],
    }


def futures_exchange_info(config: SimConfig, now: int) -> dict[str, Any]:
    quotes = sorted({spec.quote for spec in config.futures.values()})
    return {
        "timezone": "UTC",
        "serverTime": now,
        "futuresType": "U_MARGINED",
        "rateLimits": [
            {
                "rateLimitType": "REQUEST_WEIGHT",
                "interval": "MINUTE",
                "intervalNum": 1,
                "limit": 2400,
            },
            {"rateLimitType": "ORDERS", "interval": "MINUTE", "intervalNum": 1, "limit": 1200},
            {"rateLimitType": "ORDERS", "interval": "SECOND", "intervalNum": 10, "limit": 300},
        ],
        "exchangeFilters": [],
        "assets": [
            {"asset": q, "marginAvailable": True, "autoAssetExchange": "-10000"} for q in quotes
        ],
        "symbols": [futures_symbol_info(config.futures[s]) for s in sorted(config.futures)],
    }


# ---------------------------------------------------------------------- market data
def depth(mkt: MarketState, limit: int, futures: bool, now: int) -> dict[str, Any]:
    bids, asks = mkt.book.depth(limit)
    fmt = plain if futures else d8
    body: dict[str, Any] = {"lastUpdateId": mkt.book.update_id}
    if futures:
        body["E"] = now
        body["T"] = now
    body["bids"] = [[fmt(p), fmt(q)] for p, q in bids]
    body["asks"] = [[fmt(p), fmt(q)] for p, q in asks]
    return body


def klines_json(bars: np.ndarray, units: Units, interval_ms: int, futures: bool) -> str:
    """Kline rows as Binance sends them, straight to JSON text: the counts of ticks and
    steps written as decimals (spot like ``d8``, USD-M like ``plain``) by digit matrices,
    without a Decimal per number (a page is up to 1500 rows of eight of them)."""
    n = bars.shape[1]
    if not n:
        return "[]"
    spot = not futures
    if spot and max(units.tick_places, units.step_places, units.quote_places) > 8:
        return json.dumps(kline_rows(bars, units, interval_ms, futures), separators=(",", ":"))

    def text(piece: str) -> np.ndarray:
        return np.broadcast_to(np.frombuffer(piece.encode(), np.uint8), (n, len(piece)))

    def number(row: int, mantissa: int, decimals: int) -> list[np.ndarray]:
        return decimal_digits(bars[row] * mantissa, decimals, spot)

    price = (units.tick_mantissa, units.tick_places)
    qty = (units.step_mantissa, units.step_places)
    quote = (units.quote_mantissa, units.quote_places)
    times = bars[hs.TIME]
    pieces = [text("["), int_digits(times), text(',"')]
    for row in (hs.OPEN, hs.HIGH, hs.LOW):
        pieces += [*number(row, *price), text('","')]
    pieces += [*number(hs.CLOSE, *price), text('","'), *number(hs.VOLUME, *qty), text('",')]
    pieces += [int_digits(times + (interval_ms - 1)), text(',"')]
    pieces += [*number(hs.QUOTE, *quote), text('",'), int_digits(bars[hs.TRADES])]
    pieces += [text(',"'), *number(hs.TAKER, *qty), text('","')]
    pieces += [*number(hs.TAKER_QUOTE, *quote), text('","0"],')]
    flat = np.concatenate(pieces, axis=1).ravel()
    body = flat[flat != 0].tobytes().decode("ascii")
    return "[" + body[:-1] + "]"  # the last row's comma becomes the closing bracket


def kline_rows(bars: np.ndarray, units: Units, interval_ms: int, futures: bool) -> list[list]:
    """The same rows through Decimal and ``d8`` / ``plain`` (markets with more than eight
    decimal places, where ``d8`` rounds; and the reference the fast path is tested on)."""
    number = plain if futures else d8
    rows = []
    for bar in bars.T.tolist():
        t = bar[hs.TIME]
        rows.append(
            [
                t,
                *(number(units.price(bar[r])) for r in (hs.OPEN, hs.HIGH, hs.LOW, hs.CLOSE)),
                number(units.qty(bar[hs.VOLUME])),
                t + interval_ms - 1,
                number(units.quote(bar[hs.QUOTE])),
                bar[hs.TRADES],
                number(units.qty(bar[hs.TAKER])),
                number(units.quote(bar[hs.TAKER_QUOTE])),
                "0",
            ]
        )
    return rows


def public_trade(t: PublicTradeRecord, futures: bool) -> dict[str, Any]:
    fmt = plain if futures else d8
    body = {
        "id": t.trade_id,
        "price": fmt(t.price),
        "qty": fmt(t.qty),
        "quoteQty": fmt(t.quote_qty),
        "time": t.time,
        "isBuyerMaker": t.is_buyer_maker,
    }
    if not futures:
        body["isBestMatch"] = True
    return body


def ticker_24hr(mkt: MarketState, now: int, futures: bool) -> dict[str, Any]:
    stats = mkt.stats_24h(now)
    fmt = plain if futures else d8
    open_price: Decimal = stats["open"]  # type: ignore[assignment]
    last = mkt.last_price
    change = last - open_price
    percent = (change / open_price * 100) if open_price else ZERO
    volume: Decimal = stats["volume"]  # type: ignore[assignment]
    quote_volume: Decimal = stats["quote_volume"]  # type: ignore[assignment]
    weighted = quote_volume / volume if volume else last
    bid = mkt.book.best(BUY)
    ask = mkt.book.best("SELL")
    body: dict[str, Any] = {
        "symbol": mkt.symbol,
        "priceChange": fmt(change),
        "priceChangePercent": fixed(percent, 3),
        "weightedAvgPrice": fmt(mkt.round_price(weighted)),
        "lastPrice": fmt(last),
        "lastQty": fmt(mkt.trades[-1].qty if mkt.trades else ZERO),
        "openPrice": fmt(open_price),
        "highPrice": fmt(stats["high"]),  # type: ignore[arg-type]
        "lowPrice": fmt(stats["low"]),  # type: ignore[arg-type]
        "volume": fmt(volume),
        "quoteVolume": fmt(quote_volume),
        "openTime": stats["open_time"],
        "closeTime": now,
        "firstId": mkt.trades[0].trade_id if mkt.trades else -1,
        "lastId": mkt.trades[-1].trade_id if mkt.trades else -1,
        "count": stats["count"],
    }
    if not futures:
        body.update(
            {
                "prevClosePrice": fmt(open_price),
                "bidPrice": fmt(bid.price if bid else ZERO),
                "bidQty": fmt(mkt.book.bids.totals[bid.price] if bid else ZERO),
                "askPrice": fmt(ask.price if ask else ZERO),
                "askQty": fmt(mkt.book.asks.totals[ask.price] if ask else ZERO),
            }
        )
    return body


def book_ticker(mkt: MarketState, futures: bool, now: int) -> dict[str, Any]:
    fmt = plain if futures else d8
    (bids, asks) = mkt.book.depth(1)
    bid = bids[0] if bids else (ZERO, ZERO)
    ask = asks[0] if asks else (ZERO, ZERO)
    body: dict[str, Any] = {
        "symbol": mkt.symbol,
        "bidPrice": fmt(bid[0]),
        "bidQty": fmt(bid[1]),
        "askPrice": fmt(ask[0]),
        "askQty": fmt(ask[1]),
    }
    if futures:
        body["time"] = now
    return body


# ---------------------------------------------------------------------- spot orders
def spot_order(o: Order) -> dict[str, Any]:
    """GET /api/v3/order and openOrders."""
    return {
        "symbol": o.symbol,
        "orderId": o.order_id,
        "orderListId": o.order_list_id,
        "clientOrderId": o.client_order_id,
        "price": d8(o.price),
        "origQty": d8(o.orig_qty),
        "executedQty": d8(o.executed_qty),
        "cummulativeQuoteQty": d8(o.cum_quote),
        "status": o.status,
        "timeInForce": o.time_in_force,
        "type": o.type,
        "side": o.side,
        "stopPrice": d8(o.stop_price),
        "icebergQty": d8(ZERO),
        "time": o.time,
        "updateTime": o.update_time,
        "isWorking": o.is_working,
        "workingTime": o.working_time,
        "origQuoteOrderQty": d8(o.quote_order_qty),
        "selfTradePreventionMode": "NONE",
    }


def spot_order_ack(o: Order) -> dict[str, Any]:
    return {
        "symbol": o.symbol,
        "orderId": o.order_id,
        "orderListId": o.order_list_id,
        "clientOrderId": o.client_order_id,
        "transactTime": o.time,
    }


def spot_order_result(o: Order) -> dict[str, Any]:
    body = spot_order_ack(o)
    body.update(
        {
            "price": d8(o.price),
            "origQty": d8(o.orig_qty),
            "executedQty": d8(o.executed_qty),
            "origQuoteOrderQty": d8(o.quote_order_qty),
            "cummulativeQuoteQty": d8(o.cum_quote),
            "status": o.status,
            "timeInForce": o.time_in_force,
            "type": o.type,
            "side": o.side,
            "workingTime": o.working_time,
            "selfTradePreventionMode": "NONE",
        }
    )
    if o.stop_price:
        body["stopPrice"] = d8(o.stop_price)
    return body


def spot_order_full(o: Order) -> dict[str, Any]:
    body = spot_order_result(o)
    body["fills"] = [
        {
            "price": d8(f.price),
            "qty": d8(f.qty),
            "commission": d8(f.commission),
            "commissionAsset": f.commission_asset,
            "tradeId": f.trade_id,
        }
        for f in o.fills
    ]
    return body


def spot_cancel(o: Order, cancel_client_id: str) -> dict[str, Any]:
    return {
        "symbol": o.symbol,
        "origClientOrderId": o.client_order_id,
        "orderId": o.order_id,
        "orderListId": o.order_list_id,
        "clientOrderId": cancel_client_id,
        "transactTime": o.update_time,
        "price": d8(o.price),
        "origQty": d8(o.orig_qty),
        "executedQty": d8(o.executed_qty),
        "origQuoteOrderQty": d8(o.quote_order_qty),
        "cummulativeQuoteQty": d8(o.cum_quote),
        "status": o.status,
        "timeInForce": o.time_in_force,
        "type": o.type,
        "side": o.side,
        "stopPrice": d8(o.stop_price),
        "selfTradePreventionMode": "NONE",
    }


def spot_order_list(
    order_list: OrderList, reports: list[dict[str, Any]], transaction_time: int
) -> dict[str, Any]:
    """An order list (OCO) answer: placing it (``orderReports`` in the requested response
    type) or cancelling it (``orderReports`` are cancel answers). Orders: below, then above."""
    return {
        "orderListId": order_list.order_list_id,
        "contingencyType": order_list.contingency_type,
        "listStatusType": order_list.list_status_type,
        "listOrderStatus": order_list.list_order_status,
        "listClientOrderId": order_list.list_client_order_id,
        "transactionTime": transaction_time,
        "symbol": order_list.symbol,
        "orders": [
            {"symbol": o.symbol, "orderId": o.order_id, "clientOrderId": o.client_order_id}
            for o in order_list.orders
        ],
        "orderReports": reports,
    }


def spot_cancel_replace(
    result: CancelReplaceResult,
    cancel_response: dict[str, Any] | None,
    new_order_response: dict[str, Any] | None,
) -> dict[str, Any]:
    """The four keys of a cancelReplace answer (the whole body on success, ``data`` on
    failure): a failed half carries its own ``{"code", "msg"}``, an unattempted one null."""
    if result.cancel_error is not None:
        cancel_result, cancel_response = "FAILURE", result.cancel_error.body()
    else:
        cancel_result = "SUCCESS"
    if result.new_order_error is not None:
        new_result, new_order_response = "FAILURE", result.new_order_error.body()
    elif result.new_order_attempted:
        new_result = "SUCCESS"
    else:
        new_result, new_order_response = "NOT_ATTEMPTED", None
    return {
        "cancelResult": cancel_result,
        "newOrderResult": new_result,
        "cancelResponse": cancel_response,
        "newOrderResponse": new_order_response,
    }


def spot_trade(f: Fill) -> dict[str, Any]:
    return {
        "symbol": f.symbol,
        "id": f.trade_id,
        "orderId": f.order_id,
        "orderListId": f.order_list_id,
        "price": d8(f.price),
        "qty": d8(f.qty),
        "quoteQty": d8(f.quote_qty),
        "commission": d8(f.commission),
        "commissionAsset": f.commission_asset,
        "time": f.time,
        "isBuyer": f.side == BUY,
        "isMaker": f.is_maker,
        "isBestMatch": True,
    }


# ---------------------------------------------------------------------- futures
def futures_order(o: Order) -> dict[str, Any]:
    return {
        "orderId": o.order_id,
        "symbol": o.symbol,
        "status": o.status,
        "clientOrderId": o.client_order_id,
        "price": plain(o.price),
        "avgPrice": plain(o.avg_price),
        "origQty": plain(o.orig_qty),
        "executedQty": plain(o.executed_qty),
        "cumQty": plain(o.executed_qty),
        "cumQuote": plain(o.cum_quote),
        "timeInForce": o.time_in_force,
        "type": o.type,
        "reduceOnly": o.reduce_only,
        "closePosition": False,
        "side": o.side,
        "positionSide": "BOTH",
        "stopPrice": plain(o.stop_price),
        "workingType": "CONTRACT_PRICE",
        "priceProtect": False,
        "origType": o.orig_type or o.type,
        "priceMatch": "NONE",
        "selfTradePreventionMode": "EXPIRE_MAKER",
        "goodTillDate": 0,
        "time": o.time,
        "updateTime": o.update_time,
    }


def futures_trade(f: Fill) -> dict[str, Any]:
    return {
        "symbol": f.symbol,
        "id": f.trade_id,
        "orderId": f.order_id,
        "side": f.side,
        "price": plain(f.price),
        "qty": plain(f.qty),
        "realizedPnl": plain(f.realized_pnl),
        "quoteQty": plain(f.quote_qty),
        "commission": plain(f.commission),
        "commissionAsset": f.commission_asset,
        "time": f.time,
        "positionSide": "BOTH",
        "buyer": f.side == BUY,
        "maker": f.is_maker,
    }


def algo_order(a: AlgoOrder) -> dict[str, Any]:
    body: dict[str, Any] = {
        "algoId": a.algo_id,
        "clientAlgoId": a.client_algo_id,
        "algoType": "CONDITIONAL",
        "orderType": a.order_type,
        "symbol": a.symbol,
        "side": a.side,
        "positionSide": "BOTH",
        "timeInForce": a.time_in_force,
        "quantity": plain(a.quantity),
        "algoStatus": a.status,
        "triggerPrice": plain(a.trigger_price),
        "price": plain(a.price),
        "icebergQuantity": None,
        "selfTradePreventionMode": "EXPIRE_MAKER",
        "workingType": a.working_type,
        "priceMatch": "NONE",
        "closePosition": a.close_position,
        "priceProtect": False,
        "reduceOnly": a.reduce_only,
        "createTime": a.create_time,
        "updateTime": a.update_time,
        "triggerTime": a.trigger_time,
        "goodTillDate": 0,
    }
    if a.order_type == "TRAILING_STOP_MARKET":
        body["activatePrice"] = plain(a.activate_price)
        body["callbackRate"] = plain(a.callback_rate)
    if a.actual_order_id is not None:
        body["actualOrderId"] = str(a.actual_order_id)
    return body


def position_risk(exchange: Exchange, account_id: str, symbol: str) -> dict[str, Any]:
    account = exchange.accounts[account_id]
    pos = account.position(symbol)
    mkt = exchange.market("futures", symbol)
    mark = mkt.mid
    notional = pos.amount * mark
    leverage = exchange.leverage(account, symbol)
    initial = abs(notional) / leverage
    open_order_im = sum(
        (
            o.remaining * (o.price or mark) / leverage
            for o in account.open_orders.values()
            if o.venue == "futures" and o.symbol == symbol and not o.reduce_only
        ),
        ZERO,
    )
    # Isolated margin, approximated: the wallet set aside for the position is its initial
    # margin (Binance adds what the trader transfers in and the position's P&L).
    isolated = exchange.margin_type(account, symbol) == "ISOLATED"
    isolated_margin = plain(initial) if isolated and pos.amount else "0"
    return {
        "symbol": symbol,
        "positionSide": "BOTH",
        "marginType": "isolated" if isolated else "cross",
        "positionAmt": plain(pos.amount),
        "entryPrice": plain(pos.entry_price),
        "breakEvenPrice": plain(pos.entry_price),
        "markPrice": plain(mark),
        "unRealizedProfit": plain((mark - pos.entry_price) * pos.amount),
        "liquidationPrice": plain(exchange.liquidation_price(account_id, symbol)),
        "isolatedMargin": isolated_margin,
        "notional": plain(notional),
        "marginAsset": mkt.spec.quote,
        "isolatedWallet": isolated_margin,
        "initialMargin": plain(initial + open_order_im),
        "maintMargin": plain(abs(notional) * exchange.config.maintenance_margin_rate),
        "positionInitialMargin": plain(initial),
        "openOrderInitialMargin": plain(open_order_im),
        "adl": 0,
        "bidNotional": "0",
        "askNotional": "0",
        "updateTime": pos.update_time,
    }
