"""Thin Celery tasks of the accounts app: ids in, one service call."""

from __future__ import annotations

from celery import shared_task
from celery.signals import worker_ready
from django.core.cache import cache

from accounts import services


@shared_task(name="accounts.account_check_connection", ignore_result=True)
def account_check_connection(account_id: int, job_id: str = "") -> None:
    """A key's check when it is saved, and the connection test a request asked for
    (``job_id``, accounts.jobs)."""
    services.account_connection_test_run(account_id=account_id, job_id=job_id)


@shared_task(name="accounts.markets_refresh", ignore_result=True)
def markets_refresh() -> None:
    services.markets_refresh()


@shared_task(name="accounts.markets_warm", ignore_result=True)
def markets_warm() -> None:
    """Beat, every 30 s, and a worker's start: markets of venues not in the cache yet (a
    new account's). The order path reads them from there - the web never loads ccxt
    for them - and the hourly refresh only keeps them current."""
    services.markets_refresh(missing_only=True)


@worker_ready.connect(weak=False)
def _warm_markets_on_start(sender=None, **kwargs) -> None:
    # One worker of many does it.
    if cache.add("accounts:markets-on-start", 1, timeout=60):
        markets_warm.delay()
