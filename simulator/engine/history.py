"""Deep kline history: a synthetic market with regimes, generated a UTC day at a time.

Binance serves 1m candles back to a pair's listing; the simulator serves the same depth
(from :data:`HISTORY_START_MS`, Binance's first BTCUSDT day, to the minute the venue
started) without storing any of it. Every candle is a pure function of the market's seed
(``seed``, venue, symbol - :func:`~simulator.engine.market.market_seed`), its filters, its
*anchor* and the time:

Anchor
    The instant at which history's price equals a given price. By default it is the minute
    the venue started and the price is the market's configured ``price``, so history ends
    exactly where the live market (which starts at that price) begins: one seamless series.
    ``SimConfig.history_anchor_ms`` pins it to a fixed instant instead (the configured price
    is then the price *at that instant*, and the live market starts wherever history has got
    to when the venue starts); history is then the same in every process, whenever started.
    The anchor is kept with the venue's state (``--state-dir``), so a restart serves the
    history it served before.

Days
    Each UTC day is generated on its own from random streams seeded by (market, day): its
    regimes, jumps and per-minute draws never depend on another day's *generation*, so any
    day is reachable directly. Days are chained by their opening log-price ``S(d)``:
    ``S(d+1) = S(d) + R(d)``, where the day's total ``R(d)`` is drawn cheaply from the
    day's plan (drift and variance of its regimes, its jumps, the range band's values at its
    two ends) without generating its minutes; the minutes are then a bridge from ``S(d)``
    to ``S(d+1)``. Walking from the anchor to a day in 2019 costs tens of microseconds a
    day, once; the chain is cached (one float a day).

The model (per minute, in log-price; ``sigma0`` is the market's ``history_volatility_bps``)
    * Regimes, switching at hour boundaries with probability :data:`SWITCH_PER_HOUR` (a
      semi-Markov chain: geometric durations, about 16 hours on average): *range* (small
      random walk plus a mean-reverting band: hourly moves smaller than the 1m volatility
      implies), *trend up* / *trend down* (a drift of some 0.2 % an hour, its strength drawn
      per trend), *volatile* (3x the volatility, more jumps). The regime of an hour is
      that of the latest switch before it, found by looking back through the days' plans.
    * Stochastic volatility: a log-volatility AR(1) (half-life about an hour) multiplies
      the regime's volatility, so calm and agitated stretches cluster within regimes too.
    * Jumps: Poisson, 0.1 to 0.8 a day by regime, 1.2 % and up (scaled by ``sigma0``),
      leaning with the trend; each kicks the volatility up.
    * A weak pull (:data:`LEVEL_PULL` a day) toward the anchor price keeps years of history
      in a plausible band around it.
    * Volume rises with the regime's and the minute's volatility and with the size of the
      move, over a daily seasonal curve (busiest around 14:30 UTC); the number of trades
      follows volume; the taker-buy share leans with the move's direction.

Candles: prices are whole ticks and quantities whole steps (held as int64 counts; quote
volumes in units of tick x step, so sums are exact), ``high >= max(open, close)``,
``low <= min(open, close)``, each candle opens at the previous close (a jump moves the
close, not the open), taker-buy volume never exceeds volume. Larger intervals (3m..1d,
all dividing a day) are aggregated from the 1m candles, so a 1h candle *is* its sixty
1m candles.

Memory: generated days (1m and aggregated) live in one process-wide LRU bounded by
:data:`CACHE_BYTES`; the chains, plans and regimes are small. Nothing here is pickled with
the venue's state.
"""

from __future__ import annotations

import math
import threading
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

import numpy as np

MINUTE_MS = 60_000
DAY_MS = 86_400_000
DAY_MINUTES = 1440
HOURS = 24
# 2017-08-17 00:00 UTC: the day of Binance's first BTCUSDT kline. History starts here.
HISTORY_START_MS = 1_502_928_000_000

# Rows of a bars array (shape (COLUMNS, n), int64): open time (ms); open, high, low, close
# in ticks; volume in steps; quote volume in tick x step units; trades; taker-buy volume in
# steps; taker-buy quote volume in tick x step units.
TIME, OPEN, HIGH, LOW, CLOSE, VOLUME, QUOTE, TRADES, TAKER, TAKER_QUOTE = range(10)
COLUMNS = 10

RANGE, TREND_UP, TREND_DOWN, VOLATILE = range(4)
REGIME_NAMES = ("range", "trend_up", "trend_down", "volatile")


@dataclass(frozen=True)
class Regime:
    weight: float  # chance of being picked at a switch
    sigma: float  # random-walk volatility per minute, x sigma0
    drift: float  # drift per minute, x sigma0 (times the trend's strength)
    band: float  # standard deviation of the mean-reverting band, x sigma0
    jumps_per_day: float
    volume: float  # volume multiplier


REGIMES = (
    Regime(weight=0.35, sigma=0.3, drift=0.0, band=4.0, jumps_per_day=0.1, volume=0.75),
    Regime(weight=0.20, sigma=1.0, drift=0.06, band=1.0, jumps_per_day=0.25, volume=1.1),
    Regime(weight=0.20, sigma=1.0, drift=-0.06, band=1.0, jumps_per_day=0.25, volume=1.1),
    Regime(weight=0.25, sigma=3.0, drift=0.0, band=2.0, jumps_per_day=0.8, volume=1.8),
)
_SIGMA = np.array([r.sigma for r in REGIMES])
_DRIFT = np.array([r.drift for r in REGIMES])
_BAND = np.array([r.band for r in REGIMES])
_VOLUME = np.array([r.volume for r in REGIMES])
_CUM_WEIGHTS = np.cumsum([r.weight for r in REGIMES])
_TREND_SIGN = np.array([0, 1, -1, 0])

SWITCH_PER_HOUR = 1 / 16
SV_PHI = math.exp(-1 / 90)  # log-volatility reverts with a half-life of about an hour
SV_SD = 0.35
SV_ETA = SV_SD * math.sqrt(1 - SV_PHI**2)
JUMP_KICK = 0.9  # log-volatility added by a jump
JUMP_BASE = 20.0  # jump size: sigma0 x JUMP_BASE x (1 + exponential(1)) - 1.2 %+ at 6 bps
BAND_PHI = math.exp(-1 / 45)  # the range band reverts within the hour
LEVEL_PULL = 1 / 60  # per day, toward the anchor price
VOLUME_PER_MINUTE = 20  # x the liquidity provider's level quantity, in a calm minute
TRADE_SIZE = 0.15  # x the level quantity: an average trade
_MINUTES = np.arange(DAY_MINUTES)
_SEASON = 1 + 0.3 * np.cos(2 * np.pi * (_MINUTES - 870) / DAY_MINUTES)
MAX_JUMPS_PER_HOUR = 3


def _poisson_cdf(rate: float) -> np.ndarray:
    """P(count <= k) for k = 0..MAX_JUMPS_PER_HOUR - 1."""
    terms = [math.exp(-rate) * rate**k / math.factorial(k) for k in range(MAX_JUMPS_PER_HOUR)]
    return np.cumsum(terms)


_POISSON_CDF = np.array([_poisson_cdf(r.jumps_per_day / HOURS) for r in REGIMES])

# Random streams of a market: (market seed, index, stream).
PLAN_STREAM = 0  # index = chunk of CHUNK_DAYS days
MINUTE_STREAM = 1  # index = day
CHUNK_DAYS = 64
MAX_LOOK_BACK_CHUNKS = 8  # a chunk holds ~96 switches; none in 8 is beyond astronomical

CACHE_BYTES = 8 * 1024 * 1024  # ~75 days of 1m candles: a day regenerates in ~1.5 ms
# Market histories kept (each with its chain, up to CHUNK_CACHE chunks of plans - some
# 160 KB each - and DAY_CACHE days' regimes and jumps): a reset's new anchor is a new one.
MAX_MARKETS = 16
CHUNK_CACHE = 4  # walks are sequential: a chunk, its neighbours
DAY_CACHE = 128


def day_of(ms: int) -> int:
    return ms // DAY_MS


@dataclass(frozen=True)
class Units:
    """A market's tick and step as integer mantissas and decimal exponents, so that counts
    of ticks and steps turn into exact decimal strings without Decimal arithmetic."""

    tick: Decimal
    step: Decimal
    tick_mantissa: int
    tick_places: int
    step_mantissa: int
    step_places: int

    @classmethod
    def of(cls, tick: Decimal, step: Decimal) -> Units:
        tm, tp = _mantissa(tick)
        sm, sp = _mantissa(step)
        return cls(tick, step, tm, tp, sm, sp)

    @property
    def quote_mantissa(self) -> int:
        return self.tick_mantissa * self.step_mantissa

    @property
    def quote_places(self) -> int:
        return self.tick_places + self.step_places

    def price(self, ticks: int) -> Decimal:
        return Decimal(ticks * self.tick_mantissa).scaleb(-self.tick_places)

    def qty(self, steps: int) -> Decimal:
        return Decimal(steps * self.step_mantissa).scaleb(-self.step_places)

    def quote(self, units: int) -> Decimal:
        return Decimal(units * self.quote_mantissa).scaleb(-self.quote_places)

    def ticks(self, price: Decimal) -> int:
        return int((price / self.tick).to_integral_value())

    def steps(self, qty: Decimal) -> int:
        return int((qty / self.step).to_integral_value())

    def quote_units(self, quote: Decimal) -> int:
        return int((quote / (self.tick * self.step)).to_integral_value())


def _mantissa(value: Decimal) -> tuple[int, int]:
    sign, digits, exponent = value.normalize().as_tuple()
    if sign or not isinstance(exponent, int) or not digits:
        raise ValueError(f"tick and step sizes must be positive: {value}")
    mantissa = int("".join(map(str, digits)))
    if exponent > 0:
        return mantissa * 10**exponent, 0
    return mantissa, -exponent


@dataclass(frozen=True)
class HistoryKey:
    """Everything a market's history depends on: equal keys, equal candles."""

    market_seed: int
    tick: Decimal
    step: Decimal
    level_qty: Decimal
    volatility_bps: Decimal
    anchor_ms: int
    anchor_price: Decimal


@dataclass(frozen=True)
class _Chunk:
    """The cheap draws of CHUNK_DAYS consecutive days, from one random stream: per day the
    band, volatility and random-walk total draws; per hour the switch, the regime picked,
    a trend's strength and up to MAX_JUMPS_PER_HOUR jumps' draws."""

    normals: np.ndarray  # (days, 3): band, volatility, total
    switch: np.ndarray  # (days, 24) bool
    choice: np.ndarray  # (days, 24)
    strength: np.ndarray  # (days, 24)
    jump_u: np.ndarray  # (days, 24): how many jumps, by inverse Poisson
    jump_minute: np.ndarray  # (days, 24, MAX_JUMPS_PER_HOUR)
    jump_size: np.ndarray  # (days, 24, MAX_JUMPS_PER_HOUR), exponential(1)
    jump_sign_u: np.ndarray  # (days, 24, MAX_JUMPS_PER_HOUR)


@dataclass(frozen=True)
class _Day:
    """A day's regimes and jumps, and the total of its log-returns before the level pull."""

    regime: np.ndarray  # per hour
    strength: np.ndarray  # per hour
    jump_minutes: np.ndarray
    jump_sizes: np.ndarray
    walk_total: float  # the random walk's total (drift + noise)
    band_start: float
    band_end: float
    sv_start: float
    sv_end: float

    @property
    def total(self) -> float:
        return self.walk_total + float(self.jump_sizes.sum()) + self.band_end - self.band_start


class _ByteLRU:
    """A least-recently-used map bounded by the bytes of its numpy values; thread-safe
    (simulators in one process, each on its own thread, share it)."""

    def __init__(self, budget: int) -> None:
        self.budget = budget
        self.bytes = 0
        self._items: OrderedDict[Any, np.ndarray] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, key: Any) -> np.ndarray | None:
        with self._lock:
            value = self._items.get(key)
            if value is not None:
                self._items.move_to_end(key)
            return value

    def put(self, key: Any, value: np.ndarray) -> None:
        value.flags.writeable = False  # shared by every caller: never edited in place
        with self._lock:
            old = self._items.pop(key, None)
            if old is not None:
                self.bytes -= old.nbytes
            self._items[key] = value
            self.bytes += value.nbytes
            while self.bytes > self.budget and len(self._items) > 1:
                _, evicted = self._items.popitem(last=False)
                self.bytes -= evicted.nbytes

    def clear(self) -> None:
        with self._lock:
            self._items.clear()
            self.bytes = 0


CACHE = _ByteLRU(CACHE_BYTES)


class _SmallLRU:
    def __init__(self, size: int) -> None:
        self.size = size
        self._items: OrderedDict[Any, Any] = OrderedDict()

    def get_or_make(self, key: Any, make: Callable[[], Any]) -> Any:
        value = self._items.get(key)
        if value is None:
            value = self._items[key] = make()
            if len(self._items) > self.size:
                self._items.popitem(last=False)
        else:
            self._items.move_to_end(key)
        return value


class MarketHistory:
    """One market's synthetic history for one anchor. Use :func:`history_for`."""

    def __init__(self, key: HistoryKey) -> None:
        self.key = key
        self.units = Units.of(key.tick, key.step)
        self.sigma0 = float(key.volatility_bps) / 10_000
        self.level_qty = float(key.level_qty)
        self.inv_tick = 1 / float(key.tick)
        self.inv_step = 1 / float(key.step)
        self.level = math.log(float(key.anchor_price))
        self.anchor_day = day_of(key.anchor_ms)
        self.anchor_minute = (key.anchor_ms % DAY_MS) // MINUTE_MS
        self._lock = threading.RLock()
        self._chunks = _SmallLRU(CHUNK_CACHE)
        self._days = _SmallLRU(DAY_CACHE)
        # Opening log-price of each day reached so far, walked from the anchor outward.
        self._opens: dict[int, float] = {}

    # ------------------------------------------------------------------ random streams
    def _rng(self, index: int, stream: int) -> np.random.Generator:
        return np.random.default_rng([self.key.market_seed, index, stream])

    def _chunk(self, index: int) -> _Chunk:
        def make() -> _Chunk:
            rng = self._rng(index, PLAN_STREAM)
            days, jumps = CHUNK_DAYS, MAX_JUMPS_PER_HOUR
            return _Chunk(
                normals=rng.standard_normal((days, 3)),
                switch=rng.random((days, HOURS)) < SWITCH_PER_HOUR,
                choice=np.searchsorted(_CUM_WEIGHTS, rng.random((days, HOURS))),
                strength=rng.uniform(0.5, 1.5, (days, HOURS)),
                jump_u=rng.random((days, HOURS)),
                jump_minute=rng.integers(0, 60, (days, HOURS, jumps)),
                jump_size=rng.exponential(1.0, (days, HOURS, jumps)),
                jump_sign_u=rng.random((days, HOURS, jumps)),
            )

        return self._chunks.get_or_make(index, make)

    def _carried(self, day: int) -> tuple[int, float]:
        """The regime (and strength) in force when ``day`` begins: the latest switch before."""
        index, row = divmod(day, CHUNK_DAYS)
        for _ in range(MAX_LOOK_BACK_CHUNKS):
            chunk = self._chunk(index)
            hours = np.flatnonzero(chunk.switch[:row].ravel())
            if hours.size:
                last = divmod(int(hours[-1]), HOURS)
                return int(chunk.choice[last]), float(chunk.strength[last])
            index, row = index - 1, CHUNK_DAYS
        return RANGE, 1.0

    def _hourly(self, day: int) -> tuple[np.ndarray, np.ndarray]:
        index, row = divmod(day, CHUNK_DAYS)
        chunk = self._chunk(index)
        switch = chunk.switch[row]
        regime = np.where(switch, chunk.choice[row], -1)
        strength = np.where(switch, chunk.strength[row], 0.0)
        if not switch[0]:
            regime[0], strength[0] = self._carried(day)
        # Each hour takes the latest switch's regime: forward-fill the switch hours.
        latest = np.maximum.accumulate(np.where(regime >= 0, np.arange(HOURS), 0))
        return regime[latest], strength[latest]

    def _day(self, day: int) -> _Day:
        def make() -> _Day:
            index, row = divmod(day, CHUNK_DAYS)
            chunk = self._chunk(index)
            regime, strength = self._hourly(day)
            s0 = self.sigma0
            drift = float((_DRIFT[regime] * strength).sum()) * 60 * s0
            variance = float((_SIGMA[regime] ** 2).sum()) * 60 * s0 * s0
            # Jumps per hour: Poisson by its inverse distribution on one uniform draw.
            counts = (chunk.jump_u[row, :, None] > _POISSON_CDF[regime]).sum(axis=1)
            taken = np.arange(MAX_JUMPS_PER_HOUR) < counts[:, None]
            hours = np.nonzero(taken)[0]
            minutes = hours * 60 + chunk.jump_minute[row][taken]
            up = 0.5 + 0.2 * _TREND_SIGN[regime[hours]]
            sign = np.where(chunk.jump_sign_u[row][taken] < up, 1.0, -1.0)
            sizes = sign * s0 * JUMP_BASE * (1 + chunk.jump_size[row][taken])
            band_z, sv_z, total_z = chunk.normals[row]
            next_index, next_row = divmod(day + 1, CHUNK_DAYS)
            following = self._chunk(next_index)
            next_band_z, next_sv_z, _ = following.normals[next_row]
            next_regime = (
                following.choice[next_row, 0] if following.switch[next_row, 0] else regime[-1]
            )
            return _Day(
                regime=regime,
                strength=strength,
                jump_minutes=minutes,
                jump_sizes=sizes,
                walk_total=drift + math.sqrt(variance) * float(total_z),
                band_start=float(_BAND[regime[0]] * s0 * band_z),
                band_end=float(_BAND[next_regime] * s0 * next_band_z),
                sv_start=SV_SD * float(sv_z),
                sv_end=SV_SD * float(next_sv_z),
            )

        return self._days.get_or_make(day, make)

    # ------------------------------------------------------------------ the chain
    def _open(self, day: int) -> float:
        """The log-price at which ``day`` opens (the previous day's last close)."""
        with self._lock:
            opening = self._opens.get(day)
            if opening is not None:
                return opening
            if not self._opens:
                self._start_chain()
            first, last = min(self._opens), max(self._opens)
            for previous in range(first - 1, day - 1, -1):
                # Backwards from the anchor: the pull shrinks the distance to the anchor
                # price as one goes back, as it does going forward.
                following = self._opens[previous + 1]
                total = self._day(previous).total + LEVEL_PULL * (following - self.level)
                self._opens[previous] = following - total
            for current in range(last, day):
                opening = self._opens[current]
                total = self._day(current).total - LEVEL_PULL * (opening - self.level)
                self._opens[current + 1] = opening + total
            return self._opens[day]

    def _start_chain(self) -> None:
        # The anchor day has no pull: its minutes pass through the anchor price at the
        # anchor minute, which fixes where the day opens.
        day = self.anchor_day
        total = self._day(day).total
        steps = self._steps(day, total)
        before = float(np.cumsum(steps)[self.anchor_minute - 1]) if self.anchor_minute else 0.0
        opening = self.level - before
        self._opens = {day: opening, day + 1: opening + total}

    def _total(self, day: int) -> float:
        return self._open(day + 1) - self._open(day)

    # ------------------------------------------------------------------ minutes
    def _minute_draws(self, day: int) -> np.ndarray:
        return self._rng(day, MINUTE_STREAM).standard_normal((8, DAY_MINUTES))

    def _path(self, day: int) -> tuple[np.ndarray, ...]:
        """The day's free path: per-minute log-returns summing to its total before the
        pull, the variance weights that spread a correction, the volatility, the regime
        and the minute draws."""
        info = self._day(day)
        z = self._minute_draws(day)
        regime = np.repeat(info.regime, 60)
        strength = np.repeat(info.strength, 60)
        s0 = self.sigma0
        jumps = np.zeros(DAY_MINUTES)
        np.add.at(jumps, info.jump_minutes, info.jump_sizes)
        kicks = np.zeros(DAY_MINUTES)
        kicks[info.jump_minutes] = JUMP_KICK
        sv = _SV.bridge(info.sv_start, info.sv_end, SV_ETA * z[1] + kicks)
        vol = _SIGMA[regime] * s0 * np.exp(sv - SV_SD * SV_SD)
        walk = _DRIFT[regime] * strength * s0 + vol * z[0]
        weights = vol * vol
        weights /= weights.sum()
        walk += (info.walk_total - walk.sum()) * weights
        band_sd = _BAND[regime] * s0 * math.sqrt(1 - BAND_PHI**2)
        band = _BAND_AR.bridge(info.band_start, info.band_end, band_sd * z[2])
        band_moves = np.diff(band, prepend=info.band_start)
        return walk + jumps + band_moves, weights, vol, regime, z

    def _steps(self, day: int, total: float) -> np.ndarray:
        steps, weights, *_ = self._path(day)
        return steps + (total - float(steps.sum())) * weights

    def minutes(self, day: int) -> np.ndarray:
        """The day's 1440 1m candles as a bars array (cached)."""
        cache_key = (self.key, day, 1)
        cached = CACHE.get(cache_key)
        if cached is not None:
            return cached
        with self._lock:
            bars = self._generate(day)
        CACHE.put(cache_key, bars)
        return bars

    def _generate(self, day: int) -> np.ndarray:
        opening, closing = self._open(day), self._open(day + 1)
        steps, weights, vol, regime, z = self._path(day)
        steps = steps + (closing - opening - float(steps.sum())) * weights
        closes = opening + np.cumsum(steps)
        closes[-1] = closing  # exactly the next day's open, whatever the rounding
        previous = np.concatenate(([opening], closes[:-1]))

        def ticks(log_price: np.ndarray) -> np.ndarray:
            return np.maximum(np.rint(np.exp(log_price) * self.inv_tick), 1).astype(np.int64)

        # The anchor minute's close is the anchor price: exp(log(price)) is off by an ulp,
        # far below half a tick.
        close = ticks(closes)
        open_ = np.concatenate((ticks(np.array([opening])), close[:-1]))
        reach = 0.5 * vol
        high = np.maximum(
            np.maximum(open_, close), ticks(np.maximum(previous, closes) + reach * np.abs(z[3]))
        )
        low = np.minimum(
            np.minimum(open_, close), ticks(np.minimum(previous, closes) - reach * np.abs(z[4]))
        )
        low = np.maximum(low, 1)
        move = np.abs(steps) / self.sigma0
        base = self.level_qty * VOLUME_PER_MINUTE * _VOLUME[regime] * _SEASON
        agitation = vol / (_SIGMA[regime] * self.sigma0)  # the stochastic-volatility factor
        volume_qty = base * agitation * (1 + 0.8 * np.minimum(move, 40)) * np.exp(0.3 * z[5])
        volume = np.maximum(np.rint(volume_qty * self.inv_step), 1).astype(np.int64)
        trades = np.maximum(
            np.rint(volume_qty / (TRADE_SIZE * self.level_qty) * np.exp(0.25 * z[6])), 1
        ).astype(np.int64)
        lean = np.tanh(steps / (1.5 * vol))
        share = np.clip(0.5 + 0.3 * lean + 0.07 * z[7], 0.03, 0.97)
        taker = np.floor(volume * share).astype(np.int64)
        vwap = np.rint((open_ + high + low + close) / 4).astype(np.int64)
        bars = np.empty((COLUMNS, DAY_MINUTES), dtype=np.int64)
        bars[TIME] = day * DAY_MS + _MINUTES * MINUTE_MS
        bars[OPEN], bars[HIGH], bars[LOW], bars[CLOSE] = open_, high, low, close
        bars[VOLUME] = volume
        bars[QUOTE] = volume * vwap
        bars[TRADES] = trades
        bars[TAKER] = taker
        bars[TAKER_QUOTE] = taker * vwap
        return bars

    def aggregated(self, day: int, interval_minutes: int) -> np.ndarray:
        """The day's candles of ``interval_minutes`` (a divisor of a day; cached)."""
        if interval_minutes == 1:
            return self.minutes(day)
        cache_key = (self.key, day, interval_minutes)
        cached = CACHE.get(cache_key)
        if cached is not None:
            return cached
        bars = aggregate(self.minutes(day), interval_minutes * MINUTE_MS)
        CACHE.put(cache_key, bars)
        return bars

    def close_before(self, ms: int) -> int:
        """The close, in ticks, of the minute before ``ms`` (a minute boundary)."""
        minute = ms // MINUTE_MS - 1
        day = minute * MINUTE_MS // DAY_MS
        return int(self.minutes(day)[CLOSE, minute - day * DAY_MINUTES])

    def regimes(self, day: int) -> np.ndarray:
        """The regime of each of the day's minutes (for tests and curious readers)."""
        with self._lock:
            return np.repeat(self._day(day).regime, 60)

    def jump_minutes(self, day: int) -> np.ndarray:
        """The minutes of the day (0..1439) at which the price jumps."""
        with self._lock:
            return np.sort(self._day(day).jump_minutes)


class _AR1:
    """An AR(1) over a day's minutes, vectorised: blocks of BLOCK minutes by one matrix
    product (x[t] = sum over k <= t of phi^(t-k) e[k]), carried from block to block."""

    BLOCK = 120

    def __init__(self, phi: float) -> None:
        lags = np.arange(self.BLOCK)[:, None] - np.arange(self.BLOCK)[None, :]
        self.matrix = np.where(lags >= 0, phi ** np.maximum(lags, 0), 0.0)
        self.carry = phi ** (np.arange(self.BLOCK) + 1)
        # Closing the gap to a given end: over the last stretch, as the process forgets.
        self.pull = phi ** (DAY_MINUTES - 1 - _MINUTES)

    def bridge(self, start: float, end: float, innovations: np.ndarray) -> np.ndarray:
        """From ``start``, ending exactly at ``end``."""
        blocks = innovations.reshape(-1, self.BLOCK) @ self.matrix.T
        level = start
        for block in blocks:
            block += self.carry * level
            level = block[-1]
        path = blocks.ravel()
        return path + (end - path[-1]) * self.pull


_SV = _AR1(SV_PHI)
_BAND_AR = _AR1(BAND_PHI)


def aggregate(bars: np.ndarray, interval_ms: int) -> np.ndarray:
    """Candles of ``interval_ms`` from consecutive candles of a divisor of it (sorted by
    time; any first and last group may be partial)."""
    if bars.shape[1] == 0:
        return bars
    groups = bars[TIME] // interval_ms
    starts = np.flatnonzero(np.diff(groups, prepend=groups[0] - 1))
    ends = np.append(starts[1:], bars.shape[1]) - 1
    out = np.empty((COLUMNS, starts.size), dtype=np.int64)
    out[TIME] = groups[starts] * interval_ms
    out[OPEN] = bars[OPEN, starts]
    out[CLOSE] = bars[CLOSE, ends]
    out[HIGH] = np.maximum.reduceat(bars[HIGH], starts)
    out[LOW] = np.minimum.reduceat(bars[LOW], starts)
    for row in (VOLUME, QUOTE, TRADES, TAKER, TAKER_QUOTE):
        out[row] = np.add.reduceat(bars[row], starts)
    return out


_REGISTRY: OrderedDict[HistoryKey, MarketHistory] = OrderedDict()
_REGISTRY_LOCK = threading.Lock()


def history_for(key: HistoryKey) -> MarketHistory:
    """The (shared, process-wide) history of ``key``."""
    with _REGISTRY_LOCK:
        history = _REGISTRY.get(key)
        if history is None:
            history = _REGISTRY[key] = MarketHistory(key)
            if len(_REGISTRY) > MAX_MARKETS:
                _REGISTRY.popitem(last=False)
        else:
            _REGISTRY.move_to_end(key)
        return history
