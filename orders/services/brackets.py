"""Brackets and one-cancels-the-other, emulated over plain orders.

A bracket entry carries its stop-loss and take-profit prices. Each time the entry's
filled amount grows, the new amount is protected by a stop-loss / take-profit pair,
reduce-only, linked as one-cancels-the-other: when one of the pair fills (even in part),
the other is cancelled. Partially filled entries are so protected for what they filled.

Derivatives emulate the pair: the venue holds both reduce-only conditional orders at
once (they lock no margin) and we cancel the other when one fills. On spot each order
would lock the same coins, so a spot pair goes out as the venue's own OCO list
(orders.services.send): the coins are locked once and the venue expires the other
order itself.
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

    Idempotent: the amount already protected is the sum over existing children of one
    role (the stop-loss, or the take-profit when there is no stop), so running it twice
    (or for a duplicate update) creates nothing more. Children are stored ``pending``
    and sent on commit like any order.
    """
    created: list[Order] = []
    with transaction.atomic():
        entry = Order.objects.select_for_update().select_related("account").get(pk=entry.pk)
        if entry.stop_loss_price is None and entry.take_profit_price is None:
            return created
        counted = entry.children.filter(
            role=Order.Role.STOP_LOSS
            if entry.stop_loss_price is not None
            else Order.Role.TAKE_PROFIT
        )
        protected = counted.aggregate(total=Sum("amount"))["total"] or Decimal(0)
        missing = entry.filled - protected
        if missing <= 0:
            return created
        generation = counted.count()
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
        if entry.take_profit_price is not None:
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
        for child in created:
            events.record_created(order=child, actor=SYSTEM)
            if contract or child.linked_id is None or child.role == Order.Role.STOP_LOSS:
                # A spot pair's take-profit goes out with its stop-loss, as one list.
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
    """One of a pair filled (in part): cancel the other. Idempotent. A spot pair is the
    venue's own OCO list: the venue expires the other order, and says so."""
    sibling = order.linked
    if sibling is None or sibling.status in TERMINAL or not _is_contract(order):
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
