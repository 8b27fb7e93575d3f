"""Brackets and one-cancels-the-other, emulated over plain orders.

A bracket entry carries its stop-loss and take-profit prices. Each time the entry's
filled amount grows, the new amount is protected by a stop-loss / take-profit pair,
reduce-only, linked as one-cancels-the-other: when one of the pair fills (even in part),
the other is cancelled. Partially filled entries are so protected for what they filled.

Emulation needs the venue to hold both orders of a pair at once: true for derivatives
(reduce-only conditional orders lock no margin). On spot each would lock the same base
asset, so spot brackets place the stop-loss only, and say so on the entry.
"""

from __future__ import annotations

import logging
from decimal import Decimal

from django.db import transaction
from django.db.models import Sum

from orders import events, tasks, venue
from orders.models import Order
from orders.services.cancel import order_cancel
from orders.services.common import SYSTEM, publish_order
from orders.states import TERMINAL, Status

logger = logging.getLogger(__name__)

CHILD_ROLES = (Order.Role.STOP_LOSS, Order.Role.TAKE_PROFIT)


def order_followups(*, order_id: int) -> None:
    """Work that follows an order's fill or end: protect a bracket entry, settle an OCO."""
    order = Order.objects.select_related("account").filter(pk=order_id).first()
    if order is None:
        return
    if order.role == Order.Role.ENTRY:
        bracket_protect(entry=order)
    elif order.role in CHILD_ROLES and (order.filled > 0 or order.status == Status.FILLED):
        oco_settle(order=order)


def _is_contract(order: Order) -> bool:
    return order.account.market_type != order.account.MarketType.SPOT


def bracket_protect(*, entry: Order) -> list[Order]:
    """Create the protective orders the entry's filled amount still lacks.

    Idempotent: the amount already protected is the sum over existing stop-loss
    children, so running it twice (or for a duplicate update) creates nothing more.
    Children are stored ``pending`` and sent on commit like any order.
    """
    created: list[Order] = []
    with transaction.atomic():
        entry = Order.objects.select_for_update().select_related("account").get(pk=entry.pk)
        protected = entry.children.filter(role=Order.Role.STOP_LOSS).aggregate(total=Sum("amount"))[
            "total"
        ] or Decimal(0)
        missing = entry.filled - protected
        if missing <= 0 or (entry.stop_loss_price is None and entry.take_profit_price is None):
            return created
        generation = entry.children.filter(role=Order.Role.STOP_LOSS).count()
        exit_side = "sell" if entry.side == "buy" else "buy"
        contract = _is_contract(entry)
        stop = take = None
        if entry.stop_loss_price is not None:
            stop = _child(
                entry,
                Order.Role.STOP_LOSS,
                "stop_market",
                exit_side,
                missing,
                entry.stop_loss_price,
                generation,
            )
            created.append(stop)
        if entry.take_profit_price is not None and (contract or stop is None):
            take = _child(
                entry,
                Order.Role.TAKE_PROFIT,
                "take_profit_market",
                exit_side,
                missing,
                entry.take_profit_price,
                generation,
            )
            created.append(take)
        if stop is not None and take is not None:
            stop.linked = take
            stop.save(update_fields=["linked"])
            take.linked = stop
            take.save(update_fields=["linked"])
        elif entry.take_profit_price is not None and not contract and generation == 0:
            events.record_status(
                order=entry,
                type="order.bracket_note",
                old_status=entry.status,
                actor=SYSTEM,
                reason="spot: only the stop-loss is placed; a take-profit would lock the same "
                "coins twice",
            )
        for child in created:
            events.record_created(order=child, actor=SYSTEM)
            tasks.order_send.delay_on_commit(child.pk)
            publish_order(child)
    return created


def _child(
    entry: Order,
    role: str,
    type: str,
    side: str,
    amount: Decimal,
    trigger: Decimal,
    generation: int,
) -> Order:
    return Order.objects.create(
        account=entry.account,
        symbol=entry.symbol,
        side=side,
        type=type,
        amount=amount,
        remaining=amount,
        stop_price=trigger,
        reduce_only=True,
        client_order_id=venue.child_client_order_id(entry.client_order_id, role, generation),
        status=Status.PENDING,
        origin=Order.Origin.SYSTEM,
        parent=entry,
        group_kind=Order.GroupKind.OCO
        if entry.take_profit_price and entry.stop_loss_price
        else Order.GroupKind.BRACKET,
        role=role,
        created_by=entry.created_by,
    )


def oco_settle(*, order: Order) -> None:
    """One of a pair filled (in part): cancel the other. Idempotent."""
    sibling = order.linked
    if sibling is None or sibling.status in TERMINAL:
        return
    if sibling.status in (Status.PENDING, Status.OPEN, Status.PARTIALLY_FILLED):
        order_cancel(
            order=sibling,
            actor=SYSTEM,
            reason=f"one-cancels-the-other: {order.role} {order.client_order_id} filled",
        )
    elif sibling.status in (Status.SUBMITTING, Status.UNKNOWN):
        # Not answered yet: try again once the venue has told us where it stands.
        tasks.order_followups.apply_async((order.pk,), countdown=1.0)
