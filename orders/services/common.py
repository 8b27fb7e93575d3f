"""Helpers shared by the order services: publishing and small lookups."""

from __future__ import annotations

from datetime import datetime, timedelta

from django.db import transaction
from django.utils import timezone

from common.api import represent
from orders import events
from orders.models import Fill, Order
from orders.states import Status
from realtime.groups import account_group
from realtime.publish import broadcast_on_commit

# Who caused a change, as recorded on each OrderEvent.
WORKER = "worker"
STREAM = "stream"
POLL = "poll"
RECONCILE = "reconcile"
SYSTEM = "system"


def due_in(seconds: float, *, now: datetime | None = None) -> datetime:
    """The ``next_step_at`` of a step due in ``seconds``: what the sweep goes by when the
    task that was to perform it is lost (a countdown dies with its worker)."""
    return (now or timezone.now()) + timedelta(seconds=seconds)


def order_step_done(order: Order, *, expected_at: datetime | None) -> None:
    """Clear ``next_step_at`` if it still is what the finished step set: a step scheduled
    meanwhile by someone else (a retry, a new cancel request) stays."""
    if expected_at is not None:
        Order.objects.filter(pk=order.pk, next_step_at=expected_at).update(next_step_at=None)


def user_actor(user) -> str:
    return f"user:{user.pk}" if user is not None and user.pk else SYSTEM


def publish_order(order: Order) -> None:
    """``order.updated`` to the account's dashboard group, when the transaction commits."""
    from orders.api.serializers import OrderOutput

    broadcast_on_commit(
        group=account_group(order.account_id),
        event="order.updated",
        payload=represent(OrderOutput, order),
    )


def publish_fills(fills: list[Fill]) -> None:
    from orders.api.serializers import FillOutput

    for fill in fills:
        broadcast_on_commit(
            group=account_group(fill.account_id),
            event="fill.created",
            payload=represent(FillOutput, fill),
        )


def order_transition(
    order: Order,
    *,
    expected: Status,
    target: Status,
    event: str,
    reason: str = "",
    actor: str = WORKER,
    **fields,
) -> bool:
    """Move ``order`` from ``expected`` to ``target`` if it is still there: a conditional
    UPDATE checked by row count, its audit event and dashboard push in the same
    transaction. Returns whether it moved (False: someone else moved it first)."""
    now = timezone.now()
    with transaction.atomic():
        changed = Order.objects.filter(pk=order.pk, status=expected).update(
            status=target, status_reason=reason, updated_at=now, **fields
        )
        if changed != 1:
            return False
        order.refresh_from_db()
        events.record_status(
            order=order, type=event, old_status=expected, actor=actor, reason=reason
        )
        publish_order(order)
    return True
