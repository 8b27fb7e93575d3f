"""The aiohttp application: Binance routes, the control API, faults, and the market timer."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Callable, Sequence
from typing import Any

from aiohttp import web

from . import control, ws
from .config import SimConfig, parse_instant
from .engine import Exchange
from .engine.events import Listener
from .engine.exchange import wall_clock_ms
from .errors import BinanceError
from .faults import DEFAULT_STATUS_BODIES, FaultTable, RequestCounter
from .persistence import StateStore
from .rest import futures, spot
from .rest.common import error_response, ok
from .rest.context import SIMULATOR

logger = logging.getLogger(__name__)


class Simulator:
    """What one running simulator holds: the venue, its timer state, faults and counters."""

    def __init__(self, config: SimConfig, *, clock: Callable[[], int] | None = None) -> None:
        self.config = config
        self._clock = clock
        self.exchange = Exchange(config, clock=clock)
        self.faults = FaultTable()
        self.counter = RequestCounter()
        self.paused = False
        self.store: StateStore | None = None
        # Binance's announced spot delistings: [{"delistTime": ms, "symbols": [...]}].
        self.delist_schedule: list[dict] = []
        self._listeners: list[Listener] = []
        self._cancel_seq = 0

    def add_listener(self, callback: Listener) -> None:
        """Subscribe to engine events; survives /_sim/reset (see engine.events)."""
        self._listeners.append(callback)
        self.exchange.add_listener(callback)

    def remove_listener(self, callback: Listener) -> None:
        self._listeners.remove(callback)
        self.exchange.remove_listener(callback)

    def reset(self, seed: int | None = None) -> None:
        if seed is not None:
            self.config = SimConfig(**{**self.config.__dict__, "seed": seed})
        self.exchange = Exchange(self.config, clock=self._clock)
        self.delist_schedule = []
        for callback in self._listeners:
            self.exchange.add_listener(callback)
        self.faults.clear()
        # The paused flag survives a reset: a test that paused the market must not see a
        # tick slip in between its reset and its next request.
        self.counter.reset()
        logger.info("simulator reset (seed %s)", self.config.seed)

    def next_cancel_id(self) -> str:
        self._cancel_seq += 1
        return f"sim-cancel-{self._cancel_seq}"

    async def run_saver(self, interval: float = 1.0) -> None:
        """Every second, the state as the market's own movement left it (resting orders
        fill as it ticks, with no request to save after)."""
        while True:
            await asyncio.sleep(interval)
            try:
                self.store.save_if_moved(self)
            except OSError:
                logger.exception("could not save the simulator's state")

    async def run_ticker(self) -> None:
        interval = self.config.tick_ms / 1000
        while True:
            await asyncio.sleep(interval)
            if not self.paused:
                try:
                    self.exchange.step()
                except Exception:
                    # Keep ticking: one bad tick must not freeze the market for every test.
                    logger.exception("market tick failed")


def _not_found_body(method: str, path: str) -> web.Response:
    return ok({"code": -1000, "msg": f"Unknown endpoint: {method} {path}"}, status=404)


@web.middleware
async def binance_middleware(
    request: web.Request, handler: Callable[[web.Request], Any]
) -> web.StreamResponse:
    sim: Simulator = request.app[SIMULATOR]  # type: ignore[assignment]
    path = request.path
    if path.startswith(control.PREFIX + "/"):
        response = await handler(request)
        if sim.store is not None and request.method != "GET":
            await sim.store.persist(sim)  # accounts, balances, a reset: kept like any change
        return response
    sim.counter.record(request.method, path, wall_clock_ms())
    fault = sim.faults.take(request.method, path)
    if fault is not None:
        logger.info("fault %s fires on %s %s", fault.action, request.method, path)
        if fault.action == "status":
            if fault.raw_body is not None:
                return web.Response(
                    text=fault.raw_body, status=fault.status, content_type="text/html"
                )
            code, msg = DEFAULT_STATUS_BODIES.get(fault.status, (-1000, "Simulated failure."))
            return ok({"code": fault.code or code, "msg": fault.msg or msg}, status=fault.status)
        if fault.action in ("latency", "timeout"):
            await asyncio.sleep(fault.delay_ms / 1000)
            if fault.action == "timeout":
                return ok(
                    {"code": -1007, "msg": "Timeout waiting for response from backend server."},
                    status=504,
                )
    try:
        response = await handler(request)
    except BinanceError as exc:
        response = error_response(exc)
    except web.HTTPNotFound:
        logger.warning("unknown endpoint %s %s", request.method, request.path_qs)
        return _not_found_body(request.method, path)
    except web.HTTPMethodNotAllowed:
        logger.warning("method not allowed %s %s", request.method, path)
        return _not_found_body(request.method, path)
    if sim.store is not None and request.method != "GET":
        await sim.store.persist(sim)  # before the answer: what the venue acknowledged is kept
    if fault is not None and fault.action == "drop":
        # The venue has done the work (the order exists); the client never hears back.
        if fault.mode == "hang":
            await asyncio.sleep(fault.delay_ms / 1000)
        elif request.transport is not None:
            request.transport.abort()
    return response


def build_app(sim: Simulator, *, tick: bool = True) -> web.Application:
    app = web.Application(middlewares=[binance_middleware])
    app[SIMULATOR] = sim
    spot.add_routes(app)
    futures.add_routes(app)
    control.add_routes(app)
    ws.setup(app, sim)  # websocket routes, fed by a listener on sim (survives reset)

    async def ticker(_app: web.Application) -> AsyncIterator[None]:
        task = asyncio.create_task(sim.run_ticker()) if tick else None
        saver = asyncio.create_task(sim.run_saver()) if sim.store is not None else None
        yield
        for running in (task, saver):
            if running is not None:
                running.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await running
        if sim.store is not None:
            sim.store.save(sim)  # stopping: the last ticks' fills too

    app.cleanup_ctx.append(ticker)
    return app


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="simulator", description="Local Binance-compatible exchange (spot + USD-M)."
    )
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8765)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--symbols", help="comma-separated, e.g. BTC/USDT,ETH/USDT")
    parser.add_argument("--config", help="JSON file overriding markets and settings")
    parser.add_argument("--tick-ms", type=int, help="market tick interval (ms)")
    parser.add_argument(
        "--history-anchor",
        help="instant (ms or ISO-8601 with offset) at which kline history is at each market's "
        "configured price; default: the simulator's start, where the live market begins",
    )
    parser.add_argument("--paused", action="store_true", help="start with the market paused")
    parser.add_argument(
        "--state-dir",
        help="keep accounts, orders, trades, balances and id counters here across restarts",
    )
    parser.add_argument("--log-level", default="INFO")
    return parser.parse_args(argv)


def config_from_args(args: argparse.Namespace) -> SimConfig:
    symbols = [s.strip() for s in args.symbols.split(",") if s.strip()] if args.symbols else None
    if args.config:
        config = SimConfig.from_file(args.config, seed=args.seed, symbols=symbols)
    else:
        config = SimConfig.build(seed=args.seed, symbols=symbols)
    if args.tick_ms:
        config = SimConfig(**{**config.__dict__, "tick_ms": args.tick_ms})
    if args.history_anchor:
        anchor = parse_instant(args.history_anchor)
        config = SimConfig(**{**config.__dict__, "history_anchor_ms": anchor})
    return config


def main(argv: Sequence[str] | None = None) -> None:
    """Entry point of ``python -m simulator`` and ``manage.py simulator``."""
    args = parse_args(argv)
    logging.basicConfig(
        level=args.log_level.upper(), format="%(asctime)s %(levelname)s %(name)s %(message)s"
    )
    sim = Simulator(config_from_args(args))
    sim.paused = args.paused
    if args.state_dir:
        sim.store = StateStore(args.state_dir)
        if not sim.store.load(sim):
            logger.info("no simulator state in %s yet: starting fresh", args.state_dir)
            # Now, not at the first change: the kline seam (this start) is part of the
            # state, and history served before a kill must be served after it.
            sim.store.save(sim)
    logger.info(
        "simulator on http://%s:%s seed=%s spot=%s futures=%s",
        args.host,
        args.port,
        sim.config.seed,
        sorted(sim.config.spot),
        sorted(sim.config.futures),
    )
    web.run_app(build_app(sim), host=args.host, port=args.port, print=None, access_log=None)
