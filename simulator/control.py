"""The control API (not Binance's): JSON under ``/_sim/``, for tests and demos.

=======  ================================  ===============================================
POST     /_sim/accounts                    ``{"account_id"?, "spot": {"USDT": "1000"},
                                           "futures": {"USDT": "1000"}, "can_withdraw"?,
                                           "can_trade"?, "api_key"?, "secret"?}`` ->
                                           ``{"account_id", "api_key", "secret"}``
POST     /_sim/accounts/{id}/keys          ``{"can_withdraw"?, "can_trade"?}`` -> a new key
POST     /_sim/accounts/{id}/balances      ``{"spot": {...}, "futures": {...}}`` sets them
POST     /_sim/accounts/{id}/positions     ``{"symbol", "amount", "entry_price"}`` sets a USD-M
                                           position directly (reconciliation tests)
GET      /_sim/accounts/{id}               balances, open orders, positions, algo orders,
                                           trades (numbers as strings)
GET      /_sim/markets                     per venue and symbol: mid, last, best bid/ask
POST     /_sim/price                       ``{"symbol": "BTCUSDT" | "BTC/USDT", "price",
                                           "venue"?: "spot"|"futures"|"both"}``
POST     /_sim/step                        ``{"n"?: 1}`` ticks the market now
POST     /_sim/pause, /_sim/resume         stop / restart the automatic ticking
GET      /_sim/requests                    ``?since=ms&until=ms`` -> ``{"METHOD /path": n}``
DELETE   /_sim/requests                    reset the counters
POST     /_sim/faults                      a fault (see :mod:`simulator.faults`) -> its id
GET      /_sim/faults                      active faults
DELETE   /_sim/faults[/{id}]               clear all faults, or one
POST     /_sim/delist-schedule             ``{"schedule": [{"delistTime": ms, "symbols":
                                           [..]}]}``: what ``GET /sapi/v1/spot/
                                           delist-schedule`` answers
POST     /_sim/reset                       ``{"seed"?}``: fresh venue, faults, counters;
                                           closes every websocket
GET      /_sim/state                       ticks, paused, seed
GET      /_sim/ws                          open websocket connections (see simulator.ws)
POST     /_sim/ws/drop                     ``{"account_id"?, "path"?: prefix, "mode"?:
                                           "close"|"abort"}`` drops websockets -> count
=======  ================================  ===============================================
"""

from __future__ import annotations

import json
import logging
from decimal import Decimal, InvalidOperation
from typing import Any

from aiohttp import web

from .config import FUTURES, SPOT
from .engine.model import ZERO
from .rest import serializers as ser
from .rest.context import simulator_of
from .rest.fmt import plain
from .ws import after_reset, control_drop, control_state

logger = logging.getLogger(__name__)
PREFIX = "/_sim"


def _json(data: Any, status: int = 200) -> web.Response:
    return web.Response(
        text=json.dumps(data, separators=(",", ":"), default=str),
        status=status,
        content_type="application/json",
    )


def _bad(message: str) -> web.HTTPBadRequest:
    return web.HTTPBadRequest(text=json.dumps({"error": message}), content_type="application/json")


async def _body(request: web.Request) -> dict[str, Any]:
    if not request.can_read_body:
        return {}
    try:
        data = await request.json()
    except ValueError:
        raise _bad("body must be JSON") from None
    if not isinstance(data, dict):
        raise _bad("body must be a JSON object")
    return data


def _amounts(raw: Any) -> dict[str, Decimal]:
    if not raw:
        return {}
    try:
        return {str(asset): Decimal(str(amount)) for asset, amount in dict(raw).items()}
    except (InvalidOperation, TypeError, ValueError):
        raise _bad("amounts must be decimal strings") from None


def _account_id(request: web.Request) -> str:
    account_id = request.match_info["account_id"]
    if account_id not in simulator_of(request).exchange.accounts:
        raise web.HTTPNotFound(
            text=json.dumps({"error": f"no account {account_id}"}), content_type="application/json"
        )
    return account_id


def _symbol(raw: str) -> str:
    return raw.replace("/", "").split(":")[0].upper()


async def create_account(request: web.Request) -> web.Response:
    data = await _body(request)
    exchange = simulator_of(request).exchange
    try:
        account, key = exchange.create_account(
            account_id=data.get("account_id"),
            spot_balances=_amounts(data.get("spot")),
            futures_balances=_amounts(data.get("futures")),
            can_withdraw=bool(data.get("can_withdraw", False)),
            can_trade=bool(data.get("can_trade", True)),
            api_key=data.get("api_key"),
            secret=data.get("secret"),
        )
    except ValueError as exc:
        raise _bad(str(exc)) from None
    return _json({"account_id": account.account_id, "api_key": key.key, "secret": key.secret})


async def add_key(request: web.Request) -> web.Response:
    account_id = _account_id(request)
    data = await _body(request)
    key = simulator_of(request).exchange.add_api_key(
        account_id,
        can_withdraw=bool(data.get("can_withdraw", False)),
        can_trade=bool(data.get("can_trade", True)),
    )
    return _json({"account_id": account_id, "api_key": key.key, "secret": key.secret})


async def set_balances(request: web.Request) -> web.Response:
    account_id = _account_id(request)
    data = await _body(request)
    try:
        simulator_of(request).exchange.fund(
            account_id, spot=_amounts(data.get("spot")), futures=_amounts(data.get("futures"))
        )
    except ValueError as exc:
        raise _bad(str(exc)) from None
    return await account_state(request)


async def set_position(request: web.Request) -> web.Response:
    """``{"symbol": "BTCUSDT", "amount": "-0.5", "entry_price": "60000"}``: a USD-M
    position changed behind the client's back."""
    account_id = _account_id(request)
    data = await _body(request)
    try:
        simulator_of(request).exchange.set_position(
            account_id,
            _symbol(str(data["symbol"])),
            amount=Decimal(str(data["amount"])),
            entry_price=Decimal(str(data.get("entry_price", "0"))),
        )
    except (KeyError, InvalidOperation, ValueError) as exc:
        raise _bad(f"symbol, amount and entry_price are required: {exc}") from None
    return await account_state(request)


def account_snapshot(exchange: Any, account_id: str) -> dict[str, Any]:
    """An account's whole state with exact numbers as strings, for test assertions."""
    account = exchange.accounts[account_id]
    positions = []
    for symbol, pos in sorted(account.positions.items()):
        if pos.amount:
            risk = ser.position_risk(exchange, account_id, symbol)
            risk["leverage"] = exchange.leverage(account, symbol)
            positions.append(risk)
    futures = {}
    for asset in sorted(account.futures_wallet):
        s = exchange.futures_summary(account_id, asset)
        futures[asset] = {k: plain(v) for k, v in s.items()}
    return {
        "account_id": account_id,
        "spot": {
            asset: {"free": plain(b.free), "locked": plain(b.locked)}
            for asset, b in sorted(account.spot_balances.items())
            if b.free or b.locked
        },
        "futures": futures,
        "positions": positions,
        "leverage": dict(account.leverage),
        "open_orders": [
            ser.spot_order(o) if o.venue == SPOT else ser.futures_order(o)
            for o in account.open_orders.values()
        ],
        "open_algo_orders": [ser.algo_order(a) for a in account.algo_orders.values() if a.is_open],
        "orders": len(account.orders),
        "spot_trades": [ser.spot_trade(f) for f in account.fills[SPOT]],
        "futures_trades": [ser.futures_trade(f) for f in account.fills[FUTURES]],
    }


async def account_state(request: web.Request) -> web.Response:
    account_id = _account_id(request)
    return _json(account_snapshot(simulator_of(request).exchange, account_id))


async def markets(request: web.Request) -> web.Response:
    exchange = simulator_of(request).exchange
    out: dict[str, Any] = {}
    for venue, by_symbol in exchange.markets.items():
        out[venue] = {}
        for symbol, mkt in sorted(by_symbol.items()):
            bid = mkt.book.best_price("BUY")
            ask = mkt.book.best_price("SELL")
            out[venue][symbol] = {
                "mid": plain(mkt.mid),
                "last": plain(mkt.last_price),
                "bid": plain(bid or ZERO),
                "ask": plain(ask or ZERO),
            }
    return _json(out)


async def set_price(request: web.Request) -> web.Response:
    data = await _body(request)
    sim = simulator_of(request)
    if "symbol" not in data or "price" not in data:
        raise _bad("symbol and price are required")
    symbol = _symbol(str(data["symbol"]))
    venue = data.get("venue", "both")
    venues = (SPOT, FUTURES) if venue == "both" else (venue,)
    try:
        price = Decimal(str(data["price"]))
        for v in venues:
            if symbol in sim.exchange.markets.get(v, {}):
                sim.exchange.set_price(v, symbol, price)
            elif venue != "both":
                raise ValueError(f"no market {symbol} on {v}")
    except (InvalidOperation, ValueError) as exc:
        raise _bad(str(exc)) from None
    return await markets(request)


async def step(request: web.Request) -> web.Response:
    data = await _body(request)
    sim = simulator_of(request)
    n = int(data.get("n", 1))
    if not 0 < n <= 100_000:
        raise _bad("n must be 1..100000")
    sim.exchange.advance(n)
    return _json({"ticks": sim.exchange.ticks})


async def pause(request: web.Request) -> web.Response:
    simulator_of(request).paused = True
    return await state(request)


async def resume(request: web.Request) -> web.Response:
    simulator_of(request).paused = False
    return await state(request)


async def state(request: web.Request) -> web.Response:
    sim = simulator_of(request)
    return _json(
        {
            "ticks": sim.exchange.ticks,
            "paused": sim.paused,
            "seed": sim.exchange.config.seed,
            "tick_ms": sim.exchange.config.tick_ms,
        }
    )


async def requests_view(request: web.Request) -> web.Response:
    sim = simulator_of(request)
    since = request.query.get("since")
    until = request.query.get("until")
    return _json(sim.counter.counts(int(since) if since else None, int(until) if until else None))


async def reset_requests(request: web.Request) -> web.Response:
    simulator_of(request).counter.reset()
    return _json({})


async def add_fault(request: web.Request) -> web.Response:
    data = await _body(request)
    try:
        fault = simulator_of(request).faults.add(**data)
    except (TypeError, ValueError) as exc:
        raise _bad(str(exc)) from None
    logger.info("fault added: %s", fault.as_dict())
    return _json(fault.as_dict())


async def list_faults(request: web.Request) -> web.Response:
    return _json(simulator_of(request).faults.list())


async def clear_faults(request: web.Request) -> web.Response:
    faults = simulator_of(request).faults
    fault_id = request.match_info.get("fault_id")
    if fault_id is None:
        faults.clear()
    elif not faults.remove(int(fault_id)):
        raise web.HTTPNotFound()
    return _json({})


async def set_delist_schedule(request: web.Request) -> web.Response:
    data = (await _body(request)).get("schedule")
    if not isinstance(data, list) or not all(
        isinstance(row, dict)
        and isinstance(row.get("delistTime"), int)
        and isinstance(row.get("symbols"), list)
        for row in data
    ):
        raise _bad('"schedule": a list of {"delistTime": ms, "symbols": [...]} is required')
    simulator_of(request).delist_schedule = data
    return _json(data)


async def reset(request: web.Request) -> web.Response:
    data = await _body(request)
    sim = simulator_of(request)
    sim.reset(seed=int(data["seed"]) if "seed" in data else None)
    after_reset(request)  # close the old venue's websockets
    return await state(request)


def add_routes(app: web.Application) -> None:
    r = app.router
    r.add_post(f"{PREFIX}/accounts", create_account)
    r.add_post(f"{PREFIX}/accounts/{{account_id}}/keys", add_key)
    r.add_post(f"{PREFIX}/accounts/{{account_id}}/balances", set_balances)
    r.add_post(f"{PREFIX}/accounts/{{account_id}}/positions", set_position)
    r.add_get(f"{PREFIX}/accounts/{{account_id}}", account_state)
    r.add_get(f"{PREFIX}/markets", markets)
    r.add_post(f"{PREFIX}/price", set_price)
    r.add_post(f"{PREFIX}/step", step)
    r.add_post(f"{PREFIX}/delist-schedule", set_delist_schedule)
    r.add_post(f"{PREFIX}/pause", pause)
    r.add_post(f"{PREFIX}/resume", resume)
    r.add_get(f"{PREFIX}/state", state)
    r.add_get(f"{PREFIX}/requests", requests_view)
    r.add_delete(f"{PREFIX}/requests", reset_requests)
    r.add_post(f"{PREFIX}/faults", add_fault)
    r.add_get(f"{PREFIX}/faults", list_faults)
    r.add_delete(f"{PREFIX}/faults", clear_faults)
    r.add_delete(f"{PREFIX}/faults/{{fault_id}}", clear_faults)
    r.add_post(f"{PREFIX}/reset", reset)
    r.add_get(f"{PREFIX}/ws", control_state)
    r.add_post(f"{PREFIX}/ws/drop", control_drop)
