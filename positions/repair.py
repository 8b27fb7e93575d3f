"""Repairing an account's fills from the exchange's own trade history.

Until fills were keyed per symbol, a trade whose id another symbol of the account had
already used was dropped as "already recorded" (Binance numbers trades per symbol), so
installs from before lost fills. ``fills_repair`` re-reads the account's trades for a
time range, records those missing through the same path as every other delivery
(``orders.services.fills_record``: each trade once, linked to its order), and brings the
positions back in line: spot holdings are rebuilt from all the account's fills in the
exchange's order - average cost depends on the order in which buys and sells happened,
so a repaired old buy cannot simply be applied last; derivative positions are the
exchange's, and the repaired fills' realized P&L is applied as any new fill's.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from django.db import transaction
from django.db.models import Q

from accounts import gateway
from accounts.models import ExchangeAccount
from orders import venue
from orders.models import Fill, Order
from orders.services import fills_record
from positions.models import FillCursor, Position, RealizedPnl
from positions.services import _apply_spot_fills, positions_apply_fills

REPAIR_ACTOR = "repair"
# Binance answers a trade history request for at most 24 hours (spot; USD-M: 7 days).
WINDOW = timedelta(hours=24)
PAGE = 1000


@dataclass
class RepairReport:
    account_id: int
    symbols: list[str]
    trades_seen: int = 0
    fills_added: int = 0
    added_by_symbol: dict[str, int] = field(default_factory=dict)
    holdings_rebuilt: int = 0


def fills_repair(
    *,
    account: ExchangeAccount,
    since: datetime,
    until: datetime,
    symbols: Iterable[str] | None = None,
    dry_run: bool = False,
    progress: Callable[[str], None] = lambda line: None,
) -> RepairReport:
    """Record every trade of ``account`` between ``since`` and ``until`` that has no Fill.

    Symbols: the given ones, else every symbol the account has orders or fills in. Calls
    the exchange through the account's shared request budget, one window of 24 hours and
    one page of 1000 trades at a time, telling ``progress`` about each window. Idempotent:
    a second run adds nothing. With ``dry_run`` nothing is written; the report counts
    what would be added. Spot holdings are rebuilt when anything was added."""
    chosen = sorted(set(symbols) if symbols else _traded_symbols(account))
    report = RepairReport(account_id=account.pk, symbols=chosen)
    client = gateway.get_client(account)
    gateway.ensure_markets(client, account)
    for symbol in chosen:
        start = since
        while start < until:
            end = min(start + WINDOW, until)
            trades = _window(client, symbol, start, end)
            missing = _missing(account, trades)
            report.trades_seen += len(trades)
            if missing and not dry_run:
                added = fills_record(account=account, trades=missing, actor=REPAIR_ACTOR)
                count = len(added)
            else:
                count = len(missing)
            report.fills_added += count
            report.added_by_symbol[symbol] = report.added_by_symbol.get(symbol, 0) + count
            progress(
                f"{symbol} {start:%Y-%m-%d %H:%M} .. {end:%Y-%m-%d %H:%M}: "
                f"{len(trades)} trades, {count} missing"
            )
            start = end
    if report.fills_added and not dry_run:
        if account.market_type == ExchangeAccount.MarketType.SPOT:
            report.holdings_rebuilt = holdings_rebuild(account_id=account.pk)
        else:
            positions_apply_fills(account_id=account.pk)
    return report


def _traded_symbols(account: ExchangeAccount) -> set[str]:
    return set(Order.objects.filter(account=account).values_list("symbol", flat=True)) | set(
        Fill.objects.filter(account=account).values_list("symbol", flat=True)
    )


def _window(client, symbol: str, start: datetime, end: datetime) -> list[venue.TradeUpdate]:
    """The account's trades in ``symbol`` from ``start`` to ``end``, page by page."""
    since_ms, end_ms = _ms(start), _ms(end)
    seen: dict[str, venue.TradeUpdate] = {}
    while since_ms < end_ms:
        page = client.fetch_my_trades(symbol, since_ms, PAGE, {"until": end_ms})
        for payload in page:
            trade = venue.parse_trade(payload)
            seen[trade.trade_id] = trade
        if len(page) < PAGE:
            break
        # A full page: go on after its last trade (trades of the same millisecond are
        # read again and deduplicated by id).
        last = max(payload["timestamp"] for payload in page)
        since_ms = last if last > since_ms else since_ms + 1
    return list(seen.values())


def _missing(account: ExchangeAccount, trades: list[venue.TradeUpdate]) -> list:
    if not trades:
        return []
    known = set(
        Fill.objects.filter(
            account=account,
            symbol__in={trade.symbol for trade in trades},
            exchange_trade_id__in=[trade.trade_id for trade in trades],
        ).values_list("symbol", "exchange_trade_id")
    )
    return [trade for trade in trades if (trade.symbol, trade.trade_id) not in known]


def _ms(moment: datetime) -> int:
    return int(moment.timestamp() * 1000)


def holdings_rebuild(*, account_id: int) -> int:
    """Rebuild a spot account's holdings from all its fills, in the exchange's order.

    Holdings and their realized P&L are derived from fills (average cost): they are
    deleted and made again, in one transaction under the account's fill cursor lock (the
    lock ``positions_apply_fills`` takes, so no delivery applies fills meanwhile), and
    the cursor is set past the last fill. Returns how many fills were replayed."""
    with transaction.atomic():
        cursor, _ = FillCursor.objects.select_for_update().get_or_create(account_id=account_id)
        derived = Position.objects.filter(account_id=account_id, source=Position.Source.FILLS)
        RealizedPnl.objects.filter(Q(position__in=derived) | Q(position__isnull=True)).filter(
            account_id=account_id
        ).delete()
        derived.delete()
        fills = list(
            Fill.objects.filter(account_id=account_id).defer("raw").order_by("exchange_ts", "pk")
        )
        for start in range(0, len(fills), PAGE):
            _apply_spot_fills(account_id, fills[start : start + PAGE])
        cursor.last_fill_id = max((fill.pk for fill in fills), default=cursor.last_fill_id)
        cursor.save(update_fields=["last_fill_id"])
    return len(fills)
