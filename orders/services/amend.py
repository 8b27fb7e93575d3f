"""Amending a resting limit order's price or amount.

Where the venue can modify an order in place (ccxt ``editOrder`` on a contract market:
Binance USD-M's modify keeps the order id), the order is changed in place. Otherwise
(Binance spot's cancelReplace, or no editOrder at all) the order is replaced: a new
order with its own client order id, linked to the old one by ``replaces``, and events
on both. Amendments are requested here and sent by the ``orders.order_amend_send`` task.
"""

from __future__ import annotations

import logging
from decimal import Decimal

from django.db import transaction
from django.utils import timezone

from accounts import gateway
from accounts.errors import Outcome, classify
from common.exceptions import Conflict, ValidationFailed
from orders import events, tasks, venue
from orders.models import Order, OrderEvent
from orders.services.common import WORKER, publish_order
from orders.services.submit import market_rules_for
from orders.services.updates import order_apply_update
from orders.states import Status

logger = logging.getLogger(__name__)

AMENDABLE = (Status.OPEN, Status.PARTIALLY_FILLED)


def order_amend(
    *, order: Order, actor: str, amount: Decimal | None = None, price: Decimal | None = None
) -> Order:
    """Ask for a new price and/or amount on a resting limit order.

    Returns the order that will carry the amendment: the same order when the venue
    modifies in place, else the new replacing order (``pending``). The change is sent on
    commit; until the venue answers, the old values stand.
    """
    if amount is None and price is None:
        raise ValidationFailed("Give a new price, a new amount, or both.")
    if order.type != Order.Type.LIMIT:
        raise ValidationFailed("Only limit orders can be amended; cancel and place a new one.")
    if order.status not in AMENDABLE:
        raise Conflict(f"The order is {order.status}; only a resting order can be amended.")
    rules = market_rules_for(order.account, order.symbol)
    new_amount = rules.round_amount(amount) if amount is not None else order.amount
    new_price = rules.round_price(price) if price is not None else order.price
    if new_amount <= order.filled:
        raise ValidationFailed(
            f"The new amount must be above what has already filled ({order.filled}).",
            extra={"field": "amount"},
        )
    if rules.min_amount is not None and new_amount - order.filled < rules.min_amount:
        raise ValidationFailed(
            f"What would remain ({new_amount - order.filled}) is below the minimum of "
            f"{rules.min_amount} {rules.base}.",
            extra={"field": "amount"},
        )
    if new_price <= 0:
        raise ValidationFailed("price must be greater than zero.", extra={"field": "price"})
    if new_amount == order.amount and new_price == order.price:
        return order
    in_place = order.account.market_type != order.account.MarketType.SPOT and bool(
        gateway.get_client(order.account).has.get("editOrder")
    )
    with transaction.atomic():
        locked = Order.objects.select_for_update().get(pk=order.pk)
        if locked.status not in AMENDABLE:
            raise Conflict(f"The order is {locked.status}; only a resting order can be amended.")
        if in_place:
            event = OrderEvent.objects.create(
                order=locked,
                type="order.amend_requested",
                actor=actor,
                old_status=locked.status,
                new_status=locked.status,
                old_price=locked.price,
                new_price=new_price,
                old_remaining=locked.amount - locked.filled,
                new_remaining=new_amount - locked.filled,
                reason=f"amount {locked.amount} -> {new_amount}, price {locked.price} -> "
                f"{new_price}",
            )
            tasks.order_amend_send.delay_on_commit(event.pk)
            return locked
        if Order.objects.filter(replaces=locked).exists():
            raise Conflict("An amendment of this order is already on its way.")
        replacement = Order.objects.create(
            account=locked.account,
            symbol=locked.symbol,
            side=locked.side,
            type=locked.type,
            time_in_force=locked.time_in_force,
            amount=new_amount - locked.filled,
            remaining=new_amount - locked.filled,
            price=new_price,
            reduce_only=locked.reduce_only,
            post_only=locked.post_only,
            client_order_id=venue.client_order_id(account_id=locked.account_id),
            status=Status.PENDING,
            origin=locked.origin,
            created_by=locked.created_by,
            replaces=locked,
        )
        events.record_created(order=replacement, actor=actor)
        events.record_status(
            order=locked,
            type="order.replace_requested",
            old_status=locked.status,
            actor=actor,
            reason=f"replaced by {replacement.client_order_id}: "
            f"{replacement.amount} @ {replacement.price}",
        )
        tasks.order_replace_send.delay_on_commit(replacement.pk)
        publish_order(replacement)
    return replacement


def order_amend_send(*, event_id: int) -> str:
    """Modify an order in place on the venue (contract markets). Returns done/retry/reconcile."""
    requested = OrderEvent.objects.select_related("order__account").get(pk=event_id)
    order = requested.order
    if order.status not in AMENDABLE:
        return "done"
    account = order.account
    client = gateway.get_client(account, priority="orders")
    new_amount = requested.new_remaining + order.filled
    try:
        answer = client.edit_order(
            order.exchange_order_id,
            order.symbol,
            "limit",
            order.side,
            format(new_amount, "f"),
            format(requested.new_price, "f"),
        )
    except Exception as exc:  # noqa: BLE001 - classified below
        failure = classify(exc, secrets=(client.apiKey or "", client.secret or ""))
        if failure.outcome is Outcome.NOT_SENT:
            return "retry"
        with transaction.atomic():
            events.record_status(
                order=order,
                type="order.amend_failed",
                old_status=order.status,
                actor=WORKER,
                reason=str(failure),
            )
        return "reconcile"
    with transaction.atomic():
        locked = Order.objects.select_for_update().get(pk=order.pk)
        old_price, old_remaining = locked.price, locked.remaining
        locked.amount = new_amount
        locked.price = requested.new_price
        locked.remaining = new_amount - locked.filled
        locked.save(update_fields=["amount", "price", "remaining", "updated_at"])
        OrderEvent.objects.create(
            order=locked,
            type=events.AMENDED,
            actor=WORKER,
            old_status=locked.status,
            new_status=locked.status,
            old_price=old_price,
            new_price=locked.price,
            old_remaining=old_remaining,
            new_remaining=locked.remaining,
            raw=answer.get("info"),
        )
        publish_order(locked)
    if not answer.get("clientOrderId"):
        answer["clientOrderId"] = order.client_order_id
    order_apply_update(account=account, update=venue.parse_order(answer), actor=WORKER)
    return "done"


def order_replace_send(*, order_id: int) -> str:
    """Send a replacing order through the venue's cancel-replace (or cancel, then create).

    Claims the replacement like any send; STOP_ON_FAILURE means that when the venue
    accepted the new order, the old one is cancelled.
    """
    now = timezone.now()
    with transaction.atomic():
        claimed = Order.objects.filter(pk=order_id, status=Status.PENDING).update(
            status=Status.SUBMITTING, submitted_at=now, updated_at=now
        )
        if not claimed:
            return "done"
        new = Order.objects.select_related("account", "replaces").get(pk=order_id)
        events.record_status(
            order=new,
            type=events.SUBMITTING,
            old_status=Status.PENDING,
            actor=WORKER,
            reason=f"replacing {new.replaces.client_order_id}",
        )
    old = new.replaces
    account = new.account
    client = gateway.get_client(account, priority="orders")
    try:
        answer = client.edit_order(
            old.exchange_order_id,
            new.symbol,
            "limit",
            new.side,
            format(new.amount, "f"),
            format(new.price, "f"),
            {"clientOrderId": new.client_order_id},
        )
    except Exception as exc:  # noqa: BLE001 - classified below
        failure = classify(exc, secrets=(client.apiKey or "", client.secret or ""))
        outcome = {Outcome.NOT_SENT: Status.PENDING, Outcome.UNKNOWN: Status.UNKNOWN}.get(
            failure.outcome, Status.REJECTED
        )
        with transaction.atomic():
            Order.objects.filter(pk=new.pk, status=Status.SUBMITTING).update(
                status=outcome,
                status_reason=str(failure),
                updated_at=timezone.now(),
                closed_at=timezone.now() if outcome is Status.REJECTED else None,
            )
            new.refresh_from_db()
            events.record_status(
                order=new,
                type=f"order.{outcome}",
                old_status=Status.SUBMITTING,
                actor=WORKER,
                reason=str(failure),
            )
            publish_order(new)
        return "retry" if outcome is Status.PENDING else "reconcile"
    if not answer.get("clientOrderId"):
        answer["clientOrderId"] = new.client_order_id
    order_apply_update(account=account, update=venue.parse_order(answer), actor=WORKER)
    with transaction.atomic():
        locked = Order.objects.select_for_update().get(pk=old.pk)
        if locked.status in AMENDABLE or locked.status == Status.CANCEL_REQUESTED:
            previous = locked.status
            locked.status = Status.CANCELED
            locked.status_reason = f"replaced by {new.client_order_id}"
            locked.closed_at = timezone.now()
            locked.save(update_fields=["status", "status_reason", "closed_at", "updated_at"])
            events.record_status(
                order=locked,
                type="order.replaced",
                old_status=previous,
                actor=WORKER,
                reason=locked.status_reason,
            )
            publish_order(locked)
    return "done"
