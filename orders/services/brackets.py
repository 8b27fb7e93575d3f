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
from django.db.models import QuerySet, Sum

from accounts.models import ExchangeAccount
from common.decimal import normalize
from common.exceptions import Conflict
from orders import events, signals, tasks, venue
from orders.models import Order
from orders.services.cancel import order_cancel
from orders.services.common import SYSTEM, publish_order
from orders.states import NOT_TERMINAL, TERMINAL, Status

logger = logging.getLogger(__name__)

CHILD_ROLES = (Order.Role.STOP_LOSS, Order.Role.TAKE_PROFIT)

# The Idempotency-Key of an order that closes a position (positions.services
# position_close): "position-close:<position id>:<attempt>". It marks the order as a close
# that the position's stop-loss and take-profit must not race.
CLOSE_KEY_PREFIX = "position-close:"
# How soon a close waiting for its protective orders' cancels, or a cancel that could not
# be asked yet (the order being sent), is looked at again.
RECHECK_SECONDS = 1.0


def order_followups(*, order_id: int) -> None:
    """Work that follows an order's fill or end: protect a bracket entry, settle an OCO,
    report a protective order the exchange refused, release a close that waited for its
    position's stop and target to be cancelled."""
    order = Order.objects.select_related("account").filter(pk=order_id).first()
    if order is None:
        return
    if order.role == Order.Role.ENTRY:
        bracket_protect(entry=order)
    elif order.role in CHILD_ROLES:
        if order.filled > 0 or order.status == Status.FILLED:
            oco_settle(order=order)
        elif order.status in (Status.REJECTED, Status.EXPIRED):
            protection_refused_check(order=order)
        elif order.status not in TERMINAL and _closing(order):
            # Its position is being closed, but it could not be cancelled then (it was
            # being sent): now it can.
            protection_cancel(
                account=order.account,
                symbol=order.symbol,
                side=order.side,
                actor=SYSTEM,
                reason="its position is being closed",
            )
        if order.status in TERMINAL:
            close_release(order=order)


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
        placed = " and ".join(
            f"{child.get_role_display().lower()} at {normalize(child.stop_price)}"
            for child in created
        )
        _announce_on_commit(
            signals.protection_placed,
            entry,
            side=_position_side(exit_side),
            order_id=entry.pk,
            reason=f"{placed} for {normalize(missing)} (entry {entry.client_order_id})",
        )
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
        try:
            order_cancel(
                order=sibling,
                actor=SYSTEM,
                reason=f"one-cancels-the-other: {order.role} {order.client_order_id} filled",
            )
            return
        except Conflict:
            # It moved on since it was read: it ended (filled too, when the price went
            # through both triggers) - nothing to cancel - or it is being sent.
            sibling.refresh_from_db(fields=["status"])
    if sibling.status in (Status.SUBMITTING, Status.UNKNOWN):
        # Not answered yet: try again once the venue has told us where it stands.
        tasks.order_followups.apply_async((order.pk,), countdown=RECHECK_SECONDS)


# --- Protective orders the exchange refuses; closing a protected position ----------------


def _position_side(exit_side: str) -> str:
    """The side of the position an exit order of ``exit_side`` protects or closes."""
    return "long" if exit_side == "sell" else "short"


def _announce_on_commit(signal, order: Order, **arguments) -> None:
    """Tell other apps (positions) once the transaction commits (at once outside one)."""
    account_id, symbol = order.account_id, order.symbol

    def announce() -> None:
        signal.send(sender=Order, account_id=account_id, symbol=symbol, **arguments)

    transaction.on_commit(announce)


def _refused(order: Order) -> bool | None:
    """Whether a stop-loss / take-profit that ended without trading was refused by the
    exchange (True), ended as one-cancels-the-other wants (False), or cannot tell yet
    (None). Rejected - by the venue, or a send that failed for good - is a refusal.
    Expired untriggered is one too, unless its spot OCO partner traded: the venue
    expires the other order of a list as one triggers; while that partner's own update
    has not arrived, we cannot tell."""
    if order.status == Status.REJECTED:
        return True
    if order.status != Status.EXPIRED or order.filled > 0:
        return False
    sibling = order.linked
    if sibling is None:
        return True
    if sibling.filled > 0 or sibling.status == Status.FILLED:
        return False
    if sibling.status in TERMINAL or _is_contract(order):
        # Both ended with nothing traded; or USD-M, where the venue does not pair them.
        return True
    return None


def protection_refused_check(*, order: Order) -> bool:
    """A protective order ended without trading: if the exchange refused it, announce
    ``protection_refused`` on commit (positions marks the position unprotected, raises an
    alert and applies the account's policy). Idempotent on the receiving side; returns
    whether it was a refusal. Undecided (a spot OCO partner not heard from yet): looked
    at again shortly."""
    refused = _refused(order)
    if refused is None:
        transaction.on_commit(
            lambda: tasks.order_followups.apply_async((order.pk,), countdown=RECHECK_SECONDS)
        )
        return False
    if not refused or _closing(order):
        return False
    reason = (
        f"the exchange {'rejected' if order.status == Status.REJECTED else 'expired'} "
        f"{order.get_role_display().lower()} {order.client_order_id} "
        f"({order.side} {normalize(order.amount)} at {normalize(order.stop_price)})"
        + (f": {order.status_reason}" if order.status_reason else "")
    )
    logger.warning("protective order refused: %s", reason)
    _announce_on_commit(
        signals.protection_refused,
        order,
        side=_position_side(order.side),
        order_id=order.pk,
        reason=reason,
    )
    return True


def protective_orders(*, account_id: int, symbol: str, side: str) -> QuerySet[Order]:
    """The stop-loss and take-profit orders still working (not ended) that would exit a
    position of ``symbol`` by an order of ``side``, in id order."""
    return Order.objects.filter(
        account_id=account_id,
        symbol=symbol,
        side=side,
        role__in=CHILD_ROLES,
        reduce_only=True,
        status__in=NOT_TERMINAL,
    ).order_by("pk")


def protection_locked(orders: list[Order]) -> Decimal:
    """The coins these spot protective orders hold on the venue: a spot OCO list holds
    its amount once for both orders."""
    ids = {order.pk for order in orders}
    return sum(
        (
            order.remaining
            for order in orders
            if not (order.role == Order.Role.TAKE_PROFIT and order.linked_id in ids)
        ),
        Decimal(0),
    )


def protection_cancel(
    *, account: ExchangeAccount, symbol: str, side: str, actor: str, reason: str
) -> list[Order]:
    """Ask for the position's working stop-loss and take-profit orders (exiting by
    ``side``) to be cancelled; return those not ended yet. Idempotent: a cancel already on
    its way is not asked again (``order_cancel``).

    A spot OCO list is cancelled as one: its stop-loss's cancel cancels the take-profit
    on the venue, so the take-profit is asked for only once its partner has ended (and
    it has not). An order being sent or in an unknown state cannot be cancelled until the
    venue has answered: its follow-up asks again shortly."""
    working = list(protective_orders(account_id=account.pk, symbol=symbol, side=side))
    by_id = {order.pk: order for order in working}
    spot = account.market_type == ExchangeAccount.MarketType.SPOT
    for order in working:
        partner = by_id.get(order.linked_id)
        if spot and order.role == Order.Role.TAKE_PROFIT and partner is not None:
            if partner.status in (
                Status.OPEN,
                Status.PARTIALLY_FILLED,
                Status.CANCEL_REQUESTED,
            ):
                continue  # cancelled with its list
        try:
            order_cancel(order=order, actor=actor, reason=reason)
        except Conflict:
            order_id = order.pk
            transaction.on_commit(
                lambda order_id=order_id: tasks.order_followups.apply_async(
                    (order_id,), countdown=RECHECK_SECONDS
                )
            )
    return list(protective_orders(account_id=account.pk, symbol=symbol, side=side))


def _closing(order: Order) -> bool:
    """Whether a close of the position this protective order guards was asked for after
    it was placed (and has not failed)."""
    return Order.objects.filter(
        account_id=order.account_id,
        symbol=order.symbol,
        side=order.side,
        idempotency_key__startswith=CLOSE_KEY_PREFIX,
        pk__gt=order.pk,
        status__in=NOT_TERMINAL | {Status.FILLED},
    ).exists()


def close_waits(*, order: Order) -> bool:
    """Whether a spot close order must not be sent yet: stop-loss or take-profit orders of
    its position, placed before it, have not ended. They hold the coins the close sells;
    until the venue confirms their cancel (an outcome unknown included) the close waits
    ``pending``, and each look asks for the cancels again. USD-M never waits: protective
    orders are reduce-only there, so closing first is safe."""
    if (
        order.account.market_type != ExchangeAccount.MarketType.SPOT
        or not (order.idempotency_key or "").startswith(CLOSE_KEY_PREFIX)
        or not protective_orders(account_id=order.account_id, symbol=order.symbol, side=order.side)
        .filter(pk__lt=order.pk)
        .exists()
    ):
        return False
    protection_cancel(
        account=order.account,
        symbol=order.symbol,
        side=order.side,
        actor=SYSTEM,
        reason=f"closing the position ({order.client_order_id})",
    )
    return True


def close_release(*, order: Order) -> None:
    """A protective order ended: send the spot close orders of its position that waited
    for it, once nothing else holds them back (the send claims each once)."""
    waiting = Order.objects.select_related("account").filter(
        account_id=order.account_id,
        symbol=order.symbol,
        side=order.side,
        idempotency_key__startswith=CLOSE_KEY_PREFIX,
        status=Status.PENDING,
        pk__gt=order.pk,
    )
    for close in waiting:
        if not close_waits(order=close):
            tasks.order_send.delay_on_commit(close.pk)
