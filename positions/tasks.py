"""Thin Celery tasks of the positions app (the `sync` queue)."""

from __future__ import annotations

from celery import shared_task
from celery.signals import worker_ready
from django.conf import settings
from django.core.cache import cache

from positions import services


@shared_task(name="positions.accounts_sync_all", ignore_result=True)
def accounts_sync_all() -> None:
    """Beat: positions and balances of every active account."""
    from accounts.selectors import active_accounts

    for account_id in active_accounts().values_list("pk", flat=True):
        account_sync.delay(account_id)


@shared_task(name="positions.account_sync", ignore_result=True)
def account_sync(account_id: int, job_id: str = "") -> None:
    """Beat's sync of an account, and "sync now" (``job_id``, accounts.jobs)."""
    services.account_sync_run(account_id=account_id, job_id=job_id)


@shared_task(name="positions.prices_refresh", ignore_result=True)
def prices_refresh(account_id: int, job_id: str) -> None:
    """Last prices of the account's venue, for a page that found them cold."""
    services.prices_refresh_run(account_id=account_id, job_id=job_id)


@shared_task(name="positions.candles_refresh", ignore_result=True)
def candles_refresh(account_id: int, symbol: str, timeframe: str, limit: int, job_id: str) -> None:
    """Candles of the account's venue, for a chart."""
    services.candles_refresh_run(
        account_id=account_id, symbol=symbol, timeframe=timeframe, limit=limit, job_id=job_id
    )


@shared_task(name="positions.snapshots_take", ignore_result=True)
def snapshots_take() -> None:
    services.snapshots_take(reference=settings.PORTFOLIO_REFERENCE_ASSET)


@shared_task(name="positions.prices_refresh_all", ignore_result=True)
def prices_refresh_all() -> None:
    """Beat: one ticker call per venue in use, so valuations and the risk gate read warm
    prices and the order path never fetches them."""
    from accounts import gateway
    from accounts.selectors import active_accounts
    from positions.selectors import prices_refresh
    from positions.services import positions_mark

    seen: set[str] = set()
    for account in active_accounts():
        key = gateway.markets_cache_key(account)
        if key not in seen:
            seen.add(key)
            prices_refresh(account)
        if account.market_type == account.MarketType.SPOT:
            positions_mark(account=account)  # spot holdings' marks follow the new prices


@worker_ready.connect(weak=False)
def _warm_prices_on_start(sender=None, **kwargs) -> None:
    # Like beat's every 10 s, once at start: the risk gate reads last prices from the
    # cache, and the first orders after a start should not have to fetch them.
    if cache.add("positions:prices-on-start", 1, timeout=60):
        prices_refresh_all.delay()
