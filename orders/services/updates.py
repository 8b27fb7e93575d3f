"""Merging what the venue says into our records: one path for every source.

The order's own answer, the websocket stream, REST polling and reconciliation all call
``order_apply_update`` and ``fills_record``; arrival order and duplicates do not matter,
because ``orders.states.decide`` never moves an order backward and a fill is unique per
(account, exchange trade id).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterable
from contextlib import contextmanager

from django.db import IntegrityError, transaction
from django.db.models import F
from django.utils import timezone

from accounts.models import ExchangeAccount
from common.db import columns, for_update, one_row
from orders import events, venue
from orders.models import Fill, Order
from orders.services.bulk import copy_insert
from orders.services.common import SYSTEM as SYSTEM_ACTOR
from orders.services.common import publish_fills, publish_order
from orders.states import TERMINAL, Snapshot, Status, Verdict, decide, venue_status
from orders.venue import OrderUpdate, TradeUpdate

logger = logging.getLogger(__name__)


def _locked_order(account: ExchangeAccount, update: OrderUpdate | TradeUpdate) -> Order | None:
    """The account's order by our client order id, else by the venue's id for its symbol
    (Binance numbers orders per symbol), locked until the transaction ends."""
    order = None
    if update.client_order_id:
        order = one_row(
            Order,
            "account_id = %s AND client_order_id = %s",
            [account.pk, update.client_order_id],
            lock=True,
        )
    if order is None and update.order_id:
        order = one_row(
            Order,
            "account_id = %s AND symbol = %s AND exchange_order_id = %s",
            [account.pk, update.symbol, update.order_id],
            lock=True,
        )
    algo_id = getattr(update, "algo_id", None)
    if order is None and algo_id:
        order = one_row(
            Order,
            "account_id = %s AND symbol = %s AND exchange_algo_id = %s",
            [account.pk, update.symbol, algo_id],
            lock=True,
        )
    return order


# An advisory lock class of our own (any constant; the second key is the account id).
_FILLS_LOCK = 0x46494C4C  # "FILL"


def fills_in_commit_order(account_id: int) -> None:
    """Hold the account's fill lock until the transaction ends. Call first thing in a
    transaction that may record fills, before any order row is locked (one order of
    locks for everyone: no deadlock).

    Fill ids come from a sequence when inserted, transactions commit in their own order,
    and positions apply an account's fills after a cursor (the last fill id applied). Two
    deliveries recording fills at once - the stream, a poll, a send's answer - could
    commit id 101 before 100; positions would then move past 100 before it was visible
    and never apply it. Under this lock an account's fills are inserted and committed one
    transaction at a time, so ids commit in order. (SQLite needs none: it runs one
    writing transaction at a time.)"""
    connection = transaction.get_connection()
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_xact_lock(%s, %s)", [_FILLS_LOCK, account_id])


def _fees_as_strings(fees: dict) -> dict[str, str]:
    return {asset: str(amount) for asset, amount in sorted(fees.items())}


def _adopt(account: ExchangeAccount, update: OrderUpdate, actor: str) -> Order:
    """An order on the venue that we never placed: record it, marked external."""
    status = venue_status(update.status, filled=update.filled) or Status.OPEN
    now = timezone.now()
    venue_id = update.order_id or f"algo{update.algo_id}"
    client_id = update.client_order_id or f"ext-{account.pk}-{venue_id}"
    if Order.objects.filter(client_order_id=client_id).exists():
        # Another account's order shares the client id (same keys on two accounts).
        client_id = f"ext-{account.pk}-{venue_id}"
    _free_venue_ids(account.pk, update.symbol, update.order_id, update.algo_id, keep=None)
    order = Order.objects.create(
        account=account,
        symbol=update.symbol,
        side=update.side or "buy",
        type=venue.our_type(update),
        amount=update.amount or update.filled or 1,
        price=update.price,
        stop_price=update.trigger_price,
        reduce_only=update.reduce_only,
        client_order_id=client_id[:36],
        exchange_order_id=update.order_id,
        exchange_algo_id=update.algo_id,
        status=status,
        filled=update.filled,
        remaining=update.remaining,
        average_price=update.average,
        cost=update.cost,
        fees=_fees_as_strings(update.fees),
        origin=Order.Origin.EXTERNAL,
        exchange_created_at=update.timestamp,
        exchange_updated_at=update.updated,
        submitted_at=update.timestamp or now,
        closed_at=now if status in TERMINAL else None,
        raw=update.raw,
    )
    events.record_adopted(order=order, actor=actor, raw=update.raw)
    _link_orphan_fills(order)
    return order


def _link_orphan_fills(order: Order) -> None:
    """Fills that arrived before we knew their order (trade stream ahead of order stream)."""
    if order.exchange_order_id:
        Fill.objects.filter(
            account_id=order.account_id,
            order__isnull=True,
            symbol=order.symbol,
            exchange_order_id=order.exchange_order_id,
        ).update(order=order)


def _free_venue_ids(
    account_id: int, symbol: str, order_id: str | None, algo_id: str | None, *, keep: int | None
) -> None:
    """Take a venue id back from an older order of ours that still holds it.

    A venue that was reset (a restarted exchange, a testnet wiped) numbers its orders
    from the start again, so a new order can be given an id one of our old orders holds.
    The venue's id now names the new order: the old one lets it go, with an event that
    keeps the id, and - if we still thought it working - is left for reconciliation to
    settle by its client order id. A collision must never fail the delivery that brings
    the new order's id."""
    for column, value in (("exchange_order_id", order_id), ("exchange_algo_id", algo_id)):
        if not value:
            continue
        # Once per order, on the send path: a fixed statement (common.db). The id is
        # unique per account and symbol, so there is at most one holder.
        holder = one_row(
            Order,
            f"account_id = %s AND symbol = %s AND {column} = %s AND id <> %s",
            [account_id, symbol, value, keep or 0],
            lock=True,
        )
        if holder is not None:
            Order.objects.filter(pk=holder.pk).update(**{column: None})
            # A batch writes its merged orders at its end: one it holds lets go there too.
            pending = getattr(_batch, "orders", None) or {}
            if holder.pk in pending:
                setattr(pending[holder.pk], column, None)
            events.record_venue_id_reused(order=holder, venue_id=value, actor=SYSTEM_ACTOR)


def order_apply_update(
    *,
    account: ExchangeAccount,
    update: OrderUpdate,
    actor: str,
    adopt: bool = True,
    locked: dict | None = None,
) -> Order | None:
    """Merge one venue view of an order into ours, under the order's row lock.

    A forward change is stored with one event; a backward one (stale status, a filled
    amount that shrinks, anything after a terminal state) is recorded as
    ``order.update_ignored`` and not applied; a pure duplicate writes nothing. An order
    we do not know is adopted as external (``adopt=False`` skips it). Fills carried by
    the update are recorded once each. Pushes ``order.updated`` / ``fill.created`` on
    commit. ``locked``: orders a batch already holds locked, by client and exchange id.
    """
    # Inside a batch the batch's transaction is enough: no savepoint per update (a failed
    # update fails the delivery, which the stream then catches up on by polling).
    with transaction.atomic(savepoint=locked is None):
        if locked is None and update.trades:
            fills_in_commit_order(account.pk)  # (a batch took it already)
        order = _find_locked(locked, update) if locked is not None else None
        if order is None:
            order = _locked_order(account, update)
        if order is None:
            if not adopt:
                return None
            order = _adopt(account, update, actor)
            publish_order(order)
            _record_fills(account=account, order=order, trades=update.trades, actor=actor)
            return order
        _merge(order, update, actor)
        _record_fills(account=account, order=order, trades=update.trades, actor=actor)
    return order


def _find_locked(locked: dict, update: OrderUpdate) -> Order | None:
    return (
        locked.get(("c", update.client_order_id))
        or locked.get(("x", update.symbol, update.order_id))
        or locked.get(("a", update.symbol, update.algo_id))
    )


# What a venue update may change on an order.
MERGED_FIELDS = (
    "status",
    "status_reason",
    "filled",
    "remaining",
    "average_price",
    "cost",
    "fees",
    "exchange_order_id",
    "exchange_algo_id",
    "price",
    "exchange_created_at",
    "exchange_updated_at",
    "raw",
    "closed_at",
    "next_step_at",
    "updated_at",
)


def _save_merged(order: Order) -> None:
    """Write a merged order now, or - inside a batch - once, with the batch's others."""
    pending = getattr(_batch, "orders", None)
    if pending is not None:
        pending[order.pk] = order
    else:
        order.save(update_fields=MERGED_FIELDS)


def _write_orders(orders: Iterable[Order]) -> None:
    """One UPDATE statement for many orders, sent in one go (psycopg pipelines
    executemany): a batch's orders cost one round trip, not one each. Values are
    prepared by the model's own fields, so every backend gets what ``save`` would send."""
    orders = list(orders)
    if not orders:
        return
    fields = [Order._meta.get_field(name) for name in MERGED_FIELDS]
    connection = transaction.get_connection()
    quote = connection.ops.quote_name
    assignments = ", ".join(f"{quote(field.column)} = %s" for field in fields)
    # Names from the model's metadata, values as parameters.
    sql = f"UPDATE {quote(Order._meta.db_table)} SET {assignments} WHERE {quote('id')} = %s"  # noqa: S608
    rows = [
        [field.get_db_prep_save(getattr(order, field.attname), connection) for field in fields]
        + [order.pk]
        for order in orders
    ]
    with connection.cursor() as cursor:
        cursor.executemany(sql, rows)


def _learn_ids(order: Order, update: OrderUpdate) -> bool:
    """Take the venue's ids for ``order`` from an update, the first time it names them
    (a conditional order learns the plain order it placed when it triggers: that order's
    id is on its fills). Returns whether anything was learned."""
    learned = False
    for attname, value in (
        ("exchange_order_id", update.order_id),
        ("exchange_algo_id", update.algo_id),
    ):
        if value and getattr(order, attname) is None:
            _free_venue_ids(
                order.account_id,
                order.symbol,
                value if attname == "exchange_order_id" else None,
                value if attname == "exchange_algo_id" else None,
                keep=order.pk,
            )
            setattr(order, attname, value)
            learned = True
    return learned


def _merge(order: Order, update: OrderUpdate, actor: str) -> None:
    # A conditional order's own updates never carry fills (its plain order's do): merge
    # them with our filled amount, so they move the status and nothing else.
    conditional = update.algo_id is not None
    filled = order.filled if conditional else update.filled
    incoming = venue_status(update.status, filled=filled)
    if incoming is None:
        logger.warning("order %s: venue status %r not understood", order.pk, update.status)
        return
    decision = decide(Snapshot(Status(order.status), order.filled), Snapshot(incoming, filled))
    learned = _learn_ids(order, update)
    now = timezone.now()
    if decision.verdict is not Verdict.APPLY:
        # A triggered conditional order saying "done" after its plain order moved on is
        # news for no one: not worth an ignored-update event.
        if decision.verdict is Verdict.STALE and not update.handed_over:
            events.record_update_ignored(
                order=order,
                reason=decision.reason,
                actor=actor,
                new_status=incoming,
                new_filled=filled,
                raw=update.raw,
            )
        if learned:
            order.raw = update.raw
            order.updated_at = now
            _save_merged(order)
            _link_orphan_fills(order)
        return

    old_status, old_filled = order.status, order.filled
    old_remaining, old_price = order.remaining, order.price
    order.status = decision.status
    if decision.take_fill and not conditional:
        order.filled = update.filled
        if update.remaining is not None:
            order.remaining = update.remaining
        if update.average is not None:
            order.average_price = update.average
        order.cost = update.cost
        if update.fees:
            order.fees = _fees_as_strings(update.fees)
    if update.price is not None and order.type in ("limit", "stop_limit", "take_profit_limit"):
        order.price = update.price
    if order.status == Status.REJECTED and not order.status_reason:
        order.status_reason = "rejected by the exchange"
    order.exchange_created_at = order.exchange_created_at or update.timestamp
    order.exchange_updated_at = update.updated or order.exchange_updated_at
    order.raw = update.raw
    if order.status in TERMINAL:
        order.closed_at = now
        order.next_step_at = None  # nothing is left to do for it
    order.updated_at = now
    _save_merged(order)
    events.record_venue_update(
        order=order,
        old_status=old_status,
        old_filled=old_filled,
        old_remaining=old_remaining,
        old_price=old_price,
        actor=actor,
        raw=update.raw,
    )
    if learned:
        _link_orphan_fills(order)
    publish_order(order)
    if order.group_kind and (order.filled != old_filled or order.status in TERMINAL):
        transaction.on_commit(lambda: _after_progress(order.pk))


def _after_progress(order_id: int) -> None:
    """Follow-up work when an order fills or ends: bracket protection, OCO siblings."""
    from orders import tasks

    tasks.order_followups.delay(order_id)


def _fill_from(account: ExchangeAccount, order: Order | None, trade: TradeUpdate) -> Fill:
    # Trades inside an order's own answer (Binance's FULL response) carry no side, order
    # id or time: they are the order's.
    return Fill(
        account=account,
        order=order,
        exchange_trade_id=trade.trade_id,
        exchange_order_id=trade.order_id or (order.exchange_order_id if order else "") or "",
        symbol=trade.symbol,
        side=trade.side or (order.side if order else ""),
        price=trade.price,
        amount=trade.amount,
        cost=trade.cost,
        fee=trade.fee,
        fee_asset=trade.fee_asset,
        is_maker=trade.is_maker,
        exchange_ts=trade.timestamp or (order.exchange_updated_at if order else None),
        raw=trade.raw,
    )


def _trade_key(trade: TradeUpdate | Fill) -> tuple[str, str]:
    # Binance numbers trades per symbol: a trade is known by its symbol and id together.
    if isinstance(trade, Fill):
        return (trade.symbol, trade.exchange_trade_id)
    return (trade.symbol, trade.trade_id)


def _record_fills(
    *, account: ExchangeAccount, order: Order | None, trades: Iterable[TradeUpdate], actor: str
) -> list[Fill]:
    trades = list({_trade_key(trade): trade for trade in trades}.values())
    if not trades:
        return []
    keys = [_trade_key(trade) for trade in trades]
    batch_known = _batch_known(account.pk)
    if batch_known is not None:
        known = {key for key in keys if key in batch_known}
    else:
        known = _recorded_trade_keys(account.pk, keys)
    new = [_fill_from(account, order, trade) for trade in trades if _trade_key(trade) not in known]
    duplicates = [key for key in keys if key in known]
    created: list[Fill] = []
    if new and batch_known is not None:
        # A batch knows every trade on record for the account and holds its orders'
        # locks: no savepoint to recover from a duplicate (a race would fail the
        # delivery, which the stream then catches up on by polling). Its fills are
        # inserted together when the batch ends, before the events that point at them.
        created = new
        _batch.fills.extend(new)
    elif new:
        try:
            with transaction.atomic():
                created = Fill.objects.bulk_create(new)
        except IntegrityError:
            # A concurrent writer recorded some first (a fill whose order we do not know
            # is not covered by an order lock): insert one by one, skipping those.
            for fill in new:
                try:
                    with transaction.atomic():
                        fill.save()
                except IntegrityError:
                    if not Fill.objects.filter(
                        account=account,
                        symbol=fill.symbol,
                        exchange_trade_id=fill.exchange_trade_id,
                    ).exists():
                        raise
                    duplicates.append(_trade_key(fill))
                else:
                    created.append(fill)
    if order is not None and created:
        events.record_fills(order=order, fills=created, actor=actor)
    if duplicates:
        _count_deliveries(account.pk, duplicates)
    if batch_known is None:
        publish_fills(created)  # a batch's go out once they have ids (_batched_writes)
    if created:
        if batch_known is not None:
            batch_known.update(_trade_key(fill) for fill in created)
        _announce_fills_on_commit(account.pk)
    return created


def _count_deliveries(account_id: int, keys: Iterable[tuple[str, str]]) -> None:
    """Count another delivery of trades already on record, on their fills: the stream,
    every poll's window and the order's own answer all report a trade, and an audit
    event per repeat buried the real events (58,138 of them for 2,179 fills in a soak).
    Inside a batch, counted once for the lot when it ends."""
    pending = getattr(_batch, "deliveries", None)
    if pending is not None:
        pending.setdefault(account_id, []).extend(keys)
        return
    by_symbol: dict[str, list[str]] = {}
    for symbol, trade_id in keys:
        by_symbol.setdefault(symbol, []).append(trade_id)
    for symbol, trade_ids in by_symbol.items():
        Fill.objects.filter(
            account_id=account_id, symbol=symbol, exchange_trade_id__in=trade_ids
        ).update(deliveries=F("deliveries") + 1)


def _announce_fills_on_commit(account_id: int) -> None:
    """Tell other apps (positions) about the account's new fills once the transaction
    commits - once per transaction, however many updates of a batch brought fills.
    Pending callbacks live in Django's own on-commit list, so a rollback drops them."""
    from orders.signals import fills_committed

    announced = getattr(_batch, "announced", None)
    if announced is not None and account_id in announced:
        return  # this batch registered it: no need to look through its callbacks again
    connection = transaction.get_connection()
    if any(
        getattr(callback, "fills_account", None) == account_id
        for _, callback, _ in connection.run_on_commit
    ):
        return
    if announced is not None:
        announced.add(account_id)

    def announce() -> None:
        fills_committed.send(sender=Fill, account_id=account_id)

    announce.fills_account = account_id
    transaction.on_commit(announce)


# The trade ids a batch already has on record, per thread and account: one query for the
# batch instead of one per update. Safe because the batch holds its orders' locks.
_batch = threading.local()


def _batch_known(account_id: int) -> set[tuple[str, str]] | None:
    return getattr(_batch, "trades", {}).get(account_id)


@contextmanager
def _known_trades(account: ExchangeAccount, trade_keys: list[tuple[str, str]]):
    trades = getattr(_batch, "trades", None)
    if trades is None:
        trades = _batch.trades = {}
    if account.pk in trades or not trade_keys:
        yield
        return
    trades[account.pk] = _recorded_trade_keys(account.pk, trade_keys)
    try:
        yield
    finally:
        trades.pop(account.pk, None)


@contextmanager
def _batched_writes():
    """Inside: merged orders and new fills are kept, and written at the end - the
    orders in one statement, the fills in one COPY (then their dashboard pushes)."""
    if getattr(_batch, "orders", None) is not None:  # an outer batch writes
        yield
        return
    _batch.orders, _batch.fills, _batch.announced, _batch.deliveries = {}, [], set(), {}
    try:
        yield
        _write_orders(_batch.orders.values())
        if _batch.fills:
            copy_insert(_batch.fills)
            publish_fills(_batch.fills)
        deliveries, _batch.deliveries = _batch.deliveries, None
        for account_id, keys in deliveries.items():
            _count_deliveries(account_id, keys)
    finally:
        _batch.orders, _batch.fills, _batch.announced = None, None, None
        _batch.deliveries = None


# The reads every batch makes, written out: Django builds a query's SQL anew each time it
# runs, which here takes longer than the database takes to answer (common/db.py).


def _in(values) -> str:
    """Placeholders for ``IN (...)``: one per value."""
    return ", ".join(["%s"] * len(values))


def _locked_batch_orders(
    account_id: int, client_ids: set, order_ids: set, algo_ids: set
) -> list[Order]:
    """The account's orders with one of these client or exchange order ids, locked in id
    order (as everywhere) until the transaction ends. Their last payload (``raw``) is left
    unread, as ``defer("raw")``: a merge replaces it without reading it."""
    matches = [
        f"{column} IN ({_in(ids)})"
        for column, ids in (
            ("client_order_id", client_ids),
            ("exchange_order_id", order_ids),
            ("exchange_algo_id", algo_ids),
        )
        if ids
    ]
    if not matches:
        return []
    return list(
        Order.objects.raw(
            # Names from the model's metadata, values as parameters.
            f"SELECT {columns(Order, without=('raw',))} FROM {Order._meta.db_table}"  # noqa: S608
            f" WHERE account_id = %s AND ({' OR '.join(matches)}) ORDER BY id{for_update()}",
            [account_id, *client_ids, *order_ids, *algo_ids],
        )
    )


def _recorded_trade_keys(account_id: int, keys: list[tuple[str, str]]) -> set[tuple[str, str]]:
    """Which of these (symbol, exchange trade id) the account already has a fill for."""
    if not keys:
        return set()
    symbols = sorted({symbol for symbol, _ in keys})
    trade_ids = sorted({trade_id for _, trade_id in keys})
    wanted = set(keys)
    # Both lists as IN: the unique index (account, symbol, trade id) answers it.
    with transaction.get_connection().cursor() as cursor:
        cursor.execute(
            f"SELECT symbol, exchange_trade_id FROM {Fill._meta.db_table}"  # noqa: S608 - placeholders only
            f" WHERE account_id = %s AND symbol IN ({_in(symbols)})"
            f" AND exchange_trade_id IN ({_in(trade_ids)})",
            [account_id, *symbols, *trade_ids],
        )
        return {row for row in map(tuple, cursor.fetchall()) if row in wanted}


def order_apply_updates(
    *, account: ExchangeAccount, updates: list[OrderUpdate], actor: str
) -> list[Order]:
    """Merge a batch of venue updates (a stream delivery, a poll) in one transaction:
    the batch's orders locked in one statement (in id order, as everywhere), one commit,
    and positions told once, for the lot. Each update as ``order_apply_update``."""
    client_ids = {u.client_order_id for u in updates if u.client_order_id}
    order_ids = {u.order_id for u in updates if u.order_id}
    algo_ids = {u.algo_id for u in updates if u.algo_id}
    trade_keys = [_trade_key(trade) for u in updates for trade in u.trades]
    with transaction.atomic():
        if trade_keys:
            fills_in_commit_order(account.pk)
        with events.collecting(), _known_trades(account, trade_keys), _batched_writes():
            locked: dict = {}
            for order in _locked_batch_orders(account.pk, client_ids, order_ids, algo_ids):
                locked[("c", order.client_order_id)] = order
                if order.exchange_order_id:
                    locked[("x", order.symbol, order.exchange_order_id)] = order
                if order.exchange_algo_id:
                    locked[("a", order.symbol, order.exchange_algo_id)] = order
            merged = [
                order_apply_update(account=account, update=update, actor=actor, locked=locked)
                for update in updates
            ]
    return [order for order in merged if order is not None]


def fills_record(*, account: ExchangeAccount, trades: list[TradeUpdate], actor: str) -> list[Fill]:
    """Record trades from the venue (stream or poll), each once, linked to its order.

    Trades of an order we do not know yet are stored without an order and linked when
    the order is adopted.
    """
    created: list[Fill] = []
    by_order: dict[tuple[str | None, str, str | None], list[TradeUpdate]] = {}
    for trade in trades:
        by_order.setdefault((trade.client_order_id, trade.symbol, trade.order_id), []).append(trade)
    with transaction.atomic():
        if trades:
            fills_in_commit_order(account.pk)
        for group in by_order.values():
            order = _locked_order(account, group[0])
            created += _record_fills(account=account, order=order, trades=group, actor=actor)
    return created
