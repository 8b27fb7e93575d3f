"""The async and ccxt.pro clients from the factory, against the same simulator."""

from __future__ import annotations

import ccxt
import pytest

from simulator.client import simulator_client, simulator_urls


async def test_async_spot_and_futures_order_lifecycle(sim, make_account):
    acct = make_account(spot={"USDT": "10000"}, futures={"USDT": "10000"})
    spot = simulator_client(
        sim.url,
        market_type="spot",
        api_key=acct["api_key"],
        secret=acct["secret"],
        asynchronous=True,
    )
    swap = simulator_client(
        sim.url,
        market_type="swap",
        api_key=acct["api_key"],
        secret=acct["secret"],
        asynchronous=True,
    )
    try:
        order = await spot.create_order("ETH/USDT", "limit", "buy", 1, 2900)
        assert order["status"] == "open"
        assert (await spot.cancel_order(order["id"], "ETH/USDT"))["status"] == "canceled"
        filled = await swap.create_order("ETH/USDT:USDT", "market", "buy", 0.5)
        assert filled["status"] == "closed"
        positions = await swap.fetch_positions(["ETH/USDT:USDT"])
        assert positions[0]["contracts"] == 0.5
        with pytest.raises(ccxt.InsufficientFunds):
            await swap.create_order("ETH/USDT:USDT", "market", "buy", 1000)
    finally:
        await spot.close()
        await swap.close()


async def test_pro_client_points_every_url_at_the_simulator(sim):
    client = simulator_client(sim.url, market_type="swap", pro=True)
    try:
        api = client.urls["api"]
        for key, url in api.items():
            if key == "ws":
                continue
            assert url.startswith(sim.url), key
        ws_base = sim.url.replace("http://", "ws://")
        assert api["ws"]["linear"] == f"{ws_base}/ws/linear/ws"
        assert api["ws"]["spot"] == f"{ws_base}/ws/spot"
        assert api["ws"]["ws-api"] == simulator_urls(sim.url)["ws"]["ws-api"]
        assert client.options["watchPositions"]["fetchPositionsSnapshot"] is False
        markets = await client.load_markets()
        assert "BTC/USDT:USDT" in markets
    finally:
        await client.close()


def test_every_real_binance_url_key_is_overridden():
    real = ccxt.binanceusdm().urls["api"]
    ours = simulator_urls("http://127.0.0.1:1")
    assert set(real) - {"ws"} <= set(ours)
    assert "binance.com" not in repr(ours)
