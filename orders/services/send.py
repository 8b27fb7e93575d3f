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
from accounts.models import ExchangeAccount
from common.db import one_row
from orders import events, tasks, venue
from orders.models import Order
from orders.services.brackets import CHILD_ROLES, RECHECK_SECONDS, close_waits
from orders.services.common import WORKER, due_in, order_step_done, order_transition
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

    Every next step (a retry, a lookup) is also written as ``next_step_at``, and the claim
    sets it to when a send with no answer counts as stuck: the sweep performs whatever a
    lost task (a countdown gone with its worker) did not.

    Before anything, the account (deactivated, read-only, a key that can withdraw) and
    the send guard (settings.ORDER_SEND_GUARD: the kill switch) may stop it: an order
    queued before trading was halted is cancelled here, never sent. Reduce-only orders
    pass all but a key that can withdraw, so a position can always be protected.
    """
    # One read of the order and one of its account serve the guard, the claim and the send.
    order = one_row(Order, "id = %s", [order_id])
    if order is None:
        return SendResult("skipped")
    order.account = one_row(ExchangeAccount, "id = %s", [order.account_id])
    now = timezone.now()
    if order.status != Status.PENDING:
        return _not_claimed(order_id, now)
    if order.idempotency_key and close_waits(order=order):
        # A spot close whose position's stop and target are still being cancelled: they
        # hold the coins it sells. Looked at again shortly (and sent by the follow-up of
        # the last of them to end); the sweep looks too, should the countdown be lost.
        Order.objects.filter(pk=order.pk, status=Status.PENDING).update(
            next_step_at=due_in(RECHECK_SECONDS, now=now)
        )
        return SendResult("retry", delay=RECHECK_SECONDS)
    if halted := order.account.trading_refusal(reduce_only=order.reduce_only) or _halted(order):
        order_transition(
            order,
            expected=Status.PENDING,
            target=Status.CANCELED,
            event=events.HALTED,
            reason=f"not sent: {halted}",
            closed_at=timezone.now(),
            next_step_at=None,
        )
        return SendResult("skipped")
    if _spot_oco_leg(order):
        return _send_oco(order, now)
    return _send_alone(order, now)


def _send_alone(order: Order, now) -> SendResult:
    with transaction.atomic():
        if not _claim(order, now):
            return _not_claimed(order.pk, now)
    return _send_one(order)


def _claim(order: Order, now) -> bool:
    """``pending -> submitting`` with its event, if the order is still as we read it.

    Conditional on the status and the attempt count read before: exactly one delivery
    of a send task claims an order, and the count it records is exact. Call inside a
    transaction."""
    attempt = order.send_attempts + 1
    # Should this worker die before the venue answers, the sweep asks the venue then.
    stuck_at = due_in(settings.ORDER_SUBMITTING_TIMEOUT_SECONDS, now=now)
    claimed = Order.objects.filter(
        pk=order.pk, status=Status.PENDING, send_attempts=order.send_attempts
    ).update(
        status=Status.SUBMITTING,
        send_attempts=attempt,
        submitted_at=now,
        updated_at=now,
        next_step_at=stuck_at,
    )
    if not claimed:
        return False
    order.status = Status.SUBMITTING
    order.send_attempts = attempt
    order.submitted_at = order.updated_at = now
    order.next_step_at = stuck_at
    events.record_status(
        order=order,
        type=events.SUBMITTING,
        old_status=Status.PENDING,
        actor=WORKER,
        reason=f"attempt {attempt}",
    )
    return True


def _market(client, account, symbol: str) -> dict:
    market = client.markets.get(symbol) if client.markets else None
    if market is None:
        gateway.ensure_markets(client, account)
        market = client.markets.get(symbol) or {}
    return market


def _send_one(order: Order) -> SendResult:
    account = order.account
    client = gateway.get_client(account, priority="orders")
    market = _market(client, account, order.symbol)
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
    order_step_done(order, expected_at=order.next_step_at)
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
        next_step_at=due_in(settings.ORDER_RECONCILE_AFTER_SECONDS, now=now),
    )
    return SendResult(
        "reconcile" if moved else "skipped", delay=settings.ORDER_RECONCILE_AFTER_SECONDS
    )


def _failed(order: Order, exc: BaseException, *, secrets: tuple[str, ...]) -> SendResult:
    failure = classify(exc, secrets=secrets)
    logger.info("order %s send failed: %s", order.client_order_id, failure)
    if failure.outcome is Outcome.NOT_SENT:
        if order.send_attempts >= settings.ORDER_MAX_SEND_ATTEMPTS:
            _reject(order, f"not sent after {order.send_attempts} attempts: {failure}")
            return SendResult("rejected")
        delay = backoff_seconds(order.send_attempts)
        order_transition(
            order,
            expected=Status.SUBMITTING,
            target=Status.PENDING,
            event=events.SEND_RETRY,
            reason=f"not sent: {failure}",
            next_step_at=due_in(delay),
        )
        return SendResult("retry", delay=delay)
    if failure.outcome is Outcome.UNKNOWN:
        order_transition(
            order,
            expected=Status.SUBMITTING,
            target=Status.UNKNOWN,
            event=events.UNKNOWN,
            reason=f"outcome unknown: {failure}",
            next_step_at=due_in(settings.ORDER_RECONCILE_AFTER_SECONDS),
        )
        return SendResult("reconcile", delay=settings.ORDER_RECONCILE_AFTER_SECONDS)
    _reject(order, str(failure))
    return SendResult("rejected")


def _reject(order: Order, reason: str) -> None:
    moved = order_transition(
        order,
        expected=Status.SUBMITTING,
        target=Status.REJECTED,
        event=events.REJECTED,
        reason=reason,
        closed_at=timezone.now(),
        next_step_at=None,
    )
    if moved and order.role in CHILD_ROLES:
        # A stop-loss or take-profit the exchange refused leaves its position unprotected:
        # its follow-up says so (a venue update that rejects one queues it the same way).
        tasks.order_followups.delay_on_commit(order.pk)


# --- Spot one-cancels-the-other lists ---------------------------------------------------------


def _spot_oco_leg(order: Order) -> bool:
    return (
        order.group_kind == Order.GroupKind.OCO
        and order.linked_id is not None
        and order.account.market_type == ExchangeAccount.MarketType.SPOT
    )


def _send_oco(order: Order, now) -> SendResult:
    """A spot stop-loss / take-profit pair goes out as one OCO list, led by its stop-loss.

    Sent one by one, the second order of the pair would need the coins the first one
    already locked; as a list the venue locks them once and expires one order when the
    other fills. The take-profit is never sent alone: its task does nothing, and the
    stop-loss's claims both. Should the take-profit have ended (cancelled by hand), the
    stop-loss goes alone; while its fate is unknown, the stop-loss waits for it.
    """
    if order.role != Order.Role.STOP_LOSS:
        return SendResult("skipped")  # sent with its stop-loss
    take = Order.objects.filter(pk=order.linked_id).first()
    if take is None or take.status not in (Status.PENDING, Status.SUBMITTING, Status.UNKNOWN):
        return _send_alone(order, now)
    if take.status != Status.PENDING:
        return _wait_for_take_profit(order, now)
    with transaction.atomic():
        if not _claim(order, now):
            return _not_claimed(order.pk, now)
        if not _claim(take, now):
            transaction.set_rollback(True)  # the stop-loss stays pending: try again
            return _wait_for_take_profit(order, now)
    account = order.account
    client = gateway.get_client(account, priority="orders")
    market = _market(client, account, order.symbol)
    params = venue.oco_request(
        market_id=market.get("id") or order.symbol.replace("/", ""),
        side=order.side,
        amount=order.amount,
        stop_price=order.stop_price,
        stop_client_order_id=order.client_order_id,
        take_price=take.stop_price,
        take_client_order_id=take.client_order_id,
    )
    try:
        answer = client.private_post_orderlist_oco(params)
    except Exception as exc:  # noqa: BLE001 - every failure is classified below
        secrets = (client.apiKey or "", client.secret or "")
        _failed(take, exc, secrets=secrets)
        return _failed(order, exc, secrets=secrets)
    for report in answer.get("orderReports") or []:
        parsed = client.parse_order(report, market)
        order_apply_update(account=account, update=venue.parse_order(parsed), actor=WORKER)
    order_step_done(order, expected_at=order.next_step_at)
    order_step_done(take, expected_at=take.next_step_at)
    return SendResult("sent")


def _wait_for_take_profit(order: Order, now) -> SendResult:
    """The stop-loss stays pending until its take-profit's fate is known: try again later."""
    delay = settings.ORDER_RECONCILE_AFTER_SECONDS
    Order.objects.filter(pk=order.pk, status=Status.PENDING).update(
        next_step_at=due_in(delay, now=now)
    )
    return SendResult("retry", delay=delay)
