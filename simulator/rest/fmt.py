"""Number formatting: Binance sends prices, quantities and balances as strings."""

from __future__ import annotations

from decimal import Decimal

_EIGHT = Decimal("0.00000001")


def d8(value: Decimal) -> str:
    """Spot style: always 8 decimals ("0.00100000")."""
    return f"{value.quantize(_EIGHT):f}"


def plain(value: Decimal) -> str:
    """USD-M style: no exponent, no trailing zeros ("60000.1", "0")."""
    if not value:
        return "0"
    text = f"{value:f}"
    if "." in text:
        text = text.rstrip("0").rstrip(".")
    return text


def fixed(value: Decimal, places: int) -> str:
    return f"{value.quantize(Decimal(1).scaleb(-places)):f}"


def places(step: Decimal) -> int:
    """Decimal places of a tick or step size (0.01 -> 2, 1 -> 0)."""
    exponent = step.normalize().as_tuple().exponent
    return max(0, -exponent) if isinstance(exponent, int) else 0
