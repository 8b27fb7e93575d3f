"""Where handlers find the running simulator (the exchange can be swapped by a reset)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from aiohttp import web

if TYPE_CHECKING:
    from ..engine import Exchange
    from ..server import Simulator

SIMULATOR = web.AppKey("simulator", object)


def simulator_of(request: web.Request) -> Simulator:
    return request.app[SIMULATOR]  # type: ignore[return-value]


def exchange_of(request: web.Request) -> Exchange:
    return simulator_of(request).exchange
