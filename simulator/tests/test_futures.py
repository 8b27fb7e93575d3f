"""USD-M futures through the real ccxt.binanceusdm client."""

from __future__ import annotations

from decimal import Decimal

import ccxt
import pytest

from .conftest import state

SYMBOL = "BTC/USDT:USDT"


def _position(sim, account):
    positions = state(sim, account)["positions"]
    assert len(positions) <= 1
    return positions[0] if positions else None


def test_load_markets_gives_linear_perpetuals(make_client):
    markets = make_client(market_type="swap").load_markets()
    btc = markets[SYMBOL]
    assert btc["swap"] is True
    assert btc["linear"] is True
    assert btc["settle"] == "USDT"
    assert btc["precision"]["price"] == 0.1


def test_limit_orders_partially_fill_into_positions_with_fees_and_pnl(
    sim, make_account, make_client
):
    short = make_account(futures={"USDT": "10000"})
    long = make_account(futures={"USDT": "10000"})
    s = make_client(short, market_type="swap")
    b = make_client(long, market_type="swap")
    assert b.set_leverage(10, SYMBOL)["leverage"] == 10
    # 60000.0 lies inside the liquidity provider's spread (59999.9 / 60000.1).
    resting = s.create_order(SYMBOL, "limit", "sell", 1, 60000)
    taken = b.create_order(SYMBOL, "limit", "buy", 0.4, 60000)
    assert taken["status"] == "closed"
    partial = s.fetch_order(resting["id"], SYMBOL)
    assert (partial["status"], partial["filled"], partial["remaining"]) == ("open", 0.4, 0.6)

    long_pos = _position(sim, long)
    assert Decimal(long_pos["positionAmt"]) == Decimal("0.4")
    assert Decimal(long_pos["entryPrice"]) == Decimal("60000")
    assert long_pos["leverage"] == 10
    short_pos = _position(sim, short)
    assert Decimal(short_pos["positionAmt"]) == Decimal("-0.4")

    # Taker 0.05% of 24000 = 12; maker 0.02% = 4.8.
    assert Decimal(state(sim, long)["futures"]["USDT"]["wallet"]) == Decimal("9988")
    assert Decimal(state(sim, short)["futures"]["USDT"]["wallet"]) == Decimal("9995.2")

    s.cancel_order(resting["id"], SYMBOL)
    sim.control("POST", "/price", {"symbol": "BTCUSDT", "price": "61000", "venue": "futures"})
    long_pos = _position(sim, long)
    assert Decimal(long_pos["markPrice"]) == Decimal("61000")
    assert Decimal(long_pos["unRealizedProfit"]) == Decimal("400")
    # 0.4 * 61000 / 10
    assert Decimal(long_pos["positionInitialMargin"]) == Decimal("2440")
    # (q*E - WB) / (q * (1 - mmr)) = (24000 - 9988) / 0.3984 = 35170.68.., down to the tick.
    assert Decimal(long_pos["liquidationPrice"]) == Decimal("35170.6")

    positions = b.fetch_positions([SYMBOL])
    assert positions[0]["side"] == "long"
    assert positions[0]["contracts"] == 0.4
    assert positions[0]["unrealizedPnl"] == 400.0
    balance = b.fetch_balance()
    assert balance["USDT"]["total"] == 10388.0  # wallet 9988 + 400 unrealized
    assert balance["USDT"]["used"] == 2440.0

    # Closing realizes the P&L: sell 0.4 at the liquidity provider's bid (60999.9).
    close = b.create_order(SYMBOL, "market", "sell", 0.4, None, {"reduceOnly": True})
    assert close["status"] == "closed"
    assert _position(sim, long) is None
    trades = b.fetch_my_trades(SYMBOL)
    assert Decimal(trades[-1]["info"]["realizedPnl"]) == Decimal("399.96")
    # 9988 + 399.96 - taker fee on 24399.96 (12.19998)
    assert Decimal(state(sim, long)["futures"]["USDT"]["wallet"]) == Decimal("10375.76002")


def test_reduce_only_without_a_position_is_rejected(make_account, make_client):
    client = make_client(make_account(futures={"USDT": "10000"}), market_type="swap")
    with pytest.raises(ccxt.InvalidOrder, match="ReduceOnly Order is rejected"):
        client.create_order(SYMBOL, "market", "sell", 0.01, None, {"reduceOnly": True})


def test_margin_insufficient_maps_to_insufficient_funds(make_account, make_client):
    client = make_client(make_account(futures={"USDT": "100"}), market_type="swap")
    with pytest.raises(ccxt.InsufficientFunds):
        client.create_order(SYMBOL, "market", "buy", 1)


def test_duplicate_client_order_id_is_rejected(make_account, make_client):
    client = make_client(make_account(futures={"USDT": "10000"}), market_type="swap")
    client.create_order(SYMBOL, "limit", "buy", 0.01, 50000, {"clientOrderId": "f-dup"})
    with pytest.raises(ccxt.InvalidOrder, match="ClientOrderId is duplicated"):
        client.create_order(SYMBOL, "limit", "buy", 0.01, 50000, {"clientOrderId": "f-dup"})


def test_cancel_fetch_by_client_id_and_open_orders(make_account, make_client):
    client = make_client(make_account(futures={"USDT": "10000"}), market_type="swap")
    order = client.create_order(SYMBOL, "limit", "buy", 0.01, 50000, {"clientOrderId": "f-1"})
    assert client.fetch_order(None, SYMBOL, {"clientOrderId": "f-1"})["id"] == order["id"]
    assert [o["id"] for o in client.fetch_open_orders(SYMBOL)] == [order["id"]]
    assert client.cancel_order(order["id"], SYMBOL)["status"] == "canceled"
    with pytest.raises(ccxt.OrderNotFound):
        client.cancel_order(order["id"], SYMBOL)


def test_stop_market_algo_order_closes_the_position_when_price_falls(
    sim, make_account, make_client
):
    acct = make_account(futures={"USDT": "10000"})
    client = make_client(acct, market_type="swap")
    client.create_order(SYMBOL, "market", "buy", 0.1)
    stop = client.create_order(
        SYMBOL, "market", "sell", 0.1, None, {"stopLossPrice": 59000, "reduceOnly": True}
    )
    assert stop["info"]["orderType"] == "STOP_MARKET"
    open_algos = client.fetch_open_orders(SYMBOL, params={"trigger": True})
    assert [o["id"] for o in open_algos] == [stop["id"]]
    sim.control("POST", "/price", {"symbol": "BTCUSDT", "price": "58900", "venue": "futures"})
    fired = client.fetch_order(stop["id"], SYMBOL, {"trigger": True})
    assert fired["status"] == "closed"
    assert fired["info"]["algoStatus"] == "FINISHED"
    assert _position(sim, acct) is None
    assert client.fetch_open_orders(SYMBOL, params={"trigger": True}) == []


def test_take_profit_limit_algo_order_triggers_when_price_rises(sim, make_account, make_client):
    acct = make_account(futures={"USDT": "10000"})
    client = make_client(acct, market_type="swap")
    client.create_order(SYMBOL, "market", "buy", 0.1)
    tp = client.create_order(
        SYMBOL, "limit", "sell", 0.1, 61900, {"takeProfitPrice": 62000, "reduceOnly": True}
    )
    assert tp["info"]["orderType"] == "TAKE_PROFIT"
    sim.control("POST", "/price", {"symbol": "BTCUSDT", "price": "62100", "venue": "futures"})
    assert client.fetch_order(tp["id"], SYMBOL, {"trigger": True})["status"] == "closed"
    assert _position(sim, acct) is None


def test_trailing_stop_follows_the_high_and_fires_on_the_pullback(sim, make_account, make_client):
    acct = make_account(futures={"USDT": "10000"})
    client = make_client(acct, market_type="swap")
    client.create_order(SYMBOL, "market", "buy", 0.1)
    trail = client.create_order(
        SYMBOL, "market", "sell", 0.1, None, {"trailingPercent": 1, "reduceOnly": True}
    )
    assert trail["info"]["orderType"] == "TRAILING_STOP_MARKET"

    def move(price):
        sim.control("POST", "/price", {"symbol": "BTCUSDT", "price": price, "venue": "futures"})
        return client.fetch_order(trail["id"], SYMBOL, {"trigger": True})["status"]

    assert move("62000") == "open"
    assert move("61500") == "open"  # above 62000 * 0.99 = 61380
    assert move("61300") == "closed"
    assert _position(sim, acct) is None


def test_cancel_algo_order(make_account, make_client):
    client = make_client(make_account(futures={"USDT": "10000"}), market_type="swap")
    client.create_order(SYMBOL, "market", "buy", 0.1)
    stop = client.create_order(SYMBOL, "market", "sell", 0.1, None, {"stopLossPrice": 59000})
    client.cancel_order(stop["id"], SYMBOL, {"trigger": True})
    assert client.fetch_order(stop["id"], SYMBOL, {"trigger": True})["status"] == "canceled"
    with pytest.raises(ccxt.OrderNotFound):
        client.cancel_order(stop["id"], SYMBOL, {"trigger": True})


def test_algo_order_that_would_trigger_immediately_is_rejected(make_account, make_client):
    client = make_client(make_account(futures={"USDT": "10000"}), market_type="swap")
    with pytest.raises(ccxt.OrderImmediatelyFillable):
        client.create_order(SYMBOL, "market", "sell", 0.1, None, {"stopLossPrice": 61000})


def test_invalid_leverage_is_rejected(make_account, make_client):
    client = make_client(make_account(futures={"USDT": "10000"}), market_type="swap")
    with pytest.raises(ccxt.BadRequest):
        client.set_leverage(200, SYMBOL)


def test_listen_key_takes_only_the_api_key(make_account, make_client):
    acct = make_account(futures={"USDT": "1"})
    client = make_client(acct, market_type="swap")
    first = client.fapiPrivatePostListenKey()["listenKey"]
    assert client.fapiPrivatePutListenKey()["listenKey"] == first
    assert len(first) > 20


def test_the_control_api_can_change_a_position_behind_the_clients_back(
    sim, make_account, make_client
):
    account = make_account(futures={"USDT": "100000"})
    client = make_client(account, market_type="swap")

    sim.control(
        "POST",
        f"/accounts/{account['account_id']}/positions",
        {"symbol": "BTC/USDT", "amount": "-0.5", "entry_price": "60000"},
    )

    (position,) = client.fetch_positions()
    assert (position["side"], position["contracts"], position["entryPrice"]) == (
        "short",
        0.5,
        60000.0,
    )
    assert _position(sim, account)["positionAmt"] == "-0.5"
