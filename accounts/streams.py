"""One account's private websocket stream, shared by every app that listens to it.

The streams process runs one ``AccountStream`` per active account, with one ccxt.pro
client (Binance delivers orders, trades, balances and positions over one user-data
connection). What to watch comes from the apps: each contributes ``StreamLoop``s (a
ccxt.pro ``watch_*`` method and a function that applies what it returns) and a
catch-up function run after every reconnect (settings.STREAM_LOOPS). When the
connection drops the stream reconnects with jittered backoff, runs the catch-ups
(REST), and records its state, heartbeats and reconnects on ExchangeSyncState.
"""

from __future__ import annotations

import asyncio
import logging
import random
from collections.abc import Callable
from dataclasses import dataclass

import ccxt
from asgiref.sync import sync_to_async
from django.conf import settings
from django.utils import timezone
from django.utils.module_loading import import_string

from accounts import gateway
from accounts.errors import classify
from accounts.models import ExchangeAccount, ExchangeSyncState

logger = logging.getLogger(__name__)

HEARTBEAT_SECONDS = 15.0
MAX_BACKOFF_SECONDS = 30.0


@dataclass(frozen=True)
class StreamLoop:
    method: str  # a ccxt.pro watch_* method, e.g. "watch_orders"
    apply: Callable[[ExchangeAccount, list], None]  # sync; runs in a thread
    applies_to: Callable[[ExchangeAccount], bool] = lambda account: True
    # The client attribute where ccxt.pro keeps what ``method`` returns (an ArrayCache:
    # "orders", "myTrades", "positions"), read for updates that arrived while we applied.
    cache: str = ""


def unread(client: ccxt.Exchange, attribute: str) -> list:
    """What the client's cache received since the watch last returned.

    ccxt.pro resolves a ``watch_*`` call when a message arrives; a message that arrives
    while nobody awaits (we were applying the previous delivery, or the websocket reader
    handled a burst before our coroutine resumed) resolves no one. Its rows wait in the
    cache, counted as new, until the next message - which may never come: the last
    updates of a burst (a stop triggering, filling, finishing) stayed unapplied until the
    next poll. The count is the cache's own (the same ``getLimit`` that ``watch_*`` uses
    to return only new rows); ``_clear_all_updates`` is how the cache marks that nothing
    came since it was last read (ccxt 4.5, pinned)."""
    cache = getattr(client, attribute, None) if attribute else None
    if cache is None or getattr(cache, "_clear_all_updates", True):
        return []
    limit = cache.getLimit(None, None)
    return list(cache)[-limit:] if limit else []


@dataclass(frozen=True)
class StreamApp:
    loops: tuple[StreamLoop, ...]
    catch_up: Callable[[int], None] | None = None  # sync; after a reconnect


def configured_apps() -> list[StreamApp]:
    return [import_string(path) for path in settings.STREAM_APPS]


def _record_state(account_id: int, **fields) -> None:
    state, _ = ExchangeSyncState.objects.get_or_create(
        account_id=account_id, kind=ExchangeSyncState.Kind.STREAM
    )
    if fields.pop("reconnected", False):
        fields["ws_reconnects"] = state.ws_reconnects + 1
    ExchangeSyncState.objects.filter(pk=state.pk).update(**fields)


class AccountStream:
    """Watches one account until cancelled. Reconnects by itself; never raises."""

    def __init__(self, account_id: int, apps: list[StreamApp] | None = None):
        self.account_id = account_id
        self.apps = apps if apps is not None else configured_apps()
        self.attempt = 0

    async def run(self) -> None:
        while True:
            account = await sync_to_async(
                ExchangeAccount.objects.filter(pk=self.account_id, is_active=True).first
            )()
            if account is None:
                return
            client = await sync_to_async(gateway.build_client)(account, pro=True)
            try:
                await self.watch(account, client)
            except asyncio.CancelledError:
                await self.mark(ws_connected=False, last_error="stopped")
                raise
            except Exception as exc:  # noqa: BLE001 - every failure means: reconnect
                failure = classify(exc)
                logger.warning("stream of account %s lost: %s", self.account_id, failure)
                await self.mark(ws_connected=False, last_error=str(failure))
            finally:
                await client.close()
            self.attempt += 1
            delay = random.uniform(0, min(MAX_BACKOFF_SECONDS, 2.0**self.attempt))  # noqa: S311
            await asyncio.sleep(delay)

    async def mark(self, **fields) -> None:
        await sync_to_async(_record_state)(self.account_id, **fields)

    async def watch(self, account: ExchangeAccount, client: ccxt.Exchange) -> None:
        if self.attempt:
            # Whatever happened while we were away comes in through REST, once.
            for app in self.apps:
                if app.catch_up is not None:
                    await sync_to_async(app.catch_up)(self.account_id)
        tasks = [
            asyncio.create_task(self.loop(account, client, loop), name=loop.method)
            for app in self.apps
            for loop in app.loops
            if loop.applies_to(account)
        ]
        tasks.append(asyncio.create_task(self.heartbeat(client), name="heartbeat"))
        try:
            done, _ = await asyncio.wait(tasks, return_when=asyncio.FIRST_EXCEPTION)
            for task in done:
                task.result()  # re-raise the failure that ended the watch
        finally:
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)

    async def loop(self, account: ExchangeAccount, client: ccxt.Exchange, loop: StreamLoop) -> None:
        watch = getattr(client, loop.method)
        while True:
            payloads = await watch()
            while payloads:
                data = payloads if isinstance(payloads, dict) else list(payloads)
                await sync_to_async(loop.apply)(account, data)
                payloads = unread(client, loop.cache)

    async def heartbeat(self, client: ccxt.Exchange) -> None:
        announced = False
        while True:
            # ccxt.pro keeps its websocket clients by URL, and some bookkeeping beside them
            # under other keys (Binance's "authenticationFlights").
            sockets = [
                socket
                for url, socket in client.clients.items()
                if url.startswith(("ws://", "wss://"))
            ]
            up = bool(sockets) and all(
                socket.connected.done()
                and not socket.connected.cancelled()
                and socket.connected.exception() is None
                for socket in sockets
            )
            now = timezone.now()
            if up and not announced:
                await self.mark(
                    ws_connected=True,
                    ws_last_heartbeat_at=now,
                    last_error="",
                    last_success_at=now,
                    reconnected=self.attempt > 0,
                )
                self.attempt = 0
                announced = True
                logger.info("stream of account %s connected", self.account_id)
            elif up:
                await self.mark(ws_connected=True, ws_last_heartbeat_at=now)
            await asyncio.sleep(HEARTBEAT_SECONDS if announced else 0.05)


async def watch_account(account_id: int) -> None:
    """The streams process's watcher for one account."""
    await AccountStream(account_id).run()
