"""Position sizing: how much to buy or sell, in base units. Pure functions.

Each sizer turns a policy into an amount that is *not yet* rounded or capped; the last
step is always ``cap_and_round``, which holds the amount to the limits and rounds it
down to the market's step. The gate (``risk.rules.decide``) still checks the result:
sizing proposes, the gate decides.

- fixed quote: spend a fixed quote amount          amount = quote / price
- % of equity: spend a fraction of equity          amount = equity * pct / price
- fixed risk: lose a fixed amount at the stop      amount = risk / |entry - stop|
- fractional Kelly, capped                         amount = equity * min(k * f*, cap) / price
- volatility-adjusted (ATR)                        amount = equity * risk_pct / (ATR * m)

Conventions:

- Money is Decimal end to end; floats are refused (``TypeError``).
- Ratios are fractions: 0.02 means 2 %.
- An amount is never negative: a sizer with no equity, or no edge, says 0.
- Arithmetic runs in a local context of ``PRECISION`` (50) significant digits rounding
  toward zero, so a quotient that does not terminate (1000 / 3) never comes out a hair
  above what its inputs allow - an amount capped at ``max_order_value / price`` must
  not be refused by the gate's ``amount * price <= max_order_value``. The ATR, a
  measurement rather than an amount, rounds half-even.
"""

from __future__ import annotations

from collections.abc import Sequence
from decimal import ROUND_DOWN, ROUND_HALF_EVEN, Context, Decimal, localcontext
from itertools import pairwise

from common.decimal import MONEY_PLACES, quantize_down
from risk.rules import Limits

ZERO = Decimal(0)
ONE = Decimal(1)

PRECISION = 50

STORAGE_STEP = Decimal(1).scaleb(-MONEY_PLACES)  # numeric(38, 18): 1E-18

Candle = tuple[Decimal, Decimal, Decimal]  # (high, low, close)


def _sizing_context() -> Context:
    return Context(prec=PRECISION, rounding=ROUND_DOWN)


def _measuring_context() -> Context:
    return Context(prec=PRECISION, rounding=ROUND_HALF_EVEN)


def _check_decimal(value: object, name: str) -> Decimal:
    # Refusing float (and int) keeps binary fractions out of every amount.
    if not isinstance(value, Decimal):
        raise TypeError(f"{name} must be a Decimal, not {type(value).__name__}")
    if not value.is_finite():
        raise ValueError(f"{name} must be finite, not {value}")
    return value


def _check_positive(value: object, name: str) -> Decimal:
    if _check_decimal(value, name) <= 0:
        raise ValueError(f"{name} must be positive, not {value}")
    return value  # type: ignore[return-value]


def _check_non_negative(value: object, name: str) -> Decimal:
    if _check_decimal(value, name) < 0:
        raise ValueError(f"{name} cannot be negative, not {value}")
    return value  # type: ignore[return-value]


def size_fixed_quote(*, quote_amount: Decimal, price: Decimal) -> Decimal:
    """Spend ``quote_amount`` of quote currency at ``price``."""
    _check_non_negative(quote_amount, "quote_amount")
    _check_positive(price, "price")
    with localcontext(_sizing_context()):
        return quote_amount / price


def size_pct_equity(*, equity: Decimal, pct: Decimal, price: Decimal) -> Decimal:
    """Spend ``pct`` of equity at ``price``; 0 when there is no positive equity."""
    _check_decimal(equity, "equity")
    _check_non_negative(pct, "pct")
    _check_positive(price, "price")
    if equity <= 0:
        return ZERO
    with localcontext(_sizing_context()):
        return equity * pct / price


def size_fixed_risk(*, risk_amount: Decimal, entry: Decimal, stop: Decimal) -> Decimal:
    """The amount that loses ``risk_amount`` if the price goes from ``entry`` to ``stop``.

    Works for both sides (a long's stop is below the entry, a short's above). Fees and
    slippage at the stop are not in it: leave room for them in ``risk_amount``.
    """
    _check_non_negative(risk_amount, "risk_amount")
    _check_positive(entry, "entry")
    _check_positive(stop, "stop")
    if stop == entry:
        raise ValueError(
            f"stop equals entry ({entry}): the risk per unit is zero, so any size "
            "would fit - set a stop away from the entry"
        )
    with localcontext(_sizing_context()):
        return risk_amount / abs(entry - stop)


def kelly_fraction(*, win_rate: Decimal, payoff_ratio: Decimal) -> Decimal:
    """The full Kelly fraction ``f* = p - (1 - p) / b``, which may be negative (no edge).

    ``p`` is the share of winning trades, ``b`` the average win over the average loss
    (both positive).
    """
    _check_decimal(win_rate, "win_rate")
    if not ZERO <= win_rate <= ONE:
        raise ValueError(f"win_rate must be between 0 and 1, not {win_rate}")
    _check_positive(payoff_ratio, "payoff_ratio")
    with localcontext(_sizing_context()):
        return win_rate - (ONE - win_rate) / payoff_ratio


def size_kelly(
    *,
    equity: Decimal,
    win_rate: Decimal,
    payoff_ratio: Decimal,
    fraction: Decimal,
    cap_pct: Decimal,
    price: Decimal,
) -> Decimal:
    """Spend ``fraction`` of the Kelly fraction of equity, at most ``cap_pct`` of it.

    Full Kelly maximizes long-run growth only when ``p`` and ``b`` are known exactly;
    they are estimates, and overbetting costs far more than underbetting, hence the
    fraction (0.5 = "half Kelly") and the cap. No edge (``f* <= 0``) sizes 0 - never a
    negative amount, which would mean taking the other side.
    """
    _check_decimal(equity, "equity")
    _check_decimal(fraction, "fraction")
    if not ZERO <= fraction <= ONE:
        raise ValueError(f"fraction must be between 0 and 1, not {fraction}")
    _check_non_negative(cap_pct, "cap_pct")
    _check_positive(price, "price")
    full = kelly_fraction(win_rate=win_rate, payoff_ratio=payoff_ratio)
    if full <= 0 or equity <= 0:
        return ZERO
    with localcontext(_sizing_context()):
        share = min(full * fraction, cap_pct)
        return equity * share / price


def true_ranges(candles: Sequence[Candle]) -> list[Decimal]:
    """``max(high - low, |high - previous close|, |low - previous close|)`` per candle.

    One per candle from the second on: the first has no previous close, so its true
    range would be only its high - low, a different measure.
    """
    for index, candle in enumerate(candles):
        if len(candle) != 3:
            raise ValueError(f"candles[{index}] must be (high, low, close)")
        high, low, close = candle
        _check_decimal(high, f"candles[{index}] high")
        _check_decimal(low, f"candles[{index}] low")
        _check_decimal(close, f"candles[{index}] close")
        if low > high:
            raise ValueError(f"candles[{index}] low {low} is above its high {high}")
    with localcontext(_measuring_context()):
        return [
            max(high - low, abs(high - previous_close), abs(low - previous_close))
            for (_, _, previous_close), (high, low, _) in pairwise(candles)
        ]


def atr(candles: Sequence[Candle], period: int = 14) -> Decimal:
    """Average true range, Wilder's smoothing, of ``(high, low, close)`` oldest first.

    True ranges start at the second candle (``true_ranges``). The seed is the simple
    average of the first ``period`` true ranges; each later one smooths in as
    ``atr = (atr * (period - 1) + tr) / period``. So ``period + 1`` candles at least;
    fewer raise ``ValueError``. More history makes the value depend less on the seed.
    """
    if isinstance(period, bool) or not isinstance(period, int):
        raise TypeError("period must be an int")
    if period < 1:
        raise ValueError(f"period must be at least 1, not {period}")
    if len(candles) < period + 1:
        raise ValueError(
            f"ATR({period}) needs at least {period + 1} candles (true ranges need a "
            f"previous close), got {len(candles)}"
        )
    ranges = true_ranges(candles)
    with localcontext(_measuring_context()):
        value = sum(ranges[:period], ZERO) / period
        for true_range in ranges[period:]:
            value = (value * (period - 1) + true_range) / period
    return value


def size_volatility(
    *,
    equity: Decimal,
    risk_pct: Decimal,
    atr_value: Decimal,
    atr_multiple: Decimal,
    price: Decimal,
) -> Decimal:
    """Risk ``risk_pct`` of equity on a stop ``atr_multiple`` ATRs away.

    ``equity * risk_pct / (atr_value * atr_multiple)``: a quote amount over a price
    distance is already base units, so ``price`` does not enter the amount; it is
    taken (and checked) so every sizer is called with the same market inputs and
    ``cap_and_round`` gets the price it needs from the same place.
    """
    _check_decimal(equity, "equity")
    _check_non_negative(risk_pct, "risk_pct")
    _check_positive(atr_value, "atr_value")
    _check_positive(atr_multiple, "atr_multiple")
    _check_positive(price, "price")
    if equity <= 0:
        return ZERO
    with localcontext(_sizing_context()):
        return equity * risk_pct / (atr_value * atr_multiple)


def cap_and_round(
    amount: Decimal,
    *,
    price: Decimal,
    limits: Limits,
    step: Decimal | None,
    equity: Decimal | None = None,
) -> Decimal:
    """The amount held to the limits and rounded down to the market's ``step``.

    Capped by ``max_order_amount``, ``max_order_value / price`` and
    ``max_position_pct * equity / price`` (the order alone; the gate checks the position
    it would leave, which may already hold some). Rounded *down* to ``step``: an amount
    sent to an exchange must be a multiple of its step, and rounding up could pass a
    cap. Then, if the rounded amount is worth less than ``min_order_value`` - or is 0 -
    the result is 0: the caller skips the order, since the gate would refuse it.

    ``step`` None means the market takes any precision: the amount is then rounded down
    to 18 places (numeric(38, 18)). ``equity`` is required when the
    limits have ``max_position_pct``; no positive equity then caps at 0.
    """
    _check_non_negative(amount, "amount")
    _check_positive(price, "price")
    if step is not None:
        _check_positive(step, "step")
    if limits.max_position_pct is not None and equity is None:
        raise ValueError("the limits have max_position_pct: pass equity to cap by it")
    if equity is not None:
        _check_decimal(equity, "equity")

    with localcontext(_sizing_context()):
        caps = [amount]
        if limits.max_order_amount is not None:
            caps.append(limits.max_order_amount)
        if limits.max_order_value is not None:
            caps.append(limits.max_order_value / price)
        if limits.max_position_pct is not None and equity is not None:
            caps.append(max(limits.max_position_pct * equity, ZERO) / price)
        capped = min(caps)
        # Without a market step, still down to the 18 places the database keeps, so the
        # amount stored is the amount the gate checked.
        rounded = quantize_down(capped, step if step is not None else STORAGE_STEP)
        if rounded <= 0:
            return ZERO
        if limits.min_order_value is not None and rounded * price < limits.min_order_value:
            return ZERO
        return rounded
