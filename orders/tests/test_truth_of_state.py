"""Our records equal the exchange's: every trade one Fill, conditional orders read right,
and an exchange that numbers its orders again never blocks a delivery (issue 12)."""

from datetime import UTC, datetime
from decimal import Decimal

import pytest

from orders import services, venue
from orders.models import Fill, Order
from orders.states import Status
from orders.tests.factories import OrderFactory
from orders.tests.test_lifecycle import event_types, send, submit

pytestmark = pytest.mark.django_db


def recent_ms() -> int:
    """A trades window that starts a minute ago (Binance answers at most 7 days)."""
    return int(datetime.now(tz=UTC).timestamp() * 1000) - 60_000


SWAP = "BTC/USDT:USDT"


def trade(symbol, trade_id, *, order_id="1", side="buy", amount="0.01", price="60000"):
    return venue.TradeUpdate(
        trade_id=str(trade_id),
        order_id=order_id,
        client_order_id=None,
        symbol=symbol,
        side=side,
        price=Decimal(price),
        amount=Decimal(amount),
        cost=Decimal(price) * Decimal(amount),
        fee=Decimal(0),
        fee_asset="USDT",
        is_maker=False,
        timestamp=datetime(2026, 12, 1, tzinfo=UTC),
        raw={},
    )


# --- Item 1: trades are numbered per symbol --------------------------------------------------


def test_two_symbols_trade_with_the_same_id_and_both_become_fills(make_sim_account):
    account = make_sim_account()

    services.fills_record(
        account=account,
        trades=[trade("BTC/USDT", 92), trade("ETH/USDT", 92, amount="0.5", price="3000")],
        actor="stream",
    )

    assert sorted(Fill.objects.filter(account=account).values_list("symbol", flat=True)) == [
        "BTC/USDT",
        "ETH/USDT",
    ]


def test_market_orders_on_two_symbols_each_keep_their_venue_trade(make_sim_account, sim):
    """The simulator numbers trades per symbol as Binance does: each market's first
    trade is 1. Both are ours, each once, however often they are reported again."""
    account = make_sim_account()
    btc = submit(account, symbol="BTC/USDT", amount=Decimal("0.01"))
    eth = submit(account, symbol="ETH/USDT", amount=Decimal("0.1"))
    send(btc)
    send(eth)

    assert btc.status == eth.status == Status.FILLED
    btc_ids = set(btc.fills.values_list("exchange_trade_id", flat=True))
    eth_ids = set(eth.fills.values_list("exchange_trade_id", flat=True))
    assert btc_ids & eth_ids, "the venue should have reused a trade id across symbols"
    assert btc.fills.count() >= 1 and eth.fills.count() >= 1

    # A poll reports the same trades again: nothing new, no audit noise, counted.
    before = Fill.objects.filter(account=account).count()
    services.orders_poll_account(account=account, trades_since_ms=recent_ms())
    assert Fill.objects.filter(account=account).count() == before
    assert all(f.deliveries == 2 for f in Fill.objects.filter(account=account))
    assert "order.fill_duplicate" not in event_types(btc) + event_types(eth)


def test_a_trade_delivered_again_counts_on_its_fill_inside_a_batch(make_sim_account):
    account = make_sim_account()
    order = OrderFactory(
        account=account, exchange_order_id="7", status=Status.OPEN, amount=Decimal("1")
    )
    payload = {
        "id": "7",
        "clientOrderId": order.client_order_id,
        "symbol": order.symbol,
        "side": "buy",
        "type": "limit",
        "status": "open",
        "amount": float(order.amount),
        "filled": 0.01,
        "remaining": float(order.amount) - 0.01,
        "average": 60000.0,
        "cost": 600.0,
        "price": 60000.0,
        "trades": [
            {
                "id": 5,
                "symbol": order.symbol,
                "side": "buy",
                "price": 60000.0,
                "amount": 0.01,
                "cost": 600.0,
                "order": "7",
            }
        ],
        "info": {},
    }
    for _ in range(3):
        services.order_apply_updates(
            account=account, updates=[venue.parse_order(payload)], actor="stream"
        )

    fill = Fill.objects.get(account=account)
    assert fill.deliveries == 3
    assert fill.order_id == order.pk


# --- Item 2: USD-M conditional (algo) orders ------------------------------------------------


def algo_update(status, *, aid=41, ai="", client_id="tpstop1"):
    """ccxt.pro's parse of Binance's ALGO_UPDATE, as it hands it over (filled: whole
    amount on FINISHED, since the payload has no executed quantity)."""
    closed = status == "closed"
    return {
        "id": str(aid),
        "clientOrderId": client_id,
        "symbol": SWAP,
        "type": "stop_market",
        "side": "sell",
        "status": status,
        "amount": 0.01,
        "filled": 0.01 if closed else None,
        "remaining": 0.0 if closed else None,
        "average": None,
        "cost": None,
        "price": None,
        "triggerPrice": 59000.0,
        "reduceOnly": True,
        "timestamp": 1764900000000,
        "trades": [],
        "info": {"caid": client_id, "aid": aid, "X": "FINISHED" if closed else "NEW", "ai": ai},
    }


def test_the_streams_algo_update_is_read_as_a_conditional_order_that_never_trades():
    waiting = venue.parse_order(algo_update("open"))
    assert (waiting.algo_id, waiting.order_id, waiting.status) == ("41", None, "open")

    triggered = venue.parse_order(algo_update("closed", ai="1234"))
    assert triggered.algo_id == "41" and triggered.order_id == "1234"
    assert triggered.handed_over and triggered.status == "open"
    assert triggered.filled == 0 and triggered.average is None


def test_an_algo_id_equal_to_a_plain_order_id_collides_with_nothing(make_sim_account):
    account = make_sim_account(market_type="swap")
    plain = OrderFactory(account=account, symbol=SWAP, exchange_order_id="41", status="open")
    stop = OrderFactory(
        account=account,
        symbol=SWAP,
        client_order_id="tpstop1",
        type="stop_market",
        side="sell",
        stop_price=Decimal("59000"),
        status=Status.SUBMITTING,
    )

    services.order_apply_updates(
        account=account, updates=[venue.parse_order(algo_update("open"))], actor="stream"
    )
    services.order_apply_updates(
        account=account,
        updates=[venue.parse_order(algo_update("closed", ai="1234"))],
        actor="stream",
    )

    stop.refresh_from_db()
    plain.refresh_from_db()
    assert (stop.exchange_algo_id, stop.exchange_order_id) == ("41", "1234")
    assert stop.status == Status.OPEN and stop.filled == 0  # not "filled" by the algo news
    assert plain.exchange_order_id == "41"


def test_a_triggered_futures_stop_is_filled_from_the_order_it_became(make_sim_account, sim):
    account = make_sim_account(market_type="swap")
    entry = submit(account, symbol=SWAP, amount=Decimal("0.01"))
    send(entry)
    stop = submit(
        account,
        symbol=SWAP,
        side="sell",
        type="stop_market",
        amount=Decimal("0.01"),
        stop_price=Decimal("59000"),
    )
    send(stop)
    assert stop.status == Status.OPEN
    assert stop.exchange_algo_id and stop.exchange_order_id is None

    sim.control("POST", "/price", {"symbol": "BTCUSDT", "price": "58900", "venue": "futures"})
    sim.control("POST", "/step", {"n": 2})
    services.order_reconcile(order_id=stop.pk)
    services.orders_poll_account(account=account, trades_since_ms=recent_ms())

    stop.refresh_from_db()
    assert stop.status == Status.FILLED
    assert stop.filled == Decimal("0.01")
    assert stop.average_price is not None and stop.average_price < Decimal("59100")
    assert stop.exchange_order_id and stop.exchange_order_id != stop.exchange_algo_id
    fills = list(stop.fills.all())
    assert sum(f.amount for f in fills) == Decimal("0.01")
    assert all(f.exchange_order_id == stop.exchange_order_id for f in fills)


# --- Item 5: an exchange that numbers its orders again --------------------------------------


def test_a_reused_exchange_order_id_moves_to_the_new_order_and_the_delivery_goes_through(
    make_sim_account,
):
    account = make_sim_account()
    old = OrderFactory(
        account=account, symbol="BTC/USDT", exchange_order_id="3", status=Status.OPEN
    )
    new = OrderFactory(account=account, symbol="BTC/USDT", status=Status.SUBMITTING)
    answer = {
        "id": "3",
        "clientOrderId": new.client_order_id,
        "symbol": "BTC/USDT",
        "side": new.side,
        "type": "limit",
        "status": "open",
        "amount": float(new.amount),
        "filled": 0.0,
        "price": 60000.0,
        "trades": [],
        "info": {},
    }

    services.order_apply_updates(account=account, updates=[venue.parse_order(answer)], actor="poll")

    new.refresh_from_db()
    old.refresh_from_db()
    assert (new.status, new.exchange_order_id) == (Status.OPEN, "3")
    assert old.exchange_order_id is None
    assert "order.venue_id_reused" in event_types(old)
    assert Order.objects.filter(account=account, exchange_order_id="3").count() == 1
