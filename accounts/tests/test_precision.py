from decimal import Decimal

import ccxt
import pytest

from accounts.precision import MarketRules, PrecisionError

BTC_USDT = {
    "symbol": "BTC/USDT",
    "base": "BTC",
    "quote": "USDT",
    "precision": {"amount": 1e-05, "price": 0.01},
    "limits": {"amount": {"min": 1e-05, "max": 9000.0}, "cost": {"min": 5.0}},
    "contractSize": None,
}


@pytest.fixture
def rules():
    return MarketRules.from_ccxt(BTC_USDT, precision_mode=ccxt.TICK_SIZE)


def test_steps_are_parsed_from_ccxt_floats_without_float_artefacts(rules):
    assert rules.amount_step == Decimal("0.00001")
    assert rules.price_tick == Decimal("0.01")
    assert rules.min_cost == Decimal("5.0")


def test_amounts_round_down_to_the_step_so_we_never_send_more_than_decided(rules):
    assert rules.round_amount(Decimal("0.123456789")) == Decimal("0.12345")
    assert rules.round_amount(Decimal("0.000019")) == Decimal("0.00001")
    assert rules.round_amount(Decimal("0.000009")) == Decimal("0")


def test_prices_round_to_the_nearest_tick(rules):
    assert rules.round_price(Decimal("30000.004")) == Decimal("30000.00")
    assert rules.round_price(Decimal("30000.006")) == Decimal("30000.01")
    assert rules.round_price(Decimal("30000.005")) == Decimal("30000.00")  # ties to even


def test_prices_can_round_toward_a_side(rules):
    assert rules.round_price_toward(Decimal("100.001"), up=True) == Decimal("100.01")
    assert rules.round_price_toward(Decimal("100.009"), up=False) == Decimal("100.00")
    assert rules.round_price_toward(Decimal("100.01"), up=True) == Decimal("100.01")


def test_decimal_places_precision_becomes_a_step():
    market = {**BTC_USDT, "precision": {"amount": 3, "price": 2}}

    rules = MarketRules.from_ccxt(market, precision_mode=ccxt.DECIMAL_PLACES)

    assert rules.amount_step == Decimal("0.001")
    assert rules.round_amount(Decimal("1.23456")) == Decimal("1.234")
    assert rules.round_price(Decimal("9.999")) == Decimal("10.00")


def test_significant_digits_precision_is_refused_clearly():
    with pytest.raises(PrecisionError, match="significant digits"):
        MarketRules.from_ccxt(BTC_USDT, precision_mode=ccxt.SIGNIFICANT_DIGITS)


def test_our_precision_modes_are_ccxts():
    from accounts import precision

    assert (precision.DECIMAL_PLACES, precision.SIGNIFICANT_DIGITS, precision.TICK_SIZE) == (
        ccxt.DECIMAL_PLACES,
        ccxt.SIGNIFICANT_DIGITS,
        ccxt.TICK_SIZE,
    )
