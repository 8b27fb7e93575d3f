"""Audit events of the orders app: one ``record_<event>()`` per event type.

Each is written in the same transaction as the change it records. Rows are
append-only (OrderEvent.save refuses updates; the admin shows them read-only).
"""

from __future__ import annotations

import threading
from contextlib import contextmanager
from decimal import Decimal

from orders.models import Fill, Order, OrderEvent

CREATED = "order.created"
SUBMITTING = "order.submitting"
SEND_RETRY = "order.send_retry"
UNKNOWN = "order.unknown"
REJECTED = "order.rejected"
CANCEL_REQUESTED = "order.cancel_requested"
CANCEL_FAILED = "order.cancel_failed"
# A cancel asked for again while the order waits in cancel_requested: sent again.
CANCEL_REPEATED = "order.cancel_repeated"
# A cancel sent whose outcome is unknown (5xx, timeout): looked up, and sent again.
CANCEL_UNKNOWN = "order.cancel_unknown"
# The venue does not know an order we believe it holds: first miss, then closed as lost.
NOT_FOUND = "order.not_found"
LOST = "order.lost"
RESEND = "order.resend"
UPDATE_IGNORED = "order.update_ignored"
FILL = "order.fill"
ADOPTED = "order.adopted"
VENUE_ID_REUSED = "order.venue_id_reused"
AMEND_REFUSED = "order.amend_refused"
AMENDED = "order.amended"
HALTED = "order.halted"
# Venue-reported progress: "order.open", "order.partially_filled", "order.filled", ...
STATUS_PREFIX = "order."


# While a batch collects (``collecting()``), events are kept and inserted together when
# it ends: a delivery of a hundred order updates is two statements of events, not two
# hundred. Per thread; a batch runs inside one transaction.
_batch = threading.local()


@contextmanager
def collecting():
    """Insert the events recorded inside the block in one statement, at its end."""
    outer = getattr(_batch, "events", None)
    if outer is not None:  # already collecting: the outermost block inserts
        yield
        return
    _batch.events = []
    try:
        yield
        from orders.services.bulk import copy_insert

        copy_insert(_batch.events, ids=False)  # nothing reads a batch's events again
    finally:
        _batch.events = None


def _save(**fields) -> OrderEvent:
    event = OrderEvent(**fields)
    pending = getattr(_batch, "events", None)
    if pending is not None:
        pending.append(event)
    else:
        event.save()
    return event


def _save_all(events: list[OrderEvent]) -> list[OrderEvent]:
    pending = getattr(_batch, "events", None)
    if pending is not None:
        pending.extend(events)
        return events
    return OrderEvent.objects.bulk_create(events)


def record_created(*, order: Order, actor: str) -> OrderEvent:
    return _save(
        order=order,
        type=CREATED,
        actor=actor,
        new_status=order.status,
        new_filled=Decimal(0),
        new_remaining=order.amount,
        new_price=order.price,
        reason=f"{order.origin}: {order.side} {order.amount} {order.symbol} {order.type}",
    )


def record_status(
    *,
    order: Order,
    type: str,
    old_status: str,
    actor: str,
    reason: str = "",
    raw: dict | None = None,
) -> OrderEvent:
    """A status change our own services made (claim, retry, unknown, rejected, cancel)."""
    return _save(
        order=order,
        type=type,
        actor=actor,
        old_status=old_status,
        new_status=order.status,
        reason=reason,
        raw=raw,
    )


def record_venue_update(
    *,
    order: Order,
    old_status: str,
    old_filled: Decimal,
    old_remaining: Decimal | None,
    old_price: Decimal | None,
    actor: str,
    raw: dict | None,
) -> OrderEvent:
    """The venue moved the order forward: new status and/or more filled."""
    return _save(
        order=order,
        type=STATUS_PREFIX + order.status,
        actor=actor,
        old_status=old_status,
        new_status=order.status,
        old_filled=old_filled,
        new_filled=order.filled,
        old_remaining=old_remaining,
        new_remaining=order.remaining,
        old_price=old_price,
        new_price=order.price,
        raw=raw,
    )


def record_update_ignored(
    *, order: Order, reason: str, actor: str, new_status: str, new_filled: Decimal, raw: dict | None
) -> OrderEvent:
    """An update that would move the order backward: kept for the audit, not applied."""
    return _save(
        order=order,
        type=UPDATE_IGNORED,
        actor=actor,
        old_status=order.status,
        new_status=new_status,
        old_filled=order.filled,
        new_filled=new_filled,
        reason=reason,
        raw=raw,
    )


def record_fills(*, order: Order, fills: list[Fill], actor: str) -> list[OrderEvent]:
    return _save_all(
        [
            OrderEvent(
                order=order,
                type=FILL,
                actor=actor,
                fill=fill,
                reason=f"{fill.side} {fill.amount} @ {fill.price} (trade {fill.exchange_trade_id})",
            )
            for fill in fills
        ]
    )


def record_adopted(*, order: Order, actor: str, raw: dict | None) -> OrderEvent:
    return _save(
        order=order,
        type=ADOPTED,
        actor=actor,
        new_status=order.status,
        new_filled=order.filled,
        reason="found on the exchange; not placed by this platform",
        raw=raw,
    )


def record_venue_id_reused(*, order: Order, venue_id: str, actor: str) -> OrderEvent:
    return _save(
        order=order,
        type=VENUE_ID_REUSED,
        actor=actor,
        old_status=order.status,
        new_status=order.status,
        reason=(
            f"the exchange gave its id {venue_id} to another order (was it reset?); "
            "this order no longer goes by it"
        ),
    )


def record_amend_refused(*, order: Order, reason: str, actor: str) -> OrderEvent:
    """An amendment the send path would not send (a halt, the account, the key)."""
    return record_status(
        order=order, type=AMEND_REFUSED, old_status=order.status, actor=actor, reason=reason
    )
