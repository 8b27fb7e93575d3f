"""Position sizing - literal Decimals, the arithmetic by hand in a comment."""

from datetime import UTC, datetime
from decimal import Decimal as D

import pytest

from risk.rules import Limits, Proposal, Snapshot, decide
from risk.sizing import (
    atr,
    cap_and_round,
    kelly_fraction,
    size_fixed_quote,
    size_fixed_risk,
    size_kelly,
    size_pct_equity,
    size_volatility,
    true_ranges,
)

# --- the sizers ---------------------------------------------------------------------


def test_fixed_quote_spends_the_amount_at_the_price():
    # 1000 / 50000 = 0.02
    assert size_fixed_quote(quote_amount=D("1000"), price=D("50000")) == D("0.02")


def test_pct_of_equity_spends_that_share_of_equity():
    # 10000 * 0.1 = 1000; 1000 / 25000 = 0.04
    assert size_pct_equity(equity=D("10000"), pct=D("0.1"), price=D("25000")) == D("0.04")


@pytest.mark.parametrize("equity", [D("0"), D("-50")])
def test_pct_of_equity_sizes_nothing_without_positive_equity(equity):
    assert size_pct_equity(equity=equity, pct=D("0.1"), price=D("25000")) == D("0")


def test_fixed_risk_loses_the_risk_amount_at_a_long_stop():
    # 100 / |50000 - 49000| = 100 / 1000 = 0.1; at the stop 0.1 * 1000 = 100 lost
    assert size_fixed_risk(risk_amount=D("100"), entry=D("50000"), stop=D("49000")) == D("0.1")


def test_fixed_risk_loses_the_risk_amount_at_a_short_stop():
    # 100 / |2000 - 2050| = 100 / 50 = 2
    assert size_fixed_risk(risk_amount=D("100"), entry=D("2000"), stop=D("2050")) == D("2")


def test_fixed_risk_refuses_a_stop_at_the_entry():
    with pytest.raises(ValueError, match=r"stop equals entry \(50000\): the risk per unit is zero"):
        size_fixed_risk(risk_amount=D("100"), entry=D("50000"), stop=D("50000"))


@pytest.mark.parametrize(
    ("win_rate", "payoff_ratio", "expected"),
    [
        (D("0.55"), D("1.5"), D("0.25")),  # 0.55 - 0.45 / 1.5 = 0.55 - 0.3
        (D("0.6"), D("1"), D("0.2")),  # 0.6 - 0.4 / 1
        (D("0.4"), D("1.5"), D("0")),  # 0.4 - 0.6 / 1.5 = 0.4 - 0.4: no edge
        (D("0.3"), D("1.5"), D("-0.166667")),  # 0.3 - 0.7 / 1.5 = 0.3 - 0.4666...
    ],
)
def test_the_kelly_fraction_is_p_less_q_over_b(win_rate, payoff_ratio, expected):
    fraction = kelly_fraction(win_rate=win_rate, payoff_ratio=payoff_ratio)

    assert fraction.quantize(D("0.000001")) == expected


@pytest.mark.parametrize(
    ("win_rate", "fraction", "cap_pct", "expected"),
    [
        # f* = 0.55 - 0.45 / 1.5 = 0.25; half Kelly 0.125; 10000 * 0.125 / 50000 = 0.025
        (D("0.55"), D("0.5"), D("0.2"), D("0.025")),
        # 0.125 capped at 0.1: 10000 * 0.1 / 50000 = 0.02
        (D("0.55"), D("0.5"), D("0.1"), D("0.02")),
        # at the cap exactly: 0.125 = 0.125
        (D("0.55"), D("0.5"), D("0.125"), D("0.025")),
        # full Kelly 0.25: 10000 * 0.25 / 50000 = 0.05
        (D("0.55"), D("1"), D("1"), D("0.05")),
        # f* = 1 - 0 / 1.5 = 1; quarter Kelly 0.25, capped at 0.2: 2000 / 50000 = 0.04
        (D("1"), D("0.25"), D("0.2"), D("0.04")),
        # no edge (f* = 0) and a negative edge size nothing, never a short
        (D("0.4"), D("0.5"), D("0.2"), D("0")),
        (D("0.3"), D("0.5"), D("0.2"), D("0")),
    ],
)
def test_kelly_sizes_a_fraction_of_the_edge_capped(win_rate, fraction, cap_pct, expected):
    amount = size_kelly(
        equity=D("10000"),
        win_rate=win_rate,
        payoff_ratio=D("1.5"),
        fraction=fraction,
        cap_pct=cap_pct,
        price=D("50000"),
    )

    assert amount == expected


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"win_rate": D("1.01")}, "win_rate must be between 0 and 1"),
        ({"payoff_ratio": D("0")}, "payoff_ratio must be positive"),
        ({"fraction": D("1.5")}, "fraction must be between 0 and 1"),
        ({"cap_pct": D("-0.1")}, "cap_pct cannot be negative"),
    ],
)
def test_kelly_refuses_out_of_range_inputs(overrides, message):
    inputs = {
        "equity": D("10000"),
        "win_rate": D("0.55"),
        "payoff_ratio": D("1.5"),
        "fraction": D("0.5"),
        "cap_pct": D("0.2"),
        "price": D("50000"),
    }

    with pytest.raises(ValueError, match=message):
        size_kelly(**{**inputs, **overrides})


def test_volatility_sizing_risks_a_share_of_equity_over_atr_multiples():
    # 10000 * 0.01 = 100 at risk; stop 2 * 250 = 500 away; 100 / 500 = 0.2
    amount = size_volatility(
        equity=D("10000"),
        risk_pct=D("0.01"),
        atr_value=D("250"),
        atr_multiple=D("2"),
        price=D("50000"),
    )

    assert amount == D("0.2")


def test_volatility_sizing_refuses_a_zero_atr():
    with pytest.raises(ValueError, match="atr_value must be positive"):
        size_volatility(
            equity=D("10000"),
            risk_pct=D("0.01"),
            atr_value=D("0"),
            atr_multiple=D("2"),
            price=D("50000"),
        )


def test_sizers_refuse_floats():
    with pytest.raises(TypeError, match="price must be a Decimal, not float"):
        size_fixed_quote(quote_amount=D("1000"), price=50000.0)


# --- ATR ----------------------------------------------------------------------------

# (high, low, close), oldest first, with the true range each candle adds:
CANDLES = [
    (D("10"), D("8"), D("9")),  # no previous close: no true range
    (D("11"), D("9"), D("10")),  # max(11-9=2, |11-9|=2, |9-9|=0) = 2
    (D("13"), D("11"), D("12")),  # max(2, |13-10|=3, |11-10|=1) = 3: gap up
    (D("9"), D("8"), D("8.5")),  # max(1, |9-12|=3, |8-12|=4) = 4: gap down
    (D("10"), D("8"), D("9")),  # max(2, |10-8.5|=1.5, |8-8.5|=0.5) = 2
    (D("9.5"), D("9"), D("9.25")),  # max(0.5, |9.5-9|=0.5, |9-9|=0) = 0.5
]


def test_true_ranges_take_the_previous_close_into_account():
    assert true_ranges(CANDLES) == [D("2"), D("3"), D("4"), D("2"), D("0.5")]


def test_atr_is_seeded_with_the_average_of_the_first_period_true_ranges():
    # (2 + 3 + 4) / 3 = 3, from exactly period + 1 = 4 candles
    assert atr(CANDLES[:4], period=3) == D("3")


def test_atr_smooths_later_true_ranges_the_wilder_way():
    # (3 * 2 + 2) / 3 = 8/3 = 2.666...
    assert atr(CANDLES[:5], period=3).quantize(D("0.000001")) == D("2.666667")
    # (8/3 * 2 + 0.5) / 3 = (16/3 + 1/2) / 3 = 35/18 = 1.9444...
    assert atr(CANDLES, period=3).quantize(D("0.000001")) == D("1.944444")


def test_atr_over_one_period_is_the_last_true_range():
    # seed 2, then (v * 0 + tr) / 1 each time
    assert atr(CANDLES, period=1) == D("0.5")


def test_atr_needs_one_candle_more_than_its_period():
    with pytest.raises(ValueError, match=r"ATR\(3\) needs at least 4 candles .* got 3"):
        atr(CANDLES[:3], period=3)


def test_atr_refuses_a_candle_whose_low_is_above_its_high():
    candles = [*CANDLES[:3], (D("9"), D("10"), D("9.5"))]

    with pytest.raises(ValueError, match=r"candles\[3\] low 10 is above its high 9"):
        atr(candles, period=3)


def test_atr_defaults_to_fourteen_periods():
    # a constant true range of 2 (high - low, closes in the middle) gives an ATR of 2
    candles = [(D("101"), D("99"), D("100"))] * 15

    assert atr(candles) == D("2")
    with pytest.raises(ValueError, match="needs at least 15 candles"):
        atr(candles[:14])


# --- cap and round ------------------------------------------------------------------


def test_rounding_is_down_to_the_step_never_to_nearest():
    # 0.0199 -> 0.01, not 0.02
    assert cap_and_round(D("0.0199"), price=D("100"), limits=Limits(), step=D("0.01")) == D("0.01")


def test_an_amount_below_one_step_rounds_to_nothing():
    assert cap_and_round(D("0.0009"), price=D("100"), limits=Limits(), step=D("0.001")) == D("0")


def test_without_a_step_the_amount_rounds_down_to_eighteen_places():
    # 1/3 at 50 digits, cut to the 18 places numeric(38, 18) keeps
    amount = size_fixed_quote(quote_amount=D("1"), price=D("3"))

    assert cap_and_round(amount, price=D("3"), limits=Limits(), step=None) == D(
        "0.333333333333333333"
    )


@pytest.mark.parametrize(
    ("amount", "limits", "price", "step", "equity", "expected"),
    [
        # max amount 0.1: 0.5 -> 0.1
        (D("0.5"), Limits(max_order_amount=D("0.1")), D("30000"), D("0.001"), None, D("0.1")),
        # under every cap: unchanged
        (D("0.05"), Limits(max_order_amount=D("0.1")), D("30000"), D("0.001"), None, D("0.05")),
        # max value 1000 at 30000: 0.0333... -> step 0.001 -> 0.033 (worth 990)
        (D("0.5"), Limits(max_order_value=D("1000")), D("30000"), D("0.001"), None, D("0.033")),
        # max value 1000 at 25000: 0.04 exactly, worth exactly 1000
        (D("0.5"), Limits(max_order_value=D("1000")), D("25000"), D("0.001"), None, D("0.04")),
        # max position 0.25 of 10000 = 2500 at 50000: 0.05
        (
            D("0.2"),
            Limits(max_position_pct=D("0.25")),
            D("50000"),
            D("0.001"),
            D("10000"),
            D("0.05"),
        ),
        # no positive equity: nothing
        (D("0.2"), Limits(max_position_pct=D("0.25")), D("50000"), D("0.001"), D("-1"), D("0")),
        # the smallest cap wins: amount 0.08, value 2000/50000 = 0.04, position 0.05
        (
            D("1"),
            Limits(
                max_order_amount=D("0.08"),
                max_order_value=D("2000"),
                max_position_pct=D("0.25"),
            ),
            D("50000"),
            D("0.001"),
            D("10000"),
            D("0.04"),
        ),
    ],
)
def test_the_smallest_cap_wins_then_the_step(amount, limits, price, step, equity, expected):
    result = cap_and_round(amount, price=price, limits=limits, step=step, equity=equity)

    assert result == expected


@pytest.mark.parametrize(
    ("amount", "expected"),
    [
        # min value 10 at price 100, step 0.01
        (D("0.0999"), D("0")),  # -> 0.09, worth 9 < 10: skip the order
        (D("0.1"), D("0.1")),  # worth 10: at the min, kept
        (D("0.1099"), D("0.1")),  # -> 0.10, worth 10: kept
        (D("0.11"), D("0.11")),  # worth 11
    ],
)
def test_an_amount_worth_less_than_the_min_after_rounding_is_zero(amount, expected):
    limits = Limits(min_order_value=D("10"))

    assert cap_and_round(amount, price=D("100"), limits=limits, step=D("0.01")) == expected


def test_a_cap_can_push_an_amount_below_the_min():
    # max amount 0.05 at 100 is worth 5, under the min of 10
    limits = Limits(max_order_amount=D("0.05"), min_order_value=D("10"))

    assert cap_and_round(D("1"), price=D("100"), limits=limits, step=D("0.01")) == D("0")


def test_an_amount_capped_by_value_passes_the_gate_without_a_step():
    # 1000 / 30000 = 0.0333..., cut to 0.033333333333333333, worth 999.99999999999999
    limits = Limits(max_order_value=D("1000"))
    amount = cap_and_round(D("1"), price=D("30000"), limits=limits, step=None)

    decision = decide(
        Proposal(symbol="BTC/USDT", side="buy", amount=amount, price=D("30000")),
        Snapshot(
            now=datetime(2025, 3, 10, 12, 0, tzinfo=UTC),
            equity=D("10000"),
            equity_peak=D("10000"),
            realized_today=D("0"),
            unrealized=D("0"),
            last_price=D("30000"),
            position_value=D("0"),
            open_positions=0,
            has_position_in_symbol=False,
            last_loss_at=None,
            orders_last_minute=0,
            halted=None,
        ),
        limits,
    )

    assert amount == D("0.033333333333333333")
    assert decision.approved is True


def test_capping_by_position_needs_equity():
    with pytest.raises(ValueError, match="pass equity"):
        cap_and_round(
            D("1"), price=D("100"), limits=Limits(max_position_pct=D("0.1")), step=D("0.01")
        )


@pytest.mark.parametrize(
    ("amount", "step", "message"),
    [
        (D("-1"), D("0.01"), "amount cannot be negative"),
        (D("1"), D("0"), "step must be positive"),
    ],
)
def test_cap_and_round_refuses_bad_input(amount, step, message):
    with pytest.raises(ValueError, match=message):
        cap_and_round(amount, price=D("100"), limits=Limits(), step=step)
