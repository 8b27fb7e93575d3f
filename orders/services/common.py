"""Helpers shared by the order services: publishing and small lookups."""

from __future__ import annotations

from orders.models import Fill, Order
from realtime.groups import account_group
from realtime.publish import broadcast_on_commit

# Who caused a change, as recorded on each OrderEvent.
WORKER = "worker"
STREAM = "stream"
POLL = "poll"
RECONCILE = "reconcile"
SYSTEM = "system"


def user_actor(user) -> str:
    return f"user:{user.pk}" if user is not None and user.pk else SYSTEM


def publish_order(order: Order) -> None:
    """``order.updated`` to the account's dashboard group, when the transaction commits."""
    from orders.api.serializers import OrderOutput

    broadcast_on_commit(
        group=account_group(order.account_id),
        event="order.updated",
        payload=OrderOutput(order).data,
    )


def publish_fills(fills: list[Fill]) -> None:
    from orders.api.serializers import FillOutput

    for fill in fills:
        broadcast_on_commit(
            group=account_group(fill.account_id),
            event="fill.created",
            payload=FillOutput(fill).data,
        )
