"""Publish to the dashboard only after the change is committed (never on rollback).

Sending to the channel layer from synchronous code with ``async_to_sync`` builds an
event loop and a Redis connection for every message - milliseconds each, on the path
that applies exchange updates. Instead each process keeps one publisher: a daemon
thread running an event loop that takes messages from a queue and sends them in the
order they were committed. ``broadcast`` only enqueues; it never blocks on Redis and a
failed push never fails the committed work. (The in-memory layer of the tests is
delivered at once, in the caller's thread, so tests can read what was sent.)
"""

from __future__ import annotations

import asyncio
import logging
import os
import threading

from asgiref.sync import async_to_sync
from channels.layers import InMemoryChannelLayer, get_channel_layer
from django.db import transaction

logger = logging.getLogger(__name__)


class _Publisher:
    def __init__(self):
        self.pid = os.getpid()
        self.loop = asyncio.new_event_loop()
        self.queue: asyncio.Queue | None = None
        ready = threading.Event()
        self.thread = threading.Thread(
            target=self._run, args=(ready,), daemon=True, name="channel-layer-publisher"
        )
        self.thread.start()
        ready.wait(5)

    def _run(self, ready: threading.Event) -> None:
        asyncio.set_event_loop(self.loop)
        self.queue = asyncio.Queue()
        self.loop.call_soon(ready.set)
        self.loop.run_until_complete(self._send_forever())

    async def _send_forever(self) -> None:
        while True:
            layer, group, message = await self.queue.get()
            try:
                await layer.group_send(group, message)
            except Exception:  # a dashboard push must never fail the committed work
                logger.warning(
                    "could not publish %s to %s", message.get("event"), group, exc_info=True
                )

    def submit(self, layer, group: str, message: dict) -> None:
        self.loop.call_soon_threadsafe(self.queue.put_nowait, (layer, group, message))


_publisher: _Publisher | None = None
_publisher_lock = threading.Lock()


def _current_publisher() -> _Publisher:
    global _publisher
    with _publisher_lock:
        # A forked child (Celery's pool) inherits the object but not its thread.
        if _publisher is None or _publisher.pid != os.getpid():
            _publisher = _Publisher()
        return _publisher


def broadcast(*, group: str, event: str, payload: dict) -> None:
    layer = get_channel_layer()
    if layer is None:
        return
    message = {"type": "platform.event", "event": event, "payload": payload}
    if isinstance(layer, InMemoryChannelLayer):
        try:
            async_to_sync(layer.group_send)(group, message)
        except Exception:  # a dashboard push must never fail the committed work
            logger.warning("could not publish %s to %s", event, group, exc_info=True)
        return
    _current_publisher().submit(layer, group, message)


def broadcast_on_commit(*, group: str, event: str, payload: dict) -> None:
    """Send ``event`` to ``group`` when the current transaction commits.

    ``payload`` must already be JSON-ready (built by an API output serializer).
    """
    transaction.on_commit(lambda: broadcast(group=group, event=event, payload=payload))
