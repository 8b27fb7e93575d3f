"""Open websocket connections, what each one listens to, and the fan-out of engine events.

The hub is an engine listener (see :mod:`simulator.engine.events`): it runs on the event
loop inside the engine's call, so it never awaits. Each event is turned into Binance's
JSON once and put on the send queue of every connection that wants it; one task per
connection (``pump``) writes its queue to the socket. A connection whose queue overflows
is closed, as Binance drops a consumer that cannot keep up.

Balance and position changes are coalesced: the engine reports them piecemeal (the lock,
then each fill), and Binance sends one ``outboundAccountPosition`` / ``ACCOUNT_UPDATE``
per account update, so they are collected and sent once the engine call returns
(``loop.call_soon``) with the values of that moment. Tickers are coalesced the same way.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import threading
from collections import defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from aiohttp import WSCloseCode, web

from ..config import FUTURES, SPOT
from ..engine.events import (
    AlgoOrderUpdated,
    BalanceChanged,
    BookChanged,
    Event,
    KlineUpdated,
    MarkPriceUpdated,
    OrderUpdated,
    PositionChanged,
    PublicTrade,
)
from ..engine.market import KLINE_INTERVALS_MS
from . import payloads

if TYPE_CHECKING:
    from ..server import Simulator

logger = logging.getLogger(__name__)

SEND_QUEUE_LIMIT = 10_000
DEPTH_SUFFIXES = ("@depth", "@depth@100ms", "@depth@250ms", "@depth@500ms", "@depth@0ms")
MARKET = "market"  # market streams (SUBSCRIBE / UNSUBSCRIBE)
USER = "user"  # a listenKey user-data stream: events unwrapped
API = "api"  # the websocket API: user data wrapped in {"subscriptionId", "event"}


def dumps(data: Any) -> str:
    return json.dumps(data, separators=(",", ":"))


@dataclass(eq=False)
class Connection:
    id: int
    path: str
    kind: str
    venue: str
    ws: web.WebSocketResponse
    transport: asyncio.BaseTransport | None
    opened_at: int
    queue: asyncio.Queue[str | None] = field(
        default_factory=lambda: asyncio.Queue(SEND_QUEUE_LIMIT)
    )
    streams: set[str] = field(default_factory=set)
    # User-data subscriptions: subscription id (None on a listenKey stream) -> account id.
    subscriptions: dict[int | None, str] = field(default_factory=dict)
    next_subscription_id: int = 0
    closed: bool = False

    @property
    def account_ids(self) -> set[str]:
        return set(self.subscriptions.values())

    def describe(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "path": self.path,
            "kind": self.kind,
            "venue": self.venue,
            "account_ids": sorted(self.account_ids),
            "subscriptions": sorted(k for k in self.subscriptions if k is not None),
            "streams": sorted(self.streams),
            "queued": self.queue.qsize(),
            "opened_at": self.opened_at,
        }


@dataclass
class _PendingAccount:
    assets: set[str] = field(default_factory=set)
    symbols: set[str] = field(default_factory=set)
    reason: str = "ORDER"


class Hub:
    def __init__(self, sim: Simulator) -> None:
        self.sim = sim
        self.connections: dict[int, Connection] = {}
        self.opened_total = 0
        self.dropped_total = 0
        self._next_id = 1
        self._streams: dict[tuple[str, str], set[Connection]] = defaultdict(set)
        self._users: dict[tuple[str, str], list[tuple[Connection, int | None]]] = defaultdict(list)
        self._pending_accounts: dict[tuple[str, str], _PendingAccount] = {}
        self._pending_tickers: set[tuple[str, str]] = set()
        self._flush_handle: asyncio.Handle | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread_id: int | None = None
        self._exchange = sim.exchange
        self._tasks: set[asyncio.Task[None]] = set()

    # ------------------------------------------------------------------ lifecycle
    def bind(self, loop: asyncio.AbstractEventLoop) -> None:
        self._loop = loop
        self._thread_id = threading.get_ident()

    def check_reset(self) -> int:
        """After ``Simulator.reset()`` (a fresh venue: accounts, keys and book update ids
        start over) close every connection, as a venue restart would; returns how many.

        Called by the control API's reset, and lazily on events and control calls for a
        reset done some other way."""
        if self.sim.exchange is self._exchange:
            return 0
        self._exchange = self.sim.exchange
        self._pending_accounts.clear()
        self._pending_tickers.clear()
        stale = list(self.connections.values())
        for conn in stale:
            self.close(conn)  # now: no event of the new venue may reach an old session
            self._spawn(self.disconnect(conn, code=WSCloseCode.SERVICE_RESTART))
        if stale:
            logger.info("venue reset: closing %s websocket connections", len(stale))
        return len(stale)

    def _spawn(self, coro: Any) -> None:
        task = asyncio.ensure_future(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def open(
        self, ws: web.WebSocketResponse, request: web.Request, *, kind: str, venue: str
    ) -> Connection:
        self.check_reset()
        conn = Connection(
            id=self._next_id,
            path=request.path,
            kind=kind,
            venue=venue,
            ws=ws,
            transport=request.transport,
            opened_at=self.sim.exchange.now(),
        )
        self._next_id += 1
        self.opened_total += 1
        self.connections[conn.id] = conn
        logger.info("ws %s open: %s (%s %s)", conn.id, conn.path, kind, venue)
        return conn

    def close(self, conn: Connection) -> None:
        """Forget a connection (idempotent); its pump stops at the end of its queue."""
        if conn.closed:
            return
        conn.closed = True
        self.connections.pop(conn.id, None)
        for name in conn.streams:
            subscribers = self._streams.get((conn.venue, name))
            if subscribers is not None:
                subscribers.discard(conn)
                if not subscribers:
                    del self._streams[(conn.venue, name)]
        for sub_id in list(conn.subscriptions):
            self.unsubscribe_user(conn, sub_id)
        with contextlib.suppress(asyncio.QueueFull):
            conn.queue.put_nowait(None)
        logger.info("ws %s closed: %s", conn.id, conn.path)

    async def disconnect(
        self, conn: Connection, *, mode: str = "close", code: int = WSCloseCode.GOING_AWAY
    ) -> None:
        """Drop a connection as the venue would: a close frame, or (``abort``) a dead socket."""
        self.close(conn)
        if mode == "abort":
            if conn.transport is not None:
                conn.transport.abort()
            return
        with contextlib.suppress(Exception):
            await conn.ws.close(code=code, message=b"dropped by the simulator")

    async def drop(
        self, *, account_id: str | None = None, path: str | None = None, mode: str = "close"
    ) -> int:
        self.check_reset()
        chosen = [
            c
            for c in list(self.connections.values())
            if (account_id is None or account_id in c.account_ids)
            and (path is None or c.path.startswith(path))
        ]
        self.dropped_total += len(chosen)
        await asyncio.gather(*(self.disconnect(c, mode=mode) for c in chosen))
        logger.info("ws drop (account %s, path %s): %s connections", account_id, path, len(chosen))
        return len(chosen)

    def stats(self) -> dict[str, Any]:
        self.check_reset()
        by_path: dict[str, int] = defaultdict(int)
        for conn in self.connections.values():
            by_path[conn.path] += 1
        return {
            "count": len(self.connections),
            "opened_total": self.opened_total,
            "dropped_total": self.dropped_total,
            "by_path": dict(sorted(by_path.items())),
            "connections": [c.describe() for c in self.connections.values()],
        }

    # ------------------------------------------------------------------ subscriptions
    def subscribe_streams(self, conn: Connection, names: Iterable[str]) -> None:
        for name in names:
            conn.streams.add(name)
            self._streams[(conn.venue, name)].add(conn)

    def unsubscribe_streams(self, conn: Connection, names: Iterable[str]) -> None:
        for name in names:
            conn.streams.discard(name)
            subscribers = self._streams.get((conn.venue, name))
            if subscribers is not None:
                subscribers.discard(conn)
                if not subscribers:
                    del self._streams[(conn.venue, name)]

    def subscribe_user(self, conn: Connection, account_id: str, sub_id: int | None) -> None:
        conn.subscriptions[sub_id] = account_id
        self._users[(conn.venue, account_id)].append((conn, sub_id))

    def unsubscribe_user(self, conn: Connection, sub_id: int | None) -> bool:
        account_id = conn.subscriptions.pop(sub_id, None)
        if account_id is None:
            return False
        key = (conn.venue, account_id)
        remaining = [s for s in self._users.get(key, ()) if s != (conn, sub_id)]
        if remaining:
            self._users[key] = remaining
        else:
            self._users.pop(key, None)
        return True

    # ------------------------------------------------------------------ sending
    def push(self, conn: Connection, text: str) -> None:
        if conn.closed:
            return
        try:
            conn.queue.put_nowait(text)
        except asyncio.QueueFull:
            logger.warning("ws %s: send queue full, dropping the slow consumer", conn.id)
            self.dropped_total += 1
            self.close(conn)
            self._spawn(self.disconnect(conn, mode="abort"))

    def _send_user(self, venue: str, account_id: str, build: Callable[[], dict[str, Any]]) -> None:
        subscribers = self._users.get((venue, account_id))
        if not subscribers:
            return
        payload = build()
        plain_text: str | None = None
        for conn, sub_id in list(subscribers):
            if sub_id is None:
                plain_text = plain_text or dumps(payload)
                self.push(conn, plain_text)
            else:
                self.push(conn, dumps({"subscriptionId": sub_id, "event": payload}))

    def _send_streams(self, venue: str, names: Iterable[str], build: Callable[[], Any]) -> None:
        targets: set[Connection] = set()
        for name in names:
            subscribers = self._streams.get((venue, name))
            if subscribers:
                targets |= subscribers
        if not targets:
            return
        text = dumps(build())
        for conn in targets:
            self.push(conn, text)

    def _has_streams(self, venue: str, names: Iterable[str]) -> bool:
        return any((venue, name) in self._streams for name in names)

    # ------------------------------------------------------------------ engine events
    def on_event(self, event: Event) -> None:
        """The engine listener: never blocks, never awaits."""
        if not self.connections:
            return
        if self._loop is not None and threading.get_ident() != self._thread_id:
            # Driven from another thread (a test poking the engine): hop onto the loop.
            self._loop.call_soon_threadsafe(self._dispatch, event)
            return
        self._dispatch(event)

    def _dispatch(self, event: Event) -> None:
        if self.check_reset():
            return  # the event belongs to the fresh venue; its old sessions are closing
        self._route(event)

    def _route(self, event: Event) -> None:
        if isinstance(event, BookChanged):
            lower = event.symbol.lower()
            self._send_streams(
                event.venue,
                [lower + s for s in DEPTH_SUFFIXES],
                lambda: payloads.depth_update(event),
            )
            self._ticker_dirty(event.venue, event.symbol)
        elif isinstance(event, OrderUpdated):
            if event.execution_type == "TRIGGERED":
                return  # a spot stop starting to work: Binance sends no report for it
            build = (
                payloads.execution_report if event.venue == SPOT else payloads.order_trade_update
            )
            self._send_user(event.venue, event.account_id, lambda: build(event))
        elif isinstance(event, BalanceChanged):
            pending = self._pending(event.venue, event.account_id)
            if pending is not None:
                pending.assets.update(event.assets)
                if event.reason == "FUNDING":
                    pending.reason = "DEPOSIT"
        elif isinstance(event, PositionChanged):
            pending = self._pending(FUTURES, event.account_id)
            if pending is not None:
                pending.symbols.add(event.position.symbol)
        elif isinstance(event, AlgoOrderUpdated):
            self._send_user(FUTURES, event.account_id, lambda: payloads.algo_update(event))
        elif isinstance(event, PublicTrade):
            lower = event.symbol.lower()
            self._send_streams(event.venue, [lower + "@trade"], lambda: payloads.trade(event))
            self._send_streams(
                event.venue, [lower + "@aggTrade"], lambda: payloads.agg_trade(event)
            )
            self._ticker_dirty(event.venue, event.symbol)
        elif isinstance(event, KlineUpdated):
            # Every interval Binance streams, each aggregated from the 1m series as REST's
            # klines are - built only for intervals somebody subscribed to.
            mkt = self.sim.exchange.market(event.venue, event.symbol)
            stream = event.symbol.lower() + "@kline_"
            for interval, interval_ms in KLINE_INTERVALS_MS.items():
                self._send_streams(
                    event.venue,
                    [stream + interval],
                    lambda interval=interval, interval_ms=interval_ms: payloads.kline(
                        event, interval, mkt.current_kline(interval_ms) or event.candle
                    ),
                )
        elif isinstance(event, MarkPriceUpdated):
            lower = event.symbol.lower()
            self._send_streams(
                FUTURES,
                [lower + "@markPrice", lower + "@markPrice@1s"],
                lambda: payloads.mark_price(event),
            )
            self._send_streams(
                FUTURES,
                ["!markPrice@arr", "!markPrice@arr@1s"],
                lambda: [payloads.mark_price(event)],
            )

    def _pending(self, venue: str, account_id: str) -> _PendingAccount | None:
        if (venue, account_id) not in self._users:
            return None
        pending = self._pending_accounts.get((venue, account_id))
        if pending is None:
            pending = self._pending_accounts[(venue, account_id)] = _PendingAccount()
            self._schedule_flush()
        return pending

    def _ticker_dirty(self, venue: str, symbol: str) -> None:
        lower = symbol.lower()
        names = (
            lower + "@ticker",
            lower + "@miniTicker",
            lower + "@bookTicker",
            "!ticker@arr",
            "!miniTicker@arr",
            "!bookTicker",
        )
        if self._has_streams(venue, names):
            self._pending_tickers.add((venue, symbol))
            self._schedule_flush()

    def _schedule_flush(self) -> None:
        if self._flush_handle is None:
            loop = self._loop or asyncio.get_running_loop()
            self._flush_handle = loop.call_soon(self._flush)

    def _flush(self) -> None:
        self._flush_handle = None
        exchange = self.sim.exchange
        now = exchange.now()
        accounts, self._pending_accounts = self._pending_accounts, {}
        for (venue, account_id), pending in accounts.items():
            if account_id not in exchange.accounts:
                continue
            if venue == SPOT:
                self._send_user(
                    venue,
                    account_id,
                    lambda a=account_id, p=pending: payloads.outbound_account_position(
                        exchange, a, p.assets, now
                    ),
                )
            else:
                self._send_user(
                    venue,
                    account_id,
                    lambda a=account_id, p=pending: payloads.account_update(
                        exchange, a, p.assets, p.symbols, p.reason, now
                    ),
                )
        tickers, self._pending_tickers = self._pending_tickers, set()
        by_venue: dict[str, list[dict[str, Any]]] = defaultdict(list)
        for venue, symbol in sorted(tickers):
            mkt = exchange.markets.get(venue, {}).get(symbol)
            if mkt is None:
                continue
            lower = symbol.lower()
            full = payloads.ticker(mkt, now)
            by_venue[venue].append(full)
            self._send_streams(venue, [lower + "@ticker"], lambda f=full: f)
            self._send_streams(
                venue, [lower + "@miniTicker"], lambda f=full: payloads.mini_ticker(f)
            )
            self._send_streams(
                venue,
                [lower + "@bookTicker", "!bookTicker"],
                lambda m=mkt: payloads.book_ticker(m, now),
            )
        for venue, rows in by_venue.items():
            self._send_streams(venue, ["!ticker@arr"], lambda r=rows: r)
            self._send_streams(
                venue, ["!miniTicker@arr"], lambda r=rows: [payloads.mini_ticker(f) for f in r]
            )


async def pump(conn: Connection) -> None:
    """Write a connection's queue to its socket until the hub closes it."""
    while True:
        text = await conn.queue.get()
        if text is None:
            return
        try:
            await conn.ws.send_str(text)
        except (ConnectionError, RuntimeError) as exc:
            logger.info("ws %s: send failed (%s)", conn.id, exc)
            return
