"""``--state-dir``: the simulator keeps its state across restarts, as an exchange does."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from simulator.client import simulator_client

ROOT = Path(__file__).resolve().parents[2]
SPOT, SWAP = "BTC/USDT", "BTC/USDT:USDT"


def _port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class Running:
    """``python -m simulator`` as its own process on a state directory."""

    def __init__(self, state_dir: Path):
        self.port = _port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.proc = subprocess.Popen(  # noqa: S603 - our own module
            [sys.executable, "-m", "simulator", "--port", str(self.port), "--paused",
             "--state-dir", str(state_dir), "--log-level", "WARNING"],
            cwd=ROOT,
            start_new_session=True,
        )  # fmt: skip
        deadline = time.monotonic() + 20
        while not self._answers():
            if time.monotonic() > deadline or self.proc.poll() is not None:
                self.stop(signal.SIGKILL)
                pytest.fail("the simulator did not start")
            time.sleep(0.05)

    def _answers(self) -> bool:
        try:
            self.control("GET", "/state")
        except OSError:
            return False
        return True

    def control(self, method: str, path: str, body: dict | None = None):
        request = urllib.request.Request(  # noqa: S310 - loopback
            f"{self.url}/_sim{path}",
            data=json.dumps(body).encode() if body is not None else None,
            method=method,
            headers={"Content-Type": "application/json"},
        )
        with urllib.request.urlopen(request, timeout=5) as response:  # noqa: S310
            return json.loads(response.read())

    def client(self, account: dict, market_type: str):
        return simulator_client(
            self.url, market_type=market_type, api_key=account["api_key"], secret=account["secret"]
        )

    def stop(self, how: signal.Signals) -> None:
        os.killpg(self.proc.pid, how)
        self.proc.wait(timeout=20)


@pytest.mark.parametrize("how", [signal.SIGTERM, signal.SIGKILL])
def test_orders_trades_balances_and_id_counters_survive_a_restart(tmp_path, how):
    first = Running(tmp_path)
    account = first.control(
        "POST", "/accounts", {"spot": {"USDT": "100000"}, "futures": {"USDT": "10000"}}
    )
    spot, swap = first.client(account, "spot"), first.client(account, "swap")
    resting = spot.create_order(SPOT, "limit", "buy", 0.01, 50000)
    filled = spot.create_order(SPOT, "market", "buy", 0.02)
    swap.create_order(SWAP, "market", "buy", 0.01)
    before = first.control("GET", f"/accounts/{account['account_id']}")
    trades = spot.fetch_my_trades(SPOT)
    first.stop(how)  # SIGKILL too: every acknowledged request was saved before its answer

    second = Running(tmp_path)
    try:
        spot, swap = second.client(account, "spot"), second.client(account, "swap")
        assert second.control("GET", f"/accounts/{account['account_id']}") == before
        assert spot.fetch_order(resting["id"], SPOT)["status"] == "open"
        assert spot.fetch_order(filled["id"], SPOT)["filled"] == 0.02
        assert [t["id"] for t in spot.fetch_my_trades(SPOT)] == [t["id"] for t in trades]
        assert swap.fetch_positions([SWAP])[0]["contracts"] == 0.01

        again = spot.create_order(SPOT, "market", "buy", 0.01)
        assert int(again["id"]) > int(filled["id"])  # order ids go on, never reused
        newest = spot.fetch_my_trades(SPOT)[-1]
        assert int(newest["id"]) > max(int(t["id"]) for t in trades)
    finally:
        second.stop(signal.SIGTERM)


def test_an_unreadable_state_file_is_set_aside_and_the_simulator_starts_fresh(tmp_path):
    (tmp_path / "state.pickle").write_bytes(b"not a pickle")

    running = Running(tmp_path)
    try:
        assert running.control("GET", "/state")["ticks"] >= 0
        assert list(tmp_path.glob("state.pickle.unreadable-*"))
    finally:
        running.stop(signal.SIGTERM)


def test_kline_history_served_before_a_restart_is_served_after_it(tmp_path):
    def page(running: Running, **params) -> list:
        query = "&".join(f"{k}={v}" for k, v in params.items())
        url = f"{running.url}/api/v3/klines?symbol=BTCUSDT&{query}"
        with urllib.request.urlopen(url, timeout=30) as response:  # noqa: S310 - loopback
            return json.loads(response.read())

    first = Running(tmp_path)
    march = page(first, interval="1h", startTime=1_709_251_200_000, limit=1000)
    recent = page(first, interval="1m", limit=1000)
    first.stop(signal.SIGKILL)  # no request changed anything: the start itself was saved

    second = Running(tmp_path)
    try:
        assert page(second, interval="1h", startTime=1_709_251_200_000, limit=1000) == march
        since = recent[0][0]
        again = page(second, interval="1m", startTime=since, limit=len(recent) - 1)
        assert again == recent[:-1]  # all but the minute that was in progress
        assert recent[-2][4] == "60000.00000000"  # history's last close: the seam
    finally:
        second.stop(signal.SIGTERM)
