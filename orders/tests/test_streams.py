"""The streams process's account watcher against the simulator's websockets (ccxt.pro).

These run the watcher on its own event loop in a thread, as the streams process does,
so they need committed data (transaction=True).
"""

import asyncio
import threading
from decimal import Decimal

import pytest

from accounts.gateway import load_credentials
from accounts.models import ExchangeSyncState
from accounts.streams import AccountStream
from orders.models import Fill, Order
from orders.states import Status

pytestmark = pytest.mark.django_db(transaction=True)


class RunningStream:
    def __init__(self, account_id):
        self.loop = asyncio.new_event_loop()
        self.stream = AccountStream(account_id)
        self.task = None
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self):
        asyncio.set_event_loop(self.loop)
        self.task = self.loop.create_task(self.stream.run())
        try:
            self.loop.run_until_complete(self.task)
        except asyncio.CancelledError:
            pass
        finally:
            self.loop.close()

    def stop(self):
        self.loop.call_soon_threadsafe(self.task.cancel)
        self.thread.join(timeout=15)
        assert not self.thread.is_alive()


@pytest.fixture
def running_stream():
    started = []

    def start(account):
        stream = RunningStream(account.pk)
        started.append(stream)
        return stream

    yield start
    for stream in started:
        stream.stop()


def stream_state(account):
    return ExchangeSyncState.objects.filter(account=account, kind="stream").first()


def outside_client(sim, account, market_type):
    from simulator.client import simulator_client

    credentials = load_credentials(account)
    return simulator_client(
        sim.url, market_type=market_type, api_key=credentials.api_key, secret=credentials.secret
    )


@pytest.mark.parametrize(
    ("market_type", "symbol", "sim_symbol", "venue"),
    [
        ("swap", "BTC/USDT:USDT", "BTCUSDT", "futures"),
        ("spot", "BTC/USDT", "BTCUSDT", "spot"),
    ],
)
def test_orders_and_fills_arrive_through_the_stream_and_survive_a_disconnect(
    make_sim_account, sim, running_stream, wait_for, market_type, symbol, sim_symbol, venue
):
    account = make_sim_account(market_type=market_type)
    running_stream(account)
    wait_for(
        lambda: (s := stream_state(account)) and s.ws_connected,
        timeout=20,
        message="the stream to connect",
    )

    client = outside_client(sim, account, market_type)
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
