"""The accounts part of /healthz (common.health runs it by name: HEALTH_EXTRA_CHECKS)."""

from __future__ import annotations

from django.conf import settings
from django.db import DatabaseError

from accounts.models import ExchangeSyncState

# The syncs our records depend on; a failing connection check or stream shows elsewhere.
WATCHED_KINDS = (
    ExchangeSyncState.Kind.TRADES,
    ExchangeSyncState.Kind.ORDERS,
    ExchangeSyncState.Kind.POSITIONS,
    ExchangeSyncState.Kind.BALANCES,
)


def check_syncs() -> dict:
    """Fails while an active account's sync has failed HEALTH_SYNC_MAX_ERRORS times or
    more in a row, naming each as ``<account id>:<kind>`` (``failing``). The error texts
    stay out: /healthz answers anyone, they are on the account's sync state and alert."""
    threshold = settings.HEALTH_SYNC_MAX_ERRORS
    try:
        rows = list(
            ExchangeSyncState.objects.filter(
                account__is_active=True,
                kind__in=WATCHED_KINDS,
                consecutive_errors__gte=threshold,
            )
            .order_by("account_id", "kind")
            .values_list("account_id", "kind", "consecutive_errors")
        )
    except DatabaseError as exc:
        return {"ok": False, "error": f"{type(exc).__name__}: {exc}"[:300]}
    if not rows:
        return {"ok": True}
    return {
        "ok": False,
        "error": f"{len(rows)} sync(s) failed {threshold} or more times in a row",
        "failing": [f"{account_id}:{kind}" for account_id, kind, _ in rows],
        "consecutive_errors": {f"{a}:{k}": n for a, k, n in rows},
    }
