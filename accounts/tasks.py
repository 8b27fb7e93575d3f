"""Thin Celery tasks of the accounts app: ids in, one service call."""

from __future__ import annotations

from celery import shared_task
from celery.signals import worker_ready
from django.core.cache import cache

from accounts import services
from accounts.models import ExchangeAccount


@shared_task(name="accounts.account_check_connection", ignore_result=True)
def account_check_connection(account_id: int) -> None:
    account = ExchangeAccount.objects.filter(pk=account_id).first()
    if account is not None:
        services.account_check_connection(account=account)


@shared_task(name="accounts.markets_refresh", ignore_result=True)
def markets_refresh() -> None:
    services.markets_refresh()


@worker_ready.connect(weak=False)
def _warm_markets_on_start(sender=None, **kwargs) -> None:
    # The order path reads markets from the cache (the web never loads ccxt for them);
    # beat refreshes them hourly, so a fresh start fills the cache at once. One worker
    # of many does it.
    if cache.add("accounts:markets-on-start", 1, timeout=60):
        markets_refresh.delay()
