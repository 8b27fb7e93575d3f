"""GET /healthz against a real database, Redis and Celery worker."""

from __future__ import annotations

import socket
import time

import pytest
from django.core.cache import cache

from common import health
from common.tasks import BEAT_HEARTBEAT_CACHE_KEY, beat_heartbeat
from trading_site.celery import app

pytestmark = pytest.mark.django_db


def closed_port_url() -> str:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return f"redis://127.0.0.1:{port}/0"


def beat_sent_heartbeat() -> None:
    # What beat does every 10 s: publishing the task records beat's time.
    beat_heartbeat.apply_async(expires=30)


def timed_get(client, path="/healthz"):
    client.get(path)  # a process's first request loads the URLconf and middleware (~150 ms)
    started = time.monotonic()
    response = client.get(path)
    return response, time.monotonic() - started


@pytest.fixture
def heartbeating_worker(start_worker, settings):
    """A real worker consuming ``orders`` whose heartbeat this test process can read."""
    return start_worker(TEST_CACHE_KEY_PREFIX=settings.CACHES["default"]["KEY_PREFIX"])


@pytest.mark.integration
def test_healthz_is_200_when_database_redis_worker_and_beat_answer(
    client, heartbeating_worker, wait_for
):
    beat_sent_heartbeat()
    wait_for(
        lambda: cache.get(health.worker_heartbeat_key("orders")) is not None,
        timeout=30,
        message="the worker's first heartbeat",
    )

    response, elapsed = timed_get(client)

    body = response.json()
    assert response.status_code == 200, body
    assert body["status"] == "ok"
    assert set(body["checks"]) == {"database", "redis", "worker", "beat", "sync"}
    assert all(check["ok"] for check in body["checks"].values())
    assert body["checks"]["worker"]["last_heartbeat_age_seconds"] < 30
    assert body["checks"]["beat"]["last_heartbeat_age_seconds"] < 5
    # No broadcast waited on: the old inspect() took a full second every time.
    assert elapsed < 0.1
    assert heartbeating_worker.hostname.split("@")[0] not in response.content.decode()


def test_healthz_answers_in_milliseconds_naming_the_worker_when_none_ever_reported(client):
    cache.delete(health.worker_heartbeat_key("orders"))
    beat_sent_heartbeat()

    response, elapsed = timed_get(client)

    body = response.json()
    assert response.status_code == 503
    assert body["failing"] == ["worker"]
    assert "orders" in body["checks"]["worker"]["error"]
    assert elapsed < 0.1


def test_healthz_names_the_orders_worker_when_its_heartbeat_is_stale(client, settings):
    stale = time.time() - settings.HEALTH_WORKER_MAX_AGE_SECONDS - 5
    cache.set(health.worker_heartbeat_key("orders"), stale)
    cache.set(health.worker_heartbeat_key("sync"), time.time())
    beat_sent_heartbeat()

    response, elapsed = timed_get(client)

    body = response.json()
    assert response.status_code == 503
    assert body["failing"] == ["worker"]
    assert body["checks"]["worker"]["last_heartbeat_age_seconds"] > (
        settings.HEALTH_WORKER_MAX_AGE_SECONDS
    )
    assert elapsed < 0.1


def test_healthz_is_503_naming_redis_and_worker_fast_when_redis_is_down(
    client, settings, monkeypatch
):
    dead = closed_port_url()
    settings.REDIS_URL = dead
    monkeypatch.setattr(app.conf, "broker_url", dead)
    beat_sent_heartbeat()

    started = time.monotonic()
    response = client.get("/healthz")
    elapsed = time.monotonic() - started

    body = response.json()
    assert response.status_code == 503
    assert body["status"] == "fail"
    assert {"redis", "worker"} <= set(body["failing"])
    assert "database" not in body["failing"]
    assert "Connection refused" in body["checks"]["redis"]["error"]
    assert elapsed < 5


def test_healthz_is_503_naming_beat_when_its_heartbeat_is_stale(client, settings):
    cache.set(BEAT_HEARTBEAT_CACHE_KEY, time.time() - settings.HEALTH_BEAT_MAX_AGE_SECONDS - 60)

    response = client.get("/healthz")

    body = response.json()
    assert response.status_code == 503
    assert "beat" in body["failing"]
    assert body["checks"]["beat"]["last_heartbeat_age_seconds"] > (
        settings.HEALTH_BEAT_MAX_AGE_SECONDS
    )


def test_healthz_is_503_naming_beat_when_it_never_sent_a_heartbeat(client):
    cache.delete(BEAT_HEARTBEAT_CACHE_KEY)

    body = client.get("/healthz").json()

    assert "beat" in body["failing"]
    assert body["checks"]["beat"]["error"] == "beat has not sent a heartbeat yet"


@pytest.mark.integration
def test_healthz_is_503_naming_worker_when_no_worker_consumes_the_queue(
    client, heartbeating_worker, monkeypatch, wait_for
):
    wait_for(
        lambda: cache.get(health.worker_heartbeat_key("orders")) is not None,
        timeout=30,
        message="the worker's first heartbeat",
    )
    monkeypatch.setattr(health, "WORKER_QUEUE", "a-queue-nobody-consumes")
    beat_sent_heartbeat()

    response = client.get("/healthz")

    body = response.json()
    assert response.status_code == 503
    assert body["failing"] == ["worker"]


def sync_state(account, kind, errors):
    from accounts.models import ExchangeSyncState

    return ExchangeSyncState.objects.create(
        account=account, kind=kind, consecutive_errors=errors, last_error="OperationFailed"
    )


def test_healthz_is_503_naming_the_account_and_kind_of_a_sync_that_keeps_failing(client, settings):
    from accounts.tests.factories import ExchangeAccountFactory

    settings.HEALTH_SYNC_MAX_ERRORS = 3
    failing = ExchangeAccountFactory()
    sync_state(failing, "trades", 3)
    sync_state(failing, "balances", 2)  # not yet
    sync_state(failing, "stream", 9)  # shown by the stream's own state
    sync_state(ExchangeAccountFactory(is_active=False), "trades", 50)  # switched off

    response = client.get("/healthz")

    body = response.json()
    assert response.status_code == 503
    assert [part for part in body["failing"] if part.startswith("sync")] == [
        f"sync:{failing.pk}:trades"
    ]
    assert body["checks"]["sync"]["consecutive_errors"] == {f"{failing.pk}:trades": 3}
    assert "OperationFailed" not in response.content.decode()  # /healthz answers anyone


def test_the_sync_check_is_ok_while_failures_stay_under_the_threshold(settings):
    from accounts.tests.factories import ExchangeAccountFactory

    settings.HEALTH_SYNC_MAX_ERRORS = 3
    sync_state(ExchangeAccountFactory(), "orders", 2)

    assert health.all_checks()["sync"]() == {"ok": True}
