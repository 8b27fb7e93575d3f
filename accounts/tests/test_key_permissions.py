"""A key that can withdraw never trades: trading turns on only after the connection test
found the current key unable to withdraw; a new key is checked in a worker and trades
only once checked."""

import pytest
from django.core.management import call_command
from rest_framework.test import APIClient

from accounts import services
from accounts.models import ExchangeAccount
from accounts.services import account_check_connection
from accounts.tests.factories import ExchangeAccountFactory, UserFactory

pytestmark = pytest.mark.django_db


def api_for(user):
    client = APIClient()
    client.force_authenticate(user)
    return client


def read_only_sim_account(make_sim_account, **fields):
    account = make_sim_account(**fields)
    ExchangeAccount.objects.filter(pk=account.pk).update(can_trade=False)
    account.refresh_from_db()
    return account


def enable(client, account):
    return client.patch(f"/api/accounts/{account.pk}/", {"can_trade": True}, format="json")


def test_trading_cannot_be_switched_on_for_an_unchecked_key(make_sim_account):
    account = read_only_sim_account(make_sim_account)

    response = enable(api_for(account.owner), account)

    assert response.status_code == 409, response.content
    assert "/api/accounts/<id>/test/" in response.json()["detail"]
    account.refresh_from_db()
    assert account.can_trade is False


def connection_test(client, account, exchange_jobs) -> dict:
    """The connection test as a client sees it: asked for, run by the worker, read back."""
    assert client.post(f"/api/accounts/{account.pk}/test/").status_code == 202
    exchange_jobs.run()
    return client.get(f"/api/accounts/{account.pk}/test/").json()["result"]


def test_a_key_that_can_withdraw_cannot_be_switched_back_on(make_sim_account, exchange_jobs):
    account = read_only_sim_account(make_sim_account, can_withdraw=True)
    client = api_for(account.owner)

    tested = connection_test(client, account, exchange_jobs)
    response = enable(client, account)

    assert tested["ok"] is False
    assert response.status_code == 409
    assert "can withdraw" in response.json()["detail"]
    account.refresh_from_db()
    assert (account.can_trade, account.key_can_withdraw) == (False, True)


def test_a_checked_key_that_cannot_withdraw_may_trade(make_sim_account, exchange_jobs):
    account = read_only_sim_account(make_sim_account)
    client = api_for(account.owner)

    assert connection_test(client, account, exchange_jobs)["ok"] is True
    response = enable(client, account)

    assert response.status_code == 200, response.content
    assert response.json()["can_trade"] is True
    assert response.json()["key_can_withdraw"] is False


def test_a_new_key_switches_trading_off_and_is_checked_in_a_worker(
    make_sim_account, django_capture_on_commit_callbacks, monkeypatch
):
    from accounts import tasks

    account = make_sim_account()
    account_check_connection(account=account)
    account.refresh_from_db()
    queued = []
    monkeypatch.setattr(tasks.account_check_connection, "delay", queued.append)

    with django_capture_on_commit_callbacks(execute=True):
        services.account_update(account=account, api_key="another-key-0123456789")

    account.refresh_from_db()
    assert account.can_trade is False
    assert (account.key_checked_at, account.key_can_withdraw) == (None, None)
    assert queued == [account.pk]


def test_a_new_key_with_can_trade_in_the_same_request_is_refused(make_sim_account):
    account = read_only_sim_account(make_sim_account)

    response = api_for(account.owner).patch(
        f"/api/accounts/{account.pk}/",
        {"api_key": "another-key-0123456789", "can_trade": True},
        format="json",
    )

    assert response.status_code == 409


def test_creating_an_account_that_trades_at_once_is_refused():
    response = api_for(UserFactory()).post(
        "/api/accounts/",
        {
            "exchange_id": "binance",
            "label": "main",
            "mode": "simulator",
            "market_type": "spot",
            "api_key": "my-api-key-0123456789WXYZ",
            "api_secret": "my-api-secret-0123456789",
            "can_trade": True,
        },
        format="json",
    )

    assert response.status_code == 409
    assert not ExchangeAccount.objects.exists()


def test_a_check_of_an_old_key_does_not_vouch_for_the_new_one(make_sim_account, monkeypatch):
    account = make_sim_account()
    stale = ExchangeAccount.objects.get(pk=account.pk)
    services.account_update(account=account, api_key="another-key-0123456789")

    account_check_connection(account=stale)  # began before the key changed

    account.refresh_from_db()
    assert account.key_checked_at is None


def test_the_admin_refuses_trading_for_an_unchecked_key(admin_client):
    account = ExchangeAccountFactory(can_trade=False)

    response = admin_client.post(
        f"/admin/accounts/exchangeaccount/{account.pk}/change/",
        {
            "label": account.label,
            "new_api_key": "",
            "new_api_secret": "",
            "new_api_passphrase": "",
            "can_trade": "on",
            "is_active": "on",
            "sync_states-TOTAL_FORMS": "0",
            "sync_states-INITIAL_FORMS": "0",
        },
    )

    assert response.status_code == 200  # the form again, with the error
    assert "run the connection" in response.content.decode()
    account.refresh_from_db()
    assert account.can_trade is False


def test_the_demo_accounts_trade_after_their_keys_were_checked(sim):
    UserFactory(username="demo-trader")

    call_command("simulator_accounts", "--demo", "demo-trader")

    accounts = ExchangeAccount.objects.filter(owner__username="demo-trader")
    assert [(a.can_trade, a.key_can_withdraw) for a in accounts] == [(True, False)] * 2
    assert all(a.key_checked_at is not None for a in accounts)
