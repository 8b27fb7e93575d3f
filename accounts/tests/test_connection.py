"""The connection check against the simulator, with the real ccxt client."""

import pytest
from rest_framework.test import APIClient

from accounts.models import ExchangeSyncState
from accounts.services import account_check_connection

pytestmark = pytest.mark.django_db


def test_a_good_key_connects_and_is_recorded(make_sim_account):
    account = make_sim_account(spot={"USDT": "500", "BTC": "1"})

    result = account_check_connection(account=account)

    assert result.ok, result.message
    assert result.markets >= 3
    assert result.assets == ["BTC", "USDT"]
    assert result.can_withdraw is False
    account.refresh_from_db()
    assert account.last_sync_at is not None and account.last_error == ""
    state = ExchangeSyncState.objects.get(account=account, kind="connection")
    assert state.consecutive_errors == 0 and state.last_success_at is not None


def test_a_wrong_secret_is_classified_and_recorded_without_leaking_it(make_sim_account):
    account = make_sim_account()
    account.api_secret = "definitely-the-wrong-secret-XYZ"
    account.save()

    result = account_check_connection(account=account)

    assert not result.ok
    assert result.error == "AuthenticationError"
    assert result.outcome == "rejected"
    account.refresh_from_db()
    assert "AuthenticationError" in account.last_error
    assert "definitely-the-wrong-secret-XYZ" not in account.last_error
    state = ExchangeSyncState.objects.get(account=account, kind="connection")
    assert state.consecutive_errors == 1


def test_a_key_that_can_withdraw_is_refused_and_trading_switched_off(make_sim_account):
    account = make_sim_account(can_withdraw=True)

    result = account_check_connection(account=account)

    assert not result.ok
    assert result.can_withdraw is True
    assert "can withdraw" in result.message
    account.refresh_from_db()
    assert account.can_trade is False


def test_an_unreachable_exchange_is_an_unknown_outcome_not_a_crash(make_sim_account, settings):
    account = make_sim_account()
    settings.SIMULATOR_URL = "http://127.0.0.1:9"  # nothing listens there
    from accounts import gateway

    gateway.forget_all_clients()

    result = account_check_connection(account=account)

    assert not result.ok
    assert result.outcome == "unknown"


def test_the_api_action_answers_with_the_result(make_sim_account):
    account = make_sim_account()
    client = APIClient()
    client.force_authenticate(account.owner)

    response = client.post(f"/api/accounts/{account.pk}/test/")

    assert response.status_code == 200
    assert response.json()["ok"] is True
    assert account.api_secret not in response.content.decode()


def test_the_admin_action_reports_each_account(admin_client, make_sim_account):
    account = make_sim_account()

    response = admin_client.post(
        "/admin/accounts/exchangeaccount/",
        {"action": "test_connection", "_selected_action": [account.pk]},
        follow=True,
    )

    assert response.status_code == 200
    assert "Connected:" in response.content.decode()


def test_markets_are_loaded_once_and_shared_through_the_cache(make_sim_account, sim):
    from django.core.cache import cache

    from accounts import gateway

    first, second = make_sim_account(), make_sim_account()
    cache.delete(gateway.markets_cache_key(first))
    sim.control("DELETE", "/requests")

    gateway.ensure_markets(gateway.build_client(first), first)
    gateway._local_markets.clear()  # as if in another process: only the shared cache
    rules = gateway.market_rules(gateway.build_client(second), second, "BTC/USDT")

    assert sim.control("GET", "/requests").get("GET /api/v3/exchangeInfo") == 1
    assert str(rules.amount_step) == "0.00001"


def test_simulator_accounts_registers_stored_keys_after_a_simulator_restart(sim, db):
    from django.core.management import call_command

    from accounts.models import ExchangeAccount
    from accounts.tests.factories import UserFactory

    UserFactory(username="demo-owner")
    call_command("simulator_accounts", "--demo", "demo-owner")
    sim.control("POST", "/reset")  # the simulator forgets every key
    sim.control("POST", "/pause")
    call_command("simulator_accounts")
    call_command("simulator_accounts")  # again: already known, nothing changes

    accounts = ExchangeAccount.objects.filter(owner__username="demo-owner").order_by("pk")
    assert [(a.label, a.market_type) for a in accounts] == [
        ("Demo spot", "spot"),
        ("Demo futures", "swap"),
    ]
    for account in accounts:
        assert account_check_connection(account=account).ok
