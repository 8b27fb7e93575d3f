"""The streams process's account watcher against the simulator's websockets (ccxt.pro).

These run the watcher on its own event loop in a thread, as the streams process does,
so they need committed data (transaction=True).
"""

from decimal import Decimal

import pytest

from orders.models import Fill, Order
from orders.states import Status

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.mark.parametrize(
    ("market_type", "symbol", "sim_symbol", "venue"),
    [
        ("swap", "BTC/USDT:USDT", "BTCUSDT", "futures"),
        ("spot", "BTC/USDT", "BTCUSDT", "spot"),
    ],
)
def test_orders_and_fills_arrive_through_the_stream_and_survive_a_disconnect(
    make_sim_account,
    sim,
    sim_client,
    running_stream,
    stream_state,
    wait_for,
    market_type,
    symbol,
    sim_symbol,
    venue,
):
    account = make_sim_account(market_type=market_type)
    running_stream(account)
    wait_for(
        lambda: (s := stream_state(account)) and s.ws_connected,
        timeout=20,
        message="the stream to connect",
    )

    client = sim_client(account)
    client.create_order(symbol, "limit", "buy", 0.01, 59000, {"clientOrderId": "streamed1"})
    order = wait_for(
        lambda: Order.objects.filter(client_order_id="streamed1").first(),
        timeout=20,
        message="the order to arrive by the stream",
    )
    assert order.status == Status.OPEN
    assert order.origin == Order.Origin.EXTERNAL

    # Cut the stream, fill the order while nobody listens, and let it come back.
    sim.control("POST", "/ws/drop", {})
    sim.control("POST", "/price", {"symbol": sim_symbol, "price": "58950", "venue": venue})

    def filled():
        order.refresh_from_db()
        return order.status == Status.FILLED and Fill.objects.filter(order=order).exists()

    wait_for(filled, timeout=30, message="the fill after the reconnect")
    assert order.filled == Decimal("0.01")
    assert Fill.objects.filter(order=order).count() == 1
    wait_for(lambda: stream_state(account).ws_connected, timeout=20, message="reconnected")
    assert stream_state(account).ws_reconnects >= 1


def test_a_futures_stop_triggered_while_streaming_is_filled_from_the_order_it_became(
    make_sim_account, sim, running_stream, stream_state, wait_for
):
    """The stream's ALGO_UPDATE names the conditional order by ``aid``, numbered apart
    from plain orders: here algo 1 while the entry is plain order 1. Read as a plain id it
    collided with the entry (an IntegrityError failed the delivery) and a FINISHED algo
    order was taken as filled for its whole amount with no average price."""
    from orders import services
    from orders.services import OrderRequest

    account = make_sim_account(market_type="swap")
    running_stream(account)
    wait_for(lambda: (s := stream_state(account)) and s.ws_connected, timeout=20)

    def place(**fields):
        order, _ = services.order_submit(
            account=account,
            request=OrderRequest(symbol="BTC/USDT:USDT", **fields),
            origin="api",
            actor="test",
        )
        services.order_send(order_id=order.pk)
        return order

    entry = place(side="buy", type="market", amount=Decimal("0.01"))
    stop = place(
        side="sell", type="stop_market", amount=Decimal("0.01"), stop_price=Decimal("59000")
    )
    sim.control("POST", "/price", {"symbol": "BTCUSDT", "price": "58900", "venue": "futures"})
    sim.control("POST", "/step", {"n": 2})

    def settled():
        stop.refresh_from_db()
        return stop.status == Status.FILLED and stop.fills.exists()

    wait_for(settled, timeout=30, message="the triggered stop's fill through the stream")
    entry.refresh_from_db()
    assert entry.exchange_order_id == "1" and stop.exchange_algo_id == "1"
    assert stop.exchange_order_id not in (None, "1")
    assert stop.average_price is not None and stop.average_price < Decimal("59100")
    assert sum(f.amount for f in stop.fills.all()) == Decimal("0.01")
    assert not stop.events.filter(type="order.update_ignored").exists()
