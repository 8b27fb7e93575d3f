"""Reads of the positions app, scoped to the requesting user."""

from __future__ import annotations

import logging
import zoneinfo
from dataclasses import dataclass
from datetime import datetime, time
from decimal import Decimal

from django.conf import settings
from django.core.cache import cache
from django.db.models import QuerySet, Sum
from django.utils import timezone

from accounts import gateway
from accounts.errors import classify
from accounts.models import BalanceSnapshot, ExchangeAccount
from common.api import json_ready
from common.decimal import to_decimal
from positions.models import Balance, Drift, Position, RealizedPnl
from positions.valuation import BalanceLine, Portfolio, PositionLine, market_key, value_portfolio

logger = logging.getLogger(__name__)


def position_list(*, user, filters: dict | None = None) -> QuerySet[Position]:
    positions = Position.objects.filter(account__owner=user).select_related("account")
    filters = filters or {}
    if account := filters.get("account"):
        positions = positions.filter(account_id=account)
    if status := filters.get("status"):
        positions = positions.filter(status=status)
    if symbol := filters.get("symbol"):
        positions = positions.filter(symbol=symbol)
    return positions


def balance_list(*, user) -> QuerySet[Balance]:
    return Balance.objects.filter(account__owner=user).order_by("account_id", "asset")


def balance_history(*, user, account_id: int | None = None) -> QuerySet[BalanceSnapshot]:
    snapshots = BalanceSnapshot.objects.filter(account__owner=user)
    if account_id:
        snapshots = snapshots.filter(account_id=account_id)
    return snapshots.order_by("-taken_at", "asset")


def drift_list(*, user) -> QuerySet[Drift]:
    return Drift.objects.filter(account__owner=user).select_related("account")


def day_start(now: datetime) -> datetime:
    """Midnight of ``now``'s calendar day in PNL_TIME_ZONE, as an aware datetime."""
    zone = zoneinfo.ZoneInfo(settings.PNL_TIME_ZONE)
    local = now.astimezone(zone)
    return datetime.combine(local.date(), time.min, tzinfo=zone)


def _tickers_key(account: ExchangeAccount) -> str:
    return gateway.tickers_cache_key(account)


def prices_refresh(account: ExchangeAccount) -> dict[str, str] | None:
    """One ticker call for the account's venue, written to the shared cache (beat keeps
    it warm, so the order path never waits for it). None when the venue does not answer."""
    key = _tickers_key(account)
    try:
        tickers = gateway.get_client(account).fetch_tickers()
    except Exception as exc:  # noqa: BLE001 - shown as unvalued, logged
        logger.warning("no prices from %s: %s", key, classify(exc))
        return None
    venue_prices = {
        market_key(symbol): str(ticker["last"])
        for symbol, ticker in tickers.items()
        if ticker.get("last") is not None
    }
    cache.set(key, venue_prices, timeout=settings.PRICES_CACHE_SECONDS)
    return venue_prices


def last_prices(
    accounts: list[ExchangeAccount],
    *,
    fetch: bool = True,
    cold: list[ExchangeAccount] | None = None,
) -> dict[str, Decimal]:
    """Last prices by market ("BTC/USDT") from the shared cache, one ticker call per venue
    where it is cold (``fetch=False``: the cache alone, no call; one account of each cold
    venue is appended to ``cold``, for a worker to fetch: ``positions.services.
    prices_refresh_start``).

    A venue that cannot be reached gives no prices (its assets show as unvalued)
    rather than failing the whole page.
    """
    prices: dict[str, Decimal] = {}
    seen: set[str] = set()
    # Spot venues first: their prices win over perpetuals' for the same pair.
    for account in sorted(accounts, key=lambda a: a.market_type != "spot"):
        key = _tickers_key(account)
        if key in seen:
            continue
        seen.add(key)
        venue_prices = cache.get(key)
        if venue_prices is None and fetch:
            venue_prices = prices_refresh(account)
        elif venue_prices is None and cold is not None:
            cold.append(account)
        for symbol, price in (venue_prices or {}).items():
            prices.setdefault(symbol, to_decimal(price))
    return prices


def portfolio_summary(
    *,
    user,
    prices: dict[str, Decimal] | None = None,
    cold: list[ExchangeAccount] | None = None,
) -> Portfolio:
    """The user's accounts valued together in PORTFOLIO_REFERENCE_ASSET.

    A fixed number of queries whatever the number of accounts and positions: accounts,
    balances, open positions, today's realized P&L. Prices, when not given, come from the
    cache only - never from the exchange (the web process calls none): an account of each
    venue whose prices are not cached is appended to ``cold``, and its assets are
    unvalued until a worker has fetched them.
    """
    accounts = list(ExchangeAccount.objects.filter(owner=user, is_active=True))
    if prices is None:
        prices = last_prices(accounts, fetch=False, cold=cold if cold is not None else [])
    scope = {"account__owner": user, "account__is_active": True}
    balances = _balance_lines(Balance.objects.filter(**scope))
    positions = _position_lines(Position.objects.filter(**scope))
    realized_today = RealizedPnl.objects.filter(
        account__owner=user, realized_at__gte=day_start(timezone.now())
    ).aggregate(total=Sum("amount"))["total"] or Decimal(0)
    return value_portfolio(
        balances=balances,
        positions=positions,
        prices=prices,
        reference=settings.PORTFOLIO_REFERENCE_ASSET,
        realized_today=realized_today,
    )


def _balance_lines(balances) -> list[BalanceLine]:
    return [
        BalanceLine(account_id, asset, total)
        for account_id, asset, total in balances.values_list("account_id", "asset", "total")
    ]


def _position_lines(positions) -> list[PositionLine]:
    # Plain tuples, not model instances: the valuation needs values, and building 500
    # instances costs more than the query.
    return [
        PositionLine(
            account_id=account_id,
            symbol=symbol,
            signed_amount=contracts if side == Position.Side.LONG else -contracts,
            entry_price=entry_price,
            mark_price=mark_price,
            unrealized=unrealized,
            derivative=source == Position.Source.EXCHANGE,
        )
        for account_id, symbol, side, contracts, entry_price, mark_price, unrealized, source in (
            positions.filter(status=Position.Status.OPEN).values_list(
                "account_id",
                "symbol",
                "side",
                "contracts",
                "entry_price",
                "mark_price",
                "unrealized_pnl",
                "source",
            )
        )
    ]


def account_equity(*, account: ExchangeAccount, prices: dict[str, Decimal]) -> Decimal:
    """One account's equity in PORTFOLIO_REFERENCE_ASSET, valued as ``portfolio_summary``
    values it (two queries: its balances and its open positions)."""
    return value_portfolio(
        balances=_balance_lines(Balance.objects.filter(account=account)),
        positions=_position_lines(Position.objects.filter(account=account)),
        prices=prices,
        reference=settings.PORTFOLIO_REFERENCE_ASSET,
        realized_today=Decimal(0),
    ).equity_by_account.get(account.pk, Decimal(0))


def equity_curve(*, user, account_id: int | None = None) -> list[tuple[datetime, Decimal]]:
    """Daily equity in the reference asset: the last of each day's ``equity_points``."""
    by_day: dict = {}
    for moment, value in equity_points(user=user, account_id=account_id, limit=None):
        by_day[moment.date()] = (moment, value)
    return [by_day[day] for day in sorted(by_day)]


def _round_trips(*, user, account_id: int | None) -> list:
    """One trade per exit: the P&L each exiting order realized on its position - a
    take-profit that closed part of a position still open is a trade of its own - and a
    closed position whose exits left no P&L rows (synced closed) as one trade.

    An exit is a fill on the side that reduces the position (a sell of a long); entries
    realize nothing and count as no trade."""
    from positions.performance import RoundTrip

    positions = Position.objects.filter(account__owner=user)
    if account_id:
        positions = positions.filter(account_id=account_id)
    exits: dict[tuple[int, int], list] = {}
    rows = RealizedPnl.objects.filter(position__in=positions).select_related("position", "fill")
    for row in rows.only(
        "amount", "realized_at", "fill__side", "fill__order_id", "fill__id",
        "position__id", "position__side", "position__symbol", "position__opened_at",
    ):  # fmt: skip
        exiting = "sell" if row.position.side == Position.Side.LONG else "buy"
        if row.fill.side != exiting:
            continue
        key = (row.position.pk, row.fill.order_id or -row.fill.pk)
        exits.setdefault(key, []).append(row)
    trips = [
        RoundTrip(
            symbol=group[0].position.symbol,
            side=group[0].position.side,
            opened_at=min(group[0].position.opened_at, min(r.realized_at for r in group)),
            closed_at=max(r.realized_at for r in group),
            pnl=sum((r.amount for r in group), Decimal(0)),
        )
        for group in exits.values()
    ]
    with_exits = {position_id for position_id, _ in exits}
    closed = positions.filter(status=Position.Status.CLOSED, closed_at__isnull=False).exclude(
        pk__in=with_exits
    )
    trips += [
        RoundTrip(
            symbol=p.symbol,
            side=p.side,
            opened_at=min(p.opened_at, p.closed_at),
            closed_at=p.closed_at,
            pnl=p.realized_pnl,
        )
        for p in closed.only("symbol", "side", "opened_at", "closed_at", "realized_pnl")
    ]
    return sorted(trips, key=lambda trip: trip.closed_at)


def performance(*, user, account_id: int | None = None) -> dict:
    """Performance statistics (positions.performance) from closed positions and the
    equity curve, JSON-ready (numbers as strings)."""
    from dataclasses import asdict

    from positions.performance import summarize

    trips = _round_trips(user=user, account_id=account_id)
    summary = asdict(summarize(trips, equity_curve(user=user, account_id=account_id)))

    return json_ready(summary)


# Candles fetched this recently are served as they are: a dashboard opened on several
# screens costs one exchange call. Older ones are still served for CANDLES_KEEP_SECONDS,
# marked ``refreshing``, while a worker fetches newer ones (positions.services.
# candles_read): a chart never waits for the exchange, nor goes blank while it is slow.
CANDLES_CACHE_SECONDS = 5
CANDLES_KEEP_SECONDS = 600


@dataclass(frozen=True)
class Candles:
    """OHLCV candles of one symbol and timeframe on a venue, as a worker last fetched
    them (``positions.services.candles_fetch``)."""

    rows: list[dict] | None  # oldest first, numbers as strings; None: none fetched yet
    fetched_at: datetime | None
    # What the last fetch met instead of candles: ("invalid" | "unavailable", message).
    error: tuple[str, str] | None = None
    refreshing: bool = False  # a worker is fetching newer ones

    @property
    def fresh(self) -> bool:
        return (
            self.fetched_at is not None
            and (timezone.now() - self.fetched_at).total_seconds() < CANDLES_CACHE_SECONDS
        )


def candles(*, account: ExchangeAccount, symbol: str, timeframe: str, limit: int) -> list[dict]:
    """Candles as ``candles_cached`` has them, fetched from the exchange first - and waited
    for - when they are not fresh. For workers (a strategy's volatility sizing); a request
    reads them through ``positions.services.candles_read``, which never waits. A symbol the
    exchange refused is a ValidationFailed, an exchange that did not answer a
    ServiceUnavailable."""
    from common.exceptions import ServiceUnavailable, ValidationFailed
    from positions.services import candles_fetch

    wanted = {"account": account, "symbol": symbol, "timeframe": timeframe, "limit": limit}
    cached = candles_cached(**wanted)
    if cached is None or not cached.fresh:
        candles_fetch(**wanted)
        cached = candles_cached(**wanted)
    if cached is None:
        raise ServiceUnavailable("The candles could not be kept: the cache did not answer.")
    if cached.error:
        code, message = cached.error
        raise (ValidationFailed if code == "invalid" else ServiceUnavailable)(message)
    return cached.rows or []


def candles_key(*, account: ExchangeAccount, symbol: str, timeframe: str, limit: int) -> str:
    return f"ohlcv:{gateway.markets_cache_key(account)}:{symbol}:{timeframe}:{limit}"


def candles_cached(
    *, account: ExchangeAccount, symbol: str, timeframe: str, limit: int
) -> Candles | None:
    """The candles a worker left in the cache, fresh or not; None when there are none."""
    entry = cache.get(candles_key(account=account, symbol=symbol, timeframe=timeframe, limit=limit))
    if not isinstance(entry, dict):  # none, or the bare list cached before jobs
        return None
    error = entry.get("error")
    return Candles(
        rows=entry.get("rows"),
        fetched_at=entry.get("fetched_at"),
        error=tuple(error) if error else None,
    )


def equity_points(
    *, user, account_id: int | None = None, limit: int | None = 2000
) -> list[tuple[datetime, Decimal]]:
    """Equity in the reference asset at every balance snapshot: each account's last
    snapshot value carried forward, summed (the latest ``limit`` instants)."""
    snapshots = BalanceSnapshot.objects.filter(account__owner=user, value_quote__isnull=False)
    if account_id:
        snapshots = snapshots.filter(account_id=account_id)
    instants: dict[datetime, dict[int, Decimal]] = {}
    for account, taken_at, value in snapshots.order_by("taken_at").values_list(
        "account_id", "taken_at", "value_quote"
    ):
        by_account = instants.setdefault(taken_at, {})
        by_account[account] = by_account.get(account, Decimal(0)) + value
    points: list[tuple[datetime, Decimal]] = []
    latest: dict[int, Decimal] = {}
    for taken_at in sorted(instants):
        latest.update(instants[taken_at])
        points.append((taken_at, sum(latest.values(), Decimal(0))))
    return points if limit is None else points[-limit:]
