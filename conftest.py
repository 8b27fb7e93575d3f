"""Fixtures shared by every app's tests: users, accounts and the exchange simulator.

The simulator runs in-process on an ephemeral loopback port (one per test session);
each test gets fresh simulator accounts, so tests never see each other's orders.
"""

from __future__ import annotations

import pytest

from common.testing import poll_until


@pytest.fixture
def wait_for():
    """``wait_for(condition, timeout=..., message=...)``: poll with a deadline."""
    return poll_until


@pytest.fixture(scope="session")
def simulator():
    """The local Binance-compatible exchange, paused: tests move the market themselves."""
    from simulator.testing import run_in_thread

    handle = run_in_thread(seed=7, paused=True)
    yield handle
    handle.stop()


@pytest.fixture
def sim(simulator, settings):
    """The simulator, fresh for this test (no accounts, orders or faults; prices back at
    their start), paused, with the platform's gateway pointed at it."""
    import uuid

    from accounts import gateway

    settings.SIMULATOR_URL = simulator.url
    # Account ids repeat between tests (rolled back): each test gets its own budgets.
    settings.EXCHANGE_RATE_LIMIT_KEY_PREFIX = f"ratelimit-test-{uuid.uuid4().hex[:12]}"
    gateway.forget_all_clients()
    simulator.control("POST", "/reset", {"seed": 7})
    simulator.control("POST", "/pause")
    _forget_simulator_prices()
    yield simulator
    simulator.control("DELETE", "/faults")
    gateway.forget_all_clients()


def _forget_simulator_prices():
    """The cached last prices of the simulator's venues: a test that moved the market
    would otherwise leave its prices to the next (the risk gate and the order checks
    read them), while the simulator starts again from its own."""
    from types import SimpleNamespace

    from django.core.cache import cache

    from accounts import gateway

    cache.delete_many(
        [
            gateway.tickers_cache_key(
                SimpleNamespace(exchange_id="binance", mode="simulator", market_type=market)
            )
            for market in ("spot", "swap")
        ]
    )


@pytest.fixture
def make_sim_account(sim, db):
    """``make_sim_account(market_type="spot", spot={...}, futures={...}, owner=None)``:
    an ExchangeAccount on a fresh, funded simulator account."""
    from accounts.tests.factories import ExchangeAccountFactory, UserFactory

    def make(*, market_type="spot", spot=None, futures=None, owner=None, **fields):
        created = sim.control(
            "POST",
            "/accounts",
            {
                "spot": spot if spot is not None else {"USDT": "100000", "BTC": "10", "ETH": "100"},
                "futures": futures if futures is not None else {"USDT": "100000"},
                "can_withdraw": fields.pop("can_withdraw", False),
            },
        )
        account = ExchangeAccountFactory(
            owner=owner or UserFactory(),
            exchange_id="binance",
            mode="simulator",
            market_type=market_type,
            api_key=created["api_key"],
            api_secret=created["secret"],
            key_last4=created["api_key"][-4:],
            **fields,
        )
        account.sim_id = created["account_id"]
        return account

    return make


@pytest.fixture
def sim_client(sim):
    """``sim_client(account)``: a ccxt client on the account's own keys, outside the
    platform - for placing orders "by hand" on the venue."""
    from accounts.gateway import load_credentials
    from simulator.client import simulator_client

    def make(account):
        credentials = load_credentials(account)
        return simulator_client(
            sim.url,
            market_type=account.market_type,
            api_key=credentials.api_key,
            secret=credentials.secret,
        )

    return make


class RunningStream:
    """An account's websocket stream on its own event loop in a thread, as the streams
    process runs it (tests that use it need committed data: transaction=True)."""

    def __init__(self, account_id: int):
        import asyncio
        import threading

        from accounts.streams import AccountStream

        self.loop = asyncio.new_event_loop()
        self.stream = AccountStream(account_id)
        self.task = None
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self):
        import asyncio

        asyncio.set_event_loop(self.loop)
        self.task = self.loop.create_task(self.stream.run())
        try:
            self.loop.run_until_complete(self.task)
        except asyncio.CancelledError:
            pass
        finally:
            # The stream's database work ran in asgiref's worker thread: close its
            # connection there, or it keeps the test database from being dropped.
            from asgiref.sync import sync_to_async
            from django.db import connections

            self.loop.run_until_complete(sync_to_async(connections.close_all)())
            self.loop.close()

    def stop(self):
        self.loop.call_soon_threadsafe(self.task.cancel)
        self.thread.join(timeout=15)
        if self.thread.is_alive():
            pytest.fail("the account stream did not stop within 15 s")


@pytest.fixture
def running_stream():
    """``running_stream(account)``: start the account's stream; stopped after the test."""
    started = []

    def start(account):
        stream = RunningStream(account.pk)
        started.append(stream)
        return stream

    yield start
    for stream in started:
        stream.stop()


@pytest.fixture
def stream_state():
    """``stream_state(account)``: the account's stream ExchangeSyncState row, or None."""
    from accounts.models import ExchangeSyncState

    def state(account):
        return ExchangeSyncState.objects.filter(account=account, kind="stream").first()

    return state


class RunningMarkets:
    """The streams process's public market data (marketdata.streams.MarketStreams) on its
    own event loop in a thread (tests that use it need committed data: transaction=True)."""

    def __init__(self):
        import asyncio
        import threading

        from marketdata.streams import MarketStreams

        self.loop = asyncio.new_event_loop()
        self.streams = MarketStreams()
        self.stopping = None
        self.started = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()
        self.started.wait(timeout=5)

    def _run(self):
        import asyncio

        from asgiref.sync import sync_to_async
        from django.db import connections

        asyncio.set_event_loop(self.loop)
        self.stopping = asyncio.Event()
        self.started.set()
        try:
            self.loop.run_until_complete(self.streams.run(self.stopping))
        finally:
            self.loop.run_until_complete(sync_to_async(connections.close_all)())
            self.loop.close()

    def stop(self):
        self.loop.call_soon_threadsafe(self.stopping.set)
        self.thread.join(timeout=15)
        if self.thread.is_alive():
            pytest.fail("the market streams did not stop within 15 s")


@pytest.fixture
def running_markets():
    """``running_markets()``: start the market-data streams; stopped after the test."""
    started = []

    def start():
        started.append(RunningMarkets())
        return started[-1]

    yield start
    for markets in started:
        markets.stop()


class HeldJobs:
    """Exchange jobs the code under test queued (accounts.jobs), held instead of sent to
    the broker - no test worker consumes `sync`. ``run()`` does what the sync worker
    would: runs each, in order, in this process."""

    def __init__(self):
        self.held: list[tuple] = []
        self.queues: list[str] = []  # where each would have gone (the task routes)

    def publish(self, task, args: tuple) -> None:
        from trading_site.celery import app

        self.held.append((task, args))
        self.queues.append(app.amqp.router.route({}, task.name)["queue"].name)

    @property
    def names(self) -> list[str]:
        return [task.name for task, _ in self.held]

    def run(self) -> int:
        ran = 0
        while self.held:
            task, args = self.held.pop(0)
            task.apply(args=args, throw=True)
            ran += 1
        return ran


@pytest.fixture(autouse=True)
def exchange_jobs(monkeypatch):
    """``exchange_jobs.run()`` runs the exchange jobs requests queued; ``.held`` and
    ``.queues`` say which and where to. The jobs a test started are forgotten after it
    (their names are in the cache, shared by the tests of this process)."""
    from django.core.cache import cache

    from accounts import jobs

    held = HeldJobs()
    started: set[str] = set()
    start = jobs.job_start

    def job_start(*, name, **kwargs):
        started.add(name)
        return start(name=name, **kwargs)

    monkeypatch.setattr(jobs, "_publish", held.publish)
    monkeypatch.setattr(jobs, "job_start", job_start)
    yield held
    for name in started:
        record = cache.get(jobs._record_key(name))
        cache.delete_many([jobs._record_key(name), jobs._result_key(name)])
        if record and record.get("slot"):
            cache.delete(record["slot"])
