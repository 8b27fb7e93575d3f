"""Decimal helpers: money never passes through float."""

from __future__ import annotations

from decimal import ROUND_DOWN, ROUND_HALF_EVEN, Decimal, InvalidOperation

ZERO = Decimal(0)

# numeric(38, 18): exact, and wide enough for 18-decimal assets.
MONEY_DIGITS = 38
MONEY_PLACES = 18


def to_decimal(value: object, *, default: Decimal | None = None) -> Decimal | None:
    """Parse an exchange number (str, int, float or None) without float artefacts.

    Floats go through ``str()`` so that 0.1 becomes Decimal("0.1"), never
    Decimal(0.1) = 0.1000000000000000055511151231257827...
    """
    if value is None or value == "":
        return default
    if isinstance(value, Decimal):
        return value
    if isinstance(value, bool):
        raise TypeError("a boolean is not a number")
    try:
        result = Decimal(str(value))
    except InvalidOperation as exc:
        raise ValueError(f"not a number: {value!r}") from exc
    if not result.is_finite():
        raise ValueError(f"not a finite number: {value!r}")
    return result


def quantize_down(value: Decimal, step: Decimal) -> Decimal:
    """Round ``value`` down (toward zero) to a multiple of ``step``."""
    if step <= 0:
        raise ValueError("step must be positive")
    return (value / step).to_integral_value(rounding=ROUND_DOWN) * step


def quantize_nearest(value: Decimal, step: Decimal) -> Decimal:
    """Round ``value`` to the nearest multiple of ``step`` (ties to even)."""
    if step <= 0:
        raise ValueError("step must be positive")
    return (value / step).to_integral_value(rounding=ROUND_HALF_EVEN) * step


def normalize(value: Decimal) -> Decimal:
    """Drop trailing zeros without switching to exponent notation (1E+1 -> 10)."""
    normalized = value.normalize()
    exponent = normalized.as_tuple().exponent
    if isinstance(exponent, int) and exponent > 0:
        return normalized.quantize(Decimal(1))
    return normalized
