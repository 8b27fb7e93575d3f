"""`manage.py streams`: the long-running exchange stream process.

An asyncio main loop that runs the services of settings.STREAM_SERVICES (public market
data) and keeps one watcher task per active account (accounts.selectors.
active_accounts()), re-reading the list every heartbeat so that accounts added or
deactivated later are picked up. What each account's stream watches comes from the apps
in settings.STREAM_APPS (accounts.streams), so this command depends on no domain app.
SIGTERM and SIGINT stop it cleanly with exit status 0.
"""

from __future__ import annotations

import asyncio
import logging
import signal

from django.conf import settings
from django.core.management.base import BaseCommand
from django.db import DatabaseError
from django.utils.module_loading import import_string

from accounts.selectors import active_accounts
from common.runtime import settle_heap

logger = logging.getLogger("streams")


async def watch_account(account_id: int, label: str) -> None:
    """Run the account's stream, with what every app in STREAM_APPS watches on it."""
    from accounts.streams import AccountStream

    logger.info("watching account %s (%s): %s", account_id, label, ", ".join(settings.STREAM_APPS))
    await AccountStream(account_id).run()


class Streams:
    def __init__(self, *, heartbeat_seconds: float):
        self.heartbeat_seconds = heartbeat_seconds
        self.stopping = asyncio.Event()
        self.stop_reason = ""
        self.watchers: dict[int, asyncio.Task] = {}

    def stop(self, reason: str) -> None:
        self.stop_reason = reason
        self.stopping.set()

    async def run(self) -> None:
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, self.stop, sig.name)
        logger.info("streams started (heartbeat every %s s)", self.heartbeat_seconds)
        beats = 0
        # Services beside the account streams (market data), each until we stop.
        services = [
            asyncio.create_task(import_string(path)(self.stopping), name=path)
            for path in settings.STREAM_SERVICES
        ]
        try:
            while not self.stopping.is_set():
                await self.refresh_watchers()
                beats += 1
                logger.info("heartbeat %d: watching %d account(s)", beats, len(self.watchers))
                try:
                    await asyncio.wait_for(self.stopping.wait(), timeout=self.heartbeat_seconds)
                except TimeoutError:
                    pass
        finally:
            await self.cancel_watchers(list(self.watchers))
            await asyncio.gather(*services, return_exceptions=True)
        logger.info("streams stopped (%s)", self.stop_reason or "loop ended")

    async def refresh_watchers(self) -> None:
        try:
            accounts = {a.pk: a.label async for a in active_accounts().only("pk", "label")}
        except DatabaseError as exc:
            # A database that is migrating or restarting must not kill the streams.
            logger.warning("could not read active accounts: %s", exc)
            return
        await self.cancel_watchers([pk for pk in self.watchers if pk not in accounts])
        for pk, label in accounts.items():
            task = self.watchers.get(pk)
            if task is None or task.done():
                self.watchers[pk] = asyncio.create_task(
                    watch_account(pk, label), name=f"watch-account-{pk}"
                )

    async def cancel_watchers(self, account_ids: list[int]) -> None:
        tasks = [self.watchers.pop(pk) for pk in account_ids]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)


class Command(BaseCommand):
    help = "Run the exchange stream watchers for every active account until SIGTERM/SIGINT."

    def add_arguments(self, parser):
        parser.add_argument(
            "--heartbeat",
            type=float,
            default=30.0,
            help="Seconds between heartbeat log lines and account-list refreshes.",
        )

    def handle(self, *args, heartbeat: float, **options):
        settle_heap()
        asyncio.run(Streams(heartbeat_seconds=heartbeat).run())
