"""What a third-party Binance client needs besides orders (issue 12, item 9): multi-assets
mode, isolated margin, income, symbol configuration and the spot delist schedule - with
the real ccxt."""

from __future__ import annotations

from decimal import Decimal

import ccxt
import pytest

SYMBOL = "BTC/USDT:USDT"


@pytest.fixture
def futures(make_account, make_client):
    account = make_account(futures={"USDT": "10000"})
    return make_client(account, market_type="swap")


def test_multi_assets_margin_mode_is_read_and_set(futures):
    assert futures.fapiPrivateGetMultiAssetsMargin() == {"multiAssetsMargin": False}
    futures.fapiPrivatePostMultiAssetsMargin({"multiAssetsMargin": "true"})
    assert futures.fapiPrivateGetMultiAssetsMargin() == {"multiAssetsMargin": True}
    with pytest.raises(ccxt.ExchangeError, match="same as current"):
        futures.fapiPrivatePostMultiAssetsMargin({"multiAssetsMargin": "true"})


def test_isolated_margin_is_accepted_and_reported(futures):
    futures.set_margin_mode("isolated", SYMBOL)
    assert futures.fetch_leverages([SYMBOL])[SYMBOL]["marginMode"] == "isolated"

    futures.create_order(SYMBOL, "market", "buy", 0.01)
    (position,) = futures.fetch_positions([SYMBOL])
    assert Decimal(position["info"]["isolatedMargin"]) > 0
    assert position["info"]["marginType"] == "isolated"


def test_margin_type_refusals_say_why_as_binance_does(futures):
    with pytest.raises(ccxt.ExchangeError, match="No need to change margin type"):
        futures.set_margin_mode("cross", SYMBOL)
    futures.create_order(SYMBOL, "limit", "buy", 0.01, 50000)
    with pytest.raises(ccxt.ExchangeError, match="exists open orders"):
        futures.set_margin_mode("isolated", SYMBOL)
    futures.cancel_all_orders(SYMBOL)
    futures.create_order(SYMBOL, "market", "buy", 0.01)
    with pytest.raises(ccxt.ExchangeError, match="exists position"):
        futures.set_margin_mode("isolated", SYMBOL)


def test_income_lists_realized_pnl_and_commissions_and_ccxt_reads_it(futures):
    futures.create_order(SYMBOL, "market", "buy", 0.01)
    futures.create_order(SYMBOL, "market", "sell", 0.01)

    income = futures.fapiPrivateGetIncome()
    kinds = [row["incomeType"] for row in income]
    assert kinds.count("COMMISSION") == 2 and kinds.count("REALIZED_PNL") == 1
    assert all(Decimal(r["income"]) < 0 for r in income if r["incomeType"] == "COMMISSION")
    only_pnl = futures.fapiPrivateGetIncome({"incomeType": "REALIZED_PNL"})
    assert [r["incomeType"] for r in only_pnl] == ["REALIZED_PNL"]
    # ccxt's funding history reads the same endpoint (none here: no funding is charged).
    assert futures.fetch_funding_history(SYMBOL) == []


def test_symbol_config_gives_each_symbols_leverage(futures):
    futures.set_leverage(7, SYMBOL)
    leverages = futures.fetch_leverages([SYMBOL])
    assert leverages[SYMBOL]["longLeverage"] == 7


def test_the_spot_delist_schedule_is_empty_until_announced(sim, make_account, make_client):
    spot = make_client(make_account(spot={"USDT": "100"}))
    assert spot.sapiGetSpotDelistSchedule() == []
    schedule = [{"delistTime": 1_800_000_000_000, "symbols": ["ETHUSDT"]}]
    sim.control("POST", "/delist-schedule", {"schedule": schedule})
    assert spot.sapiGetSpotDelistSchedule() == schedule
