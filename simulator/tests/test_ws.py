"""The websocket side through the real ccxt.pro clients (binance and binanceusdm).

Each test waits on a watch_* call with a deadline, never on a fixed sleep: a watch is
started as a task, the test waits until the simulator reports the subscription
(``GET /_sim/ws``), then acts over REST or the control API.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import aiohttp
import ccxt
import pytest

from simulator.client import simulator_client
from simulator.testing import SimulatorHandle

SPOT = "BTC/USDT"
SWAP = "BTC/USDT:USDT"
TIMEOUT = 5


@pytest.fixture
async def pro(sim: SimulatorHandle) -> AsyncIterator[Callable[..., Any]]:
    """Makes ccxt.pro clients for the session simulator and closes them all afterwards."""
    clients: list[Any] = []

    def make(account: dict[str, Any] | None = None, market_type: str = "spot", **kw: Any) -> Any:
        client = simulator_client(
            sim.url,
            market_type=market_type,
            api_key=account["api_key"] if account else "",
            secret=account["secret"] if account else "",
            pro=True,
            **kw,
        )
        clients.append(client)
        return client

    yield make
    for client in clients:
        await client.close()


async def _until(check: Callable[[], bool], timeout: float = TIMEOUT) -> None:
    async def poll() -> None:
        while not check():
            await asyncio.sleep(0.01)

    await asyncio.wait_for(poll(), timeout)


def _connections(sim: SimulatorHandle) -> list[dict[str, Any]]:
    return sim.control("GET", "/ws")["connections"]


async def _subscribed(
    sim: SimulatorHandle, *, account_id: str | None = None, stream: str | None = None
) -> None:
    """Wait until the simulator has a connection for the account or the stream."""

    def found() -> bool:
        return any(
            (account_id is None or account_id in c["account_ids"])
            and (stream is None or stream in c["streams"])
            for c in _connections(sim)
        )

    await _until(found)


async def _watch_until(
    watch: Callable[[], Awaitable[Any]], done: Callable[[Any], bool], timeout: float = TIMEOUT
) -> Any:
    """Call ``watch`` until its result satisfies ``done``; fail after ``timeout`` seconds."""

    async def loop() -> Any:
        while True:
            result = await watch()
            if done(result):
                return result

    return await asyncio.wait_for(loop(), timeout)


def _move(sim: SimulatorHandle, price: str, venue: str) -> None:
    sim.control("POST", "/price", {"symbol": "BTCUSDT", "price": price, "venue": venue})


# ---------------------------------------------------------------------- spot user data
async def test_spot_watch_orders_sees_new_then_the_fill(sim, make_account, pro):
    acct = make_account(spot={"USDT": "10000"})
    client = pro(acct)
    watching = asyncio.create_task(client.watch_orders(SPOT))
    await _subscribed(sim, account_id=acct["account_id"])

    placed = await client.create_order(SPOT, "limit", "buy", 0.01, 59500)
    first = await asyncio.wait_for(watching, TIMEOUT)
    assert [(o["id"], o["status"], o["info"]["x"]) for o in first] == [
        (placed["id"], "open", "NEW")
    ]
    assert first[0]["price"] == 59500
    assert first[0]["amount"] == 0.01

    _move(sim, "59000", "spot")  # the liquidity provider's asks now cross the bid
    (filled,) = await asyncio.wait_for(client.watch_orders(SPOT), TIMEOUT)
    assert (filled["id"], filled["status"], filled["filled"]) == (placed["id"], "closed", 0.01)
    assert (filled["info"]["x"], filled["info"]["X"]) == ("TRADE", "FILLED")
    assert filled["info"]["L"] == "59500.00000000"


async def test_spot_watch_my_trades_gets_the_fill_with_its_fee(sim, make_account, pro):
    acct = make_account(spot={"USDT": "10000"})
    client = pro(acct)
    watching = asyncio.create_task(client.watch_my_trades(SPOT))
    await _subscribed(sim, account_id=acct["account_id"])

    order = await client.create_order(SPOT, "market", "buy", 0.01)
    (trade,) = await asyncio.wait_for(watching, TIMEOUT)
    rest_trade = (await client.fetch_my_trades(SPOT))[0]
    assert trade["id"] == rest_trade["id"]
    assert trade["order"] == order["id"]
    assert (trade["side"], trade["amount"], trade["takerOrMaker"]) == ("buy", 0.01, "taker")
    assert trade["price"] == rest_trade["price"]
    assert trade["fee"] == rest_trade["fee"]
    assert trade["fee"]["currency"] == "BTC"  # a buyer pays in the coins it bought
    assert trade["fee"]["cost"] > 0


async def test_spot_watch_balance_reflects_a_fill(sim, make_account, pro):
    acct = make_account(spot={"USDT": "10000"})
    client = pro(acct)
    watching = asyncio.create_task(
        _watch_until(client.watch_balance, lambda b: b.get("BTC", {}).get("free"))
    )
    await _subscribed(sim, account_id=acct["account_id"])

    await client.create_order(SPOT, "market", "buy", 0.01)
    balance = await watching
    rest = await client.fetch_balance()
    assert balance["BTC"]["free"] == 0.00999  # 0.01 less the 0.1% fee, in BTC
    assert balance["USDT"]["free"] == rest["USDT"]["free"]
    assert balance["USDT"]["free"] < 10000 - 600


async def test_spot_user_stream_rejects_a_bad_signature(sim, make_account, pro):
    acct = make_account(spot={"USDT": "10000"})
    client = pro({**acct, "secret": "0" * 64})
    # ccxt 4.5.90 maps the answer to AuthenticationError, then trips over its own cleanup
    # (ensure_user_data_stream_ws_subscribe_signature deletes the subscription twice).
    with pytest.raises((ccxt.AuthenticationError, KeyError)):
        await asyncio.wait_for(client.watch_orders(SPOT), TIMEOUT)
    assert all(c["account_ids"] == [] for c in _connections(sim))


async def test_ws_api_signature_checks_answer_in_binances_shape(sim, make_account, pro):
    acct = make_account(spot={"USDT": "10000"})
    signer = pro(acct)  # ccxt.pro's own signing of userDataStream.subscribe.signature
    good = signer.sign_params({})
    cases = [
        ({**good, "signature": "0" * 64}, 400, -1022),
        ({**good, "apiKey": "nope"}, 401, -2015),
        ({**signer.sign_params({}), "timestamp": 1}, 400, -1021),
    ]
    url = sim.url.replace("http://", "ws://") + "/ws-api/v3"
    async with aiohttp.ClientSession() as session, session.ws_connect(url) as ws:
        for i, (params, status, code) in enumerate(cases):
            await ws.send_json(
                {"id": str(i), "method": "userDataStream.subscribe.signature", "params": params}
            )
            answer = await asyncio.wait_for(ws.receive_json(), TIMEOUT)
            assert (answer["id"], answer["status"], answer["error"]["code"]) == (
                str(i),
                status,
                code,
            )
        await ws.send_json(
            {"id": "ok", "method": "userDataStream.subscribe.signature", "params": good}
        )
        answer = await asyncio.wait_for(ws.receive_json(), TIMEOUT)
        assert answer == {"id": "ok", "status": 200, "result": {"subscriptionId": 0}}


# ---------------------------------------------------------------------- USD-M user data
async def test_usdm_watch_orders_sees_new_then_the_fill(sim, make_account, pro):
    acct = make_account(futures={"USDT": "10000"})
    client = pro(acct, "swap")
    watching = asyncio.create_task(client.watch_orders(SWAP))
    await _subscribed(sim, account_id=acct["account_id"])
    assert any(c["path"] == "/ws/linear/private/ws" for c in _connections(sim))

    placed = await client.create_order(SWAP, "limit", "buy", 0.01, 59500)
    (new,) = await asyncio.wait_for(watching, TIMEOUT)
    assert (new["id"], new["status"], new["info"]["x"]) == (placed["id"], "open", "NEW")
    assert new["symbol"] == SWAP

    _move(sim, "59000", "futures")
    (filled,) = await asyncio.wait_for(client.watch_orders(SWAP), TIMEOUT)
    assert (filled["id"], filled["status"], filled["filled"]) == (placed["id"], "closed", 0.01)
    assert (filled["info"]["x"], filled["info"]["X"]) == ("TRADE", "FILLED")
    assert filled["average"] == 59500


async def test_usdm_watch_my_trades_gets_the_fill_with_its_fee(sim, make_account, pro):
    acct = make_account(futures={"USDT": "10000"})
    client = pro(acct, "swap")
    watching = asyncio.create_task(client.watch_my_trades(SWAP))
    await _subscribed(sim, account_id=acct["account_id"])

    order = await client.create_order(SWAP, "market", "buy", 0.01)
    (trade,) = await asyncio.wait_for(watching, TIMEOUT)
    rest_trade = (await client.fetch_my_trades(SWAP))[0]
    assert (trade["id"], trade["order"], trade["symbol"]) == (rest_trade["id"], order["id"], SWAP)
    assert (trade["side"], trade["amount"], trade["takerOrMaker"]) == ("buy", 0.01, "taker")
    assert trade["fee"] == rest_trade["fee"]
    assert trade["fee"]["cost"] > 0


async def test_usdm_watch_positions_and_balance_reflect_an_opened_position(sim, make_account, pro):
    acct = make_account(futures={"USDT": "10000"})
    client = pro(acct, "swap")
    positions = asyncio.create_task(client.watch_positions())
    balance = asyncio.create_task(client.watch_balance())
    await _subscribed(sim, account_id=acct["account_id"])

    await client.create_order(SWAP, "market", "buy", 0.01)
    (position,) = await asyncio.wait_for(positions, TIMEOUT)
    assert (position["symbol"], position["side"], position["contracts"]) == (SWAP, "long", 0.01)
    rest_position = (await client.fetch_positions([SWAP]))[0]
    assert position["entryPrice"] == rest_position["entryPrice"]

    wallet = (await asyncio.wait_for(balance, TIMEOUT))["USDT"]["total"]
    fee = (await client.fetch_my_trades(SWAP))[0]["fee"]["cost"]
    assert wallet == pytest.approx(10000 - fee)


async def test_usdm_watch_orders_sees_algo_orders(sim, make_account, pro):
    acct = make_account(futures={"USDT": "10000"})
    client = pro(acct, "swap")
    await client.create_order(SWAP, "market", "buy", 0.01)
    watching = asyncio.create_task(
        _watch_until(
            lambda: client.watch_orders(SWAP),
            lambda orders: any("aid" in o["info"] for o in orders),
        )
    )
    await _subscribed(sim, account_id=acct["account_id"])

    stop = await client.create_order(
        SWAP, "market", "sell", 0.01, None, {"stopLossPrice": 59000, "reduceOnly": True}
    )
    orders = await watching
    algo = next(o for o in orders if "aid" in o["info"])
    assert (algo["id"], algo["status"], algo["triggerPrice"]) == (stop["id"], "open", 59000)
    assert algo["info"]["X"] == "NEW"

    seen: dict[str, Any] = {}

    def fired(orders: list[Any]) -> bool:
        seen.update((o["id"], o) for o in orders)
        return len(seen) == 2 and all(o["status"] == "closed" for o in seen.values())

    _move(sim, "58900", "futures")
    await _watch_until(lambda: client.watch_orders(SWAP), fired)
    assert seen[stop["id"]]["info"]["X"] == "FINISHED"
    (triggered,) = (o for o in seen.values() if o["id"] != stop["id"])
    assert triggered["info"]["ot"] == "STOP_MARKET"
    assert triggered["id"] == seen[stop["id"]]["info"]["ai"]


@pytest.mark.parametrize(("market_type", "symbol"), [("spot", SPOT), ("swap", SWAP)])
async def test_concurrent_watch_orders_and_my_trades_share_one_subscription(
    sim, make_account, pro, market_type, symbol
):
    acct = make_account(spot={"USDT": "10000"}, futures={"USDT": "10000"})
    client = pro(acct, market_type)
    orders = asyncio.create_task(
        _watch_until(client.watch_orders, lambda os: any(o["status"] == "closed" for o in os))
    )
    trades = asyncio.create_task(client.watch_my_trades())
    await _subscribed(sim, account_id=acct["account_id"])

    order = await client.create_order(symbol, "market", "buy", 0.01)
    (trade,) = await asyncio.wait_for(trades, TIMEOUT)
    assert trade["order"] == order["id"]
    assert order["id"] in {o["id"] for o in await orders}
    (conn,) = _connections(sim)
    assert conn["account_ids"] == [acct["account_id"]]
    assert len(conn["subscriptions"]) == (1 if market_type == "spot" else 0)


async def test_usdm_edit_order_reports_an_amendment(sim, make_account, pro):
    acct = make_account(futures={"USDT": "10000"})
    client = pro(acct, "swap")
    placed = await client.create_order(SWAP, "limit", "buy", 0.01, 59000)
    watching = asyncio.create_task(client.watch_orders(SWAP))
    await _subscribed(sim, account_id=acct["account_id"])

    await client.edit_order(placed["id"], SWAP, "limit", "buy", 0.02, 59100)
    (amended,) = await asyncio.wait_for(watching, TIMEOUT)
    assert (amended["id"], amended["info"]["x"], amended["status"]) == (
        placed["id"],
        "AMENDMENT",
        "open",
    )
    assert (amended["price"], amended["amount"]) == (59100, 0.02)


# ---------------------------------------------------------------------- drops
async def test_dropping_an_accounts_connections_raises_and_a_new_watch_reconnects(
    sim, make_account, pro
):
    acct = make_account(spot={"USDT": "10000"}, futures={"USDT": "10000"})
    other = make_account(spot={"USDT": "10000"})
    spot, swap, bystander = pro(acct), pro(acct, "swap"), pro(other)
    spot_watch = asyncio.create_task(spot.watch_orders())
    swap_watch = asyncio.create_task(swap.watch_orders())
    other_watch = asyncio.create_task(bystander.watch_orders())
    await _until(lambda: sim.control("GET", "/ws")["count"] == 3)
    await _subscribed(sim, account_id=other["account_id"])

    dropped = sim.control("POST", "/ws/drop", {"account_id": acct["account_id"]})
    assert dropped == {"dropped": 2}
    for watch in (spot_watch, swap_watch):
        with pytest.raises(ccxt.NetworkError):
            await asyncio.wait_for(watch, TIMEOUT)
    assert not other_watch.done()
    assert [c["account_ids"] for c in _connections(sim)] == [[other["account_id"]]]

    # A new watch reconnects (and resubscribes) and sees the next order.
    spot_watch = asyncio.create_task(spot.watch_orders())
    swap_watch = asyncio.create_task(swap.watch_orders())
    await _until(lambda: sim.control("GET", "/ws")["count"] == 3)
    await spot.create_order(SPOT, "limit", "buy", 0.01, 59000)
    await swap.create_order(SWAP, "limit", "buy", 0.01, 59000)
    assert (await asyncio.wait_for(spot_watch, TIMEOUT))[0]["status"] == "open"
    assert (await asyncio.wait_for(swap_watch, TIMEOUT))[0]["status"] == "open"
    other_watch.cancel()


async def test_dropping_by_path_aborts_market_streams_only(sim, make_account, pro):
    acct = make_account(spot={"USDT": "10000"})
    client = pro(acct)
    orders = asyncio.create_task(client.watch_orders())
    ticker = asyncio.create_task(client.watch_ticker(SPOT))
    await _subscribed(sim, stream="btcusdt@miniTicker")
    await _subscribed(sim, account_id=acct["account_id"])

    result = sim.control("POST", "/ws/drop", {"path": "/ws/spot/", "mode": "abort"})
    assert result == {"dropped": 1}
    with pytest.raises(ccxt.NetworkError):
        await asyncio.wait_for(ticker, TIMEOUT)
    assert not orders.done()

    ticker = asyncio.create_task(client.watch_ticker(SPOT))
    await _subscribed(sim, stream="btcusdt@miniTicker")
    sim.control("POST", "/step")
    assert (await asyncio.wait_for(ticker, TIMEOUT))["symbol"] == SPOT
    orders.cancel()


async def test_a_venue_reset_closes_every_connection_and_events_still_flow(sim, make_account, pro):
    acct = make_account(spot={"USDT": "10000"})
    old = pro(acct)
    orders = asyncio.create_task(old.watch_orders())
    ticker = asyncio.create_task(old.watch_ticker(SPOT))
    await _subscribed(sim, account_id=acct["account_id"])
    await _subscribed(sim, stream="btcusdt@miniTicker")

    sim.control("POST", "/reset", {"seed": 1})
    for watch in (orders, ticker):
        with pytest.raises(ccxt.NetworkError):
            await asyncio.wait_for(watch, TIMEOUT)
    assert sim.control("GET", "/ws")["count"] == 0

    # The listener was carried over to the new venue: a new account's stream works.
    fresh = make_account(spot={"USDT": "10000"})
    client = pro(fresh)
    orders = asyncio.create_task(client.watch_orders())
    await _subscribed(sim, account_id=fresh["account_id"])
    await client.create_order(SPOT, "limit", "buy", 0.01, 59000)
    assert (await asyncio.wait_for(orders, TIMEOUT))[0]["status"] == "open"


# ---------------------------------------------------------------------- market streams
@pytest.mark.parametrize(
    ("market_type", "symbol", "name", "event"),
    [
        ("spot", SPOT, "miniTicker", "24hrMiniTicker"),  # ccxt's default for watch_ticker
        ("spot", SPOT, "ticker", "24hrTicker"),
        ("swap", SWAP, "ticker", "24hrTicker"),
    ],
)
async def test_watch_ticker_updates_when_the_market_moves_and_steps(
    sim, pro, market_type, symbol, name, event
):
    client = pro(market_type=market_type)
    watching = asyncio.create_task(client.watch_ticker(symbol, {"name": name}))
    await _subscribed(sim, stream="btcusdt@" + name)

    venue = "spot" if market_type == "spot" else "futures"
    _move(sim, "61000", venue)
    ticker = await asyncio.wait_for(watching, TIMEOUT)
    assert (ticker["symbol"], ticker["last"], ticker["info"]["e"]) == (symbol, 61000, event)
    if (market_type, name) == ("spot", "ticker"):
        assert ticker["bid"] < 61000 < ticker["ask"]

    sim.control("POST", "/step")
    stepped = await asyncio.wait_for(client.watch_ticker(symbol, {"name": name}), TIMEOUT)
    assert stepped["timestamp"] >= ticker["timestamp"]


@pytest.mark.parametrize(("market_type", "symbol"), [("spot", SPOT), ("swap", SWAP)])
async def test_watch_order_book_syncs_with_the_rest_snapshot_and_follows_steps(
    sim, pro, market_type, symbol
):
    client = pro(market_type=market_type)
    first = await asyncio.wait_for(client.watch_order_book(symbol), TIMEOUT)
    nonce = first["nonce"]
    assert first["bids"][0][0] < first["asks"][0][0]

    venue = "spot" if market_type == "spot" else "futures"
    _move(sim, "61000", venue)
    book = await _watch_until(
        lambda: client.watch_order_book(symbol), lambda b: b["bids"][0][0] > 60500
    )
    assert book["nonce"] > nonce
    rest = await client.fetch_order_book(symbol, 20)
    assert book["nonce"] == rest["nonce"]
    assert book["bids"][:20] == rest["bids"]
    assert book["asks"][:20] == rest["asks"]

    for _ in range(3):
        sim.control("POST", "/step")
    stepped = await _watch_until(
        lambda: client.watch_order_book(symbol), lambda b: b["nonce"] > rest["nonce"]
    )
    assert stepped["bids"][0][0] < stepped["asks"][0][0]


async def test_spot_book_updates_reach_a_client_with_spot_and_linear_markets(sim, pro):
    # ccxt.pro tells spot stream messages from futures ones by "/stream" in the URL; the
    # factory's clients count the simulator's spot stream base as spot.
    client = pro(options={"fetchMarkets": {"types": ["spot", "linear"]}})
    await asyncio.wait_for(client.watch_order_book(SPOT), TIMEOUT)
    assert SWAP in client.markets
    _move(sim, "61000", "spot")
    book = await _watch_until(
        lambda: client.watch_order_book(SPOT), lambda b: b["bids"][0][0] > 60500
    )
    assert book["symbol"] == SPOT


async def test_usdm_watch_mark_price_and_spot_trades_and_ohlcv(sim, make_account, pro):
    swap = pro(market_type="swap")
    spot = pro(make_account(spot={"USDT": "10000"}))
    mark = asyncio.create_task(swap.watch_mark_price(SWAP))
    trades = asyncio.create_task(spot.watch_trades(SPOT))
    candles = asyncio.create_task(spot.watch_ohlcv(SPOT, "1m"))
    await _subscribed(sim, stream="btcusdt@markPrice@1s")
    await _subscribed(sim, stream="btcusdt@trade")
    await _subscribed(sim, stream="btcusdt@kline_1m")

    await spot.create_order(SPOT, "market", "buy", 0.01)
    (trade,) = await asyncio.wait_for(trades, TIMEOUT)
    assert (trade["symbol"], trade["amount"]) == (SPOT, 0.01)
    ohlcv = await asyncio.wait_for(candles, TIMEOUT)
    assert ohlcv[-1][4] == trade["price"]
    sim.control("POST", "/step")
    assert (await asyncio.wait_for(mark, TIMEOUT))["markPrice"] > 0


async def test_control_lists_connections_and_market_subscriptions(sim, pro):
    client = pro()
    watching = asyncio.create_task(client.watch_order_book(SPOT))
    await _subscribed(sim, stream="btcusdt@depth@100ms")
    state = sim.control("GET", "/ws")
    assert state["count"] == 1
    assert list(state["by_path"]) == ["/ws/spot/0"]
    (conn,) = state["connections"]
    assert (conn["kind"], conn["venue"], conn["account_ids"]) == ("market", "spot", [])
    await asyncio.wait_for(watching, TIMEOUT)
    await client.un_watch_order_book(SPOT)
    await _until(lambda: _connections(sim)[0]["streams"] == [])


@pytest.mark.parametrize(("market_type", "symbol"), [("spot", SPOT), ("swap", SWAP)])
@pytest.mark.parametrize("timeframe", ["5m", "1h"])
async def test_kline_streams_of_every_interval_agree_with_rest(
    sim, make_account, pro, market_type, symbol, timeframe
):
    """Binance streams klines of every interval, not only 1m; each is the same candle
    REST's klines give for that interval."""
    client = pro(make_account(spot={"USDT": "10000"}, futures={"USDT": "10000"}), market_type)
    candles = asyncio.create_task(client.watch_ohlcv(symbol, timeframe))
    stream = f"btcusdt@kline_{timeframe}"
    await _subscribed(sim, stream=stream)

    await client.create_order(symbol, "market", "buy", 0.01)
    streamed = (await asyncio.wait_for(candles, TIMEOUT))[-1]
    rest = (await client.fetch_ohlcv(symbol, timeframe, limit=2))[-1]

    assert streamed[0] % {"5m": 300_000, "1h": 3_600_000}[timeframe] == 0
    assert streamed[:5] == rest[:5]  # time, open, high, low, close
