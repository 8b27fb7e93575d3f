"""GET /healthz: is every part the platform needs answering?

Checks the database, Redis, the age of the last heartbeat of a Celery worker consuming
the ``orders`` queue (each worker stamps one in the cache every few seconds), the age
of beat's last heartbeat (common.tasks), and the checks the domain apps add by name
(HEALTH_EXTRA_CHECKS: ``sync``, accounts whose syncs keep failing). 200 when all are
fine, 503 naming the failing parts - a check that names what fails inside it (``sync``:
account id and kind) is listed as ``<part>:<what>``, e.g. ``sync:3:trades``.
Every check reads state kept fresh in the background (no broadcast, no waiting on a
worker): the answer takes milliseconds, so an unauthenticated caller cannot tie up the
web's request threads with it. Reads have a short timeout for a Redis that hangs.
Worker host names are not shown: /healthz answers anyone.
"""

from __future__ import annotations

import time

import redis
from django.conf import settings
from django.core.cache import cache
from django.db import DatabaseError, connections
from django.http import JsonResponse
from django.utils.module_loading import import_string
from django.views.decorators.cache import never_cache

from common.tasks import beat_last_sent

# The queue whose consumer matters most: orders wait on it.
WORKER_QUEUE = "orders"
TIMEOUT_SECONDS = 1.0


def check_database() -> dict:
    try:
        with connections["default"].cursor() as cursor:
            cursor.execute("SELECT 1")
    except DatabaseError as exc:
        return {"ok": False, "error": _describe(exc)}
    return {"ok": True}


def check_redis() -> dict:
    client = redis.Redis.from_url(
        settings.REDIS_URL,
        socket_timeout=TIMEOUT_SECONDS,
        socket_connect_timeout=TIMEOUT_SECONDS,
    )
    try:
        client.ping()
    except redis.RedisError as exc:
        return {"ok": False, "error": _describe(exc)}
    finally:
        client.close()
    return {"ok": True}


def worker_heartbeat_key(queue: str) -> str:
    return f"health:queue:{queue}:consumed_at"


def record_worker_heartbeat(queues) -> None:
    """A worker consuming ``queues`` is alive now (its consumer's timer calls this every
    HEALTH_WORKER_HEARTBEAT_SECONDS; trading_site.celery)."""
    now = time.time()
    cache.set_many({worker_heartbeat_key(queue): now for queue in queues}, timeout=None)


def check_worker() -> dict:
    """A worker consuming WORKER_QUEUE stamped its heartbeat within
    HEALTH_WORKER_MAX_AGE_SECONDS: one cache read, no broadcast to the workers (a
    broadcast waits for replies, and /healthz answers anyone)."""
    max_age = settings.HEALTH_WORKER_MAX_AGE_SECONDS
    try:
        last = cache.get(worker_heartbeat_key(WORKER_QUEUE))
    except redis.RedisError as exc:
        return {"ok": False, "error": _describe(exc)}
    if last is None:
        return {"ok": False, "error": f"no worker consuming {WORKER_QUEUE!r} has reported"}
    age = max(0.0, time.time() - last)
    result = {"ok": age <= max_age, "last_heartbeat_age_seconds": round(age, 1)}
    if not result["ok"]:
        result["error"] = f"no worker consuming {WORKER_QUEUE!r} reported in {max_age} s"
    return result


def check_beat() -> dict:
    max_age = settings.HEALTH_BEAT_MAX_AGE_SECONDS
    try:
        last_sent = beat_last_sent()
    except redis.RedisError as exc:
        return {"ok": False, "error": _describe(exc)}
    if last_sent is None:
        return {"ok": False, "error": "beat has not sent a heartbeat yet"}
    age = max(0.0, time.time() - last_sent)
    result = {"ok": age <= max_age, "last_heartbeat_age_seconds": round(age, 1)}
    if not result["ok"]:
        result["error"] = f"beat's last heartbeat is older than {max_age} s"
    return result


CHECKS = {
    "database": check_database,
    "redis": check_redis,
    "worker": check_worker,
    "beat": check_beat,
}


def all_checks() -> dict:
    # The domain apps' checks by dotted path: common imports no app (they import it).
    extra = {name: import_string(path) for name, path in settings.HEALTH_EXTRA_CHECKS.items()}
    return {**CHECKS, **extra}


@never_cache
def healthz(request):
    checks = {name: check() for name, check in all_checks().items()}
    failing = [
        f"{name}:{part}" if "failing" in result else name
        for name, result in checks.items()
        if not result["ok"]
        for part in result.get("failing") or [None]
    ]
    body = {"status": "fail" if failing else "ok", "checks": checks}
    if failing:
        body["failing"] = failing
    return JsonResponse(body, status=503 if failing else 200)


def _describe(exc: Exception) -> str:
    # The class and message only: connection errors carry host and port, never passwords.
    return f"{type(exc).__name__}: {exc}"[:300]
