"""The simulator's state kept across restarts, as an exchange keeps it (``--state-dir``).

Accounts and their keys, balances, positions, every order and trade, order lists, algo
orders, the books and the id counters are written to one file in the state directory -
atomically (a temporary file, fsync, rename), so a crash leaves the previous state whole -
and read back at start: order and trade ids go on where they stopped, and a client that
kept its keys finds its account as it left it. Each market's kline seam and anchor are
kept too (a few numbers: the history itself is regenerated from them, see
:mod:`simulator.engine.history`), so the candles served before a restart are served after
it; the minutes the simulator was down are flat, volume-free candles, as a venue that
stopped trading shows them.

When it is written: before the answer to every request that may change state (any method
but GET), so an acknowledged order is never forgotten - requests that arrive while a
write is under way wait for the next one, which covers them all (a group commit: one
snapshot and fsync for many requests); every second while the market
moves (resting orders fill as it ticks); and when the simulator stops. A SIGKILL can lose
at most the last second of fills made by the market's own movement. The file is pickle:
it is read only from the directory the simulator was told to use (make run's ``var/``,
0700) - never from anywhere a client could write.
"""

from __future__ import annotations

import asyncio
import logging
import os
import pickle
import tempfile
import time
from pathlib import Path
from typing import Any

logger = logging.getLogger(__name__)

FILE_NAME = "state.pickle"
FORMAT = 1  # bumped when the engine's classes change shape
# The engine's wiring, rebuilt at start rather than stored.
NOT_STORED = ("_listeners", "now")


class StateStore:
    def __init__(self, directory: str | os.PathLike) -> None:
        self.directory = Path(directory)
        self.path = self.directory / FILE_NAME
        self.saved_at = 0.0
        self.saved_ticks = -1
        self._next: asyncio.Future | None = None  # the write the next requests wait for
        self._writer: asyncio.Task | None = None

    def load(self, sim: Any) -> bool:
        """Put the stored state into ``sim``'s exchange; False when there is none. A file
        that cannot be read is set aside (never deleted) and the simulator starts fresh."""
        if not self.path.exists():
            return False
        try:
            with self.path.open("rb") as file:
                stored = pickle.load(file)  # noqa: S301 - our own file in our own directory
            if stored.get("format") != FORMAT:
                raise ValueError(f"format {stored.get('format')!r}, expected {FORMAT}")
        except Exception as exc:  # noqa: BLE001 - any unreadable file: keep it, start fresh
            aside = self.path.with_name(f"{FILE_NAME}.unreadable-{int(time.time())}")
            self.path.rename(aside)
            logger.error("simulator state in %s unreadable (%s): set aside as %s", self.path,
                         exc, aside.name)  # fmt: skip
            return False
        sim.exchange.__dict__.update(stored["exchange"])
        sim.exchange.restored()
        sim.delist_schedule = stored.get("delist_schedule", [])
        self.saved_ticks = sim.exchange.ticks
        logger.info(
            "simulator state loaded from %s: %d accounts, %d orders",
            self.path,
            len(sim.exchange.accounts),
            sum(len(a.orders) for a in sim.exchange.accounts.values()),
        )
        return True

    async def persist(self, sim: Any) -> None:
        """Return once a snapshot taken after this call is on disk (the caller's change
        with it). Callers that come while one is written share the next one."""
        loop = asyncio.get_running_loop()
        if self._next is None:
            self._next = loop.create_future()
        waiting = self._next
        if self._writer is None:
            self._writer = loop.create_task(self._write_pending(sim))
        await asyncio.shield(waiting)

    async def _write_pending(self, sim: Any) -> None:
        loop = asyncio.get_running_loop()
        try:
            while self._next is not None:
                done, self._next = self._next, None
                # Taken here, in the event loop: no request changes the state meanwhile.
                data = self._dumps(sim)
                try:
                    await loop.run_in_executor(None, self._write, data)
                except Exception as exc:  # noqa: BLE001 - handed to the requests waiting
                    done.set_exception(exc)
                else:
                    done.set_result(None)
        finally:
            self._writer = None

    def save(self, sim: Any) -> None:
        self._write(self._dumps(sim))

    def _dumps(self, sim: Any) -> bytes:
        exchange = {k: v for k, v in sim.exchange.__dict__.items() if k not in NOT_STORED}
        self.saved_ticks = sim.exchange.ticks
        return pickle.dumps(
            {"format": FORMAT, "exchange": exchange, "delist_schedule": sim.delist_schedule},
            protocol=pickle.HIGHEST_PROTOCOL,
        )

    def _write(self, data: bytes) -> None:
        self.directory.mkdir(parents=True, exist_ok=True, mode=0o700)
        descriptor, temporary = tempfile.mkstemp(dir=self.directory, prefix=".state-")
        try:
            with os.fdopen(descriptor, "wb") as file:
                file.write(data)
                file.flush()
                os.fsync(file.fileno())
            os.replace(temporary, self.path)
        except BaseException:
            Path(temporary).unlink(missing_ok=True)
            raise
        self.saved_at = time.monotonic()

    def save_if_moved(self, sim: Any) -> None:
        """The periodic save: only when the market ticked since the last one."""
        if sim.exchange.ticks != self.saved_ticks:
            self.save(sim)
