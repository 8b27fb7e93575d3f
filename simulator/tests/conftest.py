"""Fixtures: one simulator per test session on an ephemeral loopback port, reset per test.

The market is paused: tests move it with ``/_sim/price`` or ``/_sim/step``, never by waiting.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from decimal import Decimal
from typing import Any

import pytest

from simulator.client import simulator_client
from simulator.testing import SimulatorHandle, run_in_thread


@pytest.fixture(scope="session")
def simulator_server() -> Iterator[SimulatorHandle]:
    handle = run_in_thread(seed=1, paused=True)
    yield handle
    handle.stop()


@pytest.fixture
def sim(simulator_server: SimulatorHandle) -> SimulatorHandle:
    """The session's simulator, reset to a fresh venue (seed 1) and paused."""
    simulator_server.control("POST", "/pause")
    simulator_server.control("POST", "/reset", {"seed": 1})
    return simulator_server


@pytest.fixture
def make_account(sim: SimulatorHandle) -> Callable[..., dict[str, Any]]:
    def make(
        spot: dict[str, str] | None = None,
        futures: dict[str, str] | None = None,
        **extra: Any,
    ) -> dict[str, Any]:
        return sim.control(
            "POST", "/accounts", {"spot": spot or {}, "futures": futures or {}, **extra}
        )

    return make


@pytest.fixture
def make_client(sim: SimulatorHandle) -> Callable[..., Any]:
    def make(
        account: dict[str, Any] | None = None, market_type: str = "spot", **kwargs: Any
    ) -> Any:
        return simulator_client(
            sim.url,
            market_type=market_type,
            api_key=account["api_key"] if account else "",
            secret=account["secret"] if account else "",
            **kwargs,
        )

    return make


def state(sim: SimulatorHandle, account: dict[str, Any]) -> dict[str, Any]:
    return sim.control("GET", f"/accounts/{account['account_id']}")


def spot_balance(
    sim: SimulatorHandle, account: dict[str, Any], asset: str
) -> tuple[Decimal, Decimal]:
    row = state(sim, account)["spot"].get(asset, {"free": "0", "locked": "0"})
    return Decimal(row["free"]), Decimal(row["locked"])
