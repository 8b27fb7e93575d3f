"""What the positions app does when the orders app records fills (connected in apps.py)."""

from __future__ import annotations

import logging

from django.dispatch import receiver

from orders.signals import fills_committed, order_lost, protection_placed, protection_refused

logger = logging.getLogger(__name__)


@receiver(fills_committed, dispatch_uid="positions.apply_fills")
def apply_fills(sender, *, account_id: int, **kwargs) -> None:
    from positions.services import positions_apply_fills

    try:
        positions_apply_fills(account_id=account_id)
    except Exception:  # the fills are committed; the beat sync applies them again later
        logger.exception("applying fills of account %s to positions failed", account_id)


@receiver(order_lost, dispatch_uid="positions.order_lost_drift")
def record_order_drift(
    sender, *, account_id: int, client_order_id: str, ours: str, theirs: str, detected_at, **kw
) -> None:
    """An order we held open that the exchange does not know is a drift like any other:
    one row, in the transaction that closed the order."""
    from positions.services import _drift

    _drift(
        account_id=account_id,
        kind="order",
        subject=client_order_id,
        field="status",
        ours=ours,
        theirs=theirs,
        at=detected_at,
    )


@receiver(protection_placed, dispatch_uid="positions.protection_placed")
def mark_protected(sender, *, account_id: int, symbol: str, side: str, reason: str, **kwargs):
    from positions.services import position_protection_placed

    try:
        position_protection_placed(account_id=account_id, symbol=symbol, side=side, reason=reason)
    except Exception:  # the stop and target are placed; only the display lags
        logger.exception("marking %s %s protected failed", symbol, side)


@receiver(protection_refused, dispatch_uid="positions.protection_refused")
def protection_lost(sender, *, account_id: int, symbol: str, side: str, reason: str, **kwargs):
    from positions.services import position_protection_refused

    # Not caught: a failure here fails the follow-up task loudly, in its log.
    position_protection_refused(account_id=account_id, symbol=symbol, side=side, reason=reason)
