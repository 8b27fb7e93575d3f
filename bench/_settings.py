"""Settings of ``bench/order_pipeline.py``: ``local`` with DEBUG off and Redis of its own.

The platform puts broker, channel layer and cache on databases 0-2 of ``REDIS_URL``'s
server (and request budgets on 3), whatever database the URL names. A benchmark on the
same server as a development instance or a test run would share their ``orders`` queue
(their worker would take its tasks), so the bench moves broker, layer and cache to
databases of its own and prefixes its request-budget keys (database 3 is fixed in
accounts.ratelimit). Everything else is ``local`` as ``make run`` uses it.
"""

from __future__ import annotations

from bench._common import BENCH_RATE_LIMIT_PREFIX, BENCH_REDIS_DBS
from trading_site.settings.local import *  # noqa: F403
from trading_site.settings.local import REDIS_URL

# Flushed by the bench at start and at exit: nothing else may use them.
BROKER_DB, LAYER_DB, CACHE_DB = BENCH_REDIS_DBS

DEBUG = False

_base = REDIS_URL.rstrip("/")
if _base.rsplit("/", 1)[-1].isdigit():
    _base = _base.rsplit("/", 1)[0]
CELERY_BROKER_URL = f"{_base}/{BROKER_DB}"
CHANNEL_LAYERS = {
    "default": {
        "BACKEND": "channels_redis.core.RedisChannelLayer",
        # As the platform's own (settings.base): a read timeout that outlasts the
        # layer's 5 s blocking receive, or an idle socket dies every ~6 s.
        "CONFIG": {
            "hosts": [
                {
                    "address": f"{_base}/{LAYER_DB}",
                    "socket_timeout": 15,
                    "socket_connect_timeout": 2,
                }
            ]
        },
    }
}
CACHES = {
    "default": {
        "BACKEND": "common.cache.RedisCache",
        "LOCATION": f"{_base}/{CACHE_DB}",
        "KEY_PREFIX": "bench",
        "OPTIONS": {"socket_connect_timeout": 1, "socket_timeout": 1},
    }
}
EXCHANGE_RATE_LIMIT_KEY_PREFIX = BENCH_RATE_LIMIT_PREFIX
