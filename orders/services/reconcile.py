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
from orders.services.common import POLL, RECONCILE, order_transition
from orders.services.updates import fills_record, order_apply_update, order_apply_updates
from orders.states import NOT_TERMINAL, ON_VENUE, Status

logger = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class ReconcileResult:
    outcome: str  # "applied", "resend", "wait", "retry", "skipped"
    delay: float = 0.0


def order_reconcile(*, order_id: int) -> ReconcileResult:
    """Ask the venue for one order by its client order id and merge the answer.

    For an order in ``unknown`` (or ``submitting`` with no worker left): found -> merged
    like any update; not found -> once the venue's receive window has passed since it
    was sent, it can never arrive, so it goes back to ``pending`` and is sent again;
    before that, wait. This is the only path on which an order is sent twice, and only
    after the venue has said it does not have it.
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
        return ReconcileResult("retry", delay=5.0)
    if not answer.get("clientOrderId"):
        answer["clientOrderId"] = order.client_order_id
    order_apply_update(account=account, update=venue.parse_order(answer), actor=RECONCILE)
    return ReconcileResult("applied")


def _not_on_venue(order: Order) -> ReconcileResult:
    if order.status not in (Status.UNKNOWN, Status.SUBMITTING):
        # We believed it was on the venue and the venue does not know it.
        with transaction.atomic():
            events.record_status(
                order=order,
                type="order.not_found",
                old_status=order.status,
                actor=RECONCILE,
                reason="the exchange does not know this order",
            )
        return ReconcileResult("skipped")
    window = timedelta(seconds=settings.ORDER_RESEND_AFTER_SECONDS)
    age = timezone.now() - (order.submitted_at or order.created_at)
    if age < window:
        return ReconcileResult("wait", delay=(window - age).total_seconds() + 0.5)
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
        )
        return ReconcileResult("skipped")
    moved = order_transition(
        order,
        expected=order.status,
        target=Status.PENDING,
        event=events.RESEND,
        reason="not on the exchange after its receive window: sending again",
        actor=RECONCILE,
    )
    if not moved:
        return ReconcileResult("skipped")
    return ReconcileResult("resend")


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


def orders_needing_reconcile() -> list[int]:
    """Orders whose state on the venue we do not know: unknown, or stuck submitting."""
    stuck = timezone.now() - timedelta(seconds=settings.ORDER_SUBMITTING_TIMEOUT_SECONDS)
    return list(Order.objects.filter(status=Status.UNKNOWN).values_list("pk", flat=True)) + list(
        Order.objects.filter(status=Status.SUBMITTING, submitted_at__lt=stuck).values_list(
            "pk", flat=True
        )
    )


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
        return 0
    sync_state_record(account=account, kind=ExchangeSyncState.Kind.TRADES, at=now)
    return merged
