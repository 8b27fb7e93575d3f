"""Performance statistics from closed round trips and an equity curve. Pure functions.

Two kinds of input, gathered by the caller (per account, or per strategy by filtering
the round trips and building that strategy's curve):

- ``RoundTrip``: one closed trade with its realized P&L, net of fees, in the quote
  (settlement) asset. Trade statistics (win rate, average win / loss, profit factor,
  expectancy) are in that asset; mixing quote assets in one call is the caller's error.
- an equity curve: ``(aware datetime, Decimal equity)`` points, strictly increasing in
  time, sampled at a regular period (daily by default: ``periods_per_year=365``, crypto
  trades every day). The curve must be free of external cash flows (deposits and
  withdrawals), or be a unit-value / time-weighted curve: a deposit would otherwise show
  as a return.

Conventions, the same in every function:

- Money is Decimal end to end; floats are refused (``TypeError``).
- "Not defined" is ``None`` - never 0, never infinity - so a dashboard shows a dash and
  an API sends ``null`` (a Decimal infinity cannot go through a DecimalField). The exact
  cases are listed on each function; the common ones are an empty input, too few points
  for a statistic, and a zero denominator (no losses, a flat curve, no drawdown).
- Ratios are fractions: 0.25 means 25 %.
- Arithmetic runs in a local decimal context of ``PRECISION`` (50) significant digits,
  rounding half-even. Sums of numeric(38, 18) amounts are therefore exact; quotients,
  square roots and powers are rounded to 50 significant digits and nothing is quantized
  here: rounding for display or storage happens at that boundary.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import ROUND_HALF_EVEN, Context, Decimal, localcontext

ZERO = Decimal(0)
ONE = Decimal(1)

# 38 digits cover numeric(38, 18); the margin keeps sums of many such amounts exact.
PRECISION = 50

DEFAULT_PERIODS_PER_YEAR = 365

EquityPoint = tuple[datetime, Decimal]

_SIDES = frozenset({"long", "short"})


def _context() -> Context:
    # Default traps (InvalidOperation, DivisionByZero, Overflow) stay on: every
    # zero denominator is handled before dividing, so a trap is a bug, not a result.
    return Context(prec=PRECISION, rounding=ROUND_HALF_EVEN)


@dataclass(frozen=True, slots=True)
class RoundTrip:
    """One closed trade: opened, then closed back to flat.

    ``pnl`` is realized P&L net of every fee (and of funding, for derivatives), in the
    quote or settlement asset. A trip with ``pnl > 0`` is a win, ``pnl < 0`` a loss and
    ``pnl == 0`` a breakeven: it counts as a trade but as neither a win nor a loss.
    """

    symbol: str
    side: str  # "long" or "short"
    opened_at: datetime
    closed_at: datetime
    pnl: Decimal

    def __post_init__(self) -> None:
        if self.side not in _SIDES:
            raise ValueError(f"side must be 'long' or 'short', not {self.side!r}")
        _check_aware(self.opened_at, "opened_at")
        _check_aware(self.closed_at, "closed_at")
        if self.closed_at < self.opened_at:
            raise ValueError("a round trip cannot close before it opens")
        _check_decimal(self.pnl, "pnl")


@dataclass(frozen=True, slots=True)
class Drawdown:
    """The largest peak-to-trough decline of an equity curve.

    ``fraction = (peak_equity - trough_equity) / peak_equity``, between 0 and 1.
    ``recovered_at`` is the first point at or after the trough whose equity is back at
    ``peak_equity`` or above; ``None`` if the curve has not recovered by its end.
    """

    fraction: Decimal
    peak_at: datetime
    peak_equity: Decimal
    trough_at: datetime
    trough_equity: Decimal
    recovered_at: datetime | None


@dataclass(frozen=True, slots=True)
class PerformanceSummary:
    """Every statistic of this module for one set of round trips and one equity curve."""

    trade_count: int
    win_count: int
    loss_count: int
    net_pnl: Decimal
    gross_profit: Decimal
    gross_loss: Decimal  # <= 0
    win_rate: Decimal | None
    average_win: Decimal | None
    average_loss: Decimal | None  # < 0
    profit_factor: Decimal | None
    expectancy: Decimal | None
    total_return: Decimal | None
    annualized_return: Decimal | None
    max_drawdown: Drawdown | None
    sharpe: Decimal | None
    sortino: Decimal | None
    calmar: Decimal | None


# --- validation ---------------------------------------------------------------------


def _check_aware(value: datetime, name: str) -> None:
    if not isinstance(value, datetime):
        raise TypeError(f"{name} must be a datetime, not {type(value).__name__}")
    if value.utcoffset() is None:
        raise ValueError(f"{name} must be timezone-aware")


def _check_decimal(value: Decimal, name: str) -> None:
    # Refusing float (and int) here keeps binary fractions out of every result.
    if not isinstance(value, Decimal):
        raise TypeError(f"{name} must be a Decimal, not {type(value).__name__}")
    if not value.is_finite():
        raise ValueError(f"{name} must be finite, not {value}")


def _check_curve(curve: Sequence[EquityPoint]) -> None:
    """Aware, strictly increasing times; finite equity, positive at the start, never < 0.

    Zero is allowed (an account can be wiped out); a return after a zero point is
    undefined and ``period_returns`` refuses it.
    """
    previous: datetime | None = None
    for index, (at, equity) in enumerate(curve):
        _check_aware(at, f"curve[{index}] time")
        _check_decimal(equity, f"curve[{index}] equity")
        if previous is not None and at <= previous:
            raise ValueError(f"curve times must strictly increase (at index {index})")
        if equity < 0:
            raise ValueError(f"curve equity cannot be negative (at index {index})")
        previous = at
    if curve and curve[0][1] == 0:
        raise ValueError("curve must start with positive equity")


def _check_periods(periods_per_year: int) -> None:
    if isinstance(periods_per_year, bool) or not isinstance(periods_per_year, int):
        raise TypeError("periods_per_year must be an int")
    if periods_per_year <= 0:
        raise ValueError("periods_per_year must be positive")


def _check_trips(trips: Sequence[RoundTrip]) -> None:
    for trip in trips:
        if not isinstance(trip, RoundTrip):
            raise TypeError(f"expected RoundTrip, not {type(trip).__name__}")


# --- round trips --------------------------------------------------------------------


def net_pnl(trips: Sequence[RoundTrip]) -> Decimal:
    """Sum of ``pnl`` over all trips; 0 for none. Exact."""
    _check_trips(trips)
    with localcontext(_context()):
        return sum((t.pnl for t in trips), ZERO)


def gross_profit(trips: Sequence[RoundTrip]) -> Decimal:
    """Sum of ``pnl`` over the wins (``pnl > 0``); 0 if there are none. Exact."""
    _check_trips(trips)
    with localcontext(_context()):
        return sum((t.pnl for t in trips if t.pnl > 0), ZERO)


def gross_loss(trips: Sequence[RoundTrip]) -> Decimal:
    """Sum of ``pnl`` over the losses (``pnl < 0``): a negative number, or 0. Exact."""
    _check_trips(trips)
    with localcontext(_context()):
        return sum((t.pnl for t in trips if t.pnl < 0), ZERO)


def win_rate(trips: Sequence[RoundTrip]) -> Decimal | None:
    """Wins / all trips, breakevens included in the denominator.

    ``None`` for no trips. Breakevens lower the win rate: a trade that paid its fees and
    nothing more did not win.
    """
    _check_trips(trips)
    if not trips:
        return None
    wins = sum(1 for t in trips if t.pnl > 0)
    with localcontext(_context()):
        return Decimal(wins) / Decimal(len(trips))


def average_win(trips: Sequence[RoundTrip]) -> Decimal | None:
    """Mean ``pnl`` of the wins (``pnl > 0``); ``None`` if there are no wins."""
    _check_trips(trips)
    wins = [t.pnl for t in trips if t.pnl > 0]
    if not wins:
        return None
    with localcontext(_context()):
        return sum(wins, ZERO) / Decimal(len(wins))


def average_loss(trips: Sequence[RoundTrip]) -> Decimal | None:
    """Mean ``pnl`` of the losses (``pnl < 0``), so negative; ``None`` if none lost.

    Signed, like ``gross_loss``, so ``expectancy = win_rate * average_win
    + loss_rate * average_loss`` holds without sign juggling.
    """
    _check_trips(trips)
    losses = [t.pnl for t in trips if t.pnl < 0]
    if not losses:
        return None
    with localcontext(_context()):
        return sum(losses, ZERO) / Decimal(len(losses))


def profit_factor(trips: Sequence[RoundTrip]) -> Decimal | None:
    """``gross_profit / -gross_loss``.

    ``None`` when there is no loss (no trips, only wins, only breakevens): the ratio is
    unbounded, and an infinity would not survive a DecimalField or JSON; show gross
    profit and loss beside it instead. Losses without any win give 0.
    """
    loss = gross_loss(trips)
    if loss == 0:
        return None
    profit = gross_profit(trips)
    with localcontext(_context()):
        return profit / -loss


def expectancy(trips: Sequence[RoundTrip]) -> Decimal | None:
    """Mean ``pnl`` per trip (all trips, breakevens included): ``net_pnl / count``.

    Equal to ``win_rate * average_win + loss_rate * average_loss``. ``None`` for no
    trips. In the quote asset, per trade.
    """
    _check_trips(trips)
    if not trips:
        return None
    total = net_pnl(trips)
    with localcontext(_context()):
        return total / Decimal(len(trips))


# --- equity curve -------------------------------------------------------------------


def period_returns(curve: Sequence[EquityPoint]) -> list[Decimal]:
    """Simple period returns ``r_t = E_t / E_(t-1) - 1``, one fewer than the points.

    Empty for fewer than two points. ``ValueError`` if equity is zero before the last
    point (the next return would divide by zero).
    """
    _check_curve(curve)
    returns: list[Decimal] = []
    with localcontext(_context()):
        for index in range(1, len(curve)):
            before = curve[index - 1][1]
            if before == 0:
                raise ValueError(f"equity is zero at index {index - 1}: no return after it")
            returns.append(curve[index][1] / before - ONE)
    return returns


def total_return(curve: Sequence[EquityPoint]) -> Decimal | None:
    """``E_last / E_first - 1``. ``None`` for an empty curve; 0 for a single point."""
    _check_curve(curve)
    if not curve:
        return None
    with localcontext(_context()):
        return curve[-1][1] / curve[0][1] - ONE


def annualized_return(
    curve: Sequence[EquityPoint], *, periods_per_year: int = DEFAULT_PERIODS_PER_YEAR
) -> Decimal | None:
    """Compound annual growth rate over the curve's periods.

    ``(E_last / E_first) ** (periods_per_year / n) - 1`` with ``n = len(curve) - 1``
    periods - the period count, not calendar time, the same assumption of regular
    sampling as Sharpe's ``sqrt(periods_per_year)``. ``None`` for fewer than two points.
    A short curve annualizes aggressively: 1 % in a day is ~ 3,678 % a year.
    """
    _check_curve(curve)
    _check_periods(periods_per_year)
    if len(curve) < 2:
        return None
    periods = len(curve) - 1
    with localcontext(_context()):
        growth = curve[-1][1] / curve[0][1]
        return growth ** (Decimal(periods_per_year) / Decimal(periods)) - ONE


def max_drawdown(curve: Sequence[EquityPoint]) -> Drawdown | None:
    """The largest decline from a running peak, as a fraction of that peak.

    ``max over t of (P_t - E_t) / P_t`` where ``P_t = max(E_0 .. E_t)``. The earliest of
    equal drawdowns is kept. ``None`` for an empty curve. A curve that never falls
    (flat, rising, one point) has ``fraction == 0`` with peak and trough both at the
    first point, recovered there.
    """
    _check_curve(curve)
    if not curve:
        return None
    peak_at, peak = curve[0]
    best = Drawdown(
        fraction=ZERO,
        peak_at=peak_at,
        peak_equity=peak,
        trough_at=peak_at,
        trough_equity=peak,
        recovered_at=peak_at,
    )
    with localcontext(_context()):
        for at, equity in curve:
            if equity > peak:
                peak_at, peak = at, equity
                continue
            fraction = (peak - equity) / peak
            if fraction > best.fraction:
                best = Drawdown(
                    fraction=fraction,
                    peak_at=peak_at,
                    peak_equity=peak,
                    trough_at=at,
                    trough_equity=equity,
                    recovered_at=None,
                )
    if best.fraction > 0:
        recovered_at = next(
            (at for at, equity in curve if at > best.trough_at and equity >= best.peak_equity),
            None,
        )
        best = Drawdown(
            fraction=best.fraction,
            peak_at=best.peak_at,
            peak_equity=best.peak_equity,
            trough_at=best.trough_at,
            trough_equity=best.trough_equity,
            recovered_at=recovered_at,
        )
    return best


def _per_period_rate(annual: Decimal, periods_per_year: int) -> Decimal:
    # Simple de-annualization (rate / N), as most platforms do; at 5 % a year sampled
    # daily it differs from the geometric (1 + rate) ** (1 / N) - 1 by ~3e-6 a period.
    return annual / Decimal(periods_per_year)


def _mean(values: Sequence[Decimal]) -> Decimal:
    return sum(values, ZERO) / Decimal(len(values))


def sharpe(
    curve: Sequence[EquityPoint],
    *,
    periods_per_year: int = DEFAULT_PERIODS_PER_YEAR,
    risk_free: Decimal = ZERO,
) -> Decimal | None:
    """Annualized Sharpe ratio of the period returns.

    ``mean(x) / stdev(x) * sqrt(periods_per_year)`` with ``x_t = r_t - risk_free / N``
    (``risk_free`` an annual rate, de-annualized simply) and ``stdev`` the sample
    standard deviation, ``sqrt(sum((x_t - mean)^2) / (n - 1))``.

    ``None`` for fewer than two returns (three points) or a zero deviation (a flat curve,
    or the same return every period: the ratio is unbounded).
    """
    _check_periods(periods_per_year)
    _check_decimal(risk_free, "risk_free")
    returns = period_returns(curve)
    if len(returns) < 2:
        return None
    with localcontext(_context()):
        rate = _per_period_rate(risk_free, periods_per_year)
        excess = [r - rate for r in returns]
        mean = _mean(excess)
        variance = sum(((x - mean) ** 2 for x in excess), ZERO) / Decimal(len(excess) - 1)
        if variance == 0:
            return None
        return mean / variance.sqrt() * Decimal(periods_per_year).sqrt()


def sortino(
    curve: Sequence[EquityPoint],
    *,
    periods_per_year: int = DEFAULT_PERIODS_PER_YEAR,
    risk_free: Decimal = ZERO,
) -> Decimal | None:
    """Annualized Sortino ratio, with the risk-free rate as the target return.

    ``mean(x) / DD * sqrt(periods_per_year)`` with ``x_t = r_t - risk_free / N`` and the
    target downside deviation ``DD = sqrt(sum(min(0, x_t)^2) / n)`` over all ``n``
    periods - the periods above target count as zeros, they are not dropped (Sortino &
    Price 1994). With the default ``risk_free=0`` the target is a 0 % return.

    ``None`` for fewer than two returns (as for Sharpe) or no period below target
    (the ratio is unbounded).
    """
    _check_periods(periods_per_year)
    _check_decimal(risk_free, "risk_free")
    returns = period_returns(curve)
    if len(returns) < 2:
        return None
    with localcontext(_context()):
        rate = _per_period_rate(risk_free, periods_per_year)
        excess = [r - rate for r in returns]
        downside = sum((x**2 for x in excess if x < 0), ZERO) / Decimal(len(excess))
        if downside == 0:
            return None
        return _mean(excess) / downside.sqrt() * Decimal(periods_per_year).sqrt()


def calmar(
    curve: Sequence[EquityPoint], *, periods_per_year: int = DEFAULT_PERIODS_PER_YEAR
) -> Decimal | None:
    """``annualized_return / max_drawdown.fraction`` over the whole curve.

    The annualization is ``annualized_return``'s: compound, by period count. The
    drawdown is over the whole curve too (not the trailing 36 months of the original
    definition: a self-hosted account rarely has that much history). ``None`` for fewer
    than two points or no drawdown.
    """
    annual = annualized_return(curve, periods_per_year=periods_per_year)
    drawdown = max_drawdown(curve)
    if annual is None or drawdown is None or drawdown.fraction == 0:
        return None
    with localcontext(_context()):
        return annual / drawdown.fraction


def summarize(
    trips: Sequence[RoundTrip],
    curve: Sequence[EquityPoint],
    *,
    periods_per_year: int = DEFAULT_PERIODS_PER_YEAR,
    risk_free: Decimal = ZERO,
) -> PerformanceSummary:
    """All of the above for one account or strategy; see each function for definitions."""
    _check_trips(trips)
    return PerformanceSummary(
        trade_count=len(trips),
        win_count=sum(1 for t in trips if t.pnl > 0),
        loss_count=sum(1 for t in trips if t.pnl < 0),
        net_pnl=net_pnl(trips),
        gross_profit=gross_profit(trips),
        gross_loss=gross_loss(trips),
        win_rate=win_rate(trips),
        average_win=average_win(trips),
        average_loss=average_loss(trips),
        profit_factor=profit_factor(trips),
        expectancy=expectancy(trips),
        total_return=total_return(curve),
        annualized_return=annualized_return(curve, periods_per_year=periods_per_year),
        max_drawdown=max_drawdown(curve),
        sharpe=sharpe(curve, periods_per_year=periods_per_year, risk_free=risk_free),
        sortino=sortino(curve, periods_per_year=periods_per_year, risk_free=risk_free),
        calmar=calmar(curve, periods_per_year=periods_per_year),
    )
