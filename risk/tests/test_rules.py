"""The pre-trade gate's rules: every limit at, below and above its boundary.

Pure functions, no database. Time is frozen by construction: every function takes
``now``, so each test names its instant.
"""

import json
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from decimal import Decimal as D
from zoneinfo import ZoneInfo

import pytest

from risk.rules import (
    RULES,
    Decision,
    Limits,
    Proposal,
    Snapshot,
    Verdict,
    daily_loss_breached,
    day_start,
    decide,
    drawdown_breached,
    merge_limits,
    realized_since,
)

NOW = datetime(2025, 3, 10, 12, 0, tzinfo=UTC)


def make_snapshot(**overrides):
    values = {
        "now": NOW,
        "equity": D("10000"),
        "equity_peak": D("10000"),
        "realized_today": D("0"),
        "unrealized": D("0"),
        "last_price": D("100"),
        "position_value": D("0"),
        "open_positions": 0,
        "has_position_in_symbol": False,
        "last_loss_at": None,
        "orders_last_minute": 0,
        "halted": None,
    }
    values.update(overrides)
    return Snapshot(**values)


def make_proposal(**overrides):
    values = {"symbol": "BTC/USDT", "side": "buy", "amount": D("1"), "price": D("100")}
    values.update(overrides)
    return Proposal(**values)


def verdict_of(rule, decision):
    (found,) = [verdict for verdict in decision.verdicts if verdict.rule == rule]
    return found


def check(rule, limits, *, proposal=None, snapshot=None):
    decision = decide(proposal or make_proposal(), snapshot or make_snapshot(), limits)
    return verdict_of(rule, decision)


# --- each limit at, below and above its boundary ------------------------------------


@pytest.mark.parametrize(
    ("amount", "passed", "detail"),
    [
        # price 100: 9.99 * 100 = 999, 10 * 100 = 1000, 10.01 * 100 = 1001
        (D("9.99"), True, "order value 999 <= max 1000"),
        (D("10"), True, "order value 1000 <= max 1000"),
        (D("10.01"), False, "order value 1001 > max 1000"),
    ],
)
def test_max_order_value_allows_up_to_and_including_the_max(amount, passed, detail):
    verdict = check(
        "max_order_value",
        Limits(max_order_value=D("1000")),
        proposal=make_proposal(amount=amount),
    )

    assert verdict.passed is passed
    assert verdict.detail == detail
    assert verdict.limit == D("1000")


@pytest.mark.parametrize(
    ("amount", "passed", "detail"),
    [
        (D("1.99"), True, "order amount 1.99 <= max 2"),
        (D("2"), True, "order amount 2 <= max 2"),
        (D("2.01"), False, "order amount 2.01 > max 2"),
    ],
)
def test_max_order_amount_allows_up_to_and_including_the_max(amount, passed, detail):
    verdict = check(
        "max_order_amount",
        Limits(max_order_amount=D("2")),
        proposal=make_proposal(amount=amount),
    )

    assert (verdict.passed, verdict.detail) == (passed, detail)


@pytest.mark.parametrize(
    ("amount", "passed", "detail"),
    [
        # price 100: 0.09 -> 9, 0.1 -> 10, 0.11 -> 11
        (D("0.09"), False, "order value 9 < min 10"),
        (D("0.1"), True, "order value 10 >= min 10"),
        (D("0.11"), True, "order value 11 >= min 10"),
    ],
)
def test_min_order_value_allows_the_min_itself(amount, passed, detail):
    verdict = check(
        "min_order_value",
        Limits(min_order_value=D("10")),
        proposal=make_proposal(amount=amount),
    )

    assert (verdict.passed, verdict.detail) == (passed, detail)


@pytest.mark.parametrize(
    ("position_value", "side", "amount", "passed"),
    [
        # max 0.25 * 10000 equity = 2500; price 100
        (D("2000"), "buy", D("4.99"), True),  # 2000 + 499 = 2499
        (D("2000"), "buy", D("5"), True),  # 2000 + 500 = 2500
        (D("2000"), "buy", D("5.01"), False),  # 2000 + 501 = 2501
        (D("-2000"), "sell", D("4.99"), True),  # |-2000 - 499| = 2499
        (D("-2000"), "sell", D("5"), True),  # |-2000 - 500| = 2500
        (D("-2000"), "sell", D("5.01"), False),  # |-2000 - 501| = 2501
        (D("2000"), "sell", D("45"), True),  # flips to |2000 - 4500| = 2500
        (D("2000"), "sell", D("45.01"), False),  # flips to |2000 - 4501| = 2501
    ],
)
def test_max_position_holds_the_position_after_the_order_within_a_share_of_equity(
    position_value, side, amount, passed
):
    verdict = check(
        "max_position_pct",
        Limits(max_position_pct=D("0.25")),
        proposal=make_proposal(side=side, amount=amount),
        snapshot=make_snapshot(position_value=position_value),
    )

    assert verdict.passed is passed
    assert verdict.limit == D("2500")


def test_max_position_detail_states_the_numbers():
    verdict = check(
        "max_position_pct",
        Limits(max_position_pct=D("0.25")),
        proposal=make_proposal(amount=D("5.01")),
        snapshot=make_snapshot(position_value=D("2000")),
    )

    assert verdict.detail == (
        "position value after 2501 (before 2000), max 0.25 of equity 10000 = 2500: over the max"
    )
    assert verdict.value == D("2501")


@pytest.mark.parametrize(
    ("side", "amount", "passed"),
    [
        # position 3000 already over the 2500 max (the price rose)
        ("sell", D("1"), True),  # 3000 - 100 = 2900: over, but shrinking
        ("buy", D("0.01"), False),  # 3000 + 1 = 3001: growing
        ("sell", D("60"), False),  # |3000 - 6000| = 3000: a flip is not a shrink
        ("sell", D("59.99"), True),  # |3000 - 5999| = 2999
    ],
)
def test_an_order_that_shrinks_a_position_over_the_max_is_not_blocked(side, amount, passed):
    verdict = check(
        "max_position_pct",
        Limits(max_position_pct=D("0.25")),
        proposal=make_proposal(side=side, amount=amount),
        snapshot=make_snapshot(position_value=D("3000")),
    )

    assert verdict.passed is passed


@pytest.mark.parametrize("equity", [D("0"), D("-100")])
def test_max_position_allows_no_new_position_without_positive_equity(equity):
    verdict = check(
        "max_position_pct",
        Limits(max_position_pct=D("0.25")),
        proposal=make_proposal(amount=D("0.01")),
        snapshot=make_snapshot(equity=equity),
    )

    assert verdict.passed is False


@pytest.mark.parametrize(
    ("open_positions", "has_position_in_symbol", "passed", "detail"),
    [
        (1, False, True, "open positions after 2 <= max 3"),
        (2, False, True, "open positions after 3 <= max 3"),
        (3, False, False, "open positions after 4 > max 3"),
        # an order in a symbol already held opens nothing new
        (3, True, True, "open positions after 3 <= max 3"),
    ],
)
def test_max_open_positions_counts_the_position_a_new_symbol_would_open(
    open_positions, has_position_in_symbol, passed, detail
):
    verdict = check(
        "max_open_positions",
        Limits(max_open_positions=3),
        snapshot=make_snapshot(
            open_positions=open_positions, has_position_in_symbol=has_position_in_symbol
        ),
    )

    assert (verdict.passed, verdict.detail) == (passed, detail)


@pytest.mark.parametrize(
    ("realized_today", "unrealized", "passed"),
    [
        (D("-499.99"), D("0"), True),  # -499.99: short of the limit
        (D("-500"), D("0"), False),  # -500: at the limit is a breach
        (D("-500.01"), D("0"), False),
        (D("0"), D("-499.99"), True),  # unrealized alone counts ...
        (D("0"), D("-500"), False),  # ... and breaches on its own
        (D("-300"), D("-199.99"), True),  # -300 - 199.99 = -499.99
        (D("-300"), D("-200"), False),  # -300 - 200 = -500
        (D("-300"), D("-200.01"), False),  # -300 - 200.01 = -500.01
        (D("100"), D("-599.99"), True),  # a gain offsets: 100 - 599.99 = -499.99
        (D("100"), D("-600"), False),  # 100 - 600 = -500
    ],
)
def test_the_daily_loss_limit_counts_realized_and_unrealized_and_breaches_at_the_limit(
    realized_today, unrealized, passed
):
    snapshot = make_snapshot(realized_today=realized_today, unrealized=unrealized)
    limits = Limits(max_daily_loss=D("500"))

    verdict = check("max_daily_loss", limits, snapshot=snapshot)

    assert verdict.passed is passed
    assert daily_loss_breached(snapshot, limits) is not passed


def test_the_daily_loss_detail_states_both_parts():
    verdict = check(
        "max_daily_loss",
        Limits(max_daily_loss=D("500")),
        snapshot=make_snapshot(realized_today=D("-300.00"), unrealized=D("-200")),
    )

    assert verdict.detail == (
        "day P&L -500 (realized -300, unrealized -200) at or past max loss 500"
    )
    assert (verdict.value, verdict.limit) == (D("-500"), D("-500"))


def test_a_daily_loss_limit_of_zero_allows_no_loss_at_all():
    limits = Limits(max_daily_loss=D("0"))

    assert daily_loss_breached(make_snapshot(realized_today=D("-0.01")), limits) is True
    assert daily_loss_breached(make_snapshot(realized_today=D("0.01")), limits) is False
    # a flat day has reached a limit of 0
    assert daily_loss_breached(make_snapshot(realized_today=D("0")), limits) is True


def test_no_daily_loss_limit_is_never_breached():
    snapshot = make_snapshot(realized_today=D("-1000000"))

    assert daily_loss_breached(snapshot, Limits()) is False


@pytest.mark.parametrize(
    ("equity", "passed"),
    [
        # max 0.1 from a peak of 10000: the line is at 9000
        (D("9000.01"), True),  # drawdown 0.099999
        (D("9000"), False),  # drawdown 0.1: at the limit is a breach
        (D("8999.99"), False),  # drawdown 0.100001
    ],
)
def test_the_drawdown_limit_breaches_at_the_limit(equity, passed):
    snapshot = make_snapshot(equity=equity, equity_peak=D("10000"))
    limits = Limits(max_drawdown_pct=D("0.1"))

    verdict = check("max_drawdown_pct", limits, snapshot=snapshot)

    assert verdict.passed is passed
    assert drawdown_breached(snapshot, limits) is not passed


def test_the_drawdown_detail_states_the_numbers():
    verdict = check(
        "max_drawdown_pct",
        Limits(max_drawdown_pct=D("0.1")),
        snapshot=make_snapshot(equity=D("8500"), equity_peak=D("10000")),
    )

    assert verdict.detail == "drawdown 0.15 (equity 8500, peak 10000) at or past max 0.1"


def test_equity_above_a_stale_peak_is_no_drawdown():
    # the peak used is max(10000, 12000): drawdown 0, nowhere near 0.01
    snapshot = make_snapshot(equity=D("12000"), equity_peak=D("10000"))

    assert drawdown_breached(snapshot, Limits(max_drawdown_pct=D("0.01"))) is False


def test_a_drawdown_limit_of_zero_allows_no_new_risk_at_all():
    # reaching the limit is the breach, and a drawdown of 0 reaches a limit of 0
    snapshot = make_snapshot(equity=D("10000"), equity_peak=D("10000"))

    assert drawdown_breached(snapshot, Limits(max_drawdown_pct=D("0"))) is True


def test_no_positive_equity_breaches_the_drawdown_limit():
    snapshot = make_snapshot(equity=D("0"), equity_peak=D("0"))

    assert drawdown_breached(snapshot, Limits(max_drawdown_pct=D("0.5"))) is True
    assert check(
        "max_drawdown_pct", Limits(max_drawdown_pct=D("0.5")), snapshot=snapshot
    ).detail == ("no positive equity (peak 0): drawdown undefined")


@pytest.mark.parametrize(
    ("price", "passed", "detail"),
    [
        # max 0.05 around a last price of 100: 95 .. 105
        (D("104.99"), True, "price 104.99 deviates 0.0499 from last 100 <= max 0.05"),
        (D("105"), True, "price 105 deviates 0.05 from last 100 <= max 0.05"),
        (D("105.01"), False, "price 105.01 deviates 0.0501 from last 100 > max 0.05"),
        (D("95.01"), True, "price 95.01 deviates 0.0499 from last 100 <= max 0.05"),
        (D("95"), True, "price 95 deviates 0.05 from last 100 <= max 0.05"),
        (D("94.99"), False, "price 94.99 deviates 0.0501 from last 100 > max 0.05"),
    ],
)
def test_the_fat_finger_rule_allows_prices_within_the_deviation_of_the_last(price, passed, detail):
    verdict = check(
        "max_price_deviation_pct",
        Limits(max_price_deviation_pct=D("0.05")),
        proposal=make_proposal(price=price),
    )

    assert (verdict.passed, verdict.detail) == (passed, detail)


@pytest.mark.parametrize("last_price", [None, D("0")])
def test_the_fat_finger_rule_fails_closed_without_a_last_price(last_price):
    verdict = check(
        "max_price_deviation_pct",
        Limits(max_price_deviation_pct=D("0.05")),
        snapshot=make_snapshot(last_price=last_price),
    )

    assert verdict.passed is False
    assert verdict.detail == "no last price to check the order price against"


@pytest.mark.parametrize(
    ("since_loss", "passed", "detail"),
    [
        (timedelta(minutes=29, seconds=59), False, "1799 s since a loss on BTC/USDT"),
        (timedelta(minutes=30), True, "1800 s since a loss on BTC/USDT"),
        (timedelta(minutes=30, seconds=1), True, "1801 s since a loss on BTC/USDT"),
        (timedelta(minutes=29, seconds=59, microseconds=999999), False, "1799.999999 s"),
    ],
)
def test_the_loss_cooldown_ends_exactly_when_its_time_is_up(since_loss, passed, detail):
    verdict = check(
        "loss_cooldown",
        Limits(loss_cooldown=timedelta(minutes=30)),
        snapshot=make_snapshot(last_loss_at=NOW - since_loss),
    )

    assert verdict.passed is passed
    assert verdict.detail.startswith(detail)
    assert verdict.limit == D("1800")


def test_no_loss_on_the_symbol_means_no_cooldown():
    verdict = check("loss_cooldown", Limits(loss_cooldown=timedelta(hours=1)))

    assert (verdict.passed, verdict.detail) == (True, "no losing trade on BTC/USDT")


@pytest.mark.parametrize(
    ("orders_last_minute", "passed", "detail"),
    [
        (3, True, "orders in the last minute with this one 4 <= max 5"),
        (4, True, "orders in the last minute with this one 5 <= max 5"),
        (5, False, "orders in the last minute with this one 6 > max 5"),
    ],
)
def test_max_orders_per_minute_counts_this_order(orders_last_minute, passed, detail):
    verdict = check(
        "max_orders_per_minute",
        Limits(max_orders_per_minute=5),
        snapshot=make_snapshot(orders_last_minute=orders_last_minute),
    )

    assert (verdict.passed, verdict.detail) == (passed, detail)


@pytest.mark.parametrize(
    ("symbol", "allowed", "passed"),
    [
        ("BTC/USDT", frozenset({"BTC/USDT", "ETH/USDT"}), True),
        ("SOL/USDT", frozenset({"BTC/USDT", "ETH/USDT"}), False),
        ("BTC/USDT", frozenset(), False),  # an empty list allows nothing
    ],
)
def test_only_allowed_symbols_pass(symbol, allowed, passed):
    verdict = check(
        "allowed_symbols",
        Limits(allowed_symbols=allowed),
        proposal=make_proposal(symbol=symbol),
    )

    assert verdict.passed is passed


def test_a_halt_blocks_with_its_reason():
    decision = decide(make_proposal(), make_snapshot(halted="kill switch: operator"), Limits())

    assert decision.approved is False
    assert decision.reason == "trading halted: kill switch: operator"


def test_no_limits_approve_and_every_rule_says_so():
    decision = decide(make_proposal(), make_snapshot(), Limits())

    assert decision.approved is True
    assert decision.reason == ""
    assert {verdict.detail for verdict in decision.verdicts[2:]} == {"no limit"}


# --- merging scopes -----------------------------------------------------------------


def test_merge_takes_the_smallest_maximum_and_the_largest_minimum():
    global_limits = Limits(
        max_order_value=D("10000"),
        max_order_amount=D("5"),
        min_order_value=D("5"),
        max_position_pct=D("0.5"),
        max_open_positions=10,
        max_daily_loss=D("1000"),
        max_drawdown_pct=D("0.2"),
        max_price_deviation_pct=D("0.1"),
        loss_cooldown=timedelta(minutes=5),
        max_orders_per_minute=60,
    )
    account_limits = Limits(
        max_order_value=D("2000"),
        max_order_amount=D("8"),
        min_order_value=D("10"),
        max_position_pct=D("0.25"),
        max_open_positions=12,
        max_daily_loss=D("500"),
        max_drawdown_pct=D("0.3"),
        max_price_deviation_pct=D("0.02"),
        loss_cooldown=timedelta(minutes=30),
        max_orders_per_minute=10,
    )

    merged = merge_limits(global_limits, account_limits)

    assert merged == Limits(
        max_order_value=D("2000"),
        max_order_amount=D("5"),
        min_order_value=D("10"),
        max_position_pct=D("0.25"),
        max_open_positions=10,
        max_daily_loss=D("500"),
        max_drawdown_pct=D("0.2"),
        max_price_deviation_pct=D("0.02"),
        loss_cooldown=timedelta(minutes=30),  # the longer cooldown is the stricter
        max_orders_per_minute=10,
    )


def test_no_limit_never_wins_a_merge():
    merged = merge_limits(
        Limits(max_order_value=D("1000")),
        Limits(min_order_value=D("10"), max_open_positions=0),
        Limits(),
    )

    assert merged.max_order_value == D("1000")
    assert merged.min_order_value == D("10")
    assert merged.max_open_positions == 0  # zero is a limit, not "none"
    assert merged.max_daily_loss is None


def test_merge_intersects_allowed_symbols():
    merged = merge_limits(
        Limits(allowed_symbols=frozenset({"BTC/USDT", "ETH/USDT", "SOL/USDT"})),
        Limits(),
        Limits(allowed_symbols=frozenset({"ETH/USDT", "SOL/USDT", "XRP/USDT"})),
    )

    assert merged.allowed_symbols == frozenset({"ETH/USDT", "SOL/USDT"})


def test_disjoint_allowed_symbols_merge_to_nothing_allowed():
    merged = merge_limits(
        Limits(allowed_symbols=frozenset({"BTC/USDT"})),
        Limits(allowed_symbols=frozenset({"ETH/USDT"})),
    )

    assert merged.allowed_symbols == frozenset()


def test_merging_nothing_is_no_limits_and_merging_one_is_itself():
    one = Limits(max_order_value=D("1000"), allowed_symbols=frozenset({"BTC/USDT"}))

    assert merge_limits() == Limits()
    assert merge_limits(one) == one


# --- decide -------------------------------------------------------------------------


def test_decide_records_every_rule_in_order():
    decision = decide(make_proposal(), make_snapshot(), Limits())

    assert tuple(verdict.rule for verdict in decision.verdicts) == RULES


def test_decide_records_every_failure_and_gives_the_first_as_the_reason():
    limits = Limits(
        max_order_value=D("1000"),
        max_open_positions=1,
        max_daily_loss=D("500"),
        max_orders_per_minute=5,
    )
    snapshot = make_snapshot(open_positions=1, realized_today=D("-600"), orders_last_minute=5)

    decision = decide(make_proposal(amount=D("20")), snapshot, limits)

    assert decision.approved is False
    assert [verdict.rule for verdict in decision.failed] == [
        "max_order_value",
        "max_open_positions",
        "max_daily_loss",
        "max_orders_per_minute",
    ]
    assert decision.reason == "order value 2000 > max 1000"
    assert len(decision.verdicts) == len(RULES)


def test_a_decision_is_json_with_decimals_as_strings():
    decision = decide(
        make_proposal(amount=D("10.01")),
        make_snapshot(),
        Limits(max_order_value=D("1000")),
    )

    data = json.loads(json.dumps(decision.as_dict()))

    assert data["approved"] is False
    assert data["reason"] == "order value 1001 > max 1000"
    by_rule = {verdict["rule"]: verdict for verdict in data["verdicts"]}
    assert by_rule["max_order_value"] == {
        "rule": "max_order_value",
        "passed": False,
        "detail": "order value 1001 > max 1000",
        "value": "1001.00",
        "limit": "1000",
    }
    assert by_rule["halted"]["value"] is None


def test_as_dict_never_writes_exponent_notation():
    verdict = Verdict("max_order_value", True, "", value=D("1E+3"), limit=D("1E-7"))

    assert verdict.as_dict()["value"] == "1000"
    assert verdict.as_dict()["limit"] == "0.0000001"


def test_an_approved_decision_has_no_reason():
    decision = Decision(approved=True, verdicts=(), reason="")

    assert decision.as_dict() == {"approved": True, "reason": "", "verdicts": []}


# --- reduce-only --------------------------------------------------------------------

# Every exposure limit set so that a new order fails it.
STRICT = Limits(
    max_order_value=D("10"),
    max_order_amount=D("0.01"),
    min_order_value=D("1000"),
    max_position_pct=D("0.01"),
    max_open_positions=0,
    max_daily_loss=D("100"),
    max_drawdown_pct=D("0.05"),
    loss_cooldown=timedelta(hours=1),
    allowed_symbols=frozenset({"ETH/USDT"}),
)
EXEMPT = {
    "allowed_symbols",
    "min_order_value",
    "max_order_value",
    "max_order_amount",
    "max_position_pct",
    "max_open_positions",
    "max_daily_loss",
    "max_drawdown_pct",
    "loss_cooldown",
}
STRESSED = {
    "equity": D("9000"),
    "equity_peak": D("10000"),
    "realized_today": D("-200"),
    "unrealized": D("-300"),
    "position_value": D("500"),  # long 5 at 100
    "open_positions": 1,
    "has_position_in_symbol": True,
    "last_loss_at": NOW - timedelta(minutes=1),
}


def test_every_exposure_limit_blocks_the_same_order_without_the_flag():
    decision = decide(make_proposal(side="sell", amount=D("2")), make_snapshot(**STRESSED), STRICT)

    # 500 - 200 = 300 is a shrink, which the position rule lets through on its own
    assert {verdict.rule for verdict in decision.failed} == EXEMPT - {"max_position_pct"}


def test_every_exposure_limit_blocks_a_new_order():
    decision = decide(make_proposal(side="buy", amount=D("2")), make_snapshot(**STRESSED), STRICT)

    assert {verdict.rule for verdict in decision.failed} == EXEMPT


def test_a_reduce_only_order_passes_the_exposure_limits():
    decision = decide(
        make_proposal(side="sell", amount=D("2"), reduce_only=True),
        make_snapshot(**STRESSED),
        STRICT,
    )

    assert decision.approved is True
    assert {v.rule for v in decision.verdicts if v.detail == "reduce-only: exempt"} == EXEMPT


def test_a_reduce_only_buy_closes_a_short():
    decision = decide(
        make_proposal(side="buy", reduce_only=True),
        make_snapshot(**{**STRESSED, "position_value": D("-500")}),
        STRICT,
    )

    assert decision.approved is True
    assert verdict_of("reduce_only", decision).detail == "reduces position value -500"


@pytest.mark.parametrize(
    ("side", "position_value"),
    [("sell", D("0")), ("buy", D("0")), ("buy", D("500")), ("sell", D("-500"))],
)
def test_a_reduce_only_order_that_would_not_reduce_is_refused(side, position_value):
    decision = decide(
        make_proposal(side=side, reduce_only=True),
        make_snapshot(position_value=position_value),
        Limits(),
    )

    assert decision.approved is False
    assert decision.reason == (
        f"reduce-only {side} does not reduce position value {position_value}"
    )


def test_a_reduce_only_order_passes_a_halt():
    # the panic button flattens through the gate; a breaker must not trap a position
    decision = decide(
        make_proposal(side="sell", reduce_only=True),
        make_snapshot(position_value=D("500"), halted="kill switch on: panic"),
        Limits(),
    )

    assert decision.approved is True
    assert verdict_of("halted", decision).detail == (
        "trading halted: kill switch on: panic; reduce-only passes"
    )


def test_a_false_reduce_only_flag_does_not_pass_a_halt():
    decision = decide(
        make_proposal(side="buy", reduce_only=True),
        make_snapshot(position_value=D("500"), halted="kill switch on: panic"),
        Limits(),
    )

    assert decision.approved is False
    assert decision.reason == "reduce-only buy does not reduce position value 500"


@pytest.mark.parametrize(
    ("snapshot_overrides", "limits", "price", "rule"),
    [
        ({}, Limits(max_price_deviation_pct=D("0.05")), D("50"), "max_price_deviation_pct"),
        (
            {"orders_last_minute": 5},
            Limits(max_orders_per_minute=5),
            D("100"),
            "max_orders_per_minute",
        ),
    ],
)
def test_a_reduce_only_order_still_meets_the_fat_finger_and_the_rate_rules(
    snapshot_overrides, limits, price, rule
):
    decision = decide(
        make_proposal(side="sell", price=price, reduce_only=True),
        make_snapshot(position_value=D("500"), **snapshot_overrides),
        limits,
    )

    assert decision.approved is False
    assert [verdict.rule for verdict in decision.failed] == [rule]


# --- the trading day ----------------------------------------------------------------


def utc(*args):
    return datetime(*args, tzinfo=UTC)


@pytest.mark.parametrize(
    ("now", "tz", "expected"),
    [
        (utc(2025, 3, 10, 12, 0), "UTC", utc(2025, 3, 10, 0, 0)),
        (utc(2025, 3, 10, 0, 0), "UTC", utc(2025, 3, 10, 0, 0)),  # midnight is the new day
        (utc(2025, 3, 10, 23, 59, 59, 999999), "UTC", utc(2025, 3, 10, 0, 0)),
        # Berlin, winter (+01:00): 23:59 local is still the old day, 00:00 the new one
        (utc(2025, 1, 15, 22, 59), "Europe/Berlin", utc(2025, 1, 14, 23, 0)),
        (utc(2025, 1, 15, 23, 0), "Europe/Berlin", utc(2025, 1, 15, 23, 0)),
        # Berlin, summer (+02:00)
        (utc(2025, 7, 1, 10, 0), "Europe/Berlin", utc(2025, 6, 30, 22, 0)),
        # Berlin springs forward on 30 March at 02:00: that day began at +01:00 ...
        (utc(2025, 3, 30, 12, 0), "Europe/Berlin", utc(2025, 3, 29, 23, 0)),
        # ... and the next at +02:00, 23 hours later
        (utc(2025, 3, 31, 12, 0), "Europe/Berlin", utc(2025, 3, 30, 22, 0)),
        # Berlin falls back on 26 October at 03:00: a day of 25 hours
        (utc(2025, 10, 26, 12, 0), "Europe/Berlin", utc(2025, 10, 25, 22, 0)),
        (utc(2025, 10, 27, 12, 0), "Europe/Berlin", utc(2025, 10, 26, 23, 0)),
        # New York, summer (-04:00): 03:59 UTC is still 23:59 the day before
        (utc(2025, 7, 1, 3, 59), "America/New_York", utc(2025, 6, 30, 4, 0)),
        (utc(2025, 7, 1, 4, 0), "America/New_York", utc(2025, 7, 1, 4, 0)),
        # New York springs forward on 9 March, falls back on 2 November
        (utc(2025, 3, 9, 12, 0), "America/New_York", utc(2025, 3, 9, 5, 0)),
        (utc(2025, 3, 10, 12, 0), "America/New_York", utc(2025, 3, 10, 4, 0)),
        (utc(2025, 11, 2, 12, 0), "America/New_York", utc(2025, 11, 2, 4, 0)),
        (utc(2025, 11, 3, 12, 0), "America/New_York", utc(2025, 11, 3, 5, 0)),
        # a half-hour offset (+05:30)
        (utc(2025, 3, 10, 18, 29), "Asia/Kolkata", utc(2025, 3, 9, 18, 30)),
        (utc(2025, 3, 10, 18, 30), "Asia/Kolkata", utc(2025, 3, 10, 18, 30)),
        # Santiago skips its own midnight (00:00 -> 01:00 on 8 September 2024): the day
        # starts at the jump, 04:00 UTC, which is 01:00 local
        (utc(2024, 9, 8, 12, 0), "America/Santiago", utc(2024, 9, 8, 4, 0)),
    ],
)
def test_day_start_is_local_midnight_in_utc(now, tz, expected):
    start = day_start(now, tz)

    assert start == expected
    assert start.utcoffset() == timedelta(0)
    assert start <= now


def test_a_day_skipping_midnight_starts_at_its_first_local_instant():
    start = day_start(utc(2024, 9, 8, 12, 0), "America/Santiago")

    assert start.astimezone(ZoneInfo("America/Santiago")).isoformat() == (
        "2024-09-08T01:00:00-03:00"
    )


def test_day_start_takes_any_aware_now():
    now = datetime(2025, 7, 1, 0, 30, tzinfo=ZoneInfo("Europe/Berlin"))

    assert day_start(now, "UTC") == utc(2025, 6, 30, 0, 0)
    assert day_start(now, "Europe/Berlin") == utc(2025, 6, 30, 22, 0)


def test_day_start_refuses_a_naive_time_and_an_unknown_zone():
    with pytest.raises(ValueError, match="timezone-aware"):
        day_start(datetime(2025, 3, 10, 12, 0), "UTC")  # noqa: DTZ001 - the point of the test
    with pytest.raises(ValueError, match="unknown time zone 'Mars/Olympus'"):
        day_start(NOW, "Mars/Olympus")


# A loss of 600 at 23:30 Berlin time on 15 January (22:30 UTC) and a limit of 500.
LOSSES = [(utc(2025, 1, 15, 22, 30), D("-600"))]
DAILY = Limits(max_daily_loss=D("500"))


def day_snapshot(now, tz, unrealized=D("0")):
    return make_snapshot(
        now=now,
        realized_today=realized_since(LOSSES, now=now, tz=tz),
        unrealized=unrealized,
    )


def test_a_loss_blocks_new_orders_until_local_midnight():
    # 23:59 Berlin: still the day of the loss
    snapshot = day_snapshot(utc(2025, 1, 15, 22, 59), "Europe/Berlin")

    decision = decide(make_proposal(), snapshot, DAILY)

    assert snapshot.realized_today == D("-600")
    assert decision.approved is False
    assert decision.reason == "day P&L -600 (realized -600, unrealized 0) at or past max loss 500"


def test_the_daily_loss_resets_by_itself_at_local_midnight():
    # 00:00 Berlin on 16 January: yesterday's loss no longer counts
    snapshot = day_snapshot(utc(2025, 1, 15, 23, 0), "Europe/Berlin")

    decision = decide(make_proposal(), snapshot, DAILY)

    assert snapshot.realized_today == D("0")
    assert decision.approved is True


def test_the_reset_follows_the_configured_time_zone():
    # 23:00 UTC is already the 16th in Berlin but still the 15th in UTC and New York
    now = utc(2025, 1, 15, 23, 0)

    assert decide(make_proposal(), day_snapshot(now, "Europe/Berlin"), DAILY).approved is True
    assert decide(make_proposal(), day_snapshot(now, "UTC"), DAILY).approved is False
    assert decide(make_proposal(), day_snapshot(now, "America/New_York"), DAILY).approved is False


def test_open_losses_still_count_after_midnight():
    snapshot = day_snapshot(utc(2025, 1, 15, 23, 0), "Europe/Berlin", unrealized=D("-500"))

    assert decide(make_proposal(), snapshot, DAILY).approved is False


def test_realized_since_counts_an_amount_at_midnight_for_the_new_day():
    midnight = utc(2025, 1, 15, 23, 0)  # 00:00 Berlin
    realized = [
        (midnight - timedelta(microseconds=1), D("-100")),
        (midnight, D("-40")),
        (midnight + timedelta(hours=1), D("15.5")),
    ]

    total = realized_since(realized, now=midnight + timedelta(hours=2), tz="Europe/Berlin")

    assert total == D("-24.5")  # -40 + 15.5


# --- bad input ----------------------------------------------------------------------


def test_floats_are_refused():
    with pytest.raises(TypeError, match="amount must be a Decimal, not float"):
        make_proposal(amount=1.5)
    with pytest.raises(TypeError, match="equity must be a Decimal, not float"):
        make_snapshot(equity=10000.0)
    with pytest.raises(TypeError, match="max_order_value must be a Decimal, not float"):
        Limits(max_order_value=1000.0)


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"side": "long"}, "side must be 'buy' or 'sell'"),
        ({"amount": D("0")}, "amount must be positive"),
        ({"price": D("-1")}, "price must be positive"),
    ],
)
def test_a_malformed_proposal_is_refused(overrides, message):
    with pytest.raises(ValueError, match=message):
        make_proposal(**overrides)


def test_a_naive_snapshot_time_is_refused():
    with pytest.raises(ValueError, match="now must be timezone-aware"):
        make_snapshot(now=datetime(2025, 3, 10, 12, 0))  # noqa: DTZ001 - the point of the test


@pytest.mark.parametrize(
    ("fields", "error"),
    [
        ({"max_daily_loss": D("-500")}, ValueError),
        ({"max_open_positions": -1}, ValueError),
        ({"max_orders_per_minute": True}, TypeError),
        ({"loss_cooldown": timedelta(seconds=-1)}, ValueError),
        ({"allowed_symbols": "BTC/USDT"}, TypeError),
    ],
)
def test_malformed_limits_are_refused(fields, error):
    with pytest.raises(error):
        Limits(**fields)


def test_allowed_symbols_from_a_list_are_stored_as_a_frozenset():
    limits = Limits(allowed_symbols=["BTC/USDT", "ETH/USDT"])

    assert limits.allowed_symbols == frozenset({"BTC/USDT", "ETH/USDT"})
    assert replace(limits, max_order_value=D("1")).allowed_symbols == limits.allowed_symbols
