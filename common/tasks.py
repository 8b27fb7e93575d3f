"""Platform-level Celery tasks.

``common.beat_heartbeat`` is sent by beat every few seconds (CELERY_BEAT_SCHEDULE, which
django-celery-beat's DatabaseScheduler writes into its tables at beat start-up). The
moment beat *publishes* it is recorded in the cache, so /healthz measures beat itself,
not the worker that later runs the (empty) task. django-celery-beat's own
``last_run_at`` is synced to the database only every few minutes, too late for a health
check.
"""

from __future__ import annotations

import time
import uuid
from contextlib import contextmanager

from celery import shared_task
from celery.signals import after_task_publish
from django.core.cache import cache

BEAT_HEARTBEAT_TASK = "common.beat_heartbeat"
BEAT_HEARTBEAT_CACHE_KEY = "health:beat:last_sent"


@shared_task(name=BEAT_HEARTBEAT_TASK, ignore_result=True)
def beat_heartbeat() -> None:
    """Nothing to do: the heartbeat is the publish, recorded by ``_record_beat_heartbeat``."""


def beat_last_sent() -> float | None:
    """Unix time at which beat last published its heartbeat, or None if never seen."""
    return cache.get(BEAT_HEARTBEAT_CACHE_KEY)


@after_task_publish.connect(sender=BEAT_HEARTBEAT_TASK, weak=False)
def _record_beat_heartbeat(**kwargs) -> None:
    # Runs in the publishing process (beat), after the broker accepted the message.
    cache.set(BEAT_HEARTBEAT_CACHE_KEY, time.time(), timeout=None)


@contextmanager
def exclusive(name: str, *, seconds: float):
    """Run a periodic job's body at most once at a time across every worker: a lock in
    the cache (Redis), taken with an atomic add and given up at the end, or after
    ``seconds`` if its holder died. Yields whether this caller got it; one that did not
    skips its run (the next period does the work)."""
    key = f"lock:{name}"
    token = uuid.uuid4().hex
    acquired = cache.add(key, token, timeout=seconds)
    try:
        yield acquired
    finally:
        if acquired and cache.get(key) == token:
            cache.delete(key)


def is_held(name: str) -> bool:
    """Whether someone holds ``exclusive(name)`` now (a hint: it may end the next moment)."""
    return cache.get(f"lock:{name}") is not None
