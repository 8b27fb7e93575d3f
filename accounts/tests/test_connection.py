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


def test_the_api_test_answers_at_once_and_a_sync_worker_calls_the_exchange(
    make_sim_account, sim, exchange_jobs
):
    account = make_sim_account()
    client = APIClient()
    client.force_authenticate(account.owner)
    sim.control("DELETE", "/requests")

    asked = client.post(f"/api/accounts/{account.pk}/test/")
    meanwhile = client.get(f"/api/accounts/{account.pk}/test/")
    called_by_the_request = sim.control("GET", "/requests")
    ran = exchange_jobs.run()  # what the sync worker does
    done = client.get(f"/api/accounts/{account.pk}/test/")

    assert asked.status_code == 202, asked.content
    assert asked.json()["status"] == meanwhile.json()["status"] == "running"
    assert asked.json()["result"] is None
    assert called_by_the_request == {}  # the web process never waited for the exchange
    assert (ran, exchange_jobs.queues) == (1, ["sync"])
    assert done.status_code == 200
    assert done.json()["status"] == "done"
    assert done.json()["requested_at"] == asked.json()["requested_at"]
    assert done.json()["result"]["ok"] is True
    assert done.json()["result"]["assets"] == ["BTC", "ETH", "USDT"]
    assert account.api_secret not in done.content.decode()


def test_asking_again_while_a_test_runs_joins_it(make_sim_account, exchange_jobs):
    account = make_sim_account()
    client = APIClient()
    client.force_authenticate(account.owner)

    first = client.post(f"/api/accounts/{account.pk}/test/")
    second = client.post(f"/api/accounts/{account.pk}/test/")

    assert first.status_code == second.status_code == 202
    assert first.json()["requested_at"] == second.json()["requested_at"]
    assert len(exchange_jobs.held) == 1


def test_a_user_with_every_job_in_use_is_refused_429_until_one_ends(
    make_sim_account, exchange_jobs, settings
):
    from accounts.tests.factories import UserFactory

    settings.EXCHANGE_JOBS_PER_USER = 2
    owner = UserFactory()
    first, second, third = (make_sim_account(owner=owner) for _ in range(3))
    client = APIClient()
    client.force_authenticate(owner)
    other = make_sim_account()
    other_client = APIClient()
    other_client.force_authenticate(other.owner)

    answers = [client.post(f"/api/accounts/{a.pk}/test/") for a in (first, second, third)]
    another_users = other_client.post(f"/api/accounts/{other.pk}/test/")
    exchange_jobs.run()
    after = client.post(f"/api/accounts/{third.pk}/test/")

    assert [a.status_code for a in answers] == [202, 202, 429]
    assert answers[2]["Retry-After"] == "2"
    assert "2 requests to the exchange" in answers[2].json()["detail"]
    assert another_users.status_code == 202  # limits are per user
    assert after.status_code == 202


def test_a_test_result_is_404_before_any_and_after_the_key_changed(make_sim_account, exchange_jobs):
    from accounts.services import account_update

    account = make_sim_account()
    client = APIClient()
    client.force_authenticate(account.owner)

    before = client.get(f"/api/accounts/{account.pk}/test/")
    client.post(f"/api/accounts/{account.pk}/test/")
    exchange_jobs.run()
    tested = client.get(f"/api/accounts/{account.pk}/test/")
    account_update(account=account, api_key="another-key-0123456789")
    after = client.get(f"/api/accounts/{account.pk}/test/")

    assert before.status_code == 404
    assert tested.json()["status"] == "done"
    assert after.status_code == 404


def test_a_test_asked_for_after_a_key_change_is_a_new_one(make_sim_account, exchange_jobs):
    from accounts.services import account_update

    account = make_sim_account()
    client = APIClient()
    client.force_authenticate(account.owner)

    before = client.post(f"/api/accounts/{account.pk}/test/")
    account_update(account=account, api_key="a-key-the-exchange-does-not-know")
    after = client.post(f"/api/accounts/{account.pk}/test/")
    exchange_jobs.run()
    tested = client.get(f"/api/accounts/{account.pk}/test/").json()

    assert len(exchange_jobs.queues) == 2  # not joined to the test of the old key
    assert tested["requested_at"] == after.json()["requested_at"] != before.json()["requested_at"]
    assert (tested["result"]["ok"], tested["result"]["error"]) == (False, "AuthenticationError")


def test_the_admin_action_queues_a_test_per_account_for_the_sync_worker(
    admin_client, make_sim_account, sim, exchange_jobs
):
    account = make_sim_account()
    sim.control("DELETE", "/requests")

    response = admin_client.post(
        "/admin/accounts/exchangeaccount/",
        {"action": "test_connection", "_selected_action": [account.pk]},
        follow=True,
    )
    called_by_the_request = sim.control("GET", "/requests")
    exchange_jobs.run()

    assert response.status_code == 200
    assert f"Connection test queued for {account.label}" in response.content.decode()
    assert called_by_the_request == {}
    assert exchange_jobs.queues == ["sync"]
    account.refresh_from_db()
    assert account.last_sync_at is not None and account.key_checked_at is not None


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
