"""Helpers shared by the spot and USD-M handlers."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from aiohttp import web

from .. import errors
from ..config import FUTURES
from ..engine.exchange import wall_clock_ms
from ..engine.market import KLINE_INTERVALS_MS, MarketState
from . import params as p
from . import serializers as ser
from .auth import public_params
from .context import exchange_of


def ok(data: Any, status: int = 200) -> web.Response:
    return web.Response(
        text=json.dumps(data, separators=(",", ":")),
        status=status,
        content_type="application/json",
    )


def error_response(exc: errors.BinanceError) -> web.Response:
    return ok(exc.body(), status=exc.status)


def symbol_list(params: Mapping[str, str]) -> list[str] | None:
    """``symbol=X`` or ``symbols=["X","Y"]`` (Binance's JSON-array form)."""
    if params.get("symbol"):
        return [params["symbol"]]
    raw = params.get("symbols")
    if not raw:
        return None
    try:
        value = json.loads(raw)
    except ValueError:
        raise errors.BinanceError(
            -1100, "Illegal characters found in parameter 'symbols'."
        ) from None
    if not isinstance(value, list):
        raise errors.BinanceError(-1100, "Illegal characters found in parameter 'symbols'.")
    return [str(s) for s in value]


KLINES_DEFAULT_LIMIT = 500
KLINES_MAX_LIMIT = {False: 1000, True: 1500}  # spot, USD-M


def klines(mkt: MarketState, params: Mapping[str, str], futures: bool, now: int) -> str:
    """Binance's klines answer as JSON text (built directly: a page is up to 1500 rows)."""
    interval = p.required(params, "interval")
    if interval not in KLINE_INTERVALS_MS:
        raise errors.invalid_interval()
    start = p.optional_int(params, "startTime")
    end = p.optional_int(params, "endTime")
    if start is not None and end is not None and start > end:
        raise errors.start_time_after_end_time()
    # Over the maximum: the maximum, as the simulator's other limits answer (Binance's own
    # answer to limit=5000 on klines was not checked; it may be -1130 instead).
    limit = p.limit(params, KLINES_DEFAULT_LIMIT, KLINES_MAX_LIMIT[futures])
    interval_ms = KLINE_INTERVALS_MS[interval]
    bars = mkt.klines(interval_ms, start, end, limit, now)
    return ser.klines_json(bars, mkt.units, interval_ms, futures)


def depth_limit(params: Mapping[str, str]) -> int:
    return p.limit(params, 100, 5000)


def order_ref(
    params: Mapping[str, str], client_key: str = "origClientOrderId"
) -> tuple[int | None, str | None]:
    order_id = p.optional_int(params, "orderId")
    client_id = params.get(client_key) or None
    if order_id is None and client_id is None:
        raise errors.BinanceError(
            -1102, "Param 'origClientOrderId' or 'orderId' must be sent, but both were empty/null!"
        )
    return order_id, client_id


def history(
    items: list[Any],
    params: Mapping[str, str],
    *,
    id_attr: str,
    from_key: str,
    default_limit: int = 500,
    max_limit: int = 1000,
) -> list[Any]:
    """Binance's history filters: from an id, or a time window; otherwise the most recent."""
    from_id = p.optional_int(params, from_key)
    start = p.optional_int(params, "startTime")
    end = p.optional_int(params, "endTime")
    limit = p.limit(params, default_limit, max_limit)
    if from_id is not None:
        return [i for i in items if getattr(i, id_attr) >= from_id][:limit]
    if start is not None or end is not None:
        return [
            i
            for i in items
            if (start is None or i.time >= start) and (end is None or i.time <= end)
        ][:limit]
    return items[-limit:]


async def ping(_request: web.Request) -> web.Response:
    return ok({})


async def server_time(_request: web.Request) -> web.Response:
    return ok({"serverTime": wall_clock_ms()})


def market_data_handlers(venue: str):
    """The depth, trades and klines handlers of one venue: the same for spot and USD-M but
    for the venue and the futures flavour of the payloads."""
    futures = venue == FUTURES

    async def depth(request: web.Request) -> web.Response:
        params = await public_params(request)
        mkt = exchange_of(request).market(venue, p.required(params, "symbol"))
        return ok(ser.depth(mkt, depth_limit(params), futures, wall_clock_ms()))

    async def trades(request: web.Request) -> web.Response:
        params = await public_params(request)
        mkt = exchange_of(request).market(venue, p.required(params, "symbol"))
        limit = p.limit(params, 500, 1000)
        return ok([ser.public_trade(t, futures) for t in list(mkt.trades)[-limit:]])

    async def klines_view(request: web.Request) -> web.Response:
        params = await public_params(request)
        exchange = exchange_of(request)
        mkt = exchange.market(venue, p.required(params, "symbol"))
        body = klines(mkt, params, futures, exchange.now())
        return web.Response(text=body, content_type="application/json")

    return depth, trades, klines_view
