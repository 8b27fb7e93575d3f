"""The shared request budget, against the real Redis of the test settings.

Budget math runs on a clock passed to the script, so nothing sleeps to let a bucket
refill. The multi-process tests use Redis' own clock and real concurrency: each fork
hammers one budget and the grants are counted per window afterwards.
"""

from __future__ import annotations

import bisect
import json
import multiprocessing
import time
import uuid
from collections.abc import Iterator

import ccxt
import ccxt.async_support
import pytest
import redis
from django.conf import settings
from django.test import override_settings

from accounts import gateway, ratelimit
from accounts.errors import Outcome, classify
from accounts.ratelimit import (
    BudgetExhausted,
    RequestBudget,
    VenueLimits,
    Window,
    install_budget,
    limits_for,
    order_count,
)
from accounts.tests.factories import ExchangeAccountFactory

FORK = multiprocessing.get_context("fork")
JOIN_TIMEOUT = 15


@pytest.fixture
def prefix() -> Iterator[str]:
    """A key prefix of this test's own; every key under it is deleted afterwards."""
    name = f"test-ratelimit-{uuid.uuid4().hex}"
    yield name
    client = ratelimit.redis_client()
    keys = list(client.scan_iter(match=f"*{name}*", count=1000))
    if keys:
        client.delete(*keys)


def budget(
    prefix: str, *windows: Window, orders: tuple[Window, ...] = (), **kwargs
) -> RequestBudget:
    return RequestBudget(f"{{{prefix}}}", VenueLimits(weight=windows, orders=orders), **kwargs)


def grants(budget: RequestBudget, n: int, *, now: float, priority: str = "orders") -> list[bool]:
    return [budget.check(1, priority=priority, now=now).granted for _ in range(n)]


# --- Budget math -----------------------------------------------------------------------------


def test_requests_within_the_burst_are_granted_at_once_and_the_next_waits_one_refill(prefix):
    # 20 per 10 s with a burst of 10: the other 10 refill at 1 per second.
    limiter = budget(prefix, Window(limit=20, seconds=10, burst=10))

    assert grants(limiter, 10, now=1000.0) == [True] * 10
    refused = limiter.check(1, priority="orders", now=1000.0)

    assert refused.granted is False
    assert refused.wait == pytest.approx(1.0)


def test_the_wait_is_what_the_refill_rate_implies_for_the_cost_asked(prefix):
    limiter = budget(prefix, Window(limit=20, seconds=10, burst=10))
    assert limiter.check(10, priority="orders", now=1000.0).granted

    assert limiter.check(1, priority="orders", now=1000.0).wait == pytest.approx(1.0)
    assert limiter.check(4, priority="orders", now=1000.0).wait == pytest.approx(4.0)
    assert limiter.check(4, priority="orders", now=1002.5).wait == pytest.approx(1.5)


def test_the_bucket_refills_with_time(prefix):
    limiter = budget(prefix, Window(limit=20, seconds=10, burst=10))
    grants(limiter, 10, now=1000.0)

    assert limiter.check(1, priority="orders", now=1000.5).wait == pytest.approx(0.5)
    assert limiter.check(1, priority="orders", now=1001.0).granted
    assert grants(limiter, 5, now=1005.0) == [True, True, True, True, False]
    assert grants(limiter, 11, now=1100.0) == [True] * 10 + [False]


def test_a_refused_request_charges_nothing(prefix):
    limiter = budget(prefix, Window(limit=20, seconds=10, burst=10))
    limiter.check(9, priority="orders", now=1000.0)
    before = ratelimit.redis_client().get(limiter.keys()[0])

    assert limiter.check(5, priority="orders", now=1000.0).granted is False
    assert ratelimit.redis_client().get(limiter.keys()[0]) == before
    assert limiter.check(1, priority="orders", now=1000.0).granted


def test_no_interval_of_the_window_sees_more_than_the_limit(prefix):
    # The token-bucket guarantee: burst + rate * seconds = limit, for any interval.
    limiter = budget(prefix, Window(limit=20, seconds=10, burst=10))
    granted_at = []
    tick = 0
    while tick < 300:  # 30 s in steps of 0.1 s, as many requests as each instant allows
        now = 1000 + tick / 10
        if limiter.check(1, priority="orders", now=now).granted:
            granted_at.append(now)
        else:
            tick += 1

    assert busiest_window(granted_at, 10.0) == 20


def test_a_request_bigger_than_the_burst_goes_on_a_full_bucket_and_leaves_it_in_debt(prefix):
    limiter = budget(prefix, Window(limit=20, seconds=10, burst=10))

    assert limiter.check(30, priority="orders", now=1000.0).granted
    # 30 s of refill owed; the next unit fits once the backlog is back under the burst.
    assert limiter.check(1, priority="orders", now=1000.0).wait == pytest.approx(21.0)


def test_a_request_is_granted_in_every_window_or_charged_in_none(prefix):
    limiter = budget(
        prefix, Window(limit=100, seconds=10, burst=50), Window(limit=4, seconds=10, burst=2)
    )
    assert grants(limiter, 2, now=1000.0) == [True, True]
    first = ratelimit.redis_client().get(limiter.keys()[0])

    refused = limiter.check(1, priority="orders", now=1000.0)

    assert refused.granted is False
    assert refused.wait == pytest.approx(5.0)  # the tight window: 2 per 10 s after the burst
    assert ratelimit.redis_client().get(limiter.keys()[0]) == first


# --- Priorities and order counts -------------------------------------------------------------


def test_sync_is_refused_at_its_share_while_orders_still_get_through(prefix):
    limiter = budget(prefix, Window(limit=20, seconds=10, burst=10), sync_share=0.7)

    assert grants(limiter, 8, now=1000.0, priority="sync") == [True] * 7 + [False]
    assert limiter.check(1, priority="sync", now=1000.0).wait == pytest.approx(1.0)
    assert grants(limiter, 4, now=1000.0, priority="orders") == [True] * 3 + [False]
    # Orders took the reserve: sync now waits for the bucket to come back under its share.
    assert limiter.check(1, priority="sync", now=1000.0).wait == pytest.approx(4.0)
    assert limiter.check(1, priority="orders", now=1000.0).wait == pytest.approx(1.0)


def test_order_count_windows_gate_order_calls_only(prefix):
    limiter = budget(
        prefix,
        Window(limit=1000, seconds=10, burst=500),
        orders=(Window(limit=4, seconds=10, burst=2),),
    )
    for _ in range(2):
        assert limiter.check(1, priority="orders", orders=1, now=1000.0).granted

    refused = limiter.check(1, priority="orders", orders=1, now=1000.0)

    assert refused.granted is False
    assert refused.wait == pytest.approx(5.0)
    assert limiter.check(50, priority="sync", now=1000.0).granted


def test_a_request_that_would_wait_too_long_fails_at_once_as_not_sent(prefix):
    limiter = budget(
        prefix,
        Window(limit=20, seconds=10, burst=10),
        max_wait={"sync": 0.5},
        clock=lambda: 1000.0,
        label="account 7 (binance spot)",
    )
    grants(limiter, 10, now=1000.0)

    started = time.monotonic()
    with pytest.raises(BudgetExhausted, match=r"account 7 .* would wait 4.00 s") as raised:
        limiter.acquire(1, priority="sync")

    assert time.monotonic() - started < 0.1  # refused without sleeping first
    assert isinstance(raised.value, ccxt.RateLimitExceeded)
    assert classify(raised.value).outcome is Outcome.NOT_SENT


def test_budget_exhausted_is_one_ccxt_rate_limit_class_wherever_it_is_imported_from():
    from accounts import ratelimit_errors

    assert ratelimit.BudgetExhausted is BudgetExhausted is ratelimit_errors.BudgetExhausted
    assert issubclass(BudgetExhausted, ccxt.RateLimitExceeded)


# --- Limits ----------------------------------------------------------------------------------


def test_binance_defaults_stay_inside_the_published_limits_with_a_margin():
    spot = limits_for("binance", "spot")
    usdm = limits_for("binance", "swap")

    # Weight per minute in Binance's units: ccxt cost * weight_per_cost.
    assert spot.weight[0].limit <= 0.8 * 6000 and spot.weight[0].seconds == 60
    assert usdm.weight[0].limit <= 0.8 * 2400 and usdm.weight[0].seconds == 60
    assert [(w.limit, w.seconds) for w in spot.orders] == [(80, 10), (160_000, 86_400)]
    assert [(w.limit, w.seconds) for w in usdm.orders] == [(240, 10), (960, 60)]
    assert (spot.weight_per_cost, usdm.weight_per_cost) == (5, 1)


def test_other_exchanges_get_ccxts_own_pace_for_the_whole_platform():
    limits = limits_for("kraken", "spot", rate_limit_ms=200)

    assert limits.weight == (Window(limit=300, seconds=60, burst=5),)
    assert limits.orders == ()


@override_settings(
    EXCHANGE_RATE_LIMITS={"binance:spot": {"weight": [{"limit": 600, "seconds": 60, "burst": 60}]}}
)
def test_settings_override_a_venues_windows():
    limits = limits_for("binance", "spot")

    assert limits.weight == (Window(limit=600, seconds=60, burst=60),)
    assert limits.orders == ratelimit.DEFAULT_LIMITS["binance:spot"].orders
    assert limits.weight_per_cost == 5


def test_a_window_whose_burst_is_not_below_its_limit_is_refused():
    with pytest.raises(ValueError, match="burst < limit"):
        Window(limit=10, seconds=1, burst=10)


@pytest.mark.parametrize(
    ("method", "path", "params", "count"),
    [
        ("POST", "order", {}, 1),
        ("DELETE", "order", {}, 1),
        ("PUT", "order", {}, 1),
        ("POST", "order/cancelReplace", {}, 1),
        ("POST", "orderList/oco", {}, 2),  # a stop-loss and a take-profit
        ("DELETE", "orderList", {}, 1),
        ("DELETE", "openOrders", {}, 1),
        ("POST", "batchOrders", {"batchOrders": json.dumps([{}, {}, {}])}, 3),
        ("GET", "order", {}, 0),
        ("GET", "openOrders", {}, 0),
        ("POST", "order/test", {}, 0),
        ("POST", "userDataStream", {}, 0),
        ("PUT", "listenKey", {}, 0),
    ],
)
def test_order_calls_are_recognised_by_method_and_path(method, path, params, count):
    assert order_count(method, path, params) == count


# --- Several processes -----------------------------------------------------------------------


def busiest_window(times: list[float], seconds: float) -> int:
    """The most grants in any closed interval [t, t + seconds] starting at a grant."""
    times = sorted(times)
    return max(
        (bisect.bisect_right(times, t + seconds) - i for i, t in enumerate(times)), default=0
    )


def _hammer(key: str, priority: str, window: Window, barrier, until_seconds: float) -> None:
    """A worker process: take one unit after another until the time is up."""
    limiter = RequestBudget(key, VenueLimits(weight=(window,)), max_wait={"sync": 5})
    client = ratelimit.redis_client()  # a new pool in this process (redis-py checks the pid)
    barrier.wait(JOIN_TIMEOUT)
    deadline = time.monotonic() + until_seconds
    while time.monotonic() < deadline:
        grant = limiter.acquire(1, priority=priority)
        client.rpush(f"{key}:grants", repr(grant.at))


def run_processes(target, args_list: list[tuple]) -> None:
    processes = [FORK.Process(target=target, args=args) for args in args_list]
    for process in processes:
        process.start()
    for process in processes:
        process.join(JOIN_TIMEOUT)
    alive = [process for process in processes if process.is_alive()]
    for process in alive:
        process.kill()
    assert not alive, "a worker did not finish in time"
    assert [process.exitcode for process in processes] == [0] * len(processes)


def test_four_processes_hammering_one_account_stay_inside_its_window(prefix):
    # 40 per second, 10 at once: 30 per second refill, shared by all four processes.
    window = Window(limit=40, seconds=1, burst=10)
    key = f"{{{prefix}}}"
    barrier = FORK.Barrier(4)
    priorities = ["sync", "sync", "orders", "orders"]

    run_processes(_hammer, [(key, p, window, barrier, 2.0) for p in priorities])

    times = [float(t) for t in ratelimit.redis_client().lrange(f"{key}:grants", 0, -1)]
    busiest = busiest_window(times, window.seconds)
    assert busiest <= window.limit
    # The limiter, not the processes, was the bottleneck: the budget was used up.
    assert busiest >= 0.9 * window.limit
    assert len(times) <= window.burst + window.rate * (max(times) - min(times)) + 1


def _saturate_sync(key: str, window: Window, saturated_key: str, stop) -> None:
    limiter = RequestBudget(key, VenueLimits(weight=(window,)), max_wait={"sync": 5})
    client = ratelimit.redis_client()
    deadline = time.monotonic() + JOIN_TIMEOUT - 5  # never outlive the test
    while not stop.is_set() and time.monotonic() < deadline:
        if limiter.acquire(1, priority="sync").waited > 0:
            client.rpush(saturated_key, "1")  # sync has used its whole share and waits


def blocking_redis() -> redis.Redis:
    """A connection whose socket outwaits BLPOP (the limiter's gives up after 1 s)."""
    url = ratelimit.budget_redis_url(settings.REDIS_URL)
    return redis.Redis.from_url(url, socket_timeout=JOIN_TIMEOUT + 5)


def test_an_order_is_not_delayed_while_sync_traffic_saturates_its_share(prefix):
    window = Window(limit=60, seconds=1, burst=20)
    key = f"{{{prefix}}}"
    saturated_key = f"{key}:saturated"
    stop = FORK.Event()
    processes = [
        FORK.Process(target=_saturate_sync, args=(key, window, saturated_key, stop))
        for _ in range(2)
    ]
    for process in processes:
        process.start()
    try:
        assert blocking_redis().blpop([saturated_key], timeout=10), "sync never waited"
        limiter = RequestBudget(key, VenueLimits(weight=(window,)))
        started = time.monotonic()
        order_grants = [limiter.acquire(1, priority="orders") for _ in range(5)]
        elapsed = time.monotonic() - started
    finally:
        stop.set()
        for process in processes:
            process.join(JOIN_TIMEOUT)
    # 0.3 of a 20-unit burst is kept for orders: five orders go without a single wait.
    assert [grant.waited for grant in order_grants] == [0] * 5
    assert elapsed < 0.1
    assert [process.exitcode for process in processes] == [0, 0]


# --- ccxt ------------------------------------------------------------------------------------


@pytest.fixture
def budget_settings(prefix):
    with override_settings(EXCHANGE_RATE_LIMIT_KEY_PREFIX=prefix):
        yield prefix


def tat(key: str) -> float:
    return float(ratelimit.redis_client().get(key))


ORDER_ANSWER = {"symbol": "BTCUSDT", "orderId": 1, "status": "NEW", "side": "BUY"}
ORDER_PARAMS = {"symbol": "BTCUSDT", "side": "BUY", "type": "MARKET", "quantity": "0.001"}


@pytest.mark.django_db
def test_the_installed_throttle_charges_ccxts_cost_in_binance_weight(budget_settings):
    account = ExchangeAccountFactory(mode="live")
    client = install_budget(ccxt.binance({"enableRateLimit": True}), account, priority="sync")
    weight = client.request_budget.limits.weight[0]

    started = time.monotonic()
    first = client.throttle(4)  # GET account: Binance weight 20, ccxt cost 4
    second = client.throttle(4)

    # ccxt's own limiter would have slept 200 ms (4 x 50 ms) before the second.
    assert time.monotonic() - started < 0.1
    assert first.waited == second.waited == 0
    assert tat(f"{{{budget_settings}:account:{account.pk}}}:weight:0") == pytest.approx(
        first.at + 2 * 20 / weight.rate, abs=1e-3
    )


@pytest.mark.django_db
def test_an_order_call_charges_the_order_count_at_order_priority_from_any_client(
    budget_settings,
):
    account = ExchangeAccountFactory(mode="live", api_key="k" * 16, api_secret="s" * 16)
    with override_settings(EXCHANGE_RATE_LIMIT_MAX_WAIT_SECONDS={"sync": 0}):
        client = gateway.build_client(account)  # a sync client
    client.fetch = lambda url, method="GET", headers=None, body=None: ORDER_ANSWER
    key = f"{{{budget_settings}:account:{account.pk}}}"
    # Sync takes nearly its whole share of the 600-weight burst (420): 415 weight is cost 83.
    client.throttle(83)
    with pytest.raises(BudgetExhausted):
        client.throttle(2)  # 10 more weight, over the share

    answer = client.private_post_order(ORDER_PARAMS)  # weight 1, one order

    assert answer == ORDER_ANSWER
    orders = client.request_budget.limits.orders
    assert tat(f"{key}:orders:0") - tat(f"{key}:orders:1") == pytest.approx(
        1 / orders[0].rate - 1 / orders[1].rate, abs=1e-3
    )


async def test_the_async_throttle_charges_the_budget_without_ccxts_sleep(budget_settings):
    account = ExchangeAccountFactory.build(pk=987_654, mode="live")  # no database in this loop
    client = install_budget(
        ccxt.async_support.binance({"enableRateLimit": True}), account, priority="orders"
    )

    async def fetch(url, method="GET", headers=None, body=None):
        return ORDER_ANSWER

    client.fetch = fetch
    client.apiKey, client.secret = "k" * 16, "s" * 16
    try:
        started = time.monotonic()
        grant = await client.throttle(4)
        answer = await client.private_post_order(ORDER_PARAMS)
        elapsed = time.monotonic() - started
    finally:
        await client.close()

    assert elapsed < 0.1  # ccxt's own limiter would have slept 200 ms before the order
    assert grant.waited == 0 and answer == ORDER_ANSWER
    key = f"{{{budget_settings}:account:{account.pk}}}"
    assert ratelimit.redis_client().exists(f"{key}:orders:0", f"{key}:orders:1") == 2


@pytest.mark.django_db
def test_the_gateway_keeps_one_client_per_account_and_priority():
    account = ExchangeAccountFactory(mode="live")

    orders = gateway.get_client(account, priority="orders")
    sync = gateway.get_client(account)

    assert orders.request_priority == "orders" and sync.request_priority == "sync"
    assert gateway.get_client(account, priority="orders") is orders
    assert gateway.get_client(account) is sync
    assert gateway.build_client(account, pro=True).request_priority == "sync"


@pytest.mark.django_db
def test_without_redis_the_client_falls_back_to_ccxts_own_limiter(budget_settings, caplog):
    account = ExchangeAccountFactory(mode="live")
    client = install_budget(ccxt.binance({"enableRateLimit": True}), account, priority="sync")
    client.request_budget._redis = ratelimit.connect("redis://127.0.0.1:1/3")  # nothing there

    started = time.monotonic()
    assert client.throttle(1) is None  # ccxt's throttle, which returns nothing
    assert time.monotonic() - started < 0.5

    assert "Redis unreachable" in caplog.text


# --- End to end: real ccxt clients in several processes against the simulator ---------------
# Binance spot weight of each endpoint the workers call (ccxt cost x 5).
SPOT_WEIGHT = {
    "GET /api/v3/exchangeInfo": 20,
    "GET /api/v3/ticker/24hr": 2,
    "GET /api/v3/depth": 5,
    "GET /api/v3/account": 20,
    "GET /api/v3/openOrders": 6,
    "POST /api/v3/order": 1,
}


def _hammer_simulator(account, barrier, seconds: float, saturated_key: str) -> None:
    """A sync worker: public and private calls in turn, through the gateway's client."""
    client = gateway.build_client(account)
    throttle = client.throttle

    def signalling_throttle(cost=None):
        grant = throttle(cost)
        if getattr(grant, "waited", 0) > 0:  # this worker waited: sync has used its share
            ratelimit.redis_client().rpush(saturated_key, "1")
        return grant

    client.throttle = signalling_throttle
    client.load_markets()
    calls = (
        lambda: client.fetch_ticker("BTC/USDT"),
        lambda: client.fetch_order_book("BTC/USDT"),
        lambda: client.fetch_balance(),
        lambda: client.fetch_open_orders("BTC/USDT"),
    )
    barrier.wait(JOIN_TIMEOUT)
    deadline = time.monotonic() + seconds
    i = 0
    while time.monotonic() < deadline:
        calls[i % len(calls)]()
        i += 1


def weight_per_window(handle, start_ms: int, end_ms: int, seconds: float) -> list[int]:
    """The simulator's own request counts, as Binance weight, in windows every 50 ms."""
    windows = []
    for since in range(start_ms, end_ms, 50):
        counts = handle.control("GET", f"/requests?since={since}&until={since + seconds * 1000}")
        assert set(counts) <= set(SPOT_WEIGHT), counts  # nothing we did not expect to count
        windows.append(sum(SPOT_WEIGHT[endpoint] * n for endpoint, n in counts.items()))
    return windows


@pytest.mark.integration
@pytest.mark.django_db
def test_three_processes_of_real_ccxt_clients_stay_inside_the_budget_at_the_simulator(
    budget_settings,
):
    from simulator.testing import run_in_thread

    # 150 weight per second, 30 at once: 120 per second refill for the three processes.
    # Each ccxt client alone paces itself to 100 weight/s: without the shared budget the
    # three would send about 300.
    window = {"limit": 150, "seconds": 1, "burst": 30}
    saturated_key = f"{{{budget_settings}}}:saturated"
    with (
        run_in_thread(seed=1, paused=True) as handle,
        override_settings(
            SIMULATOR_URL=handle.url,
            EXCHANGE_RATE_LIMITS={"binance:spot": {"weight": [window]}},
        ),
    ):
        venue = handle.control("POST", "/accounts", {"spot": {"USDT": "100000"}})
        account = ExchangeAccountFactory(
            mode="simulator", api_key=venue["api_key"], api_secret=venue["secret"]
        )
        order_client = gateway.build_client(account, priority="orders")
        order_client.load_markets()
        barrier = FORK.Barrier(3)
        processes = [
            FORK.Process(target=_hammer_simulator, args=(account, barrier, 2.0, saturated_key))
            for _ in range(3)
        ]
        start_ms = time.time_ns() // 1_000_000
        for process in processes:
            process.start()
        try:
            assert blocking_redis().blpop([saturated_key], timeout=10), "sync never waited"
            order_grants = []
            throttle = order_client.throttle
            order_client.throttle = lambda cost=None: order_grants.append(throttle(cost))
            order = order_client.create_order("BTC/USDT", "market", "buy", 0.001)
        finally:
            for process in processes:
                process.join(JOIN_TIMEOUT)
        end_ms = time.time_ns() // 1_000_000
        weights = weight_per_window(handle, start_ms, end_ms, window["seconds"])

    assert [process.exitcode for process in processes] == [0, 0, 0]
    assert order["status"] == "closed"
    assert [grant.waited for grant in order_grants] == [0]  # sent while sync was waiting
    rate = (window["limit"] - window["burst"]) / window["seconds"]
    # A request reaches the simulator a few ms after its grant; 100 ms of that jitter is
    # allowed for (its refill), nothing more.
    assert max(weights) <= window["limit"] + rate * 0.1
    assert max(weights) >= 0.7 * window["limit"]  # the budget, not the workers, was the limit
