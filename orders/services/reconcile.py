"""Making our records agree with the venue: after unknown outcomes, on a schedule, at start."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import timedelta

from django.conf import settings
from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from accounts import gateway
from accounts.errors import Outcome, classify
from accounts.models import ExchangeAccount
from common.time import from_ms
from orders import events, venue
from orders.models import Order
from orders.services.common import POLL, RECONCILE, due_in, order_transition
from orders.services.updates import fills_record, order_apply_update, order_apply_updates
from orders.signals import order_lost
from orders.states import NOT_TERMINAL, ON_VENUE, TERMINAL, Status

logger = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class ReconcileResult:
    # "applied", "resend", "cancel" (send the cancel again), "wait", "retry", "closed"
    # (lost: the venue does not know it), "skipped"
    outcome: str
    delay: float = 0.0


# How long a lookup that failed (venue down, rate limited) waits before the next one.
LOOKUP_RETRY_SECONDS = 5.0


def order_reconcile(*, order_id: int) -> ReconcileResult:
    """Ask the venue for one order by its client order id and merge the answer.

    For an order in ``unknown`` (or ``submitting`` with no worker left): found -> merged
    like any update; not found -> once the venue's receive window has passed since it
    was sent, it can never arrive, so it goes back to ``pending`` and is sent again;
    before that, wait. This is the only path on which an order is sent twice, and only
    after the venue has said it does not have it.

    For an order in ``cancel_requested`` that the venue still has open, the cancel did
    not arrive (or was lost with its worker): "cancel", send it again. An order we
    believe is on the venue that the venue does not know is looked up again until
    ORDER_LOST_AFTER_SECONDS have passed, then closed (see ``_lost``).

    The next step is written to ``next_step_at`` (cleared when there is none), so the
    sweep performs it should the task that was to do it be lost.
    """
    order = Order.objects.select_related("account").filter(pk=order_id).first()
    if order is None or order.status not in ON_VENUE:
        return ReconcileResult("skipped")
    account = order.account
    client = gateway.get_client(account, priority="orders")
    try:
        gateway.ensure_markets(client, account)
        market = client.markets.get(order.symbol) or {}
        params = venue.lookup_params(
            client_order_id=order.client_order_id,
            conditional=order.type in venue.CONDITIONAL_TYPES,
            is_contract=bool(market.get("contract")),
        )
        answer = client.fetch_order(order.exchange_order_id or "", order.symbol, params)
        if actual := venue.triggered_order_id(answer):
            # A triggered stop: its fills live on the order it placed.
            answer = client.fetch_order(actual, order.symbol)
    except Exception as exc:  # noqa: BLE001 - classified below
        failure = classify(exc, secrets=(client.apiKey or "", client.secret or ""))
        if failure.outcome is Outcome.NOT_FOUND:
            return _not_on_venue(order)
        logger.info("reconcile of %s failed: %s", order.client_order_id, failure)
        _schedule(order, status=order.status, delay=LOOKUP_RETRY_SECONDS)
        return ReconcileResult("retry", delay=LOOKUP_RETRY_SECONDS)
    if not answer.get("clientOrderId"):
        answer["clientOrderId"] = order.client_order_id
    order_apply_update(account=account, update=venue.parse_order(answer), actor=RECONCILE)
    return _after_lookup(order)


def _schedule(order: Order, *, status: str, delay: float | None) -> None:
    """Write the order's next step if it is still in ``status`` (None: no step)."""
    Order.objects.filter(pk=order.pk, status=status).update(
        next_step_at=None if delay is None else due_in(delay)
    )


def _after_lookup(order: Order) -> ReconcileResult:
    status = Order.objects.filter(pk=order.pk).values_list("status", flat=True).first()
    if status == Status.CANCEL_REQUESTED:
        # The venue still has it open: our cancel never arrived, or its answer was lost
        # and the venue refused it. Send it again (the sweep does, should the task die).
        _schedule(order, status=status, delay=settings.ORDER_STEP_GRACE_SECONDS)
        return ReconcileResult("cancel")
    if status in (Status.UNKNOWN, Status.SUBMITTING):
        # An answer we could not place (a status the venue names oddly): ask again.
        _schedule(order, status=status, delay=LOOKUP_RETRY_SECONDS)
        return ReconcileResult("retry", delay=LOOKUP_RETRY_SECONDS)
    _schedule(order, status=status, delay=None)
    return ReconcileResult("applied")


def _not_on_venue(order: Order) -> ReconcileResult:
    if order.status not in (Status.UNKNOWN, Status.SUBMITTING):
        return _lost(order)
    window = timedelta(seconds=settings.ORDER_RESEND_AFTER_SECONDS)
    age = timezone.now() - (order.submitted_at or order.created_at)
    if age < window:
        delay = (window - age).total_seconds() + 0.5
        _schedule(order, status=order.status, delay=delay)
        return ReconcileResult("wait", delay=delay)
    if order.replaces_id:
        # A replacement is only ever sent through cancel-replace: sending it alone could
        # leave it and the order it was to replace both working.
        order_transition(
            order,
            expected=order.status,
            target=Status.REJECTED,
            event=events.REJECTED,
            reason="the replacement never reached the exchange",
            actor=RECONCILE,
            closed_at=timezone.now(),
            next_step_at=None,
        )
        return ReconcileResult("skipped")
    moved = order_transition(
        order,
        expected=order.status,
        target=Status.PENDING,
        event=events.RESEND,
        reason="not on the exchange after its receive window: sending again",
        actor=RECONCILE,
        # The send task is queued at once; should it be lost, the sweep sends it.
        next_step_at=due_in(settings.ORDER_STEP_GRACE_SECONDS),
    )
    if not moved:
        return ReconcileResult("skipped")
    return ReconcileResult("resend")


def _lost(order: Order) -> ReconcileResult:
    """An order we believe is on the venue (open, partially filled, being cancelled) that
    the venue does not know by its client order id - e.g. after the exchange restarted
    without its state.

    The first miss is recorded (``order.not_found``, once, not at every poll); lookups
    continue until ORDER_LOST_AFTER_SECONDS after it, in case the venue answered from a
    lagging copy. Still unknown then, the order is closed as ``expired``, with an
    ``order.lost`` event, a drift row (the ``order_lost`` signal: positions records it)
    and an alert. Not ``canceled`` - nobody cancelled it, and we would claim a cancel the
    venue never confirmed; not ``rejected`` - the venue had accepted it; not ``filled`` -
    no trade says so. ``expired`` says what we know: it ended on the venue's side, not by
    our hand; what it filled stays as recorded, and late trades still attach to it."""
    now = timezone.now()
    # The miss streak starts at the first miss since the order last changed.
    since = (
        order.events.filter(type=events.NOT_FOUND, created_at__gte=order.updated_at)
        .order_by("created_at", "pk")
        .values_list("created_at", flat=True)
        .first()
    )
    window = timedelta(seconds=settings.ORDER_LOST_AFTER_SECONDS)
    if since is None:
        since = now
        with transaction.atomic():
            events.record_status(
                order=order,
                type=events.NOT_FOUND,
                old_status=order.status,
                actor=RECONCILE,
                reason="the exchange does not know this order; looking it up again for "
                f"{window.total_seconds():g} s before closing it",
            )
    if now - since < window:
        delay = (since + window - now).total_seconds()
        _schedule(order, status=order.status, delay=delay)
        return ReconcileResult("wait", delay=delay)
    old_status = order.status
    reason = (
        "the exchange no longer knows this order (not found by its client order id for "
        f"{window.total_seconds():g} s): closed as expired - it may have been dropped by "
        "an exchange restart; what it filled before stays recorded"
    )
    with transaction.atomic():
        moved = order_transition(
            order,
            expected=old_status,
            target=Status.EXPIRED,
            event=events.LOST,
            reason=reason,
            actor=RECONCILE,
            closed_at=now,
            next_step_at=None,
        )
        if not moved:
            return ReconcileResult("skipped")
        order_lost.send(
            sender=Order,
            account_id=order.account_id,
            client_order_id=order.client_order_id,
            ours=old_status,
            theirs="not found",
            detected_at=now,
        )
        from accounts.services import alert_raise

        alert_raise(
            kind="order.lost",
            account=order.account,
            subject=order.client_order_id,
            # A lost stop-loss or take-profit may leave a position unprotected.
            severity="critical" if order.reduce_only or order.role else "warning",
            message=f"{order.side} {order.amount} {order.symbol} {order.type} "
            f"({order.client_order_id}) was {old_status} here but the exchange does not "
            "know it: closed as expired. Check the position and place it again if needed.",
        )
        if order.group_kind:
            # A lost stop-loss or take-profit: its follow-up reports the position
            # unprotected (and releases a spot close waiting for it), as for a refusal.
            from orders import tasks

            tasks.order_followups.delay_on_commit(order.pk)
    return ReconcileResult("closed")


def orders_poll_account(*, account: ExchangeAccount, trades_since_ms: int | None = None) -> int:
    """REST polling: merge the venue's open orders and recent trades for ``account``.

    Catches whatever the stream missed. Our non-terminal orders that are no longer open
    on the venue are reconciled one by one (they filled, or were cancelled, meanwhile).
    Returns the number of updates merged.
    """
    client = gateway.get_client(account)
    gateway.ensure_markets(client, account)
    # Before anything is merged: the symbols whose trades we may be missing - orders
    # still working, and orders that changed since the trades window began (a market
    # order fills at once, and a futures order's answer carries no fills).
    recent = Q(status__in=NOT_TERMINAL)
    if trades_since_ms is not None:
        recent |= Q(updated_at__gte=from_ms(trades_since_ms))
    active_symbols = sorted(
        set(Order.objects.filter(recent, account=account).values_list("symbol", flat=True))
    )
    updates = [venue.parse_order(payload) for payload in client.fetch_open_orders()]
    seen = {update.client_order_id for update in updates if update.client_order_id}
    order_apply_updates(account=account, updates=updates, actor=POLL)
    merged = len(updates)
    ours = Order.objects.filter(
        account=account,
        status__in=[Status.OPEN, Status.PARTIALLY_FILLED, Status.CANCEL_REQUESTED],
    ).exclude(client_order_id__in=seen)
    for order in ours.only("pk"):
        order_reconcile(order_id=order.pk)
    if trades_since_ms is not None:
        for symbol in active_symbols:
            trades = client.fetch_my_trades(symbol, since=trades_since_ms)
            fills_record(account=account, trades=[venue.parse_trade(t) for t in trades], actor=POLL)
    return merged


@dataclass(frozen=True, slots=True)
class DueStep:
    order_id: int
    step: str  # "send", "replace" (a cancel-replace), "reconcile" (ask the venue)


def orders_due_steps(*, limit: int = 500) -> list[DueStep]:
    """Claim every order whose next step is overdue, in any non-terminal state, and say
    which step to perform - the sweep's work (``orders.orders_reconcile_sweep``).

    A step is overdue when its ``next_step_at`` has passed: the task that was to perform
    it (a countdown retry, a lookup, a send just queued) died with its worker, or the
    broker holds it until its visibility timeout. Orders with no ``next_step_at`` are
    judged by their age: pending or cancel_requested for longer than
    ORDER_STEP_GRACE_SECONDS (their task was queued when they were stored), submitting
    past ORDER_SUBMITTING_TIMEOUT_SECONDS, unknown at once.

    Pending orders are sent, the rest looked up on the venue (the lookup sends a cancel
    again, resends an order the venue never got, or closes a lost one). The claim moves
    ``next_step_at`` ORDER_STEP_GRACE_SECONDS ahead, so the next sweep does not queue the
    step again while its task waits in the queue. A step performed twice (the original
    task was only late) is harmless: a send claims ``pending -> submitting`` with a
    conditional update, a cancel of a closed order is answered "unknown order", a lookup
    only reads. Rows another transaction holds locked are left for the next sweep.
    """
    now = timezone.now()
    grace = timedelta(seconds=settings.ORDER_STEP_GRACE_SECONDS)
    stuck = now - timedelta(seconds=settings.ORDER_SUBMITTING_TIMEOUT_SECONDS)
    # Ended orders have no next step, whoever ended them (a stream update does not know
    # about next_step_at): clear them, so the partial index holds only live steps.
    Order.objects.filter(next_step_at__isnull=False, status__in=TERMINAL).update(next_step_at=None)
    unscheduled = Q(next_step_at__isnull=True) & (
        Q(status=Status.UNKNOWN)
        | Q(status=Status.SUBMITTING, submitted_at__lt=stuck)
        | Q(status=Status.PENDING, created_at__lt=now - grace)
        | Q(status=Status.CANCEL_REQUESTED, updated_at__lt=now - grace)
    )
    due = Q(next_step_at__lte=now, status__in=NOT_TERMINAL) | unscheduled
    with transaction.atomic():
        rows = list(
            Order.objects.select_for_update(skip_locked=True)
            .filter(due)
            .order_by("pk")
            .values_list("pk", "status", "replaces_id")[:limit]
        )
        Order.objects.filter(pk__in=[pk for pk, _, _ in rows]).update(next_step_at=now + grace)
    return [DueStep(pk, _step(Status(status), replaces_id)) for pk, status, replaces_id in rows]


def _step(status: Status, replaces_id: int | None) -> str:
    if status is Status.PENDING:
        # A replacement is only ever sent through cancel-replace (see _not_on_venue).
        return "replace" if replaces_id else "send"
    return "reconcile"


def orders_to_recheck() -> list[int]:
    """Every order the venue may hold whose state we have not confirmed since start-up."""
    return list(
        Order.objects.filter(status__in=ON_VENUE).order_by("pk").values_list("pk", flat=True)
    )


def orders_poll(*, account_id: int) -> int:
    """Poll one account: open orders, then its trades since the last successful poll."""
    from accounts.errors import classify as classify_error
    from accounts.models import ExchangeSyncState
    from accounts.services import sync_state_record

    account = ExchangeAccount.objects.filter(pk=account_id, is_active=True).first()
    if account is None:
        return 0
    now = timezone.now()
    state = ExchangeSyncState.objects.filter(
        account=account, kind=ExchangeSyncState.Kind.TRADES
    ).first()
    # Overlap the previous window: a trade can be published a moment after its time.
    since = (state.last_success_at if state and state.last_success_at else now) - timedelta(
        minutes=5 if state and state.last_success_at else 24 * 60
    )
    try:
        merged = orders_poll_account(account=account, trades_since_ms=int(since.timestamp() * 1000))
    except Exception as exc:  # noqa: BLE001 - recorded on the sync state, retried next period
        failure = classify_error(exc)
        sync_state_record(
            account=account, kind=ExchangeSyncState.Kind.TRADES, at=now, failure=failure
        )
        logger.warning("polling account %s failed: %s", account.pk, failure)
        _alert_if_failing(account, kind=ExchangeSyncState.Kind.TRADES, failure=failure)
        return 0
    sync_state_record(account=account, kind=ExchangeSyncState.Kind.TRADES, at=now)
    return merged


def _alert_if_failing(account: ExchangeAccount, *, kind: str, failure) -> None:
    """Polling that failed HEALTH_SYNC_MAX_ERRORS times in a row raises ``sync.failing``
    (one open alert per account and kind: further failures count on it), as /healthz
    reports it: our orders and fills are then only as fresh as the stream keeps them."""
    from accounts.models import ExchangeSyncState
    from accounts.services import alert_raise

    errors = (
        ExchangeSyncState.objects.filter(account=account, kind=kind)
        .values_list("consecutive_errors", flat=True)
        .first()
    )
    if errors is not None and errors >= settings.HEALTH_SYNC_MAX_ERRORS:
        alert_raise(
            kind="sync.failing",
            account=account,
            subject=kind,
            message=f"polling {kind} of this account failed {errors} times in a row: {failure}",
        )
