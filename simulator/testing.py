"""Run the simulator in-process, on its own event loop in a thread (for sync and async tests).

    handle = run_in_thread(seed=7, paused=True)
    client = simulator_client(handle.url, market_type="spot", api_key=..., secret=...)
    ...
    handle.stop()

``handle.call(fn)`` runs ``fn(simulator)`` on the simulator's loop and returns its result,
which is how a test touches the engine directly without racing the server.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import json
import threading
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, TypeVar

from aiohttp import web

from .config import SimConfig
from .server import Simulator, build_app

T = TypeVar("T")


@dataclass
class SimulatorHandle:
    url: str
    simulator: Simulator
    loop: asyncio.AbstractEventLoop
    _thread: threading.Thread
    _runner: web.AppRunner
    _stopped: bool = field(default=False)

    def call(self, fn: Callable[[Simulator], T], timeout: float = 10) -> T:
        async def run() -> T:
            return fn(self.simulator)

        return asyncio.run_coroutine_threadsafe(run(), self.loop).result(timeout)

    def control(self, method: str, path: str, body: dict[str, Any] | None = None) -> Any:
        """Call the control API (``path`` below ``/_sim``) over HTTP; returns parsed JSON."""
        data = json.dumps(body).encode() if body is not None else None
        request = urllib.request.Request(  # noqa: S310 - loopback URL we built ourselves
            f"{self.url}/_sim{path}",
            data=data,
            method=method,
            headers={"Content-Type": "application/json"},
        )
        with urllib.request.urlopen(request, timeout=10) as response:  # noqa: S310
            return json.loads(response.read() or b"null")

    def stop(self) -> None:
        if self._stopped:
            return
        self._stopped = True

        async def shutdown() -> None:
            await self._runner.cleanup()
            # Handlers still held by a "drop"/"timeout" fault: end them here, or the loop
            # closes with pending tasks and asyncio logs each one as destroyed.
            pending = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
            for task in pending:
                task.cancel()
            await asyncio.gather(*pending, return_exceptions=True)

        future = asyncio.run_coroutine_threadsafe(shutdown(), self.loop)
        try:
            future.result(15)
        except concurrent.futures.TimeoutError:
            pass
        self.loop.call_soon_threadsafe(self.loop.stop)
        self._thread.join(15)

    def __enter__(self) -> SimulatorHandle:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.stop()


def run_in_thread(
    *,
    port: int = 0,
    seed: int = 1,
    symbols: list[str] | None = None,
    config: SimConfig | None = None,
    paused: bool = False,
    host: str = "127.0.0.1",
) -> SimulatorHandle:
    """Start a simulator on ``host:port`` (0 = an ephemeral port) and return once it listens."""
    config = config or SimConfig.build(seed=seed, symbols=symbols)
    sim = Simulator(config)
    sim.paused = paused
    loop = asyncio.new_event_loop()
    started: concurrent.futures.Future[tuple[web.AppRunner, int]] = concurrent.futures.Future()

    async def start() -> None:
        # shutdown_timeout: a hanging "drop" fault must not hold stop() for 30 s.
        runner = web.AppRunner(build_app(sim), access_log=None, shutdown_timeout=0.5)
        await runner.setup()
        site = web.TCPSite(runner, host, port)
        await site.start()
        bound = runner.addresses[0][1]
        started.set_result((runner, bound))

    def serve() -> None:
        asyncio.set_event_loop(loop)
        try:
            loop.run_until_complete(start())
        except OSError as exc:  # e.g. port in use: handed to the caller, which re-raises it
            started.set_exception(exc)
            return
        loop.run_forever()
        loop.close()

    thread = threading.Thread(target=serve, name="simulator", daemon=True)
    thread.start()
    runner, bound_port = started.result(15)
    return SimulatorHandle(
        url=f"http://{host}:{bound_port}", simulator=sim, loop=loop, _thread=thread, _runner=runner
    )
