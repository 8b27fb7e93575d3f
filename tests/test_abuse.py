"""A bounded abuse run against the real web process (daphne on its request threads).

For ABUSE_SECONDS, several threads flood it with what an attacker sends for free: bad
webhook alerts (wrong secret, unknown source, malformed, deeply nested and NUL-laden JSON,
bodies past the upload limit) and wrong logins on the dashboard, the admin and the token
endpoint - from one address (locked out and throttled) and from rotating addresses behind
the proxy (each one new, so nothing locks: every attempt checks a password). Meanwhile
another user reads their orders through the API, as a trading bot does.

It holds when nothing was stored (no signal, order, user, session, token...), no answer
was a 5xx or a dropped connection, the limits answered 429 where they apply, and the
user's order reads stayed answered, with their p99 under P99_BOUND. The figures are
printed (`pytest -s`).
"""

from __future__ import annotations

import http.client
import json
import os
import random
import statistics
import string
import subprocess
import sys
import threading
import time
import urllib.parse
import uuid
from collections import Counter, defaultdict
from dataclasses import dataclass, field

import pytest

from common.testing import poll_until
from tests.conftest import BASE_DIR, free_port, stop_process_group

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]

ABUSE_SECONDS = float(os.environ.get("ABUSE_SECONDS", "25"))
FLOOD_THREADS = 6
# The order reads' p99 under the flood. Measured on this project's 2-core machine, shared
# with PostgreSQL, Redis, the flood's own threads and other test runs: 213-450 ms (quiet:
# 37-96 ms; before password checks were bounded, 5.3 s). Twice the worst seen, and more.
P99_BOUND = 1.0
LOGIN_FAILURE_LIMIT = 10  # the default (settings: LOGIN_FAILURE_LIMIT)
WEBHOOK_RATE = 600  # per source and minute, the default (WEBHOOK_RATE_PER_SOURCE)

JSON = {"Content-Type": "application/json"}
NESTED_ARRAY = "[" * 50_000 + "]" * 50_000
NESTED_OBJECT = '{"a":' * 20_000 + "1" + "}" * 20_000
HUGE = json.dumps({"secret": "guess", "padding": "x" * 3_000_000})  # past the 2.5 MB limit


DAPHNE = [sys.executable, "-m", "daphne", "-b", "127.0.0.1"]


@pytest.fixture(scope="module")
def web(subprocess_env, tmp_path_factory):
    """daphne serving trading_site.asgi as production runs it - its request threads, one
    proxy in front whose X-Forwarded-For it trusts, passwords hashed as production hashes
    them (a wrong login costs what it costs there); yields its port."""
    port = free_port()
    log_path = tmp_path_factory.mktemp("daphne") / "daphne.log"
    env = {
        **subprocess_env,
        "TRUSTED_PROXY_COUNT": "1",
        "LOG_LEVEL": "WARNING",
        "TEST_PRODUCTION_PASSWORD_HASHING": "1",
    }
    with log_path.open("a") as log:
        proc = subprocess.Popen(  # noqa: S603
            [*DAPHNE, "-p", str(port), "trading_site.asgi:application"],
            cwd=BASE_DIR,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )

    def answering() -> bool:
        if proc.poll() is not None:
            pytest.fail(f"daphne exited early:\n{log_path.read_text()}")
        try:
            return Http(port).request("GET", "/login/")[0] == 200
        except OSError:
            return False

    try:
        poll_until(answering, timeout=60, message="daphne to answer")
        yield port
    finally:
        stop_process_group(proc)


class Http:
    """One keep-alive connection, as a client library keeps one."""

    def __init__(self, port: int):
        self.port = port
        self.conn: http.client.HTTPConnection | None = None

    def close(self) -> None:
        if self.conn is not None:
            self.conn.close()
            self.conn = None

    def request(self, method, path, body=None, headers=None) -> tuple[int | str, float]:
        """(status, seconds); the status is the error's name when no answer came. A
        keep-alive connection the server closed meanwhile is opened again once."""
        for attempt in (1, 2):
            if self.conn is None:
                self.conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=30)
            started = time.perf_counter()
            try:
                self.conn.request(method, path, body=body, headers=headers or {})
                response = self.conn.getresponse()
                response.read()
            except (http.client.RemoteDisconnected, ConnectionResetError, BrokenPipeError) as exc:
                self.close()
                if attempt == 2:
                    return type(exc).__name__, time.perf_counter() - started
                continue
            except (TimeoutError, OSError, http.client.HTTPException) as exc:
                self.close()
                return type(exc).__name__, time.perf_counter() - started
            if response.will_close:
                self.close()
            return response.status, time.perf_counter() - started
        raise AssertionError("unreachable")


@dataclass
class Shape:
    name: str
    allowed: set[int]  # the answers it may get
    send: object  # (Http, random.Random) -> status


@dataclass
class Tally:
    statuses: dict[str, Counter] = field(default_factory=lambda: defaultdict(Counter))
    lock: threading.Lock = field(default_factory=threading.Lock)

    def add(self, shape: str, status) -> None:
        with self.lock:
            self.statuses[shape][status] += 1


def _form(**fields) -> tuple[str, dict]:
    # CSRF: a cookie and the same value in the form is all Django compares - an attacker
    # needs no page load to get past it, so the flood does not do one either.
    token = "".join(random.choices(string.ascii_letters + string.digits, k=32))
    body = urllib.parse.urlencode({"csrfmiddlewaretoken": token, **fields})
    headers = {
        "Content-Type": "application/x-www-form-urlencoded",
        "Cookie": f"csrftoken={token}",
    }
    return body, headers


def _elsewhere(rng) -> dict:
    """A new address each time, as the proxy in front reports it."""
    return {"X-Forwarded-For": f"10.{rng.randrange(256)}.{rng.randrange(256)}.{rng.randrange(256)}"}


def shapes(*, source_id: int, victim: str, staff: str) -> list[Shape]:
    hook = f"/api/webhooks/tradingview/{source_id}/"
    alert = {"secret": "guess", "ticker": "BTCUSDT", "action": "buy", "id": "abuse"}

    def post(path, body, headers=JSON):
        return lambda http, rng: http.request("POST", path, body, headers)[0]

    def unknown_source(http, rng):
        path = f"/api/webhooks/tradingview/{rng.randrange(10**6, 10**9)}/"
        return http.request("POST", path, json.dumps(alert), JSON)[0]

    def login(path, extra=None, rotate=False):
        def send(http, rng):
            user = victim if rng.random() < 0.5 else f"nobody{rng.randrange(10**6)}"
            body, headers = _form(username=user, password="wrong-password", **(extra or {}))
            if rotate:
                headers |= _elsewhere(rng)
            return http.request("POST", path, body, headers)[0]

        return send

    def token(rotate=False):
        def send(http, rng):
            user = staff if rng.random() < 0.5 else f"nobody{rng.randrange(10**6)}"
            body = json.dumps({"username": user, "password": "wrong-password"})
            headers = JSON | (_elsewhere(rng) if rotate else {})
            return http.request("POST", "/api/tokens/", body, headers)[0]

        return send

    def wrong_api_token(http, rng):
        key = f"{rng.getrandbits(160):040x}"
        return http.request("GET", "/api/orders/", None, {"Authorization": f"Token {key}"})[0]

    nul = json.dumps({"secret": "guess\u0000", "ticker": "BTC\u0000USDT", "action": "buy"})
    return [
        Shape("webhook wrong secret", {403, 429}, post(hook, json.dumps(alert))),
        Shape("webhook unknown source", {403, 429}, unknown_source),
        Shape("webhook malformed JSON", {400, 429}, post(hook, '{"secret": "guess", "ti')),
        Shape("webhook not an object", {403, 429}, post(hook, "[1, 2, 3]")),
        Shape("webhook nested array", {400, 429}, post(hook, NESTED_ARRAY)),
        Shape("webhook nested object", {400, 429}, post(hook, NESTED_OBJECT)),
        Shape("webhook NUL in strings", {400, 403, 429}, post(hook, nul)),
        Shape("webhook raw NUL byte", {400, 429}, post(hook, b'{"secret": "\x00guess"}')),
        Shape("webhook huge body", {400, 413, 429}, post(hook, HUGE)),
        Shape("dashboard login", {200, 429}, login("/login/")),
        Shape("admin login", {200, 429}, login("/admin/login/", {"next": "/admin/"})),
        Shape("token endpoint", {401, 429}, token()),
        Shape("token nested", {400, 429}, post("/api/tokens/", NESTED_OBJECT)),
        Shape("wrong API token", {401}, wrong_api_token),
        # From rotating addresses: never locked out by address, rarely by user name.
        Shape("dashboard login, many addresses", {200, 429}, login("/login/", rotate=True)),
        Shape("token endpoint, many addresses", {401, 429}, token(rotate=True)),
    ]


def _counts() -> dict[str, int]:
    from django.contrib.auth import get_user_model
    from django.contrib.sessions.models import Session

    from accounts.models import Alert, ApiToken, ExchangeAccount
    from orders.models import Fill, Order, OrderEvent
    from risk.models import RiskDecision
    from strategies.models import Signal, SignalSource

    models = [get_user_model(), Session, ApiToken, ExchangeAccount, Alert, Order, OrderEvent]
    models += [Fill, RiskDecision, Signal, SignalSource]
    return {model.__name__: model.objects.count() for model in models}


def _percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))]


def _read_orders(port: int, key: str, stop: threading.Event, latencies: list, answers: Counter):
    http = Http(port)
    headers = {"Authorization": f"Token {key}"}
    while not stop.is_set():
        status, seconds = http.request("GET", "/api/orders/", None, headers)
        latencies.append(seconds)
        answers[status] += 1
        stop.wait(0.05)  # a bot polling 20 times a second, not a flood of its own
    http.close()


def _flood(port, all_shapes, seed, deadline, tally: Tally):
    rng = random.Random(seed)
    http = Http(port)
    while time.monotonic() < deadline:
        shape = rng.choice(all_shapes)
        tally.add(shape.name, shape.send(http, rng))
    http.close()


def test_a_flood_of_bad_alerts_and_logins_stores_nothing_and_orders_stay_answered(web):
    from accounts.services import api_token_create
    from accounts.tests.factories import ExchangeAccountFactory, UserFactory
    from orders.tests.factories import OrderFactory
    from strategies import services as strategy_services
    from strategies.models import SignalSource

    port = web
    victim = UserFactory(username=f"trader-{uuid.uuid4().hex[:6]}")
    staff = UserFactory(username=f"admin-{uuid.uuid4().hex[:6]}", is_staff=True)
    account = ExchangeAccountFactory(owner=victim, mode="paper")
    OrderFactory.create_batch(30, account=account)
    _, key = api_token_create(user=victim, name="bot")
    source = SignalSource.objects.create(owner=victim, name="tv", kind="webhook", account=account)
    strategy_services.source_set_secret(source=source)
    all_shapes = shapes(source_id=source.pk, victim=victim.username, staff=staff.username)
    before = _counts()

    # The order reads on a quiet server first: what the flood is measured against.
    quiet, quiet_answers = [], Counter()
    stop = threading.Event()
    reader = threading.Thread(target=_read_orders, args=(port, key, stop, quiet, quiet_answers))
    reader.start()
    poll_until(lambda: len(quiet) >= 60, timeout=60, message="60 quiet order reads")
    stop.set()
    reader.join()

    latencies, answers, tally = [], Counter(), Tally()
    stop = threading.Event()
    reader = threading.Thread(target=_read_orders, args=(port, key, stop, latencies, answers))
    deadline = time.monotonic() + ABUSE_SECONDS
    flooders = [
        threading.Thread(target=_flood, args=(port, all_shapes, seed, deadline, tally))
        for seed in range(FLOOD_THREADS)
    ]
    reader.start()
    for thread in flooders:
        thread.start()
    for thread in flooders:
        thread.join(timeout=ABUSE_SECONDS + 120)
    stop.set()
    reader.join(timeout=60)
    after = _counts()

    total = sum(sum(c.values()) for c in tally.statuses.values())
    report = [f"flood: {total} requests in {ABUSE_SECONDS:.0f} s from {FLOOD_THREADS} threads"]
    for shape in all_shapes:
        statuses = dict(sorted(tally.statuses[shape.name].items(), key=str))
        report.append(f"  {shape.name:34} {statuses}")
    for label, values in (("quiet", quiet), ("under flood", latencies)):
        report.append(
            f"order reads {label}: {len(values)}, p50 {statistics.median(values) * 1000:.1f} ms,"
            f" p99 {_percentile(values, 0.99) * 1000:.1f} ms, max {max(values) * 1000:.1f} ms"
        )
    print("\n" + "\n".join(report))  # noqa: T201 - the figures are this test's output

    assert not any(thread.is_alive() for thread in flooders)
    # A flood, even on a loaded machine (860 in 25 s measured at a load average of 10).
    assert total >= 20 * ABUSE_SECONDS
    # Nothing was stored: no signal, order, user, session, token or alert.
    assert after == before
    # Every answer is one the shape may get: no 5xx, no dropped connection.
    unexpected = {
        shape.name: dict(tally.statuses[shape.name])
        for shape in all_shapes
        if set(tally.statuses[shape.name]) - shape.allowed
    }
    assert unexpected == {}
    # The limits answered: one address is locked out of every login after the limit...
    for name in ("dashboard login", "admin login", "token endpoint"):
        statuses = tally.statuses[name]
        if sum(statuses.values()) > LOGIN_FAILURE_LIMIT:
            assert statuses[429] > 0, (name, statuses)
    # ... and one webhook source takes no more than its rate (counted per minute window:
    # over two windows' worth of alerts at it, one window must have overflowed).
    at_source = [s.name for s in all_shapes if s.name.startswith("webhook ")]
    at_source.remove("webhook unknown source")
    if sum(sum(tally.statuses[name].values()) for name in at_source) > 2 * WEBHOOK_RATE:
        assert sum(tally.statuses[name][429] for name in at_source) > 0
    # The other user's reads were all answered, in time.
    assert set(answers) == {200}, answers
    assert _percentile(latencies, 0.99) < P99_BOUND


@pytest.mark.parametrize(
    ("path", "body"),
    [
        ("webhook", NESTED_ARRAY),
        ("webhook", NESTED_OBJECT),
        ("/api/tokens/", NESTED_OBJECT),
    ],
    ids=["webhook nested array", "webhook nested object", "token nested"],
)
def test_deeply_nested_json_is_refused_with_a_400(client, path, body):
    from accounts.tests.factories import UserFactory
    from strategies.models import SignalSource

    if path == "webhook":
        source = SignalSource.objects.create(owner=UserFactory(), name="tv", kind="webhook")
        path = f"/api/webhooks/tradingview/{source.pk}/"
    client.raise_request_exception = False

    response = client.post(path, data=body, content_type="application/json")

    assert response.status_code == 400
