from decimal import Decimal

import pytest
from rest_framework.test import APIClient

from accounts.tests.factories import ExchangeAccountFactory, UserFactory
from positions.models import Position
from positions.tests.factories import BalanceFactory, PositionFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def owner():
    return UserFactory()


@pytest.fixture
def api(owner):
    client = APIClient()
    client.force_authenticate(owner)
    return client


def test_portfolio_summary_runs_a_fixed_number_of_queries(api, owner, django_assert_num_queries):
    from django.core.cache import cache

    accounts = [ExchangeAccountFactory(owner=owner, market_type="swap") for _ in range(3)]
    for account in accounts:
        BalanceFactory(account=account, total="1000")
        cache.set("tickers:markets:binance:simulator:swap", {"BTC/USDT": "60000"}, 60)
    for _ in range(2):
        for account in accounts:
            PositionFactory(account=account)

    with django_assert_num_queries(4):  # accounts, balances, open positions, realized today
        small = api.get("/api/portfolio/").json()
    for account in accounts:
        for _ in range(20):
            PositionFactory(account=account)
    with django_assert_num_queries(4):
        large = api.get("/api/portfolio/").json()

    assert small["equity"] == large["equity"] == "3000.000000000000000000"
    assert Decimal(large["unrealized"]) == Decimal("5") * 66


def test_position_list_runs_a_fixed_number_of_queries(api, owner, django_assert_num_queries):
    account = ExchangeAccountFactory(owner=owner)
    for _ in range(3):
        PositionFactory(account=account)
    with django_assert_num_queries(2):  # count, page (accounts joined)
        first = api.get("/api/positions/").json()
    for _ in range(30):
        PositionFactory(account=account)
    with django_assert_num_queries(2):
        second = api.get("/api/positions/").json()

    assert (first["count"], second["count"]) == (3, 33)


def test_another_users_positions_balances_and_drift_are_invisible(api):
    theirs = ExchangeAccountFactory()
    position = PositionFactory(account=theirs)
    BalanceFactory(account=theirs)

    assert api.get("/api/positions/").json()["results"] == []
    assert api.get(f"/api/positions/{position.pk}/").status_code == 404
    assert api.post(f"/api/positions/{position.pk}/close/").status_code == 404
    assert api.get("/api/balances/").json() == []
    assert (
        api.post("/api/positions/sync/", {"account": theirs.pk}, format="json").status_code == 404
    )
    assert (
        api.post("/api/positions/close-all/", {"account": theirs.pk}, format="json").status_code
        == 404
    )
    assert api.get(f"/api/performance/?account={theirs.pk}").status_code == 404


@pytest.mark.parametrize("params", [{"status": "half"}, {"account": "x"}])
def test_bad_filters_are_400(api, params):
    assert api.get("/api/positions/", params).status_code == 400


def test_closing_a_closed_position_is_a_conflict(api, owner):
    position = PositionFactory(account=ExchangeAccountFactory(owner=owner), status="closed")

    response = api.post(f"/api/positions/{position.pk}/close/")

    assert response.status_code == 409


def test_sync_now_close_and_live_updates_against_the_simulator(
    make_sim_account, sim, django_capture_on_commit_callbacks, exchange_jobs
):
    from asgiref.sync import async_to_sync
    from channels.layers import get_channel_layer

    from orders.tests.test_lifecycle import send, submit
    from realtime.groups import account_group

    account = make_sim_account(market_type="swap")
    client = APIClient()
    client.force_authenticate(account.owner)
    send(submit(account, symbol="BTC/USDT:USDT", amount=Decimal("0.02")))
    layer = get_channel_layer()
    channel = async_to_sync(layer.new_channel)()
    async_to_sync(layer.group_add)(account_group(account.pk), channel)
    sim.control("DELETE", "/requests")

    asked = client.post("/api/positions/sync/", {"account": account.pk}, format="json")
    again = client.post("/api/positions/sync/", {"account": account.pk}, format="json")
    called_by_the_requests = sim.control("GET", "/requests")
    with django_capture_on_commit_callbacks(execute=True):
        exchange_jobs.run()  # what the sync worker does
    events = []
    while layer.channels.get(channel) and layer.channels[channel].qsize():
        events.append(async_to_sync(layer.receive)(channel))
    synced = client.get("/api/positions/", {"account": account.pk, "status": "open"}).json()
    closing = client.post(f"/api/positions/{synced['results'][0]['id']}/close/")
    balances = client.get("/api/balances/", {"account": account.pk}).json()
    states = client.get(f"/api/accounts/{account.pk}/").json()["sync_states"]

    assert asked.status_code == again.status_code == 202
    assert asked.json()["status"] == "running"
    assert asked.json()["requested_at"] == again.json()["requested_at"]  # one sync
    assert called_by_the_requests == {}
    assert exchange_jobs.queues == ["sync"]
    assert [(p["symbol"], p["contracts"]) for p in synced["results"]] == [
        ("BTC/USDT:USDT", "0.020000000000000000")
    ]
    assert {s["kind"] for s in states if s["last_success_at"]} >= {"positions", "balances"}
    assert {"position.updated", "balance.updated"} <= {e["event"] for e in events}
    assert closing.status_code == 202
    assert (closing.json()["side"], closing.json()["reduce_only"]) == ("sell", True)
    assert [b["asset"] for b in balances] == ["USDT"]


def test_performance_from_closed_positions_and_snapshots(api, owner):
    from datetime import timedelta

    from django.utils import timezone

    from accounts.models import BalanceSnapshot

    account = ExchangeAccountFactory(owner=owner)
    now = timezone.now()
    for pnl in ("30", "-10", "20"):
        PositionFactory(
            account=account,
            status="closed",
            closed_at=now,
            realized_pnl=pnl,
            opened_at=now - timedelta(hours=1),
        )
    for days, value in ((3, "100"), (2, "120"), (1, "90"), (0, "130")):
        BalanceSnapshot.objects.create(
            account=account,
            asset="USDT",
            total=value,
            free=value,
            used=0,
            value_quote=value,
            quote_asset="USDT",
            taken_at=now - timedelta(days=days),
        )

    body = api.get("/api/performance/", {"account": account.pk}).json()

    assert body["trade_count"] == 3
    assert Decimal(body["win_rate"]).quantize(Decimal("0.0001")) == Decimal("0.6667")
    assert Decimal(body["profit_factor"]) == Decimal("5")
    assert Decimal(body["total_return"]) == Decimal("0.3")
    assert Decimal(body["max_drawdown"]["fraction"]) == Decimal("0.25")


def test_positions_admin_is_read_only(admin_client):
    position = PositionFactory()

    assert admin_client.get("/admin/positions/position/").status_code == 200
    assert admin_client.get(f"/admin/positions/position/{position.pk}/change/").status_code == 200
    assert admin_client.get("/admin/positions/position/add/").status_code == 403
    assert Position.objects.count() == 1


def test_one_accounts_equity_is_its_share_of_the_portfolio(owner, django_assert_num_queries):
    from positions.selectors import account_equity, portfolio_summary

    accounts = [ExchangeAccountFactory(owner=owner, market_type="swap") for _ in range(3)]
    prices = {"BTC/USDT": Decimal("61000"), "BTC/USDT:USDT": Decimal("61000")}
    for n, account in enumerate(accounts, start=1):
        BalanceFactory(account=account, total=str(1000 * n))
        PositionFactory(account=account)
    whole = portfolio_summary(user=owner, prices=prices).equity_by_account

    for account in accounts:
        with django_assert_num_queries(2):  # its balances, its open positions
            equity = account_equity(account=account, prices=prices)
        assert equity == whole[account.pk]
    assert account_equity(account=accounts[1], prices=prices) != whole[accounts[0].pk]
