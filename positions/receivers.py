"""What the positions app does when the orders app records fills (connected in apps.py)."""

from __future__ import annotations

import logging

from django.dispatch import receiver

from orders.signals import fills_committed

logger = logging.getLogger(__name__)


@receiver(fills_committed, dispatch_uid="positions.apply_fills")
def apply_fills(sender, *, account_id: int, **kwargs) -> None:
    from positions.services import positions_apply_fills

    try:
        positions_apply_fills(account_id=account_id)
    except Exception:  # the fills are committed; the beat sync applies them again later
        logger.exception("applying fills of account %s to positions failed", account_id)
