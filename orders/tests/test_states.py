"""The order state machine: forward only, whatever order updates arrive in."""

from decimal import Decimal

import pytest

from orders.states import (
    Snapshot,
    Status,
    Verdict,
    can_transition,
    decide,
    venue_status,
)

S = Status
ZERO = Decimal(0)


def snap(status, filled="0"):
    return Snapshot(status, Decimal(filled))


@pytest.mark.parametrize(
    ("ccxt_status", "filled", "ours"),
    [
        ("open", "0", S.OPEN),
        ("open", "0.5", S.PARTIALLY_FILLED),
        ("closed", "1", S.FILLED),
        ("canceled", "0.3", S.CANCELED),
        ("expired", "0", S.EXPIRED),
        ("rejected", "0", S.REJECTED),
        ("weird", "0", None),
        (None, "0", None),
    ],
)
def test_ccxt_statuses_map_to_ours_refined_by_the_filled_amount(ccxt_status, filled, ours):
    assert venue_status(ccxt_status, filled=Decimal(filled)) == ours


@pytest.mark.parametrize(
    ("current", "update", "verdict", "status"),
    [
        (snap(S.SUBMITTING), snap(S.OPEN), Verdict.APPLY, S.OPEN),
        (snap(S.UNKNOWN), snap(S.FILLED, "1"), Verdict.APPLY, S.FILLED),
        (snap(S.UNKNOWN), snap(S.OPEN), Verdict.APPLY, S.OPEN),
        (snap(S.OPEN), snap(S.PARTIALLY_FILLED, "0.4"), Verdict.APPLY, S.PARTIALLY_FILLED),
        (
            snap(S.PARTIALLY_FILLED, "0.4"),
            snap(S.PARTIALLY_FILLED, "0.7"),
            Verdict.APPLY,
            S.PARTIALLY_FILLED,
        ),
        (snap(S.PARTIALLY_FILLED, "0.4"), snap(S.FILLED, "1"), Verdict.APPLY, S.FILLED),
        (snap(S.OPEN), snap(S.CANCELED), Verdict.APPLY, S.CANCELED),
        (snap(S.OPEN), snap(S.EXPIRED), Verdict.APPLY, S.EXPIRED),
        (snap(S.SUBMITTING), snap(S.REJECTED), Verdict.APPLY, S.REJECTED),
        # A fill that happens while our cancel is on its way counts; the status waits.
        (
            snap(S.CANCEL_REQUESTED, "0.2"),
            snap(S.PARTIALLY_FILLED, "0.5"),
            Verdict.APPLY,
            S.CANCEL_REQUESTED,
        ),
        (snap(S.CANCEL_REQUESTED, "0.2"), snap(S.CANCELED, "0.2"), Verdict.APPLY, S.CANCELED),
        (snap(S.CANCEL_REQUESTED), snap(S.OPEN), Verdict.SAME, S.CANCEL_REQUESTED),
        # Duplicates change nothing.
        (snap(S.OPEN), snap(S.OPEN), Verdict.SAME, S.OPEN),
        (
            snap(S.PARTIALLY_FILLED, "0.4"),
            snap(S.PARTIALLY_FILLED, "0.4"),
            Verdict.SAME,
            S.PARTIALLY_FILLED,
        ),
        (snap(S.FILLED, "1"), snap(S.FILLED, "1"), Verdict.SAME, S.FILLED),
        # Backward: recorded, not applied.
        (snap(S.PARTIALLY_FILLED, "0.4"), snap(S.OPEN), Verdict.STALE, S.PARTIALLY_FILLED),
        (
            snap(S.PARTIALLY_FILLED, "0.7"),
            snap(S.PARTIALLY_FILLED, "0.4"),
            Verdict.STALE,
            S.PARTIALLY_FILLED,
        ),
        (snap(S.FILLED, "1"), snap(S.PARTIALLY_FILLED, "0.5"), Verdict.STALE, S.FILLED),
        (snap(S.CANCELED), snap(S.OPEN), Verdict.STALE, S.CANCELED),
        (snap(S.FILLED, "1"), snap(S.CANCELED, "1"), Verdict.STALE, S.FILLED),
        (snap(S.CANCELED, "0.3"), snap(S.FILLED, "1"), Verdict.STALE, S.CANCELED),
    ],
)
def test_updates_merge_forward_only(current, update, verdict, status):
    decision = decide(current, update)

    assert decision.verdict is verdict
    assert decision.status is status
    assert decision.take_fill is (verdict is Verdict.APPLY)
    if verdict is Verdict.STALE:
        assert decision.reason


def test_any_arrival_order_of_the_same_updates_ends_in_the_same_state():
    from itertools import permutations

    updates = [
        snap(S.OPEN),
        snap(S.PARTIALLY_FILLED, "0.3"),
        snap(S.PARTIALLY_FILLED, "0.6"),
        snap(S.FILLED, "1"),
    ]
    for order in permutations(updates):
        state = snap(S.SUBMITTING)
        for update in order:
            decision = decide(state, update)
            if decision.verdict is Verdict.APPLY:
                state = Snapshot(decision.status, update.filled)
        assert state == snap(S.FILLED, "1")


@pytest.mark.parametrize(
    ("current", "target", "allowed"),
    [
        (S.PENDING, S.SUBMITTING, True),
        (S.PENDING, S.CANCELED, True),
        (S.SUBMITTING, S.PENDING, True),
        (S.SUBMITTING, S.UNKNOWN, True),
        (S.UNKNOWN, S.PENDING, True),
        (S.OPEN, S.CANCEL_REQUESTED, True),
        (S.CANCEL_REQUESTED, S.EXPIRED, True),
        (S.CANCEL_REQUESTED, S.OPEN, False),
        (S.FILLED, S.CANCEL_REQUESTED, False),
        (S.OPEN, S.PENDING, False),
        (S.CANCELED, S.OPEN, False),
    ],
)
def test_local_transitions(current, target, allowed):
    assert can_transition(current, target) is allowed
