"""GET /healthz: is every part the platform needs answering?

Checks the database, Redis, a Celery worker consuming the ``orders`` queue, the age
of beat's last heartbeat (common.tasks), and the checks the domain apps add by name
(HEALTH_EXTRA_CHECKS: ``sync``, accounts whose syncs keep failing). 200 when all are
fine, 503 naming the failing parts - a check that names what fails inside it (``sync``:
account id and kind) is listed as ``<part>:<what>``, e.g. ``sync:3:trades``.
Every check has a short timeout so the answer comes in about a second even when
a part is down - a load balancer must not time out on the health check itself.
"""

from __future__ import annotations

import time

import redis
from django.conf import settings
from django.db import DatabaseError, connections
from django.http import JsonResponse
from django.utils.module_loading import import_string
from django.views.decorators.cache import never_cache
from kombu.exceptions import KombuError

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


def check_worker() -> dict:
    """A worker consuming WORKER_QUEUE answers a broadcast within TIMEOUT_SECONDS."""
    from trading_site.celery import app

    connection = app.connection_for_read(
        connect_timeout=TIMEOUT_SECONDS,
        transport_options={
            "socket_connect_timeout": TIMEOUT_SECONDS,
            "socket_timeout": TIMEOUT_SECONDS,
        },
    )
    try:
        with connection:
            # One attempt, no back-off sleeps: a down broker must fail fast.
            connection.ensure_connection(max_retries=1, interval_start=0, timeout=TIMEOUT_SECONDS)
            replies = app.control.inspect(
                timeout=TIMEOUT_SECONDS, connection=connection
            ).active_queues()
    except (KombuError, redis.RedisError, OSError) as exc:
        return {"ok": False, "error": _describe(exc)}
    workers = sorted(
        name
        for name, queues in (replies or {}).items()
        if any(queue.get("name") == WORKER_QUEUE for queue in queues or ())
    )
    if not workers:
        return {"ok": False, "error": f"no worker answered consuming the {WORKER_QUEUE!r} queue"}
    return {"ok": True, "workers": workers}


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
