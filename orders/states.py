"""The order state machine, as pure functions over plain values.

::

    pending -> submitting -> open -> partially_filled -> filled
                   |           \\-> cancel_requested -> canceled
                   |-> unknown  -> (reconcile by client_order_id) -> any state
                   \\-> rejected            open -> expired

Updates from the venue arrive from the order's own answer, the websocket stream and
REST polling, in any order and more than once. ``decide`` merges one of them into our
record without ever moving backward: the filled amount never shrinks, a terminal order
never changes, and a stale "open" after a partial fill is recorded but not applied.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from decimal import Decimal


class Status(enum.StrEnum):
    PENDING = "pending"
    SUBMITTING = "submitting"
    UNKNOWN = "unknown"
    OPEN = "open"
    PARTIALLY_FILLED = "partially_filled"
    CANCEL_REQUESTED = "cancel_requested"
    FILLED = "filled"
    CANCELED = "canceled"
    REJECTED = "rejected"
    EXPIRED = "expired"


TERMINAL = frozenset({Status.FILLED, Status.CANCELED, Status.REJECTED, Status.EXPIRED})
# Statuses in which the venue may hold the order (it was, or may have been, sent).
ON_VENUE = frozenset(
    {
        Status.SUBMITTING,
        Status.UNKNOWN,
        Status.OPEN,
        Status.PARTIALLY_FILLED,
        Status.CANCEL_REQUESTED,
    }
)
NOT_TERMINAL = frozenset(Status) - TERMINAL

# Progress of an order that lives on the venue; a higher rank is further along.
_RANK = {
    Status.PENDING: 0,
    Status.SUBMITTING: 1,
    Status.UNKNOWN: 1,
    Status.OPEN: 2,
    Status.PARTIALLY_FILLED: 3,
    Status.CANCEL_REQUESTED: 3,
}

# Transitions our own services make (not the venue's): claim, give up, ask to cancel.
LOCAL_TRANSITIONS: dict[Status, frozenset[Status]] = {
    Status.PENDING: frozenset({Status.SUBMITTING, Status.CANCELED}),
    # Back to pending only when the venue refused the request unread (rate limit):
    # nothing was placed, so sending again cannot duplicate it.
    Status.SUBMITTING: frozenset(
        {
            Status.PENDING,
            Status.UNKNOWN,
            Status.REJECTED,
            Status.OPEN,
            Status.PARTIALLY_FILLED,
            Status.FILLED,
            Status.CANCELED,
            Status.EXPIRED,
        }
    ),
    # Reconciliation found no order with our client id after the venue's receive window:
    # it never arrived, so it may be sent again.
    Status.UNKNOWN: frozenset({Status.PENDING}),
    # Expired: the venue no longer knows the order after its lookup window (lost, e.g.
    # in an exchange restart) - closed by us, with a drift row and an alert.
    Status.OPEN: frozenset({Status.CANCEL_REQUESTED, Status.EXPIRED}),
    Status.PARTIALLY_FILLED: frozenset({Status.CANCEL_REQUESTED, Status.EXPIRED}),
    # The venue refused the cancel (e.g. the order had just filled or the call failed):
    # the next venue update decides; until then the request stands.
    Status.CANCEL_REQUESTED: frozenset({Status.EXPIRED}),
}


def can_transition(current: Status, target: Status) -> bool:
    return target in LOCAL_TRANSITIONS.get(current, frozenset())


# ccxt's unified order status -> ours, refined by the filled amount.
def venue_status(ccxt_status: str | None, *, filled: Decimal) -> Status | None:
    match ccxt_status:
        case "open":
            return Status.PARTIALLY_FILLED if filled > 0 else Status.OPEN
        case "closed":
            return Status.FILLED
        case "canceled" | "cancelled":
            return Status.CANCELED
        case "expired":
            return Status.EXPIRED
        case "rejected":
            return Status.REJECTED
    return None


@dataclass(frozen=True, slots=True)
class Snapshot:
    status: Status
    filled: Decimal


class Verdict(enum.StrEnum):
    APPLY = "apply"  # a change forward: store it
    SAME = "same"  # nothing new (a duplicate delivery): store nothing
    STALE = "stale"  # would move backward: record the event, do not apply


@dataclass(frozen=True, slots=True)
class Decision:
    verdict: Verdict
    status: Status  # the status to keep (unchanged unless APPLY)
    take_fill: bool  # take the update's filled / remaining / average / cost
    reason: str = ""


def decide(current: Snapshot, update: Snapshot) -> Decision:
    """How to merge a venue update into our record of the order."""
    if current.status in TERMINAL:
        if update.status == current.status and update.filled == current.filled:
            return Decision(Verdict.SAME, current.status, take_fill=False)
        return Decision(
            Verdict.STALE,
            current.status,
            take_fill=False,
            reason=f"order is already {current.status}; update says {update.status}",
        )
    if update.filled < current.filled:
        return Decision(
            Verdict.STALE,
            current.status,
            take_fill=False,
            reason=f"filled would go back from {current.filled} to {update.filled}",
        )
    more_filled = update.filled > current.filled
    if update.status in TERMINAL:
        return Decision(Verdict.APPLY, update.status, take_fill=True)
    if current.status is Status.CANCEL_REQUESTED:
        # Fills that happen while a cancel is on its way still count; the status waits
        # for the venue's answer to the cancel.
        if more_filled:
            return Decision(Verdict.APPLY, current.status, take_fill=True)
        return Decision(Verdict.SAME, current.status, take_fill=False)
    if _RANK[update.status] > _RANK[current.status] or more_filled:
        return Decision(Verdict.APPLY, update.status, take_fill=True)
    if _RANK[update.status] == _RANK[current.status]:
        return Decision(Verdict.SAME, current.status, take_fill=False)
    return Decision(
        Verdict.STALE,
        current.status,
        take_fill=False,
        reason=f"order is {current.status}; update says {update.status}",
    )
