"""Pure mapping between our orders and ccxt's structures (no network)."""

from decimal import Decimal

from orders import venue


def test_the_same_idempotency_key_always_names_the_same_order():
    first = venue.client_order_id(account_id=7, idempotency_key="abc")
    again = venue.client_order_id(account_id=7, idempotency_key="abc")
    other_account = venue.client_order_id(account_id=8, idempotency_key="abc")

    assert first == again
    assert first != other_account
    assert first.startswith("tp") and len(first) == 32


def test_client_ids_fit_binance_and_children_keep_the_parent_stem():
    parent = venue.client_order_id(account_id=1)
    child = venue.child_client_order_id(parent, "stop_loss", 3)

    assert len(child) <= 36
    assert child.endswith("-sl3")
    assert venue.is_ours(child)
    assert not venue.is_ours("web_12345")


def test_a_limit_order_request_carries_price_time_in_force_and_client_id():
    request = venue.create_request(
        symbol="BTC/USDT",
        type="limit",
        side="buy",
        amount=Decimal("0.01000"),
        price=Decimal("30000.10"),
        stop_price=None,
        time_in_force="IOC",
        reduce_only=False,
        post_only=False,
        client_order_id="tp1",
        is_contract=False,
    )

    assert request.as_ccxt_args() == (
        "BTC/USDT",
        "limit",
        "buy",
        "0.01",
        "30000.1",
        {"clientOrderId": "tp1", "timeInForce": "IOC"},
    )


def test_a_stop_market_order_is_a_market_order_with_a_stop_loss_trigger():
    request = venue.create_request(
        symbol="BTC/USDT:USDT",
        type="stop_market",
        side="sell",
        amount=Decimal("1"),
        price=None,
        stop_price=Decimal("29000"),
        time_in_force="",
        reduce_only=True,
        post_only=False,
        client_order_id="tp2",
        is_contract=True,
    )

    assert request.type == "market"
    assert request.price is None
    assert request.params == {"clientOrderId": "tp2", "stopLossPrice": "29000", "reduceOnly": True}


def test_take_profit_and_post_only():
    take = venue.create_request(
        symbol="ETH/USDT",
        type="take_profit_limit",
        side="sell",
        amount=Decimal("2"),
        price=Decimal("2100"),
        stop_price=Decimal("2090"),
        time_in_force="GTC",
        reduce_only=False,
        post_only=False,
        client_order_id="tp3",
        is_contract=False,
    )
    maker = venue.create_request(
        symbol="ETH/USDT",
        type="limit",
        side="buy",
        amount=Decimal("2"),
        price=Decimal("1900"),
        stop_price=None,
        time_in_force="GTC",
        reduce_only=False,
        post_only=True,
        client_order_id="tp4",
        is_contract=False,
    )

    assert take.params["takeProfitPrice"] == "2090" and take.type == "limit"
    assert maker.params == {"clientOrderId": "tp4", "postOnly": True}


def test_conditional_contract_orders_are_looked_up_on_the_trigger_endpoints():
    assert venue.lookup_params(client_order_id="x", conditional=True, is_contract=True) == {
        "clientOrderId": "x",
        "trigger": True,
    }
    assert venue.lookup_params(client_order_id="x", conditional=True, is_contract=False) == {
        "clientOrderId": "x"
    }


def test_a_ccxt_order_is_read_into_decimals_without_float_artefacts():
    update = venue.parse_order(
        {
            "id": "123",
            "clientOrderId": "tp5",
            "symbol": "BTC/USDT",
            "side": "buy",
            "type": "limit",
            "status": "open",
            "amount": 0.3,
            "price": 30000.1,
            "filled": 0.1,
            "remaining": 0.2,
            "average": 30000.1,
            "cost": 3000.01,
            "timestamp": 1700000000000,
            "fees": [{"cost": 0.0001, "currency": "BTC"}, {"cost": 0.00005, "currency": "BTC"}],
            "trades": [
                {
                    "id": "t1",
                    "order": "123",
                    "symbol": "BTC/USDT",
                    "side": "buy",
                    "price": 30000.1,
                    "amount": 0.1,
                    "cost": 3000.01,
                    "takerOrMaker": "maker",
                    "fee": {"cost": 0.0001, "currency": "BTC"},
                    "timestamp": 1700000000000,
                    "info": {},
                }
            ],
            "info": {"orderId": 123},
        }
    )

    assert update.filled == Decimal("0.1")
    assert update.remaining == Decimal("0.2")
    assert update.price == Decimal("30000.1")
    assert update.fees == {"BTC": Decimal("0.00015")}
    assert update.trades[0].is_maker is True
    assert update.trades[0].fee == Decimal("0.0001")
    assert update.timestamp.isoformat() == "2023-11-14T22:13:20+00:00"


def test_missing_cost_is_derived_from_average_and_filled():
    update = venue.parse_order(
        {"id": "1", "symbol": "X/Y", "status": "closed", "filled": 2, "average": 1.5, "cost": None}
    )

    assert update.cost == Decimal("3.0")


def test_a_spot_oco_list_puts_the_take_profit_above_a_sell_and_below_a_buy():
    common = {
        "market_id": "BTCUSDT",
        "amount": Decimal("0.0100"),
        "stop_price": Decimal("59000.00"),
        "stop_client_order_id": "tpabc-sl",
        "take_client_order_id": "tpabc-tp",
    }
    sell = venue.oco_request(side="sell", take_price=Decimal("61000.50"), **common)
    buy = venue.oco_request(side="buy", take_price=Decimal("57000"), **common)

    assert sell == {
        "symbol": "BTCUSDT",
        "side": "SELL",
        "quantity": "0.01",
        "aboveType": "TAKE_PROFIT",
        "aboveStopPrice": "61000.5",
        "aboveClientOrderId": "tpabc-tp",
        "belowType": "STOP_LOSS",
        "belowStopPrice": "59000",
        "belowClientOrderId": "tpabc-sl",
    }
    assert (buy["side"], buy["aboveType"], buy["aboveStopPrice"]) == ("BUY", "STOP_LOSS", "59000")
    assert (buy["belowType"], buy["belowStopPrice"], buy["belowClientOrderId"]) == (
        "TAKE_PROFIT",
        "57000",
        "tpabc-tp",
    )
