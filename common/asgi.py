"""Django's sync views on a fixed set of long-lived threads under ASGI.

Django's ASGI handler runs each request's sync code in a thread-sensitive context of its
own, which asgiref backs with a new single-thread executor: a thread started, and joined
by another thread, for every request, and a database connection fetched anew in it.
Measured on the order POST: about a third of the web process's CPU. ``PersistentThreads``
hands each HTTP request one of ``threads`` long-lived single-thread executors instead
(asgiref's ``ThreadSensitiveContext(executor=...)``: the caller owns the executor, and
Django's own context inside it then uses it). Requests beyond ``threads`` wait for a
free one, as on a threaded WSGI server; websockets are passed through untouched.
"""

from __future__ import annotations

import asyncio
from concurrent.futures import ThreadPoolExecutor

from asgiref.sync import ThreadSensitiveContext


class PersistentThreads:
    def __init__(self, app, *, threads: int):
        if threads < 1:
            raise ValueError("threads must be at least 1")
        self.app = app
        self.threads = threads
        self._executors = [
            ThreadPoolExecutor(max_workers=1, thread_name_prefix=f"http-{n}")
            for n in range(threads)
        ]
        self._free: asyncio.LifoQueue | None = None

    def _queue(self) -> asyncio.LifoQueue:
        if self._free is None:  # made in the server's loop, at the first request
            # Last in, first out: a quiet server keeps using one warm thread (and its
            # database connection).
            self._free = asyncio.LifoQueue()
            for executor in self._executors:
                self._free.put_nowait(executor)
        return self._free

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        free = self._queue()
        executor = await free.get()
        try:
            async with ThreadSensitiveContext(executor=executor):
                await self.app(scope, receive, send)
        finally:
            free.put_nowait(executor)
