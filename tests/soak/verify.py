"""The invariants the soak holds the platform to, each a function returning its violations.

Our records must equal the exchange's: read the exchange as any client would (ccxt on
each account's keys) plus the simulator's control API for the whole trade history and
balances, and compare with the database.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from decimal import Decimal

from orders.models import Fill, Order
from orders.states import Status
from tests.soak.chaos import control
from tests.soak.load import SYMBOLS

# ccxt's unified status -> ours (orders.states.venue_status, refined by the filled amount).
CCXT_STATUS = {"closed": "filled", "canceled": "canceled", "expired": "expired",
               "rejected": "rejected"}  # fmt: skip
UNSETTLED = (Status.PENDING, Status.SUBMITTING, Status.UNKNOWN, Status.CANCEL_REQUESTED)
PAGE = 1000


def _d(value) -> Decimal:
    return Decimal(str(value)) if value not in (None, "") else Decimal(0)


@dataclass
class Venue:
    """What the exchange holds for one of our accounts."""

    account_id: int
    market_type: str
    orders: list[dict]  # ccxt orders, plain
    algo_orders: list[dict]  # ccxt orders, conditional (USD-M)
    trades: list[tuple[str, str]]  # (unified symbol, trade id)
    balances: dict[str, Decimal]  # spot: asset -> total
    positions: dict[str, Decimal]  # USD-M: unified symbol -> signed amount
    truncated: list[str] = field(default_factory=list)


def read_venue(sim_url: str, account, sim_id: str, client) -> Venue:
    swap = account.market_type == "swap"
    orders, algo, truncated = [], [], []
    for symbol in SYMBOLS[account.market_type]:
        page = client.fetch_orders(symbol, None, PAGE)
        orders += page
        if len(page) >= PAGE:
            truncated.append(f"{symbol}: {len(page)} orders (one page)")
        if swap:
            algo += client.fetch_orders(symbol, None, PAGE, {"trigger": True})
    unified = {client.market(s)["id"]: s for s in SYMBOLS[account.market_type]}
    state = control(sim_url, "GET", f"/accounts/{sim_id}")
    rows = state["futures_trades"] if swap else state["spot_trades"]
    trades = [(unified[row["symbol"]], str(row["id"])) for row in rows]
    balances = {asset: _d(b["free"]) + _d(b["locked"]) for asset, b in state["spot"].items()}
    positions = {unified[p["symbol"]]: _d(p["positionAmt"]) for p in state["positions"]}
    return Venue(account.pk, account.market_type, orders, algo, trades, balances, positions,
                 truncated)  # fmt: skip


def no_client_order_id_twice(venue: Venue) -> list[str]:
    counts = Counter(o["clientOrderId"] for o in venue.orders + venue.algo_orders)
    # A triggered conditional order's plain order carries its client id: one of each.
    algo_ids = {o["clientOrderId"] for o in venue.algo_orders}
    return [
        f"account {venue.account_id}: client order id {cid} {n} times on the exchange"
        for cid, n in counts.items()
        if n > (2 if cid in algo_ids else 1)
    ]


def accepted_orders_reached_the_exchange(accepted: set[int], venues: list[Venue]) -> list[str]:
    on_venue = {o["clientOrderId"] for v in venues for o in v.orders + v.algo_orders}
    problems = []
    for order in Order.objects.filter(pk__in=accepted):
        if order.client_order_id in on_venue:
            continue
        if order.status == Status.REJECTED and order.status_reason:
            continue
        # Never sent by choice: cancelled while pending, halted, or a spot OCO take-profit
        # that went out inside its stop-loss's list.
        if order.status == Status.CANCELED and order.submitted_at is None:
            continue
        problems.append(
            f"order {order.pk} ({order.client_order_id}, {order.status}) accepted by the API, "
            "neither on the exchange nor rejected with a reason"
        )
    return problems


def exchange_orders_equal_ours(venue: Venue) -> list[str]:
    ours = {o.client_order_id: o for o in Order.objects.filter(account_id=venue.account_id)}
    problems = []
    for theirs in venue.orders:
        order = ours.get(theirs["clientOrderId"])
        if order is None:
            problems.append(f"exchange order {theirs['id']} ({theirs['clientOrderId']}) not ours")
            continue
        problems += _compare(order, theirs)
    for theirs in venue.algo_orders:
        order = ours.get(theirs["clientOrderId"])
        if order is None:
            problems.append(f"exchange algo order {theirs['id']} not ours")
        elif theirs["status"] != "closed" and not any(
            o["clientOrderId"] == theirs["clientOrderId"] for o in venue.orders
        ):
            # Not triggered: its own status is the order's.
            problems += _compare(order, theirs, conditional=True)
    return problems


def _compare(order: Order, theirs: dict, *, conditional: bool = False) -> list[str]:
    filled = Decimal(0) if conditional else _d(theirs.get("filled"))
    status = CCXT_STATUS.get(theirs["status"]) or ("partially_filled" if filled > 0 else "open")
    label = f"order {order.pk} ({order.client_order_id})"
    problems = []
    if order.status != status:
        problems.append(f"{label}: status ours {order.status}, exchange {status}")
    if order.filled != filled:
        problems.append(f"{label}: filled ours {order.filled}, exchange {filled}")
    average = _d(theirs.get("average"))
    if filled and (
        order.average_price is None
        or abs(order.average_price - average) > average * Decimal("1e-9")
    ):
        problems.append(f"{label}: average ours {order.average_price}, exchange {average}")
    return problems


def every_trade_one_fill(venue: Venue) -> list[str]:
    ours = Counter(
        Fill.objects.filter(account_id=venue.account_id).values_list("symbol", "exchange_trade_id")
    )
    theirs = Counter(venue.trades)
    problems = [
        f"account {venue.account_id}: trade {key[0]} {key[1]} has {ours[key]} fills"
        for key in theirs
        if ours[key] != 1
    ]
    problems += [
        f"account {venue.account_id}: fill {symbol} {trade_id} is no trade of the exchange"
        for (symbol, trade_id) in ours
        if (symbol, trade_id) not in theirs
    ]
    return problems


def holdings_from_fills_equal_the_exchanges(venue: Venue, start: dict[str, Decimal]) -> list[str]:
    fills = Fill.objects.filter(account_id=venue.account_id)
    if venue.market_type == "swap":
        held: Counter = Counter()
        for fill in fills:
            held[fill.symbol] += fill.amount if fill.side == "buy" else -fill.amount
        symbols = set(held) | set(venue.positions)
        return [
            f"account {venue.account_id}: {symbol} from fills {held[symbol]}, exchange "
            f"{venue.positions.get(symbol, Decimal(0))}"
            for symbol in sorted(symbols)
            if held[symbol] != venue.positions.get(symbol, Decimal(0))
        ]
    held = Counter({asset: amount for asset, amount in start.items()})
    for fill in fills:
        base, quote = fill.symbol.split("/")
        sign = 1 if fill.side == "buy" else -1
        held[base] += sign * fill.amount
        held[quote] -= sign * fill.cost
        if fill.fee_asset:
            held[fill.fee_asset] -= fill.fee
    assets = {asset for asset in set(held) | set(venue.balances)}
    return [
        f"account {venue.account_id}: {asset} from fills {held[asset]}, exchange "
        f"{venue.balances.get(asset, Decimal(0))}"
        for asset in sorted(assets)
        if held[asset] != venue.balances.get(asset, Decimal(0))
    ]


def nothing_left_unsettled(account_ids: list[int]) -> list[str]:
    return [
        f"order {pk} ({cid}) left {status}"
        for pk, cid, status in Order.objects.filter(
            account_id__in=account_ids, status__in=UNSETTLED
        ).values_list("pk", "client_order_id", "status")
    ]


def no_drift(account_ids: list[int]) -> list[str]:
    from positions.models import Drift

    return [
        f"drift on account {d.account_id}: {d.kind} {d.subject}.{d.field} ours {d.ours} "
        f"theirs {d.theirs}"
        for d in Drift.objects.filter(account_id__in=account_ids)
    ]


def unsettled_count(account_ids: list[int]) -> int:
    return Order.objects.filter(account_id__in=account_ids, status__in=UNSETTLED).count()
