"""Aware-UTC time helpers. Our clock (created_at) and the venue's (exchange_ts) stay apart."""

from __future__ import annotations

from datetime import UTC, datetime


def from_ms(milliseconds: int | float | str | None) -> datetime | None:
    """An exchange timestamp in milliseconds since the epoch, as an aware UTC datetime."""
    if milliseconds in (None, ""):
        return None
    return datetime.fromtimestamp(int(milliseconds) / 1000, tz=UTC)


def to_ms(moment: datetime) -> int:
    if moment.tzinfo is None:
        raise ValueError("naive datetime: times are aware UTC everywhere")
    return int(moment.timestamp() * 1000)
