"""The web process does not import ccxt unless a request has to call an exchange.

``import ccxt`` loads every exchange module (some 65 MB of the web's resident memory).
Each check runs in a fresh interpreter, since this one imported ccxt long ago.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from decimal import Decimal
from pathlib import Path

from django.conf import settings
from django.core.cache import cache

from accounts import gateway

BASE_DIR = Path(__file__).resolve().parent.parent

# Loads the web application as daphne does (trading_site.asgi, then the URLconf on the
# first request) and prints which ccxt modules it holds. PREPARE runs in between.
CHILD = """
import json, os, sys

from django.conf import settings

if prefix := os.environ.get("PARENT_CACHE_KEY_PREFIX"):
    # The test's own cache keys, so the child reads what the test stored.
    settings.CACHES["default"]["KEY_PREFIX"] = prefix

import trading_site.asgi
from django.urls import get_resolver

get_resolver().url_patterns
result = {{"url_patterns": len(get_resolver().url_patterns)}}
{prepare}
result["ccxt"] = sorted(name for name in sys.modules if name.split(".")[0] == "ccxt")
print(json.dumps(result))
"""


def run_child(prepare: str = "", **env: str) -> dict:
    completed = subprocess.run(  # noqa: S603
        [sys.executable, "-c", CHILD.format(prepare=prepare)],
        cwd=BASE_DIR,
        env={**os.environ, "DJANGO_SETTINGS_MODULE": "trading_site.settings.test", **env},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert completed.returncode == 0, completed.stderr
    return json.loads(completed.stdout.strip().splitlines()[-1])


def test_loading_the_web_application_and_its_urls_imports_no_ccxt():
    result = run_child()

    assert result["url_patterns"] > 0
    assert result["ccxt"] == []


PREPARE_ORDER = """
from decimal import Decimal

from accounts.models import ExchangeAccount
from orders.services.submit import OrderRequest, order_prepare

account = ExchangeAccount(
    pk=int(os.environ["ACCOUNT_ID"]), exchange_id="binance", label="web",
    mode="simulator", market_type="spot", can_trade=True, is_active=True,
)
order = order_prepare(
    account=account,
    request=OrderRequest(
        symbol="BTC/USDT", side="buy", type="limit",
        amount=Decimal("0.123456789"), price=Decimal("30000.006"),
    ),
    origin="api",
)
result.update(amount=str(order.amount), price=str(order.price))
"""


def test_an_order_on_a_warm_markets_cache_is_prepared_without_importing_ccxt(make_sim_account):
    account = make_sim_account()
    cache.delete_many(
        [gateway.markets_cache_key(account), gateway.precision_mode_cache_key(account)]
    )
    # What a worker does on its first order: markets from the venue into the shared cache.
    gateway.ensure_markets(gateway.build_client(account), account)

    result = run_child(
        PREPARE_ORDER,
        PARENT_CACHE_KEY_PREFIX=settings.CACHES["default"]["KEY_PREFIX"],
        ACCOUNT_ID=str(account.pk),
    )

    # Rounded by the cached market's rules: the amount down to the step, the price to
    # the nearest tick.
    assert Decimal(result["amount"]) == Decimal("0.12345")
    assert Decimal(result["price"]) == Decimal("30000.01")
    assert result["ccxt"] == []


def test_an_order_on_a_cold_markets_cache_still_loads_them_through_ccxt(make_sim_account, sim):
    account = make_sim_account()
    cache.delete_many(
        [gateway.markets_cache_key(account), gateway.precision_mode_cache_key(account)]
    )

    result = run_child(
        PREPARE_ORDER,
        PARENT_CACHE_KEY_PREFIX=settings.CACHES["default"]["KEY_PREFIX"],
        ACCOUNT_ID=str(account.pk),
        SIMULATOR_URL=sim.url,
    )

    assert Decimal(result["amount"]) == Decimal("0.12345")
    assert "ccxt" in result["ccxt"]
    assert cache.get(gateway.markets_cache_key(account))["BTC/USDT"]["symbol"] == "BTC/USDT"
