"""Fault injection, request counting and authentication, as ccxt sees them."""

from __future__ import annotations

import json
import time
import urllib.error
import urllib.request

import ccxt
import pytest

from .conftest import state

SPOT = "BTC/USDT"
SWAP = "BTC/USDT:USDT"


def _fault(sim, **spec):
    return sim.control("POST", "/faults", spec)


@pytest.mark.parametrize(
    ("spec", "expected"),
    [
        ({"action": "status", "status": 429}, ccxt.DDoSProtection),
        ({"action": "status", "status": 418}, ccxt.DDoSProtection),
        ({"action": "status", "status": 400, "code": -1003}, ccxt.RateLimitExceeded),
        ({"action": "status", "status": 503}, ccxt.OperationFailed),
        (
            {"action": "status", "status": 502, "raw_body": "<html>502 Bad Gateway</html>"},
            ccxt.ExchangeNotAvailable,
        ),
        ({"action": "timeout", "delay_ms": 1500}, ccxt.RequestTimeout),
    ],
)
def test_faults_map_to_the_ccxt_exceptions(sim, make_account, make_client, spec, expected):
    client = make_client(make_account(spot={"USDT": "1000"}), timeout_ms=500)
    client.load_markets()
    _fault(sim, path="/api/v3/account", method="GET", **spec)
    with pytest.raises(expected):
        client.fetch_balance()
    # The fault had a count of one: the next call goes through.
    assert client.fetch_balance()["USDT"]["free"] == 1000.0


def test_503_is_not_a_network_error():
    # Our retry policy relies on this: OperationFailed is not retried as a network blip.
    assert not issubclass(ccxt.OperationFailed, ccxt.NetworkError)


def test_latency_fault_delays_but_answers(sim, make_account, make_client):
    client = make_client(make_account(spot={"USDT": "1000"}))
    client.load_markets()
    _fault(sim, path="/api/v3/account", action="latency", delay_ms=200)
    started = time.monotonic()
    client.fetch_balance()
    assert time.monotonic() - started >= 0.2


def test_fault_until_cleared_keeps_firing(sim, make_account, make_client):
    client = make_client(make_account(spot={"USDT": "1000"}))
    client.load_markets()
    fault = _fault(sim, path="/api/v3/*", action="status", status=503, count=None)
    for _ in range(3):
        with pytest.raises(ccxt.OperationFailed):
            client.fetch_balance()
    sim.control("DELETE", f"/faults/{fault['fault_id']}")
    client.fetch_balance()


def test_dropped_response_leaves_exactly_one_order_on_the_venue(sim, make_account, make_client):
    acct = make_account(spot={"USDT": "10000"})
    client = make_client(acct)
    client.load_markets()
    _fault(sim, path="/api/v3/order", method="POST", action="drop", mode="close")
    with pytest.raises(ccxt.NetworkError):
        client.create_order(SPOT, "limit", "buy", 0.01, 50000, {"clientOrderId": "lost-1"})
    orders = state(sim, acct)["open_orders"]
    assert [o["clientOrderId"] for o in orders] == ["lost-1"]
    # Asking by client order id finds it - what our reconciliation does after a lost answer.
    assert client.fetch_order(None, SPOT, {"clientOrderId": "lost-1"})["status"] == "open"


def test_dropped_response_that_hangs_is_a_request_timeout(sim, make_account, make_client):
    acct = make_account(futures={"USDT": "10000"})
    client = make_client(acct, market_type="swap", timeout_ms=500)
    client.load_markets()
    _fault(sim, path="/fapi/v1/order", method="POST", action="drop", mode="hang", delay_ms=1500)
    with pytest.raises(ccxt.RequestTimeout):
        client.create_order(SWAP, "limit", "buy", 0.01, 50000, {"clientOrderId": "lost-2"})
    assert [o["clientOrderId"] for o in state(sim, acct)["open_orders"]] == ["lost-2"]


def test_futures_margin_error_uses_the_futures_error_table(make_account, make_client):
    client = make_client(make_account(futures={"USDT": "10"}), market_type="swap")
    with pytest.raises(ccxt.InsufficientFunds, match="Margin is insufficient"):
        client.create_order(SWAP, "limit", "buy", 1, 50000)


def test_bad_signature_is_an_authentication_error(make_account, make_client):
    acct = make_account(spot={"USDT": "1"})
    client = make_client({**acct, "secret": "0" * 64})
    client.load_markets()
    with pytest.raises(ccxt.AuthenticationError, match="-1022"):
        client.fetch_balance()


def test_unknown_api_key_is_an_authentication_error(make_account, make_client):
    client = make_client({"api_key": "nope", "secret": "x" * 64})
    client.load_markets()
    with pytest.raises(ccxt.AuthenticationError, match="-2015"):
        client.fetch_balance()


def test_stale_timestamp_is_rejected(make_account, make_client):
    client = make_client(make_account(spot={"USDT": "1"}))
    client.load_markets()
    client.nonce = lambda: client.milliseconds() - 60_000
    with pytest.raises(ccxt.InvalidNonce, match="-1021"):
        client.fetch_balance()


def test_withdraw_enabled_key_is_visible_in_api_restrictions(make_account, make_client):
    trading = make_client(make_account(spot={"USDT": "1"}))
    withdrawing = make_client(make_account(spot={"USDT": "1"}, can_withdraw=True))
    assert trading.sapiGetAccountApiRestrictions()["enableWithdrawals"] is False
    assert withdrawing.sapiGetAccountApiRestrictions()["enableWithdrawals"] is True


def test_unknown_path_is_a_binance_style_404(sim):
    with pytest.raises(urllib.error.HTTPError) as caught:
        urllib.request.urlopen(f"{sim.url}/api/v3/nothingHere", timeout=5)  # noqa: S310
    assert caught.value.code == 404
    body = json.loads(caught.value.read())
    assert body["code"] == -1000
    assert "GET /api/v3/nothingHere" in body["msg"]


def test_requests_are_counted_per_endpoint_and_window(sim, make_account, make_client):
    client = make_client(make_account(spot={"USDT": "1"}))
    client.load_markets()
    sim.control("DELETE", "/requests")
    since = int(time.time() * 1000)
    for _ in range(3):
        client.fetch_balance()
    counts = sim.control("GET", f"/requests?since={since}")
    assert counts == {"GET /api/v3/account": 3}
    assert sim.control("GET", f"/requests?until={since - 1}") == {}
