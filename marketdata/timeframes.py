"""Timeframes as ccxt names them ("1m", "4h", "1d"), as plain arithmetic: no ccxt import,
so the web process can check and page candles without loading it.

Only fixed-length timeframes (seconds to weeks) are supported: a month has no fixed
length, so neither its gaps nor its paging could be computed from the open time alone.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime

from common.exceptions import ValidationFailed

UNIT_MS = {"s": 1_000, "m": 60_000, "h": 3_600_000, "d": 86_400_000, "w": 604_800_000}
_TIMEFRAME = re.compile(r"^([1-9][0-9]{0,2})([smhdw])$")


def timeframe_ms(timeframe: str) -> int:
    """The length of one candle of ``timeframe`` in milliseconds; a clear 400 otherwise."""
    match = _TIMEFRAME.match(timeframe or "")
    if match is None:
        raise ValidationFailed(
            f"Unsupported timeframe {timeframe!r}: use a number and one of s, m, h, d, w "
            "(e.g. 1m, 15m, 1h, 1d).",
            extra={"field": "timeframe"},
        )
    return int(match.group(1)) * UNIT_MS[match.group(2)]


def floor_ms(ms: int, timeframe: str) -> int:
    """The open time of the ``timeframe`` candle that ``ms`` falls in (epoch-aligned, as
    exchanges align them; a week starts on Monday, 4 days after the epoch's Thursday)."""
    step = timeframe_ms(timeframe)
    offset = 4 * UNIT_MS["d"] if timeframe.endswith("w") else 0
    return (ms - offset) // step * step + offset


def to_ms(moment: datetime) -> int:
    return int(moment.timestamp() * 1000)


def from_ms(ms: int) -> datetime:
    return datetime.fromtimestamp(ms / 1000, tz=UTC)
