"""Sending an order to the venue: claim, call outside any transaction, apply the answer."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import timedelta

from django.conf import settings
from django.db import transaction
from django.utils import timezone
from django.utils.module_loading import import_string

from accounts import gateway
from accounts.errors import Outcome, classify
from orders import events, venue
from orders.models import Order
from orders.services.common import WORKER, order_transition
from orders.services.updates import order_apply_update
from orders.states import Status

logger = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class SendResult:
    """What the task should do next: nothing, send again later, or reconcile later."""

    outcome: str  # "sent", "skipped", "retry", "reconcile", "rejected"
    delay: float = 0.0


def backoff_seconds(attempt: int) -> float:
    """Exponential backoff with full jitter, capped: 1 s, 2 s, 4 s ... up to 30 s."""
    import random

    return random.uniform(0, min(30.0, 2.0 ** max(0, attempt - 1))) + 0.2  # noqa: S311


def order_send(*, order_id: int) -> SendResult:
    """Send a pending order once.

    Claims the order (``pending -> submitting``, a conditional update: a second run of
    the same task finds nothing to claim and does nothing), calls the venue with no
    transaction open, and applies the answer:
    - accepted: merged like any venue update (open / partially filled / filled);
    - not sent (rate limited): back to ``pending`` and sent again after a backoff;
    - outcome unknown (timeout, network, 5xx): ``unknown``; reconciled by client order id
      after the venue's receive window, never sent again blindly;
    - rejected: ``rejected`` with the venue's reason.

    Before anything, the send guard (settings.ORDER_SEND_GUARD: the kill switch) may
    stop it: an order queued before trading was halted is cancelled here, never sent.
    """
    # One read of the order and its account serves the guard, the claim and the send.
    order = Order.objects.select_related("account").filter(pk=order_id).first()
    if order is None:
        return SendResult("skipped")
    now = timezone.now()
    if order.status != Status.PENDING:
        return _not_claimed(order_id, now)
    if halted := _halted(order):
        order_transition(
            order,
            expected=Status.PENDING,
            target=Status.CANCELED,
            event=events.HALTED,
            reason=f"not sent: {halted}",
            closed_at=timezone.now(),
        )
        return SendResult("skipped")
    attempt = order.send_attempts + 1
    with transaction.atomic():
        # Conditional on the status and the attempt count read above: exactly one
        # delivery of the task claims the order, and the count it records is exact.
        claimed = Order.objects.filter(
            pk=order_id, status=Status.PENDING, send_attempts=order.send_attempts
        ).update(
            status=Status.SUBMITTING,
            send_attempts=attempt,
            submitted_at=now,
            updated_at=now,
        )
        if not claimed:
            return _not_claimed(order_id, now)
        order.status = Status.SUBMITTING
        order.send_attempts = attempt
        order.submitted_at = order.updated_at = now
        events.record_status(
            order=order,
            type=events.SUBMITTING,
            old_status=Status.PENDING,
            actor=WORKER,
            reason=f"attempt {attempt}",
        )

    account = order.account
    client = gateway.get_client(account, priority="orders")
    market = client.markets.get(order.symbol) if client.markets else None
    if market is None:
        gateway.ensure_markets(client, account)
        market = client.markets.get(order.symbol) or {}
    request = venue.create_request(
        symbol=order.symbol,
        type=order.type,
        side=order.side,
        amount=order.amount,
        price=order.price,
        stop_price=order.stop_price,
        time_in_force=order.time_in_force,
        reduce_only=order.reduce_only,
        post_only=order.post_only,
        client_order_id=order.client_order_id,
        is_contract=bool(market.get("contract")),
    )
    try:
        answer = client.create_order(*request.as_ccxt_args())
    except Exception as exc:  # noqa: BLE001 - every failure is classified below
        return _failed(order, exc, secrets=(client.apiKey or "", client.secret or ""))

    # ccxt's parsed answer may lack our id on some venues; we know it.
    if not answer.get("clientOrderId"):
        answer["clientOrderId"] = order.client_order_id
    order_apply_update(account=account, update=venue.parse_order(answer), actor=WORKER)
    return SendResult("sent")


def _halted(order: Order) -> str:
    """Why trading is halted for this order, or "" (reduce-only orders always go)."""
    path = getattr(settings, "ORDER_SEND_GUARD", "")
    if not path or order.reduce_only:
        return ""
    return import_string(path)(account_id=order.account_id)


def _not_claimed(order_id: int, now) -> SendResult:
    """The order was not pending. A task redelivered after its worker died finds its
    order still ``submitting``: whether it reached the venue is unknown, so reconcile."""
    order = Order.objects.filter(pk=order_id).only("status", "submitted_at").first()
    if order is None or order.status != Status.SUBMITTING:
        return SendResult("skipped")
    stuck_after = timedelta(seconds=settings.ORDER_SUBMITTING_TIMEOUT_SECONDS)
    if order.submitted_at and now - order.submitted_at < stuck_after:
        # Another worker is sending it right now (a duplicate delivery): leave it be.
        return SendResult("reconcile", delay=stuck_after.total_seconds())
    moved = order_transition(
        order,
        expected=Status.SUBMITTING,
        target=Status.UNKNOWN,
        event=events.UNKNOWN,
        reason="the sending worker stopped before the venue answered",
    )
    return SendResult(
        "reconcile" if moved else "skipped", delay=settings.ORDER_RECONCILE_AFTER_SECONDS
    )


def _failed(order: Order, exc: BaseException, *, secrets: tuple[str, ...]) -> SendResult:
    failure = classify(exc, secrets=secrets)
    logger.info("order %s send failed: %s", order.client_order_id, failure)
    if failure.outcome is Outcome.NOT_SENT:
        if order.send_attempts >= settings.ORDER_MAX_SEND_ATTEMPTS:
            order_transition(
                order,
                expected=Status.SUBMITTING,
                target=Status.REJECTED,
                event=events.REJECTED,
                reason=f"not sent after {order.send_attempts} attempts: {failure}",
                closed_at=timezone.now(),
            )
            return SendResult("rejected")
        order_transition(
            order,
            expected=Status.SUBMITTING,
            target=Status.PENDING,
            event=events.SEND_RETRY,
            reason=f"not sent: {failure}",
        )
        return SendResult("retry", delay=backoff_seconds(order.send_attempts))
    if failure.outcome is Outcome.UNKNOWN:
        order_transition(
            order,
            expected=Status.SUBMITTING,
            target=Status.UNKNOWN,
            event=events.UNKNOWN,
            reason=f"outcome unknown: {failure}",
        )
        return SendResult("reconcile", delay=settings.ORDER_RECONCILE_AFTER_SECONDS)
    order_transition(
        order,
        expected=Status.SUBMITTING,
        target=Status.REJECTED,
        event=events.REJECTED,
        reason=str(failure),
        closed_at=timezone.now(),
    )
    return SendResult("rejected")
