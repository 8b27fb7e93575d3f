"""Market rules from the shared markets cache, without a client, against the simulator."""

from decimal import Decimal

import pytest
from django.core.cache import cache

from accounts import gateway, precision
from common.exceptions import ValidationFailed

EXCHANGE_INFO = {
    "spot": "GET /api/v3/exchangeInfo",
    "swap": "GET /fapi/v1/exchangeInfo",
}


def forget_cached_markets(account) -> None:
    cache.delete_many(
        [gateway.markets_cache_key(account), gateway.precision_mode_cache_key(account)]
    )
    gateway._local_markets.clear()


def no_client(*args, **kwargs):
    raise AssertionError("a client was built: the rules should have come from the cache")


@pytest.mark.parametrize("market_type", ["spot", "swap"])
def test_rules_from_the_cache_equal_a_clients_for_every_market(
    make_sim_account, monkeypatch, market_type
):
    account = make_sim_account(market_type=market_type)
    forget_cached_markets(account)
    loaded = gateway.build_client(account)
    gateway.ensure_markets(loaded, account)  # as a worker does: from the venue, then cached
    gateway._local_markets.clear()  # as if in another process: only the shared cache
    from_cache = gateway.build_client(account)  # the web's client before: set_markets
    gateway.ensure_markets(from_cache, account)
    gateway._local_markets.clear()
    monkeypatch.setattr(gateway, "get_client", no_client)

    for symbol in loaded.markets:
        rules = gateway.account_market_rules(account, symbol)

        assert rules == gateway.market_rules(loaded, account, symbol)
        assert rules == gateway.market_rules(from_cache, account, symbol)
    assert len(loaded.markets) >= 3


def test_a_warm_cache_answers_without_a_client_or_a_venue_call(make_sim_account, sim, monkeypatch):
    account = make_sim_account()
    forget_cached_markets(account)
    gateway.ensure_markets(gateway.build_client(account), account)
    gateway._local_markets.clear()
    sim.control("DELETE", "/requests")
    monkeypatch.setattr(gateway, "get_client", no_client)

    rules = gateway.account_market_rules(account, "BTC/USDT")

    assert rules.amount_step == Decimal("0.00001")
    assert rules.price_tick == Decimal("0.01")
    assert rules.round_amount(Decimal("0.123456789")) == Decimal("0.12345")
    assert sim.control("GET", "/requests").get(EXCHANGE_INFO["spot"]) is None


def test_a_cold_cache_falls_back_to_the_client_and_warms_the_cache_for_every_process(
    make_sim_account, sim
):
    account = make_sim_account(market_type="swap")
    forget_cached_markets(account)
    sim.control("DELETE", "/requests")

    first = gateway.account_market_rules(account, "BTC/USDT:USDT")
    gateway.forget_all_clients()  # another process: no client, no local copy
    again = gateway.account_market_rules(account, "BTC/USDT:USDT")

    assert first == again
    assert first.price_tick == Decimal("0.10")
    assert cache.get(gateway.precision_mode_cache_key(account)) == precision.TICK_SIZE
    assert gateway._clients == {}
    assert sim.control("GET", "/requests").get(EXCHANGE_INFO["swap"]) == 1


def test_markets_cached_without_their_precision_mode_get_it_from_the_next_client(
    make_sim_account, sim, monkeypatch
):
    account = make_sim_account()
    forget_cached_markets(account)
    gateway.ensure_markets(gateway.build_client(account), account)
    cache.delete(gateway.precision_mode_cache_key(account))  # as written before it was kept
    gateway.forget_all_clients()
    sim.control("DELETE", "/requests")

    gateway.account_market_rules(account, "BTC/USDT")  # through a client, from the cache
    gateway.forget_all_clients()
    monkeypatch.setattr(gateway, "get_client", no_client)
    rules = gateway.account_market_rules(account, "BTC/USDT")

    assert rules.amount_step == Decimal("0.00001")
    assert cache.get(gateway.precision_mode_cache_key(account)) == precision.TICK_SIZE
    assert sim.control("GET", "/requests").get(EXCHANGE_INFO["spot"]) is None


def test_an_unknown_symbol_is_refused_with_the_same_message_with_or_without_a_client(
    make_sim_account,
):
    account = make_sim_account()
    client = gateway.build_client(account)
    gateway.ensure_markets(client, account)

    with pytest.raises(ValidationFailed) as cached:
        gateway.account_market_rules(account, "NOPE/USDT")
    with pytest.raises(ValidationFailed) as through_client:
        gateway.market_rules(client, account, "NOPE/USDT")

    assert str(cached.value) == "Unknown symbol 'NOPE/USDT' on binance spot."
    assert str(cached.value) == str(through_client.value)
    assert cached.value.extra == through_client.value.extra == {"field": "symbol"}


@pytest.mark.django_db
def test_warming_loads_only_the_venues_missing_from_the_cache(make_sim_account, sim):
    from accounts.services import markets_refresh

    spot = make_sim_account()
    swap = make_sim_account(market_type="swap")
    cache.delete_many(
        [gateway.markets_cache_key(a) for a in (spot, swap)]
        + [gateway.precision_mode_cache_key(a) for a in (spot, swap)]
    )
    gateway._local_markets.clear()

    assert markets_refresh(missing_only=True) == 2
    assert gateway.cached_markets(spot) is not None and gateway.cached_markets(swap) is not None
    assert markets_refresh(missing_only=True) == 0  # both there: nothing loaded
