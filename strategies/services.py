"""Signals: stored once, decided by the risk gate, turned into orders.

``signal_ingest`` only validates and stores (a webhook must answer TradingView within
3 s), then queues ``signal_process`` on commit. Processing sizes an order for each
target account (a group's accounts by their weights) and submits it through the order
service, which runs the risk gate in the transaction that stores it: signal -> risk
decision -> order events -> fills, each step in the audit trail.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import secrets
from decimal import Decimal

from django.db import IntegrityError, transaction
from django.utils import timezone

from accounts import gateway
from accounts.models import AccountGroupMember, ExchangeAccount
from common.api import represent
from common.db import one_row
from common.exceptions import ApplicationError, PermissionDenied, Unprocessable, ValidationFailed
from orders.models import Order
from orders.services import OrderRequest, order_submit
from orders.services.submit import OrderRefused
from positions.models import Position
from positions.selectors import last_prices
from positions.valuation import market_key
from realtime.groups import user_group
from realtime.publish import broadcast_on_commit
from risk import sizing
from strategies import tasks
from strategies.models import Signal, SignalSource

logger = logging.getLogger(__name__)

BUY_ACTIONS = frozenset({"buy", "long"})
SELL_ACTIONS = frozenset({"sell", "short"})


# --- Sources --------------------------------------------------------------------------------


def hash_secret(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def source_set_secret(*, source: SignalSource) -> str:
    """Give a webhook source a new secret; returns it (shown once, stored hashed)."""
    secret = secrets.token_urlsafe(32)
    source.secret_hash = hash_secret(secret)
    source.save(update_fields=["secret_hash", "updated_at"])
    return secret


def source_check_secret(*, source: SignalSource, secret: object) -> bool:
    if not source.secret_hash or not isinstance(secret, str) or not secret:
        return False
    # Constant time: how much of a guess matched must not show in the answer's timing.
    return hmac.compare_digest(hash_secret(secret), source.secret_hash)


def api_source(*, user) -> SignalSource:
    source, _ = SignalSource.objects.get_or_create(
        owner=user, name="api", defaults={"kind": SignalSource.Kind.API}
    )
    return source


# --- Ingestion ------------------------------------------------------------------------------


def _target_account(source: SignalSource, account_id, group_id):
    owner = source.owner_id
    account = group = None
    if account_id is not None:
        account = one_row(ExchangeAccount, "id = %s AND owner_id = %s", [account_id, owner])
        if account is None:
            raise ValidationFailed(f"No account {account_id}.", extra={"field": "account"})
    elif group_id is not None:
        from accounts.models import AccountGroup

        group = AccountGroup.objects.filter(pk=group_id, owner_id=owner).first()
        if group is None:
            raise ValidationFailed(f"No account group {group_id}.", extra={"field": "group"})
    else:
        if source.account_id is not None:
            account = one_row(ExchangeAccount, "id = %s", [source.account_id])
        group = source.account_group
    if account is None and group is None:
        raise ValidationFailed(
            "Say which account trades this signal (account or group), or give the source a "
            "default account.",
            extra={"field": "account"},
        )
    return account, group


def _check_symbol(account: ExchangeAccount | None, group, symbol: str) -> None:
    probe = account or (ExchangeAccount.objects.filter(accountgroupmember__group=group).first())
    if probe is None:
        raise ValidationFailed("The account group has no accounts.", extra={"field": "group"})
    try:
        gateway.account_market_rules(probe, symbol)
    except ValidationFailed:
        raise
    except Exception as exc:
        raise ApplicationError(
            f"Could not load the markets of {probe.exchange_id} to check {symbol!r}; "
            "nothing was stored. Try again shortly."
        ) from exc


def signal_ingest(
    *, source: SignalSource, external_id: str, data: dict, same_body: bool = False
) -> tuple[Signal, bool]:
    """Validate and store one signal; queue its processing on commit.

    Idempotent by (source, external id): the same alert twice is one signal (created
    False, nothing queued again). With ``same_body`` (the API's Idempotency-Key), an
    external id reused with a different body is ``Unprocessable`` instead. A signal
    weaker than the source's ``min_confidence`` is stored as ``ignored`` and never
    processed.
    """
    if not source.enabled:
        raise PermissionDenied(f"Signal source {source.name!r} is disabled.")
    existing = one_row(Signal, "source_id = %s AND external_id = %s", [source.pk, external_id])
    if existing is not None:
        return _signal_replay(existing, source, data, same_body=same_body), False
    account, group = _target_account(source, data.get("account"), data.get("group"))
    _check_symbol(account, group, data["symbol"])
    strength = data.get("strength")
    ignored = strength is not None and strength < source.min_confidence
    signal = Signal(
        source=source,
        external_id=external_id,
        account=account,
        account_group=group,
        symbol=data["symbol"],
        action=data["action"],
        strength=strength,
        entry_price=data.get("entry_price"),
        stop_loss=data.get("stop_loss"),
        stop_loss_pct=data.get("stop_loss_pct"),
        take_profit=data.get("take_profit"),
        take_profit_pct=data.get("take_profit_pct"),
        size_hint=data.get("size"),
        payload=data.get("payload") or {},
        status=Signal.Status.IGNORED if ignored else Signal.Status.RECEIVED,
        status_reason=(f"strength {strength} is below the source's minimum {source.min_confidence}")
        if ignored
        else "",
    )
    try:
        with transaction.atomic():
            signal.save()
            if not ignored:
                tasks.signal_process.delay_on_commit(signal.pk)
            _publish_signal(signal)
    except IntegrityError:
        # The same alert, delivered twice at once: the first one stored it.
        existing = Signal.objects.get(source=source, external_id=external_id)
        return _signal_replay(existing, source, data, same_body=same_body), False
    return signal, True


def _signal_replay(signal: Signal, source: SignalSource, data: dict, *, same_body: bool) -> Signal:
    """The stored signal for a repeated external id; with ``same_body``, Unprocessable
    when the repeat asks for something else (fields compared as stored)."""
    if not same_body:
        return signal
    try:
        account, group = _target_account(source, data.get("account"), data.get("group"))
    except ValidationFailed:
        account = group = None
    asked = {
        "account": account.pk if account else None,
        "group": group.pk if group else None,
        "symbol": data.get("symbol"),
        "action": data.get("action"),
        "strength": data.get("strength"),
        "entry_price": data.get("entry_price"),
        "stop_loss": data.get("stop_loss"),
        "stop_loss_pct": data.get("stop_loss_pct"),
        "take_profit": data.get("take_profit"),
        "take_profit_pct": data.get("take_profit_pct"),
        "size": data.get("size"),
    }
    stored = {
        "account": signal.account_id,
        "group": signal.account_group_id,
        "symbol": signal.symbol,
        "action": signal.action,
        "strength": signal.strength,
        "entry_price": signal.entry_price,
        "stop_loss": signal.stop_loss,
        "stop_loss_pct": signal.stop_loss_pct,
        "take_profit": signal.take_profit,
        "take_profit_pct": signal.take_profit_pct,
        "size": signal.size_hint,
    }
    differ = [name for name in stored if stored[name] != asked[name]]
    if differ:
        raise Unprocessable(
            f"Idempotency-Key {signal.external_id!r} was already used for signal {signal.pk} "
            f"({signal.action} {signal.symbol}) with a different body ({', '.join(differ)} "
            "differ). Send the same body to get that signal again, or use a new key for a "
            "new signal.",
            extra={"idempotency_key": signal.external_id, "differs": differ},
        )
    return signal


def _publish_signal(signal: Signal) -> None:
    """``signal.updated`` to the source owner's dashboard group, when the change commits."""
    from strategies.api.serializers import SignalOutput

    broadcast_on_commit(
        group=user_group(signal.source.owner_id),
        event="signal.updated",
        payload=represent(SignalOutput, signal),
    )


# --- Processing -----------------------------------------------------------------------------


def _targets(signal: Signal) -> list[tuple[ExchangeAccount, Decimal]]:
    if signal.account_id:
        return [(signal.account, Decimal(1))]
    members = (
        AccountGroupMember.objects.filter(group_id=signal.account_group_id)
        .select_related("account")
        .order_by("account_id")
    )
    return [(m.account, m.weight) for m in members if m.weight > 0]


def _protective(signal: Signal, side: str, price: Decimal) -> tuple[Decimal | None, Decimal | None]:
    stop, take = signal.stop_loss, signal.take_profit
    direction = 1 if side == "buy" else -1
    if stop is None and signal.stop_loss_pct is not None:
        stop = price * (1 - direction * signal.stop_loss_pct)
    if take is None and signal.take_profit_pct is not None:
        take = price * (1 + direction * signal.take_profit_pct)
    return stop, take


def _amount(
    signal: Signal,
    account: ExchangeAccount,
    weight: Decimal,
    price: Decimal,
    stop: Decimal | None,
    prices: dict,
) -> Decimal:
    """The order's amount by the source's sizing method, x the account's weight, then
    capped by the account's limits and rounded down to the market's step."""
    from orders.services.submit import market_rules_for
    from positions.selectors import account_equity
    from risk.services import effective_limits

    source = signal.source
    limits = effective_limits(account=account, strategy=_strategy_name(signal))
    equity = None
    needs_equity = (
        SignalSource.Sizing.PCT_EQUITY,
        SignalSource.Sizing.KELLY,
        SignalSource.Sizing.VOLATILITY,
    )
    if source.sizing in needs_equity or limits.max_position_pct is not None:
        equity = account_equity(account=account, prices=prices)
    if signal.size_hint is not None:
        amount = sizing.size_fixed_quote(quote_amount=signal.size_hint, price=price)
    elif source.sizing == SignalSource.Sizing.PCT_EQUITY:
        amount = sizing.size_pct_equity(equity=equity, pct=source.sizing_value, price=price)
    elif source.sizing == SignalSource.Sizing.FIXED_RISK:
        if stop is None:
            raise ValidationFailed("Fixed-risk sizing needs the signal's stop-loss.")
        amount = sizing.size_fixed_risk(risk_amount=source.sizing_value, entry=price, stop=stop)
    elif source.sizing == SignalSource.Sizing.KELLY:
        amount = _kelly_amount(signal, account, equity, price)
    elif source.sizing == SignalSource.Sizing.VOLATILITY:
        amount = _volatility_amount(signal, account, equity, price)
    else:
        amount = sizing.size_fixed_quote(quote_amount=source.sizing_value, price=price)
    rules = market_rules_for(account, signal.symbol)
    capped = sizing.cap_and_round(
        amount * weight, price=price, limits=limits, step=rules.amount_step, equity=equity
    )
    if capped <= 0:
        raise ValidationFailed(
            f"Sized at {amount * weight} {rules.base}, the order is below the market's or the "
            "limits' minimum after capping: nothing to send."
        )
    return capped


def _kelly_amount(
    signal: Signal, account: ExchangeAccount, equity: Decimal, price: Decimal
) -> Decimal:
    """Fractional Kelly from the account's closed round trips: win rate and the ratio of
    the average win to the average loss. Without both wins and losses there is no
    estimate, and no order."""
    from positions.selectors import performance

    stats = performance(user=account.owner, account_id=account.pk)
    if not stats["win_rate"] or not stats["average_win"] or not stats["average_loss"]:
        raise ValidationFailed(
            "Kelly sizing needs closed trades with both wins and losses on this account; "
            "use another sizing method until there is a history."
        )
    params = signal.source.sizing_params or {}
    return sizing.size_kelly(
        equity=equity,
        win_rate=Decimal(stats["win_rate"]),
        payoff_ratio=Decimal(stats["average_win"]) / -Decimal(stats["average_loss"]),
        fraction=signal.source.sizing_value,
        cap_pct=Decimal(str(params.get("cap_pct", "0.2"))),
        price=price,
    )


def _volatility_amount(
    signal: Signal, account: ExchangeAccount, equity: Decimal, price: Decimal
) -> Decimal:
    """Risk a fraction of equity per ATR multiple: wilder markets get smaller orders."""
    params = signal.source.sizing_params or {}
    timeframe = str(params.get("timeframe", "1h"))
    period = int(params.get("period", 14))
    candles = recent_candles(account, signal.symbol, timeframe=timeframe, limit=period * 3)
    try:
        atr_value = sizing.atr(candles, period=period)
    except ValueError as exc:
        raise ValidationFailed(f"Volatility sizing: {exc}") from exc
    if atr_value <= 0:
        raise ValidationFailed("Volatility sizing: the market has not moved (ATR 0).")
    return sizing.size_volatility(
        equity=equity,
        risk_pct=signal.source.sizing_value,
        atr_value=atr_value,
        atr_multiple=Decimal(str(params.get("atr_multiple", "2"))),
        price=price,
    )


def recent_candles(
    account: ExchangeAccount, symbol: str, *, timeframe: str, limit: int
) -> list[tuple[Decimal, Decimal, Decimal]]:
    """(high, low, close) of recent candles, oldest first (cached like the dashboard's)."""
    from positions.selectors import candles

    return [
        (Decimal(row["high"]), Decimal(row["low"]), Decimal(row["close"]))
        for row in candles(account=account, symbol=symbol, timeframe=timeframe, limit=limit)
    ]


def _strategy_name(signal: Signal) -> str:
    return signal.source.strategy.name if signal.source.strategy else ""


def signal_process(*, signal_id: int) -> Signal:
    """Turn a stored signal into orders, once (the claim is a conditional update)."""
    now = timezone.now()
    claimed = Signal.objects.filter(
        pk=signal_id, status=Signal.Status.RECEIVED, processed_at__isnull=True
    ).update(processed_at=now)
    signal = Signal.objects.select_related("source__strategy", "account").get(pk=signal_id)
    if not claimed:
        return signal
    outcomes: list[str] = []
    reasons: list[str] = []
    orders: list[Order] = []
    records = []
    targets = _targets(signal)
    prices = last_prices([account for account, _ in targets])
    for account, weight in targets:
        record = None
        try:
            order = _order_for(signal, account, weight, prices)
            if order is not None:
                orders.append(order)
                record = getattr(order, "gate_record", None)
            outcomes.append("approved")  # or nothing to close: done
        except OrderRefused as exc:
            outcomes.append("rejected")
            reasons.append(f"{account.label}: {exc.message}")
            record = exc.record
        except ApplicationError as exc:
            outcomes.append("failed")
            reasons.append(f"{account.label}: {exc.message}")
        if record is not None:
            records.append(record)
    if "approved" in outcomes:
        status = Signal.Status.APPROVED
    elif "rejected" in outcomes:
        status = Signal.Status.REJECTED
    else:
        status = Signal.Status.FAILED
    # The orders are committed (each in its own transaction, sent already); the links
    # and the outcome follow in one transaction (one INSERT per relation, one UPDATE),
    # pushed when it commits.
    with transaction.atomic():
        if orders:
            Signal.orders.through.objects.bulk_create(
                [Signal.orders.through(signal=signal, order=order) for order in orders],
                ignore_conflicts=True,
            )
        if records:
            Signal.decisions.through.objects.bulk_create(
                [Signal.decisions.through(signal=signal, riskdecision=r) for r in records],
                ignore_conflicts=True,
            )
        signal.status, signal.status_reason = status, "; ".join(reasons)
        Signal.objects.filter(pk=signal.pk).update(
            status=signal.status, status_reason=signal.status_reason
        )
        _known_links(signal, orders=orders, decisions=records)
        _publish_signal(signal)
    logger.info("signal %s: %s %s", signal.pk, status, "; ".join(reasons))
    return signal


def _known_links(signal: Signal, **links: list) -> None:
    """Hand the signal the rows just linked to it, as ``prefetch_related`` would have read
    them: its push (orders and decisions included) then reads nothing back."""
    cache = signal.__dict__.setdefault("_prefetched_objects_cache", {})
    for name, rows in links.items():
        queryset = getattr(signal, name).all()
        queryset._result_cache, queryset._prefetch_done = list(rows), True
        cache[name] = queryset


def _order_for(
    signal: Signal, account: ExchangeAccount, weight: Decimal, prices: dict
) -> Order | None:
    context = {"signal": signal.pk, "strategy": _strategy_name(signal)}
    actor = f"signal:{signal.pk}"
    key = f"signal-{signal.pk}"
    if signal.action == Signal.Action.CLOSE:
        position = Position.objects.filter(
            account=account, symbol=signal.symbol, status=Position.Status.OPEN
        ).first()
        if position is None:
            return None
        from positions.services import position_close

        return position_close(position=position, actor=actor)
    side = "buy" if signal.action in BUY_ACTIONS else "sell"
    price = signal.entry_price or prices.get(market_key(signal.symbol))
    if price is None:
        raise ValidationFailed(f"No price for {signal.symbol} to size the order.")
    stop, take = _protective(signal, side, price)
    amount = _amount(signal, account, weight, price, stop, prices)
    order, _ = order_submit(
        account=account,
        request=OrderRequest(
            symbol=signal.symbol,
            side=side,
            type="limit" if signal.entry_price else "market",
            amount=amount,
            price=signal.entry_price,
            stop_loss_price=stop,
            take_profit_price=take,
        ),
        origin=Order.Origin.SIGNAL,
        actor=actor,
        idempotency_key=key,
        context=context,
    )
    return order


def alert_fingerprint(payload: dict) -> str:
    """An external id for an alert that carries none: the same alert body (secret
    excluded) is the same signal. Put ``{{timenow}}`` in the alert's ``id`` to tell
    repeated, genuinely new alerts apart."""
    import json

    body = json.dumps(
        {k: v for k, v in payload.items() if k != "secret"}, sort_keys=True, default=str
    )
    return "fp-" + hashlib.sha256(body.encode()).hexdigest()[:40]
