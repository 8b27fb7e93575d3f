"""Binance's websocket side for the simulator: market streams, user data, websocket API.

Paths (relative to the simulator's base URL, ``http`` -> ``ws``; the ccxt factory in
:mod:`simulator.client` points ccxt.pro at them):

=========================================  ===========================================
``/ws/spot/<n>``                           spot market streams: SUBSCRIBE/UNSUBSCRIBE
                                           ``<sym>@ticker|miniTicker|bookTicker``,
                                           ``<sym>@depth[@100ms]``, ``<sym>@trade``,
                                           ``<sym>@aggTrade``, ``<sym>@kline_1m``,
                                           ``!ticker@arr``, ``!miniTicker@arr``
``/ws/spot/<listenKey>``                   legacy spot user data (unwrapped events)
``/ws/linear/market/ws/<n>``               USD-M tickers, klines, ``<sym>@markPrice[@1s]``,
                                           ``!markPrice@arr[@1s]``
``/ws/linear/public/ws/<n>``               USD-M ``<sym>@depth[@100ms|250ms|500ms]``,
                                           trades, bookTicker
``/ws/linear/ws/<n|listenKey>``            legacy single-host USD-M streams
``/ws/linear/private/ws?listenKey=K``      USD-M user data: ORDER_TRADE_UPDATE, ALGO_UPDATE,
                                           ACCOUNT_UPDATE (K from ``POST /fapi/v1/listenKey``)
``/ws-api/v3``                             spot websocket API: ``userDataStream.subscribe.
                                           signature`` -> ``{"subscriptionId": n}``, then
                                           ``{"subscriptionId", "event": executionReport |
                                           outboundAccountPosition}``; ``userDataStream.
                                           unsubscribe``, ``session.subscriptions``,
                                           ``ping``, ``time``
``/ws-fapi/v1``                            USD-M websocket API: ``ping``, ``time`` only
=========================================  ===========================================

Depth updates carry ``U``..``u`` (and ``pu`` on USD-M) continuing the REST depth
``lastUpdateId``, so ccxt's snapshot-then-deltas sync holds. Kline streams of every
interval send the candle REST's klines give for it (aggregated from the 1m series; in the
interval holding the simulator's start, history's minutes with the live ones).

Control (:mod:`simulator.control`): ``GET /_sim/ws`` lists connections,
``POST /_sim/ws/drop`` closes all, an account's, or a path prefix's.
``/_sim/reset`` closes every connection (close code 1012): the fresh venue has new
accounts, keys and book update ids, so clients must reconnect and resubscribe.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import TYPE_CHECKING

from aiohttp import web

from .handlers import HUB, add_routes, after_reset, control_drop, control_state
from .hub import Hub

if TYPE_CHECKING:
    from ..server import Simulator


def setup(app: web.Application, sim: Simulator) -> Hub:
    """Serve the websocket routes on ``app`` and feed them ``sim``'s engine events."""
    hub = Hub(sim)
    app[HUB] = hub
    add_routes(app)

    async def lifecycle(_app: web.Application) -> AsyncIterator[None]:
        hub.bind(asyncio.get_running_loop())
        sim.add_listener(hub.on_event)  # re-attached to each new exchange by sim.reset()
        yield
        sim.remove_listener(hub.on_event)

    async def close_all(_app: web.Application) -> None:
        # Before the runner waits on handlers: an open websocket would hold shutdown.
        await hub.drop()

    app.cleanup_ctx.append(lifecycle)
    app.on_shutdown.append(close_all)
    return hub


__all__ = ["HUB", "Hub", "after_reset", "control_drop", "control_state", "setup"]
