"""Pure mapping between our orders and ccxt's unified order and trade structures.

No I/O: the services call ccxt; this module only says what to send and how to read
what came back. Numbers from ccxt arrive as floats (or None) and become Decimals here
through str(), never Decimal(float).
"""

from __future__ import annotations

import hashlib
import uuid
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal

from common.decimal import ZERO, normalize, to_decimal
from common.time import from_ms

# Binance accepts 1-36 characters of [.A-Z:/a-z0-9_-]; a short prefix marks our orders
# so that reconciliation can tell them from orders placed elsewhere.
CLIENT_ID_PREFIX = "tp"
ROLE_SUFFIX = {"stop_loss": "-sl", "take_profit": "-tp"}

CONDITIONAL_TYPES = frozenset(
    {"stop_market", "stop_limit", "take_profit_market", "take_profit_limit"}
)


def client_order_id(*, account_id: int, idempotency_key: str | None = None) -> str:
    """A client order id fixed before sending: derived from the idempotency key when the
    caller gave one (the same key always names the same order), random otherwise."""
    if idempotency_key:
        digest = hashlib.sha256(f"{account_id}:{idempotency_key}".encode()).hexdigest()
        return f"{CLIENT_ID_PREFIX}{digest[:30]}"
    return f"{CLIENT_ID_PREFIX}{uuid.uuid4().hex[:30]}"


def child_client_order_id(parent_client_order_id: str, role: str, generation: int = 0) -> str:
    suffix = ROLE_SUFFIX[role] + (str(generation) if generation else "")
    return parent_client_order_id[: 36 - len(suffix)] + suffix


def is_ours(client_id: str | None) -> bool:
    return bool(client_id) and client_id.startswith(CLIENT_ID_PREFIX)


@dataclass(frozen=True, slots=True)
class CreateRequest:
    symbol: str
    type: str  # ccxt's unified 'market' or 'limit'
    side: str
    amount: Decimal
    price: Decimal | None
    params: dict

    def as_ccxt_args(self) -> tuple:
        # ccxt's *_to_precision works on strings; Decimals go over as plain strings.
        price = None if self.price is None else format(normalize(self.price), "f")
        return (
            self.symbol,
            self.type,
            self.side,
            format(normalize(self.amount), "f"),
            price,
            self.params,
        )


def create_request(
    *,
    symbol: str,
    type: str,
    side: str,
    amount: Decimal,
    price: Decimal | None,
    stop_price: Decimal | None,
    time_in_force: str,
    reduce_only: bool,
    post_only: bool,
    client_order_id: str,
    is_contract: bool,
) -> CreateRequest:
    """What to pass to ``ccxt.create_order`` for one of our orders."""
    params: dict = {"clientOrderId": client_order_id}
    base_type = "limit" if type in ("limit", "stop_limit", "take_profit_limit") else "market"
    if type in ("stop_market", "stop_limit"):
        params["stopLossPrice"] = format(normalize(stop_price), "f")
    elif type in ("take_profit_market", "take_profit_limit"):
        params["takeProfitPrice"] = format(normalize(stop_price), "f")
    if base_type == "limit" and time_in_force and not post_only:
        params["timeInForce"] = time_in_force
    if post_only:
        params["postOnly"] = True
    if reduce_only:
        if not is_contract:
            # Spot has no reduce-only flag; a spot sell can never open a short anyway.
            pass
        else:
            params["reduceOnly"] = True
    return CreateRequest(
        symbol=symbol,
        type=base_type,
        side=side,
        amount=amount,
        price=price if base_type == "limit" else None,
        params=params,
    )


def oco_request(
    *,
    market_id: str,
    side: str,
    amount: Decimal,
    stop_price: Decimal,
    stop_client_order_id: str,
    take_price: Decimal,
    take_client_order_id: str,
) -> dict:
    """Params of Binance's spot OCO list (``POST /api/v3/orderList/oco``, through ccxt's
    implicit ``private_post_orderlist_oco``) protecting a position: a stop-loss and a
    take-profit that share one amount - the venue locks the coins once and expires the
    other order when one fills. A sell list's take-profit is the leg above the price, a
    buy list's the leg below; both legs trigger market orders."""
    stop = {
        "Type": "STOP_LOSS",
        "StopPrice": _plain(stop_price),
        "ClientOrderId": stop_client_order_id,
    }
    take = {
        "Type": "TAKE_PROFIT",
        "StopPrice": _plain(take_price),
        "ClientOrderId": take_client_order_id,
    }
    above, below = (take, stop) if side == "sell" else (stop, take)
    params = {"symbol": market_id, "side": side.upper(), "quantity": _plain(amount)}
    for prefix, leg in (("above", above), ("below", below)):
        params.update({prefix + name: value for name, value in leg.items()})
    return params


def _plain(value: Decimal) -> str:
    return format(normalize(value), "f")


def lookup_params(*, client_order_id: str, conditional: bool, is_contract: bool) -> dict:
    """Params for fetch_order / cancel_order by our client order id."""
    params: dict = {"clientOrderId": client_order_id}
    if conditional and is_contract:
        # USD-M conditional orders live on the algo-order endpoints.
        params["trigger"] = True
    return params


@dataclass(frozen=True, slots=True)
class TradeUpdate:
    trade_id: str
    order_id: str | None
    client_order_id: str | None
    symbol: str
    side: str
    price: Decimal
    amount: Decimal
    cost: Decimal
    fee: Decimal
    fee_asset: str
    is_maker: bool | None
    timestamp: datetime | None
    raw: dict


@dataclass(frozen=True, slots=True)
class OrderUpdate:
    order_id: str | None
    client_order_id: str | None
    symbol: str
    side: str | None
    type: str | None
    status: str | None  # ccxt's unified status
    amount: Decimal | None
    price: Decimal | None
    trigger_price: Decimal | None
    filled: Decimal
    remaining: Decimal | None
    average: Decimal | None
    cost: Decimal
    fees: dict[str, Decimal]
    reduce_only: bool
    timestamp: datetime | None
    updated: datetime | None
    trades: tuple[TradeUpdate, ...] = field(default=())
    raw: dict | None = None
    # A conditional order's own id where the venue numbers them apart (Binance USD-M
    # algo orders); ``order_id`` is then the plain order it placed once triggered.
    algo_id: str | None = None
    # A triggered conditional order: done on its own, the order it placed works on and
    # carries the fills. Says nothing about our order's status or fills.
    handed_over: bool = False


def _fees(source: dict) -> dict[str, Decimal]:
    totals: dict[str, Decimal] = {}
    fees = source.get("fees") or ([source["fee"]] if source.get("fee") else [])
    for fee in fees:
        if not fee:
            continue
        cost = to_decimal(fee.get("cost"), default=ZERO)
        asset = fee.get("currency") or ""
        if cost and asset:
            totals[asset] = totals.get(asset, ZERO) + cost
    return totals


def parse_trade(trade: dict) -> TradeUpdate:
    fee = trade.get("fee") or {}
    price = to_decimal(trade.get("price"), default=ZERO)
    amount = to_decimal(trade.get("amount"), default=ZERO)
    cost = to_decimal(trade.get("cost"))
    return TradeUpdate(
        trade_id=str(trade["id"]),
        order_id=str(trade["order"]) if trade.get("order") is not None else None,
        client_order_id=(trade.get("info") or {}).get("c")
        or (trade.get("info") or {}).get("clientOrderId"),
        symbol=trade["symbol"],
        side=trade["side"],
        price=price,
        amount=amount,
        cost=cost if cost is not None else price * amount,
        fee=to_decimal(fee.get("cost"), default=ZERO),
        fee_asset=fee.get("currency") or "",
        is_maker=None if trade.get("takerOrMaker") is None else trade["takerOrMaker"] == "maker",
        timestamp=from_ms(trade.get("timestamp")),
        raw=trade.get("info") or {},
    )


def parse_order(order: dict) -> OrderUpdate:
    """Read a ccxt order structure (from create, fetch, cancel, or a stream)."""
    info = order.get("info") or {}
    if isinstance(info, dict) and ("algoId" in info or "aid" in info):
        return _parse_algo_order(order, info)
    filled = to_decimal(order.get("filled"), default=ZERO)
    average = to_decimal(order.get("average"))
    cost = to_decimal(order.get("cost"))
    if cost is None:
        cost = (average * filled) if average is not None else ZERO
    return OrderUpdate(
        order_id=str(order["id"]) if order.get("id") is not None else None,
        client_order_id=order.get("clientOrderId"),
        symbol=order["symbol"],
        side=order.get("side"),
        type=order.get("type"),
        status=order.get("status"),
        amount=to_decimal(order.get("amount")),
        price=to_decimal(order.get("price")),
        trigger_price=to_decimal(order.get("triggerPrice")),
        filled=filled,
        remaining=to_decimal(order.get("remaining")),
        average=average,
        cost=cost,
        fees=_fees(order),
        reduce_only=bool(order.get("reduceOnly")),
        timestamp=from_ms(order.get("timestamp")),
        updated=from_ms(order.get("lastUpdateTimestamp") or order.get("timestamp")),
        trades=tuple(parse_trade(t) for t in (order.get("trades") or []) if t.get("id")),
        raw=order.get("info"),
    )


def _parse_algo_order(order: dict, info: dict) -> OrderUpdate:
    """A Binance USD-M conditional (algo) order, from REST (``algoId``, ``actualOrderId``)
    or the stream's ``ALGO_UPDATE`` (``aid``, ``ai``).

    Its id is numbered apart from plain orders', so it travels as ``algo_id``, never as
    ``order_id``. It never trades itself: once triggered, the plain order it placed (same
    client id, ``order_id`` here when known) carries the fills and the average price - so
    an algo order's filled amount is never read (ccxt reports a triggered one as closed
    and, with no executed quantity in the payload, filled for its whole amount)."""
    algo_id = info.get("algoId", info.get("aid"))
    status = order.get("status")
    handed_over = status == "closed"  # TRIGGERED / FINISHED: the plain order works on
    return OrderUpdate(
        order_id=triggered_order_id(order),
        client_order_id=order.get("clientOrderId"),
        symbol=order["symbol"],
        side=order.get("side"),
        type=order.get("type"),
        status="open" if handed_over else status,
        amount=to_decimal(order.get("amount")),
        price=to_decimal(order.get("price")),
        trigger_price=to_decimal(order.get("triggerPrice")),
        filled=ZERO,
        remaining=None,
        average=None,
        cost=ZERO,
        fees={},
        reduce_only=bool(order.get("reduceOnly")),
        timestamp=from_ms(order.get("timestamp")),
        updated=from_ms(order.get("lastUpdateTimestamp") or order.get("timestamp")),
        raw=info,
        algo_id=str(algo_id) if algo_id not in (None, "") else None,
        handed_over=handed_over,
    )


def triggered_order_id(order: dict) -> str | None:
    """The id of the plain order a triggered conditional (algo) order placed, if any
    (REST ``actualOrderId``, the stream's ``ai``)."""
    info = order.get("info") or {}
    if not isinstance(info, dict):
        return None
    actual = info.get("actualOrderId", info.get("ai"))
    return str(actual) if actual not in (None, "", "0", 0) else None


def our_type(update: OrderUpdate) -> str:
    """Our order type for an order found on the venue (adopted external orders)."""
    kind = (update.type or "").lower()
    if kind in ("limit", "limit_maker"):
        return "limit"
    if kind in ("stop_loss", "stop_market", "stop"):
        return "stop_market" if kind != "stop" else "stop_limit"
    if kind == "stop_loss_limit":
        return "stop_limit"
    if kind in ("take_profit", "take_profit_market"):
        return "take_profit_market"
    if kind == "take_profit_limit":
        return "take_profit_limit"
    return "market"
