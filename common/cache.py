"""Django's Redis cache with one client (and connection pool) per process.

Django keeps cache objects per thread *and per async context*. Under ASGI every request
runs in a context of its own, so the stock backend builds a new client - and opens a new
Redis connection - on each request: measured at about 1 ms of an order POST, the cache
read of last prices on the risk gate's path. And for every operation it builds a new
``redis.Redis`` around the pool (some 170 response callbacks set up each time). The
client is thread-safe, and redis-py's pool reconnects after a fork by itself, so one
client per process, and one ``redis.Redis`` per pool, is enough.
"""

from __future__ import annotations

import threading

from django.core.cache.backends.redis import RedisCache as DjangoRedisCache
from django.core.cache.backends.redis import RedisCacheClient
from django.utils.functional import cached_property

_clients: dict[tuple, object] = {}
_lock = threading.Lock()


class _Client(RedisCacheClient):
    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self._redis: dict[object, object] = {}

    def get_client(self, key=None, *, write=False):
        pool = self._get_connection_pool(write)
        client = self._redis.get(pool)
        if client is None:
            client = self._redis[pool] = self._client(connection_pool=pool)
        return client


class RedisCache(DjangoRedisCache):
    def __init__(self, server, params):
        super().__init__(server, params)
        self._class = _Client

    @cached_property
    def _cache(self):
        key = (self._class, tuple(self._servers), repr(sorted(self._options.items())))
        with _lock:
            client = _clients.get(key)
            if client is None:
                client = _clients[key] = self._class(self._servers, **self._options)
        return client
