"""Spot OCO order lists (``POST /api/v3/orderList/oco``, ``DELETE /api/v3/orderList``).

Through the real ccxt.binance implicit API (``private_post_orderlist_oco``; ccxt signs the
Binance-named parameters) and ccxt.pro, plus the engine alone where the liquidity provider
would get in the way. The account holds 0.15 BTC and each list sells 0.1: two separate
protective sell orders would need 0.2, so every list here also shows the single hold.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from decimal import Decimal
from typing import Any

import ccxt
import pytest

from simulator.client import simulator_client
from simulator.config import SimConfig
from simulator.engine import Exchange, OcoLegRequest, OcoRequest, OrderRequest
from simulator.errors import BinanceError
from simulator.testing import SimulatorHandle

from .conftest import spot_balance

SYMBOL = "BTC/USDT"
D = Decimal
TIMEOUT = 5


def _take_profit_stop_loss(**extra: str) -> dict[str, str]:
    """A SELL list for 0.1 BTC: take profit (market) at 62000, stop loss (market) at 58000."""
    return {
        "symbol": "BTCUSDT",
        "side": "SELL",
        "quantity": "0.1",
        "aboveType": "TAKE_PROFIT",
        "aboveStopPrice": "62000",
        "belowType": "STOP_LOSS",
        "belowStopPrice": "58000",
        **extra,
    }


def _move(sim: SimulatorHandle, price: str) -> None:
    sim.control("POST", "/price", {"symbol": SYMBOL, "price": price, "venue": "spot"})


def _by_client_id(client: Any, client_id: str) -> dict[str, Any]:
    return client.fetch_order(None, SYMBOL, {"clientOrderId": client_id})


@pytest.fixture
def seller(make_account, make_client):
    account = make_account(spot={"BTC": "0.15"})
    return account, make_client(account)


# ---------------------------------------------------------------------- placing
def test_a_sell_oco_holds_the_quantity_once_and_both_orders_are_ordinary_orders(sim, seller):
    account, client = seller
    answer = client.private_post_orderlist_oco(
        _take_profit_stop_loss(
            listClientOrderId="exit-1", aboveClientOrderId="tp-1", belowClientOrderId="sl-1"
        )
    )

    list_id = answer["orderListId"]
    assert list_id != -1
    assert {k: answer[k] for k in ("contingencyType", "listStatusType", "listOrderStatus")} == {
        "contingencyType": "OCO",
        "listStatusType": "EXEC_STARTED",
        "listOrderStatus": "EXECUTING",
    }
    assert (answer["listClientOrderId"], answer["symbol"]) == ("exit-1", "BTCUSDT")
    # Binance's order: the below order first (it also gets the lower order id).
    below, above = answer["orderReports"]
    assert [o["clientOrderId"] for o in answer["orders"]] == ["sl-1", "tp-1"]
    assert [o["orderId"] for o in answer["orders"]] == [below["orderId"], above["orderId"]]
    assert below["orderId"] < above["orderId"]
    assert (below["type"], below["side"], below["stopPrice"]) == (
        "STOP_LOSS",
        "SELL",
        "58000.00000000",
    )
    assert (above["type"], above["stopPrice"], above["price"]) == (
        "TAKE_PROFIT",
        "62000.00000000",
        "0.00000000",
    )
    for report in (below, above):
        assert (report["orderListId"], report["status"], report["origQty"]) == (
            list_id,
            "NEW",
            "0.10000000",
        )
        assert report["workingTime"] == -1  # both wait for their trigger
        assert report["transactTime"] == answer["transactionTime"]
        assert "fills" not in report

    # 0.1 held once, not once per order.
    assert spot_balance(sim, account, "BTC") == (D("0.05"), D("0.1"))
    balance = client.fetch_balance()["BTC"]
    assert (D(str(balance["free"])), D(str(balance["used"]))) == (D("0.05"), D("0.1"))

    stop = _by_client_id(client, "sl-1")
    take = _by_client_id(client, "tp-1")
    assert (stop["id"], stop["status"], stop["triggerPrice"]) == (
        str(below["orderId"]),
        "open",
        58000,
    )
    # ccxt calls a take-profit market order a market order with a trigger price.
    assert (take["info"]["type"], take["side"], take["triggerPrice"]) == (
        "TAKE_PROFIT",
        "sell",
        62000,
    )
    assert stop["info"]["orderListId"] == take["info"]["orderListId"] == list_id
    open_orders = {o["id"]: o["info"]["orderListId"] for o in client.fetch_open_orders(SYMBOL)}
    assert open_orders == {stop["id"]: list_id, take["id"]: list_id}


def test_single_orders_keep_order_list_id_minus_one(seller):
    _account, client = seller
    order = client.create_order(SYMBOL, "limit", "sell", 0.01, 65000)
    assert order["info"]["orderListId"] == -1
    assert client.fetch_order(order["id"], SYMBOL)["info"]["orderListId"] == -1


def test_generated_ids_when_none_are_sent_and_a_limit_maker_rests_on_the_book(seller):
    _account, client = seller
    answer = client.private_post_orderlist_oco(
        {
            "symbol": "BTCUSDT",
            "side": "SELL",
            "quantity": "0.1",
            "aboveType": "LIMIT_MAKER",
            "abovePrice": "61000",
            "belowType": "STOP_LOSS_LIMIT",
            "belowStopPrice": "58000",
            "belowPrice": "57900",
            "belowTimeInForce": "GTC",
            "newOrderRespType": "FULL",
        }
    )
    below, above = answer["orderReports"]
    assert answer["listClientOrderId"]
    assert below["clientOrderId"] and above["clientOrderId"]
    assert (above["type"], above["price"], above["workingTime"]) == (
        "LIMIT_MAKER",
        "61000.00000000",
        answer["transactionTime"],
    )
    assert (below["timeInForce"], below["price"]) == ("GTC", "57900.00000000")
    assert above["fills"] == below["fills"] == []
    asks = client.fetch_order_book(SYMBOL, 100)["asks"]
    assert [61000.0, 0.1] in asks


# ---------------------------------------------------------------------- executing
def test_price_through_the_stop_fills_it_and_expires_the_take_profit(sim, seller):
    account, client = seller
    answer = client.private_post_orderlist_oco(
        _take_profit_stop_loss(aboveClientOrderId="tp", belowClientOrderId="sl")
    )
    list_id = answer["orderListId"]

    # The liquidity provider requotes around 57900.01: its best bid is 57900.00.
    _move(sim, "57900.01")
    stop = _by_client_id(client, "sl")
    take = _by_client_id(client, "tp")
    assert (stop["status"], stop["filled"], stop["average"]) == ("closed", 0.1, 57900.0)
    assert take["status"] == "expired"
    assert take["info"]["status"] == "EXPIRED"
    assert take["filled"] == 0
    assert client.fetch_open_orders(SYMBOL) == []

    (trade,) = client.fetch_my_trades(SYMBOL)
    assert (trade["order"], trade["side"], trade["amount"], trade["price"]) == (
        stop["id"],
        "sell",
        0.1,
        57900.0,
    )
    assert trade["info"]["orderListId"] == list_id
    # 0.1 * 57900 = 5790 less the 0.1% taker fee (5.79); nothing stays held.
    assert spot_balance(sim, account, "BTC") == (D("0.05"), D("0"))
    assert spot_balance(sim, account, "USDT") == (D("5784.21"), D("0"))


def test_price_through_the_take_profit_fills_it_and_expires_the_stop(sim, seller):
    account, client = seller
    client.private_post_orderlist_oco(
        _take_profit_stop_loss(aboveClientOrderId="tp", belowClientOrderId="sl")
    )

    _move(sim, "62000.01")  # best bid 62000.00
    take = _by_client_id(client, "tp")
    stop = _by_client_id(client, "sl")
    assert (take["status"], take["filled"], take["average"]) == ("closed", 0.1, 62000.0)
    assert stop["status"] == "expired"
    assert [t["order"] for t in client.fetch_my_trades(SYMBOL)] == [take["id"]]
    # 6200 less 6.2 taker fee.
    assert spot_balance(sim, account, "BTC") == (D("0.05"), D("0"))
    assert spot_balance(sim, account, "USDT") == (D("6193.8"), D("0"))


def test_a_limit_maker_take_profit_fills_as_maker_and_expires_the_stop(sim, seller):
    account, client = seller
    client.private_post_orderlist_oco(
        {
            "symbol": "BTCUSDT",
            "side": "SELL",
            "quantity": "0.1",
            "aboveType": "LIMIT_MAKER",
            "abovePrice": "61000",
            "aboveClientOrderId": "tp",
            "belowType": "STOP_LOSS_LIMIT",
            "belowStopPrice": "58000",
            "belowPrice": "57900",
            "belowTimeInForce": "GTC",
            "belowClientOrderId": "sl",
        }
    )
    # The liquidity provider's new bids (61499.99 and down) cross the resting 61000 ask.
    _move(sim, "61500")
    take = _by_client_id(client, "tp")
    assert (take["status"], take["average"]) == ("closed", 61000.0)
    assert _by_client_id(client, "sl")["status"] == "expired"
    (trade,) = client.fetch_my_trades(SYMBOL)
    assert trade["takerOrMaker"] == "maker"
    # 6100 less the 0.1% maker fee (6.1).
    assert spot_balance(sim, account, "BTC") == (D("0.05"), D("0"))
    assert spot_balance(sim, account, "USDT") == (D("6093.9"), D("0"))


# ---------------------------------------------------------------------- cancelling
def test_cancelling_one_order_cancels_both_and_releases_the_hold(sim, seller):
    account, client = seller
    client.private_post_orderlist_oco(
        _take_profit_stop_loss(aboveClientOrderId="tp", belowClientOrderId="sl")
    )
    take = _by_client_id(client, "tp")

    canceled = client.cancel_order(take["id"], SYMBOL)
    assert canceled["status"] == "canceled"
    assert canceled["info"]["orderListId"] == take["info"]["orderListId"]
    assert _by_client_id(client, "sl")["status"] == "canceled"
    assert client.fetch_open_orders(SYMBOL) == []
    assert spot_balance(sim, account, "BTC") == (D("0.15"), D("0"))
    # The hold is gone: moving through either trigger trades nothing.
    _move(sim, "57000")
    assert client.fetch_my_trades(SYMBOL) == []


def test_delete_order_list_cancels_both_by_list_client_id(sim, seller):
    account, client = seller
    placed = client.private_post_orderlist_oco(_take_profit_stop_loss(listClientOrderId="exit"))

    answer = client.private_delete_orderlist({"symbol": "BTCUSDT", "listClientOrderId": "exit"})
    assert answer["orderListId"] == placed["orderListId"]
    assert (answer["listStatusType"], answer["listOrderStatus"]) == ("ALL_DONE", "ALL_DONE")
    assert [r["status"] for r in answer["orderReports"]] == ["CANCELED", "CANCELED"]
    assert [r["origClientOrderId"] for r in answer["orderReports"]] == [
        o["clientOrderId"] for o in placed["orders"]
    ]
    assert spot_balance(sim, account, "BTC") == (D("0.15"), D("0"))
    with pytest.raises(ccxt.OrderNotFound):
        client.private_delete_orderlist(
            {"symbol": "BTCUSDT", "orderListId": str(placed["orderListId"])}
        )


def test_cancelling_all_open_orders_takes_the_list_with_them(sim, seller):
    account, client = seller
    client.private_post_orderlist_oco(_take_profit_stop_loss())
    canceled = client.cancel_all_orders(SYMBOL)
    assert sorted(o["status"] for o in canceled) == ["canceled", "canceled"]
    assert spot_balance(sim, account, "BTC") == (D("0.15"), D("0"))


# ---------------------------------------------------------------------- rejections
def test_more_than_the_free_balance_is_insufficient_funds(sim, seller):
    account, client = seller
    with pytest.raises(ccxt.InsufficientFunds):
        client.private_post_orderlist_oco({**_take_profit_stop_loss(), "quantity": "0.2"})
    assert client.fetch_open_orders(SYMBOL) == []
    assert spot_balance(sim, account, "BTC") == (D("0.15"), D("0"))


def test_a_missing_stop_price_raises_what_a_single_order_raises(seller):
    _account, client = seller
    with pytest.raises(ccxt.BaseError) as single:
        client.private_post_order(
            {"symbol": "BTCUSDT", "side": "SELL", "type": "STOP_LOSS", "quantity": "0.1"}
        )
    params = _take_profit_stop_loss()
    del params["belowStopPrice"]
    with pytest.raises(ccxt.BaseError) as oco:
        client.private_post_orderlist_oco(params)
    assert type(oco.value) is type(single.value) is ccxt.BadRequest
    assert "-1102" in str(oco.value) and "belowStopPrice" in str(oco.value)
    assert client.fetch_open_orders(SYMBOL) == []


def test_a_client_order_id_in_use_is_a_duplicate_like_a_single_order(seller):
    _account, client = seller
    client.create_order(SYMBOL, "limit", "sell", 0.01, 65000, {"clientOrderId": "taken"})
    with pytest.raises(ccxt.InvalidOrder, match="Duplicate order sent"):
        client.private_post_orderlist_oco(_take_profit_stop_loss(belowClientOrderId="taken"))
    client.private_post_orderlist_oco(_take_profit_stop_loss(listClientOrderId="exit"))
    with pytest.raises(ccxt.InvalidOrder, match="Duplicate order sent"):
        client.private_post_orderlist_oco(
            {**_take_profit_stop_loss(listClientOrderId="exit"), "quantity": "0.01"}
        )


def test_prices_on_the_wrong_side_of_the_last_price_are_rejected(seller):
    _account, client = seller
    with pytest.raises(ccxt.InvalidOrder, match="relationship of the prices"):
        client.private_post_orderlist_oco(_take_profit_stop_loss(belowStopPrice="60500"))


def test_unknown_symbol_is_bad_symbol(seller):
    _account, client = seller
    with pytest.raises(ccxt.BadSymbol):
        client.private_post_orderlist_oco({**_take_profit_stop_loss(), "symbol": "NOPEUSDT"})


def test_faults_and_request_counts_apply_to_the_oco_endpoint(sim, seller):
    account, client = seller
    sim.control("DELETE", "/requests")
    fault = {"path": "/api/v3/orderList/oco", "method": "POST"}
    sim.control("POST", "/faults", {**fault, "action": "status", "status": 429})
    with pytest.raises(ccxt.DDoSProtection):
        client.private_post_orderlist_oco(_take_profit_stop_loss())
    assert spot_balance(sim, account, "BTC") == (D("0.15"), D("0"))

    sim.control("POST", "/faults", {**fault, "action": "drop", "mode": "close"})
    with pytest.raises(ccxt.NetworkError):
        client.private_post_orderlist_oco(_take_profit_stop_loss(belowClientOrderId="lost"))
    # The venue placed the list; the answer was lost. Ask by client id before resending.
    assert _by_client_id(client, "lost")["status"] == "open"
    assert spot_balance(sim, account, "BTC") == (D("0.05"), D("0.1"))
    assert sim.control("GET", "/requests")["POST /api/v3/orderList/oco"] == 2


# ---------------------------------------------------------------------- engine alone
@pytest.fixture
def bare():
    """No liquidity provider: only the tests' orders are on the book (last price 60000)."""
    exchange = Exchange(
        SimConfig.build(
            seed=3, symbols=["BTC/USDT"], overrides={"markets": {"BTC/USDT": {"lp_levels": 0}}}
        )
    )
    exchange.create_account(account_id="s", spot_balances={"BTC": D("0.15")})
    exchange.create_account(account_id="b", spot_balances={"USDT": D("100000")})
    return exchange


def _oco(side="SELL", qty="0.1", above=None, below=None, **extra):
    above = above or OcoLegRequest("LIMIT_MAKER", price=D("60100"))
    below = below or OcoLegRequest(
        "STOP_LOSS_LIMIT", price=D("58900"), stop_price=D("59000"), time_in_force="GTC"
    )
    return OcoRequest("BTCUSDT", side, D(qty), above=above, below=below, **extra)


def test_a_partial_fill_expires_the_other_order_and_the_rest_stays_held(bare):
    order_list = bare.place_spot_oco("s", _oco())
    stop, maker = order_list.orders
    bare.place_spot_order(
        "b",
        OrderRequest("BTCUSDT", "BUY", "LIMIT", D("0.04"), D("60100"), time_in_force="GTC"),
    )
    assert (maker.status, maker.executed_qty) == ("PARTIALLY_FILLED", D("0.04"))
    assert stop.status == "EXPIRED"
    assert order_list.list_order_status == "ALL_DONE"
    balances = bare.accounts["s"].spot_balances
    assert (balances["BTC"].free, balances["BTC"].locked) == (D("0.05"), D("0.06"))
    # 0.04 * 60100 = 2404 less the 0.1% maker fee.
    assert balances["USDT"].free == D("2401.596")
    bare.cancel_order("spot", "s", "BTCUSDT", maker.order_id, None)
    assert (balances["BTC"].free, balances["BTC"].locked) == (D("0.11"), D("0"))


def test_a_buy_oco_holds_the_quote_at_the_dearer_order_once(bare):
    order_list = bare.place_spot_oco(
        "b",
        _oco(
            side="BUY",
            above=OcoLegRequest("STOP_LOSS", stop_price=D("61000")),
            below=OcoLegRequest("LIMIT_MAKER", price=D("59000")),
        ),
    )
    balance = bare.accounts["b"].spot_balances["USDT"]
    # 0.1 at the 61000 stop (6100) plus the 0.1% fee (6.1), once.
    assert (balance.free, balance.locked) == (D("93893.9"), D("6106.1"))
    bare.cancel_order_list("b", "BTCUSDT", order_list.order_list_id, None)
    assert [o.status for o in order_list.orders] == ["CANCELED", "CANCELED"]
    assert (balance.free, balance.locked) == (D("100000"), D("0"))


@pytest.mark.parametrize(
    ("request_", "code"),
    [
        (_oco(above=OcoLegRequest("LIMIT", price=D("60100"))), -1158),
        (_oco(above=OcoLegRequest("NOPE")), -1116),
        (_oco(below=OcoLegRequest("LIMIT_MAKER", price=D("59000"))), -1168),
        (_oco(above=OcoLegRequest("STOP_LOSS", stop_price=D("61000"))), -1197),
        (_oco(below=OcoLegRequest("TAKE_PROFIT", stop_price=D("59000"))), -1199),
        (_oco(side="BUY"), -1165),
        (_oco(above=OcoLegRequest("LIMIT_MAKER")), -1102),
        (_oco(above=OcoLegRequest("TAKE_PROFIT", price=D("1"), stop_price=D("61000"))), -1106),
        (_oco(above=OcoLegRequest("TAKE_PROFIT", stop_price=D("61000.001"))), -1013),
        (_oco(qty="0.000001"), -1013),
        (_oco(qty="0.2"), -2010),
    ],
)
def test_invalid_lists_get_binances_codes_and_change_nothing(bare, request_, code):
    with pytest.raises(BinanceError) as raised:
        bare.place_spot_oco("s", request_)
    assert raised.value.code == code
    account = bare.accounts["s"]
    assert account.orders == {} and account.order_lists == {}
    assert account.spot_balances["BTC"].free == D("0.15")


# ---------------------------------------------------------------------- websocket
@pytest.fixture
async def pro(sim: SimulatorHandle) -> AsyncIterator[Callable[..., Any]]:
    clients: list[Any] = []

    def make(account: dict[str, Any]) -> Any:
        client = simulator_client(
            sim.url,
            market_type="spot",
            api_key=account["api_key"],
            secret=account["secret"],
            pro=True,
        )
        clients.append(client)
        return client

    yield make
    for client in clients:
        await client.close()


async def _until(check: Callable[[], bool]) -> None:
    async def poll() -> None:
        while not check():
            await asyncio.sleep(0.01)

    await asyncio.wait_for(poll(), TIMEOUT)


async def _orders_until(
    client: Any, seen: dict[str, dict[str, Any]], done: Callable[[], bool]
) -> None:
    """Collect watch_orders updates into ``seen`` (by id, latest wins) until ``done()``."""

    async def collect() -> None:
        while not done():
            for order in await client.watch_orders(SYMBOL):
                seen[order["id"]] = order

    await asyncio.wait_for(collect(), TIMEOUT)


async def test_watch_orders_sees_both_orders_of_the_list_and_the_expiry(sim, make_account, pro):
    account = make_account(spot={"BTC": "0.15"})
    client = pro(account)
    seen: dict[str, dict[str, Any]] = {}
    watching = asyncio.create_task(_orders_until(client, seen, lambda: len(seen) == 2))
    await _until(
        lambda: any(
            account["account_id"] in c["account_ids"]
            for c in sim.control("GET", "/ws")["connections"]
        )
    )

    answer = await client.private_post_orderlist_oco(_take_profit_stop_loss())
    await watching
    below, above = (str(o["orderId"]) for o in answer["orders"])
    assert {i: (o["status"], o["info"]["x"], o["info"]["g"]) for i, o in seen.items()} == {
        below: ("open", "NEW", answer["orderListId"]),
        above: ("open", "NEW", answer["orderListId"]),
    }
    assert (seen[below]["info"]["o"], seen[above]["info"]["o"]) == ("STOP_LOSS", "TAKE_PROFIT")

    _move(sim, "57900.01")
    await _orders_until(
        client,
        seen,
        lambda: seen[below]["status"] == "closed" and seen[above]["status"] == "expired",
    )
    assert (seen[above]["info"]["x"], seen[above]["info"]["X"]) == ("EXPIRED", "EXPIRED")
    assert seen[below]["filled"] == 0.1
