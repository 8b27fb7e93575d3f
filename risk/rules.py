"""The pre-trade gate's rules: one proposed order against a snapshot and the limits. Pure.

The service (``risk_check_pre_trade``) gathers a ``Snapshot`` under the lock of the
account's risk state, merges the global, account and strategy ``Limits`` with
``merge_limits`` and calls ``decide``. Nothing here reads the clock, the database or the
network: ``now`` and every number come in, a ``Decision`` goes out, and the service
stores it (``Decision.as_dict()``) whether it approves or not.

Conventions, the same in every rule:

- Money is Decimal end to end; floats are refused (``TypeError``) when a value object is
  built, so a binary fraction never reaches a comparison.
- ``None`` in a limit means "no limit": the rule passes and says so.
- A limit is a bound that may be reached: a value *at* a maximum passes, one past it
  fails; likewise for the minimum order value. The two exceptions are the account-wide
  loss breakers (``max_daily_loss``, ``max_drawdown_pct``): reaching them *is* the
  breach, because they say how much may be lost, and a loss of exactly that much has
  been lost (see ``daily_loss_breached``).
- Comparisons are made by multiplication, never by dividing first (``|price - last| <=
  pct * last``, not ``|price - last| / last <= pct``), so a boundary case is decided
  exactly; a quotient appears only in the human-readable detail.
- Ratios are fractions: 0.25 means 25 %.
- Rules that need data the snapshot does not have (no last price for the fat-finger
  check, no positive equity for the position limit) fail closed: a gate that cannot
  check must not approve.

Reduce-only orders (closing or shrinking a position) are exempt from the exposure
limits - they lower exposure, and a gate that blocked them would trap an account in the
very position the limits are there to get it out of. Exempt: allowed symbols, min / max
order value and amount, max position, max open positions, daily loss, drawdown and the
loss cooldown. The halt (kill switch or tripped breaker) lets them through too: it
stops new risk, and taking risk off is what a halt is for - the panic button flattens
through this gate, and after a daily-loss breaker a person must still be able to cut
the losing position. Still applied, and why:

- ``reduce_only``: the flag must be true - a reduce-only sell needs a long position, a
  buy a short one - or it would be a way around every other rule. On spot the venue
  has no reduce-only of its own, so this check is the only one.
- ``max_price_deviation_pct``: a fat-fingered price on a closing order is still a bad
  trade (a stop-out sold at half the market).
- ``max_orders_per_minute``: it guards against a runaway loop, and a loop of
  reduce-only orders is still a loop (and still spends the exchange's request budget).

The rule names (``Verdict.rule``) are stable: they are stored in RiskDecision rows and
may be filtered on.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, time, timedelta
from decimal import ROUND_HALF_EVEN, Context, Decimal, localcontext
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

ZERO = Decimal(0)
ONE = Decimal(1)

# Two numeric(38, 18) values multiply to at most 76 significant digits, an amount from
# risk.sizing (18 places, up to 38 digits) by a price the same: every product compared
# against a limit is exact, so a boundary case never depends on rounding.
PRECISION = 100

SIDES = frozenset({"buy", "sell"})

# Rule names, in the order ``decide`` runs them; the first failure becomes the reason,
# so the kill switch comes first and a false reduce-only flag right after it.
RULES = (
    "halted",
    "reduce_only",
    "allowed_symbols",
    "max_price_deviation_pct",
    "min_order_value",
    "max_order_value",
    "max_order_amount",
    "max_position_pct",
    "max_open_positions",
    "max_daily_loss",
    "max_drawdown_pct",
    "loss_cooldown",
    "max_orders_per_minute",
)


def _context() -> Context:
    # Default traps stay on: every zero denominator is handled before dividing.
    return Context(prec=PRECISION, rounding=ROUND_HALF_EVEN)


# --- validation ---------------------------------------------------------------------


def _check_decimal(value: object, name: str, *, optional: bool = False) -> None:
    if value is None and optional:
        return
    # Refusing float (and int) keeps binary fractions out of every comparison.
    if not isinstance(value, Decimal):
        raise TypeError(f"{name} must be a Decimal, not {type(value).__name__}")
    if not value.is_finite():
        raise ValueError(f"{name} must be finite, not {value}")


def _check_non_negative(value: Decimal | None, name: str) -> None:
    _check_decimal(value, name, optional=True)
    if value is not None and value < 0:
        raise ValueError(f"{name} cannot be negative, not {value}")


def _check_count(value: object, name: str, *, optional: bool = False) -> None:
    if value is None and optional:
        return
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"{name} must be an int, not {type(value).__name__}")
    if value < 0:
        raise ValueError(f"{name} cannot be negative, not {value}")


def _check_aware(value: object, name: str, *, optional: bool = False) -> None:
    if value is None and optional:
        return
    if not isinstance(value, datetime):
        raise TypeError(f"{name} must be a datetime, not {type(value).__name__}")
    if value.utcoffset() is None:
        raise ValueError(f"{name} must be timezone-aware")


def _fmt(value: Decimal) -> str:
    """A Decimal for a human: no trailing zeros, never exponent notation (1E+3)."""
    return format(value.normalize(), "f")


def _fmt_ratio(value: Decimal) -> str:
    # Quotients only ever appear in details; six places are plenty to read them.
    return _fmt(value.quantize(Decimal("0.000001")))


def _seconds(delta: timedelta) -> Decimal:
    # Exact, unlike timedelta.total_seconds(), which is a float.
    return Decimal(delta.days * 86400 + delta.seconds) + Decimal(delta.microseconds).scaleb(-6)


def _to_str(value: Decimal | None) -> str | None:
    return None if value is None else format(value, "f")


# --- limits -------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Limits:
    """Risk limits of one scope (global, account or strategy). Every ``None`` = no limit.

    Money is in the account's quote currency; amounts in base units; ratios are
    fractions of equity (or of the last price, or of the equity peak).
    """

    max_order_value: Decimal | None = None
    max_order_amount: Decimal | None = None
    min_order_value: Decimal | None = None
    max_position_pct: Decimal | None = None
    max_open_positions: int | None = None
    max_daily_loss: Decimal | None = None  # a positive amount: 500 = may lose 500 a day
    max_drawdown_pct: Decimal | None = None
    max_price_deviation_pct: Decimal | None = None
    loss_cooldown: timedelta | None = None
    max_orders_per_minute: int | None = None
    allowed_symbols: frozenset[str] | None = None

    def __post_init__(self) -> None:
        for name in (
            "max_order_value",
            "max_order_amount",
            "min_order_value",
            "max_position_pct",
            "max_daily_loss",
            "max_drawdown_pct",
            "max_price_deviation_pct",
        ):
            _check_non_negative(getattr(self, name), name)
        _check_count(self.max_open_positions, "max_open_positions", optional=True)
        _check_count(self.max_orders_per_minute, "max_orders_per_minute", optional=True)
        if self.loss_cooldown is not None:
            if not isinstance(self.loss_cooldown, timedelta):
                raise TypeError("loss_cooldown must be a timedelta")
            if self.loss_cooldown < timedelta(0):
                raise ValueError("loss_cooldown cannot be negative")
        if self.allowed_symbols is not None:
            # A bare string would otherwise become a set of its letters.
            if isinstance(self.allowed_symbols, str):
                raise TypeError("allowed_symbols must be a set of symbols, not a string")
            symbols = frozenset(self.allowed_symbols)
            if not all(isinstance(symbol, str) for symbol in symbols):
                raise TypeError("allowed_symbols must hold strings")
            # Accept any iterable (a JSON list from a form) but store the frozenset.
            object.__setattr__(self, "allowed_symbols", symbols)


def _smallest(values: Iterable[Any]) -> Any:
    present = [value for value in values if value is not None]
    return min(present) if present else None


def _largest(values: Iterable[Any]) -> Any:
    present = [value for value in values if value is not None]
    return max(present) if present else None


def merge_limits(*limits: Limits) -> Limits:
    """One set of limits from several scopes: the most restrictive wins, field by field.

    The smallest maximum, the largest minimum (``min_order_value``), the longest
    cooldown and the intersection of the allowed symbols. ``None`` means "no limit" and
    never wins. Symbol sets that do not overlap intersect to an empty set - nothing is
    allowed - which is what two scopes that disagree on every symbol mean. With no
    arguments, no limits.
    """
    return Limits(
        max_order_value=_smallest(item.max_order_value for item in limits),
        max_order_amount=_smallest(item.max_order_amount for item in limits),
        min_order_value=_largest(item.min_order_value for item in limits),
        max_position_pct=_smallest(item.max_position_pct for item in limits),
        max_open_positions=_smallest(item.max_open_positions for item in limits),
        max_daily_loss=_smallest(item.max_daily_loss for item in limits),
        max_drawdown_pct=_smallest(item.max_drawdown_pct for item in limits),
        max_price_deviation_pct=_smallest(item.max_price_deviation_pct for item in limits),
        loss_cooldown=_largest(item.loss_cooldown for item in limits),
        max_orders_per_minute=_smallest(item.max_orders_per_minute for item in limits),
        allowed_symbols=_intersection(item.allowed_symbols for item in limits),
    )


def _intersection(sets: Iterable[frozenset[str] | None]) -> frozenset[str] | None:
    result: frozenset[str] | None = None
    for symbols in sets:
        if symbols is not None:
            result = symbols if result is None else result & symbols
    return result


# --- inputs -------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Proposal:
    """One order to decide on.

    ``price`` is the expected execution price: the limit price, or the last price for a
    market order (then the fat-finger rule sees no deviation, as it should).
    """

    symbol: str
    side: str  # "buy" or "sell"
    amount: Decimal  # base units, > 0
    price: Decimal  # quote per base, > 0
    reduce_only: bool = False

    def __post_init__(self) -> None:
        if self.side not in SIDES:
            raise ValueError(f"side must be 'buy' or 'sell', not {self.side!r}")
        _check_decimal(self.amount, "amount")
        _check_decimal(self.price, "price")
        if self.amount <= 0:
            raise ValueError(f"amount must be positive, not {self.amount}")
        if self.price <= 0:
            raise ValueError(f"price must be positive, not {self.price}")

    @property
    def value(self) -> Decimal:
        """The order's value in quote currency, always positive."""
        with localcontext(_context()):
            return self.amount * self.price

    @property
    def signed_value(self) -> Decimal:
        """The change the order makes to the position's value: + for a buy, - for a sell."""
        return self.value if self.side == "buy" else -self.value


@dataclass(frozen=True, slots=True)
class Snapshot:
    """What the gate knows, gathered by the service under the account's risk-state lock.

    Symbol-specific fields (``last_price``, ``position_value``,
    ``has_position_in_symbol``, ``last_loss_at``) are about the proposal's symbol.

    ``realized_today`` is realized P&L since the local midnight of the account's time
    zone (``day_start``; ``realized_since`` sums it), so the daily limit resets by
    itself: the caller never clears a counter, it just starts summing at a later
    midnight. ``unrealized`` is the whole unrealized P&L of the open positions now,
    since they were opened - not only today's change. A position carried from yesterday
    at a loss therefore counts against today's limit too: the conservative reading of
    "including unrealized P&L", and the one that needs no price at midnight.
    """

    now: datetime
    equity: Decimal
    equity_peak: Decimal
    realized_today: Decimal  # negative = loss
    unrealized: Decimal  # negative = loss
    last_price: Decimal | None
    position_value: Decimal  # signed: + long, - short
    open_positions: int  # any symbol
    has_position_in_symbol: bool
    last_loss_at: datetime | None
    orders_last_minute: int  # orders created for the account in the last 60 s
    halted: str | None  # kill switch / breaker reason; None = trading allowed

    def __post_init__(self) -> None:
        _check_aware(self.now, "now")
        for name in ("equity", "equity_peak", "realized_today", "unrealized", "position_value"):
            _check_decimal(getattr(self, name), name)
        # A last price of 0 is bad data, not a bad call: the fat-finger rule refuses the
        # order (a recorded decision) rather than the gate raising.
        _check_decimal(self.last_price, "last_price", optional=True)
        _check_count(self.open_positions, "open_positions")
        _check_count(self.orders_last_minute, "orders_last_minute")
        _check_aware(self.last_loss_at, "last_loss_at", optional=True)

    @property
    def day_pnl(self) -> Decimal:
        """Today's P&L as the daily-loss limit sees it: realized today plus unrealized."""
        with localcontext(_context()):
            return self.realized_today + self.unrealized


# --- outputs ------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Verdict:
    """One rule's answer. ``detail`` states the numbers ("order value 1200 > max 1000").

    ``value`` and ``limit`` are the measured quantity and the limit it was held to, as
    numbers (seconds for the cooldown, counts as Decimals), so stored decisions can be
    queried for how close an account ran to a limit; ``None`` where there is none.
    """

    rule: str
    passed: bool
    detail: str
    value: Decimal | None = None
    limit: Decimal | None = None

    def as_dict(self) -> dict[str, Any]:
        return {
            "rule": self.rule,
            "passed": self.passed,
            "detail": self.detail,
            "value": _to_str(self.value),
            "limit": _to_str(self.limit),
        }


@dataclass(frozen=True, slots=True)
class Decision:
    approved: bool
    verdicts: tuple[Verdict, ...]
    reason: str  # the first failed verdict's detail; "" when approved

    @property
    def failed(self) -> tuple[Verdict, ...]:
        return tuple(verdict for verdict in self.verdicts if not verdict.passed)

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready: Decimals as strings (as DRF sends them), never floats."""
        return {
            "approved": self.approved,
            "reason": self.reason,
            "verdicts": [verdict.as_dict() for verdict in self.verdicts],
        }


def _no_limit(rule: str) -> Verdict:
    return Verdict(rule, True, "no limit")


def _exempt(rule: str) -> Verdict:
    return Verdict(rule, True, "reduce-only: exempt")


# --- time ---------------------------------------------------------------------------


def day_start(now: datetime, tz: str) -> datetime:
    """The local midnight that began ``now``'s calendar day in ``tz``, in UTC.

    A day is 23 or 25 hours long across a DST change; this follows the wall clock. Where
    a zone skips midnight itself (America/Santiago in September: 00:00 becomes 01:00),
    the day starts at the first instant that exists, the moment of the change.
    """
    _check_aware(now, "now")
    try:
        zone = ZoneInfo(tz)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise ValueError(f"unknown time zone {tz!r}") from exc
    local_date = now.astimezone(zone).date()
    # fold=0 on a skipped midnight uses the offset from before the change, which maps
    # 00:00 onto the exact instant the clocks jump: the first instant of the day.
    midnight = datetime.combine(local_date, time(0), tzinfo=zone)
    return midnight.astimezone(UTC)


def realized_since(
    realized: Iterable[tuple[datetime, Decimal]], *, now: datetime, tz: str
) -> Decimal:
    """Sum of realized P&L at or after the local midnight that began ``now``'s day.

    ``realized`` is ``(when, pnl)`` per closing fill or round trip (negative = loss). An
    amount exactly at midnight belongs to the new day. Yesterday's losses drop out by
    themselves at midnight: nothing has to reset a counter.
    """
    start = day_start(now, tz)
    total = ZERO
    with localcontext(_context()):
        for index, (when, pnl) in enumerate(realized):
            _check_aware(when, f"realized[{index}] time")
            _check_decimal(pnl, f"realized[{index}] pnl")
            if when >= start:
                total += pnl
    return total


# --- breakers -----------------------------------------------------------------------


def daily_loss_breached(snapshot: Snapshot, limits: Limits) -> bool:
    """``realized_today + unrealized <= -max_daily_loss``: reaching the limit breaches it.

    "Max loss 500" means 500 may be lost; at -500 it has been, so no new risk. A limit
    of 0 is reached by a flat day: no new risk at all until the day is in profit.
    """
    if limits.max_daily_loss is None:
        return False
    return snapshot.day_pnl <= -limits.max_daily_loss


def drawdown_breached(snapshot: Snapshot, limits: Limits) -> bool:
    """Equity at or below ``(1 - max_drawdown_pct)`` of its peak: reaching it breaches it.

    The peak used is ``max(equity_peak, equity)``: a peak the service has not yet raised
    to today's equity is not a drawdown. No positive equity at all counts as breached
    (the drawdown is undefined and the gate fails closed). A limit of 0 is always
    reached: no new risk at all.
    """
    if limits.max_drawdown_pct is None:
        return False
    peak = max(snapshot.equity_peak, snapshot.equity)
    if peak <= 0:
        return True
    with localcontext(_context()):
        return peak - snapshot.equity >= limits.max_drawdown_pct * peak


# --- rules --------------------------------------------------------------------------


def check_halted(proposal: Proposal, snapshot: Snapshot, limits: Limits) -> Verdict:
    if snapshot.halted is None:
        return Verdict("halted", True, "trading allowed")
    if proposal.reduce_only:
        # Taking risk off is what a halt is for; the reduce_only rule makes sure it does.
        return Verdict("halted", True, f"trading halted: {snapshot.halted}; reduce-only passes")
    return Verdict("halted", False, f"trading halted: {snapshot.halted}")


def check_reduce_only(proposal: Proposal, snapshot: Snapshot, limits: Limits) -> Verdict:
    if not proposal.reduce_only:
        return Verdict("reduce_only", True, "not reduce-only")
    position = snapshot.position_value
    # Only the direction is checked: an amount past the position is clipped or refused
    # by the venue (derivatives' reduce-only, spot's balance), and the position's value
    # here is at a mark that may differ from the order's price.
    reduces = position > 0 if proposal.side == "sell" else position < 0
    if reduces:
        return Verdict("reduce_only", True, f"reduces position value {_fmt(position)}")
    return Verdict(
        "reduce_only",
        False,
        f"reduce-only {proposal.side} does not reduce position value {_fmt(position)}",
    )


def check_allowed_symbols(proposal: Proposal, snapshot: Snapshot, limits: Limits) -> Verdict:
    if limits.allowed_symbols is None:
        return _no_limit("allowed_symbols")
    if proposal.reduce_only:
        # A symbol struck off the list must still be closable: that is why it was struck.
        return _exempt("allowed_symbols")
    if proposal.symbol in limits.allowed_symbols:
        return Verdict("allowed_symbols", True, f"{proposal.symbol} is allowed")
    return Verdict("allowed_symbols", False, f"{proposal.symbol} is not an allowed symbol")


def check_price_deviation(proposal: Proposal, snapshot: Snapshot, limits: Limits) -> Verdict:
    rule = "max_price_deviation_pct"
    maximum = limits.max_price_deviation_pct
    if maximum is None:
        return _no_limit(rule)
    last = snapshot.last_price
    if last is None or last <= 0:
        return Verdict(rule, False, "no last price to check the order price against")
    with localcontext(_context()):
        distance = abs(proposal.price - last)
        deviation = distance / last
        passed = distance <= maximum * last
    sign = "<=" if passed else ">"
    return Verdict(
        rule,
        passed,
        f"price {_fmt(proposal.price)} deviates {_fmt_ratio(deviation)} from last "
        f"{_fmt(last)} {sign} max {_fmt(maximum)}",
        value=deviation,
        limit=maximum,
    )


def _bound(rule: str, what: str, value: Decimal, bound: Decimal, *, minimum: bool) -> Verdict:
    """A value held to a bound: at the bound passes, beyond it fails."""
    passed = value >= bound if minimum else value <= bound
    sign = (">=" if passed else "<") if minimum else ("<=" if passed else ">")
    kind = "min" if minimum else "max"
    return Verdict(
        rule,
        passed,
        f"{what} {_fmt(value)} {sign} {kind} {_fmt(bound)}",
        value=value,
        limit=bound,
    )


def check_min_order_value(proposal: Proposal, snapshot: Snapshot, limits: Limits) -> Verdict:
    rule = "min_order_value"
    if limits.min_order_value is None:
        return _no_limit(rule)
    if proposal.reduce_only:
        # Closing a dust remainder is how an account gets rid of it.
        return _exempt(rule)
    return _bound(rule, "order value", proposal.value, limits.min_order_value, minimum=True)


def check_max_order_value(proposal: Proposal, snapshot: Snapshot, limits: Limits) -> Verdict:
    rule = "max_order_value"
    if limits.max_order_value is None:
        return _no_limit(rule)
    if proposal.reduce_only:
        return _exempt(rule)
    return _bound(rule, "order value", proposal.value, limits.max_order_value, minimum=False)


def check_max_order_amount(proposal: Proposal, snapshot: Snapshot, limits: Limits) -> Verdict:
    rule = "max_order_amount"
    if limits.max_order_amount is None:
        return _no_limit(rule)
    if proposal.reduce_only:
        return _exempt(rule)
    return _bound(rule, "order amount", proposal.amount, limits.max_order_amount, minimum=False)


def check_max_position(proposal: Proposal, snapshot: Snapshot, limits: Limits) -> Verdict:
    """``|position_value + signed order value| <= max_position_pct * equity``.

    An order that strictly shrinks the position's absolute value passes even when the
    position is already over the limit (the price moved, or equity fell): blocking it
    would keep the account at more exposure, not less. A flip to an equally large
    opposite position is not a shrink.
    """
    rule = "max_position_pct"
    pct = limits.max_position_pct
    if pct is None:
        return _no_limit(rule)
    if proposal.reduce_only:
        return _exempt(rule)
    with localcontext(_context()):
        before = abs(snapshot.position_value)
        after = abs(snapshot.position_value + proposal.signed_value)
        maximum = pct * snapshot.equity
    numbers = (
        f"position value after {_fmt(after)} (before {_fmt(before)}), max {_fmt(pct)} "
        f"of equity {_fmt(snapshot.equity)} = {_fmt(maximum)}"
    )
    if after <= maximum:
        return Verdict(rule, True, numbers, value=after, limit=maximum)
    if after < before:
        return Verdict(rule, True, f"{numbers}: over, but shrinking", value=after, limit=maximum)
    return Verdict(rule, False, f"{numbers}: over the max", value=after, limit=maximum)


def check_max_open_positions(proposal: Proposal, snapshot: Snapshot, limits: Limits) -> Verdict:
    rule = "max_open_positions"
    maximum = limits.max_open_positions
    if maximum is None:
        return _no_limit(rule)
    if proposal.reduce_only:
        return _exempt(rule)
    # An order in a symbol already held (even one that flips it) opens no new position.
    after = snapshot.open_positions + (0 if snapshot.has_position_in_symbol else 1)
    passed = after <= maximum
    sign = "<=" if passed else ">"
    return Verdict(
        rule,
        passed,
        f"open positions after {after} {sign} max {maximum}",
        value=Decimal(after),
        limit=Decimal(maximum),
    )


def check_daily_loss(proposal: Proposal, snapshot: Snapshot, limits: Limits) -> Verdict:
    rule = "max_daily_loss"
    maximum = limits.max_daily_loss
    if maximum is None:
        return _no_limit(rule)
    if proposal.reduce_only:
        return _exempt(rule)
    pnl = snapshot.day_pnl
    breached = daily_loss_breached(snapshot, limits)
    numbers = (
        f"day P&L {_fmt(pnl)} (realized {_fmt(snapshot.realized_today)}, unrealized "
        f"{_fmt(snapshot.unrealized)})"
    )
    if breached:
        detail = f"{numbers} at or past max loss {_fmt(maximum)}"
    else:
        detail = f"{numbers} within max loss {_fmt(maximum)}"
    return Verdict(rule, not breached, detail, value=pnl, limit=-maximum)


def check_drawdown(proposal: Proposal, snapshot: Snapshot, limits: Limits) -> Verdict:
    rule = "max_drawdown_pct"
    maximum = limits.max_drawdown_pct
    if maximum is None:
        return _no_limit(rule)
    if proposal.reduce_only:
        return _exempt(rule)
    peak = max(snapshot.equity_peak, snapshot.equity)
    if peak <= 0:
        return Verdict(rule, False, f"no positive equity (peak {_fmt(peak)}): drawdown undefined")
    with localcontext(_context()):
        drawdown = (peak - snapshot.equity) / peak
    breached = drawdown_breached(snapshot, limits)
    where = "at or past" if breached else "within"
    return Verdict(
        rule,
        not breached,
        f"drawdown {_fmt_ratio(drawdown)} (equity {_fmt(snapshot.equity)}, peak {_fmt(peak)}) "
        f"{where} max {_fmt(maximum)}",
        value=drawdown,
        limit=maximum,
    )


def check_loss_cooldown(proposal: Proposal, snapshot: Snapshot, limits: Limits) -> Verdict:
    rule = "loss_cooldown"
    cooldown = limits.loss_cooldown
    if cooldown is None:
        return _no_limit(rule)
    if proposal.reduce_only:
        # Closing what is left after a loss is not revenge trading.
        return _exempt(rule)
    if snapshot.last_loss_at is None:
        return Verdict(rule, True, f"no losing trade on {proposal.symbol}")
    elapsed = snapshot.now - snapshot.last_loss_at
    seconds = _seconds(elapsed)
    limit = _seconds(cooldown)
    # The cooldown ends at last_loss_at + cooldown: from that instant trading resumes.
    passed = elapsed >= cooldown
    where = "after" if passed else "within"
    return Verdict(
        rule,
        passed,
        f"{_fmt(seconds)} s since a loss on {proposal.symbol}, {where} cooldown {_fmt(limit)} s",
        value=seconds,
        limit=limit,
    )


def check_orders_per_minute(proposal: Proposal, snapshot: Snapshot, limits: Limits) -> Verdict:
    rule = "max_orders_per_minute"
    maximum = limits.max_orders_per_minute
    if maximum is None:
        return _no_limit(rule)
    # This order would be one more in the window.
    after = snapshot.orders_last_minute + 1
    passed = after <= maximum
    sign = "<=" if passed else ">"
    return Verdict(
        rule,
        passed,
        f"orders in the last minute with this one {after} {sign} max {maximum}",
        value=Decimal(after),
        limit=Decimal(maximum),
    )


CHECKS = (
    check_halted,
    check_reduce_only,
    check_allowed_symbols,
    check_price_deviation,
    check_min_order_value,
    check_max_order_value,
    check_max_order_amount,
    check_max_position,
    check_max_open_positions,
    check_daily_loss,
    check_drawdown,
    check_loss_cooldown,
    check_orders_per_minute,
)


def decide(proposal: Proposal, snapshot: Snapshot, limits: Limits) -> Decision:
    """Run every rule - no short circuit, so the stored decision shows every reason.

    Approved iff every verdict passed; the reason is the first failure's detail, in the
    order of ``RULES`` (the kill switch first).
    """
    verdicts = tuple(check(proposal, snapshot, limits) for check in CHECKS)
    failed = [verdict for verdict in verdicts if not verdict.passed]
    return Decision(
        approved=not failed,
        verdicts=verdicts,
        reason=failed[0].detail if failed else "",
    )
