"""A market's trading rules and rounding, Decimal in and Decimal out.

ccxt describes precision in one of three modes; Binance uses TICK_SIZE (the step
itself, e.g. 0.00001). ccxt hands numbers over as floats, so each one is parsed
through str() before it touches a Decimal.

The modes are ccxt's numbers, copied here: ``import ccxt`` loads every exchange module
(some 65 MB), and the web process reads market rules from the cache without it.
accounts/tests/test_precision.py checks that they still equal ccxt's.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from common.decimal import quantize_down, quantize_nearest, to_decimal

# An exchange's ``precisionMode``: ccxt.DECIMAL_PLACES, SIGNIFICANT_DIGITS and TICK_SIZE.
DECIMAL_PLACES = 2
SIGNIFICANT_DIGITS = 3
TICK_SIZE = 4


class PrecisionError(ValueError):
    """The market's precision cannot be expressed as a step (e.g. significant digits)."""


def _step(value: object, precision_mode: int) -> Decimal | None:
    if value is None:
        return None
    if precision_mode == TICK_SIZE:
        return to_decimal(value)
    if precision_mode == DECIMAL_PLACES:
        return Decimal(1).scaleb(-int(value))
    raise PrecisionError(
        "This exchange states precision in significant digits, which has no fixed step; "
        "it is not supported yet."
    )


@dataclass(frozen=True, slots=True)
class MarketRules:
    symbol: str
    base: str
    quote: str
    amount_step: Decimal | None
    price_tick: Decimal | None
    min_amount: Decimal | None
    max_amount: Decimal | None
    min_cost: Decimal | None
    contract_size: Decimal | None

    @classmethod
    def from_ccxt(cls, market: dict, *, precision_mode: int) -> MarketRules:
        precision = market.get("precision") or {}
        limits = market.get("limits") or {}
        amount_limits = limits.get("amount") or {}
        cost_limits = limits.get("cost") or {}
        return cls(
            symbol=market["symbol"],
            base=market["base"],
            quote=market["quote"],
            amount_step=_step(precision.get("amount"), precision_mode),
            price_tick=_step(precision.get("price"), precision_mode),
            min_amount=to_decimal(amount_limits.get("min")),
            max_amount=to_decimal(amount_limits.get("max")),
            min_cost=to_decimal(cost_limits.get("min")),
            contract_size=to_decimal(market.get("contractSize")),
        )

    def round_amount(self, amount: Decimal) -> Decimal:
        """Round an order amount DOWN to the step: never send more than was decided."""
        if self.amount_step is None:
            return amount
        return quantize_down(amount, self.amount_step)

    def round_price(self, price: Decimal) -> Decimal:
        """Round a price to the NEAREST tick: the smallest change to what the user asked.

        Callers that need a side-safe price (a stop that must not move past a level)
        round themselves with ``round_price_toward``.
        """
        if self.price_tick is None:
            return price
        return quantize_nearest(price, self.price_tick)

    def round_price_toward(self, price: Decimal, *, up: bool) -> Decimal:
        if self.price_tick is None:
            return price
        down = quantize_down(price, self.price_tick)
        if up and down < price:
            return down + self.price_tick
        return down
