"""Portfolio valuation: pure functions over plain values (no queries, no I/O).

Equity of an account is the value of its balances: spot holdings at the last price,
and for derivatives the margin balance, which the exchange already reports with
unrealized P&L included (ccxt's ``total`` for Binance USD-M) - so positions are not
added again. Exposure is per market (spot and perpetual of one pair together):
spot holdings from our fills at the last price plus derivative notional, signed.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from decimal import Decimal

ZERO = Decimal(0)


@dataclass(frozen=True, slots=True)
class BalanceLine:
    account_id: int
    asset: str
    total: Decimal


@dataclass(frozen=True, slots=True)
class PositionLine:
    account_id: int
    symbol: str
    signed_amount: Decimal
    entry_price: Decimal | None
    mark_price: Decimal | None  # derivatives: the exchange's; spot: None
    unrealized: Decimal | None  # derivatives: the exchange's; spot: None (computed here)
    derivative: bool


@dataclass(frozen=True)
class Portfolio:
    reference: str
    equity: Decimal
    equity_by_account: dict[int, Decimal]
    unvalued_assets: list[str]
    exposure: dict[str, Decimal]
    unrealized: Decimal
    realized_today: Decimal
    pnl_today: Decimal = field(init=False)

    def __post_init__(self):
        object.__setattr__(self, "pnl_today", self.realized_today + self.unrealized)


def market_key(symbol: str) -> str:
    """BTC/USDT:USDT and BTC/USDT are one market for exposure."""
    return symbol.split(":")[0]


def asset_price(asset: str, reference: str, prices: dict[str, Decimal]) -> Decimal | None:
    """Price of one unit of ``asset`` in ``reference``, from last prices by market."""
    if asset == reference:
        return Decimal(1)
    direct = prices.get(f"{asset}/{reference}")
    if direct:
        return direct
    inverse = prices.get(f"{reference}/{asset}")
    if inverse:
        return Decimal(1) / inverse
    return None


def value_portfolio(
    *,
    balances: list[BalanceLine],
    positions: list[PositionLine],
    prices: dict[str, Decimal],
    reference: str,
    realized_today: Decimal = ZERO,
) -> Portfolio:
    equity_by_account: dict[int, Decimal] = defaultdict(Decimal)
    unvalued: set[str] = set()
    for line in balances:
        price = asset_price(line.asset, reference, prices)
        if price is None:
            if line.total:
                unvalued.add(line.asset)
            continue
        equity_by_account[line.account_id] += line.total * price
    exposure: dict[str, Decimal] = defaultdict(Decimal)
    unrealized = ZERO
    for line in positions:
        key = market_key(line.symbol)
        last = prices.get(key) or line.mark_price
        if line.derivative:
            mark = line.mark_price or last
            if mark is not None:
                exposure[key] += line.signed_amount * mark
            unrealized += line.unrealized or ZERO
        elif last is not None:
            exposure[key] += line.signed_amount * last
            if line.entry_price is not None:
                unrealized += (last - line.entry_price) * line.signed_amount
    return Portfolio(
        reference=reference,
        equity=sum(equity_by_account.values(), ZERO),
        equity_by_account=dict(equity_by_account),
        unvalued_assets=sorted(unvalued),
        exposure=dict(exposure),
        unrealized=unrealized,
        realized_today=realized_today,
    )
