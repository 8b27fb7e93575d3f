"""Positions and balances against the simulator: our records equal the exchange's."""

from decimal import Context, Decimal

import pytest
from django.db import connection

from accounts.tests.factories import ExchangeAccountFactory
from orders import services as orders
from orders.tests.factories import FillFactory, OrderFactory
from orders.tests.test_lifecycle import send, submit
from positions import services
from positions.models import Balance, Drift, FillCursor, Position, RealizedPnl

pytestmark = pytest.mark.django_db


def stored(value: Decimal) -> Decimal:
    """``value`` as the database keeps it: numeric(38, 18) on PostgreSQL; SQLite (make run
    and make test without DATABASE_URL) keeps a decimal column as a double, about 15
    significant digits."""
    if connection.vendor == "sqlite":
        # Django reads it back through a 15-digit context (its SQLite converter).
        value = Context(prec=15).create_decimal_from_float(float(value))
    return value.quantize(Decimal("1e-18"))


PERP = "BTC/USDT:USDT"


def trade(account, side, amount, symbol=PERP, **extra):
    order = submit(account, symbol=symbol, side=side, amount=Decimal(amount), **extra)
    send(order)
    # Fills arrive by the stream or by polling; here, polling.
    orders.orders_poll(account_id=account.pk)
    return order


def venue_position(sim, account):
    positions = sim.control("GET", f"/accounts/{account.sim_id}")["positions"]
    return positions[0] if positions else None


def venue_spot_total(sim, account, asset):
    balance = sim.control("GET", f"/accounts/{account.sim_id}")["spot"][asset]
    return Decimal(balance["free"]) + Decimal(balance["locked"])


def ours(account):
    return Position.objects.filter(account=account, symbol=PERP, status="open").first()


def test_a_futures_position_follows_the_exchange_through_its_life(make_sim_account, sim):
    account = make_sim_account(market_type="swap")

    trade(account, "buy", "0.01")
    services.positions_sync(account=account)
    theirs = venue_position(sim, account)
    position = ours(account)
    assert (position.side, position.contracts) == ("long", Decimal("0.01"))
    assert position.entry_price == Decimal(theirs["entryPrice"]) == Decimal("60000.1")

    trade(account, "buy", "0.02")  # increased
    services.positions_sync(account=account)
    theirs = venue_position(sim, account)
    position = ours(account)
    assert position.contracts == Decimal(theirs["positionAmt"]) == Decimal("0.03")
    assert position.entry_price == Decimal(theirs["entryPrice"])
    assert position.unrealized_pnl == Decimal(theirs["unRealizedProfit"])
    assert position.mark_price == Decimal(theirs["markPrice"])

    sim.control("POST", "/price", {"symbol": "BTCUSDT", "price": "61000", "venue": "futures"})
    trade(account, "sell", "0.01", reduce_only=True)  # partially closed at a profit
    services.positions_sync(account=account)
    theirs = venue_position(sim, account)
    position = ours(account)
    assert position.contracts == Decimal(theirs["positionAmt"]) == Decimal("0.02")
    venue_realized = sum(
        Decimal(t["realizedPnl"])
        for t in sim.control("GET", f"/accounts/{account.sim_id}")["futures_trades"]
    )
    assert position.realized_pnl == venue_realized
    assert position.realized_pnl > 0

    trade(account, "sell", "0.02", reduce_only=True)  # fully closed
    services.positions_sync(account=account)
    assert venue_position(sim, account) is None
    closed = Position.objects.get(account=account, symbol=PERP)
    assert closed.status == "closed"
    assert closed.contracts == Decimal("0")
    assert closed.realized_pnl == sum(
        Decimal(t["realizedPnl"])
        for t in sim.control("GET", f"/accounts/{account.sim_id}")["futures_trades"]
    )
    assert not Drift.objects.filter(account=account).exists()


def test_spot_holdings_and_realized_pnl_come_from_our_fills_with_fees(make_sim_account, sim):
    account = make_sim_account()

    # 0.1 @ 60000.01; Binance takes a buyer's 0.1% fee from the coins: 0.0001 BTC.
    trade(account, "buy", "0.1", symbol="BTC/USDT")
    services.positions_apply_fills(account_id=account.pk)
    position = Position.objects.get(account=account, symbol="BTC/USDT", status="open")
    # 0.0999 BTC held for a cost of 6000.001 USDT: the fee raises the average cost.
    entry = Decimal("6000.001") / Decimal("0.0999")
    assert position.contracts == Decimal("0.0999")
    assert position.entry_price == stored(entry)
    assert venue_spot_total(sim, account, "BTC") == Decimal("10") + position.contracts

    sim.control("POST", "/price", {"symbol": "BTCUSDT", "price": "62000", "venue": "spot"})
    trade(account, "sell", "0.04", symbol="BTC/USDT")  # at 61999.99, fee 2.4799996 USDT
    services.positions_apply_fills(account_id=account.pk)
    position.refresh_from_db()
    realized = (Decimal("61999.99") - position.entry_price) * Decimal("0.04") - Decimal("2.4799996")
    assert position.contracts == Decimal("0.0599")
    assert position.realized_pnl == realized.quantize(Decimal("1e-18"))
    assert RealizedPnl.objects.get(account=account).amount == position.realized_pnl
    assert Decimal("75.09") < position.realized_pnl < Decimal("75.12")

    services.positions_apply_fills(account_id=account.pk)  # applied once only
    position.refresh_from_db()
    assert position.realized_pnl == realized.quantize(Decimal("1e-18"))


def after_the_confirmation_window(account, sync):
    """Sync once (the mismatch is only noted: a fill may still be on its way), let
    DRIFT_CONFIRM_SECONDS pass on the noted mismatches, and sync again."""
    from datetime import timedelta

    from django.conf import settings

    from positions.models import AgreedFigure

    sync(account=account)
    assert not Drift.objects.filter(account=account).exists()
    noted = AgreedFigure.objects.filter(account=account, mismatch_since__isnull=False)
    assert noted.exists()
    for figure in noted:
        figure.mismatch_since -= timedelta(seconds=settings.DRIFT_CONFIRM_SECONDS)
        figure.save(update_fields=["mismatch_since"])
    sync(account=account)


def test_a_position_changed_behind_our_back_is_corrected_and_leaves_a_drift_row(
    make_sim_account, sim
):
    account = make_sim_account(market_type="swap")
    trade(account, "buy", "0.01")
    services.positions_sync(account=account)

    sim.control(
        "POST",
        f"/accounts/{account.sim_id}/positions",
        {"symbol": "BTCUSDT", "amount": "-0.5", "entry_price": "60000"},
    )
    after_the_confirmation_window(account, services.positions_sync)

    drift = Drift.objects.get(account=account)
    assert (drift.kind, drift.subject, drift.field) == ("position", PERP, "contracts")
    assert (Decimal(drift.ours), Decimal(drift.theirs)) == (Decimal("0.01"), Decimal("-0.5"))
    short = ours(account)
    assert (short.side, short.contracts, short.entry_price) == (
        "short",
        Decimal("0.5"),
        Decimal("60000"),
    )
    assert Position.objects.filter(account=account, side="long", status="closed").exists()


def test_a_vanished_position_is_closed_with_a_drift_row(make_sim_account, sim):
    account = make_sim_account(market_type="swap")
    trade(account, "buy", "0.01")
    services.positions_sync(account=account)

    sim.control(
        "POST",
        f"/accounts/{account.sim_id}/positions",
        {"symbol": "BTCUSDT", "amount": "0", "entry_price": "0"},
    )
    after_the_confirmation_window(account, services.positions_sync)

    assert ours(account) is None
    assert Drift.objects.filter(account=account, theirs="0").exists()


def test_balances_sync_and_a_deposit_we_did_not_see_is_drift(make_sim_account, sim):
    account = make_sim_account(spot={"USDT": "1000", "BTC": "1"})
    services.balances_sync(account=account)
    assert Balance.objects.get(account=account, asset="USDT").total == Decimal("1000")

    trade(account, "buy", "0.001", symbol="BTC/USDT")  # ours: explained by the fill
    services.balances_sync(account=account)
    assert not Drift.objects.filter(account=account).exists()

    sim.control("POST", f"/accounts/{account.sim_id}/balances", {"spot": {"BTC": "3"}})
    after_the_confirmation_window(account, services.balances_sync)

    drift = Drift.objects.get(account=account)
    assert (drift.kind, drift.subject, drift.theirs) == ("balance", "BTC", "3")
    assert Decimal(drift.ours) == Decimal("1.000999")  # 1 + 0.001 bought - 0.000001 fee


def test_closing_a_position_sends_a_reduce_only_market_order(make_sim_account, sim):
    account = make_sim_account(market_type="swap")
    trade(account, "buy", "0.02")
    services.positions_sync(account=account)

    order = services.position_close(position=ours(account), actor="test")
    send(order)
    services.positions_sync(account=account)

    assert (order.side, order.type, order.amount, order.reduce_only) == (
        "sell",
        "market",
        Decimal("0.02"),
        True,
    )
    assert ours(account) is None
    assert venue_position(sim, account) is None


def test_snapshots_value_every_balance_in_the_reference_asset(make_sim_account, sim):
    from accounts.models import BalanceSnapshot

    account = make_sim_account(spot={"USDT": "1000", "BTC": "0.5"})
    services.balances_sync(account=account)

    services.snapshots_take(reference="USDT")

    rows = {s.asset: s for s in BalanceSnapshot.objects.filter(account=account)}
    assert rows["USDT"].value_quote == Decimal("1000")
    assert rows["BTC"].value_quote == Decimal("0.5") * Decimal("60000")
    assert {s.quote_asset for s in rows.values()} == {"USDT"}


def test_a_delivery_of_spot_fills_is_applied_in_fixed_statements_and_a_sold_out_holding_closes(
    django_assert_num_queries,
):
    account = ExchangeAccountFactory()
    order = OrderFactory(account=account)

    def fill(side, amount, price, fee="0"):
        return FillFactory(
            order=order,
            account=account,
            side=side,
            amount=Decimal(amount),
            price=Decimal(price),
            cost=Decimal(amount) * Decimal(price),
            fee=Decimal(fee),
            fee_asset="USDT",
        )

    fill("buy", "0.1", "60000")
    assert services.positions_apply_fills(account_id=account.pk) == 1  # cursor made here
    first = Position.objects.get(account=account, status="open")
    assert (first.contracts, first.entry_price) == (Decimal("0.1"), Decimal("60000"))

    fill("buy", "0.1", "62000")
    sold_out = fill("sell", "0.2", "63000", fee="1")
    last = fill("buy", "0.05", "64000")
    # In a savepoint (the test's transaction): the cursor locked (with the market type),
    # the fills read, the holdings locked; the sold-out one written, a new one inserted
    # and written, the realized P&L inserted; the cursor moved.
    with django_assert_num_queries(10):
        assert services.positions_apply_fills(account_id=account.pk) == 3

    first.refresh_from_db()
    assert first.status == "closed" and first.contracts == 0
    # (63000 - 61000) * 0.2 - 1 fee
    assert first.realized_pnl == Decimal("399")
    assert RealizedPnl.objects.get(fill=sold_out).amount == Decimal("399")
    reopened = Position.objects.get(account=account, status="open")
    assert (reopened.contracts, reopened.entry_price) == (Decimal("0.05"), Decimal("64000"))
    assert FillCursor.objects.get(account=account).last_fill_id == last.pk
    with django_assert_num_queries(4):  # in a savepoint: cursor locked, no fills after it
        assert services.positions_apply_fills(account_id=account.pk) == 0
