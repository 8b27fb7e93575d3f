"""Money rules kept apart from matching: spot fund locks, fees, USD-M margin and P&L.

Pure functions over plain values so the rules can be read (and tested) on their own.
"""

from __future__ import annotations

from decimal import ROUND_DOWN, Decimal

from .model import ZERO, Position

FEE_QUANTUM = Decimal("0.00000001")


def fee(notional: Decimal, rate: Decimal) -> Decimal:
    """Commission on ``notional`` (quote, or base for a spot buy), truncated to 8 places.

    Truncation (not rounding up) guarantees that the fees of many partial fills never add
    up to more than the fee on their total, which is what a spot buy locks up front - so
    a locked balance can never be overdrawn by rounding.
    """
    return (notional * rate).quantize(FEE_QUANTUM, rounding=ROUND_DOWN)


def spot_buy_lock(price: Decimal, qty: Decimal, max_rate: Decimal) -> Decimal:
    """Quote held for a limit buy: cost at the limit price plus the highest fee it can pay."""
    notional = price * qty
    return notional + fee(notional, max_rate)


def apply_fill_to_position(pos: Position, side_buy: bool, price: Decimal, qty: Decimal) -> Decimal:
    """Apply a one-way-mode fill to ``pos``; returns the realized P&L (quote asset).

    Increasing averages the entry price; reducing realizes P&L against the entry and keeps
    it; flipping closes the old side and opens the rest at the fill price.
    """
    signed = qty if side_buy else -qty
    amount = pos.amount
    if amount == 0 or (amount > 0) == side_buy:
        new_amount = amount + signed
        pos.entry_price = (abs(amount) * pos.entry_price + qty * price) / abs(new_amount)
        pos.amount = new_amount
        return ZERO
    closing = min(qty, abs(amount))
    direction = 1 if amount > 0 else -1
    realized = (price - pos.entry_price) * closing * direction
    new_amount = amount + signed
    if new_amount == 0:
        pos.entry_price = ZERO
    elif (new_amount > 0) != (amount > 0):
        pos.entry_price = price
    pos.amount = new_amount
    return realized


def unrealized_pnl(pos: Position, mark: Decimal) -> Decimal:
    return (mark - pos.entry_price) * pos.amount


def liquidation_price(
    wallet: Decimal,
    pos: Position,
    mmr: Decimal,
    other_upnl: Decimal = ZERO,
    other_maint: Decimal = ZERO,
) -> Decimal:
    """Cross-margin liquidation price of one position (Binance's formula, one bracket, cum=0).

    LP = (WB + other uPnL - other MM - side*q*E) / (q*MMR - side*q), clamped at zero.
    """
    if pos.amount == 0:
        return ZERO
    side = 1 if pos.amount > 0 else -1
    qty = abs(pos.amount)
    numerator = wallet + other_upnl - other_maint - side * qty * pos.entry_price
    denominator = qty * mmr - side * qty
    if denominator == 0:
        return ZERO
    price = numerator / denominator
    return price if price > 0 else ZERO
