"""Spot through the real ccxt.binance client."""

from __future__ import annotations

from decimal import Decimal

import ccxt
import pytest

from .conftest import spot_balance, state

SYMBOL = "BTC/USDT"


def test_load_markets_gives_active_spot_markets_with_filters(make_client):
    client = make_client()
    markets = client.load_markets()
    assert {"BTC/USDT", "ETH/USDT", "SOL/USDT"} <= set(markets)
    btc = markets[SYMBOL]
    assert btc["active"] is True
    assert btc["spot"] is True
    assert btc["precision"]["price"] == 0.01
    assert btc["precision"]["amount"] == 0.00001


def test_market_data_endpoints_answer(make_client):
    client = make_client()
    client.load_markets()
    book = client.fetch_order_book(SYMBOL, 5)
    assert book["bids"][0][0] < book["asks"][0][0]
    assert client.fetch_ticker(SYMBOL)["last"] == 60000.0
    assert client.fetch_time() > 0


def test_limit_orders_partially_fill_then_fill_with_fees_as_binance_charges(
    sim, make_account, make_client
):
    """The seller pays its fee in the quote asset, the buyer in the coins it bought."""
    seller = make_account(spot={"BTC": "2"})
    buyer = make_account(spot={"USDT": "100000"})
    s, b = make_client(seller), make_client(buyer)
    # 60000.00 sits inside the liquidity provider's spread (59999.99 / 60000.01), so the
    # two accounts trade with each other at exactly this price.
    resting = s.create_order(SYMBOL, "limit", "sell", 1, 60000)
    assert resting["status"] == "open"
    assert spot_balance(sim, seller, "BTC") == (Decimal("1"), Decimal("1"))

    taken = b.create_order(SYMBOL, "limit", "buy", 0.4, 60000)
    assert taken["status"] == "closed"
    assert taken["filled"] == 0.4
    assert taken["fee"]["currency"] == "BTC"

    partial = s.fetch_order(resting["id"], SYMBOL)
    assert partial["status"] == "open"
    assert partial["filled"] == 0.4
    assert partial["remaining"] == 0.6
    assert spot_balance(sim, seller, "BTC") == (Decimal("1"), Decimal("0.6"))
    # 0.4 * 60000 = 24000 less the 0.1% maker fee; the buyer's 0.1% is 0.0004 BTC.
    assert spot_balance(sim, seller, "USDT") == (Decimal("23976"), Decimal("0"))
    assert spot_balance(sim, buyer, "USDT") == (Decimal("76000"), Decimal("0"))
    assert spot_balance(sim, buyer, "BTC") == (Decimal("0.3996"), Decimal("0"))

    rest = b.create_order(SYMBOL, "market", "buy", 0.6)
    assert rest["status"] == "closed"
    assert s.fetch_order(resting["id"], SYMBOL)["status"] == "closed"
    assert spot_balance(sim, seller, "BTC") == (Decimal("1"), Decimal("0"))
    assert spot_balance(sim, seller, "USDT") == (Decimal("59940"), Decimal("0"))
    assert spot_balance(sim, buyer, "USDT") == (Decimal("40000"), Decimal("0"))

    trades = s.fetch_my_trades(SYMBOL)
    assert [(t["amount"], t["takerOrMaker"], t["fee"]["cost"]) for t in trades] == [
        (0.4, "maker", 24.0),
        (0.6, "maker", 36.0),
    ]
    balance = b.fetch_balance()
    assert balance["BTC"]["free"] == 0.999
    assert balance["USDT"]["total"] == 40000.0
    assert [t["fee"]["currency"] for t in b.fetch_my_trades(SYMBOL)] == ["BTC", "BTC"]


def test_market_buy_walks_the_book_and_locks_nothing_after(sim, make_account, make_client):
    acct = make_account(spot={"USDT": "100000"})
    client = make_client(acct)
    order = client.create_order(SYMBOL, "market", "buy", 0.01)
    assert order["status"] == "closed"
    fill = order["trades"][0]
    assert fill["price"] == 60000.01
    free, locked = spot_balance(sim, acct, "USDT")
    # 0.01 * 60000.01 = 600.0001; the 0.1% fee is taken from the coins: 0.00001 BTC.
    assert free == Decimal("100000") - Decimal("600.0001")
    assert locked == Decimal("0")
    assert spot_balance(sim, acct, "BTC") == (Decimal("0.00999"), Decimal("0"))


def test_market_buy_by_cost_uses_quote_order_qty(sim, make_account, make_client):
    acct = make_account(spot={"USDT": "1000"})
    client = make_client(acct)
    order = client.create_order(SYMBOL, "market", "buy", None, None, {"cost": 600})
    assert order["status"] == "closed"
    assert order["cost"] <= 600
    free, locked = spot_balance(sim, acct, "USDT")
    assert locked == 0
    assert free >= Decimal("399.3")


def test_cancel_fetch_by_client_id_and_open_orders(make_account, make_client):
    client = make_client(make_account(spot={"USDT": "10000"}))
    order = client.create_order(SYMBOL, "limit", "buy", 0.01, 50000, {"clientOrderId": "my-1"})
    assert client.fetch_order(None, SYMBOL, {"clientOrderId": "my-1"})["id"] == order["id"]
    assert [o["id"] for o in client.fetch_open_orders(SYMBOL)] == [order["id"]]
    canceled = client.cancel_order(order["id"], SYMBOL)
    assert canceled["status"] == "canceled"
    assert client.fetch_open_orders(SYMBOL) == []
    with pytest.raises(ccxt.OrderNotFound):
        client.cancel_order(order["id"], SYMBOL)
    with pytest.raises(ccxt.OrderNotFound):
        client.fetch_order("999999", SYMBOL)


def test_cancel_releases_locked_funds(sim, make_account, make_client):
    acct = make_account(spot={"USDT": "10000"})
    client = make_client(acct)
    order = client.create_order(SYMBOL, "limit", "buy", 0.1, 50000)
    # 5000 plus the highest fee it could pay (0.1%).
    assert spot_balance(sim, acct, "USDT") == (Decimal("4995"), Decimal("5005"))
    client.cancel_order(order["id"], SYMBOL)
    assert spot_balance(sim, acct, "USDT") == (Decimal("10000"), Decimal("0"))


def test_duplicate_client_order_id_of_an_open_order_is_rejected(make_account, make_client):
    client = make_client(make_account(spot={"USDT": "10000"}))
    client.create_order(SYMBOL, "limit", "buy", 0.01, 50000, {"clientOrderId": "dup"})
    with pytest.raises(ccxt.InvalidOrder, match="Duplicate order sent"):
        client.create_order(SYMBOL, "limit", "buy", 0.01, 50000, {"clientOrderId": "dup"})


def test_insufficient_balance_is_insufficient_funds(make_account, make_client):
    client = make_client(make_account(spot={"USDT": "100"}))
    with pytest.raises(ccxt.InsufficientFunds):
        client.create_order(SYMBOL, "limit", "buy", 0.01, 50000)


def test_post_only_that_would_cross_is_rejected(make_account, make_client):
    client = make_client(make_account(spot={"USDT": "10000"}))
    with pytest.raises(ccxt.OrderImmediatelyFillable):
        client.create_order(SYMBOL, "limit", "buy", 0.01, 60001, {"postOnly": True})
    maker = client.create_order(SYMBOL, "limit", "buy", 0.01, 59000, {"postOnly": True})
    assert maker["status"] == "open"
    assert maker["postOnly"] is True


def test_ioc_and_fok_limits(sim, make_account, make_client):
    acct = make_account(spot={"USDT": "100000"})
    client = make_client(acct)
    ioc = client.create_order(SYMBOL, "limit", "buy", 0.01, 59000, {"timeInForce": "IOC"})
    assert ioc["status"] == "expired"
    fok = client.create_order(SYMBOL, "limit", "buy", 1.5, 60000.01, {"timeInForce": "FOK"})
    assert fok["status"] == "expired"
    assert fok["filled"] == 0
    assert spot_balance(sim, acct, "USDT") == (Decimal("100000"), Decimal("0"))


def test_resting_order_fills_when_the_market_moves_through_it(sim, make_account, make_client):
    acct = make_account(spot={"USDT": "100000"})
    client = make_client(acct)
    order = client.create_order(SYMBOL, "limit", "buy", 0.05, 59000)
    sim.control("POST", "/price", {"symbol": SYMBOL, "price": "58000", "venue": "spot"})
    done = client.fetch_order(order["id"], SYMBOL)
    assert done["status"] == "closed"
    # A resting maker gets its own price, not the better one the market moved to.
    assert done["average"] == 59000.0
    assert spot_balance(sim, acct, "BTC") == (Decimal("0.04995"), Decimal("0"))  # less its fee
    # 2950 for the coins; the 0.1% maker fee was 0.00005 of them
    assert spot_balance(sim, acct, "USDT") == (Decimal("97050"), Decimal("0"))


def test_stop_loss_limit_triggers_when_price_falls_through(sim, make_account, make_client):
    acct = make_account(spot={"BTC": "1"})
    client = make_client(acct)
    stop = client.create_order(SYMBOL, "limit", "sell", 1, 58900, {"stopLossPrice": 59000})
    assert stop["info"]["type"] == "STOP_LOSS_LIMIT"
    assert stop["triggerPrice"] == 59000
    assert client.fetch_order(stop["id"], SYMBOL)["status"] == "open"
    sim.control("POST", "/price", {"symbol": SYMBOL, "price": "59500", "venue": "spot"})
    assert client.fetch_order(stop["id"], SYMBOL)["filled"] == 0
    sim.control("POST", "/price", {"symbol": SYMBOL, "price": "58950", "venue": "spot"})
    done = client.fetch_order(stop["id"], SYMBOL)
    assert done["status"] == "closed"
    assert done["average"] >= 58900
    assert spot_balance(sim, acct, "BTC") == (Decimal("0"), Decimal("0"))


def test_take_profit_market_triggers_when_price_rises_through(sim, make_account, make_client):
    acct = make_account(spot={"BTC": "1"})
    client = make_client(acct)
    tp = client.create_order(SYMBOL, "market", "sell", 0.5, None, {"takeProfitPrice": 62000})
    assert tp["info"]["type"] == "TAKE_PROFIT"
    sim.control("POST", "/price", {"symbol": SYMBOL, "price": "62500", "venue": "spot"})
    done = client.fetch_order(tp["id"], SYMBOL)
    assert done["status"] == "closed"
    assert done["average"] > 62000
    assert spot_balance(sim, acct, "BTC") == (Decimal("0.5"), Decimal("0"))


def test_stop_that_would_trigger_immediately_is_rejected(make_account, make_client):
    client = make_client(make_account(spot={"BTC": "1"}))
    with pytest.raises(ccxt.OrderImmediatelyFillable):
        client.create_order(SYMBOL, "limit", "sell", 1, 60500, {"stopLossPrice": 61000})


def test_all_balances_and_state_snapshot(sim, make_account, make_client):
    acct = make_account(spot={"USDT": "1000", "ETH": "2"})
    balance = make_client(acct).fetch_balance()
    assert balance["ETH"]["free"] == 2.0
    snapshot = state(sim, acct)
    assert snapshot["spot"] == {
        "ETH": {"free": "2", "locked": "0"},
        "USDT": {"free": "1000", "locked": "0"},
    }
