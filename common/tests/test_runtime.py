"""Process plumbing: the per-process Redis client, HTTP on long-lived threads."""

import asyncio
import threading

from asgiref.sync import sync_to_async
from django.core.cache import caches

from common.asgi import PersistentThreads


def test_the_cache_client_is_shared_by_every_context_of_a_process():
    # Django builds a cache object per thread and async context; the connection pool
    # behind them must be one, or every ASGI request opens a new Redis connection.
    clients = []

    def read():
        cache = caches["default"]
        cache.get("anything")
        clients.append(cache._cache)

    threads = [threading.Thread(target=read) for _ in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    read()

    assert len(clients) == 4
    assert all(client is clients[0] for client in clients)


async def _record_thread(scope, receive, send):
    # Django's ASGI handler runs sync code like this: thread-sensitive sync_to_async.
    scope["seen"].append(await sync_to_async(threading.get_ident)())
    if "gate" in scope:
        await scope["gate"].wait()


def test_http_requests_run_on_a_fixed_set_of_long_lived_threads():
    app = PersistentThreads(_record_thread, threads=2)

    async def scenario():
        seen: list[int] = []
        for _ in range(5):  # one after another: always the same first free thread
            await app({"type": "http", "seen": seen}, None, None)
        sequential = set(seen)

        gate = asyncio.Event()
        concurrent: list[int] = []
        requests = [
            asyncio.create_task(app({"type": "http", "seen": concurrent, "gate": gate}, None, None))
            for _ in range(3)
        ]
        while len(concurrent) < 2:  # two run at once; the third waits for a free thread
            await asyncio.sleep(0.001)
        running_together = len(concurrent)
        gate.set()
        await asyncio.gather(*requests)
        return sequential, running_together, concurrent

    sequential, running_together, concurrent = asyncio.run(scenario())

    assert len(sequential) == 1
    assert running_together == 2
    assert len(concurrent) == 3 and len(set(concurrent)) == 2
    assert threading.get_ident() not in set(concurrent)


def test_websockets_pass_through_without_taking_a_thread():
    calls = []

    async def app(scope, receive, send):
        calls.append(scope["type"])

    asyncio.run(PersistentThreads(app, threads=1)({"type": "websocket"}, None, None))

    assert calls == ["websocket"]


def test_cache_operations_reuse_one_redis_client():
    cache = caches["default"]
    cache.set("runtime-test", 1)
    first = cache._cache.get_client(write=True)

    assert cache.get("runtime-test") == 1
    assert cache._cache.get_client(write=True) is first


def test_a_bad_web_threads_setting_stops_the_web_with_a_message_that_names_it():
    import os
    import subprocess
    import sys

    env = {**os.environ, "WEB_THREADS": "0", "DJANGO_SETTINGS_MODULE": "trading_site.settings.test"}
    run = subprocess.run(
        [sys.executable, "-c", "import trading_site.asgi"],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )

    assert run.returncode != 0
    assert "WEB_THREADS must be a whole number of request threads, 1 or more; got '0'" in run.stderr
