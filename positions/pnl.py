"""Spot holdings and realized P&L from our own fills, by average cost. Pure functions.

Derivative positions never come through here: their entry, mark, liquidation price and
unrealized P&L are the exchange's (DESIGN.md, "P&L"). Spot has no exchange positions, so
a holding is built from fills:

- a buy adds to the holding; its cost (price x amount, plus a fee paid in the quote
  asset) raises the average cost; a fee paid in the base asset means fewer coins held;
- a sell realizes (price - average cost) x amount, less a fee paid in the quote asset;
  a fee paid in the base asset costs those coins at average cost;
- a sell of more than the fills explain (coins held from before, deposits) realizes
  nothing on the excess, whose cost we do not know, and leaves the holding at zero;
- a fee in a third asset (BNB) is recorded on the fill but not in the cost basis.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from decimal import Decimal

ZERO = Decimal(0)


@dataclass(frozen=True, slots=True)
class Holding:
    amount: Decimal = ZERO  # base asset held, from fills
    average_cost: Decimal = ZERO  # quote per base, fees included
    realized: Decimal = ZERO  # quote asset, cumulative

    @property
    def cost(self) -> Decimal:
        return self.amount * self.average_cost

    def unrealized(self, price: Decimal) -> Decimal:
        return (price - self.average_cost) * self.amount


@dataclass(frozen=True, slots=True)
class SpotFill:
    side: str  # "buy" or "sell"
    amount: Decimal
    price: Decimal
    fee: Decimal
    fee_asset: str
    base: str
    quote: str


@dataclass(frozen=True, slots=True)
class Applied:
    holding: Holding
    realized: Decimal  # what this fill realized (quote asset)


def apply_fill(holding: Holding, fill: SpotFill) -> Applied:
    fee_in_quote = fill.fee if fill.fee_asset == fill.quote else ZERO
    fee_in_base = fill.fee if fill.fee_asset == fill.base else ZERO
    if fill.side == "buy":
        received = fill.amount - fee_in_base
        amount = holding.amount + received
        if amount <= 0:
            return Applied(holding, ZERO)
        cost = holding.cost + fill.amount * fill.price + fee_in_quote
        return Applied(replace(holding, amount=amount, average_cost=cost / amount), ZERO)

    covered = min(fill.amount, holding.amount)
    realized = (fill.price - holding.average_cost) * covered
    # The quote fee is charged on the whole sale; only the covered part has a known cost.
    realized -= fee_in_quote * (covered / fill.amount) if fill.amount else ZERO
    remaining = holding.amount - covered
    if fee_in_base:
        paid = min(fee_in_base, remaining)
        realized -= paid * holding.average_cost
        remaining -= paid
    average_cost = holding.average_cost if remaining > 0 else ZERO
    return Applied(
        Holding(amount=remaining, average_cost=average_cost, realized=holding.realized + realized),
        realized,
    )
