"""Every order type the platform sends, against the simulator with the real ccxt."""

from decimal import Decimal

import pytest

from orders import services
from orders.states import Status
from orders.tests.test_lifecycle import send, submit, venue_orders

pytestmark = pytest.mark.django_db


def test_ioc_fills_what_it_can_and_expires_the_rest(make_sim_account):
    account = make_sim_account()
    order = submit(
        account, type="limit", time_in_force="IOC", amount=Decimal("1.5"), price=Decimal("60000.06")
    )

    send(order)

    assert order.status == Status.EXPIRED
    assert order.filled == Decimal("0.747")


def test_fok_that_cannot_fill_entirely_expires_untouched(make_sim_account):
    account = make_sim_account()
    order = submit(
        account, type="limit", time_in_force="FOK", amount=Decimal("1.5"), price=Decimal("60000.06")
    )

    send(order)

    assert order.status == Status.EXPIRED
    assert order.filled == Decimal("0")


def test_post_only_that_would_cross_is_refused_by_the_venue(make_sim_account, sim):
    account = make_sim_account()
    order = submit(
        account, type="limit", post_only=True, amount=Decimal("0.01"), price=Decimal("60001")
    )

    send(order)

    assert order.status in (Status.REJECTED, Status.EXPIRED)
    assert venue_orders(sim, account)["open_orders"] == []


def test_post_only_below_the_market_rests(make_sim_account):
    account = make_sim_account()
    order = submit(
        account, type="limit", post_only=True, amount=Decimal("0.01"), price=Decimal("59000")
    )

    send(order)

    assert order.status == Status.OPEN


@pytest.mark.parametrize(
    ("type", "side", "stop", "price", "move_to"),
    [
        ("stop_market", "sell", "59500", None, "59400"),
        ("stop_limit", "sell", "59500", "59400", "59450"),
        ("take_profit_market", "sell", "60500", None, "60600"),
        ("take_profit_limit", "sell", "60500", "60400", "60600"),
    ],
)
def test_spot_stop_and_take_profit_orders_trigger_when_the_price_passes(
    make_sim_account, sim, type, side, stop, price, move_to
):
    account = make_sim_account()
    order = submit(
        account,
        type=type,
        side=side,
        amount=Decimal("0.01"),
        stop_price=Decimal(stop),
        price=Decimal(price) if price else None,
    )
    send(order)
    assert order.status == Status.OPEN

    sim.control("POST", "/price", {"symbol": "BTC/USDT", "price": move_to, "venue": "spot"})
    sim.control("POST", "/step", {"n": 2})
    services.order_reconcile(order_id=order.pk)

    order.refresh_from_db()
    assert order.status == Status.FILLED
    assert order.filled == Decimal("0.01")


def test_reduce_only_cannot_open_a_futures_position(make_sim_account, sim):
    from orders.services.submit import OrderRefused

    account = make_sim_account(market_type="swap")

    # The risk gate refuses it before the venue would.
    with pytest.raises(OrderRefused, match="does not reduce"):
        submit(
            account, symbol="BTC/USDT:USDT", side="sell", amount=Decimal("0.01"), reduce_only=True
        )

    assert venue_orders(sim, account)["orders"] == 0


def test_each_task_run_twice_has_one_effect(make_sim_account, sim):
    account = make_sim_account()
    order = submit(account, type="limit", amount=Decimal("0.1"), price=Decimal("59000"))
    send(order)
    services.order_cancel(order=order, actor="test")
    services.order_cancel(order=order, actor="test")

    assert services.order_cancel_send(order_id=order.pk) == "done"
    assert services.order_cancel_send(order_id=order.pk) == "done"
    services.order_reconcile(order_id=order.pk)
    services.order_reconcile(order_id=order.pk)

    order.refresh_from_db()
    types = list(order.events.values_list("type", flat=True))
    assert order.status == Status.CANCELED
    assert types.count("order.cancel_requested") == 1
    assert types.count("order.canceled") == 1
    counts = sim.control("GET", "/requests")
    assert counts.get("DELETE /api/v3/order") == 1
