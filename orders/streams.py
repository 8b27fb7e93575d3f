"""Private websocket streams of one account: order and trade updates, as they happen.

Runs inside the ``streams`` process (one asyncio task per active account). ccxt.pro's
``watch_orders`` and ``watch_my_trades`` feed the same merge services as REST polling,
so an update that arrives twice, late, or out of order does no harm. When the
connection drops, the watcher reconnects with backoff and asks for a REST poll of the
account, which brings in whatever happened while it was away.
"""

from __future__ import annotations

import asyncio
import logging
import random

import ccxt
from asgiref.sync import sync_to_async
from django.utils import timezone

from accounts import gateway
from accounts.errors import classify
from accounts.models import ExchangeAccount, ExchangeSyncState
from orders import venue
from orders.services.common import STREAM

logger = logging.getLogger(__name__)

HEARTBEAT_SECONDS = 15.0
MAX_BACKOFF_SECONDS = 30.0


def _apply_orders(account: ExchangeAccount, payloads: list[dict]) -> None:
    from orders.services import order_apply_update

    for payload in payloads:
        order_apply_update(account=account, update=venue.parse_order(payload), actor=STREAM)


def _apply_trades(account: ExchangeAccount, payloads: list[dict]) -> None:
    from orders.services import fills_record

    fills_record(account=account, trades=[venue.parse_trade(t) for t in payloads], actor=STREAM)


def _record_state(account_id: int, **fields) -> None:
    state, _ = ExchangeSyncState.objects.get_or_create(
        account_id=account_id, kind=ExchangeSyncState.Kind.STREAM
    )
    if fields.pop("reconnected", False):
        fields["ws_reconnects"] = state.ws_reconnects + 1
    ExchangeSyncState.objects.filter(pk=state.pk).update(**fields)


def _poll(account_id: int) -> None:
    from orders.services import orders_poll

    orders_poll(account_id=account_id)


class AccountStream:
    """Watches one account until cancelled. Reconnects by itself; never raises."""

    def __init__(self, account_id: int):
        self.account_id = account_id
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
            await sync_to_async(_poll)(self.account_id)
        orders = asyncio.create_task(self.watch_orders(account, client))
        trades = asyncio.create_task(self.watch_trades(account, client))
        beat = asyncio.create_task(self.heartbeat(client))
        try:
            done, _ = await asyncio.wait(
                {orders, trades, beat}, return_when=asyncio.FIRST_EXCEPTION
            )
            for task in done:
                task.result()  # re-raise the failure that ended the watch
        finally:
            for task in (orders, trades, beat):
                task.cancel()
            await asyncio.gather(orders, trades, beat, return_exceptions=True)

    async def connected(self, client: ccxt.Exchange) -> None:
        now = timezone.now()
        await self.mark(
            ws_connected=True,
            ws_last_heartbeat_at=now,
            last_error="",
            last_success_at=now,
            reconnected=self.attempt > 0,
        )
        self.attempt = 0
        logger.info("stream of account %s connected", self.account_id)

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
            if up and not announced:
                await self.connected(client)
                announced = True
            elif up:
                await self.mark(ws_connected=True, ws_last_heartbeat_at=timezone.now())
            await asyncio.sleep(HEARTBEAT_SECONDS if announced else 0.05)

    async def watch_orders(self, account: ExchangeAccount, client: ccxt.Exchange) -> None:
        while True:
            payloads = await client.watch_orders()
            if payloads:
                await sync_to_async(_apply_orders)(account, list(payloads))

    async def watch_trades(self, account: ExchangeAccount, client: ccxt.Exchange) -> None:
        while True:
            payloads = await client.watch_my_trades()
            if payloads:
                await sync_to_async(_apply_trades)(account, list(payloads))


async def watch_account(account_id: int) -> None:
    """The streams process's watcher for one account (see common.management.commands)."""
    await AccountStream(account_id).run()
