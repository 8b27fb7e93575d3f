"""Amending a resting limit order's price or amount.

Where the venue can modify an order in place (ccxt ``editOrder`` on a contract market:
Binance USD-M's modify keeps the order id), the order is changed in place. Otherwise
(Binance spot's cancelReplace, or no editOrder at all) the order is replaced: a new
order with its own client order id, linked to the old one by ``replaces``, and events
on both. Amendments are requested here and sent by the ``orders.order_amend_send`` task.

An amendment is a new proposal: it passes the pre-trade gate (settings.ORDER_GATE) like
a new order, under the account's lock, with a decision row; and its send re-checks the
account (active, can_trade, a key that cannot withdraw) and the halts (kill switches,
breaker). Only a reduce-only amendment that does not grow passes a halt: taking risk
off is what a halt is for.
"""

from __future__ import annotations

import logging
from decimal import Decimal

from django.conf import settings
from django.db import transaction
from django.utils import timezone
from django.utils.module_loading import import_string

from accounts import gateway
from accounts.errors import Outcome, classify
from common.exceptions import Conflict, PermissionDenied, ValidationFailed
from orders import events, tasks, venue
from orders.models import Order, OrderEvent
from orders.services.common import WORKER, order_transition, publish_order
from orders.services.submit import OrderRefused, market_rules_for, order_gate
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

    The amended order is a new proposal for the gate: what would rest after the change
    (new amount less what filled, at the new price), with the order's own working
    exposure left out of the account's snapshot. A reduce-only order that grows is
    proposed as an ordinary one (more of it is new risk). The gate decides under the
    account's lock in the transaction that records the request, and its decision is a
    row (linked to the replacing order, or carrying ``amends`` in its context); a
    refusal is raised as ``OrderRefused`` after that transaction commits.
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
    account = order.account
    if refusal := account.trading_refusal():
        raise PermissionDenied(f"Not amended: {refusal}.")
    in_place = account.market_type != account.MarketType.SPOT and bool(
        gateway.get_client(account).has.get("editOrder")
    )
    grows = new_amount > order.amount
    proposal = Order(
        account=account,
        symbol=order.symbol,
        side=order.side,
        type=order.type,
        amount=new_amount - order.filled,
        remaining=new_amount - order.filled,
        price=new_price,
        reduce_only=order.reduce_only and not grows,
        post_only=order.post_only,
    )
    gate = order_gate()
    prepared = gate.prepare(account=account, order=proposal) if gate else None
    verdict = None
    refusal = ""
    with transaction.atomic(durable=True):
        # The gate first: it locks the account's risk state, which comes before orders in
        # the lock order.
        if gate is not None:
            verdict = gate.check(
                account=account,
                order=proposal,
                prepared=prepared,
                actor=actor,
                context={"amends": order.pk},
            )
            refusal = verdict.reason if not verdict.approved else ""
        locked = Order.objects.select_for_update().get(pk=order.pk)
        if locked.status not in AMENDABLE:
            raise Conflict(f"The order is {locked.status}; only a resting order can be amended.")
        if refusal:
            gate.record(verdict=verdict, order=None)
            events.record_amend_refused(order=locked, reason=refusal, actor=actor)
        elif in_place:
            if gate is not None:
                gate.record(verdict=verdict, order=None)
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
        elif Order.objects.filter(replaces=locked).exists():
            raise Conflict("An amendment of this order is already on its way.")
        else:
            replacement = _replacement(locked, amount=new_amount, price=new_price, actor=actor)
            if gate is not None:
                gate.record(verdict=verdict, order=replacement)
    if refusal:
        raise OrderRefused(f"Not amended: {refusal}", record=verdict)
    return replacement


def _replacement(locked: Order, *, amount: Decimal, price: Decimal, actor: str) -> Order:
    """The order that replaces ``locked`` (locked by the caller), queued on commit."""
    replacement = Order.objects.create(
        account=locked.account,
        symbol=locked.symbol,
        side=locked.side,
        type=locked.type,
        time_in_force=locked.time_in_force,
        amount=amount - locked.filled,
        remaining=amount - locked.filled,
        price=price,
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


def _send_refusal(order: Order, *, grows: bool) -> str:
    """Why an amendment of ``order`` may not go to the venue now, or "": the account
    (deactivated, read-only, a key that can withdraw) and the halts (settings.
    ORDER_SEND_GUARD), which only a reduce-only amendment that does not grow passes."""
    if refusal := order.account.trading_refusal():
        return refusal
    path = getattr(settings, "ORDER_SEND_GUARD", "")
    if not path or (order.reduce_only and not grows):
        return ""
    return import_string(path)(account_id=order.account_id)


def order_amend_send(*, event_id: int) -> str:
    """Modify an order in place on the venue (contract markets). Returns done/retry/reconcile."""
    requested = OrderEvent.objects.select_related("order__account").get(pk=event_id)
    order = requested.order
    if order.status not in AMENDABLE:
        return "done"
    account = order.account
    grows = (requested.new_remaining or 0) > (requested.old_remaining or 0)
    if refusal := _send_refusal(order, grows=grows):
        with transaction.atomic():
            events.record_amend_refused(order=order, reason=f"not sent: {refusal}", actor=WORKER)
        return "done"
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
    pending = Order.objects.select_related("account", "replaces").filter(pk=order_id).first()
    if pending is None or pending.status != Status.PENDING:
        return "done"
    previous = pending.replaces
    grows = pending.amount > previous.amount - previous.filled
    if refusal := _send_refusal(pending, grows=grows):
        moved = order_transition(
            pending,
            expected=Status.PENDING,
            target=Status.CANCELED,
            event=events.HALTED,
            reason=f"not sent: {refusal}",
            closed_at=now,
            next_step_at=None,
        )
        if moved:
            with transaction.atomic():
                events.record_amend_refused(
                    order=previous,
                    reason=f"{pending.client_order_id} not sent: {refusal}",
                    actor=WORKER,
                )
        return "done"
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
