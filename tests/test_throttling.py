"""Nothing is unlimited: login attempts per user and per address (django-axes), API
requests per user, webhook alerts per source - each refused with 429, without storing
anything, the right password included once locked."""

from __future__ import annotations

import json
import uuid

import pytest
from rest_framework.test import APIClient

from accounts.tests.factories import UserFactory
from common import throttling

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def own_counters(monkeypatch, settings):
    """Counters of this test only (ids and addresses repeat between tests)."""
    monkeypatch.setattr(throttling, "KEY_PREFIX", f"throttle-{uuid.uuid4().hex}")
    settings.AXES_FAILURE_LIMIT = 3


def unique_address() -> str:
    # One of 65,536 (198.18.0.0/16, set aside for tests): the login lockout counts per
    # address for the whole run, and 250 addresses made tests collide now and then.
    n = uuid.uuid4().int
    return f"198.18.{n % 256}.{(n >> 8) % 256}"


@pytest.mark.parametrize("login_url", ["/login/", "/admin/login/"])
def test_after_too_many_wrong_passwords_even_the_right_one_is_refused(client, login_url):
    user = UserFactory(username=f"u-{uuid.uuid4().hex[:8]}", is_staff=True)
    user.set_password("right-password")
    user.save()
    address = unique_address()

    def attempt(password, address=address):
        return client.post(
            login_url,
            {"username": user.username, "password": password},
            REMOTE_ADDR=address,
        )

    wrong = [attempt("wrong").status_code for _ in range(3)]
    locked = attempt("right-password")
    # Per user name: another address does not help either.
    elsewhere = attempt("right-password", address=unique_address())

    assert wrong == [200, 200, 429]  # the form again with its error; the third locks
    assert locked.status_code == 429
    assert elsewhere.status_code == 429
    assert "_auth_user_id" not in client.session


def test_one_address_trying_many_user_names_is_locked_out(client):
    address = unique_address()
    user = UserFactory(username=f"u-{uuid.uuid4().hex[:8]}")
    user.set_password("right-password")
    user.save()

    for name in ("alice", "bob", "carol"):
        client.post("/login/", {"username": name, "password": "guess"}, REMOTE_ADDR=address)
    locked = client.post(
        "/login/", {"username": user.username, "password": "right-password"}, REMOTE_ADDR=address
    )

    assert locked.status_code == 429


def test_a_right_password_under_the_limit_logs_in(client):
    user = UserFactory(username=f"u-{uuid.uuid4().hex[:8]}")
    user.set_password("right-password")
    user.save()
    address = unique_address()

    client.post("/login/", {"username": user.username, "password": "x"}, REMOTE_ADDR=address)
    response = client.post(
        "/login/", {"username": user.username, "password": "right-password"}, REMOTE_ADDR=address
    )

    assert response.status_code == 302


def test_api_requests_past_the_users_rate_are_429_with_retry_after(settings):
    settings.REST_FRAMEWORK = {
        **settings.REST_FRAMEWORK,
        "DEFAULT_THROTTLE_RATES": {
            **settings.REST_FRAMEWORK["DEFAULT_THROTTLE_RATES"],
            "user": "3/min",
        },
    }
    client = APIClient()
    client.force_authenticate(UserFactory())
    other = APIClient()
    other.force_authenticate(UserFactory())

    statuses = [client.get("/api/orders/").status_code for _ in range(4)]
    refused = client.get("/api/orders/")

    assert statuses == [200, 200, 200, 429]
    assert 1 <= int(refused["Retry-After"]) <= 60
    assert other.get("/api/orders/").status_code == 200  # per user


def test_the_default_rates_are_generous_for_trading_and_tight_for_strangers(settings):
    rates = settings.REST_FRAMEWORK["DEFAULT_THROTTLE_RATES"]

    assert rates["user"] == "6000/min"
    assert rates["anon"] == "120/min"


def test_a_flood_against_one_webhook_source_is_429_and_stores_nothing(client, settings):
    from strategies.models import Signal, SignalSource

    settings.REST_FRAMEWORK = {
        **settings.REST_FRAMEWORK,
        "DEFAULT_THROTTLE_RATES": {
            **settings.REST_FRAMEWORK["DEFAULT_THROTTLE_RATES"],
            "webhook": "5/min",
        },
    }
    source = SignalSource.objects.create(owner=UserFactory(), name="tv", kind="webhook")
    other = SignalSource.objects.create(owner=UserFactory(), name="tv2", kind="webhook")

    def post(to):
        return client.post(
            f"/api/webhooks/tradingview/{to.pk}/",
            data=json.dumps({"secret": "guess", "ticker": "BTCUSDT", "action": "buy"}),
            content_type="application/json",
        )

    statuses = [post(source).status_code for _ in range(8)]
    refused = post(source)

    assert statuses == [403] * 5 + [429] * 3
    assert int(refused["Retry-After"]) >= 1
    assert post(other).status_code == 403  # per source
    assert Signal.objects.count() == 0


def test_counting_fails_open_when_redis_is_down(monkeypatch):
    import redis

    def down(*args, **kwargs):
        raise redis.ConnectionError("Connection refused")

    monkeypatch.setattr(throttling.cache, "incr", down)

    assert throttling.window_hit(scope="user", ident="1", rate="1/min") is None
