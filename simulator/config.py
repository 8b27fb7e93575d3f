"""Simulator configuration: which markets exist and how the synthetic market behaves.

Everything is plain data so a JSON file (``--config``) can override any of it::

    {"tick_ms": 250, "symbols": ["BTC/USDT"], "history_anchor": "2025-01-01T00:00:00Z",
     "markets": {"BTC/USDT": {"price": "65000", "volatility_bps": "3"}}}
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field, fields, replace
from datetime import datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

SPOT = "spot"
FUTURES = "futures"
VENUES = (SPOT, FUTURES)


@dataclass(frozen=True)
class MarketSpec:
    """One symbol on one venue: its filters and how its liquidity provider quotes it."""

    base: str
    quote: str
    price: Decimal  # initial mid
    tick_size: Decimal
    step_size: Decimal
    min_qty: Decimal
    min_notional: Decimal
    # Liquidity provider: levels per side, gap between levels and half spread in ticks,
    # quantity per level in base units.
    lp_levels: int = 10
    lp_half_spread_ticks: int = 1
    lp_level_gap_ticks: int = 5
    lp_level_qty: Decimal = Decimal("1")
    # Random walk: standard deviation of one tick's move, in basis points of the price.
    volatility_bps: Decimal = Decimal("2")
    # Probability per tick that background takers print a trade.
    noise_trade_probability: float = 0.6
    # Kline history (engine/history.py): volatility of one minute in its calm regimes, in
    # basis points (the volatile regime is 3x, jumps and volume scale with it).
    history_volatility_bps: Decimal = Decimal("6")

    @property
    def symbol_id(self) -> str:
        return f"{self.base}{self.quote}"

    @property
    def unified(self) -> str:
        return f"{self.base}/{self.quote}"


def _spec(base: str, price: str, tick: str, step: str, qty: str, gap: int) -> MarketSpec:
    return MarketSpec(
        base=base,
        quote="USDT",
        price=Decimal(price),
        tick_size=Decimal(tick),
        step_size=Decimal(step),
        min_qty=Decimal(step),
        min_notional=Decimal("5"),
        lp_level_qty=Decimal(qty),
        lp_level_gap_ticks=gap,
    )


# Defaults modelled on Binance's own filters for these pairs (spot ticks are finer than
# USD-M ticks on Binance too).
DEFAULT_SPOT: dict[str, MarketSpec] = {
    "BTC/USDT": _spec("BTC", "60000", "0.01", "0.00001", "0.5", 200),
    "ETH/USDT": _spec("ETH", "3000", "0.01", "0.0001", "5", 30),
    "SOL/USDT": _spec("SOL", "150", "0.01", "0.001", "50", 2),
    "BNB/USDT": _spec("BNB", "550", "0.01", "0.001", "20", 5),
}
DEFAULT_FUTURES: dict[str, MarketSpec] = {
    "BTC/USDT": _spec("BTC", "60000", "0.10", "0.001", "0.5", 20),
    "ETH/USDT": _spec("ETH", "3000", "0.01", "0.001", "5", 30),
    "SOL/USDT": _spec("SOL", "150", "0.0100", "0.01", "50", 2),
    "BNB/USDT": _spec("BNB", "550", "0.010", "0.01", "20", 5),
}
DEFAULT_SYMBOLS = ("BTC/USDT", "ETH/USDT", "SOL/USDT")


@dataclass(frozen=True)
class FeeSchedule:
    maker: Decimal
    taker: Decimal


@dataclass(frozen=True)
class SimConfig:
    seed: int = 1
    tick_ms: int = 500
    spot: dict[str, MarketSpec] = field(default_factory=dict)
    futures: dict[str, MarketSpec] = field(default_factory=dict)
    spot_fees: FeeSchedule = FeeSchedule(Decimal("0.001"), Decimal("0.001"))
    futures_fees: FeeSchedule = FeeSchedule(Decimal("0.0002"), Decimal("0.0005"))
    default_leverage: int = 20
    max_leverage: int = 125
    maintenance_margin_rate: Decimal = Decimal("0.004")
    # When kline history's price is each market's configured price (ms). None: the minute
    # the venue starts, so history ends where the live market begins. A fixed instant makes
    # history the same in every process; the live market then starts where it has got to.
    history_anchor_ms: int | None = None

    @classmethod
    def build(
        cls,
        *,
        seed: int = 1,
        symbols: list[str] | tuple[str, ...] | None = None,
        overrides: dict[str, Any] | None = None,
    ) -> SimConfig:
        """Markets for ``symbols`` (spot and their USD-M perpetuals) plus JSON-style overrides."""
        overrides = dict(overrides or {})
        wanted = list(overrides.pop("symbols", None) or symbols or DEFAULT_SYMBOLS)
        market_overrides: dict[str, dict[str, Any]] = overrides.pop("markets", {})
        spot: dict[str, MarketSpec] = {}
        futures: dict[str, MarketSpec] = {}
        for unified in wanted:
            base, _, quote = unified.partition("/")
            if not quote:
                raise ValueError(f"symbol {unified!r} is not BASE/QUOTE")
            template = DEFAULT_SPOT.get(unified) or _spec(base, "100", "0.01", "0.001", "10", 5)
            ftemplate = DEFAULT_FUTURES.get(unified) or template
            extra = _coerce(market_overrides.get(unified, {}))
            spot[template.symbol_id] = replace(template, base=base, quote=quote, **extra)
            futures[ftemplate.symbol_id] = replace(ftemplate, base=base, quote=quote, **extra)
        kwargs: dict[str, Any] = {"seed": seed, "spot": spot, "futures": futures}
        for name in ("seed", "tick_ms", "default_leverage", "max_leverage"):
            if name in overrides:
                kwargs[name] = int(overrides[name])
        if overrides.get("history_anchor") is not None:
            kwargs["history_anchor_ms"] = parse_instant(overrides["history_anchor"])
        if "maintenance_margin_rate" in overrides:
            kwargs["maintenance_margin_rate"] = Decimal(str(overrides["maintenance_margin_rate"]))
        for name in ("spot_fees", "futures_fees"):
            if name in overrides:
                fees = overrides[name]
                kwargs[name] = FeeSchedule(Decimal(str(fees["maker"])), Decimal(str(fees["taker"])))
        return cls(**kwargs)

    @classmethod
    def from_file(cls, path: str | Path, **kwargs: Any) -> SimConfig:
        return cls.build(overrides=json.loads(Path(path).read_text()), **kwargs)


def parse_instant(value: int | str) -> int:
    """Milliseconds since the epoch, from milliseconds or an ISO-8601 instant with its
    offset ("2025-01-01T00:00:00Z")."""
    if isinstance(value, int) or (isinstance(value, str) and value.isdigit()):
        ms = int(value)
    else:
        moment = datetime.fromisoformat(str(value))
        if moment.tzinfo is None:
            raise ValueError(f"history_anchor {value!r} needs a UTC offset (e.g. Z)")
        ms = int(moment.timestamp() * 1000)
    if ms < 0:
        raise ValueError("history_anchor must not be before 1970")
    return ms


def _coerce(values: dict[str, Any]) -> dict[str, Any]:
    """JSON numbers and strings into the MarketSpec field types (Decimal via str, never float)."""
    types = {f.name: f.type for f in fields(MarketSpec)}
    out: dict[str, Any] = {}
    for name, value in values.items():
        if name not in types:
            raise ValueError(f"unknown market setting {name!r}")
        kind = types[name]
        if kind == "Decimal":
            out[name] = Decimal(str(value))
        elif kind == "int":
            out[name] = int(value)
        elif kind == "float":
            out[name] = float(value)
        else:
            out[name] = value
    return out
