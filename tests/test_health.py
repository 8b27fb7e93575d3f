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


@pytest.mark.integration
def test_healthz_is_200_when_database_redis_worker_and_beat_answer(client, orders_worker):
    beat_sent_heartbeat()

    response = client.get("/healthz")

    body = response.json()
    assert response.status_code == 200, body
    assert body["status"] == "ok"
    assert set(body["checks"]) == {"database", "redis", "worker", "beat"}
    assert all(check["ok"] for check in body["checks"].values())
    assert orders_worker in body["checks"]["worker"]["workers"]
    assert body["checks"]["beat"]["last_heartbeat_age_seconds"] < 5


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
    client, orders_worker, monkeypatch
):
    monkeypatch.setattr(health, "WORKER_QUEUE", "a-queue-nobody-consumes")
    beat_sent_heartbeat()

    response = client.get("/healthz")

    body = response.json()
    assert response.status_code == 503
    assert body["failing"] == ["worker"]
