"""Publish to the dashboard only after the change is committed (never on rollback)."""

from __future__ import annotations

import logging

from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer
from django.db import transaction

logger = logging.getLogger(__name__)


def broadcast(*, group: str, event: str, payload: dict) -> None:
    layer = get_channel_layer()
    if layer is None:
        return
    try:
        async_to_sync(layer.group_send)(
            group, {"type": "platform.event", "event": event, "payload": payload}
        )
    except Exception:  # a dashboard push must never fail the committed work
        logger.warning("could not publish %s to %s", event, group, exc_info=True)


def broadcast_on_commit(*, group: str, event: str, payload: dict) -> None:
    """Send ``event`` to ``group`` when the current transaction commits.

    ``payload`` must already be JSON-ready (built by an API output serializer).
    """
    transaction.on_commit(lambda: broadcast(group=group, event=event, payload=payload))
