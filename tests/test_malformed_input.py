"""Malformed input answers a clear 4xx and writes nothing - never a 500.

Each shape here answered 500 (or silently meant something else) before: a page size past
2**63, ids in other scripts' digits, NUL characters in filters and JSON strings, and JSON
nested deeper than the parser's recursion limit - on the webhook too, where no login is
needed.
"""

from __future__ import annotations

from datetime import UTC, timedelta

import pytest
from django.utils import timezone
from rest_framework.test import APIClient

from accounts.models import Alert, BalanceSnapshot
from accounts.tests.factories import ExchangeAccountFactory, UserFactory
from orders.models import Order
from orders.tests.factories import FillFactory, OrderFactory
from positions.models import Drift
from positions.tests.factories import BalanceFactory, PositionFactory
from risk.models import RiskDecision, RiskEvent, RiskLimit, RiskState
from strategies.models import Signal, SignalSource, Strategy

pytestmark = pytest.mark.django_db

HUGE = str(2**63 + 5)


@pytest.fixture
def owner():
    return UserFactory()


@pytest.fixture
def account(owner):
    return ExchangeAccountFactory(owner=owner)


@pytest.fixture
def api(owner):
    # A 500 comes back as a response (as a client sees it), not as the view's exception.
    client = APIClient(raise_request_exception=False)
    client.force_authenticate(owner)
    return client


def _one_of_each(owner, account):
    """A row in every LimitOffset list, so that each list runs its page query."""
    now = timezone.now()
    Alert.objects.create(
        account=account, kind="sync.failing", severity="warning", message="m",
        created_at=now, last_seen_at=now,
    )  # fmt: skip
    PositionFactory(account=account)
    Drift.objects.create(
        account=account, kind="balance", subject="USDT", field="total", ours="1", theirs="2",
        detected_at=now,
    )  # fmt: skip
    BalanceSnapshot.objects.create(
        account=account, asset="USDT", total="1", free="1", used="0", taken_at=now
    )
    RiskLimit.objects.create(owner=owner, scope="global")
    RiskDecision.objects.create(
        account=account, approved=True, proposal={}, snapshot={}, limits={}, verdicts=[],
        actor="test",
    )  # fmt: skip
    RiskEvent.objects.create(account=account, type="kill_switch.on", actor="test")
    source = SignalSource.objects.create(owner=owner, name="api", kind="api")
    Signal.objects.create(
        source=source, external_id="x", account=account, symbol="BTC/USDT", action="buy"
    )
    Strategy.objects.create(owner=owner, name="s", account=account)


LIMIT_OFFSET_LISTS = [
    "/api/accounts/",
    "/api/alerts/",
    "/api/positions/",
    "/api/drift/",
    "/api/risk/limits/",
    "/api/risk/decisions/",
    "/api/risk/events/",
    "/api/signals/",
    "/api/strategies/",
]


@pytest.mark.parametrize("path", LIMIT_OFFSET_LISTS)
def test_a_limit_past_2_63_is_capped_to_a_full_page(api, owner, account, path):
    _one_of_each(owner, account)

    response = api.get(path, {"limit": HUGE})

    assert response.status_code == 200, response.content[:300]
    assert len(response.json()["results"]) == 1


@pytest.mark.parametrize("path", [*LIMIT_OFFSET_LISTS, "/api/orders/"])
@pytest.mark.parametrize("limit", ["\u0661", "\u00b2", "0", "-1", "1.5", "ten"])
def test_a_limit_that_is_not_a_count_is_a_400_naming_it(api, owner, account, path, limit):
    _one_of_each(owner, account)

    response = api.get(path, {"limit": limit})

    assert response.status_code == 400, response.content[:300]
    assert "limit" in response.json()


def _nested(depth: int) -> str:
    return "[" * depth + "]" * depth


DEEP = _nested(100_000)


def _limit_body(symbols: str) -> str:
    return '{"scope": "global", "allowed_symbols": ' + symbols + "}"


@pytest.mark.parametrize(
    ("method", "path", "body"),
    [
        ("post", "/api/orders/", DEEP),
        ("post", "/api/orders/", '{"symbol": "BTC/USDT", "amount": ' + DEEP + "}"),
        ("post", "/api/signals/", DEEP),
        ("post", "/api/risk/limits/", _limit_body(DEEP)),
        ("post", "/api/risk/kill-switch/", DEEP),
        ("post", "/api/accounts/", DEEP),
    ],
)
def test_json_nested_past_the_recursion_limit_is_a_400(api, account, method, path, body):
    response = getattr(api, method)(path, data=body, content_type="application/json")

    assert response.status_code == 400, response.content[:300]
    assert "nested more than 32 levels" in response.json()["detail"]
    assert not RiskLimit.objects.exists() and not Signal.objects.exists()


def test_json_nested_deeper_than_32_levels_is_refused_by_the_parser(api, account):
    body = _limit_body(_nested(40))

    response = api.post("/api/risk/limits/", data=body, content_type="application/json")

    assert response.status_code == 400
    assert response.json() == {"detail": "JSON parse error - nested more than 32 levels deep."}


@pytest.mark.parametrize(
    ("symbols", "refused"),
    [('["BTC/USDT\\u0000"]', "NUL (\\u0000)"), ('["\\ud800"]', "lone surrogate")],
)
def test_a_nul_or_lone_surrogate_in_a_json_string_is_a_400_and_writes_nothing(
    api, owner, symbols, refused
):
    body = _limit_body(symbols)

    response = api.post("/api/risk/limits/", data=body, content_type="application/json")

    assert response.status_code == 400, response.content[:300]
    assert response.json() == {
        "detail": f"JSON strings may not contain a {refused} character (at allowed_symbols[0])."
    }
    assert not RiskLimit.objects.exists()
    # Neither an escaped backslash before "u0000" nor a surrogate pair (an emoji, as
    # json.dumps writes it) is either of these.
    fine = api.post(
        "/api/risk/limits/",
        data=_limit_body('["\\\\u0000", "\\ud83d\\ude00"]'),
        content_type="application/json",
    )
    assert fine.status_code == 201, fine.content[:300]
    assert RiskLimit.objects.get().allowed_symbols == ["\\u0000", "\U0001f600"]


# --- The webhook: no login, so anyone who knows (or guesses) a source id can send these.


@pytest.fixture
def webhook(make_sim_account):
    from decimal import Decimal

    from strategies import services

    account = make_sim_account()
    source = SignalSource.objects.create(
        owner=account.owner, name="tv", kind="webhook", account=account,
        sizing="fixed_quote", sizing_value=Decimal("600"),
    )  # fmt: skip
    source.plain_secret = services.source_set_secret(source=source)
    return source


def _post_alert(client, webhook, body: str):
    return client.post(
        f"/api/webhooks/tradingview/{webhook.pk}/", data=body, content_type="application/json"
    )


def test_a_deeply_nested_webhook_body_is_a_400_and_stores_no_signal(webhook):
    response = _post_alert(APIClient(raise_request_exception=False), webhook, DEEP)

    assert response.status_code == 400, response.content[:300]
    assert "nested more than 32 levels" in response.json()["detail"]
    assert not Signal.objects.exists()


# --- Ids and counts in the query string: ASCII digits only.

SUPERSCRIPT_TWO = "\u00b2"  # str.isdigit() says yes; int() says no


def _in_arabic_indic(number: int) -> str:
    """The same number in Arabic-Indic digits, which int() reads as the number itself."""
    return "".join(chr(0x0660 + int(digit)) for digit in str(number))


ACCOUNT_FILTERS = [
    "/api/orders/",
    "/api/orders/fills/",
    "/api/positions/",
    "/api/balances/",
    "/api/balances/history/",
    "/api/equity/",
    "/api/performance/",
    "/api/chart/",
]


@pytest.mark.parametrize("path", ACCOUNT_FILTERS)
def test_an_account_id_in_superscript_digits_is_a_400_naming_it(api, account, path):
    response = api.get(path, {"account": SUPERSCRIPT_TWO, "symbol": "BTC/USDT"})

    assert response.status_code == 400, response.content[:300]
    assert list(response.json()) == ["account"]


@pytest.mark.parametrize(
    ("path", "make_row"),
    [
        ("/api/orders/", lambda account: OrderFactory(account=account)),
        ("/api/orders/fills/", lambda account: FillFactory(order__account=account)),
        ("/api/positions/", lambda account: PositionFactory(account=account)),
        ("/api/balances/", lambda account: BalanceFactory(account=account)),
    ],
)
def test_an_account_id_in_arabic_indic_digits_is_a_400_not_that_accounts_rows(
    api, account, path, make_row
):
    make_row(account)

    response = api.get(path, {"account": _in_arabic_indic(account.pk)})

    assert response.status_code == 400, response.content[:300]
    assert list(response.json()) == ["account"]


@pytest.mark.parametrize(
    ("path", "params"),
    [
        ("/api/orders/fills/", {"limit": SUPERSCRIPT_TWO}),
        ("/api/chart/", {"symbol": "BTC/USDT", "limit": SUPERSCRIPT_TWO}),
    ],
)
def test_a_count_in_superscript_digits_is_a_400_naming_it(api, account, path, params):
    params = {"account": account.pk, **params}

    response = api.get(path, params)

    assert response.status_code == 400, response.content[:300]
    assert list(response.json()) == ["limit"]


@pytest.mark.parametrize(
    "path", ["/api/orders/", "/api/orders/fills/", "/api/positions/", "/api/chart/"]
)
def test_a_nul_in_a_symbol_filter_is_a_400_naming_it(api, account, path):
    response = api.get(path, {"account": account.pk, "symbol": "BTC/\x00USDT"})

    assert response.status_code == 400, response.content[:300]
    assert response.json() == {"symbol": ["Null characters are not allowed."]}


# --- Ids in JSON bodies: the same rule, so another script's digits switch nothing.


def test_a_kill_switch_for_an_account_id_in_arabic_indic_digits_is_a_400_and_switches_nothing(
    api, account
):
    response = api.post(
        "/api/risk/kill-switch/",
        {"account": _in_arabic_indic(account.pk), "on": True, "reason": "r"},
        format="json",
    )

    assert response.status_code == 400, response.content[:300]
    assert list(response.json()) == ["account"]
    assert not RiskEvent.objects.exists()
    assert not RiskState.objects.filter(account=account, kill_switch=True).exists()


@pytest.mark.parametrize(
    ("path", "body"),
    [
        ("/api/orders/cancel-all/", {}),
        ("/api/positions/close-all/", {}),
        ("/api/risk/breakers/reset/", {"reason": "r"}),
        ("/api/signals/", {"symbol": "BTC/USDT", "action": "buy"}),
    ],
)
def test_an_account_id_in_arabic_indic_digits_in_a_body_is_a_400(api, account, path, body):
    response = api.post(path, {"account": _in_arabic_indic(account.pk), **body}, format="json")

    assert response.status_code == 400, response.content[:300]
    assert list(response.json()) == ["account"]
    assert not Signal.objects.exists()


@pytest.mark.parametrize(
    ("path", "body"),
    [
        ("/api/orders/", {"symbol": "BTC/USDT", "side": "buy", "type": "market", "amount": "1"}),
        ("/api/signals/", {"symbol": "BTC/USDT", "action": "buy"}),
    ],
)
def test_a_nul_in_the_idempotency_key_is_a_400_and_writes_nothing(api, account, path, body):
    response = api.post(
        path, {"account": account.pk, **body}, format="json", HTTP_IDEMPOTENCY_KEY="k\x00"
    )

    assert response.status_code == 400, response.content[:300]
    assert list(response.json()) == ["Idempotency-Key"]
    assert not Order.objects.exists() and not Signal.objects.exists()


def test_a_utc_offset_past_postgresqls_range_is_read_as_the_moment_it_names(api, account):
    # Python takes offsets to 23:59, PostgreSQL to 15:59 (a 500 before).
    order = OrderFactory(account=account)
    created = order.created_at.astimezone(UTC)
    just_after = (created + timedelta(seconds=1)).replace(tzinfo=None).isoformat()
    # The same moment, written 16:45 ahead of UTC.
    shifted = (created + timedelta(hours=16, minutes=45, seconds=1)).replace(tzinfo=None)

    found = api.get("/api/orders/", {"until": f"{shifted.isoformat()}+16:45"})
    none = api.get("/api/orders/", {"since": f"{shifted.isoformat()}+16:45"})

    assert found.status_code == 200, found.content[:300]
    assert [o["id"] for o in found.json()["results"]] == [order.pk]
    assert none.json()["results"] == []
    assert api.get("/api/orders/", {"until": f"{just_after}Z"}).json()["results"] != []


@pytest.mark.parametrize(
    "moment",
    [
        "0001-01-01T00:00:00+01:00",  # year 0 in UTC
        "9999-12-31T23:00:00-14:00",  # year 10000 in UTC
    ],
)
@pytest.mark.parametrize("name", ["since", "until"])
def test_a_time_that_is_no_utc_time_is_a_400_naming_it(api, account, name, moment):
    OrderFactory(account=account)

    response = api.get("/api/orders/", {name: moment})

    assert response.status_code == 400, response.content[:300]
    assert list(response.json()) == [name]
