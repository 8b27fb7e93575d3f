"""USD-M futures endpoints: ``/fapi/v1``, ``/fapi/v2`` and ``/fapi/v3``."""

from __future__ import annotations

from typing import Any

from aiohttp import web

from .. import errors
from ..config import FUTURES
from ..engine import AlgoRequest, OrderRequest
from ..engine.exchange import wall_clock_ms
from . import params as p
from . import serializers as ser
from .auth import api_key_params, public_params, signed_params
from .common import (
    history,
    market_data_handlers,
    ok,
    order_ref,
    ping,
    server_time,
    symbol_list,
)
from .context import exchange_of
from .fmt import plain


async def exchange_info(request: web.Request) -> web.Response:
    return ok(ser.futures_exchange_info(exchange_of(request).config, wall_clock_ms()))


depth, trades, klines_view = market_data_handlers(FUTURES)


async def ticker_24hr(request: web.Request) -> web.Response:
    params = await public_params(request)
    exchange = exchange_of(request)
    now = wall_clock_ms()
    if params.get("symbol"):
        return ok(ser.ticker_24hr(exchange.market(FUTURES, params["symbol"]), now, True))
    symbols = symbol_list(params) or sorted(exchange.markets[FUTURES])
    return ok([ser.ticker_24hr(exchange.market(FUTURES, s), now, True) for s in symbols])


async def ticker_price(request: web.Request) -> web.Response:
    params = await public_params(request)
    exchange = exchange_of(request)
    now = wall_clock_ms()

    def one(symbol: str) -> dict[str, Any]:
        mkt = exchange.market(FUTURES, symbol)
        return {"symbol": symbol, "price": plain(mkt.last_price), "time": now}

    if params.get("symbol"):
        return ok(one(params["symbol"]))
    return ok([one(s) for s in sorted(exchange.markets[FUTURES])])


async def book_ticker(request: web.Request) -> web.Response:
    params = await public_params(request)
    exchange = exchange_of(request)
    now = wall_clock_ms()
    if params.get("symbol"):
        return ok(ser.book_ticker(exchange.market(FUTURES, params["symbol"]), True, now))
    return ok([ser.book_ticker(m, True, now) for _, m in sorted(exchange.markets[FUTURES].items())])


async def premium_index(request: web.Request) -> web.Response:
    params = await public_params(request)
    exchange = exchange_of(request)
    now = wall_clock_ms()

    def one(symbol: str) -> dict[str, Any]:
        mkt = exchange.market(FUTURES, symbol)
        return {
            "symbol": symbol,
            "markPrice": plain(mkt.mid),
            "indexPrice": plain(mkt.mid),
            "estimatedSettlePrice": plain(mkt.mid),
            "lastFundingRate": "0.00000000",
            "interestRate": "0.00000000",
            "nextFundingTime": now - now % 28_800_000 + 28_800_000,
            "time": now,
        }

    if params.get("symbol"):
        return ok(one(params["symbol"]))
    return ok([one(s) for s in sorted(exchange.markets[FUTURES])])


# ---------------------------------------------------------------------- account
def _asset_rows(request: web.Request, account_id: str) -> list[dict[str, Any]]:
    exchange = exchange_of(request)
    acct = exchange.accounts[account_id]
    rows = []
    for asset in sorted(acct.futures_wallet):
        s = exchange.futures_summary(account_id, asset)
        rows.append(
            {
                "asset": asset,
                "walletBalance": plain(s["wallet"]),
                "unrealizedProfit": plain(s["unrealized"]),
                "marginBalance": plain(s["margin_balance"]),
                "maintMargin": plain(s["maint_margin"]),
                "initialMargin": plain(s["initial_margin"]),
                "positionInitialMargin": plain(s["position_im"]),
                "openOrderInitialMargin": plain(s["order_im"]),
                "crossWalletBalance": plain(s["wallet"]),
                "crossUnPnl": plain(s["unrealized"]),
                "availableBalance": plain(s["available"]),
                "maxWithdrawAmount": plain(min(s["available"], s["wallet"])),
                "marginAvailable": True,
                # ccxt drops assets whose updateTime is 0, so a funded asset always has one.
                "updateTime": acct.futures_wallet_update.get(asset) or acct.create_time or 1,
            }
        )
    return rows


async def account(request: web.Request) -> web.Response:
    _params, key = await signed_params(request, futures=True)
    exchange = exchange_of(request)
    acct = exchange.accounts[key.account_id]
    assets = _asset_rows(request, key.account_id)
    s = exchange.futures_summary(key.account_id)
    positions = []
    for symbol, pos in sorted(acct.positions.items()):
        if not pos.amount:
            continue
        risk = ser.position_risk(exchange, key.account_id, symbol)
        positions.append(
            {
                "symbol": symbol,
                "positionSide": "BOTH",
                "positionAmt": risk["positionAmt"],
                "unrealizedProfit": risk["unRealizedProfit"],
                "isolatedMargin": "0",
                "notional": risk["notional"],
                "isolatedWallet": "0",
                "initialMargin": risk["initialMargin"],
                "maintMargin": risk["maintMargin"],
                "updateTime": pos.update_time,
            }
        )
    return ok(
        {
            "totalInitialMargin": plain(s["initial_margin"]),
            "totalMaintMargin": plain(s["maint_margin"]),
            "totalWalletBalance": plain(s["wallet"]),
            "totalUnrealizedProfit": plain(s["unrealized"]),
            "totalMarginBalance": plain(s["margin_balance"]),
            "totalPositionInitialMargin": plain(s["position_im"]),
            "totalOpenOrderInitialMargin": plain(s["order_im"]),
            "totalCrossWalletBalance": plain(s["wallet"]),
            "totalCrossUnPnl": plain(s["unrealized"]),
            "availableBalance": plain(s["available"]),
            "maxWithdrawAmount": plain(min(s["available"], s["wallet"])),
            "canTrade": key.can_trade,
            "canDeposit": True,
            "canWithdraw": key.can_withdraw,
            "updateTime": 0,
            "assets": assets,
            "positions": positions,
        }
    )


async def balance(request: web.Request) -> web.Response:
    _params, key = await signed_params(request, futures=True)
    rows = _asset_rows(request, key.account_id)
    return ok(
        [
            {
                "accountAlias": "SimFuturesAccount",
                "asset": r["asset"],
                "balance": r["walletBalance"],
                "crossWalletBalance": r["crossWalletBalance"],
                "crossUnPnl": r["crossUnPnl"],
                "availableBalance": r["availableBalance"],
                "maxWithdrawAmount": r["maxWithdrawAmount"],
                "marginAvailable": True,
                "updateTime": r["updateTime"],
            }
            for r in rows
        ]
    )


async def position_risk(request: web.Request) -> web.Response:
    params, key = await signed_params(request, futures=True)
    exchange = exchange_of(request)
    acct = exchange.accounts[key.account_id]
    symbol = params.get("symbol") or None
    if symbol is not None:
        exchange.market(FUTURES, symbol)
    # v3 lists only symbols with a position (ccxt also drops entryPrice 0).
    symbols = [
        s
        for s, pos in sorted(acct.positions.items())
        if pos.amount and (symbol is None or s == symbol)
    ]
    return ok([ser.position_risk(exchange, key.account_id, s) for s in symbols])


async def set_leverage(request: web.Request) -> web.Response:
    params, key = await signed_params(request, trade=True, futures=True)
    symbol = p.required(params, "symbol")
    raw = p.required(params, "leverage")
    try:
        leverage = int(raw)
    except ValueError:
        raise errors.futures_invalid_leverage(raw) from None
    exchange_of(request).set_leverage(key.account_id, symbol, leverage)
    return ok({"leverage": leverage, "maxNotionalValue": "1000000000", "symbol": symbol})


async def leverage_bracket(request: web.Request) -> web.Response:
    params, _key = await signed_params(request, futures=True)
    exchange = exchange_of(request)
    symbols = [params["symbol"]] if params.get("symbol") else sorted(exchange.markets[FUTURES])
    mmr = exchange.config.maintenance_margin_rate
    body = [
        {
            "symbol": exchange.market(FUTURES, s).symbol,
            "brackets": [
                {
                    "bracket": 1,
                    "initialLeverage": exchange.config.max_leverage,
                    "notionalCap": 1_000_000_000,
                    "notionalFloor": 0,
                    "maintMarginRatio": float(mmr),
                    "cum": 0.0,
                }
            ],
        }
        for s in symbols
    ]
    return ok(body[0] if params.get("symbol") else body)


async def margin_type(request: web.Request) -> web.Response:
    params, key = await signed_params(request, trade=True, futures=True)
    symbol = p.required(params, "symbol")
    kind = p.required(params, "marginType").upper()
    kind = {"CROSS": "CROSSED"}.get(kind, kind)
    if kind not in ("CROSSED", "ISOLATED"):
        raise errors.BinanceError(-1116, "Invalid marginType.")
    exchange_of(request).set_margin_type(key.account_id, symbol, kind)
    return ok({"code": 200, "msg": "success"})


async def multi_assets_margin(request: web.Request) -> web.Response:
    """``GET/POST /fapi/v1/multiAssetsMargin``: Multi-Assets Mode (off unless set)."""
    params, key = await signed_params(request, trade=request.method == "POST", futures=True)
    account = exchange_of(request).accounts[key.account_id]
    if request.method == "POST":
        wanted = p.flag(params, "multiAssetsMargin")
        if wanted == account.multi_assets_margin:
            raise errors.BinanceError(-4171, "Adjusted Multi-Assets mode is same as current.")
        account.multi_assets_margin = wanted
        return ok({"code": 200, "msg": "success"})
    return ok({"multiAssetsMargin": account.multi_assets_margin})


async def symbol_config(request: web.Request) -> web.Response:
    """``GET /fapi/v1/symbolConfig``: each symbol's margin type and leverage (ccxt's
    fetch_leverages and fetch_margin_modes read it)."""
    params, key = await signed_params(request, futures=True)
    exchange = exchange_of(request)
    account = exchange.accounts[key.account_id]
    symbols = [params["symbol"]] if params.get("symbol") else sorted(exchange.markets[FUTURES])
    return ok(
        [
            {
                "symbol": exchange.market(FUTURES, symbol).symbol,
                "marginType": exchange.margin_type(account, symbol),
                "isAutoAddMargin": "false",
                "leverage": exchange.leverage(account, symbol),
                "maxNotionalValue": "1000000000",
            }
            for symbol in symbols
        ]
    )


async def income(request: web.Request) -> web.Response:
    """``GET /fapi/v1/income``: realized P&L and commissions per trade, oldest first (as
    Binance answers with a time range), newest 100 by default. No funding: the
    simulator charges none, so there is no FUNDING_FEE to report."""
    params, key = await signed_params(request, futures=True)
    exchange = exchange_of(request)
    account = exchange.accounts[key.account_id]
    wanted = params.get("incomeType")
    symbol = params.get("symbol")
    start, end = p.optional_int(params, "startTime"), p.optional_int(params, "endTime")
    limit = min(p.optional_int(params, "limit") or 100, 1000)
    rows = []
    for fill in account.fills[FUTURES]:
        if (symbol and fill.symbol != symbol) or (start is not None and fill.time < start):
            continue
        if end is not None and fill.time > end:
            continue
        margin_asset = exchange.market(FUTURES, fill.symbol).spec.quote
        entries = (("REALIZED_PNL", fill.realized_pnl, margin_asset),
                   ("COMMISSION", -fill.commission, fill.commission_asset))  # fmt: skip
        for index, (kind, amount, asset) in enumerate(entries):
            if (wanted and kind != wanted) or (kind == "REALIZED_PNL" and not amount):
                continue
            rows.append(
                {
                    "symbol": fill.symbol,
                    "incomeType": kind,
                    "income": plain(amount),
                    "asset": asset,
                    "info": "",
                    "time": fill.time,
                    "tranId": fill.trade_id * 10 + index,
                    "tradeId": str(fill.trade_id),
                }
            )
    return ok(rows[:limit] if start is not None else rows[-limit:])


async def position_side_dual(request: web.Request) -> web.Response:
    params, _key = await signed_params(request, futures=True)
    if request.method == "GET":
        return ok({"dualSidePosition": False})
    if p.flag(params, "dualSidePosition"):
        # Hedge mode is out of scope: one-way positions only.
        raise errors.BinanceError(
            -4068, "Position side cannot be changed if there exists position."
        )
    raise errors.BinanceError(-4059, "No need to change position side.")


# ---------------------------------------------------------------------- orders
async def new_order(request: web.Request) -> web.Response:
    params, key = await signed_params(request, trade=True, futures=True)
    if params.get("positionSide", "BOTH") != "BOTH":
        raise errors.BinanceError(-4061, "Order's position side does not match user's setting.")
    req = OrderRequest(
        symbol=p.required(params, "symbol"),
        side=p.required(params, "side"),
        type=p.required(params, "type"),
        quantity=p.optional_decimal(params, "quantity"),
        price=p.optional_decimal(params, "price"),
        time_in_force=params.get("timeInForce") or None,
        client_order_id=params.get("newClientOrderId") or None,
        reduce_only=p.flag(params, "reduceOnly"),
    )
    order = exchange_of(request).place_futures_order(key.account_id, req)
    return ok(ser.futures_order(order))


async def modify_order(request: web.Request) -> web.Response:
    """``PUT /fapi/v1/order`` (Modify Order): LIMIT orders keep their id; see the engine."""
    params, key = await signed_params(request, trade=True, futures=True)
    order_id, client_id = order_ref(params)
    quantity = p.optional_decimal(params, "quantity")
    if quantity is None:
        raise errors.mandatory_param("quantity")
    price = p.optional_decimal(params, "price")
    if price is None:
        raise errors.mandatory_param("price")
    order = exchange_of(request).modify_futures_order(
        key.account_id,
        p.required(params, "symbol"),
        order_id,
        client_id,
        side=p.required(params, "side"),
        quantity=quantity,
        price=price,
    )
    return ok(ser.futures_order(order))


async def get_order(request: web.Request) -> web.Response:
    params, key = await signed_params(request, futures=True)
    order_id, client_id = order_ref(params)
    order = exchange_of(request).get_order(
        FUTURES, key.account_id, p.required(params, "symbol"), order_id, client_id
    )
    return ok(ser.futures_order(order))


async def cancel_order(request: web.Request) -> web.Response:
    params, key = await signed_params(request, trade=True, futures=True)
    order_id, client_id = order_ref(params)
    order = exchange_of(request).cancel_order(
        FUTURES, key.account_id, p.required(params, "symbol"), order_id, client_id
    )
    return ok(ser.futures_order(order))


async def open_orders(request: web.Request) -> web.Response:
    params, key = await signed_params(request, futures=True)
    orders = exchange_of(request).open_orders(FUTURES, key.account_id, params.get("symbol") or None)
    return ok([ser.futures_order(o) for o in orders])


async def cancel_all(request: web.Request) -> web.Response:
    params, key = await signed_params(request, trade=True, futures=True)
    exchange_of(request).cancel_all(FUTURES, key.account_id, p.required(params, "symbol"))
    return ok({"code": 200, "msg": "The operation of cancel all open order is done."})


async def all_orders(request: web.Request) -> web.Response:
    params, key = await signed_params(request, futures=True)
    exchange = exchange_of(request)
    symbol = p.required(params, "symbol")
    exchange.market(FUTURES, symbol)
    orders = [
        o
        for o in exchange.accounts[key.account_id].orders.values()
        if o.venue == FUTURES and o.symbol == symbol
    ]
    selected = history(orders, params, id_attr="order_id", from_key="orderId")
    return ok([ser.futures_order(o) for o in selected])


async def user_trades(request: web.Request) -> web.Response:
    params, key = await signed_params(request, futures=True)
    exchange = exchange_of(request)
    symbol = params.get("symbol") or None
    if symbol is not None:
        exchange.market(FUTURES, symbol)
    fills = exchange.user_trades(FUTURES, key.account_id, symbol)
    order_id = p.optional_int(params, "orderId")
    if order_id is not None:
        fills = [f for f in fills if f.order_id == order_id]
    selected = history(fills, params, id_attr="trade_id", from_key="fromId")
    return ok([ser.futures_trade(f) for f in selected])


# ---------------------------------------------------------------------- algo orders
async def new_algo_order(request: web.Request) -> web.Response:
    params, key = await signed_params(request, trade=True, futures=True)
    if p.required(params, "algoType") != "CONDITIONAL":
        raise errors.BinanceError(-1116, "Invalid algoType.")
    req = AlgoRequest(
        symbol=p.required(params, "symbol"),
        side=p.required(params, "side"),
        type=p.required(params, "type"),
        quantity=p.optional_decimal(params, "quantity"),
        price=p.optional_decimal(params, "price"),
        trigger_price=p.optional_decimal(params, "triggerPrice"),
        time_in_force=params.get("timeInForce") or None,
        client_algo_id=params.get("clientAlgoId") or None,
        reduce_only=p.flag(params, "reduceOnly"),
        close_position=p.flag(params, "closePosition"),
        working_type=params.get("workingType") or "CONTRACT_PRICE",
        activate_price=p.optional_decimal(params, "activatePrice"),
        callback_rate=p.optional_decimal(params, "callbackRate"),
    )
    algo = exchange_of(request).place_algo_order(key.account_id, req)
    return ok(ser.algo_order(algo))


def _algo_ref(params: dict[str, str]) -> tuple[int | None, str | None]:
    algo_id = p.optional_int(params, "algoId")
    client_id = params.get("clientAlgoId") or None
    if algo_id is None and client_id is None:
        raise errors.BinanceError(
            -1102, "Param 'clientAlgoId' or 'algoId' must be sent, but both were empty/null!"
        )
    return algo_id, client_id


async def get_algo_order(request: web.Request) -> web.Response:
    params, key = await signed_params(request, futures=True)
    algo = exchange_of(request).find_algo(key.account_id, *_algo_ref(params))
    if algo is None:
        raise errors.order_does_not_exist()
    return ok(ser.algo_order(algo))


async def cancel_algo_order(request: web.Request) -> web.Response:
    params, key = await signed_params(request, trade=True, futures=True)
    algo = exchange_of(request).cancel_algo_order(key.account_id, *_algo_ref(params))
    return ok(
        {
            "algoId": algo.algo_id,
            "clientAlgoId": algo.client_algo_id,
            "code": "200",
            "msg": "success",
        }
    )


async def open_algo_orders(request: web.Request) -> web.Response:
    params, key = await signed_params(request, futures=True)
    algos = exchange_of(request).open_algo_orders(key.account_id, params.get("symbol") or None)
    return ok([ser.algo_order(a) for a in algos])


async def all_algo_orders(request: web.Request) -> web.Response:
    params, key = await signed_params(request, futures=True)
    symbol = p.required(params, "symbol")
    algos = [
        a
        for a in exchange_of(request).accounts[key.account_id].algo_orders.values()
        if a.symbol == symbol
    ]
    return ok([ser.algo_order(a) for a in algos[-p.limit(params, 500, 1000) :]])


async def listen_key(request: web.Request) -> web.Response:
    params, key = await api_key_params(request)
    exchange = exchange_of(request)
    current = exchange.listen_key(key.account_id)
    if request.method == "DELETE":
        return ok({})
    if request.method == "PUT" and params.get("listenKey") not in (None, "", current):
        raise errors.unknown_listen_key()
    return ok({"listenKey": current})


def add_routes(app: web.Application) -> None:
    r = app.router
    r.add_get("/fapi/v1/ping", ping)
    r.add_get("/fapi/v1/time", server_time)
    r.add_get("/fapi/v1/exchangeInfo", exchange_info)
    r.add_get("/fapi/v1/depth", depth)
    r.add_get("/fapi/v1/trades", trades)
    r.add_get("/fapi/v1/klines", klines_view)
    r.add_get("/fapi/v1/ticker/24hr", ticker_24hr)
    r.add_get("/fapi/v1/ticker/price", ticker_price)
    r.add_get("/fapi/v2/ticker/price", ticker_price)
    r.add_get("/fapi/v1/ticker/bookTicker", book_ticker)
    r.add_get("/fapi/v1/premiumIndex", premium_index)
    for version in ("v2", "v3"):
        r.add_get(f"/fapi/{version}/account", account)
        r.add_get(f"/fapi/{version}/balance", balance)
        r.add_get(f"/fapi/{version}/positionRisk", position_risk)
    r.add_post("/fapi/v1/leverage", set_leverage)
    r.add_get("/fapi/v1/leverageBracket", leverage_bracket)
    r.add_post("/fapi/v1/marginType", margin_type)
    r.add_get("/fapi/v1/multiAssetsMargin", multi_assets_margin)
    r.add_post("/fapi/v1/multiAssetsMargin", multi_assets_margin)
    r.add_get("/fapi/v1/symbolConfig", symbol_config)
    r.add_get("/fapi/v1/income", income)
    r.add_get("/fapi/v1/positionSide/dual", position_side_dual)
    r.add_post("/fapi/v1/positionSide/dual", position_side_dual)
    r.add_post("/fapi/v1/order", new_order)
    r.add_put("/fapi/v1/order", modify_order)
    r.add_get("/fapi/v1/order", get_order)
    r.add_delete("/fapi/v1/order", cancel_order)
    r.add_get("/fapi/v1/openOrders", open_orders)
    r.add_delete("/fapi/v1/allOpenOrders", cancel_all)
    r.add_get("/fapi/v1/allOrders", all_orders)
    r.add_get("/fapi/v1/userTrades", user_trades)
    r.add_post("/fapi/v1/algoOrder", new_algo_order)
    r.add_get("/fapi/v1/algoOrder", get_algo_order)
    r.add_delete("/fapi/v1/algoOrder", cancel_algo_order)
    r.add_get("/fapi/v1/openAlgoOrders", open_algo_orders)
    r.add_get("/fapi/v1/allAlgoOrders", all_algo_orders)
    r.add_post("/fapi/v1/listenKey", listen_key)
    r.add_put("/fapi/v1/listenKey", listen_key)
    r.add_delete("/fapi/v1/listenKey", listen_key)
