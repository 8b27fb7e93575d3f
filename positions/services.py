"""Writes of the positions app: positions and balances kept equal to the exchange.

Two sources, one table. Derivative positions are copied from the exchange (REST sync on
beat, ``watch_positions`` in the streams process); spot and paper holdings are built
from our fills (``positions_apply_fills``). Whenever a sync finds the exchange
different from what our records plus the fills we saw since would say, it corrects our
record and writes a Drift row: what, ours, theirs, when.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal

from django.conf import settings
from django.core.cache import cache
from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from accounts import gateway, jobs
from accounts.models import BalanceSnapshot, ExchangeAccount
from common.api import represent
from common.db import columns, for_update
from common.decimal import ZERO, normalize, to_decimal
from common.exceptions import ApplicationError, Conflict, Unprocessable, ValidationFailed
from common.time import from_ms
from orders.models import Fill, Order
from orders.states import TERMINAL
from positions import pnl
from positions.models import AgreedFigure, Balance, Drift, FillCursor, Position, RealizedPnl
from realtime.groups import account_group
from realtime.publish import broadcast_on_commit

logger = logging.getLogger(__name__)


def _publish_position(position: Position) -> None:
    from positions.api.serializers import PositionOutput

    broadcast_on_commit(
        group=account_group(position.account_id),
        event="position.updated",
        payload=represent(PositionOutput, position),
    )


def _publish_balances(account_id: int, balances: list[Balance]) -> None:
    from positions.api.serializers import BalanceOutput

    broadcast_on_commit(
        group=account_group(account_id),
        event="balance.updated",
        payload={
            "account": account_id,
            "balances": [represent(BalanceOutput, balance) for balance in balances],
        },
    )


def _assets(symbol: str) -> tuple[str, str]:
    base, _, rest = symbol.partition("/")
    return base, rest.split(":")[0]


def _drift(
    *,
    account_id: int,
    kind: str,
    subject: str,
    field: str,
    ours,
    theirs,
    at: datetime,
    position: Position | None = None,
) -> Drift:
    logger.warning(
        "drift on account %s: %s %s.%s ours=%s theirs=%s",
        account_id,
        kind,
        subject,
        field,
        ours,
        theirs,
    )
    return Drift.objects.create(
        account_id=account_id,
        position=position,
        kind=kind,
        subject=subject,
        field=field,
        ours=_shown(ours),
        theirs=_shown(theirs),
        detected_at=at,
    )


def _shown(value) -> str:
    return format(normalize(value), "f") if isinstance(value, Decimal) else str(value)


# --- Spot and paper: holdings from fills ----------------------------------------------------


def positions_apply_fills(*, account_id: int) -> int:
    """Apply the account's new fills (after its cursor, in id order) to its positions.

    Spot/paper: average-cost holdings (positions.pnl). Derivatives: the exchange's
    realized P&L per trade (Binance's ``realizedPnl``/``rp``) is recorded; contracts and
    entry stay the exchange's. Holds the cursor row lock, so concurrent runs apply each
    fill once; returns how many fills were applied.
    """
    with transaction.atomic():
        last_fill_id, market_type = _locked_cursor(account_id)
        spot = market_type == ExchangeAccount.MarketType.SPOT
        # Average cost needs none of the exchange's payload.
        fills = _fills_after(account_id, last_fill_id, payload=not spot)
        if not fills:
            return 0
        if spot:
            touched = _apply_spot_fills(account_id, fills)
        else:
            touched = _apply_derivative_fills(account_id, fills)
        _advance_cursor(account_id, fills[-1].pk)
        for position in touched.values():
            _publish_position(position)
    return len(fills)


# The statements of positions_apply_fills, written out. It runs after every commit that
# recorded fills (each delivery of order updates), and Django builds a query's SQL anew
# each time it runs - several times longer than the database takes to answer these
# (common/db.py). RawQuerySet builds rows into model instances as the ORM does.


def _locked_cursor(account_id: int) -> tuple[int, str]:
    """(last fill applied, the account's market type): the account's fill cursor, made on
    first use and locked until the transaction ends, and the market type read in the same
    statement (the account's row not locked)."""
    with transaction.get_connection().cursor() as db:
        db.execute(
            f"SELECT c.last_fill_id, a.market_type FROM {FillCursor._meta.db_table} c"  # noqa: S608 - names from the models' metadata
            f" JOIN {ExchangeAccount._meta.db_table} a ON a.id = c.account_id"
            f" WHERE c.account_id = %s{for_update(of='c')}",
            [account_id],
        )
        row = db.fetchone()
    if row is not None:
        return row
    cursor, _ = FillCursor.objects.select_for_update().get_or_create(account_id=account_id)
    market_type = (
        ExchangeAccount.objects.filter(pk=account_id).values_list("market_type", flat=True).get()
    )
    return cursor.last_fill_id, market_type


def _advance_cursor(account_id: int, last_fill_id: int) -> None:
    """Record ``last_fill_id`` as the account's last fill applied (its cursor is locked)."""
    with transaction.get_connection().cursor() as db:
        db.execute(
            f"UPDATE {FillCursor._meta.db_table} SET last_fill_id = %s WHERE account_id = %s",  # noqa: S608
            [last_fill_id, account_id],
        )


def _fills_after(account_id: int, last_fill_id: int, *, payload: bool) -> list[Fill]:
    """The account's fills after ``last_fill_id``, in id order, at most 1000; without
    ``payload``, the exchange's payload (``raw``) is left unread, as ``defer("raw")``."""
    selected = columns(Fill, without=() if payload else ("raw",))
    return list(
        Fill.objects.raw(
            f"SELECT {selected} FROM {Fill._meta.db_table}"  # noqa: S608 - names from the model's metadata
            " WHERE account_id = %s AND id > %s ORDER BY id LIMIT 1000",
            [account_id, last_fill_id],
        )
    )


def _locked_open_holdings(account_id: int) -> list[Position]:
    """The account's open spot holdings, locked until the transaction ends, in id order."""
    return list(
        Position.objects.raw(
            f"SELECT * FROM {Position._meta.db_table}"  # noqa: S608 - names from the model's metadata
            " WHERE account_id = %s AND side = %s AND status = %s AND source = %s"
            f" ORDER BY id{for_update()}",
            [account_id, Position.Side.LONG, Position.Status.OPEN, Position.Source.FILLS],
        )
    )


# What applying fills changes on a spot holding.
SPOT_FIELDS = ["contracts", "entry_price", "realized_pnl", "status", "closed_at", "updated_at"]


def _apply_spot_fills(account_id: int, fills: list[Fill]) -> dict[int, Position]:
    """Average-cost holdings from fills, in fill order. The account's open holdings are
    locked and read once, and each written once at the end (a delivery of fills touches
    the same few symbols many times)."""
    open_positions = {p.symbol: p for p in _locked_open_holdings(account_id)}
    touched: dict[int, Position] = {}
    dirty: dict[int, Position] = {}
    realized: list[RealizedPnl] = []
    for fill in fills:
        base, quote = _assets(fill.symbol)
        position = open_positions.get(fill.symbol)
        at = fill.exchange_ts or fill.created_at
        if position is None:
            if fill.side == "sell":
                continue  # coins from before the platform: no holding of ours to reduce
            position = Position.objects.create(
                account_id=account_id,
                symbol=fill.symbol,
                side=Position.Side.LONG,
                source=Position.Source.FILLS,
                base_asset=base,
                quote_asset=quote,
                opened_at=at,
            )
            open_positions[fill.symbol] = position
        holding = pnl.Holding(
            amount=position.contracts,
            average_cost=position.entry_price or ZERO,
            realized=position.realized_pnl,
        )
        applied = pnl.apply_fill(
            holding,
            pnl.SpotFill(
                side=fill.side,
                amount=fill.amount,
                price=fill.price,
                fee=fill.fee,
                fee_asset=fill.fee_asset,
                base=base,
                quote=quote,
            ),
        )
        position.contracts = applied.holding.amount
        position.entry_price = applied.holding.average_cost
        position.realized_pnl = applied.holding.realized
        if fill.side == "sell":
            realized.append(
                RealizedPnl(
                    account_id=account_id,
                    position=position,
                    fill=fill,
                    amount=applied.realized,
                    asset=quote,
                    realized_at=at,
                )
            )
        if position.contracts == 0:
            # Closed now: saved at once, and the next buy opens a new holding.
            position.status = Position.Status.CLOSED
            position.closed_at = at
            position.save(update_fields=SPOT_FIELDS)
            dirty.pop(position.pk, None)
            del open_positions[fill.symbol]
        else:
            dirty[position.pk] = position
        touched[position.pk] = position
    for position in dirty.values():
        position.save(update_fields=SPOT_FIELDS)
    RealizedPnl.objects.bulk_create(realized)
    return touched


def _apply_derivative_fills(account_id: int, fills: list[Fill]) -> dict[int, Position]:
    touched: dict[int, Position] = {}
    for fill in fills:
        raw = fill.raw or {}
        realized = to_decimal(raw.get("realizedPnl", raw.get("rp")))
        if realized is None:
            continue
        at = fill.exchange_ts or fill.created_at
        # Fills are applied before each exchange sync, so the position a fill belongs to
        # is the open one; a fill that arrives after its position closed goes to the last.
        position = (
            Position.objects.filter(account_id=account_id, symbol=fill.symbol)
            .order_by("-status", "-opened_at", "-pk")  # "open" sorts after "closed"
            .first()
        )
        _, quote = _assets(fill.symbol)
        RealizedPnl.objects.create(
            account_id=account_id,
            position=position,
            fill=fill,
            amount=realized,
            asset=quote,
            realized_at=at,
        )
        if position is not None:
            Position.objects.filter(pk=position.pk).update(
                realized_pnl=position.realized_pnl + realized
            )
            position.realized_pnl += realized
            touched[position.pk] = position
    return touched


def positions_mark(*, account: ExchangeAccount) -> int:
    """Mark a spot or paper account's open holdings at the last price (from the shared
    cache beat keeps warm; no exchange call): ``mark_price`` and the unrealized P&L
    against the average cost - computed, as spot has no exchange position to read them
    from. Returns how many holdings changed; pushes them on commit."""
    from positions.selectors import last_prices

    prices = last_prices([account], fetch=False)
    changed = []
    with transaction.atomic():
        for position in (
            Position.objects.select_for_update()
            .filter(account=account, status=Position.Status.OPEN, source=Position.Source.FILLS)
            .order_by("pk")
        ):
            mark = prices.get(position.symbol)
            if mark is None or mark == position.mark_price:
                continue
            position.mark_price = mark
            position.unrealized_pnl = (mark - (position.entry_price or ZERO)) * position.contracts
            position.save(update_fields=["mark_price", "unrealized_pnl", "updated_at"])
            changed.append(position)
        for position in changed:
            _publish_position(position)
    return len(changed)


# --- Derivatives: positions from the exchange ----------------------------------------------


@dataclass(frozen=True, slots=True)
class ExchangePosition:
    symbol: str
    side: str
    contracts: Decimal
    contract_size: Decimal | None
    entry_price: Decimal | None
    mark_price: Decimal | None
    liquidation_price: Decimal | None
    unrealized_pnl: Decimal | None
    margin: Decimal | None
    leverage: Decimal | None
    notional: Decimal | None
    timestamp: datetime | None
    raw: dict


def parse_position(payload: dict) -> ExchangePosition:
    contracts = to_decimal(payload.get("contracts"), default=ZERO)
    size = to_decimal(payload.get("contractSize"))
    return ExchangePosition(
        symbol=payload["symbol"],
        side=payload.get("side") or "long",
        contracts=contracts * (size or Decimal(1)),
        contract_size=size,
        entry_price=to_decimal(payload.get("entryPrice")),
        mark_price=to_decimal(payload.get("markPrice")),
        liquidation_price=to_decimal(payload.get("liquidationPrice")),
        unrealized_pnl=to_decimal(payload.get("unrealizedPnl")),
        margin=to_decimal(payload.get("initialMargin") or payload.get("collateral")),
        leverage=to_decimal(payload.get("leverage")),
        notional=to_decimal(payload.get("notional")),
        timestamp=from_ms(payload.get("timestamp")),
        raw=payload.get("info") or {},
    )


def positions_apply_exchange(
    *,
    account: ExchangeAccount,
    payloads: list[dict],
    complete: bool,
    as_of: datetime | None = None,
) -> list[Position]:
    """Make the account's derivative positions equal to what the exchange reports.

    One-way mode: one position per symbol, its side the sign of the amount (a flip
    closes the long row and opens a short one). ``complete``: the payloads are every
    open position (a REST snapshot), so a symbol missing from them is flat; a stream
    update carries only what changed. The exchange's signed amounts are held against the
    last figures our fills agreed with (``_agree``: a mismatch that outlasts
    DRIFT_CONFIRM_SECONDS is a Drift row); our record follows the exchange at once.
    ``as_of``: when the exchange's figures were true (a REST snapshot: when it was asked
    for); else the payloads' own times, else now. Pushes ``position.updated`` on commit.
    """
    now = timezone.now()
    theirs: dict[str, ExchangePosition] = {}
    for payload in payloads:
        position = parse_position(payload)
        known = theirs.get(position.symbol)
        if known is None or _later(position, known):
            theirs[position.symbol] = position
    changed: list[Position] = []
    with transaction.atomic():
        ours = {
            p.symbol: p
            for p in Position.objects.select_for_update()
            .filter(account=account, status=Position.Status.OPEN, source=Position.Source.EXCHANGE)
            .order_by("pk")
        }
        symbols = set(theirs) | (set(ours) if complete else set())
        signed_by_symbol = {}
        for symbol in sorted(symbols):
            exchange = theirs.get(symbol)
            signed = ZERO
            if exchange is not None:
                signed = exchange.contracts if exchange.side == "long" else -exchange.contracts
            signed_by_symbol[symbol] = signed
        if as_of is not None or complete:
            stale = _agree(
                account_id=account.pk,
                kind=AgreedFigure.Kind.POSITION,
                theirs=signed_by_symbol,
                as_of=as_of or now,
                now=now,
                complete=complete,
                positions=ours,
            )
        else:
            # A stream delivery's positions each were true at their own message's time
            # (ccxt's cache hands back older rows beside the new one): each is held
            # against the fills up to its own time, never a later one's.
            stale = set()
            for symbol, signed in signed_by_symbol.items():
                stale |= _agree(
                    account_id=account.pk,
                    kind=AgreedFigure.Kind.POSITION,
                    theirs={symbol: signed},
                    as_of=theirs[symbol].timestamp or now,
                    now=now,
                    complete=False,
                    positions=ours,
                )
        for symbol in sorted(symbols - stale):
            # A row older than the figure agreed says nothing new: it moves no record.
            position = ours.get(symbol)
            exchange = theirs.get(symbol)
            signed = signed_by_symbol[symbol]
            if position is not None and (signed == 0 or position.side != exchange.side):
                changed.append(_close(position, now))
                position = None
            if signed != 0:
                if position is None:
                    position = _open(account, exchange, now)
                _copy(position, exchange, now)
                changed.append(position)
        for position in changed:
            _publish_position(position)
    return changed


def _later(position: ExchangePosition, known: ExchangePosition) -> bool:
    """Which of two rows of one symbol tells where it stands: the later one. ccxt.pro
    keeps a one-way position's rows by side ("long", "short", "both" once flat), so a
    delivery can carry a long row from before the position closed beside the flat row
    that closed it; of two rows from one moment (hedge mode's two sides), the open one."""

    def moment(p: ExchangePosition) -> datetime:
        return p.timestamp or _BEGINNING

    return (moment(position), position.contracts > 0) > (moment(known), known.contracts > 0)


def _open(account: ExchangeAccount, exchange: ExchangePosition, now: datetime) -> Position:
    base, quote = _assets(exchange.symbol)
    return Position(
        account=account,
        symbol=exchange.symbol,
        side=exchange.side,
        source=Position.Source.EXCHANGE,
        base_asset=base,
        quote_asset=quote,
        opened_at=exchange.timestamp or now,
    )


def _copy(position: Position, exchange: ExchangePosition, now: datetime) -> None:
    position.contracts = exchange.contracts
    position.contract_size = exchange.contract_size
    position.entry_price = exchange.entry_price
    position.mark_price = exchange.mark_price
    position.liquidation_price = exchange.liquidation_price
    position.unrealized_pnl = exchange.unrealized_pnl
    position.margin = exchange.margin
    position.leverage = exchange.leverage
    position.notional = exchange.notional
    position.raw = exchange.raw
    position.last_synced_at = now
    position.save()


def _close(position: Position, now: datetime) -> Position:
    position.status = Position.Status.CLOSED
    position.closed_at = now
    position.contracts = ZERO
    position.unrealized_pnl = ZERO
    # What only an open position has: a closed one shows none rather than stale figures.
    position.mark_price = position.liquidation_price = None
    position.notional = position.margin = None
    position.last_synced_at = now
    position.save()
    return position


def _add_leverage(client, payloads: list[dict]) -> None:
    """Binance's position risk (v3) carries no leverage: take each open position's from
    the symbol configuration (one request for the lot) where the payload has none."""
    missing = [p["symbol"] for p in payloads if p.get("leverage") is None and p.get("contracts")]
    if not missing or not client.has.get("fetchLeverages"):
        return
    try:
        leverages = client.fetch_leverages(missing)
    except Exception as exc:  # noqa: BLE001 - the positions themselves still sync
        logger.info("no leverage for %s: %s", missing, exc)
        return
    for payload in payloads:
        found = leverages.get(payload["symbol"]) or {}
        leverage = found.get("longLeverage") or found.get("shortLeverage")
        if payload.get("leverage") is None and leverage is not None:
            payload["leverage"] = leverage


def positions_sync(*, account: ExchangeAccount) -> list[Position]:
    """REST sync of a derivatives account's positions (beat, and "sync now")."""
    if account.market_type == ExchangeAccount.MarketType.SPOT:
        positions_apply_fills(account_id=account.pk)
        return []
    client = gateway.get_client(account)
    gateway.ensure_markets(client, account)
    asked = timezone.now()
    payloads = client.fetch_positions()
    _add_leverage(client, payloads)
    positions_apply_fills(account_id=account.pk)
    return positions_apply_exchange(account=account, payloads=payloads, complete=True, as_of=asked)


# --- Balances -------------------------------------------------------------------------------


def balances_apply(
    *, account: ExchangeAccount, balance: dict, complete: bool, as_of: datetime | None = None
) -> list[Balance]:
    """Store the exchange's balances (a ccxt balance structure) as the account's current ones.

    On a spot account each asset's total is held against the last figure our fills agreed
    with (``_agree``): a deposit, a withdrawal or a trade we never saw leaves a Drift row
    once the mismatch outlasts DRIFT_CONFIRM_SECONDS. Derivative wallets move with funding
    and P&L too, so they are not compared. ``as_of``: when the figures were true (a REST
    snapshot: when it was asked for); else the structure's own time, else now.
    """
    now = timezone.now()
    totals = balance.get("total") or {}
    frees = balance.get("free") or {}
    useds = balance.get("used") or {}
    as_of = as_of or from_ms(balance.get("timestamp")) or now
    with transaction.atomic():
        current = {
            b.asset: b
            for b in Balance.objects.select_for_update().filter(account=account).order_by("pk")
        }
        assets = sorted(set(totals) | (set(current) if complete else set()))
        if account.market_type == ExchangeAccount.MarketType.SPOT:
            _agree(
                account_id=account.pk,
                kind=AgreedFigure.Kind.BALANCE,
                theirs={asset: to_decimal(totals.get(asset), default=ZERO) for asset in assets},
                as_of=as_of,
                now=now,
                complete=complete,
            )
        stored: list[Balance] = []
        for asset in assets:
            total = to_decimal(totals.get(asset), default=ZERO)
            row = current.get(asset)
            if row is None:
                if not total:
                    continue
                row = Balance(account=account, asset=asset)
            free, used = to_decimal(frees.get(asset)), to_decimal(useds.get(asset))
            if free is None and used is None and row.pk is not None:
                # A USD-M stream update carries the wallet balance alone: until the next
                # REST sync says what is available, the wallet's change moves the free
                # part and what is in use stays (it read 0 free for ~30 s after a trade).
                free = max(ZERO, row.free + total - row.total)
                used = row.used
            row.total = total
            row.free = free if free is not None else ZERO
            row.used = used if used is not None else ZERO
            row.synced_at = now
            row.save()
            stored.append(row)
        _publish_balances(account.pk, stored)
    return stored


# --- Drift: the exchange's figures against our fills, at a consistent point --------------

# Before any fill: where a derivative position we never saw starts from (it is held
# against every fill of its symbol - a position opened elsewhere is drift).
_BEGINNING = datetime(2000, 1, 1, tzinfo=UTC)


def _agree(
    *,
    account_id: int,
    kind: str,
    theirs: dict[str, Decimal],
    as_of: datetime,
    now: datetime,
    complete: bool,
    positions: dict[str, Position] | None = None,
) -> set[str]:
    """Hold the exchange's figures (asset totals or signed positions, true at ``as_of``)
    against the last ones our fills agreed with, plus the fills between the two times.

    Agreeing moves the figure forward. A mismatch is first only noted: the figure may
    include a fill not delivered yet (the balance came first), which then closes the gap
    - the figure stays where it was, so no fill is ever counted twice. A mismatch still
    there DRIFT_CONFIRM_SECONDS later is real: a Drift row, and the exchange's figure is
    taken. A figure older than the one agreed (a slow REST answer after a stream update)
    says nothing new. A spot asset seen for the first time is taken as it is (what the
    account held before the platform); a derivative symbol is held against all its fills.
    ``complete``: ``theirs`` is everything the exchange has (a REST snapshot), so a
    subject missing from it is zero there. Runs in the caller's transaction; the figures'
    rows are locked. Returns the subjects whose figure here is older than the one agreed.
    """
    agreed = AgreedFigure.objects.select_for_update().filter(account_id=account_id, kind=kind)
    if not complete:
        agreed = agreed.filter(subject__in=list(theirs))
    figures = {f.subject: f for f in agreed.order_by("pk")}
    theirs = {**dict.fromkeys(figures, ZERO), **theirs}
    for subject in theirs:
        if subject not in figures:
            figures[subject] = AgreedFigure(
                account_id=account_id,
                kind=kind,
                subject=subject,
                amount=ZERO if kind == AgreedFigure.Kind.POSITION else theirs[subject],
                as_of=_BEGINNING if kind == AgreedFigure.Kind.POSITION else as_of,
            )
    stale = {subject for subject, f in figures.items() if f.as_of > as_of}
    due = [f for f in figures.values() if f.as_of < as_of]
    if not due:
        for figure in figures.values():
            if figure.pk is None:
                figure.save()
        return stale
    fills = _fills_between(account_id, min(f.as_of for f in due), as_of)
    confirm = timedelta(seconds=settings.DRIFT_CONFIRM_SECONDS)
    for subject, amount in theirs.items():
        figure = figures[subject]
        if figure.as_of < as_of:
            since = [fill for fill in fills if _fill_time(fill) > figure.as_of]
            expected = figure.amount + _effect(kind, subject, since)
            if expected == amount:
                figure.amount, figure.as_of, figure.mismatch_since = amount, as_of, None
            elif now - (figure.mismatch_since or now) < confirm:
                figure.mismatch_since = figure.mismatch_since or now
            else:
                _drift(
                    account_id=account_id,
                    kind=kind,
                    subject=subject,
                    field="total" if kind == AgreedFigure.Kind.BALANCE else "contracts",
                    ours=expected,
                    theirs=amount,
                    at=now,
                    position=(positions or {}).get(subject),
                )
                figure.amount, figure.as_of, figure.mismatch_since = amount, as_of, None
        figure.save()
    return stale


def _fill_time(fill: Fill) -> datetime:
    return fill.exchange_ts or fill.created_at


def _fills_between(account_id: int, after: datetime, until: datetime) -> list[Fill]:
    """The account's fills whose exchange time lies in (after, until] (our clock for a fill
    the exchange gave no time)."""
    return list(
        Fill.objects.filter(account_id=account_id)
        .filter(
            Q(exchange_ts__gt=after, exchange_ts__lte=until)
            | Q(exchange_ts__isnull=True, created_at__gt=after, created_at__lte=until)
        )
        .only("symbol", "side", "amount", "cost", "fee", "fee_asset", "exchange_ts", "created_at")
    )


def _effect(kind: str, subject: str, fills: list[Fill]) -> Decimal:
    """How ``fills`` moved a spot asset (bought base, spent quote, fees) or a derivative
    symbol's signed position."""
    delta = ZERO
    for fill in fills:
        sign = 1 if fill.side == "buy" else -1
        if kind == AgreedFigure.Kind.POSITION:
            if fill.symbol == subject:
                delta += sign * fill.amount
            continue
        base, quote = _assets(fill.symbol)
        if subject == base:
            delta += sign * fill.amount
        if subject == quote:
            delta -= sign * fill.cost
        if subject == fill.fee_asset:
            delta -= fill.fee
    return delta


def balances_sync(*, account: ExchangeAccount) -> list[Balance]:
    client = gateway.get_client(account)
    asked = timezone.now()
    return balances_apply(
        account=account, balance=client.fetch_balance(), complete=True, as_of=asked
    )


def balances_snapshot(
    *, account: ExchangeAccount, prices: dict[str, Decimal], reference: str
) -> list[BalanceSnapshot]:
    """One BalanceSnapshot per asset of the account's current balances, valued in
    ``reference`` at ``prices`` (asset -> price in reference; None where unknown)."""
    now = timezone.now()
    rows = [
        BalanceSnapshot(
            account=account,
            asset=b.asset,
            total=b.total,
            free=b.free,
            used=b.used,
            value_quote=(b.total * prices[b.asset]) if b.asset in prices else None,
            quote_asset=reference,
            taken_at=now,
        )
        for b in Balance.objects.filter(account=account)
    ]
    return BalanceSnapshot.objects.bulk_create(rows)


# --- Closing --------------------------------------------------------------------------------


def position_close(*, position: Position, actor: str, created_by=None) -> Order:
    """Close a position with a reduce-only market order through the order service, its
    stop-loss and take-profit cancelled first.

    The working protective orders of the position (orders.services.brackets
    ``protective_orders``: stop-loss / take-profit, reduce-only, on the exit side) are
    asked to cancel - a spot OCO list as one. On spot they hold the coins the close
    sells: the close order waits ``pending`` until every cancel is confirmed (an unknown
    outcome keeps it waiting, never selling coins a list still holds) and is sent by the
    follow-up of the last one to end. On USD-M they are reduce-only, so the close goes at
    once; they are cancelled all the same, or they would act on the next position.

    Exactly once: the close order's Idempotency-Key is the position's and its attempt
    (earlier close orders that ended, plus one), so repeated or concurrent closes - a
    double click, panic while a ``close`` signal runs, a refused stop's policy - return
    the one close order still working. Raises Conflict when the position is closed."""
    from orders.services import OrderRequest, order_submit
    from orders.services.brackets import (
        CLOSE_KEY_PREFIX,
        protection_cancel,
        protection_locked,
        protective_orders,
    )

    if position.status != Position.Status.OPEN or position.contracts <= 0:
        raise Conflict("The position is already closed.")
    account = position.account
    exit_side = "sell" if position.side == Position.Side.LONG else "buy"
    protecting = list(
        protective_orders(account_id=account.pk, symbol=position.symbol, side=exit_side)
    )
    if protecting:
        protection_cancel(
            account=account,
            symbol=position.symbol,
            side=exit_side,
            actor=actor,
            reason=f"closing the position ({actor})",
        )
        _protection_set(position, Position.Protection.NONE, "closing: stop and target cancelled")
    amount = position.contracts
    if position.source == Position.Source.FILLS:
        # Sell what we hold by our fills, and never more than the exchange will have free
        # once the protective orders' hold is released.
        free = (
            Balance.objects.filter(account_id=position.account_id, asset=position.base_asset)
            .values_list("free", flat=True)
            .first()
        )
        if free is not None:
            amount = min(amount, free + protection_locked(protecting))
    if amount <= 0:
        raise ValidationFailed(f"No free {position.base_asset} to sell on this account.")
    prefix = f"{CLOSE_KEY_PREFIX}{position.pk}:"
    attempt = (
        Order.objects.filter(
            account=account, idempotency_key__startswith=prefix, status__in=TERMINAL
        ).count()
        + 1
    )
    key = f"{prefix}{attempt}"
    try:
        order, _ = order_submit(
            account=account,
            request=OrderRequest(
                symbol=position.symbol,
                side=exit_side,
                type="market",
                amount=amount,
                # Spot too: it only sells what is held, so the kill switch lets it through.
                reduce_only=True,
            ),
            origin=Order.Origin.DASHBOARD if created_by else Order.Origin.SYSTEM,
            actor=actor,
            created_by=created_by,
            idempotency_key=key,
        )
    except Unprocessable:
        # A concurrent close stored its order under this key first (the amount it read
        # may differ by a fill): that order is the close.
        order = Order.objects.get(account=account, idempotency_key=key)
    return order


def positions_close_all(*, account: ExchangeAccount, actor: str, created_by=None) -> list[Order]:
    """Close every open position of ``account`` (``position_close`` each)."""
    orders = []
    for position in Position.objects.filter(account=account, status=Position.Status.OPEN):
        try:
            orders.append(position_close(position=position, actor=actor, created_by=created_by))
        except (Conflict, ValidationFailed) as exc:
            logger.info("not closing %s: %s", position, exc)
    return orders


# --- Protection -----------------------------------------------------------------------------


def _protection_set(position: Position, protection: str, reason: str) -> bool:
    """Record the position's protection with its reason (a conditional update: unchanged,
    nothing is written); pushed on commit. Returns whether it changed."""
    now = timezone.now()
    changed = (
        Position.objects.filter(pk=position.pk, status=Position.Status.OPEN)
        .exclude(protection=protection, protection_reason=reason)
        .update(
            protection=protection,
            protection_reason=reason,
            protection_changed_at=now,
            updated_at=now,
        )
    )
    if changed:
        position.protection, position.protection_reason = protection, reason
        position.protection_changed_at = position.updated_at = now
        _publish_position(position)
    return bool(changed)


def _open_position(account_id: int, symbol: str, side: str) -> Position | None:
    return (
        Position.objects.select_related("account")
        .filter(account_id=account_id, symbol=symbol, side=side, status=Position.Status.OPEN)
        .first()
    )


def position_protection_placed(*, account_id: int, symbol: str, side: str, reason: str) -> None:
    """A bracket placed a stop-loss / take-profit for the open position: it is protected.
    (A derivative position the exchange sync has not brought in yet stays as it is.)"""
    position = _open_position(account_id, symbol, side)
    if position is not None:
        with transaction.atomic():
            _protection_set(position, Position.Protection.PROTECTED, reason)


def position_protection_refused(
    *, account_id: int, symbol: str, side: str, reason: str
) -> Position | None:
    """The exchange refused a stop-loss or take-profit of the open position: mark it
    unprotected, raise a critical ``position.unprotected`` alert, and apply the account's
    ``on_protection_refused`` policy (alert only, or close the position at market).

    Idempotent: the same refusal again changes nothing (the position already says so);
    the alert counts repeats; the close is ``position_close``, exactly once. A refusal for
    a position that is flat or gone (it was closed meanwhile) only logs. Derivative
    positions come from the exchange: when ours is not there yet, it is synced first."""
    from accounts.models import Alert
    from accounts.services import alert_raise

    position = _open_position(account_id, symbol, side)
    if position is None:
        account = ExchangeAccount.objects.get(pk=account_id)
        if account.market_type != ExchangeAccount.MarketType.SPOT:
            try:
                positions_sync(account=account)
            except Exception as exc:  # noqa: BLE001 - logged; the refusal is still reported
                logger.warning("position sync for a refused stop failed: %s", exc)
            position = _open_position(account_id, symbol, side)
    if position is None or position.contracts <= 0:
        logger.info("%s %s: protective order refused, no open position: %s", symbol, side, reason)
        return None
    account = position.account
    close = account.on_protection_refused == ExchangeAccount.ProtectionPolicy.CLOSE
    with transaction.atomic():
        if not _protection_set(position, Position.Protection.UNPROTECTED, reason):
            return position  # this refusal was handled already
        alert_raise(
            kind="position.unprotected",
            account=account,
            subject=symbol,
            severity=Alert.Severity.CRITICAL,
            message=(
                f"{side} {normalize(position.contracts)} {symbol} is unprotected: {reason}. "
                + (
                    "Closing it at market (the account's policy)."
                    if close
                    else "Place a stop by hand or close it."
                )
            ),
        )
    if close:
        try:
            position_close(position=position, actor="system:protection-refused")
        except ApplicationError as exc:
            alert_raise(
                kind="position.close_failed",
                account=account,
                subject=symbol,
                severity=Alert.Severity.CRITICAL,
                message=f"Could not close unprotected {side} {symbol}: {exc.message}",
            )
    return position


def account_sync(*, account: ExchangeAccount) -> None:
    """Balances and positions of one account from the exchange, its state recorded.

    The beat schedule runs this for every active account; "sync now" in the API too.
    """
    from accounts.errors import classify
    from accounts.models import ExchangeSyncState
    from accounts.services import sync_state_record

    now = timezone.now()
    for kind, sync in (
        (ExchangeSyncState.Kind.BALANCES, balances_sync),
        (ExchangeSyncState.Kind.POSITIONS, positions_sync),
    ):
        try:
            sync(account=account)
        except Exception as exc:  # noqa: BLE001 - recorded, retried next period
            failure = classify(exc)
            logger.warning("%s sync of account %s failed: %s", kind, account.pk, failure)
            sync_state_record(account=account, kind=kind, at=now, failure=failure)
        else:
            sync_state_record(account=account, kind=kind, at=now)
    ExchangeAccount.objects.filter(pk=account.pk).update(last_sync_at=now)


def snapshots_take(*, reference: str) -> int:
    """BalanceSnapshot rows for every active account, valued in ``reference``."""
    from positions.selectors import last_prices

    accounts = list(ExchangeAccount.objects.filter(is_active=True))
    prices = last_prices(accounts)
    from positions.valuation import asset_price

    count = 0
    for account in accounts:
        assets = Balance.objects.filter(account=account).values_list("asset", flat=True)
        valued = {a: p for a in assets if (p := asset_price(a, reference, prices)) is not None}
        count += len(balances_snapshot(account=account, prices=valued, reference=reference))
    return count


# --- Exchange work asked for by a request, done by the sync worker (accounts.jobs) --------


def account_sync_job(account_id: int) -> str:
    return f"account-sync:{account_id}"


def account_sync_start(*, account: ExchangeAccount, user_id: int | None) -> jobs.Job:
    """Sync now: queue ``account_sync`` for the sync worker, or join the one queued or
    running. What it finds arrives as every sync's does: the positions and balances
    (pushed as ``position.updated`` / ``balance.updated``) and the account's ``balances``
    and ``positions`` sync states. Counts against ``user_id``'s jobs (TooManyJobs)."""
    from positions import tasks

    return jobs.job_start(
        name=account_sync_job(account.pk),
        task=tasks.account_sync,
        args=(account.pk,),
        user_id=user_id,
    )


def account_sync_run(*, account_id: int, job_id: str = "") -> None:
    """The worker's side of a sync (beat's, or the job ``job_id``): ``account_sync`` of an
    active account, never two of one account at once - one already running does the
    work of both."""
    from common.tasks import exclusive

    try:
        account = ExchangeAccount.objects.filter(pk=account_id, is_active=True).first()
        if account is None:
            return
        with exclusive(f"account_sync:{account_id}", seconds=120) as mine:
            if mine:
                account_sync(account=account)
    finally:
        if job_id:
            jobs.job_finish(name=account_sync_job(account_id), job_id=job_id)


def prices_job(account: ExchangeAccount) -> str:
    return f"prices:{gateway.markets_cache_key(account)}"


def prices_refresh_start(*, accounts: list[ExchangeAccount]) -> bool:
    """Queue a ticker call for each venue of ``accounts`` (once per venue, joined while
    queued or running; nobody's job: bounded by the venues in use) - for pages that found
    their prices cold. Whether any is queued or running; a broker that does not take it
    is logged and left to beat's next refresh."""
    from positions import tasks

    pending = False
    for account in accounts:
        try:
            jobs.job_start(name=prices_job(account), task=tasks.prices_refresh, args=(account.pk,))
        except ApplicationError as exc:
            logger.warning("prices of account %s not queued: %s", account.pk, exc.message)
        else:
            pending = True
    return pending


def prices_refresh_run(*, account_id: int, job_id: str) -> None:
    from positions.selectors import prices_refresh

    account = ExchangeAccount.objects.filter(pk=account_id).first()
    try:
        if account is not None:
            prices_refresh(account)
    finally:
        if account is not None:
            jobs.job_finish(name=prices_job(account), job_id=job_id)


def candles_job(*, account: ExchangeAccount, symbol: str, timeframe: str, limit: int) -> str:
    return f"candles:{gateway.markets_cache_key(account)}:{symbol}:{timeframe}:{limit}"


def candles_read(
    *, account: ExchangeAccount, symbol: str, timeframe: str, limit: int, user_id: int | None
):
    """The candles to show now (``positions.selectors.Candles``), never waiting for the
    exchange: fresh ones from the cache as they are; otherwise a worker is asked for newer
    ones (``refreshing``) and older ones, if any, are shown meanwhile (``rows`` None: none
    yet). A symbol the venue refused is a ValidationFailed, an exchange that did not answer
    with nothing to show a ServiceUnavailable, until CANDLES_CACHE_SECONDS have passed.

    Raises TooManyJobs when there is nothing to show and ``user_id`` has no job left; with
    older candles to show, they are shown without a refresh instead.
    """
    from dataclasses import replace

    from accounts.jobs import TooManyJobs
    from common.exceptions import ServiceUnavailable
    from positions.selectors import Candles, candles_cached

    stored = _candles_stored(account=account, symbol=symbol, timeframe=timeframe, limit=limit)
    if stored is not None:
        return stored
    wanted = {"account": account, "symbol": symbol, "timeframe": timeframe, "limit": limit}
    cached = candles_cached(**wanted)
    if cached is not None and cached.fresh:
        if cached.rows is None and cached.error:
            code, message = cached.error
            raise (ValidationFailed if code == "invalid" else ServiceUnavailable)(message)
        return cached
    if cached is None or cached.rows is None:
        _candles_refresh_start(**wanted, user_id=user_id)
        return Candles(rows=None, fetched_at=None, refreshing=True)
    try:
        _candles_refresh_start(**wanted, user_id=user_id)
    except TooManyJobs:
        return cached
    return replace(cached, refreshing=True)


def _candles_stored(*, account: ExchangeAccount, symbol: str, timeframe: str, limit: int):
    """The chart's candles from the market data the platform keeps (a backfill, a candle
    subscription), when they reach the present: the newest stored candle is at most two
    periods old. None otherwise (the chart then asks a worker for the exchange's)."""
    from marketdata.selectors import candles_frame
    from marketdata.timeframes import timeframe_ms
    from positions.selectors import Candles

    frame = candles_frame(venue=account.data_venue, symbol=symbol, timeframe=timeframe, n=limit)
    if frame.empty:
        return None
    newest = frame.index[-1].to_pydatetime()
    if timezone.now() - newest > timedelta(milliseconds=2 * timeframe_ms(timeframe)):
        return None
    rows = [
        {
            "time": int(moment.timestamp() * 1000),
            "open": repr(row.open),
            "high": repr(row.high),
            "low": repr(row.low),
            "close": repr(row.close),
            "volume": repr(row.volume),
        }
        for moment, row in zip(frame.index, frame.itertuples(index=False), strict=True)
    ]
    return Candles(rows=rows, fetched_at=timezone.now())


def _candles_refresh_start(
    *, account: ExchangeAccount, symbol: str, timeframe: str, limit: int, user_id: int | None
) -> jobs.Job:
    from positions import tasks

    if (cached := gateway.cached_markets(account)) is not None and symbol not in cached[0]:
        # Refused here, not by a job: a made-up symbol must not cost an exchange call.
        raise ValidationFailed(
            f"Unknown symbol {symbol!r} on {account.exchange_id} {account.market_type}.",
            extra={"field": "symbol"},
        )
    return jobs.job_start(
        name=candles_job(account=account, symbol=symbol, timeframe=timeframe, limit=limit),
        task=tasks.candles_refresh,
        args=(account.pk, symbol, timeframe, limit),
        user_id=user_id,
    )


def candles_fetch(*, account: ExchangeAccount, symbol: str, timeframe: str, limit: int) -> None:
    """Candles from the exchange into the cache (``positions.selectors.candles_cached``);
    what the exchange said instead, when it refused or did not answer - keeping the
    candles fetched before, which stay worth showing while it is down."""
    import ccxt

    from accounts.errors import classify
    from positions.selectors import CANDLES_KEEP_SECONDS, candles_key

    key = candles_key(account=account, symbol=symbol, timeframe=timeframe, limit=limit)
    fetched_at = timezone.now()
    rows = error = None
    try:
        raw = gateway.get_client(account).fetch_ohlcv(symbol, timeframe, limit=limit)
    except (ccxt.BadSymbol, ccxt.BadRequest) as exc:
        error = ("invalid", f"No candles for {symbol!r} {timeframe}: {exc}")
    except Exception as exc:  # noqa: BLE001 - shown to the asker as the exchange's failure
        error = ("unavailable", f"The exchange did not answer for candles: {classify(exc).message}")
        previous = cache.get(key)
        rows = previous.get("rows") if isinstance(previous, dict) else None
    else:
        rows = [
            {
                "time": int(ts),
                "open": str(to_decimal(o)),
                "high": str(to_decimal(h)),
                "low": str(to_decimal(low)),
                "close": str(to_decimal(c)),
                "volume": str(to_decimal(v)),
            }
            for ts, o, h, low, c, v in raw
        ]
    cache.set(
        key,
        {"rows": rows, "fetched_at": fetched_at, "error": error},
        timeout=CANDLES_KEEP_SECONDS,
    )


def candles_refresh_run(
    *, account_id: int, symbol: str, timeframe: str, limit: int, job_id: str
) -> None:
    account = ExchangeAccount.objects.filter(pk=account_id).first()
    if account is None:
        return
    try:
        candles_fetch(account=account, symbol=symbol, timeframe=timeframe, limit=limit)
    finally:
        jobs.job_finish(
            name=candles_job(account=account, symbol=symbol, timeframe=timeframe, limit=limit),
            job_id=job_id,
        )
