"""Thin Celery tasks of market data: ids and plain values in, one service call."""

from __future__ import annotations

import logging

from celery import shared_task
from django.core.cache import cache

from accounts.models import ExchangeAccount
from marketdata import services

logger = logging.getLogger(__name__)

PROGRESS_SECONDS = 3600


def backfill_progress_key(account_id: int, symbol: str, timeframe: str) -> str:
    return f"marketdata:backfill:{account_id}:{symbol}:{timeframe}"


@shared_task(name="marketdata.candles_backfill", ignore_result=True, time_limit=3 * 3600)
def candles_backfill(
    account_id: int, symbol: str, timeframe: str, since_ms: int, until_ms: int | None = None
) -> None:
    """On the sync queue. Its progress is in the cache under ``backfill_progress_key``
    (fraction, candles stored, requests, phase) and in the log at every tenth."""
    account = ExchangeAccount.objects.filter(pk=account_id).first()
    if account is None:
        return
    key = backfill_progress_key(account_id, symbol, timeframe)
    logged = [-1]

    def report(progress: services.BackfillProgress) -> None:
        state = {
            "fraction": round(progress.fraction, 4),
            "stored": progress.stored,
            "requests": progress.requests,
            "phase": progress.phase,
        }
        cache.set(key, state, timeout=PROGRESS_SECONDS)
        tenth = int(progress.fraction * 10)
        if tenth != logged[0]:
            logged[0] = tenth
            logger.info("backfill %s %s %s: %s", account_id, symbol, timeframe, state)

    result = services.candles_backfill(
        account=account,
        symbol=symbol,
        timeframe=timeframe,
        since=since_ms,
        until=until_ms,
        progress=report,
    )
    cache.set(
        key,
        {
            "fraction": 1.0,
            "stored": result.stored,
            "requests": result.requests,
            "phase": "done",
            "gaps_filled": result.gaps_filled,
            "missing": result.missing,
        },
        timeout=PROGRESS_SECONDS,
    )
