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
    yield simulator
    simulator.control("DELETE", "/faults")
    gateway.forget_all_clients()


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
