"""Deep kline history: determinism, paging as Binance pages, aggregation, the seam with the
live market, and a synthetic market whose regimes a strategy can notice."""

from __future__ import annotations

import json
import math
import urllib.error
import urllib.request
from decimal import Decimal

import numpy as np
import pytest

from simulator.config import SimConfig
from simulator.engine import Exchange, OrderRequest
from simulator.engine import history as hs
from simulator.engine.history import DAY_MS, HISTORY_START_MS, MINUTE_MS
from simulator.rest import serializers as ser
from simulator.server import config_from_args, parse_args
from simulator.testing import run_in_thread

SYMBOL = "BTC/USDT"
HOUR_MS = 60 * MINUTE_MS
# 2026-01-01 00:00 UTC: a fixed start for engine-level tests (an injected clock).
START = 1_767_225_600_000
MARCH_2024 = 1_709_251_200_000  # 2024-03-01 00:00 UTC


def _exchange(seed: int = 1, start: int = START, **overrides) -> Exchange:
    return Exchange(SimConfig.build(seed=seed, overrides=overrides), clock=lambda: start)


def _get(url: str) -> tuple[int, object]:
    try:
        with urllib.request.urlopen(url, timeout=30) as response:  # noqa: S310 - loopback
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read())


def _klines(base: str, path: str = "/api/v3/klines", **params) -> list[list]:
    query = "&".join(f"{k}={v}" for k, v in {"symbol": "BTCUSDT", **params}.items())
    status, body = _get(f"{base}{path}?{query}")
    assert status == 200, body
    return body  # type: ignore[return-value]


def _aggregate(rows: list[list], interval_ms: int) -> list[list]:
    """Binance rows of a smaller interval combined into ``interval_ms`` rows, with Decimal
    sums (the reference the simulator's aggregation is checked against)."""
    groups: dict[int, list[list]] = {}
    for row in rows:
        groups.setdefault(row[0] - row[0] % interval_ms, []).append(row)
    out = []
    for start, group in sorted(groups.items()):
        total = [sum(Decimal(r[i]) for r in group) for i in (5, 7, 9, 10)]
        out.append(
            [
                start,
                Decimal(group[0][1]),
                max(Decimal(r[2]) for r in group),
                min(Decimal(r[3]) for r in group),
                Decimal(group[-1][4]),
                total[0],
                start + interval_ms - 1,
                total[1],
                sum(r[8] for r in group),
                total[2],
                total[3],
            ]
        )
    return out


def _as_decimals(rows: list[list]) -> list[list]:
    return [
        [r[0], *(Decimal(x) for x in r[1:6]), r[6], Decimal(r[7]), r[8], *map(Decimal, r[9:11])]
        for r in rows
    ]


# ---------------------------------------------------------------------- determinism
def test_history_is_the_same_for_the_same_seed_and_start_and_differs_by_seed():
    march = MARCH_2024
    first = _exchange().market("spot", "BTCUSDT")
    second = _exchange().market("spot", "BTCUSDT")
    hs.CACHE.clear()  # regenerated, not read back from the first one's cache
    # The second walks the chain in another order: a recent day first, then 2024.
    second.klines(MINUTE_MS, START - DAY_MS, None, 10, START)
    for mkt in (first, second):
        assert mkt.klines(MINUTE_MS, march, None, 1000, START).shape == (10, 1000)
    pages = [
        mkt.klines(interval, march, None, 1000, START)
        for mkt in (first, second)
        for interval in (MINUTE_MS, HOUR_MS)
    ]
    assert np.array_equal(pages[0], pages[2])
    assert np.array_equal(pages[1], pages[3])

    other = _exchange(seed=2).market("spot", "BTCUSDT")
    assert not np.array_equal(other.klines(MINUTE_MS, march, None, 1000, START), pages[0])
    swap = _exchange().market("futures", "BTCUSDT")  # another market: another history
    swap_page = swap.klines(MINUTE_MS, march, None, 1000, START)
    assert not np.array_equal(swap_page[hs.CLOSE], pages[0][hs.CLOSE])


def test_a_pinned_anchor_gives_the_same_history_in_simulators_started_days_apart():
    anchor = {"history_anchor": "2025-06-01T00:00:00Z"}
    early = _exchange(start=START, **anchor).market("spot", "BTCUSDT")
    late = _exchange(start=START + 3 * DAY_MS + 17 * MINUTE_MS, **anchor).market("spot", "BTCUSDT")
    for since in (MARCH_2024, START - 2 * DAY_MS):
        assert np.array_equal(
            early.klines(MINUTE_MS, since, None, 1000, START),
            late.klines(MINUTE_MS, since, None, 1000, START),
        )
    # The configured price is the price at the anchor; the live market starts where
    # history got to at each one's start.
    at_anchor = early.klines(MINUTE_MS, None, 1_748_736_000_000 - 1, 1, START)
    assert early.units.price(int(at_anchor[hs.CLOSE, 0])) == Decimal("60000")
    for mkt, start in ((early, START), (late, START + 3 * DAY_MS + 17 * MINUTE_MS)):
        before = mkt.klines(MINUTE_MS, None, start - start % MINUTE_MS - 1, 1, start)
        assert mkt.mid == mkt.units.price(int(before[hs.CLOSE, 0]))
    assert early.mid != late.mid


def test_the_anchor_is_given_as_milliseconds_or_an_iso_instant_with_its_offset():
    new_year = 1_735_689_600_000  # 2025-01-01 00:00 UTC
    args = parse_args(["--history-anchor", "2025-01-01T01:00:00+01:00"])
    assert config_from_args(args).history_anchor_ms == new_year
    assert SimConfig.build(overrides={"history_anchor": new_year}).history_anchor_ms == new_year
    assert config_from_args(parse_args([])).history_anchor_ms is None  # the start
    with pytest.raises(ValueError, match="UTC offset"):
        SimConfig.build(overrides={"history_anchor": "2025-01-01T00:00:00"})


def test_two_running_simulators_with_one_seed_and_anchor_answer_identical_bytes():
    config = SimConfig.build(seed=5, overrides={"history_anchor": 1_760_000_000_000})
    other_seed = SimConfig.build(seed=6, overrides={"history_anchor": 1_760_000_000_000})
    handles = [run_in_thread(config=c, paused=True) for c in (config, config, other_seed)]
    try:
        query = f"/fapi/v1/klines?symbol=ETHUSDT&interval=15m&startTime={MARCH_2024}&limit=1500"
        answers = []
        for handle in handles:
            with urllib.request.urlopen(handle.url + query, timeout=30) as response:  # noqa: S310
                answers.append(response.read())
    finally:
        for handle in handles:
            handle.stop()
    assert len(json.loads(answers[0])) == 1500
    assert answers[0] == answers[1]
    assert answers[0] != answers[2]


def test_an_evicted_day_is_regenerated_identically_and_the_cache_keeps_its_budget(monkeypatch):
    monkeypatch.setattr(hs.CACHE, "budget", 600_000)  # about five days of 1m candles
    hs.CACHE.clear()
    mkt = _exchange().market("spot", "ETHUSDT")
    since = START - 20 * DAY_MS
    first = mkt.klines(MINUTE_MS, since, None, 1000, START)
    for day in range(20):
        mkt.klines(MINUTE_MS, since + day * DAY_MS, None, 1000, START)
        assert hs.CACHE.bytes <= 600_000
    assert np.array_equal(mkt.klines(MINUTE_MS, since, None, 1000, START), first)


# ---------------------------------------------------------------------- candles
def test_history_candles_are_well_formed_and_end_at_the_configured_price():
    mkt = _exchange().market("spot", "BTCUSDT")
    assert mkt.seam_ms == START
    month = np.concatenate(
        [mkt.klines(MINUTE_MS, START - 30 * DAY_MS + i * 1000 * MINUTE_MS, START - 1, 1000,
                    START) for i in range(44)],
        axis=1,
    )  # fmt: skip
    o, h, lo, c = (month[r] for r in (hs.OPEN, hs.HIGH, hs.LOW, hs.CLOSE))
    assert month.shape[1] == 30 * 1440
    assert np.array_equal(np.diff(month[hs.TIME]), np.full(month.shape[1] - 1, MINUTE_MS))
    assert np.array_equal(o[1:], c[:-1])  # each candle opens at the previous close
    assert (h >= np.maximum(o, c)).all() and (lo <= np.minimum(o, c)).all() and (lo > 0).all()
    assert (month[hs.TAKER] <= month[hs.VOLUME]).all() and (month[hs.VOLUME] > 0).all()
    assert (month[hs.TAKER_QUOTE] <= month[hs.QUOTE]).all() and (month[hs.TRADES] > 0).all()
    # Quote volume ~ volume x price: the implied price lies within the candle.
    implied = month[hs.QUOTE] / month[hs.VOLUME]
    assert ((implied >= lo) & (implied <= h)).all()
    assert mkt.units.price(int(c[-1])) == Decimal("60000")  # history ends at the price...
    assert mkt.mid == Decimal("60000")  # ...where the live market starts


def _month(seed: int):
    """30 days of 1m history before START: log-returns, volumes, regime of each minute."""
    mkt = _exchange(seed=seed).market("spot", "BTCUSDT")
    history = mkt.history()
    days = range(hs.day_of(START) - 30, hs.day_of(START))
    bars = np.concatenate([history.minutes(d) for d in days], axis=1)
    regime = np.concatenate([history.regimes(d) for d in days])
    jumps = np.concatenate([i * 1440 + history.jump_minutes(d) for i, d in enumerate(days)])
    returns = np.log(bars[hs.CLOSE] / bars[hs.OPEN])
    return returns, bars[hs.VOLUME].astype(float), regime, jumps


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_the_regimes_are_noticeable_where_a_gaussian_random_walk_shows_nothing(seed):
    returns, volume, regime, jumps = _month(seed)
    size = np.abs(returns)
    # Volatility clusters (a random walk's |returns| are uncorrelated) and tails are fat
    # (kurtosis 3 for a Gaussian).
    assert np.corrcoef(size[:-1], size[1:])[0, 1] > 0.1
    assert ((returns - returns.mean()) ** 4).mean() / returns.var() ** 2 > 10
    # The volatile regime is clearly more volatile than the range.
    volatile = returns[regime == hs.VOLATILE].std()
    ranging = returns[regime == hs.RANGE].std()
    assert volatile > 2 * ranging
    # The range mean-reverts: hourly moves smaller than sixty 1m moves imply.
    hours = returns.reshape(-1, 60)
    in_range = regime[::60] == hs.RANGE
    ratio = hours[in_range].sum(axis=1).var() / (60 * hours[in_range].var())
    assert ratio < 0.85
    # Trends drift their way: sizable net moves, directional on average.
    directional, moves = [], []
    labels = regime[::60]
    start = 0
    for end in [*np.flatnonzero(np.diff(labels)) + 1, labels.size]:
        if labels[start] in (hs.TREND_UP, hs.TREND_DOWN) and end - start >= 6:
            sign = 1 if labels[start] == hs.TREND_UP else -1
            segment = returns[start * 60 : end * 60]
            moves.append(sign * segment.sum())
            directional.append(moves[-1] / (segment.std() * math.sqrt(segment.size)))
        start = end
    assert max(moves) > 0.05
    assert np.mean(directional) > 1
    # Jumps: rare, and each a move far beyond the minutes around it.
    assert 1 <= jumps.size <= 40
    local = [
        size[m] / np.median(np.concatenate([size[max(0, m - 60) : m], size[m + 1 : m + 61]]))
        for m in jumps
    ]
    assert max(local) > 20
    # Volume rises with the size of the move and with the regime's volatility.
    assert np.corrcoef(np.log(volume), size)[0, 1] > 0.3
    assert volume[regime == hs.VOLATILE].mean() > 1.5 * volume[regime == hs.RANGE].mean()


# ---------------------------------------------------------------------- through the API
@pytest.fixture
def seam(sim) -> int:
    return sim.call(lambda s: s.exchange.market("spot", "BTCUSDT").seam_ms)


@pytest.fixture
def now(sim):
    return lambda: sim.call(lambda s: s.exchange.now())


def _page_through(fetch, start: int, stop: int, limit: int) -> list[list]:
    rows: list[list] = []
    since = start
    while since < stop:
        page = fetch(since, limit)
        assert page, f"no candles from {since}"
        assert len(page) == min(limit, (stop - since) // MINUTE_MS)
        rows.extend(page)
        since = page[-1][0] + MINUTE_MS
    return rows


def test_thirty_days_of_1m_page_through_ccxt_without_gap_or_duplicate(make_client, seam):
    spot = make_client()
    spot.enableRateLimit = False  # the test measures paging, not ccxt's throttle
    start = seam - seam % DAY_MS - 31 * DAY_MS
    stop = start + 30 * DAY_MS

    def unified(since: int, limit: int) -> list[list]:
        return spot.fetch_ohlcv(SYMBOL, "1m", since, limit, params={"until": stop - 1})

    candles = _page_through(unified, start, stop, 1000)
    assert len(candles) == 43_200
    assert [c[0] for c in candles] == list(range(start, stop, MINUTE_MS))

    def raw(since: int, limit: int) -> list[list]:
        params = {"symbol": "BTCUSDT", "interval": "1m", "startTime": since, "limit": limit}
        return spot.publicGetKlines({**params, "endTime": stop - 1})

    thousands = _page_through(raw, start, stop, 1000)
    assert _page_through(raw, start, stop, 700) == thousands
    assert [[r[0], *map(float, r[1:6])] for r in thousands] == candles


def test_usdm_pages_of_1500_equal_pages_of_1000(make_client, seam):
    swap = make_client(market_type="swap")
    swap.enableRateLimit = False
    start = seam - seam % DAY_MS - 3 * DAY_MS
    stop = start + 3 * DAY_MS

    def raw(since: int, limit: int) -> list[list]:
        params = {"symbol": "BTCUSDT", "interval": "1m", "startTime": since, "limit": limit}
        return swap.fapiPublicGetKlines({**params, "endTime": stop - 1})

    pages = _page_through(raw, start, stop, 1500)
    assert len(pages) == 3 * 1440
    assert _page_through(raw, start, stop, 1000) == pages
    assert all("." not in row[1] or not row[1].endswith("0") for row in pages)  # USD-M: plain


@pytest.mark.parametrize(
    ("interval", "ms"), [("3m", 3), ("5m", 5), ("15m", 15), ("1h", 60), ("4h", 240), ("1d", 1440)]
)
def test_every_interval_is_the_aggregation_of_its_1m_candles(sim, seam, interval, ms):
    start = seam - seam % DAY_MS - 2 * DAY_MS
    stop = start + 2 * DAY_MS
    minutes = []
    for page in range(3):
        since = start + page * 1000 * MINUTE_MS
        minutes += _klines(sim.url, interval="1m", startTime=since, endTime=stop - 1, limit=1000)
    bigger = _klines(sim.url, interval=interval, startTime=start, endTime=stop - 1, limit=1000)
    assert len(minutes) == 2 * 1440
    assert len(bigger) == 2 * 1440 // ms
    assert _as_decimals(bigger) == _aggregate(minutes, ms * MINUTE_MS)


def test_history_and_the_live_market_join_without_gap_or_duplicate(
    sim, make_account, make_client, seam, now
):
    hour = seam - seam % HOUR_MS
    before = _klines(sim.url, interval="1m", startTime=seam - 90 * MINUTE_MS, endTime=seam - 1)
    assert before[-1][0] == seam - MINUTE_MS
    assert before[-1][4] == "60000.00000000"  # history ends at the configured price

    buyer = make_client(make_account(spot={"USDT": "100000"}))
    trade = buyer.create_order(SYMBOL, "market", "buy", 0.01)
    asked = now()
    series = _klines(sim.url, interval="1m", startTime=seam - 90 * MINUTE_MS)
    answered = now()
    times = [r[0] for r in series]
    assert times == list(range(seam - 90 * MINUTE_MS, times[-1] + 1, MINUTE_MS))
    # Up to the minute in progress, no further.
    assert asked - asked % MINUTE_MS <= times[-1] <= answered - answered % MINUTE_MS
    assert series[:90] == before
    live = series[90:]
    assert abs(Decimal(live[0][1]) - Decimal("60000")) <= Decimal("0.01")  # opens at the end
    traded = next(r for r in live if Decimal(r[5]) > 0)
    assert Decimal(traded[5]) == Decimal("0.01")
    assert Decimal(traded[4]) == Decimal(str(trade["average"]))
    assert all(Decimal(r[5]) == 0 and r[1] == r[4] for r in live if r is not traded)

    # The hour holding the seam is one candle of history's minutes and live ones.
    (hourly,) = _klines(sim.url, interval="1h", startTime=hour, limit=1)
    minutes = _klines(sim.url, interval="1m", startTime=hour, endTime=hour + HOUR_MS - 1)
    assert _as_decimals([hourly]) == _aggregate(minutes, HOUR_MS)
    # Paging across the seam: pages that split at it give the same series.
    split = _klines(sim.url, interval="1m", startTime=seam - 90 * MINUTE_MS, limit=89)
    split += _klines(sim.url, interval="1m", startTime=seam - MINUTE_MS)
    assert split == series


def test_paging_follows_binance(sim, seam, now):
    url = sim.url
    assert len(_klines(url, interval="1m")) == 500  # the default: the latest 500
    asked = now()
    latest = _klines(url, interval="5m", limit=3)
    answered = now()
    # The candle in progress.
    assert asked - asked % 300_000 <= latest[-1][0] <= answered - answered % 300_000
    assert len(_klines(url, interval="1m", limit=5000)) == 1000  # spot answers at most 1000
    futures = _klines(url, "/fapi/v1/klines", interval="1m", limit=5000)
    assert len(futures) == 1500  # USD-M at most 1500

    # startTime alone: from there forward; mid-interval, from the next candle that opens.
    (row,) = _klines(url, interval="1h", startTime=MARCH_2024 + 1, limit=1)
    assert row[0] == MARCH_2024 + HOUR_MS
    # endTime alone: the `limit` candles up to it.
    rows = _klines(url, interval="1h", endTime=MARCH_2024 + 30 * MINUTE_MS, limit=4)
    assert [r[0] for r in rows] == [MARCH_2024 + (i - 3) * HOUR_MS for i in range(4)]
    # Both: inside the window, at most `limit`.
    rows = _klines(url, interval="1d", startTime=MARCH_2024, endTime=MARCH_2024 + 9 * DAY_MS)
    assert len(rows) == 10
    assert len(_klines(url, interval="1d", startTime=MARCH_2024, limit=3)) == 3
    # History begins at the listing: nothing before it, a page from before starts there.
    assert _klines(url, interval="1d", endTime=HISTORY_START_MS - 1) == []
    assert _klines(url, interval="1d", startTime=0, limit=2)[0][0] == HISTORY_START_MS
    # Nothing from the future.
    assert _klines(url, interval="1m", startTime=now() + HOUR_MS) == []
    ahead = _klines(url, interval="1m", startTime=seam, endTime=now() + DAY_MS)
    assert ahead[-1][0] <= now()


def test_kline_errors_are_binances(sim):
    status, body = _get(f"{sim.url}/api/v3/klines?symbol=BTCUSDT&interval=7m")
    assert (status, body) == (400, {"code": -1120, "msg": "Invalid interval."})
    status, body = _get(
        f"{sim.url}/fapi/v1/klines?symbol=BTCUSDT&interval=1m&startTime=2000&endTime=1000"
    )
    assert (status, body) == (400, {"code": -1023, "msg": "Start time is greater than end time."})
    status, body = _get(f"{sim.url}/api/v3/klines?symbol=NOPE&interval=1m")
    assert (status, body["code"]) == (400, -1121)
    status, body = _get(f"{sim.url}/api/v3/klines?symbol=BTCUSDT&interval=1m&startTime=x")
    assert (status, body["code"]) == (400, -1100)


@pytest.mark.parametrize(("tick", "step"), [(None, None), ("0.05", "1"), ("0.0000001", "0.01")])
def test_kline_json_is_what_d8_and_plain_write(tick, step):
    """The digit-matrix writer against Decimal through d8 (spot) and plain (USD-M): default
    markets, a tick that is no power of ten, and more than eight decimals (d8 rounds)."""
    markets = {"BTC/USDT": {"tick_size": tick, "step_size": step}} if tick else {}
    exchange = _exchange(symbols=["BTC/USDT", "ETH/USDT", "SOL/USDT"], markets=markets)
    for venue, futures in (("spot", False), ("futures", True)):
        for mkt in exchange.markets[venue].values():
            bars = mkt.klines(HOUR_MS, START - 10 * DAY_MS, None, 1000, START)
            quiet = bars.copy()
            quiet[hs.VOLUME :] = 0  # no volume: "0" and "0.00000000"
            for rows in (bars, quiet):
                text = ser.klines_json(rows, mkt.units, HOUR_MS, futures)
                assert json.loads(text) == ser.kline_rows(rows, mkt.units, HOUR_MS, futures)


# ---------------------------------------------------------------------- the engine
def test_a_market_saved_before_history_existed_keeps_its_live_candles(monkeypatch):
    exchange = _exchange()
    exchange.create_account(account_id="a", spot_balances={"USDT": Decimal("100000")})
    clock = START + 5 * MINUTE_MS + 1234
    monkeypatch.setattr(exchange, "now", lambda: clock)
    exchange.place_spot_order("a", OrderRequest("BTCUSDT", "BUY", "MARKET", Decimal("0.1")))
    mkt = exchange.market("spot", "BTCUSDT")
    first = mkt.candles[0]
    for name in ("seed", "seam_ms", "anchor_ms", "anchor_price"):
        del mkt.__dict__[name]  # as a state file from before this code left it

    exchange.restored()
    assert mkt.seam_ms == first.open_time
    rows = mkt.klines(MINUTE_MS, first.open_time - 2 * MINUTE_MS, None, 10, clock)
    assert rows[hs.TIME, 2] == first.open_time
    assert mkt.units.price(int(rows[hs.CLOSE, 1])) == first.open  # history ends at its open
    assert mkt.units.qty(int(rows[hs.VOLUME, 2])) == first.volume
