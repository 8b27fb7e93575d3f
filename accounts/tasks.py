"""Thin Celery tasks of the accounts app: ids in, one service call."""

from __future__ import annotations

from celery import shared_task

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
