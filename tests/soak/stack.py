"""The platform's processes for the soak, each restartable after a SIGKILL."""

from __future__ import annotations

import os
import signal
import sys
from pathlib import Path

from trading_site.run import Child, Supervisor

ROOT = Path(__file__).resolve().parents[2]
PYTHON = sys.executable

# What the soak kills while it runs (the simulator stands for the exchange: never killed).
KILLABLE = ("orders-worker", "worker", "streams", "web")


def _celery_worker(name: str, queues: str) -> list[str]:
    return [PYTHON, "-m", "celery", "-A", "trading_site", "worker", "--pool", "prefork",
            "--concurrency", "2", "--queues", queues, "--hostname", f"soak-{name}-{os.getpid()}@%h",
            "--without-mingle", "--without-gossip", "--loglevel", "INFO"]  # fmt: skip


class Stack:
    """Web, two workers, beat, streams and the simulator under one supervisor; output to
    ``log_path``. ``kill(name)`` SIGKILLs a process group and ``start(name)`` brings the
    process back, as a supervisor (systemd, Kubernetes) would."""

    def __init__(self, env: dict[str, str], log_path: Path, *, sim_port: int, web_port: int):
        self.log = log_path.open("w")
        self.supervisor = Supervisor(env=env, output=self.log, cwd=ROOT)
        self.sim_url = f"http://127.0.0.1:{sim_port}"
        self.web_port = web_port
        self.argv = {
            "simulator": [PYTHON, "-m", "simulator", "--port", str(sim_port), "--seed", "11",
                          "--log-level", "WARNING"],
            "web": [PYTHON, "-m", "daphne", "-b", "127.0.0.1", "-p", str(web_port),
                    "trading_site.asgi:application"],
            "orders-worker": _celery_worker("orders", "orders"),
            "worker": _celery_worker("worker", "sync,strategies,default"),
            "beat": [PYTHON, "-m", "celery", "-A", "trading_site", "beat", "--scheduler",
                     "django_celery_beat.schedulers:DatabaseScheduler", "--loglevel", "WARNING",
                     "--schedule", str(log_path.parent / "beat-schedule")],
            "streams": [PYTHON, "manage.py", "streams"],
        }  # fmt: skip
        self.running: dict[str, Child] = {}

    def start(self, name: str) -> None:
        self.running[name] = self.supervisor.start(name, self.argv[name])

    def kill(self, name: str) -> None:
        child = self.running[name]
        child.expected_exit = True
        try:
            os.killpg(child.pgid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        child.proc.wait(timeout=10)

    def dead(self) -> str | None:
        """The name of a process that died although nobody killed it, if any."""
        child = self.supervisor.first_dead()
        return child.name if child is not None else None

    def tail(self, lines: int = 40) -> str:
        self.log.flush()
        text = Path(self.log.name).read_text(errors="replace").splitlines()[-lines:]
        return "\n  ".join(text)

    def stop(self) -> None:
        self.supervisor.stop_all(deadline_seconds=15)
        self.log.close()
