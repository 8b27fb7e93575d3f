"""Cancelling orders: record the request, call the venue from a task, apply its answer."""

from __future__ import annotations

import logging

from django.db import transaction
from django.utils import timezone

from accounts import gateway
from accounts.errors import Outcome, classify
from accounts.models import ExchangeAccount
from common.exceptions import Conflict
from orders import events, tasks, venue
from orders.models import Order
from orders.services.common import WORKER, order_transition, publish_order
from orders.services.updates import order_apply_update
from orders.states import TERMINAL, Status

logger = logging.getLogger(__name__)


def order_cancel(*, order: Order, actor: str, reason: str = "") -> Order:
    """Ask for ``order`` to be cancelled. Idempotent: a second request changes nothing.

    A pending order (never sent) is cancelled here and now. An order on the venue moves
    to ``cancel_requested`` and the ``orders.order_cancel_send`` task calls the venue on
    commit. An order being sent, or in an unknown state, cannot be cancelled until the
    venue has answered: that is a Conflict with a message to retry.
    """
    reason = reason or f"cancel requested by {actor}"
    with transaction.atomic():
        locked = Order.objects.select_for_update().get(pk=order.pk)
        status = Status(locked.status)
        if status is Status.PENDING:
            locked.status = Status.CANCELED
            locked.status_reason = reason
            locked.closed_at = timezone.now()
            locked.save(update_fields=["status", "status_reason", "closed_at", "updated_at"])
            events.record_status(
                order=locked,
                type="order.canceled",
                old_status=status,
                actor=actor,
                reason="never sent: " + reason,
            )
            publish_order(locked)
        elif status in (Status.OPEN, Status.PARTIALLY_FILLED):
            locked.status = Status.CANCEL_REQUESTED
            locked.status_reason = reason
            locked.save(update_fields=["status", "status_reason", "updated_at"])
            events.record_status(
                order=locked,
                type=events.CANCEL_REQUESTED,
                old_status=status,
                actor=actor,
                reason=reason,
            )
            tasks.order_cancel_send.delay_on_commit(locked.pk)
            publish_order(locked)
        elif status is Status.CANCEL_REQUESTED:
            pass
        elif status in TERMINAL:
            raise Conflict(f"The order is already {status}; there is nothing to cancel.")
        else:
            raise Conflict(
                f"The order is {status}: the exchange has not answered yet. "
                "Try again in a few seconds."
            )
    return locked


def order_cancel_all(*, account: ExchangeAccount, actor: str, symbol: str | None = None) -> int:
    """Cancel every cancellable order of ``account`` (optionally one symbol); return how many."""
    orders = Order.objects.filter(
        account=account, status__in=[Status.PENDING, Status.OPEN, Status.PARTIALLY_FILLED]
    ).order_by("pk")
    if symbol:
        orders = orders.filter(symbol=symbol)
    count = 0
    for order in orders:
        try:
            order_cancel(order=order, actor=actor, reason=f"cancel all by {actor}")
            count += 1
        except Conflict:
            continue  # it moved on (filled, being sent) since we listed it
    return count


def order_cancel_send(*, order_id: int) -> str:
    """Call the venue to cancel an order in ``cancel_requested``; apply what it says.

    Returns "done", "retry" (rate limited: not sent) or "reconcile" (ask the venue).
    """
    order = Order.objects.select_related("account").filter(pk=order_id).first()
    if order is None or order.status != Status.CANCEL_REQUESTED:
        return "done"
    account = order.account
    client = gateway.get_client(account, priority="orders")
    gateway.ensure_markets(client, account)
    market = client.markets.get(order.symbol) or {}
    params = venue.lookup_params(
        client_order_id=order.client_order_id,
        conditional=order.type in venue.CONDITIONAL_TYPES,
        is_contract=bool(market.get("contract")),
    )
    try:
        answer = client.cancel_order(order.exchange_order_id or "", order.symbol, params)
    except Exception as exc:  # noqa: BLE001 - classified below
        failure = classify(exc, secrets=(client.apiKey or "", client.secret or ""))
        if failure.outcome is Outcome.NOT_SENT:
            return "retry"
        if failure.outcome is Outcome.REJECTED:
            # The venue refused the cancel: the order stands as it was; reconciliation
            # then merges whatever the venue says it is now.
            _cancel_refused(order, reason=str(failure))
        # NOT_FOUND (it filled or was cancelled meanwhile) and UNKNOWN: ask the venue.
        return "reconcile"
    if not answer.get("status"):
        # Accepted, but answered without the order (Binance's algo-order cancel): ask.
        return "reconcile"
    if not answer.get("clientOrderId"):
        answer["clientOrderId"] = order.client_order_id
    order_apply_update(account=account, update=venue.parse_order(answer), actor=WORKER)
    return "done"


def _cancel_refused(order: Order, *, reason: str) -> None:
    back = Status.PARTIALLY_FILLED if order.filled > 0 else Status.OPEN
    order_transition(
        order,
        expected=Status.CANCEL_REQUESTED,
        target=back,
        event=events.CANCEL_FAILED,
        reason=reason,
    )
