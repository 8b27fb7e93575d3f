"""Writes of market data: candles stored once, backfilled from the venue with its gaps
filled.

Idempotency lives in the unique (venue, symbol, timeframe, open time): a candle fetched
twice is one row. A closed candle is the venue's final word and replaces whatever was
stored; a forming one replaces only a forming one with no more volume than it has (a
forming bar's volume only grows, so an update that arrives late or twice changes
nothing), never a closed one.
"""

from __future__ import annotations

import functools
import logging
import time
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from decimal import Decimal

from django.core.cache import cache
from django.db import transaction
from django.utils import timezone

from accounts import gateway
from accounts.models import ExchangeAccount
from common.db import upsert
from common.exceptions import ServiceUnavailable, ValidationFailed
from marketdata import signals
from marketdata.models import Candle, Subscription
from marketdata.timeframes import floor_ms, from_ms, timeframe_ms, to_ms
from marketdata.venues import venue_of

logger = logging.getLogger(__name__)

# The most candles one request may ask for, where ccxt's own ``features`` say less than
# the venue allows (Binance USD-M: 1500 per its API documentation; ccxt lists 500).
PAGE_LIMITS = {("binance", "swap"): 1500}
DEFAULT_PAGE_LIMIT = 500
CANDLE_KEY = ("venue", "symbol", "timeframe", "open_time")
# Fields a closed candle arriving again overwrites.
CANDLE_VALUES = ("open", "high", "low", "close", "volume", "closed")
CANDLE_FIELDS = (*CANDLE_KEY, *CANDLE_VALUES)


def _decimal(value) -> Decimal:
    # ccxt parses candles into floats; str() gives back the venue's shortest digits.
    return Decimal(str(value))


def candles_store(
    *,
    venue: str,
    symbol: str,
    timeframe: str,
    rows: Iterable[Sequence],
    now_ms: int,
    final: bool = True,
) -> int:
    """Store ccxt OHLCV rows ``[open ms, open, high, low, close, volume]``. A row whose
    period ends after ``now_ms`` (the venue's clock, or ours) is still forming. Returns
    how many rows were given. Idempotent (see the module).

    ``final``: the rows are the venue's last word on closed candles (REST history), and
    replace what is stored in one statement. A stream's copies are not (a message can
    arrive late, after a fuller copy of the same candle): each replaces only a forming
    row or one with no more volume."""
    step = timeframe_ms(timeframe)
    closed: list[tuple] = []
    forming: list[Candle] = []
    for row in rows:
        values = (
            venue,
            symbol,
            timeframe,
            from_ms(int(row[0])),
            _decimal(row[1]),
            _decimal(row[2]),
            _decimal(row[3]),
            _decimal(row[4]),
            _decimal(row[5] or 0),
            int(row[0]) + step <= now_ms,
        )
        if final and values[-1]:
            closed.append(values)
        else:
            forming.append(Candle(**dict(zip(CANDLE_FIELDS, values, strict=True))))
    with transaction.atomic():
        upsert(Candle, CANDLE_FIELDS, closed, unique=CANDLE_KEY, update=CANDLE_VALUES)
        for candle in forming:
            _store_forming(candle)
    return len(closed) + len(forming)


def _store_forming(candle: Candle) -> None:
    """One row that may be late: it replaces a copy with no more volume than it has (a
    candle's volume only grows while it forms), and a forming one never a closed one."""
    fuller = Candle.objects.filter(
        venue=candle.venue,
        symbol=candle.symbol,
        timeframe=candle.timeframe,
        open_time=candle.open_time,
        volume__lte=candle.volume,
    )
    if not candle.closed:
        fuller = fuller.filter(closed=False)
    if not fuller.update(**{name: getattr(candle, name) for name in CANDLE_VALUES}):
        # New, or a fuller copy is there already (then this changes nothing).
        Candle.objects.bulk_create([candle], ignore_conflicts=True)


def candles_close(*, venue: str, symbol: str, timeframe: str, rows: Sequence[Sequence]) -> None:
    """Store candles the stream saw close, then announce each once (``candle_closed``):
    once per candle across processes and restarts, by an atomic cache claim made after
    the candle is committed."""
    if not rows:
        return
    step = timeframe_ms(timeframe)
    last_open = max(int(row[0]) for row in rows)
    with transaction.atomic():
        candles_store(
            venue=venue,
            symbol=symbol,
            timeframe=timeframe,
            rows=rows,
            now_ms=last_open + step,
            final=False,
        )
        for row in rows:
            transaction.on_commit(
                functools.partial(_announce_closed, venue, symbol, timeframe, row, step)
            )


def _announce_closed(venue: str, symbol: str, timeframe: str, row: Sequence, step: int) -> None:
    open_ms = int(row[0])
    claim = f"marketdata:closed:{venue}:{symbol}:{timeframe}:{open_ms}"
    if cache.add(claim, 1, timeout=max(86_400, 3 * step // 1000)):
        signals.candle_closed.send(
            sender=Candle,
            venue=venue,
            symbol=symbol,
            timeframe=timeframe,
            open_time=from_ms(open_ms),
            close=_decimal(row[4]),
        )


# --- Backfill ------------------------------------------------------------------------------


@dataclass
class BackfillProgress:
    """Where a backfill stands: ``covered_ms`` of ``total_ms`` of time paged through."""

    symbol: str
    timeframe: str
    total_ms: int
    covered_ms: int = 0
    stored: int = 0
    requests: int = 0
    phase: str = "paging"  # paging, then gaps

    @property
    def fraction(self) -> float:
        return 1.0 if self.total_ms <= 0 else min(1.0, self.covered_ms / self.total_ms)


@dataclass
class BackfillResult:
    venue: str
    symbol: str
    timeframe: str
    start: int  # ms, the first candle asked for
    end: int  # ms, the open time of the last closed candle
    stored: int = 0
    requests: int = 0
    gaps_filled: int = 0
    # Ranges the venue has no candles for, even when asked again: [first ms, last ms].
    missing: list[tuple[int, int]] = field(default_factory=list)
    seconds: float = 0.0


def page_limit(account: ExchangeAccount, client) -> int:
    override = PAGE_LIMITS.get((account.exchange_id, account.market_type))
    if override:
        return override
    features = getattr(client, "features", None) or {}
    section = features.get(account.market_type) or {}
    if account.market_type == "swap":
        section = section.get("linear") or {}
    return int((section.get("fetchOHLCV") or {}).get("limit") or DEFAULT_PAGE_LIMIT)


def _client_for(account: ExchangeAccount, symbol: str, timeframe: str):
    """The account's client with its markets, after checking the symbol and timeframe
    against the venue (clear 400s)."""
    timeframe_ms(timeframe)  # our own rule first: fixed-length timeframes only
    client = gateway.get_client(account)
    markets = gateway.ensure_markets(client, account)
    if symbol not in markets:
        raise ValidationFailed(
            f"Unknown symbol {symbol!r} on {venue_of(account)}.", extra={"field": "symbol"}
        )
    remember_timeframes(venue_of(account), client.timeframes)
    if client.timeframes and timeframe not in client.timeframes:
        raise ValidationFailed(
            f"{venue_of(account)} has no {timeframe!r} candles "
            f"(it has {', '.join(client.timeframes)}).",
            extra={"field": "timeframe"},
        )
    return client


def candles_backfill(
    *,
    account: ExchangeAccount,
    symbol: str,
    timeframe: str,
    since: int,
    until: int | None = None,
    progress: Callable[[BackfillProgress], None] | None = None,
) -> BackfillResult:
    """Page the venue's candles of ``symbol`` from ``since`` (ms) to ``until`` (default:
    now), store them (``candles_store``), then find and fill the gaps.

    Resumable: it starts from the latest candle already stored in the range (an
    interrupted run, or yesterday's), and the gap pass covers whatever is missing before
    it. Every request goes through the account's shared request budget (the gateway's
    client), at sync priority, so a backfill never starves the order path. ``progress``
    is called after every page.
    """
    started = time.monotonic()
    client = _client_for(account, symbol, timeframe)
    venue = venue_of(account)
    step = timeframe_ms(timeframe)
    now_ms = to_ms(timezone.now())
    start = floor_ms(since, timeframe)
    # Paged up to the candle ``until`` falls in (stored forming if it still is); the gap
    # pass looks only at closed candles.
    last = floor_ms(now_ms if until is None else min(until, now_ms), timeframe)
    last_closed = last if last + step <= now_ms else last - step
    result = BackfillResult(venue, symbol, timeframe, start, last_closed)
    if last < start:
        return result
    limit = page_limit(account, client)
    report = BackfillProgress(symbol, timeframe, total_ms=last + step - start)

    stored = _stored(venue, symbol, timeframe)
    latest = (
        stored.filter(open_time__gte=from_ms(start), open_time__lte=from_ms(last))
        .order_by("-open_time")
        .values_list("open_time", flat=True)
        .first()
    )
    cursor = start if latest is None else to_ms(latest)
    report.covered_ms = cursor - start
    _page(client, result, report, cursor, last, limit, progress)

    report.phase = "gaps"
    for gap_first, gap_last in _gaps(venue, symbol, timeframe, start, last_closed):
        before = result.stored
        _page(client, result, report, gap_first, gap_last, limit, None)
        result.gaps_filled += result.stored - before
    result.missing = _gaps(venue, symbol, timeframe, start, last_closed)
    if result.missing:
        logger.warning(
            "backfill %s %s %s: the venue has no candles for %d range(s), first %s",
            venue,
            symbol,
            timeframe,
            len(result.missing),
            from_ms(result.missing[0][0]),
        )
    result.seconds = time.monotonic() - started
    if progress is not None:
        report.covered_ms = report.total_ms
        progress(report)
    return result


def _stored(venue: str, symbol: str, timeframe: str):
    return Candle.objects.filter(venue=venue, symbol=symbol, timeframe=timeframe)


def _page(client, result, report, cursor, last, limit, progress) -> None:
    """Fetch and store candles from ``cursor`` to ``last`` (open times, ms) page by page.

    The next page is fetched (on a thread of its own, the only one using the client)
    while this one is stored: where the page ends is known as soon as it arrives, so the
    request and the database write overlap instead of taking turns."""
    step = timeframe_ms(result.timeframe)

    def fetch(at: int) -> tuple[int, int, list]:
        want = min(limit, (last - at) // step + 1)
        return at, want, client.fetch_ohlcv(result.symbol, result.timeframe, since=at, limit=want)

    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="backfill") as fetcher:
        pending = fetcher.submit(fetch, cursor) if cursor <= last else None
        while pending is not None:
            at, want, rows = pending.result()
            result.requests += 1
            report.requests += 1
            rows = [row for row in rows if at <= row[0] <= last]
            # Nothing from here to the page's end: the venue was down or the market did
            # not trade yet. Skip the page; the gap pass reports what stays missing.
            cursor = int(rows[-1][0]) + step if rows else at + want * step
            pending = fetcher.submit(fetch, cursor) if cursor <= last else None
            if rows:
                result.stored += candles_store(
                    venue=result.venue,
                    symbol=result.symbol,
                    timeframe=result.timeframe,
                    rows=rows,
                    now_ms=to_ms(timezone.now()),
                )
                report.stored = result.stored
            report.covered_ms = min(report.total_ms, cursor - result.start)
            if progress is not None:
                progress(report)


def _gaps(venue: str, symbol: str, timeframe: str, first: int, last: int) -> list[tuple[int, int]]:
    """The ranges [from, to] of open times between ``first`` and ``last`` (ms) with no
    stored candle. One query of open times (43,200 for 30 days of 1m: milliseconds)."""
    step = timeframe_ms(timeframe)
    expected = (last - first) // step + 1
    times = _stored(venue, symbol, timeframe).filter(
        open_time__gte=from_ms(first), open_time__lte=from_ms(last)
    )
    if times.count() == expected:
        return []
    gaps: list[tuple[int, int]] = []
    cursor = first
    for moment in times.order_by("open_time").values_list("open_time", flat=True).iterator():
        ms = to_ms(moment)
        if ms > cursor:
            gaps.append((cursor, ms - step))
        cursor = ms + step
    if cursor <= last:
        gaps.append((cursor, last))
    return gaps


# --- Subscriptions -------------------------------------------------------------------------

# The shortest interval a stream may be asked for (Binance's fastest book stream: 100 ms).
MIN_INTERVAL_MS = 100
MAX_DEPTH = 1000


def _check_symbol(account: ExchangeAccount, symbol: str) -> None:
    """Against the venue's markets as the workers cached them: the web loads no ccxt."""
    cached = gateway.cached_markets(account)
    if cached is None:
        from accounts import tasks as account_tasks

        account_tasks.markets_warm.delay()
        raise ServiceUnavailable(
            f"The markets of {venue_of(account)} are not loaded yet: try again in a few seconds."
        )
    if symbol not in cached[0]:
        raise ValidationFailed(
            f"Unknown symbol {symbol!r} on {venue_of(account)}.", extra={"field": "symbol"}
        )


def _check_timeframe(venue: str, timeframe: str) -> None:
    timeframe_ms(timeframe)
    known = cache.get(f"marketdata:timeframes:{venue}")
    if known and timeframe not in known:
        raise ValidationFailed(
            f"{venue} has no {timeframe!r} candles (it has {', '.join(known)}).",
            extra={"field": "timeframe"},
        )


def remember_timeframes(venue: str, timeframes) -> None:
    """What a client says its venue's timeframes are, for checks in the web process."""
    if timeframes:
        cache.set(f"marketdata:timeframes:{venue}", list(timeframes), timeout=7 * 86_400)


def subscription_create(
    *,
    owner,
    account: ExchangeAccount,
    kind: str,
    symbol: str,
    timeframe: str = "",
    depth: int = 0,
    interval_ms: int = 1000,
    origin: str = Subscription.Origin.PERSON,
    origin_ref: str = "",
) -> tuple[Subscription, bool]:
    """Subscribe ``owner`` to one stream of ``account``'s venue. Subscribing again to the
    same stream is the same subscription (made active, with the new depth and interval).
    Returns it and whether it was created. Checks first, writes nothing on a refusal."""
    venue = venue_of(account)
    if kind == Subscription.Kind.OHLCV:
        _check_timeframe(venue, timeframe)
    elif timeframe:
        raise ValidationFailed(
            "Only candle subscriptions take a timeframe.", extra={"field": "timeframe"}
        )
    if kind == Subscription.Kind.ORDERBOOK:
        if not 1 <= depth <= MAX_DEPTH:
            raise ValidationFailed(
                f"A book subscription takes a depth from 1 to {MAX_DEPTH} levels.",
                extra={"field": "depth"},
            )
    elif depth:
        raise ValidationFailed("Only book subscriptions take a depth.", extra={"field": "depth"})
    if interval_ms < MIN_INTERVAL_MS:
        raise ValidationFailed(
            f"The interval must be at least {MIN_INTERVAL_MS} ms (the venue's fastest stream).",
            extra={"field": "interval_ms"},
        )
    _check_symbol(account, symbol)
    with transaction.atomic():
        subscription, created = Subscription.objects.select_for_update().get_or_create(
            owner=owner,
            venue=venue,
            kind=kind,
            symbol=symbol,
            timeframe=timeframe,
            defaults={
                "account": account,
                "depth": depth,
                "interval_ms": interval_ms,
                "origin": origin,
                "origin_ref": origin_ref,
            },
        )
        if not created:
            Subscription.objects.filter(pk=subscription.pk).update(
                account=account, depth=depth, interval_ms=interval_ms, is_active=True
            )
            subscription.refresh_from_db()
    return subscription, created


def subscriptions_delete(
    *, owner, venue: str | None = None, symbol: str | None = None, pk: int | None = None
) -> int:
    """Unsubscribe: one subscription, or every one of a symbol (on a venue). The streams
    process stops a stream nobody wants any more within a second."""
    subscriptions = Subscription.objects.filter(owner=owner)
    if pk is not None:
        subscriptions = subscriptions.filter(pk=pk)
    if venue is not None:
        subscriptions = subscriptions.filter(venue=venue)
    if symbol is not None:
        subscriptions = subscriptions.filter(symbol=symbol)
    deleted, _ = subscriptions.delete()
    return deleted


def subscriptions_set_active(*, owner, active: bool) -> int:
    """Stop (pause) or start (resume) every subscription of ``owner``."""
    return Subscription.objects.filter(owner=owner, is_active=not active).update(
        is_active=active, updated_at=timezone.now()
    )
