"""Password checks are bounded per process (common/backends.py): a login that finds them
all busy is a 429 at once, never a request thread waiting on a hash."""

from __future__ import annotations

import json
import uuid

import pytest
from rest_framework.test import APIClient

from accounts.tests.factories import UserFactory
from common.backends import password_checks

pytestmark = pytest.mark.django_db


@pytest.fixture
def user():
    user = UserFactory(username=f"u-{uuid.uuid4().hex[:8]}")
    user.set_password("right-password")
    user.save()
    return user


@pytest.fixture
def busy(settings):
    """Every permit taken, as by logins being checked in other request threads."""
    settings.LOGIN_CONCURRENT_CHECKS = 1
    checks = password_checks()
    assert checks.acquire(blocking=False)
    yield
    checks.release()


def _address() -> str:
    # One of 65,536 (198.18.0.0/16, set aside for tests): the login lockout counts per
    # address for the whole run, and 250 addresses made tests collide now and then.
    n = uuid.uuid4().int
    return f"198.18.{n % 256}.{(n >> 8) % 256}"


@pytest.mark.parametrize("login_url", ["/login/", "/admin/login/"])
def test_a_login_while_passwords_are_being_checked_is_429_at_once(client, user, busy, login_url):
    user.is_staff = True
    user.save()

    response = client.post(
        login_url,
        {"username": user.username, "password": "right-password"},
        REMOTE_ADDR=_address(),
    )

    assert response.status_code == 429
    assert response["Retry-After"] == "1"
    assert "_auth_user_id" not in client.session


def test_a_token_request_while_passwords_are_being_checked_is_429_json(user, busy):
    response = APIClient().post(
        "/api/tokens/",
        json.dumps({"username": user.username, "password": "right-password"}),
        content_type="application/json",
        REMOTE_ADDR=_address(),
    )

    assert response.status_code == 429
    assert response["Retry-After"] == "1"
    assert "at once" in response.json()["detail"]


def test_with_a_permit_free_the_login_goes_through_and_gives_it_back(client, user, settings):
    settings.LOGIN_CONCURRENT_CHECKS = 1

    response = client.post(
        "/login/", {"username": user.username, "password": "right-password"}, REMOTE_ADDR=_address()
    )

    assert response.status_code == 302
    assert password_checks().acquire(blocking=False)  # released after the check
    password_checks().release()
