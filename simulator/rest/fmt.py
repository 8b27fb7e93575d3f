"""Number formatting: Binance sends prices, quantities and balances as strings."""

from __future__ import annotations

from decimal import Decimal

import numpy as np

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


# ---------------------------------------------------------------------- columns of counts
# Kline pages are up to 1500 rows of eight decimals: written as ASCII digit matrices (one
# row per number, leading and trailing padding as 0 bytes that the caller drops), the same
# text as d8 / plain, about twice as fast as a Python loop over the numbers.
_POWERS = 10 ** np.arange(19, dtype=np.int64)
DOT, ZERO_DIGIT = 46, 48


def int_digits(values: np.ndarray) -> np.ndarray:
    """Non-negative int64s as an (n, width) uint8 matrix of ASCII digits, no leading zeros
    (0 bytes in their place)."""
    width = len(str(int(values.max()))) if values.size else 1
    digits = (values[:, None] // _POWERS[width - 1 :: -1]) % 10 + ZERO_DIGIT
    count = np.searchsorted(_POWERS[1:], values, side="right") + 1
    keep = np.arange(width)[None, :] >= (width - count)[:, None]
    return np.where(keep, digits, 0).astype(np.uint8)


def decimal_digits(values: np.ndarray, places: int, spot: bool) -> list[np.ndarray]:
    """``values x 10^-places`` as digit matrices to put side by side: like ``d8`` (spot:
    eight places; ``places`` must be <= 8) or ``plain`` (no trailing zeros, no dot for a
    whole number)."""
    n = values.size
    if places == 0:
        whole = int_digits(values)
        if not spot:
            return [whole]
        return [whole, np.full((n, 1), DOT, np.uint8), np.full((n, 8), ZERO_DIGIT, np.uint8)]
    whole, fraction = np.divmod(values, _POWERS[places])
    digits = ((fraction[:, None] // _POWERS[places - 1 :: -1]) % 10 + ZERO_DIGIT).astype(np.uint8)
    if spot:
        padding = np.full((n, 8 - places), ZERO_DIGIT, np.uint8)
        return [int_digits(whole), np.full((n, 1), DOT, np.uint8), digits, padding]
    zeros = np.zeros(n, dtype=np.int64)  # trailing zeros of each fraction
    for k in range(1, places + 1):
        zeros += fraction % _POWERS[k] == 0
    digits[np.arange(places)[None, :] >= (places - zeros)[:, None]] = 0
    dot = np.where(zeros == places, 0, DOT).astype(np.uint8)[:, None]
    return [int_digits(whole), dot, digits]
