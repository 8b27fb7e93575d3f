"""The order lifecycle against the simulator, with the real ccxt client.

Services are called one step at a time (the Celery tasks are thin wrappers around them),
so each test controls exactly when the venue is asked what.
"""

from decimal import Decimal

import pytest

from orders import services
from orders.models import Fill, Order
from orders.services import OrderRequest
from orders.states import Status

pytestmark = pytest.mark.django_db


def submit(account, **fields):
    fields.setdefault("symbol", "BTC/USDT")
    fields.setdefault("side", "buy")
    fields.setdefault("type", "market")
    order, created = services.order_submit(
        account=account, request=OrderRequest(**fields), origin="api", actor="test"
    )
    assert created
    return order


def send(order):
    result = services.order_send(order_id=order.pk)
    order.refresh_from_db()
    return result


def event_types(order):
    return list(order.events.values_list("type", flat=True))


def venue_orders(sim, account):
    return sim.control("GET", f"/accounts/{account.sim_id}")


def test_submitting_stores_a_pending_order_and_sends_it_only_on_commit(
    make_sim_account, django_capture_on_commit_callbacks
):
    account = make_sim_account()

    with django_capture_on_commit_callbacks() as callbacks:
        order = submit(account, amount=Decimal("0.01"))

    assert order.status == Status.PENDING
    assert event_types(order) == ["order.created"]
    assert len(callbacks) == 2  # the send task and the dashboard push


def test_a_spot_market_order_fills_once_with_its_fee(make_sim_account, sim):
    account = make_sim_account()
    order = submit(account, amount=Decimal("0.01"))

    assert send(order).outcome == "sent"

    assert order.status == Status.FILLED
    assert order.filled == Decimal("0.01")
    assert order.average_price == Decimal("60000.01")
    # A spot buyer pays Binance's fee in the coins it bought (0.1% of 0.01 BTC).
    assert order.fees == {"BTC": "0.00001"}
    fill = Fill.objects.get(order=order)
    assert (fill.price, fill.amount, fill.fee, fill.fee_asset, fill.side) == (
        Decimal("60000.01"),
        Decimal("0.01"),
        Decimal("0.00001"),
        "BTC",
        "buy",
    )
    assert event_types(order) == ["order.created", "order.submitting", "order.filled", "order.fill"]
    assert venue_orders(sim, account)["orders"] == 1


def test_sending_twice_places_one_order(make_sim_account, sim):
    account = make_sim_account()
    order = submit(account, amount=Decimal("0.01"))

    send(order)
    assert send(order).outcome == "skipped"

    assert venue_orders(sim, account)["orders"] == 1
    assert Fill.objects.filter(order=order).count() == 1


def test_a_resting_limit_order_opens_and_is_cancelled(make_sim_account, sim):
    account = make_sim_account()
    order = submit(account, type="limit", amount=Decimal("0.1"), price=Decimal("59000"))

    send(order)
    assert order.status == Status.OPEN
    assert order.exchange_order_id

    services.order_cancel(order=order, actor="test")
    order.refresh_from_db()
    assert order.status == Status.CANCEL_REQUESTED
    assert services.order_cancel_send(order_id=order.pk) == "done"

    order.refresh_from_db()
    assert order.status == Status.CANCELED
    assert venue_orders(sim, account)["open_orders"] == []
    assert event_types(order)[-2:] == ["order.cancel_requested", "order.canceled"]


def test_partial_fills_then_the_rest_arrives_through_polling(make_sim_account, sim):
    account = make_sim_account()
    # Crosses the first ask level only (0.747 BTC at 60000.01); the rest rests on the book.
    order = submit(account, type="limit", amount=Decimal("1.5"), price=Decimal("60000.06"))

    send(order)
    assert order.status == Status.PARTIALLY_FILLED
    assert order.filled == Decimal("0.747")
    assert order.remaining == Decimal("0.753")

    sim.control("POST", "/price", {"symbol": "BTC/USDT", "price": "59990", "venue": "spot"})
    services.orders_poll_account(account=account, trades_since_ms=0)

    order.refresh_from_db()
    assert order.status == Status.FILLED
    assert order.filled == Decimal("1.5")
    assert Fill.objects.filter(order=order).count() >= 2
    assert sum(f.amount for f in Fill.objects.filter(order=order)) == Decimal("1.5")


def test_insufficient_balance_is_rejected_with_the_reason_and_not_retried(make_sim_account, sim):
    account = make_sim_account(spot={"USDT": "10"})
    order = submit(account, type="limit", amount=Decimal("1"), price=Decimal("59000"))

    assert send(order).outcome == "rejected"

    assert order.status == Status.REJECTED
    assert "InsufficientFunds" in order.status_reason
    assert order.send_attempts == 1
    assert venue_orders(sim, account)["orders"] == 0


def test_futures_orders_open_fill_and_cancel(make_sim_account, sim):
    account = make_sim_account(market_type="swap")
    market = submit(account, symbol="BTC/USDT:USDT", amount=Decimal("0.01"))
    resting = submit(
        account,
        symbol="BTC/USDT:USDT",
        type="limit",
        side="sell",
        amount=Decimal("0.01"),
        price=Decimal("61000"),
    )

    send(market)
    send(resting)
    services.order_cancel(order=resting, actor="test")
    services.order_cancel_send(order_id=resting.pk)

    market.refresh_from_db()
    resting.refresh_from_db()
    assert market.status == Status.FILLED
    assert market.average_price == Decimal("60000.1")
    assert resting.status == Status.CANCELED
    positions = venue_orders(sim, account)["positions"]
    assert [(p["symbol"], p["positionAmt"]) for p in positions] == [("BTCUSDT", "0.01")]


def test_amounts_and_prices_are_rounded_to_the_market_before_sending(make_sim_account):
    account = make_sim_account()

    order = submit(account, type="limit", amount=Decimal("0.0123456"), price=Decimal("59000.126"))

    assert order.amount == Decimal("0.01234")
    assert order.price == Decimal("59000.13")


def test_unknown_orders_on_the_venue_are_adopted_as_external(make_sim_account, sim):
    from accounts.gateway import load_credentials
    from simulator.client import simulator_client

    account = make_sim_account()
    credentials = load_credentials(account)
    outside = simulator_client(
        sim.url, market_type="spot", api_key=credentials.api_key, secret=credentials.secret
    )
    outside.create_order("BTC/USDT", "limit", "buy", 0.02, 58000, {"clientOrderId": "manual1"})

    services.orders_poll_account(account=account)

    adopted = Order.objects.get(account=account, client_order_id="manual1")
    assert adopted.origin == Order.Origin.EXTERNAL
    assert adopted.status == Status.OPEN
    assert adopted.amount == Decimal("0.02")
    assert event_types(adopted) == ["order.adopted"]


def test_polling_records_its_success_and_its_failures_on_the_sync_state(make_sim_account, sim):
    from accounts.models import ExchangeSyncState

    account = make_sim_account()
    order = submit(account, type="limit", amount=Decimal("0.1"), price=Decimal("59000"))
    send(order)
    sim.control(
        "POST",
        "/faults",
        {"method": "GET", "path": "/api/v3/openOrders", "action": "status", "status": 503},
    )

    services.orders_poll(account_id=account.pk)
    failed = ExchangeSyncState.objects.get(account=account, kind="trades")
    services.orders_poll(account_id=account.pk)
    recovered = ExchangeSyncState.objects.get(account=account, kind="trades")

    assert failed.consecutive_errors == 1
    assert "OperationFailed" in failed.last_error
    assert recovered.consecutive_errors == 0
    assert recovered.last_success_at is not None


def test_start_up_rechecks_every_order_the_venue_may_hold(make_sim_account):
    from orders.tests.factories import OrderFactory

    account = make_sim_account()
    held = [
        OrderFactory(account=account, status=s)
        for s in ("open", "partially_filled", "cancel_requested", "submitting", "unknown")
    ]
    for status in ("pending", "filled", "canceled", "rejected", "expired"):
        OrderFactory(account=account, status=status)

    assert services.orders_to_recheck() == [o.pk for o in held]
