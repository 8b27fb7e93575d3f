"""Protective orders and the positions they guard, end to end against the simulator: a
stop or target the exchange refuses marks the position unprotected, alerts and applies
the account's policy; closing a position cancels its stop and target first."""

from decimal import Decimal

import pytest
from rest_framework.test import APIClient

from accounts.models import Alert, ExchangeAccount
from orders import services
from orders.models import Order
from orders.states import Status
from orders.tests.test_lifecycle import send, submit, venue_orders
from positions import services as positions
from positions.models import Position

pytestmark = pytest.mark.django_db

PERP = "BTC/USDT:USDT"


def refresh(*orders):
    for order in orders:
        order.refresh_from_db()


def move(sim, price, venue):
    sim.control("POST", "/price", {"symbol": "BTC/USDT", "price": price, "venue": venue})


def bracket(account, **fields):
    """A filled market entry with a stop-loss at 59000 and a take-profit at 61000, its
    fills applied to positions, its pair created (not sent) and announced."""
    from django.test import TestCase

    entry = submit(
        account,
        amount=Decimal("0.01"),
        stop_loss_price=Decimal("59000"),
        take_profit_price=Decimal("61000"),
        **fields,
    )
    send(entry)
    assert entry.status == Status.FILLED
    positions.positions_apply_fills(account_id=account.pk)
    with TestCase.captureOnCommitCallbacks(execute=True):
        services.order_followups(order_id=entry.pk)
    stop = entry.children.get(role=Order.Role.STOP_LOSS)
    take = entry.children.get(role=Order.Role.TAKE_PROFIT)
    return entry, stop, take


def spot_position(account):
    positions.positions_apply_fills(account_id=account.pk)
    return Position.objects.get(account=account, symbol="BTC/USDT", status="open")


def test_a_spot_pair_the_exchange_refuses_leaves_the_position_unprotected_with_an_alert(
    make_sim_account, sim, django_capture_on_commit_callbacks
):
    account = make_sim_account()
    _entry, stop, take = bracket(account)
    position = spot_position(account)
    position.refresh_from_db()
    assert position.protection == Position.Protection.PROTECTED
    # The market falls through the stop before the list goes out: the venue refuses it.
    move(sim, "58900", "spot")

    assert send(stop).outcome == "rejected"
    with django_capture_on_commit_callbacks(execute=True):
        services.order_followups(order_id=stop.pk)
        services.order_followups(order_id=stop.pk)  # a duplicate follow-up changes nothing

    position.refresh_from_db()
    assert position.protection == Position.Protection.UNPROTECTED
    assert stop.client_order_id in position.protection_reason
    assert "rejected" in position.protection_reason
    alert = Alert.objects.get(account=account, kind="position.unprotected")
    assert (alert.subject, alert.severity, alert.occurrences) == ("BTC/USDT", "critical", 1)
    assert "Place a stop by hand" in alert.message
    # The account's policy is "alert": nothing is closed.
    assert not Order.objects.filter(account=account, idempotency_key__isnull=False).exists()
    refresh(take)
    assert take.status == Status.REJECTED


def test_a_refused_stop_closes_the_position_when_the_account_says_so(
    make_sim_account, sim, django_capture_on_commit_callbacks
):
    account = make_sim_account(
        market_type="swap", on_protection_refused=ExchangeAccount.ProtectionPolicy.CLOSE
    )
    _entry, stop, take = bracket(account, symbol=PERP)
    move(sim, "58900", "futures")

    assert send(stop).outcome == "rejected"  # would trigger at once
    send(take)
    assert take.status == Status.OPEN
    with django_capture_on_commit_callbacks(execute=True):
        services.order_followups(order_id=stop.pk)

    # Our record of the position came from the exchange, synced for the occasion.
    position = Position.objects.get(account=account, symbol=PERP)
    assert position.protection == Position.Protection.NONE  # closing: its stop is gone
    assert Alert.objects.get(account=account, kind="position.unprotected").severity == "critical"
    close = Order.objects.get(account=account, idempotency_key__startswith="position-close:")
    assert (close.side, close.type, close.reduce_only, close.origin) == (
        "sell",
        "market",
        True,
        Order.Origin.SYSTEM,
    )
    refresh(take)
    assert take.status == Status.CANCEL_REQUESTED  # the target goes with it

    assert send(close).outcome == "sent"
    assert close.status == Status.FILLED
    assert venue_orders(sim, account)["positions"] == []
    if services.order_cancel_send(order_id=take.pk) == "reconcile":
        services.order_reconcile(order_id=take.pk)  # an algo cancel answers without it
    refresh(take)
    assert take.status == Status.CANCELED


def test_an_oco_partner_expired_by_the_venue_is_not_a_refusal(
    make_sim_account, sim, django_capture_on_commit_callbacks
):
    account = make_sim_account()
    _entry, stop, take = bracket(account)
    spot_position(account)
    send(stop)
    move(sim, "61050", "spot")
    sim.control("POST", "/step", {"n": 2})
    services.order_reconcile(order_id=stop.pk)
    services.order_reconcile(order_id=take.pk)
    refresh(stop, take)
    assert (stop.status, take.status) == (Status.EXPIRED, Status.FILLED)

    with django_capture_on_commit_callbacks(execute=True):
        services.order_followups(order_id=stop.pk)

    assert not Alert.objects.filter(kind="position.unprotected").exists()


def test_closing_a_spot_position_cancels_its_oco_first_and_sells_only_once_it_is_gone(
    make_sim_account, sim, django_capture_on_commit_callbacks
):
    account = make_sim_account()
    _entry, stop, take = bracket(account)
    send(stop)
    refresh(take)
    assert (stop.status, take.status) == (Status.OPEN, Status.OPEN)
    position = spot_position(account)
    # The first cancel's outcome is unknown (a 503): the list may still hold the coins.
    sim.control(
        "POST",
        "/faults",
        {"method": "DELETE", "path": "/api/v3/order", "action": "status", "status": 503},
    )

    close = positions.position_close(position=position, actor="test")
    again = positions.position_close(position=position, actor="test")

    assert again.pk == close.pk  # exactly once
    refresh(stop, take)
    assert stop.status == Status.CANCEL_REQUESTED
    assert take.status == Status.OPEN  # cancelled with its list, not on its own
    assert services.order_cancel_send(order_id=stop.pk) == "reconcile"
    refresh(stop)
    assert stop.status == Status.CANCEL_REQUESTED
    assert send(close).outcome == "retry"  # waits: never sells coins the list holds
    assert close.status == Status.PENDING

    sim.control("DELETE", "/faults")
    assert services.order_cancel_send(order_id=stop.pk) in ("done", "reconcile")
    services.order_reconcile(order_id=stop.pk)
    refresh(stop)
    assert stop.status == Status.CANCELED
    with django_capture_on_commit_callbacks(execute=True) as queued:
        services.order_followups(order_id=stop.pk)
    refresh(take)
    # Our record of the take-profit lags the venue's (no stream here): asked for again.
    assert take.status == Status.CANCEL_REQUESTED
    assert not any("order_send" in repr(c) for c in queued)
    services.order_cancel_send(order_id=take.pk)
    services.order_reconcile(order_id=take.pk)
    refresh(take)
    assert take.status == Status.CANCELED

    with django_capture_on_commit_callbacks() as queued:
        services.order_followups(order_id=take.pk)
    assert len([c for c in queued if "order_send" in repr(c)]) == 1  # the close, released
    assert send(close).outcome == "sent"
    assert close.status == Status.FILLED
    venue = venue_orders(sim, account)
    assert venue["open_orders"] == []
    assert Decimal(venue["spot"]["BTC"]["locked"]) == 0
    assert Decimal(venue["spot"]["BTC"]["free"]) == Decimal("10")  # bought 0.01, sold 0.01


def test_closing_a_futures_position_sends_at_once_and_cancels_its_stop_and_target(
    make_sim_account, sim
):
    account = make_sim_account(market_type="swap")
    _entry, stop, take = bracket(account, symbol=PERP)
    send(stop)
    send(take)
    positions.positions_sync(account=account)
    position = Position.objects.get(account=account, symbol=PERP, status="open")

    close = positions.position_close(position=position, actor="test")

    refresh(stop, take)
    assert (stop.status, take.status) == (Status.CANCEL_REQUESTED, Status.CANCEL_REQUESTED)
    assert send(close).outcome == "sent"  # reduce-only stops cannot oversell: no wait
    assert close.status == Status.FILLED
    for order in (stop, take):
        if services.order_cancel_send(order_id=order.pk) == "reconcile":
            services.order_reconcile(order_id=order.pk)
    refresh(stop, take)
    assert (stop.status, take.status) == (Status.CANCELED, Status.CANCELED)
    assert venue_orders(sim, account)["open_algo_orders"] == []


def test_the_positions_api_shows_protection_and_closing_cancels_it(make_sim_account, sim):
    account = make_sim_account()
    _entry, stop, _take = bracket(account)
    send(stop)
    position = spot_position(account)
    client = APIClient()
    client.force_authenticate(account.owner)

    shown = client.get(f"/api/positions/{position.pk}/").json()
    closed = client.post(f"/api/positions/{position.pk}/close/")
    after = client.get(f"/api/positions/{position.pk}/").json()

    assert shown["protection"] == "protected"
    assert "stop loss at 59000" in shown["protection_reason"]
    assert closed.status_code == 202
    assert closed.json()["status"] == "pending"
    assert after["protection"] == "none"
    stop.refresh_from_db()
    assert stop.status == Status.CANCEL_REQUESTED
