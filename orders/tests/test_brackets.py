"""Brackets and one-cancels-the-other, end to end against the simulator (USD-M)."""

from decimal import Decimal

import pytest

from orders import services
from orders.models import Order
from orders.states import Status
from orders.tests.test_lifecycle import event_types, send, submit

pytestmark = pytest.mark.django_db

SYMBOL = "BTC/USDT:USDT"


def refresh(*orders):
    for order in orders:
        order.refresh_from_db()


def children(entry):
    stop = entry.children.get(role=Order.Role.STOP_LOSS)
    take = entry.children.get(role=Order.Role.TAKE_PROFIT)
    return stop, take


def test_a_filled_bracket_entry_is_protected_and_the_take_profit_cancels_the_stop(
    make_sim_account, sim
):
    account = make_sim_account(market_type="swap")
    entry = submit(
        account,
        symbol=SYMBOL,
        amount=Decimal("0.01"),
        stop_loss_price=Decimal("59000"),
        take_profit_price=Decimal("61000"),
    )
    send(entry)
    assert entry.status == Status.FILLED

    services.order_followups(order_id=entry.pk)
    stop, take = children(entry)
    assert (stop.type, stop.side, stop.amount, stop.stop_price, stop.reduce_only) == (
        "stop_market",
        "sell",
        Decimal("0.01"),
        Decimal("59000"),
        True,
    )
    assert (take.type, take.stop_price) == ("take_profit_market", Decimal("61000"))
    assert stop.linked_id == take.pk and take.linked_id == stop.pk
    services.order_followups(order_id=entry.pk)  # a duplicate follow-up adds nothing
    assert entry.children.count() == 2

    send(stop)
    send(take)
    assert (stop.status, take.status) == (Status.OPEN, Status.OPEN)

    sim.control("POST", "/price", {"symbol": "BTCUSDT", "price": "61050", "venue": "futures"})
    sim.control("POST", "/step", {"n": 2})
    services.order_reconcile(order_id=take.pk)
    refresh(take)
    assert take.status == Status.FILLED

    services.order_followups(order_id=take.pk)
    refresh(stop)
    assert stop.status == Status.CANCEL_REQUESTED
    if services.order_cancel_send(order_id=stop.pk) == "reconcile":
        services.order_reconcile(order_id=stop.pk)
    refresh(stop)
    assert stop.status == Status.CANCELED
    assert "one-cancels-the-other" in stop.status_reason or any(
        "one-cancels-the-other" in e.reason for e in stop.events.all()
    )
    positions = sim.control("GET", f"/accounts/{account.sim_id}")["positions"]
    assert positions == []


def test_a_partially_filled_entry_protects_what_it_filled(make_sim_account, sim):
    account = make_sim_account(market_type="swap")
    # The first ask level holds 0.711 BTC at 60000.1: a limit at 60000.1 fills that much.
    entry = submit(
        account,
        symbol=SYMBOL,
        type="limit",
        amount=Decimal("1"),
        price=Decimal("60000.1"),
        stop_loss_price=Decimal("59000"),
        take_profit_price=Decimal("61000"),
    )
    send(entry)
    assert entry.status == Status.PARTIALLY_FILLED

    services.order_followups(order_id=entry.pk)

    stop, take = children(entry)
    assert stop.amount == take.amount == entry.filled == Decimal("0.711")
    assert "order.created" in event_types(stop)


def test_spot_brackets_place_the_stop_loss_only_and_say_why(make_sim_account, sim):
    account = make_sim_account()
    entry = submit(
        account,
        amount=Decimal("0.01"),
        stop_loss_price=Decimal("59000"),
        take_profit_price=Decimal("61000"),
    )
    send(entry)

    services.order_followups(order_id=entry.pk)

    assert list(entry.children.values_list("role", flat=True)) == ["stop_loss"]
    assert "order.bracket_note" in event_types(entry)
    stop = entry.children.get()
    send(stop)
    assert stop.status == Status.OPEN
