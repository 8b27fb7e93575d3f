"""positions.performance: hand-computed literal cases, edge cases, a few properties.

Irrational results (square roots, fractional powers) are compared at 20 decimal places
against closed forms worked out in the comments; the module computes at 50 significant
digits, so the 20th place is far from any rounding noise.
"""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest

from positions.performance import (
    Drawdown,
    RoundTrip,
    annualized_return,
    average_loss,
    average_win,
    calmar,
    expectancy,
    gross_loss,
    gross_profit,
    max_drawdown,
    net_pnl,
    period_returns,
    profit_factor,
    sharpe,
    sortino,
    summarize,
    total_return,
    win_rate,
)

T0 = datetime(2025, 1, 1, tzinfo=UTC)
PLACES = Decimal("1E-20")


def q(value: Decimal | None) -> Decimal:
    assert value is not None
    return value.quantize(PLACES)


def day(n: int) -> datetime:
    return T0 + timedelta(days=n)


def curve_of(*equities: str | Decimal) -> list[tuple[datetime, Decimal]]:
    return [(day(i), Decimal(e)) for i, e in enumerate(equities)]


def trip(pnl: str | Decimal, *, side: str = "long", n: int = 0) -> RoundTrip:
    return RoundTrip(
        symbol="BTC/USDT",
        side=side,
        opened_at=day(n),
        closed_at=day(n) + timedelta(hours=6),
        pnl=Decimal(pnl),
    )


def trips_of(*pnls: str) -> list[RoundTrip]:
    return [trip(p, n=i) for i, p in enumerate(pnls)]


# Two wins (30, 20), two losses (-10, -20), one breakeven (0).
MIXED = trips_of("30", "-10", "20", "0", "-20")

# 100 -> 120 (peak) -> 90 (trough: -30 / 120 = 25 %) -> 130 (recovered, new peak)
# -> 104 (-26 / 130 = 20 %, smaller) -> 125 -> 140. Six periods, +40 % in total.
DRAWDOWN_CURVE = curve_of("100", "120", "90", "130", "104", "125", "140")

# Returns +10 %, -10 %, +10 %: 100 -> 110 -> 99 -> 108.9.
ZIGZAG = curve_of("100", "110", "99", "108.9")


# --- RoundTrip ----------------------------------------------------------------------


def test_round_trip_refuses_a_float_pnl():
    with pytest.raises(TypeError, match="pnl must be a Decimal"):
        RoundTrip("BTC/USDT", "long", day(0), day(1), 1.5)  # type: ignore[arg-type]


def test_round_trip_refuses_a_naive_datetime():
    with pytest.raises(ValueError, match="timezone-aware"):
        RoundTrip("BTC/USDT", "long", datetime(2025, 1, 1), day(1), Decimal(1))  # noqa: DTZ001


def test_round_trip_refuses_an_unknown_side():
    with pytest.raises(ValueError, match="side"):
        RoundTrip("BTC/USDT", "buy", day(0), day(1), Decimal(1))


def test_round_trip_refuses_closing_before_opening():
    with pytest.raises(ValueError, match="close before"):
        RoundTrip("BTC/USDT", "short", day(1), day(0), Decimal(1))


def test_round_trip_refuses_a_non_finite_pnl():
    with pytest.raises(ValueError, match="finite"):
        RoundTrip("BTC/USDT", "long", day(0), day(1), Decimal("NaN"))


# --- trade statistics ---------------------------------------------------------------


def test_sums_split_wins_from_losses_and_ignore_breakevens():
    assert net_pnl(MIXED) == Decimal("20")
    assert gross_profit(MIXED) == Decimal("50")
    assert gross_loss(MIXED) == Decimal("-30")


def test_win_rate_counts_breakevens_in_the_denominator_only():
    # 2 wins / 5 trips.
    assert win_rate(MIXED) == Decimal("0.4")


def test_average_win_and_loss_are_means_over_their_own_trips():
    # (30 + 20) / 2 and (-10 + -20) / 2: the loss keeps its sign.
    assert average_win(MIXED) == Decimal("25")
    assert average_loss(MIXED) == Decimal("-15")


def test_profit_factor_is_gross_profit_over_gross_loss():
    # 50 / 30 = 5 / 3.
    assert q(profit_factor(MIXED)) == Decimal("1.66666666666666666667")


def test_expectancy_is_net_pnl_per_trip():
    # 20 / 5 = 4 = 0.4 * 25 + 0.4 * (-15) = 10 - 6.
    assert expectancy(MIXED) == Decimal("4")


def test_no_trips_gives_zero_sums_and_no_ratios():
    assert net_pnl([]) == Decimal("0")
    assert gross_profit([]) == Decimal("0")
    assert gross_loss([]) == Decimal("0")
    assert win_rate([]) is None
    assert average_win([]) is None
    assert average_loss([]) is None
    assert profit_factor([]) is None
    assert expectancy([]) is None


def test_only_wins_leaves_profit_factor_undefined():
    wins = trips_of("5", "15")
    assert profit_factor(wins) is None
    assert average_loss(wins) is None
    assert win_rate(wins) == Decimal("1")
    assert expectancy(wins) == Decimal("10")


def test_only_losses_gives_a_zero_profit_factor():
    losses = trips_of("-5", "-15")
    assert profit_factor(losses) == Decimal("0")
    assert average_win(losses) is None
    assert average_loss(losses) == Decimal("-10")
    assert win_rate(losses) == Decimal("0")
    assert expectancy(losses) == Decimal("-10")


def test_only_breakevens_win_nothing_and_lose_nothing():
    flat = trips_of("0", "0", "0")
    assert win_rate(flat) == Decimal("0")
    assert profit_factor(flat) is None
    assert average_win(flat) is None
    assert average_loss(flat) is None
    assert expectancy(flat) == Decimal("0")


def test_sums_of_18_decimal_amounts_are_exact():
    trips = trips_of(
        "12345678901234567890.123456789012345678",
        "0.000000000000000001",
        "-0.000000000000000002",
    )
    assert net_pnl(trips) == Decimal("12345678901234567890.123456789012345677")
    assert gross_profit(trips) == Decimal("12345678901234567890.123456789012345679")
    assert gross_loss(trips) == Decimal("-0.000000000000000002")


def test_short_and_long_trips_count_alike():
    trips = [trip("10", side="short"), trip("-5", side="long")]
    assert win_rate(trips) == Decimal("0.5")
    assert profit_factor(trips) == Decimal("2")


def test_trade_statistics_refuse_something_that_is_not_a_round_trip():
    with pytest.raises(TypeError, match="RoundTrip"):
        win_rate([Decimal("1")])  # type: ignore[list-item]


def test_adding_a_win_never_lowers_the_win_rate_and_a_loss_never_raises_it():
    rng = random.Random(20250101)
    for _ in range(200):
        pnls = [str(rng.randint(-50, 50)) for _ in range(rng.randint(1, 20))]
        trips = trips_of(*pnls)
        before = win_rate(trips)
        assert before is not None
        with_win = win_rate([*trips, trip(str(rng.randint(1, 50)))])
        with_loss = win_rate([*trips, trip(str(-rng.randint(1, 50)))])
        assert with_win is not None and with_loss is not None
        assert with_win >= before
        assert with_loss <= before


def test_expectancy_equals_win_and_loss_rates_times_their_averages():
    rng = random.Random(7)
    for _ in range(200):
        pnls = [f"{rng.randint(-5000, 5000)}.{rng.randint(0, 99):02d}" for _ in range(15)]
        trips = trips_of(*pnls)
        n = Decimal(len(trips))
        wins = sum(1 for t in trips if t.pnl > 0)
        losses = sum(1 for t in trips if t.pnl < 0)
        composed = Decimal(0)
        if wins:
            composed += Decimal(wins) / n * average_win(trips)  # type: ignore[operator]
        if losses:
            composed += Decimal(losses) / n * average_loss(trips)  # type: ignore[operator]
        assert q(composed) == q(expectancy(trips))


# --- equity curve: validation -------------------------------------------------------


def test_a_curve_with_a_naive_time_is_refused():
    with pytest.raises(ValueError, match="timezone-aware"):
        total_return([(datetime(2025, 1, 1), Decimal(100))])  # noqa: DTZ001


def test_a_curve_out_of_order_is_refused():
    with pytest.raises(ValueError, match="strictly increase"):
        total_return([(day(1), Decimal(100)), (day(0), Decimal(110))])


def test_a_curve_with_a_repeated_time_is_refused():
    with pytest.raises(ValueError, match="strictly increase"):
        total_return([(day(0), Decimal(100)), (day(0), Decimal(110))])


def test_a_curve_of_floats_is_refused():
    with pytest.raises(TypeError, match="must be a Decimal"):
        total_return([(day(0), 100.0)])  # type: ignore[list-item]


def test_a_curve_with_negative_equity_is_refused():
    with pytest.raises(ValueError, match="negative"):
        max_drawdown(curve_of("100", "-1"))


def test_a_curve_starting_at_zero_is_refused():
    with pytest.raises(ValueError, match="start with positive equity"):
        total_return(curve_of("0", "100"))


def test_periods_per_year_must_be_a_positive_int():
    with pytest.raises(ValueError, match="positive"):
        sharpe(ZIGZAG, periods_per_year=0)
    with pytest.raises(TypeError, match="int"):
        sharpe(ZIGZAG, periods_per_year=365.0)  # type: ignore[arg-type]


def test_a_float_risk_free_rate_is_refused():
    with pytest.raises(TypeError, match="risk_free"):
        sharpe(ZIGZAG, risk_free=0.04)  # type: ignore[arg-type]


# --- returns ------------------------------------------------------------------------


def test_period_returns_are_simple_returns():
    assert period_returns(ZIGZAG) == [Decimal("0.1"), Decimal("-0.1"), Decimal("0.1")]


def test_period_returns_need_two_points():
    assert period_returns([]) == []
    assert period_returns(curve_of("100")) == []


def test_a_wipe_out_at_the_end_is_a_return_of_minus_one():
    assert period_returns(curve_of("100", "0")) == [Decimal("-1")]


def test_no_return_is_defined_after_equity_reaches_zero():
    with pytest.raises(ValueError, match="zero"):
        period_returns(curve_of("100", "0", "50"))


def test_total_return_is_last_over_first_minus_one():
    assert total_return(DRAWDOWN_CURVE) == Decimal("0.4")  # 140 / 100 - 1


def test_total_return_of_one_point_is_zero_and_of_none_is_undefined():
    assert total_return(curve_of("100")) == Decimal("0")
    assert total_return([]) is None


def test_annualized_return_compounds_by_period_count():
    # 100 -> 121 over 2 periods, 1 period a year: 1.21 ** (1 / 2) - 1 = 0.1.
    assert q(annualized_return(curve_of("100", "110", "121"), periods_per_year=1)) == Decimal(
        "0.10000000000000000000"
    )
    # Same growth, 4 periods a year: 1.21 ** (4 / 2) - 1 = 1.4641 - 1.
    assert annualized_return(curve_of("100", "110", "121"), periods_per_year=4) == Decimal("0.4641")


def test_annualized_return_needs_two_points():
    assert annualized_return(curve_of("100")) is None
    assert annualized_return([]) is None


# --- max drawdown -------------------------------------------------------------------


def test_max_drawdown_is_the_largest_fall_from_a_running_peak():
    # Falls: 120 -> 90 is 30 / 120 = 0.25; 130 -> 104 is 26 / 130 = 0.2. The first wins;
    # it recovers at 130 (day 3), the first point back at 120 or above.
    assert max_drawdown(DRAWDOWN_CURVE) == Drawdown(
        fraction=Decimal("0.25"),
        peak_at=day(1),
        peak_equity=Decimal("120"),
        trough_at=day(2),
        trough_equity=Decimal("90"),
        recovered_at=day(3),
    )


def test_a_drawdown_not_recovered_by_the_end_has_no_recovery_time():
    # Peak 100 on day 0; 90, then 95 (no new peak), then 80: (100 - 80) / 100 = 0.2.
    assert max_drawdown(curve_of("100", "90", "95", "80")) == Drawdown(
        fraction=Decimal("0.2"),
        peak_at=day(0),
        peak_equity=Decimal("100"),
        trough_at=day(3),
        trough_equity=Decimal("80"),
        recovered_at=None,
    )


def test_of_equal_drawdowns_the_earliest_is_kept():
    # 100 -> 50 twice: both 0.5; the first trough (day 1), recovered on day 2.
    drawdown = max_drawdown(curve_of("100", "50", "100", "50"))
    assert drawdown is not None
    assert drawdown.fraction == Decimal("0.5")
    assert drawdown.trough_at == day(1)
    assert drawdown.recovered_at == day(2)


def test_recovery_counts_equity_back_exactly_at_the_peak():
    drawdown = max_drawdown(curve_of("100", "80", "99.99", "100"))
    assert drawdown is not None
    assert drawdown.recovered_at == day(3)


def test_a_wipe_out_is_a_full_drawdown():
    drawdown = max_drawdown(curve_of("100", "150", "0"))
    assert drawdown is not None
    assert drawdown.fraction == Decimal("1")
    assert drawdown.peak_equity == Decimal("150")


@pytest.mark.parametrize(
    "equities",
    [("100",), ("100", "100", "100"), ("100", "101", "102.5")],
    ids=["one point", "flat", "rising"],
)
def test_a_curve_that_never_falls_has_a_zero_drawdown_at_its_start(equities):
    assert max_drawdown(curve_of(*equities)) == Drawdown(
        fraction=Decimal("0"),
        peak_at=day(0),
        peak_equity=Decimal("100"),
        trough_at=day(0),
        trough_equity=Decimal("100"),
        recovered_at=day(0),
    )


def test_an_empty_curve_has_no_drawdown():
    assert max_drawdown([]) is None


# --- Sharpe -------------------------------------------------------------------------


def test_sharpe_by_hand():
    # r = 0.1, -0.1, 0.1; mean = 0.1 / 3 = 1/30.
    # Deviations 1/15, -2/15, 1/15; squares 1/225 + 4/225 + 1/225 = 6/225 = 2/75.
    # Sample variance (n - 1 = 2): 1/75; stdev = 1 / sqrt(75) = 1 / (5 sqrt 3).
    # Per period: (1/30) * 5 sqrt 3 = sqrt 3 / 6; annualized with 4 periods: * sqrt 4
    # = sqrt 3 / 3 = 0.57735026918962576450914878...
    assert q(sharpe(ZIGZAG, periods_per_year=4)) == Decimal("0.57735026918962576451")


def test_sharpe_subtracts_the_de_annualized_risk_free_rate():
    # 4 % a year over 4 periods = 0.01 a period: x = 0.09, -0.11, 0.09, mean 0.07 / 3.
    # Subtracting a constant leaves the stdev at 1 / (5 sqrt 3):
    # (0.07 / 3) * 5 sqrt 3 * 2 = 0.7 sqrt 3 / 3 = 0.40414518843273803515...
    assert q(sharpe(ZIGZAG, periods_per_year=4, risk_free=Decimal("0.04"))) == Decimal(
        "0.40414518843273803516"
    )


def test_sharpe_annualizes_daily_by_default():
    # sqrt 3 / 6 * sqrt 365 = sqrt 1095 / 6 = 5.51513070259143238980...
    assert q(sharpe(ZIGZAG)) == Decimal("5.51513070259143238980")


def test_sharpe_is_negative_for_a_losing_curve():
    # r = -0.1, 0.1, -0.1: the mirror of ZIGZAG's returns.
    assert q(sharpe(curve_of("100", "90", "99", "89.1"), periods_per_year=4)) == Decimal(
        "-0.57735026918962576451"
    )


@pytest.mark.parametrize(
    "equities",
    [(), ("100",), ("100", "110")],
    ids=["empty", "one point", "one return"],
)
def test_sharpe_needs_two_returns(equities):
    assert sharpe(curve_of(*equities)) is None


def test_sharpe_of_a_flat_curve_is_undefined():
    assert sharpe(curve_of("100", "100", "100", "100")) is None


def test_sharpe_of_a_constant_return_is_undefined():
    # +10 % every period: zero deviation, an unbounded ratio.
    assert sharpe(curve_of("100", "110", "121", "133.1")) is None


# --- Sortino ------------------------------------------------------------------------


def test_sortino_by_hand():
    # r = 0.1, -0.1, 0.1; mean 1/30. Target 0: downside terms min(0, r)^2 = 0, 0.01, 0,
    # divided by all n = 3 periods: 0.01 / 3; DD = 0.1 / sqrt 3.
    # Per period: (1/30) * sqrt 3 / 0.1 = sqrt 3 / 3; * sqrt 4 = 2 sqrt 3 / 3
    # = 1.15470053837925152901... (Averaging over the losing period alone would give
    # DD = 0.1 and (1/30) / 0.1 * 2 = 2/3: the standard counts every period.)
    assert q(sortino(ZIGZAG, periods_per_year=4)) == Decimal("1.15470053837925152902")


def test_sortino_uses_the_risk_free_rate_as_target():
    # x = 0.09, -0.11, 0.09 (0.01 a period); mean 0.07 / 3; DD = sqrt(0.0121 / 3)
    # = 0.11 / sqrt 3. (0.07 / 3) * sqrt 3 / 0.11 * 2 = 14 sqrt 3 / 33 = 0.73480943351...
    assert q(sortino(ZIGZAG, periods_per_year=4, risk_free=Decimal("0.04"))) == Decimal(
        "0.73480943351406915483"
    )


def test_sortino_without_a_losing_period_is_undefined():
    assert sortino(curve_of("100", "110", "111", "130")) is None
    assert sortino(curve_of("100", "100", "100")) is None


def test_sortino_needs_two_returns():
    assert sortino(curve_of("100", "90")) is None
    assert sortino([]) is None


# --- Calmar -------------------------------------------------------------------------


def test_calmar_by_hand():
    # DRAWDOWN_CURVE: 6 periods, 100 -> 140, max drawdown 0.25.
    # 6 periods a year: 1.4 ** (6 / 6) - 1 = 0.4; 0.4 / 0.25 = 1.6.
    assert calmar(DRAWDOWN_CURVE, periods_per_year=6) == Decimal("1.6")


def test_calmar_annualizes_by_compounding():
    # 3 periods a year, so 6 periods are 2 years: 1.4 ** (3 / 6) - 1 = sqrt 1.4 - 1
    # = 0.18321595661992320851...; / 0.25 = 0.73286382647969283405...
    assert q(annualized_return(DRAWDOWN_CURVE, periods_per_year=3)) == Decimal(
        "0.18321595661992320851"
    )
    assert q(calmar(DRAWDOWN_CURVE, periods_per_year=3)) == Decimal("0.73286382647969283405")


def test_calmar_without_a_drawdown_is_undefined():
    assert calmar(curve_of("100", "110", "120")) is None


def test_calmar_needs_two_points():
    assert calmar(curve_of("100")) is None
    assert calmar([]) is None


# --- properties ---------------------------------------------------------------------


def _random_curve(rng: random.Random, points: int) -> list[tuple[datetime, Decimal]]:
    equity = Decimal("1000")
    curve = [(day(0), equity)]
    for i in range(1, points):
        # Cents, so that scaling by a small integer stays exact.
        equity = max(Decimal("1"), equity + Decimal(rng.randint(-8000, 8000)) / 100)
        curve.append((day(i), equity))
    return curve


def test_scaling_the_curve_changes_no_ratio():
    rng = random.Random(365)
    for _ in range(100):
        curve = _random_curve(rng, rng.randint(3, 40))
        for factor in (Decimal("3"), Decimal("0.5"), Decimal("1000000")):
            scaled = [(at, equity * factor) for at, equity in curve]
            assert sharpe(scaled) == sharpe(curve)
            assert sortino(scaled) == sortino(curve)
            assert calmar(scaled) == calmar(curve)
            assert total_return(scaled) == total_return(curve)
            before, after = max_drawdown(curve), max_drawdown(scaled)
            assert before is not None and after is not None
            assert after.fraction == before.fraction
            assert (after.peak_at, after.trough_at) == (before.peak_at, before.trough_at)


def test_a_drawdown_is_a_fraction_between_peak_and_trough():
    rng = random.Random(42)
    for _ in range(200):
        curve = _random_curve(rng, rng.randint(1, 30))
        drawdown = max_drawdown(curve)
        assert drawdown is not None
        assert Decimal(0) <= drawdown.fraction <= Decimal(1)
        assert drawdown.peak_at <= drawdown.trough_at
        assert drawdown.trough_equity <= drawdown.peak_equity
        assert drawdown.peak_equity == max(e for at, e in curve if at <= drawdown.trough_at)
        if drawdown.recovered_at is not None:
            assert dict(curve)[drawdown.recovered_at] >= drawdown.peak_equity


def test_sortino_and_sharpe_share_a_sign():
    rng = random.Random(3)
    for _ in range(100):
        curve = _random_curve(rng, rng.randint(3, 30))
        s, so = sharpe(curve), sortino(curve)
        if s is not None and so is not None:
            assert (s > 0) == (so > 0)
            assert (s < 0) == (so < 0)


# --- summary ------------------------------------------------------------------------


def test_summarize_bundles_every_statistic():
    summary = summarize(MIXED, DRAWDOWN_CURVE, periods_per_year=6)
    assert summary.trade_count == 5
    assert summary.win_count == 2
    assert summary.loss_count == 2
    assert summary.net_pnl == Decimal("20")
    assert summary.gross_profit == Decimal("50")
    assert summary.gross_loss == Decimal("-30")
    assert summary.win_rate == Decimal("0.4")
    assert summary.average_win == Decimal("25")
    assert summary.average_loss == Decimal("-15")
    assert q(summary.profit_factor) == Decimal("1.66666666666666666667")
    assert summary.expectancy == Decimal("4")
    assert summary.total_return == Decimal("0.4")
    assert summary.annualized_return == Decimal("0.4")
    assert summary.max_drawdown == max_drawdown(DRAWDOWN_CURVE)
    assert summary.sharpe == sharpe(DRAWDOWN_CURVE, periods_per_year=6)
    assert summary.sortino == sortino(DRAWDOWN_CURVE, periods_per_year=6)
    assert summary.calmar == Decimal("1.6")


def test_summarize_passes_the_risk_free_rate_to_sharpe_and_sortino():
    summary = summarize([], ZIGZAG, periods_per_year=4, risk_free=Decimal("0.04"))
    assert q(summary.sharpe) == Decimal("0.40414518843273803516")
    assert q(summary.sortino) == Decimal("0.73480943351406915483")


def test_summarize_of_nothing_is_zeros_and_nones():
    summary = summarize([], [])
    assert (summary.trade_count, summary.win_count, summary.loss_count) == (0, 0, 0)
    assert summary.net_pnl == Decimal("0")
    assert summary.gross_profit == Decimal("0")
    assert summary.gross_loss == Decimal("0")
    assert summary.win_rate is None
    assert summary.average_win is None
    assert summary.average_loss is None
    assert summary.profit_factor is None
    assert summary.expectancy is None
    assert summary.total_return is None
    assert summary.annualized_return is None
    assert summary.max_drawdown is None
    assert summary.sharpe is None
    assert summary.sortino is None
    assert summary.calmar is None


def test_a_wiped_out_curve_has_a_calmar_of_minus_one():
    # 100 -> 150 -> 0: annualized 0 ** (2 / 2) - 1 = -1, drawdown 150 / 150 = 1.
    assert calmar(curve_of("100", "150", "0"), periods_per_year=2) == Decimal("-1")
