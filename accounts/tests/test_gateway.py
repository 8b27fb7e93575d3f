"""Client construction. Calls to a venue are tested against the simulator."""

import ccxt
import pytest
from django.test import override_settings

from accounts import gateway
from accounts.models import ExchangeAccount
from accounts.tests.factories import ExchangeAccountFactory
from common.exceptions import ValidationFailed

pytestmark = pytest.mark.django_db


def test_a_live_spot_account_gets_a_rate_limited_binance_client_with_its_keys():
    account = ExchangeAccountFactory(mode="live", api_key="k" * 12, api_secret="s" * 12)

    client = gateway.build_client(ExchangeAccount.objects.get(pk=account.pk))

    assert isinstance(client, ccxt.binance)
    assert client.enableRateLimit is True
    assert client.apiKey == "k" * 12 and client.secret == "s" * 12


@override_settings(EXCHANGE_TIMEOUT_MS=1234)
def test_a_swap_account_on_binance_gets_the_usdm_client():
    account = ExchangeAccountFactory(mode="live", market_type="swap")

    client = gateway.build_client(account)

    assert isinstance(client, ccxt.binanceusdm)
    assert client.timeout == 1234


def test_other_exchanges_trade_swaps_through_default_type():
    account = ExchangeAccountFactory(
        exchange_id="bybit", mode="live", market_type="swap", api_passphrase=""
    )

    client = gateway.build_client(account)

    assert isinstance(client, ccxt.bybit)
    assert client.options["defaultType"] == "swap"


def test_async_and_pro_clients_are_the_asyncio_classes():
    account = ExchangeAccountFactory(mode="live")

    assert isinstance(gateway.build_client(account, asynchronous=True), ccxt.async_support.binance)
    assert isinstance(gateway.build_client(account, pro=True), ccxt.pro.binance)


def test_a_testnet_account_uses_the_exchange_sandbox_urls():
    account = ExchangeAccountFactory(mode="testnet")

    client = gateway.build_client(account)

    assert "testnet" in client.urls["api"]["public"]


def test_the_process_keeps_one_client_per_account_until_the_account_changes():
    account = ExchangeAccountFactory(mode="live")

    first = gateway.get_client(account)
    again = gateway.get_client(account)
    account.label = "changed"
    account.save()
    changed = gateway.get_client(account)

    assert first is again
    assert changed is not first


def test_simulator_mode_is_refused_for_exchanges_the_simulator_does_not_speak():
    with pytest.raises(ValidationFailed, match="Binance only"):
        gateway.validate_exchange(exchange_id="kraken", mode="simulator", market_type="spot")


def test_credentials_never_show_in_their_repr():
    account = ExchangeAccountFactory(api_secret="do-not-print-me")

    credentials = gateway.load_credentials(account)

    assert "do-not-print-me" not in repr(credentials)


def test_unread_returns_what_the_cache_received_after_the_watch_returned():
    """ccxt.pro resolves a watch only for a message that arrives while it is awaited;
    the stream reads the rest from the client's cache itself."""
    from types import SimpleNamespace

    from ccxt.async_support.base.ws.cache import ArrayCacheBySymbolById

    from accounts.streams import unread

    cache = ArrayCacheBySymbolById(100)
    client = SimpleNamespace(orders=cache)
    for order_id in ("1", "2"):
        cache.append({"id": order_id, "symbol": "BTC/USDT", "status": "open"})
    cache.getLimit(None, None)  # what watch_orders does when it returns them

    assert unread(client, "orders") == []
    cache.append({"id": "2", "symbol": "BTC/USDT", "status": "closed"})
    cache.append({"id": "3", "symbol": "ETH/USDT", "status": "open"})

    assert [(o["id"], o["status"]) for o in unread(client, "orders")] == [
        ("2", "closed"),
        ("3", "open"),
    ]
    assert unread(client, "orders") == []  # read once


@override_settings(SIMULATOR_URL="")
def test_without_a_simulator_url_a_simulator_account_is_refused_not_sent_anywhere():
    account = ExchangeAccountFactory(mode="simulator")

    with pytest.raises(ValidationFailed, match="SIMULATOR_URL is not set"):
        gateway.build_client(account)
