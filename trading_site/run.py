"""`python -m trading_site.run` (what `make run` calls): the whole platform in one terminal.

Starts an embedded Redis when REDIS_URL is unset, migrates, makes sure a demo admin user
exists, then runs web (daphne), the Celery workers (one for orders, one for the rest),
Celery beat, the streams process and, once the `simulator` package exists, the exchange
simulator - each in its own process group, its output prefixed with its name. Ctrl-C or
SIGTERM stops them all (SIGTERM to each group, a deadline, then SIGKILL); a child that
dies on its own stops everything with a non-zero exit naming it.
"""

from __future__ import annotations

import argparse
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TextIO

BASE_DIR = Path(__file__).resolve().parent.parent
WEB_HOST, WEB_PORT = "127.0.0.1", 8000
SIMULATOR_PORT = 8765
# Orders get a worker of their own: in a worker that also takes sync and strategy tasks,
# an order waits whenever every pool process is busy with one (an exchange call that
# times out holds one for 10 s). Two pool processes each: this runs on small machines
# next to web, beat, streams and the database.
ORDERS_WORKER_QUEUES = "orders"
WORKER_QUEUES = "sync,strategies,default"
WORKER_CONCURRENCY = 2
STOP_DEADLINE_SECONDS = 15.0
DEMO_ADMIN_USERNAME = "admin"
REDIS_URL_MARKER = "EMBEDDED_REDIS_URL="


@dataclass
class Child:
    name: str
    argv: list[str]
    proc: subprocess.Popen
    pump: threading.Thread
    expected_exit: bool = False

    @property
    def pgid(self) -> int:
        # start_new_session makes the child the leader of a group with its own pid.
        return self.proc.pid


@dataclass
class Supervisor:
    """Children in their own process groups, with name-prefixed output."""

    env: dict[str, str]
    output: TextIO = field(default_factory=lambda: sys.stdout)
    cwd: Path = BASE_DIR
    children: list[Child] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def say(self, message: str, *, name: str = "run") -> None:
        with self._lock:
            self.output.write(f"{name:<9}| {message}\n")
            self.output.flush()

    def start(
        self, name: str, argv: list[str], *, on_line: Callable[[str], None] | None = None
    ) -> Child:
        proc = subprocess.Popen(  # noqa: S603 - argv is built here, never from input
            argv,
            cwd=self.cwd,
            env=self.env,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            errors="replace",
            # Its own process group: a terminal's Ctrl-C reaches only us, and stopping a
            # child signals the whole group, Celery's pool processes included.
            start_new_session=True,
        )
        pump = threading.Thread(
            target=self._pump, args=(name, proc.stdout, on_line), daemon=True, name=name
        )
        pump.start()
        child = Child(name=name, argv=argv, proc=proc, pump=pump)
        self.children.append(child)
        return child

    def _pump(self, name: str, stream: TextIO, on_line: Callable[[str], None] | None) -> None:
        for line in stream:
            line = line.rstrip("\n")
            if on_line is not None:
                on_line(line)
            self.say(line, name=name)

    def first_dead(self) -> Child | None:
        """A child that exited although nobody asked it to, if any."""
        for child in self.children:
            if not child.expected_exit and child.proc.poll() is not None:
                return child
        return None

    def stop(self, children: list[Child], deadline_seconds: float = STOP_DEADLINE_SECONDS) -> None:
        """SIGTERM each child's group, wait until the groups are empty, SIGKILL what is left."""
        started = time.monotonic()
        for child in children:
            child.expected_exit = True
        # Only groups that still have a member: a finished child's pid may be reused.
        running = [child for child in children if _alive(child)]
        for child in running:
            _signal_group(child.pgid, signal.SIGTERM)
        running = self._wait_gone(running, started, deadline_seconds)
        for child in running:
            self.say(f"{child.name} did not stop in {deadline_seconds:.0f} s: killing it")
            _signal_group(child.pgid, signal.SIGKILL)
        self._wait_gone(running, started, 5)
        for child in children:
            child.pump.join(timeout=1)

    def _wait_gone(self, children: list[Child], started: float, seconds: float) -> list[Child]:
        """Wait up to ``seconds`` for the children's groups to empty; return those left."""
        running = list(children)
        deadline = time.monotonic() + seconds
        while running and time.monotonic() < deadline:
            time.sleep(0.1)
            for child in [child for child in running if not _alive(child)]:
                running.remove(child)
                self.say(
                    f"{child.name} stopped (exit code {child.proc.returncode}) "
                    f"after {time.monotonic() - started:.1f} s"
                )
        return running

    def stop_all(self, deadline_seconds: float = STOP_DEADLINE_SECONDS) -> None:
        # Services first, infrastructure (the embedded Redis, started first) last, so the
        # worker can finish its shutdown while the broker still answers.
        services = [c for c in self.children if c.name != "redis"]
        self.stop(services, deadline_seconds)
        self.stop([c for c in self.children if c.name == "redis"], deadline_seconds)


def _signal_group(pgid: int, sig: signal.Signals) -> None:
    try:
        os.killpg(pgid, sig)
    except ProcessLookupError:
        pass


def _alive(child: Child) -> bool:
    """The leader not yet reaped, or any process left in its group (e.g. pool processes)."""
    return child.proc.poll() is None or group_alive(child.pgid)


def group_alive(pgid: int) -> bool:
    """Whether a process group still has a live (not zombie) member.

    A killed grandchild whose parent is gone waits, a zombie, for init to reap it - and
    some container inits never do - so a group of zombies counts as gone.
    """
    proc = Path("/proc")
    if not proc.is_dir():  # not Linux: zombies are counted, init is expected to reap
        try:
            os.killpg(pgid, 0)
        except ProcessLookupError:
            return False
        return True
    for stat in proc.glob("[0-9]*/stat"):
        try:
            # "pid (command) state ppid pgrp ...": the command may hold spaces and ")".
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except (OSError, IndexError):
            continue
        if int(fields[2]) == pgid and fields[0] not in ("Z", "X"):
            return True
    return False


def _exit_description(returncode: int) -> str:
    if returncode < 0:
        return f"was killed by {signal.Signals(-returncode).name}"
    return f"exited unexpectedly with exit code {returncode}"


def _worker(celery: list[str], queues: str, hostname: str) -> list[str]:
    return [
        *celery,
        "worker",
        "--loglevel",
        "INFO",
        "--queues",
        queues,
        "--concurrency",
        str(WORKER_CONCURRENCY),
        "--hostname",
        hostname,
        "--without-mingle",
        "--without-gossip",
    ]


def service_commands(python: str, base_dir: Path = BASE_DIR) -> dict[str, list[str]]:
    """The long-running processes, by name. The simulator only once its package exists."""
    celery = [python, "-m", "celery", "-A", "trading_site"]
    commands = {
        "web": [
            python,
            "-m",
            "daphne",
            "-b",
            WEB_HOST,
            "-p",
            str(WEB_PORT),
            "trading_site.asgi:application",
        ],
        "orders-worker": _worker(celery, ORDERS_WORKER_QUEUES, "orders@%h"),
        "worker": _worker(celery, WORKER_QUEUES, "worker@%h"),
        "beat": [
            *celery,
            "beat",
            "--loglevel",
            "INFO",
            "--scheduler",
            "django_celery_beat.schedulers:DatabaseScheduler",
        ],
        "streams": [python, "manage.py", "streams"],
    }
    if (base_dir / "simulator" / "__main__.py").exists():
        # Its state under var/ as an exchange keeps its own: a second `make run` finds the
        # demo accounts' orders, trades and balances, and order ids never start over.
        state = Path(os.environ.get("VAR_DIR") or base_dir / "var") / "simulator"
        commands["simulator"] = [
            python, "-m", "simulator", "--port", str(SIMULATOR_PORT), "--state-dir", str(state),
        ]  # fmt: skip
    return commands


class Platform:
    def __init__(self, supervisor: Supervisor):
        self.supervisor = supervisor
        self.stopping = threading.Event()
        self.python = sys.executable

    def say(self, message: str) -> None:
        self.supervisor.say(message)

    def request_stop(self, signum: int, frame: object) -> None:
        if not self.stopping.is_set():
            self.say(f"{signal.Signals(signum).name} received: stopping everything")
        self.stopping.set()

    def run(self) -> int:
        try:
            return self._run()
        finally:
            self.supervisor.stop_all()
            self.say("all processes stopped")

    def _run(self) -> int:
        env = self.supervisor.env
        if env.get("REDIS_URL"):
            self.say("using REDIS_URL from the environment")
        else:
            url = self._start_embedded_redis()
            if url is None:
                return 0 if self.stopping.is_set() else 1
            env["REDIS_URL"] = url
            self.say(f"embedded Redis at {url} (REDIS_URL exported to every process)")
        self.say(
            "database: "
            + ("DATABASE_URL from the environment" if env.get("DATABASE_URL") else "SQLite")
        )
        for name, argv in (
            ("migrate", [self.python, "manage.py", "migrate", "--noinput"]),
            ("admin", [self.python, "-m", "trading_site.run", "--ensure-admin"]),
        ):
            code = self._run_step(name, argv)
            if code != 0:
                return 0 if self.stopping.is_set() else 1
        commands = service_commands(self.python)
        if "simulator" not in commands:
            self.say("simulator/__main__.py does not exist yet: not starting the simulator")
        for name, argv in commands.items():
            self.supervisor.start(name, argv)
        if "simulator" in commands and self._simulator_answers():
            # The simulator starts empty: register the simulator-mode accounts' keys (and
            # give the demo admin a funded spot and futures account the first time).
            self._run_step(
                "accounts",
                [self.python, "manage.py", "simulator_accounts", "--demo", DEMO_ADMIN_USERNAME],
            )
        self.say(
            f"started {', '.join(commands)}: dashboard http://{WEB_HOST}:{WEB_PORT}/, admin "
            f"http://{WEB_HOST}:{WEB_PORT}/admin/, health "
            f"http://{WEB_HOST}:{WEB_PORT}/healthz - Ctrl-C stops everything"
        )
        while not self.stopping.wait(0.2):
            dead = self.supervisor.first_dead()
            if dead is not None:
                self.say(
                    f"{dead.name} {_exit_description(dead.proc.returncode)}: stopping everything"
                )
                return 1
        return 0

    def _simulator_answers(self, seconds: float = 30) -> bool:
        import urllib.error
        import urllib.request

        url = f"http://127.0.0.1:{SIMULATOR_PORT}/_sim/state"
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline and not self.stopping.is_set():
            try:
                with urllib.request.urlopen(url, timeout=1):
                    return True
            except (urllib.error.URLError, OSError):
                self.stopping.wait(0.2)
        self.say("the simulator did not answer: simulator accounts not registered")
        return False

    def _start_embedded_redis(self) -> str | None:
        found: list[str] = []
        ready = threading.Event()

        def on_line(line: str) -> None:
            if line.startswith(REDIS_URL_MARKER):
                found.append(line.removeprefix(REDIS_URL_MARKER))
                ready.set()

        child = self.supervisor.start(
            "redis", [self.python, "-m", "trading_site.run", "--embedded-redis"], on_line=on_line
        )
        deadline = time.monotonic() + 30
        while not ready.wait(0.1):
            if self.stopping.is_set():
                return None
            if child.proc.poll() is not None or time.monotonic() > deadline:
                self.say("the embedded Redis did not start; set REDIS_URL to use a Redis server")
                return None
        return found[0]

    def _run_step(self, name: str, argv: list[str]) -> int:
        child = self.supervisor.start(name, argv)
        child.expected_exit = True
        while child.proc.poll() is None:
            if self.stopping.wait(0.1):
                return 1
        child.pump.join(timeout=5)
        if child.proc.returncode != 0:
            self.say(f"{name} failed with exit code {child.proc.returncode}")
        return child.proc.returncode


def serve_embedded_redis() -> None:
    """Child mode: run one embedded Redis (stopped at exit) until SIGTERM or SIGINT."""
    from common.embedded_redis import ensure_redis_url

    var_dir = Path(os.environ.get("VAR_DIR") or BASE_DIR / "var")
    stopping = []
    # Handlers, not a blocked signal mask: a mask would be inherited by redis-server.
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda signum, frame: stopping.append(signum))
    os.environ.pop("REDIS_URL", None)
    print(f"{REDIS_URL_MARKER}{ensure_redis_url(var_dir)}", flush=True)  # noqa: T201
    while not stopping:
        signal.pause()
    # Returning runs embedded_redis's atexit hook, which stops the server.


def ensure_demo_admin() -> None:
    """Child mode: create the demo superuser once, printing its generated password once."""
    import secrets

    import django

    django.setup()
    from django.contrib.auth import get_user_model

    user_model = get_user_model()
    login_url = f"http://{WEB_HOST}:{WEB_PORT}/admin/"
    if user_model.objects.filter(username=DEMO_ADMIN_USERNAME).exists():
        print(  # noqa: T201
            f"demo admin user {DEMO_ADMIN_USERNAME!r} exists; log in at {login_url} "
            "(its password was shown once, when it was created; to set a new one: "
            f".venv/bin/python manage.py changepassword {DEMO_ADMIN_USERNAME})"
        )
        return
    password = secrets.token_urlsafe(12)
    user_model.objects.create_superuser(DEMO_ADMIN_USERNAME, "admin@localhost", password)
    path = write_admin_password(password)
    print(  # noqa: T201
        f"created the demo admin user - log in at {login_url} as {DEMO_ADMIN_USERNAME!r} "
        f"with the password in {path} (readable only by you; delete it once you have "
        "logged in - it is stored only hashed)."
    )


def write_admin_password(password: str) -> Path:
    """The demo admin's password in ``var/admin-password`` (0600, var/ 0700), never on
    the console: `make run`'s output is often kept (a terminal's scrollback, `make run >
    log`, CI), and the supervisor pipes every child's output, so a TTY test here could
    not tell a terminal from a log file."""
    from common.keys import private_dir

    path = private_dir(Path(os.environ.get("VAR_DIR") or BASE_DIR / "var")) / "admin-password"
    path.unlink(missing_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as handle:
        handle.write(password + "\n")
    return path


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m trading_site.run", description=__doc__)
    mode = parser.add_mutually_exclusive_group()
    mode.add_argument("--embedded-redis", action="store_true", help=argparse.SUPPRESS)
    mode.add_argument("--ensure-admin", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "trading_site.settings.local")
    if args.embedded_redis:
        serve_embedded_redis()
        return 0
    if args.ensure_admin:
        ensure_demo_admin()
        return 0

    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    platform = Platform(Supervisor(env=env))
    signal.signal(signal.SIGINT, platform.request_stop)
    signal.signal(signal.SIGTERM, platform.request_stop)
    return platform.run()


if __name__ == "__main__":
    sys.exit(main())
