"""Amending resting orders against the simulator: in place on USD-M, by cancel-replace on
spot - linked by events either way."""

from decimal import Decimal

import pytest

from common.exceptions import Conflict, ValidationFailed
from orders import services
from orders.models import OrderEvent
from orders.states import Status
from orders.tests.test_lifecycle import event_types, send, submit, venue_orders

pytestmark = pytest.mark.django_db


def test_a_futures_order_is_modified_in_place(make_sim_account, sim):
    account = make_sim_account(market_type="swap")
    order = submit(
        account,
        symbol="BTC/USDT:USDT",
        type="limit",
        amount=Decimal("0.01"),
        price=Decimal("59000"),
    )
    send(order)

    carrier = services.order_amend(
        order=order, actor="test", amount=Decimal("0.02"), price=Decimal("59500")
    )
    assert carrier.pk == order.pk
    requested = OrderEvent.objects.get(order=order, type="order.amend_requested")
    assert services.order_amend_send(event_id=requested.pk) == "done"

    order.refresh_from_db()
    assert (order.amount, order.price, order.remaining) == (
        Decimal("0.02"),
        Decimal("59500"),
        Decimal("0.02"),
    )
    assert order.status == Status.OPEN
    assert "order.amended" in event_types(order)
    resting = venue_orders(sim, account)["open_orders"]
    assert [(o["orderId"], o["price"], o["origQty"]) for o in resting] == [
        (int(order.exchange_order_id), "59500", "0.02")
    ]


def test_a_spot_order_is_replaced_and_the_old_one_cancelled(make_sim_account, sim):
    account = make_sim_account()
    order = submit(account, type="limit", amount=Decimal("0.01"), price=Decimal("59000"))
    send(order)

    replacement = services.order_amend(order=order, actor="test", price=Decimal("59100"))
    assert replacement.pk != order.pk
    assert replacement.replaces_id == order.pk
    assert replacement.status == Status.PENDING
    assert services.order_replace_send(order_id=replacement.pk) == "done"

    order.refresh_from_db()
    replacement.refresh_from_db()
    assert order.status == Status.CANCELED
    assert "replaced by" in order.status_reason
    assert replacement.status == Status.OPEN
    assert replacement.price == Decimal("59100")
    assert event_types(order)[-2:] == ["order.replace_requested", "order.replaced"]
    resting = venue_orders(sim, account)["open_orders"]
    assert [o["clientOrderId"] for o in resting] == [replacement.client_order_id]


def test_replacing_a_filled_order_leaves_no_second_order(make_sim_account, sim, settings):
    account = make_sim_account()
    order = submit(account, type="limit", amount=Decimal("0.01"), price=Decimal("59000"))
    send(order)
    replacement = services.order_amend(order=order, actor="test", price=Decimal("59100"))
    sim.control("POST", "/price", {"symbol": "BTC/USDT", "price": "58900", "venue": "spot"})

    assert services.order_replace_send(order_id=replacement.pk) == "reconcile"
    services.order_reconcile(order_id=order.pk)

    order.refresh_from_db()
    replacement.refresh_from_db()
    assert order.status == Status.FILLED
    assert replacement.status == Status.UNKNOWN
    settings.ORDER_RESEND_AFTER_SECONDS = 0
    services.order_reconcile(order_id=replacement.pk)
    replacement.refresh_from_db()
    assert replacement.status == Status.REJECTED
    assert venue_orders(sim, account)["open_orders"] == []


@pytest.mark.parametrize(
    ("changes", "error"),
    [
        ({}, "Give a new price"),
        ({"amount": Decimal("0.000001")}, "above what has already filled"),
    ],
)
def test_bad_amendments_are_refused(make_sim_account, changes, error):
    account = make_sim_account()
    order = submit(account, type="limit", amount=Decimal("0.01"), price=Decimal("59000"))
    send(order)

    with pytest.raises(ValidationFailed, match=error):
        services.order_amend(order=order, actor="test", **changes)


def test_only_resting_orders_can_be_amended(make_sim_account):
    account = make_sim_account()
    order = submit(account, type="limit", amount=Decimal("0.01"), price=Decimal("61000"))
    send(order)  # crosses: filled at once

    with pytest.raises(Conflict, match="only a resting order"):
        services.order_amend(order=order, actor="test", price=Decimal("60500"))
