"""The pre-trade risk gate, the kill switches and the circuit breakers.

Every order passes ``RiskGate`` (settings.ORDER_GATE, called by orders.order_submit):
outside any transaction it fetches what needs the network (last prices, cached); then,
inside the transaction that stores the order, it locks the account's RiskState row,
builds a snapshot from our own records (equity, P&L today, positions, orders in
flight), decides with the pure rules (risk.rules) and writes a RiskDecision row with
every verdict. Two concurrent orders on one account are decided one after the other,
each seeing the other's exposure: two that each fit a limit but not together cannot
both pass.

The kill switches (per account and global) and the breakers are rows: they stay on
across restarts until a person turns them off, and every change is a RiskEvent.
``send_guard`` (settings.ORDER_SEND_GUARD) stops orders already queued, too.
"""

from __future__ import annotations

import logging
from dataclasses import asdict
from datetime import timedelta
from decimal import Decimal

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from accounts.models import ExchangeAccount
from common.api import json_ready
from common.db import one_row
from orders.models import Order
from positions.models import Position
from positions.selectors import last_prices
from positions.valuation import asset_price, market_key
from realtime.groups import account_group, user_group
from realtime.publish import broadcast_on_commit
from risk import rules
from risk.models import GlobalRiskState, RiskDecision, RiskEvent, RiskState
from risk.selectors import HaltFlags, RiskInputs, halt_flags, owner_limits, risk_inputs

logger = logging.getLogger(__name__)

ZERO = Decimal(0)


# --- Limits ---------------------------------------------------------------------------------


def effective_limits(*, account: ExchangeAccount, strategy: str = "") -> rules.Limits:
    """Global, account and strategy limits of the account's owner, merged."""
    return rules.merge_limits(
        *owner_limits(owner_id=account.owner_id, account_id=account.pk, strategy=strategy)
    )


# --- The gate -------------------------------------------------------------------------------


def lock_state(account: ExchangeAccount) -> RiskState:
    """The account's RiskState row, locked until the transaction ends (created once).

    Its own statement, before the snapshot is read: under READ COMMITTED the next
    statement then sees everything committed by whoever held the lock before us."""
    state = _locked_state(account.pk)
    if state is None:
        RiskState.objects.get_or_create(account=account)
        state = _locked_state(account.pk)
    return state


def _locked_state(account_id: int) -> RiskState | None:
    return one_row(RiskState, "account_id = %s", [account_id], lock=True)


def halted_reason(state: RiskState | None, inputs: RiskInputs | None = None) -> str:
    if inputs is not None:
        global_on, global_reason = inputs.global_kill_switch, inputs.global_kill_reason
    else:
        global_state = GlobalRiskState.objects.filter(pk=1).first()
        global_on = bool(global_state and global_state.kill_switch)
        global_reason = global_state.kill_reason if global_state else ""
    return halt_message(
        HaltFlags(
            global_kill_switch=global_on,
            global_kill_reason=global_reason,
            kill_switch=bool(state and state.kill_switch),
            kill_reason=state.kill_reason if state else "",
            breaker=state.breaker if state else "",
            breaker_reason=state.breaker_reason if state else "",
        )
    )


def halt_message(flags: HaltFlags) -> str:
    """Why orders may not go, or "": the global switch, the account's, its breaker."""
    if flags.global_kill_switch:
        return f"global kill switch on: {flags.global_kill_reason or 'no reason given'}"
    if flags.kill_switch:
        return f"kill switch on: {flags.kill_reason or 'no reason given'}"
    if flags.breaker:
        return f"circuit breaker ({flags.breaker}) tripped: {flags.breaker_reason}"
    return ""


def build_snapshot(
    *, state: RiskState, symbol: str, prices: dict[str, Decimal], now, inputs: RiskInputs
) -> rules.Snapshot:
    """The account as our records (``inputs``, one query) see it now."""
    reference = settings.PORTFOLIO_REFERENCE_ASSET
    equity = ZERO
    for asset, total in inputs.balances:
        price = asset_price(asset, reference, prices)
        if price is not None:
            equity += total * price
    last = prices.get(market_key(symbol))
    unrealized = ZERO
    position_value = ZERO
    has_position = False
    for row in inputs.positions:
        signed = row.contracts if row.side == Position.Side.LONG else -row.contracts
        row_last = prices.get(market_key(row.symbol)) or row.mark_price
        if row.source == Position.Source.EXCHANGE:
            unrealized += row.unrealized_pnl or ZERO
        elif row_last is not None and row.entry_price is not None:
            unrealized += (row_last - row.entry_price) * signed
        if row.symbol == symbol:
            has_position = True
            position_value += signed * (row.mark_price or last or row.entry_price or ZERO)
    # Orders still working add to the exposure they will create: a concurrent order,
    # decided just before this one, must count.
    for side, priced_value, unpriced_amount in inputs.working_orders:
        value = priced_value + unpriced_amount * (last or ZERO)
        position_value += value if side == "buy" else -value
    if equity > state.equity_peak:
        state.equity_peak = equity
    return rules.Snapshot(
        now=now,
        equity=equity,
        equity_peak=state.equity_peak,
        realized_today=inputs.realized_today,
        unrealized=unrealized,
        last_price=last,
        position_value=position_value,
        open_positions=len(inputs.positions),
        has_position_in_symbol=has_position,
        last_loss_at=inputs.last_loss_at,
        orders_last_minute=inputs.orders_last_minute,
        halted=halted_reason(state, inputs) or None,
    )


def _check_breakers(
    *,
    account: ExchangeAccount,
    state: RiskState,
    snapshot: rules.Snapshot,
    limits: rules.Limits,
    now,
    inputs: RiskInputs,
) -> None:
    """Trip the account's breaker on the daily loss or drawdown limit, or on repeated
    exchange failures. It stays tripped until a person resets it."""
    if state.breaker:
        return
    tripped = ""
    if rules.daily_loss_breached(snapshot, limits):
        tripped = (
            "daily_loss",
            f"loss today {snapshot.realized_today + snapshot.unrealized}"
            f" reached the limit of -{limits.max_daily_loss}",
        )
    elif rules.drawdown_breached(snapshot, limits):
        tripped = (
            "drawdown",
            f"equity {snapshot.equity} is over {limits.max_drawdown_pct}"
            f" below its peak {snapshot.equity_peak}",
        )
    else:
        failures = inputs.worst_sync_errors
        if failures >= settings.RISK_BREAKER_EXCHANGE_FAILURES:
            tripped = ("exchange_failures", f"{failures} exchange calls failed in a row")
    if tripped:
        state.breaker, state.breaker_reason = tripped
        state.changed_at = now
        RiskEvent.objects.create(
            account=account,
            type="breaker.tripped",
            reason=f"{state.breaker}: {state.breaker_reason}",
            actor="system",
        )
        _publish_state(account.pk, state)


def _assess(
    account: ExchangeAccount,
    *,
    symbol: str,
    prices: dict,
    now,
    strategy: str = "",
    exclude_order_id: int | None = None,
):
    """Under the account's lock: its limits, its snapshot, and the breakers checked (a
    breached limit trips one). Returns (state, limits, snapshot); the caller's
    transaction holds the lock. ``exclude_order_id``: a working order the snapshot leaves
    out (an amendment's order: the proposal replaces its exposure)."""
    state = lock_state(account)
    before = (state.equity_peak, state.breaker)
    inputs = risk_inputs(
        account_id=account.pk,
        symbol=symbol,
        day_start=rules.day_start(now, settings.PNL_TIME_ZONE),
        minute_ago=now - timedelta(minutes=1),
        owner_id=account.owner_id,
        strategy=strategy,
        exclude_order_id=exclude_order_id,
    )
    limits = rules.merge_limits(*inputs.limits)
    snapshot = build_snapshot(state=state, symbol=symbol, prices=prices, now=now, inputs=inputs)
    _check_breakers(
        account=account, state=state, snapshot=snapshot, limits=limits, now=now, inputs=inputs
    )
    if state.breaker and not snapshot.halted:
        snapshot = rules.Snapshot(**{**asdict(snapshot), "halted": halted_reason(state, inputs)})
    if (state.equity_peak, state.breaker) != before:  # most decisions change neither
        state.save(update_fields=["equity_peak", "breaker", "breaker_reason", "changed_at"])
    return state, limits, snapshot


def breakers_check(*, account: ExchangeAccount) -> str:
    """Check an account's breakers without an order (beat, every BREAKERS_CHECK_SECONDS):
    a daily loss or drawdown reached by price moves alone trips them too. Returns the
    breaker that is tripped now, or ""."""
    prices = last_prices([account])  # outside the transaction: may call the exchange
    with transaction.atomic():
        state, _, _ = _assess(account, symbol="", prices=prices, now=timezone.now())
    return state.breaker


class RiskGate:
    """The pre-trade gate the order service calls (settings.ORDER_GATE)."""

    def prepare(self, *, account: ExchangeAccount, order: Order) -> dict:
        # Outside any transaction. Prices come from the cache that beat keeps warm: the
        # order path calls the exchange for nothing but the order (DESIGN.md, "Rate
        # limits"); only a cold cache (right after a start) costs one ticker call.
        prices = last_prices([account], fetch=False)
        if market_key(order.symbol) not in prices:
            prices = last_prices([account])
        return {"prices": prices, "now": timezone.now()}

    def check(
        self, *, account: ExchangeAccount, order: Order, prepared: dict, actor: str, context: dict
    ) -> RiskDecision:
        """Decide under the account's lock (the caller's transaction). The decision is
        returned unsaved: ``record`` stores it with the order it lets through.
        ``context["amends"]``: the order an amendment changes - ``order`` is what it
        would become, so that order's own working exposure is left out."""
        now = timezone.now()
        _, limits, snapshot = _assess(
            account,
            symbol=order.symbol,
            prices=prepared["prices"],
            now=now,
            strategy=context.get("strategy", ""),
            exclude_order_id=context.get("amends"),
        )
        price = order.price or order.stop_price or snapshot.last_price
        if price is None:
            decision = rules.Decision(
                approved=False,
                verdicts=(),
                reason=f"no last price for {order.symbol}: cannot value the order",
            )
        else:
            proposal = rules.Proposal(
                symbol=order.symbol,
                side=order.side,
                amount=order.amount,
                price=price,
                reduce_only=order.reduce_only,
            )
            decision = rules.decide(proposal, snapshot, limits)
        row = RiskDecision(
            account=account,
            approved=decision.approved,
            reason=decision.reason,
            proposal=json_ready(
                {
                    "symbol": order.symbol,
                    "side": order.side,
                    "type": order.type,
                    "amount": order.amount,
                    "price": price,
                    "reduce_only": order.reduce_only,
                }
            ),
            snapshot=json_ready(asdict(snapshot)),
            limits=json_ready(asdict(limits)),
            verdicts=decision.as_dict()["verdicts"] if decision.verdicts else [],
            context=json_ready(context),
            actor=actor,
        )
        if not decision.approved:
            logger.info(
                "risk refused %s %s %s on account %s: %s",
                order.side,
                order.amount,
                order.symbol,
                account.pk,
                decision.reason,
            )
        return row

    def record(self, *, verdict: RiskDecision, order: Order | None) -> None:
        """Store the decision ``check`` made, with the order it let through (None when
        refused): one INSERT, in the transaction that stores the order."""
        verdict.order = order
        verdict.save()


def send_guard(*, account_id: int) -> str:
    """Why orders of this account may not be sent now ("" when they may): one query, on
    the send path of every order."""
    return halt_message(halt_flags(account_id=account_id))


# --- Kill switches and breakers -------------------------------------------------------------


def _publish_state(account_id: int | None, state) -> None:
    payload = {
        "account": account_id,
        "kill_switch": state.kill_switch,
        "reason": getattr(state, "kill_reason", ""),
        "breaker": getattr(state, "breaker", ""),
        "breaker_reason": getattr(state, "breaker_reason", ""),
    }
    if account_id is not None:
        broadcast_on_commit(group=account_group(account_id), event="risk.updated", payload=payload)


def kill_switch_set(
    *,
    on: bool,
    actor: str,
    reason: str = "",
    account: ExchangeAccount | None = None,
    panic: bool = False,
) -> None:
    """Turn a kill switch on or off: one account's, or (account=None) everyone's.

    On: no new order is accepted or sent (queued ones are cancelled at send); orders that
    only reduce a position still go, so that risk can always be cut. ``panic`` also
    cancels every open order and closes every position of the account(s). Off needs a
    person; both are audited.
    """
    now = timezone.now()
    with transaction.atomic(durable=True):
        if account is None:
            state, _ = GlobalRiskState.objects.select_for_update().get_or_create(pk=1)
        else:
            RiskState.objects.get_or_create(account=account)
            state = RiskState.objects.select_for_update().get(account=account)
        state.kill_switch = on
        state.kill_reason = reason if on else ""
        state.changed_at = now
        state.save()
        RiskEvent.objects.create(
            account=account,
            type=f"kill_switch.{'on' if on else 'off'}" + (".panic" if panic and on else ""),
            reason=reason,
            actor=actor,
        )
        if account is not None:
            _publish_state(account.pk, state)
            broadcast_on_commit(
                group=user_group(account.owner_id),
                event="risk.updated",
                payload={"account": account.pk, "kill_switch": on},
            )
    if on and panic:
        accounts = (
            [account]
            if account is not None
            else list(ExchangeAccount.objects.filter(is_active=True))
        )
        for target in accounts:
            flatten(account=target, actor=actor)


def flatten(*, account: ExchangeAccount, actor: str) -> None:
    """Cancel every open order and close every position of ``account`` ("panic")."""
    from orders.services import order_cancel_all
    from positions.services import positions_close_all

    order_cancel_all(account=account, actor=actor)
    positions_close_all(account=account, actor=actor)


def breaker_reset(*, account: ExchangeAccount, actor: str, reason: str) -> None:
    """A person resumes trading after a breaker tripped (audited)."""
    if not reason:
        raise ValueError("Say why trading may resume.")
    with transaction.atomic(durable=True):
        state = lock_state(account)
        if not state.breaker:
            return
        RiskEvent.objects.create(
            account=account, type="breaker.reset", reason=f"{state.breaker}: {reason}", actor=actor
        )
        state.breaker = ""
        state.breaker_reason = ""
        state.changed_at = timezone.now()
        state.save()
        _publish_state(account.pk, state)
