"""Thin Celery tasks of the positions app (the `sync` queue)."""

from __future__ import annotations

from celery import shared_task
from django.conf import settings

from accounts.models import ExchangeAccount
from positions import services


@shared_task(name="positions.accounts_sync_all", ignore_result=True)
def accounts_sync_all() -> None:
    """Beat: positions and balances of every active account."""
    from accounts.selectors import active_accounts

    for account_id in active_accounts().values_list("pk", flat=True):
        account_sync.delay(account_id)


@shared_task(name="positions.account_sync", ignore_result=True)
def account_sync(account_id: int) -> None:
    account = ExchangeAccount.objects.filter(pk=account_id, is_active=True).first()
    if account is not None:
        services.account_sync(account=account)


@shared_task(name="positions.snapshots_take", ignore_result=True)
def snapshots_take() -> None:
    services.snapshots_take(reference=settings.PORTFOLIO_REFERENCE_ASSET)
