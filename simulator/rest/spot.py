"""Spot endpoints: ``/api/v3`` (plus the ``/sapi`` call our connection check makes)."""

from __future__ import annotations

import hashlib
from typing import Any

from aiohttp import web

from .. import errors
from ..config import SPOT
from ..engine import OcoLegRequest, OcoRequest, OrderRequest
from ..engine.exchange import CANCEL_REPLACE_MODES, wall_clock_ms
from ..engine.model import Order
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
from .context import exchange_of, simulator_of


async def exchange_info(request: web.Request) -> web.Response:
    params = await public_params(request)
    exchange = exchange_of(request)
    wanted = symbol_list(params)
    if wanted is not None:
        for symbol in wanted:
            exchange.market(SPOT, symbol)
    return ok(ser.spot_exchange_info(exchange, wall_clock_ms(), wanted))


depth, trades, klines_view = market_data_handlers(SPOT)


async def ticker_24hr(request: web.Request) -> web.Response:
    params = await public_params(request)
    exchange = exchange_of(request)
    now = wall_clock_ms()
    wanted = symbol_list(params)
    if params.get("symbol"):
        return ok(ser.ticker_24hr(exchange.market(SPOT, params["symbol"]), now, False))
    symbols = wanted if wanted is not None else sorted(exchange.markets[SPOT])
    return ok([ser.ticker_24hr(exchange.market(SPOT, s), now, False) for s in symbols])


async def ticker_price(request: web.Request) -> web.Response:
    params = await public_params(request)
    exchange = exchange_of(request)
    if params.get("symbol"):
        mkt = exchange.market(SPOT, params["symbol"])
        return ok({"symbol": mkt.symbol, "price": ser.d8(mkt.last_price)})
    symbols = symbol_list(params) or sorted(exchange.markets[SPOT])
    return ok(
        [{"symbol": s, "price": ser.d8(exchange.market(SPOT, s).last_price)} for s in symbols]
    )


async def book_ticker(request: web.Request) -> web.Response:
    params = await public_params(request)
    exchange = exchange_of(request)
    now = wall_clock_ms()
    if params.get("symbol"):
        return ok(ser.book_ticker(exchange.market(SPOT, params["symbol"]), False, now))
    symbols = symbol_list(params) or sorted(exchange.markets[SPOT])
    return ok([ser.book_ticker(exchange.market(SPOT, s), False, now) for s in symbols])


async def avg_price(request: web.Request) -> web.Response:
    params = await public_params(request)
    mkt = exchange_of(request).market(SPOT, p.required(params, "symbol"))
    return ok({"mins": 5, "price": ser.d8(mkt.last_price), "closeTime": wall_clock_ms()})


async def account(request: web.Request) -> web.Response:
    params, key = await signed_params(request)
    exchange = exchange_of(request)
    acct = exchange.accounts[key.account_id]
    omit_zero = p.flag(params, "omitZeroBalances")
    rates = exchange.config.spot_fees
    balances = [
        {"asset": asset, "free": ser.d8(b.free), "locked": ser.d8(b.locked)}
        for asset, b in sorted(acct.spot_balances.items())
        if not (omit_zero and not b.total)
    ]
    return ok(
        {
            "makerCommission": int(rates.maker * 10_000),
            "takerCommission": int(rates.taker * 10_000),
            "buyerCommission": 0,
            "sellerCommission": 0,
            "commissionRates": {
                "maker": ser.d8(rates.maker),
                "taker": ser.d8(rates.taker),
                "buyer": ser.d8(ser.ZERO),
                "seller": ser.d8(ser.ZERO),
            },
            "canTrade": key.can_trade,
            "canWithdraw": key.can_withdraw,
            "canDeposit": True,
            "brokered": False,
            "requireSelfTradePrevention": False,
            "preventSor": False,
            "updateTime": wall_clock_ms(),
            "accountType": "SPOT",
            "balances": balances,
            "permissions": ["SPOT"],
            "uid": int.from_bytes(hashlib.sha256(acct.account_id.encode()).digest()[:4], "big"),
        }
    )


def _order_request(params: dict[str, str]) -> OrderRequest:
    return OrderRequest(
        symbol=p.required(params, "symbol"),
        side=p.required(params, "side"),
        type=p.required(params, "type"),
        quantity=p.optional_decimal(params, "quantity"),
        price=p.optional_decimal(params, "price"),
        stop_price=p.optional_decimal(params, "stopPrice"),
        time_in_force=params.get("timeInForce") or None,
        client_order_id=params.get("newClientOrderId") or None,
        quote_order_qty=p.optional_decimal(params, "quoteOrderQty"),
    )


async def new_order(request: web.Request) -> web.Response:
    params, key = await signed_params(request, trade=True)
    req = _order_request(params)
    exchange = exchange_of(request)
    order = exchange.place_spot_order(key.account_id, req)
    return ok(_new_order_response(order, params))


def _new_order_response(order: Order, params: dict[str, str]) -> dict[str, Any]:
    response_type = params.get("newOrderRespType") or (
        "FULL" if order.type in ("MARKET", "LIMIT") else "ACK"
    )
    if response_type == "ACK":
        return ser.spot_order_ack(order)
    if response_type == "RESULT":
        return ser.spot_order_result(order)
    return ser.spot_order_full(order)


async def cancel_replace(request: web.Request) -> web.Response:
    """``POST /api/v3/order/cancelReplace``: cancel an order and place a new one.

    Success is 200 with both halves. A failure of either half is Binance's error body plus a
    ``data`` object with both results: -2022 (HTTP 400) when nothing succeeded, -2021
    (HTTP 409) when one half did. Parameter and filter errors of the new order come first,
    as plain errors, and change nothing.
    """
    params, key = await signed_params(request, trade=True)
    mode = p.required(params, "cancelReplaceMode")
    if mode not in CANCEL_REPLACE_MODES:
        raise errors.BinanceError(
            -1100,
            "Illegal characters found in parameter 'cancelReplaceMode'; "
            "legal range is 'STOP_ON_FAILURE, ALLOW_FAILURE'.",
        )
    cancel_id = p.optional_int(params, "cancelOrderId")
    cancel_client_id = params.get("cancelOrigClientOrderId") or None
    if cancel_id is None and cancel_client_id is None:
        raise errors.BinanceError(
            -1102,
            "Param 'cancelOrigClientOrderId' or 'cancelOrderId' must be sent, "
            "but both were empty/null!",
        )
    sim = simulator_of(request)
    result = sim.exchange.cancel_replace_spot_order(
        key.account_id,
        _order_request(params),
        cancel_order_id=cancel_id,
        cancel_client_id=cancel_client_id,
        allow_failure=mode == "ALLOW_FAILURE",
        cancel_restriction=params.get("cancelRestrictions") or None,
    )
    cancel_response: dict[str, Any] | None = None
    if result.canceled is not None:
        cancel_response = ser.spot_cancel(
            result.canceled, params.get("cancelNewClientOrderId") or sim.next_cancel_id()
        )
    new_response: dict[str, Any] | None = None
    if result.new_order is not None:
        new_response = _new_order_response(result.new_order, params)
    body = ser.spot_cancel_replace(result, cancel_response, new_response)
    if result.cancel_error is None and result.new_order_error is None:
        return ok(body)
    if result.canceled is None and result.new_order is None:
        return ok({"code": -2022, "msg": "Order cancel-replace failed.", "data": body}, status=400)
    return ok(
        {"code": -2021, "msg": "Order cancel-replace partially failed.", "data": body}, status=409
    )


def _oco_leg(params: dict[str, str], prefix: str) -> OcoLegRequest:
    return OcoLegRequest(
        type=p.required(params, f"{prefix}Type"),
        price=p.optional_decimal(params, f"{prefix}Price"),
        stop_price=p.optional_decimal(params, f"{prefix}StopPrice"),
        time_in_force=params.get(f"{prefix}TimeInForce") or None,
        client_order_id=params.get(f"{prefix}ClientOrderId") or None,
    )


ORDER_LIST_REPORTS = {
    "ACK": ser.spot_order_ack,
    "RESULT": ser.spot_order_result,
    "FULL": ser.spot_order_full,
}


async def new_order_list_oco(request: web.Request) -> web.Response:
    """``POST /api/v3/orderList/oco``: the list with both orders' reports (below first).

    ``newOrderRespType`` shapes each report as for a single order; without it the reports
    have the RESULT shape (no ``fills``), as in Binance's documented answer.
    """
    params, key = await signed_params(request, trade=True)
    req = OcoRequest(
        symbol=p.required(params, "symbol"),
        side=p.required(params, "side"),
        quantity=p.optional_decimal(params, "quantity"),
        above=_oco_leg(params, "above"),
        below=_oco_leg(params, "below"),
        list_client_order_id=params.get("listClientOrderId") or None,
    )
    order_list = exchange_of(request).place_spot_oco(key.account_id, req)
    report = ORDER_LIST_REPORTS.get(params.get("newOrderRespType") or "", ser.spot_order_result)
    return ok(
        ser.spot_order_list(
            order_list, [report(o) for o in order_list.orders], order_list.transaction_time
        )
    )


async def cancel_order_list(request: web.Request) -> web.Response:
    """``DELETE /api/v3/orderList``: cancel an OCO by ``orderListId`` or
    ``listClientOrderId``; ``orderReports`` are the cancel answers of both orders."""
    params, key = await signed_params(request, trade=True)
    sim = simulator_of(request)
    order_list = sim.exchange.cancel_order_list(
        key.account_id,
        p.required(params, "symbol"),
        p.optional_int(params, "orderListId"),
        params.get("listClientOrderId") or None,
    )
    reports = [ser.spot_cancel(o, sim.next_cancel_id()) for o in order_list.orders]
    transaction_time = max(o.update_time for o in order_list.orders)
    return ok(ser.spot_order_list(order_list, reports, transaction_time))


async def test_order(request: web.Request) -> web.Response:
    params, _key = await signed_params(request, trade=True)
    _order_request(params)
    return ok({})


async def get_order(request: web.Request) -> web.Response:
    params, key = await signed_params(request)
    order_id, client_id = order_ref(params)
    order = exchange_of(request).get_order(
        SPOT, key.account_id, p.required(params, "symbol"), order_id, client_id
    )
    return ok(ser.spot_order(order))


async def cancel_order(request: web.Request) -> web.Response:
    params, key = await signed_params(request, trade=True)
    order_id, client_id = order_ref(params)
    exchange = exchange_of(request)
    order = exchange.cancel_order(
        SPOT, key.account_id, p.required(params, "symbol"), order_id, client_id
    )
    cancel_id = params.get("newClientOrderId") or simulator_of(request).next_cancel_id()
    return ok(ser.spot_cancel(order, cancel_id))


async def open_orders(request: web.Request) -> web.Response:
    params, key = await signed_params(request)
    orders = exchange_of(request).open_orders(SPOT, key.account_id, params.get("symbol") or None)
    return ok([ser.spot_order(o) for o in orders])


async def cancel_open_orders(request: web.Request) -> web.Response:
    params, key = await signed_params(request, trade=True)
    sim = simulator_of(request)
    orders = sim.exchange.cancel_all(SPOT, key.account_id, p.required(params, "symbol"))
    return ok([ser.spot_cancel(o, sim.next_cancel_id()) for o in orders])


async def all_orders(request: web.Request) -> web.Response:
    params, key = await signed_params(request)
    exchange = exchange_of(request)
    symbol = p.required(params, "symbol")
    exchange.market(SPOT, symbol)
    orders = [
        o
        for o in exchange.accounts[key.account_id].orders.values()
        if o.venue == SPOT and o.symbol == symbol
    ]
    selected = history(orders, params, id_attr="order_id", from_key="orderId")
    return ok([ser.spot_order(o) for o in selected])


async def my_trades(request: web.Request) -> web.Response:
    params, key = await signed_params(request)
    exchange = exchange_of(request)
    symbol = p.required(params, "symbol")
    exchange.market(SPOT, symbol)
    fills = exchange.user_trades(SPOT, key.account_id, symbol)
    order_id = p.optional_int(params, "orderId")
    if order_id is not None:
        fills = [f for f in fills if f.order_id == order_id]
    selected = history(fills, params, id_attr="trade_id", from_key="fromId")
    return ok([ser.spot_trade(f) for f in selected])


async def delist_schedule(request: web.Request) -> web.Response:
    """``GET /sapi/v1/spot/delist-schedule``: symbols to be delisted and when (none unless
    the control API announced some)."""
    await signed_params(request)
    return ok(simulator_of(request).delist_schedule)


async def api_restrictions(request: web.Request) -> web.Response:
    _params, key = await signed_params(request)
    return ok(
        {
            "ipRestrict": False,
            "createTime": key.create_time,
            "enableReading": True,
            "enableSpotAndMarginTrading": key.can_trade,
            "enableWithdrawals": key.can_withdraw,
            "enableInternalTransfer": False,
            "enableMargin": False,
            "enableFutures": key.can_futures,
            "permitsUniversalTransfer": False,
            "enableVanillaOptions": False,
            "enableFixApiTrade": False,
            "enableFixReadOnly": False,
            "enablePortfolioMarginTrading": False,
        }
    )


async def user_data_stream(request: web.Request) -> web.Response:
    params, key = await api_key_params(request)
    exchange = exchange_of(request)
    listen_key = exchange.listen_key(key.account_id)
    if request.method in ("PUT", "DELETE"):
        if params.get("listenKey") not in (None, "", listen_key):
            raise errors.unknown_listen_key()
        return ok({})
    return ok({"listenKey": listen_key})


def add_routes(app: web.Application) -> None:
    r = app.router
    r.add_get("/api/v3/ping", ping)
    r.add_get("/api/v3/time", server_time)
    r.add_get("/api/v3/exchangeInfo", exchange_info)
    r.add_get("/api/v3/depth", depth)
    r.add_get("/api/v3/trades", trades)
    r.add_get("/api/v3/klines", klines_view)
    r.add_get("/api/v3/uiKlines", klines_view)
    r.add_get("/api/v3/ticker/24hr", ticker_24hr)
    r.add_get("/api/v3/ticker/price", ticker_price)
    r.add_get("/api/v3/ticker/bookTicker", book_ticker)
    r.add_get("/api/v3/avgPrice", avg_price)
    r.add_get("/api/v3/account", account)
    r.add_post("/api/v3/order", new_order)
    r.add_post("/api/v3/order/test", test_order)
    r.add_post("/api/v3/order/cancelReplace", cancel_replace)
    r.add_post("/api/v3/orderList/oco", new_order_list_oco)
    r.add_delete("/api/v3/orderList", cancel_order_list)
    r.add_get("/api/v3/order", get_order)
    r.add_delete("/api/v3/order", cancel_order)
    r.add_get("/api/v3/openOrders", open_orders)
    r.add_delete("/api/v3/openOrders", cancel_open_orders)
    r.add_get("/api/v3/allOrders", all_orders)
    r.add_get("/api/v3/myTrades", my_trades)
    r.add_post("/api/v3/userDataStream", user_data_stream)
    r.add_put("/api/v3/userDataStream", user_data_stream)
    r.add_delete("/api/v3/userDataStream", user_data_stream)
    r.add_get("/sapi/v1/account/apiRestrictions", api_restrictions)
    r.add_get("/sapi/v1/spot/delist-schedule", delist_schedule)
