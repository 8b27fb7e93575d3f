"""Smaller state errors a trader hit (issue 12, item 8): partial exits count as trades,
figures without exponents, USD-M free balance and leverage, spot marks, closed marks."""

from datetime import timedelta
from decimal import Decimal

import pytest
from django.utils import timezone
from rest_framework.test import APIClient

from accounts.tests.factories import ExchangeAccountFactory, UserFactory
from orders.tests.factories import FillFactory, OrderFactory
from positions import services
from positions.models import Balance, Position, RealizedPnl
from positions.tests.factories import PositionFactory

pytestmark = pytest.mark.django_db

PERP = "BTC/USDT:USDT"


@pytest.fixture
def owner():
    return UserFactory()


@pytest.fixture
def api(owner):
    client = APIClient()
    client.force_authenticate(owner)
    return client


def realized(position, *, side, amount, order=None):
    order = order or OrderFactory(account=position.account, symbol=position.symbol, side=side)
    fill = FillFactory(order=order, symbol=position.symbol, side=side)
    return RealizedPnl.objects.create(
        account=position.account,
        position=position,
        fill=fill,
        amount=Decimal(amount),
        asset="USDT",
        realized_at=timezone.now(),
    )


def test_a_take_profit_of_part_of_an_open_position_is_a_winning_trade(api, owner):
    account = ExchangeAccountFactory(owner=owner, market_type="swap")
    position = PositionFactory(account=account, symbol=PERP, side="long", status="open")
    realized(position, side="buy", amount="0")  # the entry realizes nothing: no trade
    take_profit = OrderFactory(account=account, symbol=PERP, side="sell")
    realized(position, side="sell", amount="12.5", order=take_profit)
    realized(position, side="sell", amount="2.5", order=take_profit)  # same exit, 2 fills

    body = api.get("/api/performance/", {"account": account.pk}).json()

    assert body["trade_count"] == 1
    assert Decimal(body["win_rate"]) == Decimal("1")
    assert Decimal(body["net_pnl"]) == Decimal("15")


def test_a_profit_factor_of_zero_reads_zero_not_an_exponent(api, owner):
    account = ExchangeAccountFactory(owner=owner, market_type="swap")
    now = timezone.now()
    for pnl in ("-5", "-7"):
        PositionFactory(
            account=account,
            status="closed",
            closed_at=now,
            realized_pnl=pnl,
            opened_at=now - timedelta(hours=1),
        )

    body = api.get("/api/performance/", {"account": account.pk}).json()

    assert body["profit_factor"] == "0"
    assert "E" not in "".join(v for v in body.values() if isinstance(v, str))


def test_a_usdm_stream_update_keeps_the_free_balance_it_does_not_carry(db):
    account = ExchangeAccountFactory(market_type="swap")
    rest = {"total": {"USDT": "1000"}, "free": {"USDT": "800"}, "used": {"USDT": "200"}}
    services.balances_apply(account=account, balance=rest, complete=True)

    # ACCOUNT_UPDATE after a trade: the wallet balance only (fee paid: 0.6).
    stream = {"total": {"USDT": "999.4"}, "free": {"USDT": None}, "used": {"USDT": None}}
    services.balances_apply(account=account, balance=stream, complete=False)

    row = Balance.objects.get(account=account, asset="USDT")
    assert (row.total, row.free, row.used) == (Decimal("999.4"), Decimal("799.4"), Decimal("200"))


def test_spot_holdings_are_marked_at_the_last_price(make_sim_account, sim):
    from positions.selectors import prices_refresh

    account = make_sim_account()
    holding = Position.objects.create(
        account=account,
        symbol="BTC/USDT",
        side="long",
        source="fills",
        base_asset="BTC",
        quote_asset="USDT",
        contracts=Decimal("0.5"),
        entry_price=Decimal("50000"),
        opened_at=timezone.now(),
    )
    prices = prices_refresh(account)

    assert services.positions_mark(account=account) == 1

    holding.refresh_from_db()
    mark = Decimal(prices["BTC/USDT"])
    assert holding.mark_price == mark
    assert holding.unrealized_pnl == (mark - Decimal("50000")) * Decimal("0.5")


def test_usdm_positions_carry_the_exchanges_leverage(make_sim_account, sim_client):
    account = make_sim_account(market_type="swap")
    venue = sim_client(account)
    venue.set_leverage(20, PERP)
    venue.create_order(PERP, "market", "buy", 0.01)

    services.positions_sync(account=account)

    position = Position.objects.get(account=account, symbol=PERP, status="open")
    assert position.leverage == Decimal("20")


def test_a_closed_position_keeps_no_stale_marks(make_sim_account, sim_client):
    account = make_sim_account(market_type="swap")
    venue = sim_client(account)
    venue.create_order(PERP, "market", "buy", 0.01)
    services.positions_sync(account=account)
    venue.create_order(PERP, "market", "sell", 0.01, None, {"reduceOnly": True})

    services.positions_sync(account=account)

    closed = Position.objects.get(account=account, symbol=PERP, status="closed")
    assert (closed.contracts, closed.unrealized_pnl) == (Decimal("0"), Decimal("0"))
    assert (closed.mark_price, closed.liquidation_price, closed.notional) == (None, None, None)
