"""Storing a new order: validation, rounding, idempotency. Sending happens on commit."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from decimal import Decimal

from django.conf import settings
from django.core.cache import cache
from django.db import IntegrityError, transaction
from django.utils.module_loading import import_string

from accounts import gateway
from accounts.models import ExchangeAccount
from accounts.precision import MarketRules
from common.db import one_row
from common.decimal import to_decimal
from common.exceptions import (
    ApplicationError,
    PermissionDenied,
    ServiceUnavailable,
    Unprocessable,
    ValidationFailed,
)
from orders import events, tasks, venue
from orders.models import Order, OrderEvent
from orders.services.common import publish_order
from orders.states import Status

logger = logging.getLogger(__name__)

LIMIT_TYPES = frozenset({"limit", "stop_limit", "take_profit_limit"})
STOP_TYPES = frozenset(venue.CONDITIONAL_TYPES)


@dataclass(frozen=True, slots=True)
class OrderRequest:
    """What a caller asks for, before validation and rounding."""

    symbol: str
    side: str
    type: str
    amount: Decimal
    price: Decimal | None = None
    stop_price: Decimal | None = None
    time_in_force: str = ""
    reduce_only: bool = False
    post_only: bool = False
    stop_loss_price: Decimal | None = None
    take_profit_price: Decimal | None = None


def _invalid(message: str, field: str) -> ValidationFailed:
    return ValidationFailed(message, extra={"field": field})


def _check_shape(req: OrderRequest) -> None:
    """Rules that need no market data."""
    if req.side not in Order.Side.values:
        raise _invalid(f"side must be one of {', '.join(Order.Side.values)}.", "side")
    if req.type not in Order.Type.values:
        raise _invalid(f"type must be one of {', '.join(Order.Type.values)}.", "type")
    if req.amount is None or req.amount <= 0:
        raise _invalid("amount must be greater than zero.", "amount")
    if req.type in LIMIT_TYPES:
        if req.price is None or req.price <= 0:
            raise _invalid(f"A {req.type} order needs a price greater than zero.", "price")
    elif req.price is not None:
        raise _invalid(
            f"price is not allowed on a {req.type} order: it executes at the market.", "price"
        )
    if req.type in STOP_TYPES:
        if req.stop_price is None or req.stop_price <= 0:
            raise _invalid(
                f"A {req.type} order needs a stop_price greater than zero.", "stop_price"
            )
    elif req.stop_price is not None:
        raise _invalid(
            f"stop_price is only for stop and take-profit orders, not {req.type}.", "stop_price"
        )
    if req.post_only and req.type != "limit":
        raise _invalid("post_only is only for limit orders.", "post_only")
    if req.time_in_force:
        if req.time_in_force not in Order.TimeInForce.values:
            raise _invalid("time_in_force must be GTC, IOC or FOK.", "time_in_force")
        if req.type not in LIMIT_TYPES:
            raise _invalid("time_in_force is only for limit orders.", "time_in_force")
        if req.post_only and req.time_in_force != "GTC":
            raise _invalid(
                "A post-only order rests on the book: time_in_force must be GTC.", "time_in_force"
            )
    protective = (req.stop_loss_price, req.take_profit_price)
    if any(p is not None for p in protective):
        if req.type not in ("market", "limit"):
            raise _invalid(
                "stop_loss_price and take_profit_price are for market or limit entries.", "type"
            )
        if any(p is not None and p <= 0 for p in protective):
            raise _invalid(
                "stop_loss_price and take_profit_price must be above zero.", "stop_loss_price"
            )


def _check_protective_sides(order: Order, reference: Decimal, what: str) -> None:
    """A buy entry needs stop_loss_price < reference < take_profit_price, a sell entry
    the reverse. On the wrong side the entry fills and the exchange then refuses its
    stop or target (it would trigger at once), leaving the position unprotected."""
    buy = order.side == "buy"
    rule = (
        f"a buy entry needs stop_loss_price < {what} < take_profit_price"
        if buy
        else f"a sell entry needs take_profit_price < {what} < stop_loss_price"
    )
    stop, take = order.stop_loss_price, order.take_profit_price
    if stop is not None and (stop >= reference if buy else stop <= reference):
        raise _invalid(
            f"stop_loss_price {stop} must be {'below' if buy else 'above'} {reference} "
            f"({what}): {rule}.",
            "stop_loss_price",
        )
    if take is not None and (take <= reference if buy else take >= reference):
        raise _invalid(
            f"take_profit_price {take} must be {'above' if buy else 'below'} {reference} "
            f"({what}): {rule}.",
            "take_profit_price",
        )


def _check_trigger(order: Order, last: Decimal) -> None:
    """A stop or take-profit order whose trigger the last price has already reached
    would fire at once (Binance refuses it: "would immediately trigger"). Stops fire
    when the price moves against the side being protected, take-profits in its favour."""
    fires_at_or_above = (order.side == "buy") == order.type.startswith("stop")
    if fires_at_or_above and order.stop_price <= last:
        raise _invalid(
            f"A {order.side} {order.type} order's stop_price {order.stop_price} must be above "
            f"the last price {last}: at or below it, it would trigger at once.",
            "stop_price",
        )
    if not fires_at_or_above and order.stop_price >= last:
        raise _invalid(
            f"A {order.side} {order.type} order's stop_price {order.stop_price} must be below "
            f"the last price {last}: at or above it, it would trigger at once.",
            "stop_price",
        )


def last_price(account: ExchangeAccount, symbol: str) -> Decimal | None:
    """The venue's last price for ``symbol`` from the shared tickers cache - the one the
    risk gate reads (which fills it when cold) - or None; never calls the venue."""
    prices = cache.get(gateway.tickers_cache_key(account)) or {}
    # The cache is by market: BTC/USDT:USDT and BTC/USDT share a key.
    return to_decimal(prices.get(symbol.split(":")[0]))


def _check_at_market(order: Order, account: ExchangeAccount) -> None:
    """Checks against the last price: a market bracket entry's stop and target, and a
    conditional order that would trigger at once."""
    brackets = order.stop_loss_price is not None or order.take_profit_price is not None
    if order.type == "market" and brackets:
        last = last_price(account, order.symbol)
        if last is None:
            raise _invalid(
                f"No last price is known for {order.symbol}, so stop_loss_price and "
                "take_profit_price cannot be checked against the entry: send a limit entry "
                "(its price is the reference) or try again shortly.",
                "stop_loss_price" if order.stop_loss_price is not None else "take_profit_price",
            )
        _check_protective_sides(order, last, f"the last price of {order.symbol}")
    elif order.type in STOP_TYPES:
        last = last_price(account, order.symbol)
        if last is not None:  # unknown: the venue decides, and refuses with a reason
            _check_trigger(order, last)


def _round(req: OrderRequest, rules: MarketRules) -> OrderRequest:
    amount = rules.round_amount(req.amount)
    if amount <= 0 or (rules.min_amount is not None and amount < rules.min_amount):
        minimum = rules.min_amount or rules.amount_step
        raise _invalid(
            f"amount {req.amount} is below the minimum of {minimum} {rules.base} for "
            f"{rules.symbol}.",
            "amount",
        )
    if rules.max_amount is not None and amount > rules.max_amount:
        raise _invalid(
            f"amount {req.amount} is above the maximum of {rules.max_amount} {rules.base} for "
            f"{rules.symbol}.",
            "amount",
        )

    def price(value: Decimal | None) -> Decimal | None:
        return None if value is None else rules.round_price(value)

    rounded = OrderRequest(
        symbol=req.symbol,
        side=req.side,
        type=req.type,
        amount=amount,
        price=price(req.price),
        stop_price=price(req.stop_price),
        time_in_force=req.time_in_force,
        reduce_only=req.reduce_only,
        post_only=req.post_only,
        stop_loss_price=price(req.stop_loss_price),
        take_profit_price=price(req.take_profit_price),
    )
    notional = rounded.price or rounded.stop_price
    if rules.min_cost is not None and notional is not None and amount * notional < rules.min_cost:
        raise _invalid(
            f"order value {amount * notional} {rules.quote} is below the minimum of "
            f"{rules.min_cost} {rules.quote} for {rules.symbol}.",
            "amount",
        )
    return rounded


def market_rules_for(account: ExchangeAccount, symbol: str) -> MarketRules:
    """The market's rules from the shared markets cache (a client and the venue only on a
    cold cache), so the web process answers an order without importing ccxt."""
    try:
        return gateway.account_market_rules(account, symbol)
    except ValidationFailed:
        raise
    except Exception as exc:
        from accounts.errors import classify

        failure = classify(exc)
        raise ServiceUnavailable(
            f"Could not load {account.exchange_id}'s markets to check the order "
            f"({failure.error}); nothing was placed. Try again shortly."
        ) from exc


def order_prepare(
    *,
    account: ExchangeAccount,
    request: OrderRequest,
    origin: str,
    created_by=None,
    idempotency_key: str | None = None,
) -> Order:
    """Validate and round an order; return it unsaved, ``pending``, with its client id."""
    if not account.is_active:
        raise PermissionDenied(f"Account {account.label!r} is deactivated; activate it to trade.")
    if account.mode == ExchangeAccount.Mode.PAPER:
        # No local matching for paper accounts yet: refuse rather than reach a venue.
        raise PermissionDenied(
            f"Account {account.label!r} is a paper account, and paper trading cannot place "
            "orders yet; use a simulator account to rehearse."
        )
    if not account.can_trade:
        raise PermissionDenied(
            f"Account {account.label!r} is read-only (can_trade is off); enable trading for it "
            "first."
        )
    _check_shape(request)
    rounded = _round(request, market_rules_for(account, request.symbol))
    order = Order(
        account=account,
        symbol=rounded.symbol,
        side=rounded.side,
        type=rounded.type,
        time_in_force=rounded.time_in_force or ("GTC" if rounded.type in LIMIT_TYPES else ""),
        amount=rounded.amount,
        price=rounded.price,
        stop_price=rounded.stop_price,
        reduce_only=rounded.reduce_only,
        post_only=rounded.post_only,
        remaining=rounded.amount,
        client_order_id=venue.client_order_id(
            account_id=account.pk, idempotency_key=idempotency_key
        ),
        idempotency_key=idempotency_key or None,
        status=Status.PENDING,
        origin=origin,
        created_by=created_by,
        stop_loss_price=rounded.stop_loss_price,
        take_profit_price=rounded.take_profit_price,
    )
    if order.stop_loss_price is not None or order.take_profit_price is not None:
        order.group_kind = Order.GroupKind.BRACKET
        order.role = Order.Role.ENTRY
        if order.price is not None:
            # Rounded first: prices that differ only past the tick are equal on the venue.
            _check_protective_sides(order, order.price, "its limit price")
    return order


def order_store(*, order: Order, actor: str) -> Order:
    """Save a prepared order with its ``order.created`` event; send it on commit.

    Runs inside the caller's transaction (the risk gate creates orders in the same
    transaction as its decision).
    """
    order.save()
    events.record_created(order=order, actor=actor)
    tasks.order_send.delay_on_commit(order.pk)
    publish_order(order)
    return order


def order_submit(
    *,
    account: ExchangeAccount,
    request: OrderRequest,
    origin: str,
    actor: str,
    created_by=None,
    idempotency_key: str | None = None,
    context: dict | None = None,
    same_body: bool = False,
) -> tuple[Order, bool]:
    """Validate, round, pass the pre-trade gate and store an order as ``pending``; send it
    when the commit lands.

    Returns (order, created). With an ``idempotency_key``, the same key on the same
    account returns the order it created the first time (created=False); a key reused
    for another symbol, side or type is ``Unprocessable``, and with ``same_body`` (a
    client's Idempotency-Key) so is any other difference from the first request - its
    amount, prices, flags, as rounded. Callers that recompute a request on a retry (a
    signal sized at today's price) leave ``same_body`` off. The uniqueness lives in the
    database, so two concurrent requests with one key create one order.

    The gate (settings.ORDER_GATE: the risk app's) decides in the same transaction that
    stores the order, under the account's lock; a refusal is recorded and raised as
    ``OrderRefused`` after that transaction commits. ``context`` (signal, strategy) is
    handed to it for its record. Side effects on commit: the ``orders.order_send`` task,
    an ``order.updated`` push.
    """
    if idempotency_key:
        existing = one_row(
            Order, "account_id = %s AND idempotency_key = %s", [account.pk, idempotency_key]
        )
        if existing is not None:
            return _replay(existing, request, account=account, same_body=same_body)
    order = order_prepare(
        account=account,
        request=request,
        origin=origin,
        created_by=created_by,
        idempotency_key=idempotency_key,
    )
    gate = order_gate()
    prepared = gate.prepare(account=account, order=order) if gate else None
    # After the gate's preparation, which fills a cold prices cache.
    _check_at_market(order, account)
    refusal = ""
    try:
        with transaction.atomic(durable=True):
            if gate is not None:
                verdict = gate.check(
                    account=account,
                    order=order,
                    prepared=prepared,
                    actor=actor,
                    context=context or {},
                )
                refusal = verdict.reason if not verdict.approved else ""
            if not refusal:
                order_store(order=order, actor=actor)
            if gate is not None:
                gate.record(verdict=verdict, order=None if refusal else order)
    except IntegrityError:
        if idempotency_key:
            # A concurrent request with the same key won the insert: return its order.
            existing = Order.objects.get(account=account, idempotency_key=idempotency_key)
            return _replay(existing, request, account=account, same_body=same_body)
        raise
    if refusal:
        raise OrderRefused(refusal, record=verdict)
    # The gate's record of the decision, for callers that link it (signals).
    order.gate_record = verdict if gate is not None else None
    logger.info("order %s stored: %s", order.client_order_id, order)
    return order, True


class OrderRefused(PermissionDenied):
    """The pre-trade gate said no; ``record`` is its stored decision."""

    code = "order_refused"

    def __init__(self, message: str, *, record=None):
        super().__init__(message)
        self.record = record


def order_gate():
    """The pre-trade gate named by settings.ORDER_GATE, or None (orders alone)."""
    path = getattr(settings, "ORDER_GATE", "")
    return import_string(path)() if path else None


def _replay(
    order: Order, request: OrderRequest, *, account: ExchangeAccount, same_body: bool
) -> tuple[Order, bool]:
    fields = ("symbol", "side", "type")
    differ = [name for name in fields if getattr(order, name) != getattr(request, name)]
    if not differ and same_body:
        differ = _body_differences(order, request, account)
    if differ:
        raise Unprocessable(
            f"Idempotency-Key {order.idempotency_key!r} was already used for order "
            f"{order.pk} ({order.side} {order.amount} {order.symbol} {order.type}) with a "
            f"different body ({', '.join(differ)} differ). Send the same body to get that "
            "order again, or use a new key for a new order.",
            extra={"idempotency_key": order.idempotency_key, "differs": differ},
        )
    return order, False


def _body_differences(order: Order, request: OrderRequest, account: ExchangeAccount) -> list:
    """The request fields that differ from those the order was created with, compared
    as stored: rounded to the market, time in force defaulted. Amount and price are the
    first request's (its ``order.created`` event): an amendment changes them in place."""
    try:
        _check_shape(request)
        asked = _round(request, market_rules_for(account, request.symbol))
    except ApplicationError:
        asked = request  # not even valid: it differs, compared as given
    created = (
        OrderEvent.objects.filter(order=order, type=events.CREATED)
        .values_list("new_remaining", "new_price")
        .first()
    )
    amount, price = created if created is not None else (order.amount, order.price)
    stored = {
        "amount": amount,
        "price": price,
        "stop_price": order.stop_price,
        "time_in_force": order.time_in_force,
        "reduce_only": order.reduce_only,
        "post_only": order.post_only,
        "stop_loss_price": order.stop_loss_price,
        "take_profit_price": order.take_profit_price,
    }
    wanted = {
        "amount": asked.amount,
        "price": asked.price,
        "stop_price": asked.stop_price,
        "time_in_force": asked.time_in_force or ("GTC" if asked.type in LIMIT_TYPES else ""),
        "reduce_only": asked.reduce_only,
        "post_only": asked.post_only,
        "stop_loss_price": asked.stop_loss_price,
        "take_profit_price": asked.take_profit_price,
    }
    return [name for name in stored if stored[name] != wanted[name]]
