"""Order amendment: spot cancelReplace and USD-M Modify Order, in the engine and through
ccxt's ``edit_order``; plus USD-M liquidation.

Failure cases and what ccxt 4.5.90 raises for them (with the simulator client, which keeps
Binance's per-market error tables):

- spot, order already filled: the cancel half fails, STOP_ON_FAILURE places nothing ->
  HTTP 400 ``-2022 "Order cancel-replace failed."`` -> ``ccxt.BadResponse``;
- spot, cancel done but the new order rejected -> HTTP 409 ``-2021`` -> ``ccxt.BadResponse``
  (the old order is gone: the caller must look before retrying);
- USD-M, order filled / cancelled / unknown -> ``-2013 "Order does not exist."`` ->
  ``ccxt.OrderNotFound``; no change -> ``-5027`` -> ``ccxt.OperationRejected``.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import time
import urllib.error
import urllib.request
from decimal import Decimal
from urllib.parse import urlencode

import ccxt
import pytest

from simulator.config import SimConfig
from simulator.engine import Exchange, OrderRequest
from simulator.engine.events import OrderUpdated
from simulator.errors import BinanceError

from .conftest import spot_balance, state

SPOT = "BTC/USDT"
SWAP = "BTC/USDT:USDT"
D = Decimal


# ---------------------------------------------------------------------- engine
@pytest.fixture
def bare():
    """An exchange without the liquidity provider: only the tests' orders are on the books."""
    return Exchange(
        SimConfig.build(
            seed=3, symbols=["BTC/USDT"], overrides={"markets": {"BTC/USDT": {"lp_levels": 0}}}
        )
    )


def _limit(side, qty, price, tif="GTC", client_id=None):
    return OrderRequest(
        "BTCUSDT", side, "LIMIT", D(qty), D(price), time_in_force=tif, client_order_id=client_id
    )


def _futures_accounts(exchange, *names, usdt="100000"):
    for name in names:
        exchange.create_account(account_id=name, futures_balances={"USDT": D(usdt)})


def test_modify_that_reprices_goes_to_the_back_of_the_new_level(bare):
    _futures_accounts(bare, "a", "b", "taker")
    moved = bare.place_futures_order("a", _limit("SELL", "0.1", "60010"))
    first = bare.place_futures_order("b", _limit("SELL", "0.1", "60000"))
    events = []
    bare.add_listener(events.append)

    same = bare.modify_futures_order(
        "a", "BTCUSDT", moved.order_id, None, side="SELL", quantity=D("0.1"), price=D("60000")
    )

    assert same is moved and (moved.price, moved.status) == (D("60000"), "NEW")
    updates = [e for e in events if isinstance(e, OrderUpdated)]
    assert [(u.execution_type, u.order.price) for u in updates] == [("AMENDMENT", D("60000"))]
    assert bare.market("futures", "BTCUSDT").book.asks.totals[D("60000")] == D("0.2")
    # The level's earlier order trades first; the amended one waits behind it.
    bare.place_futures_order("taker", _limit("BUY", "0.15", "60000"))
    assert (first.status, first.executed_qty) == ("FILLED", D("0.1"))
    assert (moved.status, moved.executed_qty) == ("PARTIALLY_FILLED", D("0.05"))


def test_any_modify_requeues_even_a_quantity_change(bare):
    # Binance: "modified orders will be reordered in the match queue".
    _futures_accounts(bare, "a", "b", "taker")
    head = bare.place_futures_order("a", _limit("SELL", "0.1", "60000"))
    second = bare.place_futures_order("b", _limit("SELL", "0.1", "60000"))
    bare.modify_futures_order(
        "a", "BTCUSDT", head.order_id, None, side="SELL", quantity=D("0.2"), price=D("60000")
    )
    bare.place_futures_order("taker", _limit("BUY", "0.1", "60000"))
    assert (second.status, head.executed_qty) == ("FILLED", D("0"))


def test_modify_whose_price_crosses_trades_at_once(bare):
    _futures_accounts(bare, "maker", "a")
    bare.place_futures_order("maker", _limit("SELL", "0.1", "60000"))
    bid = bare.place_futures_order("a", _limit("BUY", "0.1", "59000"))
    bare.modify_futures_order(
        "a", "BTCUSDT", bid.order_id, None, side="BUY", quantity=D("0.1"), price=D("60000")
    )
    assert (bid.status, bid.avg_price) == ("FILLED", D("60000"))
    # Taker fee 0.05% of 6000.
    assert bare.accounts["a"].futures_wallet["USDT"] == D("99997")


def test_modify_to_no_more_than_the_filled_amount_cancels_the_order(bare):
    # Binance cancels (does not reject) a partially filled order modified to <= executedQty.
    _futures_accounts(bare, "a", "taker")
    order = bare.place_futures_order("a", _limit("SELL", "0.3", "60000"))
    bare.place_futures_order("taker", _limit("BUY", "0.1", "60000"))
    assert order.executed_qty == D("0.1")
    bare.modify_futures_order(
        "a", "BTCUSDT", order.order_id, None, side="SELL", quantity=D("0.1"), price=D("60000")
    )
    assert (order.status, order.orig_qty, order.executed_qty) == ("CANCELED", D("0.3"), D("0.1"))
    assert not bare.market("futures", "BTCUSDT").book.asks.prices


def test_modify_of_a_post_only_order_into_the_book_cancels_it(bare):
    _futures_accounts(bare, "maker", "a")
    bare.place_futures_order("maker", _limit("SELL", "0.1", "60000"))
    bid = bare.place_futures_order("a", _limit("BUY", "0.1", "59000", tif="GTX"))
    bare.modify_futures_order(
        "a", "BTCUSDT", bid.order_id, None, side="BUY", quantity=D("0.1"), price=D("60000")
    )
    assert (bid.status, bid.executed_qty) == ("CANCELED", D("0"))


@pytest.mark.parametrize(
    ("side", "qty", "price", "code"),
    [
        ("SELL", "0.1", "60000", -5027),  # nothing changes
        ("BUY", "0.1", "60001", -1117),  # another side
        ("SELL", "0.1", "60000.05", -1013),  # off the tick
        ("SELL", "0.0005", "60000", -1013),  # below the lot size
        ("SELL", "50", "60000", -2019),  # more margin than the account has
    ],
)
def test_rejected_modify_leaves_the_order_as_it_was(bare, side, qty, price, code):
    _futures_accounts(bare, "a", usdt="10000")
    order = bare.place_futures_order("a", _limit("SELL", "0.1", "60000"))
    with pytest.raises(BinanceError) as exc:
        bare.modify_futures_order(
            "a", "BTCUSDT", order.order_id, None, side=side, quantity=D(qty), price=D(price)
        )
    assert exc.value.code == code
    assert (order.status, order.price, order.orig_qty) == ("NEW", D("60000"), D("0.1"))
    assert bare.market("futures", "BTCUSDT").book.asks.totals == {D("60000"): D("0.1")}


def test_modify_of_a_closed_order_is_order_does_not_exist(bare):
    _futures_accounts(bare, "a")
    order = bare.place_futures_order("a", _limit("SELL", "0.1", "60000"))
    bare.cancel_order("futures", "a", "BTCUSDT", order.order_id, None)
    with pytest.raises(BinanceError) as exc:
        bare.modify_futures_order(
            "a", "BTCUSDT", order.order_id, None, side="SELL", quantity=D("0.2"), price=D("60000")
        )
    assert (exc.value.code, exc.value.msg) == (-2013, "Order does not exist.")


def test_cancel_replace_moves_the_spot_lock_to_the_new_order(bare):
    bare.create_account(account_id="a", spot_balances={"USDT": D("10000")})
    old = bare.place_spot_order("a", _limit("BUY", "0.1", "50000"))
    usdt = bare.accounts["a"].spot_balances["USDT"]
    assert (usdt.free, usdt.locked) == (D("4995"), D("5005"))  # 5000 + 0.1% fee
    events = []
    bare.add_listener(events.append)

    result = bare.cancel_replace_spot_order(
        "a",
        _limit("BUY", "0.05", "55000", client_id="new-id"),
        cancel_order_id=old.order_id,
        cancel_client_id=None,
    )

    assert result.canceled is old and old.status == "CANCELED" and old.locked == 0
    new = result.new_order
    assert (new.client_order_id, new.price, new.orig_qty) == ("new-id", D("55000"), D("0.05"))
    assert (usdt.free, usdt.locked) == (D("7247.25"), D("2752.75"))  # 2750 + 2.75 fee
    updates = [(e.order.order_id, e.execution_type) for e in events if isinstance(e, OrderUpdated)]
    assert updates == [(old.order_id, "CANCELED"), (new.order_id, "NEW")]


def test_cancel_replace_of_a_filled_order_stops_on_failure(bare):
    bare.create_account(account_id="a", spot_balances={"BTC": D("1")})
    bare.create_account(account_id="b", spot_balances={"USDT": D("10000")})
    sold = bare.place_spot_order("a", _limit("SELL", "0.1", "60000"))
    bare.place_spot_order("b", _limit("BUY", "0.1", "60000"))
    assert sold.status == "FILLED"
    orders_before = len(bare.accounts["a"].orders)

    stopped = bare.cancel_replace_spot_order(
        "a", _limit("SELL", "0.1", "61000"), cancel_order_id=sold.order_id, cancel_client_id=None
    )
    assert (stopped.cancel_error.code, stopped.new_order_attempted) == (-2011, False)
    assert len(bare.accounts["a"].orders) == orders_before
    assert bare.accounts["a"].spot_balances["BTC"].locked == 0

    allowed = bare.cancel_replace_spot_order(
        "a",
        _limit("SELL", "0.1", "61000"),
        cancel_order_id=sold.order_id,
        cancel_client_id=None,
        allow_failure=True,
    )
    assert allowed.cancel_error.code == -2011 and allowed.new_order.status == "NEW"


def test_cancel_replace_checks_filters_before_it_cancels(bare):
    bare.create_account(account_id="a", spot_balances={"USDT": D("10000")})
    old = bare.place_spot_order("a", _limit("BUY", "0.1", "50000"))
    with pytest.raises(BinanceError) as exc:
        bare.cancel_replace_spot_order(
            "a",
            _limit("BUY", "0.1", "50000.001"),
            cancel_order_id=old.order_id,
            cancel_client_id=None,
        )
    assert exc.value.msg == "Filter failure: PRICE_FILTER"
    assert old.status == "NEW"


def test_cancel_replace_whose_new_order_is_rejected_keeps_the_cancel(bare):
    bare.create_account(account_id="a", spot_balances={"USDT": D("10000")})
    old = bare.place_spot_order("a", _limit("BUY", "0.1", "50000"))
    result = bare.cancel_replace_spot_order(
        "a", _limit("BUY", "1", "50000"), cancel_order_id=old.order_id, cancel_client_id=None
    )
    assert old.status == "CANCELED"
    assert result.new_order is None and result.new_order_error.code == -2010
    usdt = bare.accounts["a"].spot_balances["USDT"]
    assert (usdt.free, usdt.locked) == (D("10000"), D("0"))


# ---------------------------------------------------------------------- through ccxt
def _body_of(exc: ccxt.BaseError) -> dict:
    """Binance's JSON answer, which ccxt puts after the exchange id in the message."""
    text = str(exc)
    return json.loads(text[text.index("{") :])


def test_spot_edit_order_cancels_and_replaces_with_the_new_client_id(
    sim, make_account, make_client
):
    acct = make_account(spot={"USDT": "10000"})
    client = make_client(acct)
    old = client.create_order(SPOT, "limit", "buy", 0.1, 50000)
    assert spot_balance(sim, acct, "USDT") == (D("4995"), D("5005"))

    new = client.edit_order(
        old["id"], SPOT, "limit", "buy", 0.05, 55000, {"clientOrderId": "amend-1"}
    )

    assert new["id"] != old["id"]
    assert (new["clientOrderId"], new["price"], new["amount"]) == ("amend-1", 55000, 0.05)
    assert new["status"] == "open"
    assert client.fetch_order(old["id"], SPOT)["status"] == "canceled"
    open_orders = client.fetch_open_orders(SPOT)
    assert [(o["id"], o["clientOrderId"]) for o in open_orders] == [(new["id"], "amend-1")]
    # 0.05 * 55000 = 2750 plus the 0.1% fee it may pay, held; the old lock is released.
    assert spot_balance(sim, acct, "USDT") == (D("7247.25"), D("2752.75"))


def test_spot_edit_of_a_filled_order_raises_bad_response_and_places_nothing(
    sim, make_account, make_client
):
    seller = make_account(spot={"BTC": "1"})
    buyer = make_account(spot={"USDT": "10000"})
    s, b = make_client(seller), make_client(buyer)
    sold = s.create_order(SPOT, "limit", "sell", 0.1, 60000)  # inside the LP's spread
    b.create_order(SPOT, "limit", "buy", 0.1, 60000)
    assert s.fetch_order(sold["id"], SPOT)["status"] == "closed"
    orders_before = state(sim, seller)["orders"]

    with pytest.raises(ccxt.BadResponse) as exc:
        s.edit_order(sold["id"], SPOT, "limit", "sell", 0.1, 61000)

    assert _body_of(exc.value) == {
        "code": -2022,
        "msg": "Order cancel-replace failed.",
        "data": {
            "cancelResult": "FAILURE",
            "newOrderResult": "NOT_ATTEMPTED",
            "cancelResponse": {"code": -2011, "msg": "Unknown order sent."},
            "newOrderResponse": None,
        },
    }
    after = state(sim, seller)
    assert after["orders"] == orders_before and after["open_orders"] == []
    # 0.1 BTC sold at 60000 less the 0.1% maker fee; nothing locked.
    assert spot_balance(sim, seller, "BTC") == (D("0.9"), D("0"))
    assert spot_balance(sim, seller, "USDT") == (D("5994"), D("0"))


def test_spot_edit_whose_new_order_is_rejected_is_a_partial_failure(sim, make_account, make_client):
    acct = make_account(spot={"BTC": "1"})
    client = make_client(acct)
    old = client.create_order(SPOT, "limit", "sell", 0.1, 61000)
    # Post-only (LIMIT_MAKER) below the best bid would take: rejected after the cancel.
    with pytest.raises(ccxt.BadResponse) as exc:
        client.edit_order(old["id"], SPOT, "limit", "sell", 0.1, 59000, {"postOnly": True})
    body = _body_of(exc.value)
    assert (body["code"], body["msg"]) == (-2021, "Order cancel-replace partially failed.")
    data = body["data"]
    assert (data["cancelResult"], data["newOrderResult"]) == ("SUCCESS", "FAILURE")
    assert data["cancelResponse"]["status"] == "CANCELED"
    assert data["newOrderResponse"] == {
        "code": -2010,
        "msg": "Order would immediately match and take.",
    }
    assert client.fetch_open_orders(SPOT) == []
    assert spot_balance(sim, acct, "BTC") == (D("1"), D("0"))


def test_futures_edit_order_keeps_the_id_with_the_new_price_and_amount(
    sim, make_account, make_client
):
    acct = make_account(futures={"USDT": "10000"})
    client = make_client(acct, market_type="swap")
    client.set_leverage(10, SWAP)
    order = client.create_order(SWAP, "limit", "buy", 0.1, 59000, {"clientOrderId": "fut-1"})
    assert D(state(sim, acct)["futures"]["USDT"]["order_im"]) == D("590")

    edited = client.edit_order(order["id"], SWAP, "limit", "buy", 0.2, 58000)

    assert (edited["id"], edited["clientOrderId"]) == (order["id"], "fut-1")
    assert (edited["price"], edited["amount"], edited["status"]) == (58000, 0.2, "open")
    fetched = client.fetch_order(order["id"], SWAP)
    assert (fetched["price"], fetched["amount"], fetched["filled"]) == (58000, 0.2, 0)
    futures = state(sim, acct)["futures"]["USDT"]
    # 0.2 * 58000 / 10 held as order margin; the wallet is untouched (no fill, no fee).
    assert (D(futures["wallet"]), D(futures["order_im"])) == (D("10000"), D("1160"))
    assert D(futures["available"]) == D("8840")


def test_futures_edit_by_client_id_and_the_failure_cases(sim, make_account, make_client):
    short = make_account(futures={"USDT": "10000"})
    long = make_account(futures={"USDT": "10000"})
    s, b = make_client(short, market_type="swap"), make_client(long, market_type="swap")
    resting = s.create_order(SWAP, "limit", "sell", 0.1, 61000, {"clientOrderId": "ask-1"})
    # ccxt sends origClientOrderId (from params) next to orderId; orderId wins on Binance.
    moved = s.edit_order(
        resting["id"], SWAP, "limit", "sell", 0.1, 60000, {"clientOrderId": "ask-1"}
    )
    assert (moved["id"], moved["price"]) == (resting["id"], 60000)

    with pytest.raises(ccxt.OperationRejected, match="No need to modify the order"):
        s.edit_order(resting["id"], SWAP, "limit", "sell", 0.1, 60000)

    b.create_order(SWAP, "limit", "buy", 0.1, 60000)  # takes the whole ask
    assert s.fetch_order(resting["id"], SWAP)["status"] == "closed"
    with pytest.raises(ccxt.OrderNotFound, match="Order does not exist"):
        s.edit_order(resting["id"], SWAP, "limit", "sell", 0.1, 60500)
    # Maker fee 0.02% of 6000 = 1.2; nothing else moved the wallet.
    assert D(state(sim, short)["futures"]["USDT"]["wallet"]) == D("9998.8")
    assert D(state(sim, short)["positions"][0]["positionAmt"]) == D("-0.1")


def _signed_post(sim, account, path, params):
    """A raw signed POST, for what ccxt does not show: the HTTP status."""
    query = urlencode({**params, "timestamp": str(time.time_ns() // 1_000_000)})
    signature = hmac.new(account["secret"].encode(), query.encode(), hashlib.sha256).hexdigest()
    request = urllib.request.Request(  # noqa: S310 - the loopback simulator
        f"{sim.url}{path}",
        data=f"{query}&signature={signature}".encode(),
        method="POST",
        headers={
            "X-MBX-APIKEY": account["api_key"],
            "Content-Type": "application/x-www-form-urlencoded",
        },
    )
    try:
        with urllib.request.urlopen(request, timeout=10) as response:  # noqa: S310
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read())


def test_cancel_replace_http_statuses_and_allow_failure(sim, make_account):
    acct = make_account(spot={"USDT": "10000"})
    order = {"symbol": "BTCUSDT", "side": "BUY", "type": "LIMIT", "timeInForce": "GTC"}
    status, body = _signed_post(
        sim,
        acct,
        "/api/v3/order/cancelReplace",
        {
            **order,
            "quantity": "0.01",
            "price": "50000",
            "cancelReplaceMode": "ALLOW_FAILURE",
            "cancelOrderId": "999",
            "newClientOrderId": "allowed",
        },
    )
    # The cancel failed but the new order stands: a partial success.
    assert (status, body["code"]) == (409, -2021)
    assert (body["data"]["cancelResult"], body["data"]["newOrderResult"]) == ("FAILURE", "SUCCESS")
    assert body["data"]["newOrderResponse"]["clientOrderId"] == "allowed"

    status, body = _signed_post(
        sim,
        acct,
        "/api/v3/order/cancelReplace",
        {
            **order,
            "quantity": "0.01",
            "price": "50000",
            "cancelReplaceMode": "STOP_ON_FAILURE",
            "cancelOrderId": "999",
        },
    )
    assert (status, body["code"], body["data"]["newOrderResult"]) == (400, -2022, "NOT_ATTEMPTED")

    status, body = _signed_post(
        sim,
        acct,
        "/api/v3/order/cancelReplace",
        {
            **order,
            "quantity": "0.02",
            "price": "51000",
            "cancelReplaceMode": "STOP_ON_FAILURE",
            "cancelOrigClientOrderId": "allowed",
            "cancelNewClientOrderId": "my-cancel",
            "newOrderRespType": "ACK",
        },
    )
    assert status == 200
    assert (body["cancelResult"], body["newOrderResult"]) == ("SUCCESS", "SUCCESS")
    assert body["cancelResponse"]["clientOrderId"] == "my-cancel"
    assert body["cancelResponse"]["origClientOrderId"] == "allowed"
    assert set(body["newOrderResponse"]) == {
        "symbol",
        "orderId",
        "orderListId",
        "clientOrderId",
        "transactTime",
    }
    # Only the 0.02 @ 51000 order holds funds: 1020 + 0.1% fee.
    assert spot_balance(sim, acct, "USDT") == (D("8978.98"), D("1021.02"))


# ---------------------------------------------------------------------- liquidation
def test_price_through_the_liquidation_price_closes_the_position_at_the_mark(
    sim, make_account, make_client
):
    long = make_account(futures={"USDT": "1000"})
    short = make_account(futures={"USDT": "100000"})
    b, s = make_client(long, market_type="swap"), make_client(short, market_type="swap")
    b.set_leverage(20, SWAP)
    s.create_order(SWAP, "limit", "sell", 0.3, 60000)  # inside the LP's spread
    b.create_order(SWAP, "limit", "buy", 0.3, 60000)
    # Taker fee 0.05% of 18000 = 9.
    assert D(state(sim, long)["futures"]["USDT"]["wallet"]) == D("991")
    position = state(sim, long)["positions"][0]
    # (WB - q*E) / (q*MMR - q) = (991 - 18000) / (0.0012 - 0.3) = 56924.36.., to the tick.
    assert D(position["liquidationPrice"]) == D("56924.3")

    # Above it: margin balance 991 - 900 = 91 > maintenance 0.3 * 57000 * 0.4% = 68.4.
    sim.control("POST", "/price", {"symbol": "BTCUSDT", "price": "57000", "venue": "futures"})
    sim.control("POST", "/step")
    assert D(state(sim, long)["positions"][0]["positionAmt"]) == D("0.3")

    # Below it: 991 - 930 = 61 <= 68.28, so the whole position is closed at the mark.
    sim.control("POST", "/price", {"symbol": "BTCUSDT", "price": "56900", "venue": "futures"})
    sim.control("POST", "/step")
    after = state(sim, long)
    assert after["positions"] == [] and after["open_orders"] == []
    closing = after["futures_trades"][-1]
    assert (closing["side"], D(closing["qty"]), D(closing["price"])) == (
        "SELL",
        D("0.3"),
        D("56900"),
    )
    assert D(closing["realizedPnl"]) == D("-930")
    # 991 - 930 realized - 0.05% taker fee on 17070 (8.535).
    assert D(after["futures"]["USDT"]["wallet"]) == D("52.465")
    assert b.fetch_order(closing["orderId"], SWAP)["info"]["origType"] == "LIQUIDATION"
