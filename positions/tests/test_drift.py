"""Drift only where the exchange really differs: a balance or position update that
overtakes the fill it includes writes nothing, a change behind our back still does."""

from datetime import timedelta
from decimal import Decimal

import pytest
from django.utils import timezone

from orders import services as orders
from orders import venue
from positions import services
from positions.models import AgreedFigure, Drift

pytestmark = pytest.mark.django_db

PERP = "BTC/USDT:USDT"


def balance_update(client, *, at):
    """What the stream hands over: a ccxt balance structure with the exchange's time."""
    balance = client.fetch_balance()
    balance["timestamp"] = int(at.timestamp() * 1000)
    return balance


def deliver_trades(account, client, symbol):
    """The fills arrive after the balance (by a poll)."""
    trades = client.fetch_my_trades(symbol)
    orders.fills_record(
        account=account, trades=[venue.parse_trade(t) for t in trades], actor="poll"
    )


def test_a_balance_that_overtakes_its_fill_writes_no_drift_row(make_sim_account, sim_client):
    account = make_sim_account(spot={"USDT": "10000", "BTC": "1"})
    client = sim_client(account)
    services.balances_sync(account=account)  # what the account held: agreed as it is

    client.create_order("BTC/USDT", "market", "buy", 0.01)
    # The balance comes first: it includes a trade we have not recorded yet.
    services.balances_apply(
        account=account,
        balance=balance_update(client, at=timezone.now()),
        complete=False,
    )
    assert not Drift.objects.exists()
    assert AgreedFigure.objects.filter(account=account, mismatch_since__isnull=False).exists()

    deliver_trades(account, client, "BTC/USDT")
    services.balances_apply(
        account=account, balance=balance_update(client, at=timezone.now()), complete=False
    )
    services.balances_sync(account=account)

    assert not Drift.objects.exists()
    assert not AgreedFigure.objects.filter(account=account, mismatch_since__isnull=False).exists()


def test_a_position_that_overtakes_its_fill_writes_no_drift_row(make_sim_account, sim_client):
    account = make_sim_account(market_type="swap")
    client = sim_client(account)

    client.create_order(PERP, "market", "buy", 0.01)
    services.positions_apply_exchange(
        account=account, payloads=client.fetch_positions(), complete=True, as_of=timezone.now()
    )
    assert not Drift.objects.exists()

    deliver_trades(account, client, PERP)
    services.positions_sync(account=account)
    services.positions_sync(account=account)

    assert not Drift.objects.exists()
    figure = AgreedFigure.objects.get(account=account, subject=PERP)
    assert (figure.amount, figure.mismatch_since) == (Decimal("0.01"), None)


def test_an_older_snapshot_after_a_newer_one_says_nothing(make_sim_account, sim_client):
    """A slow REST answer, asked for before the stream's update was applied."""
    account = make_sim_account(spot={"USDT": "10000", "BTC": "1"})
    client = sim_client(account)
    asked = timezone.now()
    old = client.fetch_balance()
    services.balances_sync(account=account)
    client.create_order("BTC/USDT", "market", "buy", 0.01)
    deliver_trades(account, client, "BTC/USDT")
    services.balances_sync(account=account)

    services.balances_apply(account=account, balance=old, complete=True, as_of=asked)

    assert not AgreedFigure.objects.filter(account=account, mismatch_since__isnull=False).exists()
    assert not Drift.objects.exists()


def test_a_deposit_behind_our_back_is_drift_once_it_outlasts_the_window(
    make_sim_account, sim, settings
):
    account = make_sim_account(spot={"USDT": "10000", "BTC": "1"})
    services.balances_sync(account=account)
    sim.control("POST", f"/accounts/{account.sim_id}/balances", {"spot": {"USDT": "12000"}})

    services.balances_sync(account=account)
    assert not Drift.objects.exists()  # it may still be a fill on its way

    figure = AgreedFigure.objects.get(account=account, subject="USDT")
    figure.mismatch_since -= timedelta(seconds=settings.DRIFT_CONFIRM_SECONDS)
    figure.save(update_fields=["mismatch_since"])
    services.balances_sync(account=account)

    drift = Drift.objects.get(account=account)
    assert (drift.subject, Decimal(drift.ours), Decimal(drift.theirs)) == (
        "USDT",
        Decimal("10000"),
        Decimal("12000"),
    )
    services.balances_sync(account=account)
    assert Drift.objects.count() == 1  # taken as the new agreed figure


def _stream_row(symbol, side, contracts, at):
    """A position as ccxt.pro's stream hands it over (side "both" once flat)."""
    return {
        "symbol": symbol,
        "side": side,
        "contracts": contracts,
        "contractSize": 1,
        "timestamp": int(at.timestamp() * 1000),
        "info": {},
    }


def test_a_stream_delivery_with_the_closed_positions_old_row_keeps_it_flat(
    make_sim_account, sim_client, settings
):
    """ccxt.pro keeps a one-way position's rows by side: after a long closes, a delivery
    carries the old long row beside the flat one. The flat, later row is where the
    position stands, and each row is held against the fills up to its own time - the old
    row read at the delivery's latest time became a mismatch, then a drift row, in the
    20-minute soak."""
    settings.DRIFT_CONFIRM_SECONDS = 0
    account = make_sim_account(market_type="swap")
    client = sim_client(account)
    client.create_order(PERP, "market", "buy", 0.01)
    deliver_trades(account, client, PERP)
    opened = timezone.now()
    client.create_order(PERP, "market", "sell", 0.01, params={"reduceOnly": True})
    deliver_trades(account, client, PERP)
    closed = timezone.now() + timedelta(milliseconds=5)

    services.positions_apply_exchange(
        account=account,
        payloads=[
            _stream_row(PERP, "long", 0.01, opened),
            _stream_row(PERP, "both", 0, closed),
            _stream_row("ETH/USDT:USDT", "both", 0, closed),
        ],
        complete=False,
    )
    services.positions_apply_exchange(
        account=account, payloads=[_stream_row(PERP, "long", 0.01, opened)], complete=False
    )

    assert not Drift.objects.exists()
    figure = AgreedFigure.objects.get(account=account, subject=PERP)
    assert (figure.amount, figure.mismatch_since) == (Decimal(0), None)
    assert not account.positions.filter(status="open").exists()
