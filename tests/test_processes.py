"""The long-running processes: `manage.py streams` and the `make run` orchestrator."""

from __future__ import annotations

import io
import queue
import signal
import subprocess
import sys
import threading
from pathlib import Path

import pytest
from django.contrib.auth import get_user_model

from accounts.models import ExchangeAccount
from trading_site import run

BASE_DIR = Path(__file__).resolve().parent.parent


class LineReader:
    """Collects a process's output lines in a thread, so a test can wait for one."""

    def __init__(self, stream):
        self.lines: list[str] = []
        self._queue: queue.Queue[str] = queue.Queue()
        threading.Thread(target=self._read, args=(stream,), daemon=True).start()

    def _read(self, stream) -> None:
        for line in stream:
            self._queue.put(line)

    def seen(self, text: str) -> bool:
        while not self._queue.empty():
            self.lines.append(self._queue.get())
        return any(text in line for line in self.lines)


@pytest.mark.integration
@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT], ids=lambda s: s.name)
def test_streams_logs_active_accounts_and_exits_0_on(sig, subprocess_env, wait_for):
    owner = get_user_model().objects.create_user("streams-owner")
    account = ExchangeAccount.objects.create(
        owner=owner, exchange_id="binance", label="sim", mode=ExchangeAccount.Mode.SIMULATOR
    )
    proc = subprocess.Popen(
        [sys.executable, "manage.py", "streams", "--heartbeat", "0.2"],
        cwd=BASE_DIR,
        env=subprocess_env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        output = LineReader(proc.stdout)
        wait_for(lambda: output.seen("heartbeat 2:"), timeout=60, message="two heartbeats")

        proc.send_signal(sig)

        assert proc.wait(timeout=15) == 0
    finally:
        proc.kill()
        proc.wait()
    wait_for(lambda: output.seen("streams stopped"), timeout=5, message="the last line")
    assert output.seen(f"watching account {account.pk} (sim)")
    assert output.seen(f"streams stopped ({sig.name})")


def test_stop_all_leaves_no_process_of_any_child_group(wait_for):
    out = io.StringIO()
    supervisor = run.Supervisor(env={"PATH": "/usr/bin:/bin"}, output=out)
    # A shell with a grandchild, like Celery with its pool; and one whose whole group
    # ignores SIGTERM (the ignore is inherited by `sleep`), so only SIGKILL ends it.
    polite = supervisor.start("polite", ["sh", "-c", "sleep 300 & echo ready $!; wait"])
    stubborn = supervisor.start(
        "stubborn", ["sh", "-c", "trap '' TERM; sleep 300 & echo ready $!; wait"]
    )
    wait_for(lambda: out.getvalue().count("ready") == 2, timeout=10, message="both ready")
    grandchildren = [
        int(line.split()[-1]) for line in out.getvalue().splitlines() if "ready" in line
    ]

    supervisor.stop_all(deadline_seconds=1)

    for child in (polite, stubborn):
        assert child.proc.returncode is not None
        assert not run.group_alive(child.pgid), f"{child.name}'s group survived"
    for pid in grandchildren:
        assert not _running(pid)
    log = out.getvalue()
    assert "polite   | ready" in log
    assert "stubborn did not stop in 1 s: killing it" in log
    assert "polite did not stop" not in log


def test_a_child_that_dies_on_its_own_is_reported(wait_for):
    supervisor = run.Supervisor(env={"PATH": "/usr/bin:/bin"}, output=io.StringIO())
    supervisor.start("steady", ["sleep", "300"])
    supervisor.start("crasher", ["sh", "-c", "exit 3"])

    dead = wait_for(supervisor.first_dead, timeout=10, message="the crash to be seen")

    assert dead.name == "crasher"
    assert dead.proc.returncode == 3
    supervisor.stop_all(deadline_seconds=5)
    assert supervisor.first_dead() is None


def test_the_simulator_is_started_only_once_its_package_exists(tmp_path, monkeypatch):
    monkeypatch.delenv("VAR_DIR", raising=False)
    assert "simulator" not in run.service_commands("python", base_dir=tmp_path)

    (tmp_path / "simulator").mkdir()
    (tmp_path / "simulator" / "__main__.py").touch()
    commands = run.service_commands("python", base_dir=tmp_path)

    # Its state kept under var/, as an exchange keeps its own across restarts.
    state = str(tmp_path / "var" / "simulator")
    assert commands["simulator"] == [
        "python", "-m", "simulator", "--port", "8765", "--state-dir", state,
    ]  # fmt: skip
    assert set(commands) == {"web", "orders-worker", "worker", "beat", "streams", "simulator"}
    # Orders never wait behind sync or strategy tasks for a pool process.
    assert commands["orders-worker"][commands["orders-worker"].index("--queues") + 1] == "orders"
    assert commands["worker"][commands["worker"].index("--queues") + 1] == "sync,strategies,default"


def _running(pid: int) -> bool:
    """A process that exists and is not a zombie."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except FileNotFoundError:
        return False
    return state not in ("Z", "X")
