"""Cancelling orders: record the request, call the venue from a task, apply its answer."""

from __future__ import annotations

import logging

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from accounts import gateway
from accounts.errors import Outcome, classify
from accounts.models import ExchangeAccount
from common.exceptions import Conflict
from common.tasks import exclusive, is_held
from orders import events, tasks, venue
from orders.models import Order
from orders.services.common import (
    WORKER,
    due_in,
    order_step_done,
    order_transition,
    publish_order,
)
from orders.services.updates import order_apply_update
from orders.states import TERMINAL, Status

logger = logging.getLogger(__name__)


def order_cancel(*, order: Order, actor: str, reason: str = "") -> Order:
    """Ask for ``order`` to be cancelled.

    A pending order (never sent) is cancelled here and now. An order on the venue moves
    to ``cancel_requested`` and the ``orders.order_cancel_send`` task calls the venue on
    commit. A second request for an order still in ``cancel_requested`` sends the cancel
    again at once - unless an attempt is calling the venue right now (it schedules
    what follows itself): sending a cancel twice is harmless, never sending it is not.
    An order being sent, or in an unknown state, cannot be cancelled until the venue has
    answered: that is a Conflict with a message to retry.
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
            # Should the task be lost with its worker, the sweep cancels it after this.
            locked.next_step_at = due_in(settings.ORDER_STEP_GRACE_SECONDS)
            locked.save(update_fields=["status", "status_reason", "next_step_at", "updated_at"])
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
            if not is_held(_in_flight(locked.pk)):
                locked.next_step_at = due_in(settings.ORDER_STEP_GRACE_SECONDS)
                locked.save(update_fields=["next_step_at", "updated_at"])
                events.record_status(
                    order=locked,
                    type=events.CANCEL_REPEATED,
                    old_status=status,
                    actor=actor,
                    reason=f"{reason}, again: sending the cancel again",
                )
                tasks.order_cancel_send.delay_on_commit(locked.pk)
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


def _in_flight(order_id: int) -> str:
    return f"order_cancel_send:{order_id}"


def _in_flight_seconds() -> float:
    # Longer than any venue call can take (the client's timeout), with room to apply it.
    return settings.EXCHANGE_TIMEOUT_MS / 1000 + 5.0


def order_cancel_send(*, order_id: int) -> str:
    """Call the venue to cancel an order in ``cancel_requested``; apply what it says.

    Returns "done" (the venue confirmed the order closed, or it no longer waits for a
    cancel), "busy" (another attempt is calling the venue), "retry" (not sent: rate
    limited) or "reconcile" (ask the venue for the order first: the outcome is unknown,
    or the venue says it has no such open order). The lookup sends the cancel again
    while the venue still has the order open: a cancel is retried until the venue
    confirms the order closed.

    One attempt at a time per order (a lock in the cache, given up after the call; a
    second request meanwhile does not send again). Every next step is written to
    ``next_step_at`` - during the call, when the attempt counts as lost - so the sweep
    performs it should the task be lost; the task reads its countdown from there.
    """
    order = Order.objects.select_related("account").filter(pk=order_id).first()
    if order is None or order.status != Status.CANCEL_REQUESTED:
        return "done"
    with exclusive(_in_flight(order_id), seconds=_in_flight_seconds()) as mine:
        if not mine:
            return "busy"
        return _cancel_once(order)


def _cancel_once(order: Order) -> str:
    account = order.account
    lost_at = due_in(_in_flight_seconds())
    if not Order.objects.filter(pk=order.pk, status=Status.CANCEL_REQUESTED).update(
        next_step_at=lost_at
    ):
        return "done"  # it moved on since we read it
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
            _next_step(order, status=Status.CANCEL_REQUESTED, delay=_retry_delay(order))
            return "retry"
        if failure.outcome is Outcome.REJECTED:
            # The venue refused the cancel: the order stands as it was; reconciliation
            # then merges whatever the venue says it is now.
            _cancel_refused(order, reason=str(failure))
            return "reconcile"
        if failure.outcome is Outcome.UNKNOWN:
            # The cancel may or may not have arrived: ask the venue before sending it again.
            with transaction.atomic():
                events.record_status(
                    order=order,
                    type=events.CANCEL_UNKNOWN,
                    old_status=order.status,
                    actor=WORKER,
                    reason=f"outcome unknown: {failure}",
                )
            _next_step(order, status=Status.CANCEL_REQUESTED, delay=_retry_delay(order))
            return "reconcile"
        # NOT_FOUND: it filled or was cancelled meanwhile - ask the venue which.
        _next_step(order, status=Status.CANCEL_REQUESTED, delay=0)
        return "reconcile"
    if not answer.get("status"):
        # Accepted, but answered without the order (Binance's algo-order cancel): ask.
        _next_step(order, status=Status.CANCEL_REQUESTED, delay=0)
        return "reconcile"
    if not answer.get("clientOrderId"):
        answer["clientOrderId"] = order.client_order_id
    order_apply_update(account=account, update=venue.parse_order(answer), actor=WORKER)
    if Order.objects.filter(pk=order.pk, status=Status.CANCEL_REQUESTED).exists():
        # Answered with the order still open: the lookup decides, and cancels again.
        _next_step(order, status=Status.CANCEL_REQUESTED, delay=0)
        return "reconcile"
    order_step_done(order, expected_at=lost_at)
    return "done"


def _retry_delay(order: Order) -> float:
    """ORDER_CANCEL_RETRY_SECONDS, doubled at each unknown outcome so far, up to 30 s: a
    venue failing every cancel is not asked twice a second."""
    unknown = order.events.filter(type=events.CANCEL_UNKNOWN).count()
    return min(30.0, settings.ORDER_CANCEL_RETRY_SECONDS * 2 ** max(0, unknown - 1))


def _next_step(order: Order, *, status: Status, delay: float) -> None:
    Order.objects.filter(pk=order.pk, status=status).update(next_step_at=due_in(delay))


def order_next_step_delay(*, order_id: int) -> float:
    """Seconds until the order's next step is due (0 if due or none): a task's countdown."""
    due = Order.objects.filter(pk=order_id).values_list("next_step_at", flat=True).first()
    return max(0.0, (due - timezone.now()).total_seconds()) if due else 0.0


def _cancel_refused(order: Order, *, reason: str) -> None:
    back = Status.PARTIALLY_FILLED if order.filled > 0 else Status.OPEN
    order_transition(
        order,
        expected=Status.CANCEL_REQUESTED,
        target=back,
        event=events.CANCEL_FAILED,
        reason=reason,
        # Looked up at once, to merge what the venue says the order is now.
        next_step_at=due_in(0),
    )
