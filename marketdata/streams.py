"""Public market-data streams, run by the streams process beside the account streams.

One watcher per distinct stream somebody subscribed to (ticker, candles of one
timeframe, or book of one symbol on one venue), however many subscriptions ask for it:
the deepest book and the shortest interval asked win. One ccxt.pro client per venue, so
streams share its connections where ccxt does (Binance: many streams per connection).
The list of wanted streams is read every ``REFRESH_SECONDS``: a new subscription starts
its watcher, and an ended one stops it, within a second.

What arrives goes to the shared cache (marketdata.live) at most once per interval and to
the dashboard's market group; candles that closed are stored and announced once
(services.candles_close). A watcher that fails reconnects with jittered backoff; a
candle watcher first backfills through REST what it missed while away (also after the
process restarts). A venue without websockets is polled over REST at the interval.
"""

from __future__ import annotations

import asyncio
import logging
import random
import time
from collections import defaultdict
from dataclasses import dataclass, field

from asgiref.sync import sync_to_async
from django.conf import settings
from django.utils import timezone

from accounts import gateway
from accounts.errors import classify
from accounts.models import ExchangeAccount
from marketdata import live, services
from marketdata.models import Candle, Subscription
from marketdata.timeframes import timeframe_ms, to_ms
from realtime.groups import market_group
from realtime.publish import broadcast

logger = logging.getLogger(__name__)

REFRESH_SECONDS = 0.5
MAX_BACKOFF_SECONDS = 30.0
# How often a stream's subscriptions are stamped with their last update (not per message).
STAMP_SECONDS = 5.0
DEFAULT_DEPTH = 20


@dataclass(frozen=True)
class StreamKey:
    venue: str
    kind: str
    symbol: str
    timeframe: str = ""


@dataclass(frozen=True)
class Wanted:
    account_id: int  # whose client reads the venue
    depth: int
    interval_ms: int


def wanted_streams() -> dict[StreamKey, Wanted]:
    """Every distinct stream of an active subscription on an active account: one query."""
    merged: dict[StreamKey, Wanted] = {}
    rows = (
        Subscription.objects.filter(is_active=True, account__is_active=True)
        .order_by("account_id")
        .values_list("venue", "kind", "symbol", "timeframe", "depth", "interval_ms", "account_id")
    )
    for venue, kind, symbol, timeframe, depth, interval_ms, account_id in rows:
        key = StreamKey(venue, kind, symbol, timeframe)
        known = merged.get(key)
        if known is None:
            merged[key] = Wanted(account_id, depth, interval_ms)
        else:
            merged[key] = Wanted(
                known.account_id, max(known.depth, depth), min(known.interval_ms, interval_ms)
            )
    return merged


def _stamp(key: StreamKey, error: str = "") -> None:
    now = timezone.now()
    fields = {"last_error": error, "last_error_at": now} if error else {"last_update_at": now}
    Subscription.objects.filter(
        is_active=True, venue=key.venue, kind=key.kind, symbol=key.symbol, timeframe=key.timeframe
    ).update(**fields)


def _last_closed_ms(key: StreamKey) -> int | None:
    moment = (
        Candle.objects.filter(
            venue=key.venue, symbol=key.symbol, timeframe=key.timeframe, closed=True
        )
        .order_by("-open_time")
        .values_list("open_time", flat=True)
        .first()
    )
    return None if moment is None else to_ms(moment)


def catch_up(key: StreamKey, account_id: int) -> None:
    """Backfill through REST the candles closed since the last one stored (or the last
    ``MARKETDATA_STREAM_WARMUP`` candles of a new stream), so a dropped stream or a
    restart leaves no gap."""
    account = ExchangeAccount.objects.get(pk=account_id)
    step = timeframe_ms(key.timeframe)
    last = _last_closed_ms(key)
    since = (
        last + step
        if last is not None
        else to_ms(timezone.now()) - settings.MARKETDATA_STREAM_WARMUP * step
    )
    services.candles_backfill(
        account=account, symbol=key.symbol, timeframe=key.timeframe, since=since
    )


@dataclass
class VenueState:
    client: object
    messages: int = 0
    last_message_ms: int = 0
    errors: int = 0
    reported_messages: int = 0
    reported_at: float = field(default_factory=time.monotonic)


class MarketStreams:
    """Keeps one watcher per wanted stream until cancelled."""

    def __init__(self) -> None:
        self.watchers: dict[StreamKey, tuple[asyncio.Task, Wanted]] = {}
        self.venues: dict[str, VenueState] = {}

    async def run(self, stopping: asyncio.Event | None = None) -> None:
        stopping = stopping or asyncio.Event()
        try:
            while not stopping.is_set():
                try:
                    await self.refresh()
                except Exception:
                    logger.warning("could not refresh market subscriptions", exc_info=True)
                self.report()
                try:
                    await asyncio.wait_for(stopping.wait(), timeout=REFRESH_SECONDS)
                except TimeoutError:
                    pass
        finally:
            await self.stop_all()

    async def refresh(self) -> None:
        wanted = await sync_to_async(wanted_streams)()
        for key in [k for k, (task, w) in self.watchers.items() if wanted.get(k) != w]:
            await self.stop(key)
        for key, want in wanted.items():
            task = self.watchers.get(key, (None, None))[0]
            if task is None or task.done():
                task = asyncio.create_task(self.watch(key, want), name=f"market-{key}")
                self.watchers[key] = (task, want)
        in_use = {key.venue for key in self.watchers}
        for venue in [v for v in self.venues if v not in in_use]:
            await self.venues.pop(venue).client.close()

    async def stop(self, key: StreamKey) -> None:
        task, _ = self.watchers.pop(key)
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)

    async def stop_all(self) -> None:
        for key in list(self.watchers):
            await self.stop(key)
        for state in self.venues.values():
            await state.client.close()
        self.venues.clear()

    def report(self) -> None:
        """Per venue, for the status API: connected, subscriptions, messages/s, age."""
        now = time.monotonic()
        streams = defaultdict(int)
        for key in self.watchers:
            streams[key.venue] += 1
        for venue, state in self.venues.items():
            elapsed = max(now - state.reported_at, 1e-3)
            rate = (state.messages - state.reported_messages) / elapsed
            state.reported_messages, state.reported_at = state.messages, now
            age = live.now_ms() - state.last_message_ms if state.last_message_ms else None
            live.status_write(
                venue,
                {
                    "venue": venue,
                    "connected": age is not None and age < 30_000 and state.errors == 0,
                    "streams": streams[venue],
                    "messages_per_second": round(rate, 2),
                    "last_message_age_ms": age,
                    "reported": live.now_ms(),
                },
            )

    async def client(self, venue: str, account_id: int):
        state = self.venues.get(venue)
        if state is None:
            account = await sync_to_async(ExchangeAccount.objects.get)(pk=account_id)
            client = await sync_to_async(gateway.build_client)(account, pro=True)
            await sync_to_async(services.remember_timeframes)(venue, client.timeframes)
            state = self.venues.setdefault(venue, VenueState(client))
            if state.client is not client:
                await client.close()
        return state

    async def watch(self, key: StreamKey, want: Wanted) -> None:
        """One stream until cancelled: reconnects by itself, never raises."""
        attempt = 0
        while True:
            try:
                state = await self.client(key.venue, want.account_id)
                if key.kind == Subscription.Kind.OHLCV:
                    await sync_to_async(catch_up)(key, want.account_id)
                await self.consume(key, want, state)
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # noqa: BLE001 - every failure means: reconnect
                while isinstance(exc, ExceptionGroup):  # from a ticker's two streams
                    exc = exc.exceptions[0]
                failure = classify(exc)
                logger.warning("market stream %s lost: %s", key, failure)
                if key.venue in self.venues:
                    self.venues[key.venue].errors += 1
                await sync_to_async(_stamp)(key, str(failure))
            attempt += 1
            await asyncio.sleep(random.uniform(0, min(MAX_BACKOFF_SECONDS, 2.0**attempt)))  # noqa: S311

    async def consume(self, key: StreamKey, want: Wanted, state: VenueState) -> None:
        group = market_group(key.venue, key.symbol)
        interval = want.interval_ms / 1000
        if key.kind == Subscription.Kind.TICKER:

            def push(quote: dict) -> None:
                payload = live.ticker_write(key.venue, key.symbol, quote)
                broadcast(
                    group=group, event="market.ticker", payload={"venue": key.venue, **payload}
                )

        elif key.kind == Subscription.Kind.ORDERBOOK:

            def push(book: dict) -> None:
                payload = live.book_write(key.venue, key.symbol, book, want.depth or DEFAULT_DEPTH)
                broadcast(group=group, event="market.book", payload={"venue": key.venue, **payload})

        else:

            def push(row: list) -> None:
                live.forming_write(key.venue, key.symbol, key.timeframe, row)
                payload = candle(key, row, closed=False)
                broadcast(group=group, event="market.candle", payload=payload)

        throttle = Throttle(interval, push)
        try:
            if key.kind == Subscription.Kind.TICKER and state.client.has.get("watchBidsAsks"):
                # A venue's ticker stream may carry no best bid and ask (Binance USD-M's,
                # and the mini ticker ccxt takes on spot): they come from its book ticker
                # stream, merged into one quote.
                quote: dict = {}
                async with asyncio.TaskGroup() as tasks:
                    tasks.create_task(self.consume_one(key, want, state, "ticker", quote, throttle))
                    tasks.create_task(self.consume_one(key, want, state, "bidask", quote, throttle))
            else:
                await self.consume_one(key, want, state, key.kind, {}, throttle)
        finally:
            throttle.cancel()

    async def consume_one(
        self,
        key: StreamKey,
        want: Wanted,
        state: VenueState,
        source: str,
        quote: dict,
        throttle: Throttle,
    ) -> None:
        group = market_group(key.venue, key.symbol)
        interval = want.interval_ms / 1000
        last_stamp = 0.0
        forming: list | None = None
        while True:
            data = await self.next(key, want, state.client, source, interval)
            state.messages += 1
            state.last_message_ms = live.now_ms()
            state.errors = 0
            if key.kind == Subscription.Kind.OHLCV:
                closed, forming = split_closed(forming, data)
                if closed:
                    await sync_to_async(services.candles_close)(
                        venue=key.venue, symbol=key.symbol, timeframe=key.timeframe, rows=closed
                    )
                    for row in closed:
                        broadcast(group=group, event="market.candle", payload=candle(key, row))
                if forming is not None:
                    throttle.offer(forming)
            elif key.kind == Subscription.Kind.TICKER:
                merge_quote(quote, source, data, key.symbol)
                throttle.offer(quote)
            else:
                throttle.offer(data)
            now = time.monotonic()
            if now - last_stamp >= STAMP_SECONDS:
                await sync_to_async(_stamp)(key)
                last_stamp = now

    @staticmethod
    async def next(key: StreamKey, want: Wanted, client, source: str, interval: float):
        """The stream's next update: from the websocket, or a REST poll at the interval
        where the venue has none."""
        if source == "bidask":
            return await client.watch_bids_asks([key.symbol])
        streamed = {
            Subscription.Kind.TICKER: "watchTicker",
            Subscription.Kind.ORDERBOOK: "watchOrderBook",
            Subscription.Kind.OHLCV: "watchOHLCV",
        }[key.kind]
        stream = client.has.get(streamed)
        if key.kind == Subscription.Kind.TICKER:
            request = (client.watch_ticker if stream else client.fetch_ticker)(key.symbol)
        elif key.kind == Subscription.Kind.ORDERBOOK:
            method = client.watch_order_book if stream else client.fetch_order_book
            request = method(key.symbol, want.depth or None)
        elif stream:
            request = client.watch_ohlcv(key.symbol, key.timeframe)
        else:
            request = client.fetch_ohlcv(key.symbol, key.timeframe, limit=2)
        data = await request
        if not stream:
            await asyncio.sleep(interval)
        return data


def merge_quote(quote: dict, source: str, data: dict, symbol: str) -> None:
    """Fold a ticker (last price) or a book ticker (best bid and ask) into ``quote``."""
    if source == "bidask":
        data = data.get(symbol) or {}
    for name in ("bid", "ask") if source == "bidask" else ("last", "bid", "ask"):
        if data.get(name) is not None:
            quote[name] = data[name]
    if data.get("timestamp"):
        quote["timestamp"] = max(quote.get("timestamp") or 0, data["timestamp"])


class Throttle:
    """At most one push per interval, and the latest data always pushed: at once when the
    interval has passed, else when it will have (the trailing edge), never later.

    Pushes write to the cache from the event loop: a local Redis answers in well under a
    millisecond, less than a hop to a thread would cost."""

    def __init__(self, interval: float, push) -> None:
        self.interval = interval
        self.push = push
        self.last = 0.0
        self.latest = None
        self.timer: asyncio.TimerHandle | None = None

    def offer(self, data) -> None:
        self.latest = data
        wait = self.last + self.interval - time.monotonic()
        if wait <= 0:
            self.fire()
        elif self.timer is None:
            self.timer = asyncio.get_running_loop().call_later(wait, self.fire)

    def fire(self) -> None:
        self.timer = None
        if self.latest is None:
            return
        data, self.latest = self.latest, None
        self.last = time.monotonic()
        try:
            self.push(data)
        except Exception:
            logger.warning("market data push failed", exc_info=True)

    def cancel(self) -> None:
        if self.timer is not None:
            self.timer.cancel()
            self.timer = None


def split_closed(forming: list | None, rows: list) -> tuple[list[list], list | None]:
    """Given the forming candle seen so far and the rows a watch returned (the candles it
    updated, oldest first), the candles now known closed and the one still forming.

    A candle is closed once a later one has opened; an update of an older candle that
    arrives late is a closed candle too (the store keeps whichever copy is fuller)."""
    closed: list[list] = []
    for row in sorted(rows, key=lambda r: r[0]):
        if forming is None or row[0] == forming[0]:
            forming = list(row)
        elif row[0] > forming[0]:
            closed.append(forming)
            forming = list(row)
        else:
            closed.append(list(row))
    return closed, forming


def candle(key: StreamKey, row: list, *, closed: bool = True) -> dict:
    return {
        "venue": key.venue,
        "symbol": key.symbol,
        "timeframe": key.timeframe,
        "open_time": int(row[0]),
        "open": live.number(row[1]),
        "high": live.number(row[2]),
        "low": live.number(row[3]),
        "close": live.number(row[4]),
        "volume": live.number(row[5] or 0),
        "closed": closed,
    }


async def watch_markets(stopping: asyncio.Event) -> None:
    """The streams process's market-data service (settings.STREAM_SERVICES)."""
    await MarketStreams().run(stopping)
