"""Idle sessions end: a login lasts while its user does something.

A session of a logged-in user carries the time of its last activity (a request the user
made - not one the dashboard makes by itself to refresh what a push announced, marked
with ``BACKGROUND_HEADER``). Past ``SESSION_IDLE_SECONDS`` without one it is over:
``SessionIdleTimeoutMiddleware`` (common.middleware) logs it out at its next request and
the dashboard's socket closes itself at the deadline (realtime.consumers). The stamp is
rewritten at most every ``ACTIVITY_RESOLUTION`` seconds, so an active session costs one
session write a minute, not one per request; SESSION_COOKIE_AGE equals the idle time,
so the stored session and its cookie expire with it too.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from importlib import import_module

from django.conf import settings
from django.contrib.auth import SESSION_KEY

LAST_ACTIVITY = "_last_activity"
# Sent by the dashboard's own refreshes (static/dashboard/api.js): not the user's doing.
BACKGROUND_HEADER = "X-Background-Refresh"
ACTIVITY_RESOLUTION = 60


def idle_deadline(session: Mapping) -> float | None:
    """When ``session`` (its data) counts as idle, in epoch seconds; None without a
    stamp (a session from before the timeout existed: it gets one at its next request)."""
    last = session.get(LAST_ACTIVITY)
    return None if last is None else float(last) + settings.SESSION_IDLE_SECONDS


def is_idle(session: Mapping, now: float | None = None) -> bool:
    deadline = idle_deadline(session)
    return deadline is not None and (time.time() if now is None else now) >= deadline


def note_activity(session, now: float | None = None) -> None:
    """Stamp ``session`` as active now, unless it was stamped less than
    ACTIVITY_RESOLUTION seconds ago (marks it modified: the session middleware saves it,
    moving its expiry and its cookie's)."""
    now = time.time() if now is None else now
    last = session.get(LAST_ACTIVITY)
    if last is None or now - float(last) >= ACTIVITY_RESOLUTION:
        session[LAST_ACTIVITY] = int(now)


def stored_deadline(session_key: str, user_pk) -> float | None:
    """The idle deadline of the stored session ``session_key`` if it still logs in
    ``user_pk``, else None (logged out, expired, deleted, or another user's by now)."""
    store = import_module(settings.SESSION_ENGINE).SessionStore(session_key=session_key)
    data = store.load()
    if data.get(SESSION_KEY) != str(user_pk):
        return None
    return idle_deadline(data) or time.time() + settings.SESSION_IDLE_SECONDS
