"""The bounded soak that ``make test`` runs (``python -m tests.soak`` for the long form)."""

from __future__ import annotations

import os

import pytest

from tests.soak.run import Config, run

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]


def make_accounts(sim_url: str, balances: dict, per_type: int):
    """The soak's user, API token and simulator accounts (spot and USD-M)."""
    from django.contrib.auth import get_user_model
    from django.test import override_settings

    from accounts import gateway
    from accounts.services import (
        account_check_connection,
        account_create,
        account_update,
        api_token_create,
    )
    from tests.soak.chaos import control

    user = get_user_model().objects.create_user("soak", "soak@localhost", "soak-password-123")
    _, token = api_token_create(user=user, name="soak")
    accounts = []
    for market_type in ("spot", "swap"):
        for n in range(per_type):
            venue = control(
                sim_url,
                "POST",
                "/accounts",
                {
                    "spot": {k: str(v) for k, v in balances["spot"].items()},
                    "futures": {k: str(v) for k, v in balances["swap"].items()},
                },
            )
            account = account_create(
                owner=user,
                exchange_id="binance",
                label=f"soak {market_type} {n + 1}",
                mode="simulator",
                market_type=market_type,
                api_key=venue["api_key"],
                api_secret=venue["secret"],
            )
            # A key trades once the connection test found it cannot withdraw.
            with override_settings(SIMULATOR_URL=sim_url):
                gateway.forget_all_clients()
                assert account_check_connection(account=account).ok
                account_update(account=account, can_trade=True)
            account.sim_id = venue["account_id"]
            accounts.append(account)
    return token, accounts


def test_the_platform_keeps_its_records_equal_to_the_exchange_under_faults_and_kills(
    subprocess_env, tmp_path
):
    config = Config(
        minutes=float(os.environ.get("SOAK_MINUTES", "1.5")),
        seed=int(os.environ.get("SOAK_SEED", "1")),
        accounts=int(os.environ.get("SOAK_ACCOUNTS", "2")),
        rate=float(os.environ.get("SOAK_RATE", "4")),
        chaos=os.environ.get("SOAK_CHAOS", "1") != "0",
    )
    report = run(config, subprocess_env, tmp_path, make_accounts)
    print(report.text())  # noqa: T201 - the soak's figures are its output
    assert report.violation_count == 0, report.text()
    assert sum(report.orders.values()) > 0, "the soak placed no order"
