"""Brackets and one-cancels-the-other, end to end against the simulator (USD-M and spot)."""

from decimal import Decimal

import pytest

from orders import services
from orders.models import Order
from orders.states import Status
from orders.tests.test_lifecycle import event_types, send, submit, venue_orders

pytestmark = pytest.mark.django_db

SYMBOL = "BTC/USDT:USDT"


def refresh(*orders):
    for order in orders:
        order.refresh_from_db()


def children(entry):
    stop = entry.children.get(role=Order.Role.STOP_LOSS)
    take = entry.children.get(role=Order.Role.TAKE_PROFIT)
    return stop, take


def test_a_filled_bracket_entry_is_protected_and_the_take_profit_cancels_the_stop(
    make_sim_account, sim
):
    account = make_sim_account(market_type="swap")
    entry = submit(
        account,
        symbol=SYMBOL,
        amount=Decimal("0.01"),
        stop_loss_price=Decimal("59000"),
        take_profit_price=Decimal("61000"),
    )
    send(entry)
    assert entry.status == Status.FILLED

    services.order_followups(order_id=entry.pk)
    stop, take = children(entry)
    assert (stop.type, stop.side, stop.amount, stop.stop_price, stop.reduce_only) == (
        "stop_market",
        "sell",
        Decimal("0.01"),
        Decimal("59000"),
        True,
    )
    assert (take.type, take.stop_price) == ("take_profit_market", Decimal("61000"))
    assert stop.linked_id == take.pk and take.linked_id == stop.pk
    services.order_followups(order_id=entry.pk)  # a duplicate follow-up adds nothing
    assert entry.children.count() == 2

    send(stop)
    send(take)
    assert (stop.status, take.status) == (Status.OPEN, Status.OPEN)

    sim.control("POST", "/price", {"symbol": "BTCUSDT", "price": "61050", "venue": "futures"})
    sim.control("POST", "/step", {"n": 2})
    services.order_reconcile(order_id=take.pk)
    refresh(take)
    assert take.status == Status.FILLED

    services.order_followups(order_id=take.pk)
    refresh(stop)
    assert stop.status == Status.CANCEL_REQUESTED
    if services.order_cancel_send(order_id=stop.pk) == "reconcile":
        services.order_reconcile(order_id=stop.pk)
    refresh(stop)
    assert stop.status == Status.CANCELED
    assert "one-cancels-the-other" in stop.status_reason or any(
        "one-cancels-the-other" in e.reason for e in stop.events.all()
    )
    positions = sim.control("GET", f"/accounts/{account.sim_id}")["positions"]
    assert positions == []


def test_a_sibling_that_filled_while_being_read_is_left_alone(make_sim_account, sim):
    """The price went through both triggers: the take-profit's follow-up reads its stop
    as open, and by the time it would cancel it the stop has filled too. Nothing to
    cancel - the follow-up ends quietly instead of raising a Conflict."""
    account = make_sim_account(market_type="swap")
    entry = submit(
        account,
        symbol=SYMBOL,
        amount=Decimal("0.01"),
        stop_loss_price=Decimal("59000"),
        take_profit_price=Decimal("61000"),
    )
    send(entry)
    services.order_followups(order_id=entry.pk)
    stop, take = children(entry)
    send(stop)
    send(take)
    take = Order.objects.select_related("linked", "account").get(pk=take.pk)
    assert take.linked.status == Status.OPEN  # read before the stop filled
    Order.objects.filter(pk=stop.pk).update(status=Status.FILLED, filled=stop.amount)

    from orders.services.brackets import oco_settle

    oco_settle(order=take)

    refresh(stop)
    assert stop.status == Status.FILLED
    assert "order.cancel_requested" not in event_types(stop)


def test_a_partially_filled_entry_protects_what_it_filled(make_sim_account, sim):
    account = make_sim_account(market_type="swap")
    # The first ask level holds 0.711 BTC at 60000.1: a limit at 60000.1 fills that much.
    entry = submit(
        account,
        symbol=SYMBOL,
        type="limit",
        amount=Decimal("1"),
        price=Decimal("60000.1"),
        stop_loss_price=Decimal("59000"),
        take_profit_price=Decimal("61000"),
    )
    send(entry)
    assert entry.status == Status.PARTIALLY_FILLED

    services.order_followups(order_id=entry.pk)

    stop, take = children(entry)
    assert stop.amount == take.amount == entry.filled == Decimal("0.711")
    assert "order.created" in event_types(stop)


def spot_bracket(account, sim, **fields):
    """A filled spot entry with a stop-loss and a take-profit, its pair created."""
    entry = submit(
        account,
        amount=Decimal("0.01"),
        stop_loss_price=Decimal("59000"),
        take_profit_price=Decimal("61000"),
        **fields,
    )
    send(entry)
    assert entry.status == Status.FILLED
    services.order_followups(order_id=entry.pk)
    return (entry, *children(entry))


def test_a_spot_bracket_is_one_oco_list_and_the_venue_expires_the_other_order(
    make_sim_account, sim, django_capture_on_commit_callbacks
):
    account = make_sim_account()
    with django_capture_on_commit_callbacks() as queued:
        _entry, stop, take = spot_bracket(account, sim)

    assert (stop.type, stop.side, stop.amount, stop.stop_price) == (
        "stop_market",
        "sell",
        Decimal("0.01"),
        Decimal("59000"),
    )
    assert (take.type, take.stop_price, take.group_kind) == (
        "take_profit_market",
        Decimal("61000"),
        Order.GroupKind.OCO,
    )
    assert stop.linked_id == take.pk and take.linked_id == stop.pk
    sends = [c for c in queued if "order_send" in repr(c)]
    assert len(sends) == 2  # the entry's, then the stop-loss's: it leads the list

    assert send(take).outcome == "skipped"  # never alone: it goes with its stop-loss
    assert take.status == Status.PENDING
    assert send(stop).outcome == "sent"
    refresh(take)
    assert (stop.status, take.status) == (Status.OPEN, Status.OPEN)
    assert stop.exchange_order_id and take.exchange_order_id
    assert venue_locked(sim, account, "BTC") == Decimal("0.01")  # once for both orders

    sim.control("POST", "/price", {"symbol": "BTC/USDT", "price": "61050", "venue": "spot"})
    sim.control("POST", "/step", {"n": 2})
    services.order_reconcile(order_id=take.pk)
    services.order_reconcile(order_id=stop.pk)
    refresh(stop, take)

    assert take.status == Status.FILLED
    assert stop.status == Status.EXPIRED
    services.orders_poll(account_id=account.pk)  # the trade, as polling brings it in
    assert take.fills.count() == 1 and stop.fills.count() == 0
    services.order_followups(order_id=take.pk)  # nothing to cancel: the venue did it
    refresh(stop)
    assert stop.status == Status.EXPIRED
    assert venue_locked(sim, account, "BTC") == 0


def test_a_spot_pair_whose_stop_loss_fills_expires_the_take_profit(make_sim_account, sim):
    account = make_sim_account()
    _entry, stop, take = spot_bracket(account, sim)
    send(stop)

    sim.control("POST", "/price", {"symbol": "BTC/USDT", "price": "58900", "venue": "spot"})
    sim.control("POST", "/step", {"n": 2})
    services.order_reconcile(order_id=stop.pk)
    services.order_reconcile(order_id=take.pk)
    refresh(stop, take)

    assert (stop.status, take.status) == (Status.FILLED, Status.EXPIRED)


def test_a_take_profit_only_bracket_is_protected_once(make_sim_account, sim):
    account = make_sim_account(market_type="swap")
    entry = submit(
        account, symbol=SYMBOL, amount=Decimal("0.01"), take_profit_price=Decimal("61000")
    )
    send(entry)

    services.order_followups(order_id=entry.pk)
    services.order_followups(order_id=entry.pk)

    assert list(entry.children.values_list("role", flat=True)) == ["take_profit"]


def venue_locked(sim, account, asset):
    balance = venue_orders(sim, account)["spot"].get(asset) or {"locked": "0"}
    return Decimal(balance["locked"])


def test_a_rate_limited_spot_pair_goes_back_pending_together_and_is_sent_once(
    make_sim_account, sim
):
    account = make_sim_account()
    _entry, stop, take = spot_bracket(account, sim)
    sim.control(
        "POST",
        "/faults",
        {"method": "POST", "path": "/api/v3/orderList/oco", "action": "status", "status": 429},
    )

    result = send(stop)
    refresh(take)
    assert result.outcome == "retry"
    assert (stop.status, take.status) == (Status.PENDING, Status.PENDING)

    assert send(stop).outcome == "sent"
    refresh(take)
    assert (stop.status, take.status) == (Status.OPEN, Status.OPEN)
    assert (stop.send_attempts, take.send_attempts) == (2, 2)
    open_ids = {o["clientOrderId"] for o in venue_orders(sim, account)["open_orders"]}
    assert open_ids == {stop.client_order_id, take.client_order_id}


def test_a_spot_pair_the_exchange_refuses_is_rejected_together(make_sim_account, sim):
    account = make_sim_account()
    _entry, stop, take = spot_bracket(account, sim)
    # The coins are gone (sold elsewhere): the list cannot lock them.
    sim.control("POST", f"/accounts/{account.sim_id}/balances", {"spot": {"BTC": "0"}})

    assert send(stop).outcome == "rejected"
    refresh(take)
    assert (stop.status, take.status) == (Status.REJECTED, Status.REJECTED)
    assert "InsufficientFunds" in take.status_reason
