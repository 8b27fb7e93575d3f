"""Same seed + same order sequence = byte-identical fills."""

from __future__ import annotations

import itertools
import json
from decimal import Decimal

from simulator.config import SimConfig
from simulator.engine import AlgoRequest, Exchange, OcoLegRequest, OcoRequest, OrderRequest
from simulator.rest import serializers as ser


def _run(seed: int) -> str:
    ticks = itertools.count(1_700_000_000_000, 250)
    exchange = Exchange(SimConfig.build(seed=seed), clock=lambda: next(ticks))
    exchange.create_account(
        account_id="a",
        spot_balances={"USDT": Decimal("1000000"), "BTC": Decimal("10")},
        futures_balances={"USDT": Decimal("100000")},
    )
    for i in range(40):
        exchange.step()
        side = "BUY" if i % 2 else "SELL"
        price = exchange.markets["spot"]["BTCUSDT"].mid + Decimal(i % 5 - 2) * 3
        exchange.place_spot_order(
            "a", OrderRequest("BTCUSDT", side, "LIMIT", Decimal("0.01"), price, time_in_force="GTC")
        )
        if i % 7 == 0:
            exchange.place_futures_order(
                "a", OrderRequest("ETHUSDT", side, "MARKET", Decimal("0.1"))
            )
        if i == 5:
            # An OCO close to the price, so one of its orders triggers during the run.
            last = exchange.markets["spot"]["BTCUSDT"].last_price
            exchange.place_spot_oco(
                "a",
                OcoRequest(
                    "BTCUSDT",
                    "SELL",
                    Decimal("0.05"),
                    above=OcoLegRequest("TAKE_PROFIT", stop_price=last + 20),
                    below=OcoLegRequest("STOP_LOSS", stop_price=last - 20),
                ),
            )
        if i == 10:
            exchange.place_algo_order(
                "a",
                AlgoRequest(
                    "ETHUSDT",
                    "SELL",
                    "TRAILING_STOP_MARKET",
                    Decimal("0.1"),
                    callback_rate=Decimal("0.5"),
                    reduce_only=True,
                ),
            )
    account = exchange.accounts["a"]
    public = {
        f"{venue}:{symbol}": [ser.public_trade(t, venue == "futures") for t in mkt.trades]
        for venue, markets in exchange.markets.items()
        for symbol, mkt in sorted(markets.items())
    }
    return json.dumps(
        {
            "spot": [ser.spot_trade(f) for f in account.fills["spot"]],
            "futures": [ser.futures_trade(f) for f in account.fills["futures"]],
            "public": public,
        },
        sort_keys=True,
    )


def test_same_seed_and_orders_give_byte_identical_fills():
    first, second = _run(7), _run(7)
    fills = json.loads(first)["spot"]
    assert fills, "the scenario should produce user fills"
    assert any(f["orderListId"] != -1 for f in fills), "the OCO should trade"
    assert first == second


def test_a_different_seed_gives_a_different_market():
    assert _run(7) != _run(8)
