"""Idle sessions end (common/sessions.py): a login idle past SESSION_IDLE_SECONDS is
logged out at its next request; an active one is kept and its expiry moves on; the
dashboard's own background reads keep nothing alive."""

from __future__ import annotations

import time

import pytest
from django.contrib.sessions.models import Session
from django.utils import timezone

from accounts.tests.factories import UserFactory
from common.sessions import ACTIVITY_RESOLUTION, LAST_ACTIVITY

pytestmark = pytest.mark.django_db

IDLE = 8 * 3600
BACKGROUND = {"HTTP_X_BACKGROUND_REFRESH": "1"}


@pytest.fixture
def logged_in(client, settings):
    settings.SESSION_IDLE_SECONDS = IDLE
    client.force_login(UserFactory())
    return client


def _last_active(client, seconds_ago: float) -> None:
    session = client.session
    session[LAST_ACTIVITY] = int(time.time() - seconds_ago)
    session.save()


def test_the_default_idle_time_is_eight_hours_and_the_cookie_lasts_as_long(settings):
    assert settings.SESSION_IDLE_SECONDS == 8 * 3600
    assert settings.SESSION_COOKIE_AGE == settings.SESSION_IDLE_SECONDS


def test_an_idle_session_is_logged_out_at_its_next_request(logged_in):
    _last_active(logged_in, IDLE + 1)
    key = logged_in.session.session_key

    page = logged_in.get("/")
    api = logged_in.get("/api/orders/")

    assert page.status_code == 302
    assert page["Location"].startswith("/login/")
    assert api.status_code == 401
    assert not Session.objects.filter(session_key=key).exists()


def test_an_active_session_is_kept_and_its_expiry_moves_on(logged_in):
    _last_active(logged_in, IDLE - 60)
    before = time.time()

    response = logged_in.get("/orders/")

    assert response.status_code == 200
    session = logged_in.session
    assert session[LAST_ACTIVITY] >= int(before)
    stored = Session.objects.get(session_key=session.session_key)
    assert (stored.expire_date - timezone.now()).total_seconds() > IDLE - 60


def test_the_dashboards_background_reads_are_checked_but_keep_nothing_alive(logged_in):
    _last_active(logged_in, 10 * ACTIVITY_RESOLUTION)
    stamp = logged_in.session[LAST_ACTIVITY]

    refresh = logged_in.get("/api/orders/", **BACKGROUND)

    assert refresh.status_code == 200
    assert logged_in.session[LAST_ACTIVITY] == stamp
    _last_active(logged_in, IDLE + 1)
    assert logged_in.get("/api/orders/", **BACKGROUND).status_code == 401


def test_activity_is_written_at_most_once_a_minute(logged_in):
    _last_active(logged_in, 5)
    recent = logged_in.session[LAST_ACTIVITY]
    logged_in.get("/orders/")
    unchanged = logged_in.session[LAST_ACTIVITY]
    _last_active(logged_in, ACTIVITY_RESOLUTION + 1)
    older = logged_in.session[LAST_ACTIVITY]
    logged_in.get("/orders/")

    assert unchanged == recent
    assert logged_in.session[LAST_ACTIVITY] >= older + ACTIVITY_RESOLUTION


def test_a_login_is_stamped_active(client, settings):
    settings.SESSION_IDLE_SECONDS = IDLE
    user = UserFactory()
    user.set_password("right-password")
    user.save()

    client.post("/login/", {"username": user.username, "password": "right-password"})

    assert client.session[LAST_ACTIVITY] >= int(time.time()) - 5
