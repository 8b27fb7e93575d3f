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
