"""The matching engine on its own: priority, balances, events."""

from __future__ import annotations

import random
import time
from decimal import Decimal

import pytest

from simulator.config import SimConfig
from simulator.engine import Exchange, OrderRequest
from simulator.engine.events import (
    BalanceChanged,
    BookChanged,
    OrderUpdated,
    PublicTrade,
    UserTrade,
)
from simulator.errors import BinanceError


@pytest.fixture
def exchange():
    return Exchange(SimConfig.build(seed=3, symbols=["BTC/USDT"]))


def _limit(side, qty, price, tif="GTC"):
    return OrderRequest("BTCUSDT", side, "LIMIT", Decimal(qty), Decimal(price), time_in_force=tif)


def test_price_time_priority():
    # No liquidity provider: only these orders are on the book.
    exchange = Exchange(
        SimConfig.build(
            seed=3, symbols=["BTC/USDT"], overrides={"markets": {"BTC/USDT": {"lp_levels": 0}}}
        )
    )
    for name in ("first", "second"):
        exchange.create_account(account_id=name, spot_balances={"BTC": Decimal("1")})
    exchange.create_account(account_id="taker", spot_balances={"USDT": Decimal("100000")})
    first = exchange.place_spot_order("first", _limit("SELL", "0.1", "60000"))
    second = exchange.place_spot_order("second", _limit("SELL", "0.1", "60000"))
    better = exchange.place_spot_order("second", _limit("SELL", "0.1", "59999"))
    exchange.place_spot_order("taker", _limit("BUY", "0.15", "60000"))
    # Best price first, then the earlier order at the same price.
    assert better.status == "FILLED"
    assert first.executed_qty == Decimal("0.05")
    assert second.executed_qty == 0


def test_listeners_get_typed_events_in_order(exchange):
    events = []
    exchange.add_listener(events.append)
    exchange.create_account(account_id="a", spot_balances={"USDT": Decimal("100000")})
    exchange.place_spot_order("a", OrderRequest("BTCUSDT", "BUY", "MARKET", Decimal("0.01")))
    kinds = [type(e) for e in events]
    assert OrderUpdated in kinds and UserTrade in kinds and PublicTrade in kinds
    assert BalanceChanged in kinds and BookChanged in kinds
    updates = [e for e in events if isinstance(e, OrderUpdated)]
    assert [u.execution_type for u in updates] == ["NEW", "TRADE"]
    assert updates[-1].order.status == "FILLED"
    assert updates[-1].last_fill is not None


def test_balances_never_go_negative_under_random_orders(exchange):
    rng = random.Random(5)
    exchange.create_account(
        account_id="r", spot_balances={"USDT": Decimal("20000"), "BTC": Decimal("0.3")}
    )
    rejections = []
    for _ in range(300):
        exchange.step()
        mid = exchange.markets["spot"]["BTCUSDT"].mid
        side = rng.choice(["BUY", "SELL"])
        try:
            if rng.random() < 0.3:
                exchange.place_spot_order(
                    "r", OrderRequest("BTCUSDT", side, "MARKET", Decimal("0.01"))
                )
            else:
                price = (mid + Decimal(rng.randint(-30, 30))).quantize(Decimal("0.01"))
                exchange.place_spot_order("r", _limit(side, "0.01", str(price)))
        except BinanceError as exc:
            rejections.append(exc.msg)
        for balance in exchange.accounts["r"].spot_balances.values():
            assert balance.free >= 0
            assert balance.locked >= 0
    # Only lack of funds may stop an order here; every rejection is that one.
    assert set(rejections) <= {"Account has insufficient balance for requested action."}
    open_locked = sum(o.locked for o in exchange.accounts["r"].open_orders.values())
    locked = sum(b.locked for b in exchange.accounts["r"].spot_balances.values())
    assert open_locked == locked


def test_the_market_moves_and_prints_trades_when_stepped(exchange):
    mkt = exchange.markets["spot"]["BTCUSDT"]
    start = mkt.mid
    exchange.advance(50)
    assert mkt.mid != start
    assert len(mkt.trades) > 10
    assert mkt.candles
    bids, asks = mkt.book.depth(10)
    assert len(bids) == len(asks) == 10
    assert bids[0][0] < asks[0][0]


def test_the_server_timer_ticks_until_paused(sim):
    sim.control("POST", "/resume")
    start = sim.control("GET", "/state")["ticks"]
    deadline = time.monotonic() + 10
    while sim.control("GET", "/state")["ticks"] < start + 2:
        assert time.monotonic() < deadline, "the market timer did not tick"
        time.sleep(0.05)
    paused = sim.control("POST", "/pause")["ticks"]
    assert sim.control("POST", "/step", {"n": 3})["ticks"] == paused + 3
