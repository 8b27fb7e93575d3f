"""Thin Celery tasks of the risk app."""

from __future__ import annotations

from celery import shared_task

from accounts.models import ExchangeAccount
from common.tasks import exclusive


@shared_task(name="risk.breakers_check_all", ignore_result=True)
def breakers_check_all() -> None:
    """Beat: every active account's breakers, whether it trades or not."""
    from accounts.selectors import active_accounts

    for account_id in active_accounts().values_list("pk", flat=True):
        breakers_check.delay(account_id)


@shared_task(name="risk.breakers_check", ignore_result=True)
def breakers_check(account_id: int) -> None:
    from risk.services import breakers_check as check

    account = ExchangeAccount.objects.filter(pk=account_id, is_active=True).first()
    if account is None:
        return
    with exclusive(f"breakers_check:{account_id}", seconds=60) as mine:
        if mine:
            check(account=account)
