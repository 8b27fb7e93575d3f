"""The risk gate inside the order service, the kill switch and the breakers."""

import threading
from decimal import Decimal

import pytest
from django.utils import timezone

from orders.models import Order
from orders.services import OrderRequest, order_submit
from orders.services.submit import OrderRefused
from orders.states import Status
from orders.tests.test_lifecycle import send, submit, venue_orders
from positions.models import Balance
from risk import services
from risk.models import RiskDecision, RiskEvent, RiskLimit, RiskState


def fund(account, usdt="100000"):
    Balance.objects.update_or_create(
        account=account,
        asset="USDT",
        defaults={"total": usdt, "free": usdt, "used": 0, "synced_at": timezone.now()},
    )


def limit(account, **fields):
    return RiskLimit.objects.create(owner=account.owner, scope="account", account=account, **fields)


@pytest.mark.django_db
def test_every_order_leaves_a_decision_with_its_verdicts(make_sim_account):
    account = make_sim_account()
    fund(account)
    limit(account, max_order_value=Decimal("1000"))

    order = submit(account, amount=Decimal("0.01"))
    with pytest.raises(OrderRefused, match="order value"):
        submit(account, amount=Decimal("0.02"))

    approved, refused = RiskDecision.objects.order_by("pk")
    assert approved.approved and approved.order_id == order.pk
    assert not refused.approved and refused.order_id is None
    assert any(v["rule"] == "max_order_value" and not v["passed"] for v in refused.verdicts)
    assert Decimal(refused.snapshot["equity"]) == Decimal("100000")
    assert Order.objects.count() == 1


@pytest.mark.django_db
def test_the_api_refuses_with_the_rule_that_said_no(make_sim_account):
    from rest_framework.test import APIClient

    account = make_sim_account()
    fund(account)
    limit(account, allowed_symbols=["ETH/USDT"])
    client = APIClient()
    client.force_authenticate(account.owner)

    response = client.post(
        "/api/orders/",
        {
            "account": account.pk,
            "symbol": "BTC/USDT",
            "side": "buy",
            "type": "market",
            "amount": "0.01",
        },
        format="json",
    )

    assert response.status_code == 403
    assert "BTC/USDT" in response.json()["detail"]
    assert response.json()["code"] == "order_refused"
    assert Order.objects.count() == 0
    assert RiskDecision.objects.filter(approved=False).count() == 1


@pytest.mark.django_db(transaction=True)
def test_two_concurrent_orders_cannot_both_pass_a_limit_only_one_fits(
    make_sim_account, monkeypatch
):
    from django.db import connection

    from orders import tasks

    monkeypatch.setattr(tasks.order_send, "delay_on_commit", lambda *args: None)
    account = make_sim_account()
    fund(account)
    # 1 % of 100000 = 1000 USDT of BTC; each order is 0.01 BTC at about 60000 = 600.
    limit(account, max_position_pct=Decimal("0.01"))
    barrier = threading.Barrier(2)
    outcomes = []

    def place():
        try:
            barrier.wait(timeout=10)
            order_submit(
                account=account,
                request=OrderRequest(
                    symbol="BTC/USDT",
                    side="buy",
                    type="limit",
                    amount=Decimal("0.01"),
                    price=Decimal("60000"),
                ),
                origin="api",
                actor="test",
            )
            outcomes.append("approved")
        except OrderRefused:
            outcomes.append("refused")
        finally:
            connection.close()

    threads = [threading.Thread(target=place) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)

    assert sorted(outcomes) == ["approved", "refused"]
    assert Order.objects.filter(account=account).count() == 1
    assert RiskDecision.objects.filter(account=account).count() == 2


@pytest.mark.django_db
def test_the_kill_switch_stops_new_orders_and_queued_ones(make_sim_account, sim):
    account = make_sim_account()
    fund(account)
    queued = submit(account, amount=Decimal("0.01"))  # stored before the switch

    services.kill_switch_set(on=True, actor="user:1", reason="going to lunch", account=account)

    with pytest.raises(OrderRefused, match="kill switch"):
        submit(account, amount=Decimal("0.01"))
    send(queued)
    assert queued.status == Status.CANCELED
    assert "going to lunch" in queued.status_reason
    assert venue_orders(sim, account)["orders"] == 0
    assert RiskState.objects.get(account=account).kill_switch is True
    assert RiskEvent.objects.filter(account=account, type="kill_switch.on").exists()

    services.kill_switch_set(on=False, actor="user:1", account=account)
    send(submit(account, amount=Decimal("0.01")))
    assert venue_orders(sim, account)["orders"] == 1


@pytest.mark.django_db
def test_the_global_kill_switch_stops_every_account(make_sim_account):
    account = make_sim_account()
    fund(account)

    services.kill_switch_set(on=True, actor="admin", reason="exchange incident")

    with pytest.raises(OrderRefused, match="global kill switch"):
        submit(account, amount=Decimal("0.01"))


@pytest.mark.django_db
def test_panic_cancels_open_orders_and_flattens_positions(make_sim_account, sim):
    from orders import services as orders
    from positions import services as positions
    from positions.models import Position

    account = make_sim_account(market_type="swap")
    fund(account)
    send(submit(account, symbol="BTC/USDT:USDT", amount=Decimal("0.02")))
    resting = submit(
        account,
        symbol="BTC/USDT:USDT",
        type="limit",
        amount=Decimal("0.01"),
        price=Decimal("50000"),
    )
    send(resting)
    positions.positions_sync(account=account)

    services.kill_switch_set(on=True, actor="user:1", reason="panic", account=account, panic=True)
    for order in Order.objects.filter(account=account, status=Status.PENDING):
        send(order)  # the closing order: reduce-only, it passes the kill switch
    orders.order_cancel_send(order_id=resting.pk)
    positions.positions_sync(account=account)

    resting.refresh_from_db()
    assert resting.status == Status.CANCELED
    assert venue_orders(sim, account)["positions"] == []
    assert venue_orders(sim, account)["open_orders"] == []
    assert not Position.objects.filter(account=account, status="open").exists()


@pytest.mark.django_db
def test_the_daily_loss_breaker_trips_by_itself_and_needs_a_person_to_reset(make_sim_account):
    from positions.tests.factories import PositionFactory

    account = make_sim_account(market_type="swap")
    fund(account)
    limit(account, max_daily_loss=Decimal("500"))
    PositionFactory(account=account, symbol="BTC/USDT:USDT", unrealized_pnl="-600")

    with pytest.raises(OrderRefused, match="loss"):
        submit(account, symbol="BTC/USDT:USDT", amount=Decimal("0.01"))

    state = RiskState.objects.get(account=account)
    assert state.breaker == "daily_loss"
    assert RiskEvent.objects.filter(type="breaker.tripped").exists()
    with pytest.raises(ValueError, match="Say why"):
        services.breaker_reset(account=account, actor="user:1", reason="")
    services.breaker_reset(account=account, actor="user:1", reason="reviewed the losses")
    state.refresh_from_db()
    assert state.breaker == ""
    assert RiskEvent.objects.filter(type="breaker.reset", actor="user:1").exists()


@pytest.mark.django_db
def test_repeated_exchange_failures_trip_the_breaker(make_sim_account, settings):
    from accounts.models import ExchangeSyncState

    settings.RISK_BREAKER_EXCHANGE_FAILURES = 3
    account = make_sim_account()
    fund(account)
    ExchangeSyncState.objects.create(account=account, kind="trades", consecutive_errors=3)

    with pytest.raises(OrderRefused, match="exchange_failures"):
        submit(account, amount=Decimal("0.01"))


@pytest.mark.django_db
def test_a_decision_runs_a_fixed_number_of_queries(make_sim_account):
    from django.db import connection, transaction
    from django.test.utils import CaptureQueriesContext

    from orders.services.submit import order_prepare
    from orders.tests.factories import OrderFactory
    from positions.tests.factories import PositionFactory

    account = make_sim_account()
    fund(account)
    limit(account, max_order_value=Decimal("100000"), max_position_pct=Decimal("0.5"))
    gate = services.RiskGate()
    request = OrderRequest(
        symbol="BTC/USDT", side="buy", type="limit", amount=Decimal("0.01"), price=Decimal("59000")
    )
    order = order_prepare(account=account, request=request, origin="api")
    prepared = gate.prepare(account=account, order=order)

    def count():
        with transaction.atomic(), CaptureQueriesContext(connection) as queries:
            verdict = gate.check(
                account=account, order=order, prepared=prepared, actor="t", context={}
            )
            gate.record(verdict=verdict, order=None)
        return len(queries)

    count()  # the first decision creates the account's risk state
    few = count()
    for i in range(30):
        PositionFactory(account=account, symbol=f"C{i}/USDT", source="fills")
        OrderFactory(account=account, symbol="BTC/USDT", status="open")
    many = count()

    assert few == many
    assert few <= 14


@pytest.mark.django_db
def test_the_one_query_reads_realized_pnl_losses_and_the_global_switch_exactly(
    make_sim_account,
):
    from datetime import timedelta

    from orders.tests.factories import FillFactory, OrderFactory
    from positions.models import RealizedPnl
    from risk.models import GlobalRiskState
    from risk.selectors import risk_inputs

    account = make_sim_account()
    now = timezone.now()
    order = OrderFactory(
        account=account,
        symbol="BTC/USDT",
        status="open",
        amount=Decimal("0.5"),
        remaining=Decimal("0.25"),
        price=Decimal("60000.5"),
    )
    # More working orders in the symbol: summed per side in the query.
    OrderFactory(
        account=account,
        symbol="BTC/USDT",
        status="pending",
        remaining=Decimal("0.5"),
        price=Decimal("59000"),
    )
    OrderFactory(
        account=account,
        symbol="BTC/USDT",
        status="open",
        side="sell",
        type="market",
        price=None,
        remaining=Decimal("0.125"),
    )
    OrderFactory(account=account, symbol="ETH/USDT", status="open", remaining=Decimal("9"))
    OrderFactory(account=account, symbol="BTC/USDT", status="filled", remaining=Decimal("0"))
    loss_at = now - timedelta(hours=1)
    for trade, amount, at in (
        ("1", "-12.345678901234", loss_at),
        ("2", "5", now - timedelta(days=2)),
    ):
        fill = FillFactory(order=order, account=account, exchange_trade_id=trade)
        RealizedPnl.objects.create(
            account=account, fill=fill, amount=Decimal(amount), asset="USDT", realized_at=at
        )
    GlobalRiskState.objects.create(pk=1, kill_switch=True, kill_reason="maintenance")

    inputs = risk_inputs(
        account_id=account.pk,
        symbol="BTC/USDT",
        day_start=now - timedelta(hours=12),
        minute_ago=now - timedelta(minutes=1),
    )

    assert inputs.realized_today == Decimal("-12.345678901234")
    assert abs(inputs.last_loss_at - loss_at) < timedelta(milliseconds=1)
    assert sorted(inputs.working_orders) == [
        ("buy", Decimal("44500.125"), Decimal(0)),
        ("sell", Decimal(0), Decimal("0.125")),
    ]
    assert inputs.orders_last_minute == 5
    assert (inputs.global_kill_switch, inputs.global_kill_reason) == (True, "maintenance")


@pytest.mark.django_db
def test_breakers_trip_on_price_moves_alone_without_an_order(make_sim_account):
    from positions.tests.factories import PositionFactory

    account = make_sim_account(market_type="swap")
    fund(account)
    limit(account, max_daily_loss=Decimal("500"))
    assert services.breakers_check(account=account) == ""

    PositionFactory(account=account, symbol="BTC/USDT:USDT", unrealized_pnl="-700")

    assert services.breakers_check(account=account) == "daily_loss"
    assert RiskEvent.objects.filter(account=account, type="breaker.tripped").count() == 1
    assert services.breakers_check(account=account) == "daily_loss"  # stays, one event
    assert RiskEvent.objects.filter(account=account, type="breaker.tripped").count() == 1


@pytest.mark.django_db
def test_the_order_path_reads_prices_from_the_cache_beat_keeps_warm(make_sim_account, sim):
    from positions.selectors import prices_refresh

    account = make_sim_account()
    fund(account)
    prices_refresh(account)  # what beat does every PRICES_REFRESH_SECONDS
    sim.control("DELETE", "/requests")

    for _ in range(3):
        submit(account, type="limit", amount=Decimal("0.01"), price=Decimal("59000"))

    assert "GET /api/v3/ticker/24hr" not in sim.control("GET", "/requests")


@pytest.mark.django_db
def test_the_gate_reads_the_same_limits_as_the_orm_in_its_one_query(make_sim_account):
    from django.contrib.auth import get_user_model

    from risk.rules import merge_limits
    from risk.selectors import risk_inputs

    account = make_sim_account()
    other_account = make_sim_account()
    owner = account.owner
    RiskLimit.objects.create(
        owner=owner,
        scope="global",
        max_order_value=Decimal("5000.5"),
        allowed_symbols=["BTC/USDT", "ETH/USDT"],
        loss_cooldown_minutes=15,
    )
    limit(account, max_order_value=Decimal("2500.25"), max_open_positions=3)
    limit(other_account, max_order_value=Decimal("1"))  # another account's: not applied
    RiskLimit.objects.create(
        owner=owner, scope="strategy", strategy="trend", max_orders_per_minute=7
    )
    RiskLimit.objects.create(
        owner=owner, scope="strategy", strategy="other", max_orders_per_minute=1
    )
    RiskLimit.objects.create(
        owner=owner, scope="global", max_daily_loss=Decimal("1"), enabled=False
    )
    stranger = get_user_model().objects.create(username="stranger")
    RiskLimit.objects.create(owner=stranger, scope="global", max_order_amount=Decimal("0.1"))
    now = timezone.now()

    for strategy in ("", "trend"):
        inputs = risk_inputs(
            account_id=account.pk,
            symbol="BTC/USDT",
            day_start=now,
            minute_ago=now,
            owner_id=owner.pk,
            strategy=strategy,
        )
        merged = merge_limits(*inputs.limits)
        assert merged == services.effective_limits(account=account, strategy=strategy)

    assert merged.max_order_value == Decimal("2500.25")
    assert merged.max_open_positions == 3
    assert merged.max_orders_per_minute == 7
    assert merged.allowed_symbols == frozenset({"BTC/USDT", "ETH/USDT"})
    assert merged.loss_cooldown.total_seconds() == 900
    assert merged.max_daily_loss is None and merged.max_order_amount is None
