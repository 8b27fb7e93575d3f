"""Answers that did not match the OpenAPI schema, checked against it one by one (the fuzz
in test_schema_fuzz.py looks for more).

Each answer is validated by schemathesis against the schema drf-spectacular generates:
status code documented, content type, body.
"""

from __future__ import annotations

import json
import uuid

import pytest
import requests
from rest_framework.test import APIClient

from accounts.tests.factories import ExchangeAccountFactory, UserFactory
from common import throttling
from orders.tests.factories import FillFactory, OrderFactory

pytestmark = pytest.mark.django_db


@pytest.fixture(scope="module")
def openapi():
    import schemathesis
    from drf_spectacular.generators import SchemaGenerator

    raw = SchemaGenerator().get_schema(request=None, public=True)
    # Plain JSON types (the generator's dicts hold lazy strings and OrderedDicts).
    return schemathesis.openapi.from_dict(json.loads(json.dumps(raw, default=str)))


@pytest.fixture
def owner():
    return UserFactory()


@pytest.fixture
def api(owner):
    client = APIClient(raise_request_exception=False)
    client.force_authenticate(owner)
    return client


def conforms(openapi, method: str, path: str, response) -> None:
    """Fails unless ``response`` is what the schema says ``method path`` (a template:
    /api/orders/{id}/) may answer: a documented status code, documented with a body of
    this content type, and the body valid (schemathesis says how it is not)."""
    from schemathesis.core.transport import Response

    where = f"{method} {path}"
    documented = openapi.raw_schema["paths"][path][method.lower()]["responses"]
    code = str(response.status_code)
    assert code in documented, f"{where}: {code} is not documented ({sorted(documented)})"
    content = documented[code].get("content", {})
    if response.content:
        assert content, f"{where}: {code} is documented without a body"
        media_type = response.headers["Content-Type"].split(";")[0]
        assert media_type in content, f"{where}: {media_type} is not documented"
    answer = Response(
        status_code=response.status_code,
        headers={name.lower(): [value] for name, value in response.headers.items()},
        content=response.content,
        request=requests.Request(method, f"http://testserver{path}").prepare(),
        elapsed=0.0,
        verify=True,
    )
    openapi[path][method].validate_response(answer)


def test_a_market_orders_time_in_force_is_in_the_schema(openapi, api, owner):
    order = OrderFactory(
        account=ExchangeAccountFactory(owner=owner), type="market", price=None, time_in_force=""
    )

    response = api.get(f"/api/orders/{order.pk}/")

    assert response.json()["time_in_force"] == ""
    conforms(openapi, "GET", "/api/orders/{id}/", response)


def test_fills_are_paged_as_the_schema_says(openapi, api, owner):
    account = ExchangeAccountFactory(owner=owner)
    fills = [FillFactory(order__account=account) for _ in range(3)]

    first = api.get("/api/orders/fills/", {"limit": 2})
    second = api.get(first.json()["next"])

    conforms(openapi, "GET", "/api/orders/fills/", first)
    assert [f["id"] for f in first.json()["results"]] == [fills[2].pk, fills[1].pk]
    assert [f["id"] for f in second.json()["results"]] == [fills[0].pk]
    assert second.json()["next"] is None


def test_the_risk_state_is_the_object_the_schema_says(openapi, api, owner):
    from risk.models import RiskState

    RiskState.objects.create(account=ExchangeAccountFactory(owner=owner), kill_switch=True)

    response = api.get("/api/risk/state/")

    assert response.json()["global_kill_switch"] is False
    conforms(openapi, "GET", "/api/risk/state/", response)


def test_close_all_answers_the_unpaged_list_the_schema_says(openapi, api, owner):
    account = ExchangeAccountFactory(owner=owner)

    response = api.post("/api/positions/close-all/", {"account": account.pk}, format="json")

    assert (response.status_code, response.json()) == (202, [])
    conforms(openapi, "POST", "/api/positions/close-all/", response)


def test_sync_answers_the_queued_job_the_schema_says(openapi, make_sim_account):
    account = make_sim_account(market_type="swap")
    client = APIClient()
    client.force_authenticate(account.owner)

    response = client.post("/api/positions/sync/", {"account": account.pk}, format="json")

    assert response.status_code == 202 and response.json()["status"] in ("queued", "running")
    conforms(openapi, "POST", "/api/positions/sync/", response)


def test_the_kill_switch_and_breaker_reset_answer_what_the_schema_says(openapi, api, owner):
    account = ExchangeAccountFactory(owner=owner)

    switched = api.post(
        "/api/risk/kill-switch/", {"account": account.pk, "on": True, "reason": "r"}, format="json"
    )
    reset = api.post(
        "/api/risk/breakers/reset/", {"account": account.pk, "reason": "r"}, format="json"
    )

    assert switched.json() == {"account": account.pk, "on": True}
    conforms(openapi, "POST", "/api/risk/kill-switch/", switched)
    assert reset.json() == {"account": account.pk, "breaker": ""}
    conforms(openapi, "POST", "/api/risk/breakers/reset/", reset)


def test_performance_answers_what_the_schema_says(openapi, api, owner):
    response = api.get("/api/performance/")

    assert response.json()["trade_count"] == 0
    conforms(openapi, "GET", "/api/performance/", response)


# --- Error answers: documented where they can happen.


def _bad_query(api, owner):
    return "GET", "/api/orders/", api.get("/api/orders/", {"account": "x"})


def _no_login(api, owner):
    return "GET", "/api/orders/", APIClient().get("/api/orders/")


def _missing(api, owner):
    return "GET", "/api/orders/{id}/", api.get("/api/orders/999999999/")


def _refused(api, owner):
    # The global kill switch is for staff only.
    response = api.post("/api/risk/kill-switch/", {"on": True}, format="json")
    return "POST", "/api/risk/kill-switch/", response


def _conflict(api, owner):
    order = OrderFactory(account=ExchangeAccountFactory(owner=owner), status="filled")
    return "POST", "/api/orders/{id}/cancel/", api.post(f"/api/orders/{order.pk}/cancel/")


def _reused_key(api, owner, make_sim_account):
    account = make_sim_account(owner=owner)

    def send(action):
        body = {"account": account.pk, "symbol": "BTC/USDT", "action": action}
        return api.post("/api/signals/", body, format="json", HTTP_IDEMPOTENCY_KEY="k-1")

    send("buy")
    return "POST", "/api/signals/", send("sell")


def _throttled(api, owner, settings):
    settings.REST_FRAMEWORK = {
        **settings.REST_FRAMEWORK,
        "DEFAULT_THROTTLE_RATES": {
            **settings.REST_FRAMEWORK["DEFAULT_THROTTLE_RATES"],
            "user": "1/min",
        },
    }
    api.get("/api/portfolio/")
    return "GET", "/api/portfolio/", api.get("/api/portfolio/")


def _exchange_down(api, owner, settings):
    """A book whose stream stopped delivering: never served as fresh (web requests no
    longer wait for an exchange, so a stale stream is what answers 503 there)."""
    from marketdata import live

    account = ExchangeAccountFactory(owner=owner, mode="simulator")
    stale = {"bids": [[1, 1]], "asks": [[2, 1]], "timestamp": live.now_ms() - 600_000}
    live.book_write(account.data_venue, "BTC/USDT", stale, depth=5)
    response = api.get("/api/marketdata/book/", {"account": account.pk, "symbol": "BTC/USDT"})
    return "GET", "/api/marketdata/book/", response


@pytest.mark.parametrize(
    ("status", "provoke"),
    [
        (400, _bad_query),
        (401, _no_login),
        (404, _missing),
        (403, _refused),
        (409, _conflict),
        (422, _reused_key),
        (429, _throttled),
        (503, _exchange_down),
    ],
)
def test_error_answers_are_documented_with_their_body(
    openapi, api, owner, settings, monkeypatch, request, status, provoke
):
    monkeypatch.setattr(throttling, "KEY_PREFIX", f"throttle-{uuid.uuid4().hex}")
    arguments = (api, owner)
    if provoke in (_throttled, _exchange_down):
        arguments = (api, owner, settings)
    elif provoke is _reused_key:
        arguments = (api, owner, request.getfixturevalue("make_sim_account"))

    method, path, response = provoke(*arguments)

    assert response.status_code == status, response.content[:300]
    assert "detail" in response.json() or status == 400
    conforms(openapi, method, path, response)


def test_every_operation_documents_its_error_answers(openapi):
    raw = openapi.raw_schema
    missing = []
    for path, operations in raw["paths"].items():
        for method, operation in operations.items():
            codes = set(operation["responses"])
            secured = any(operation.get("security", []))
            expected = {"429"} | ({"401"} if secured else set())
            if method != "get":
                expected.add("403")
            if "requestBody" in operation:
                expected.add("400")
            if "{" in path:
                expected.add("404")
            if not expected <= codes:
                missing.append(f"{method.upper()} {path}: {sorted(expected - codes)}")
            for code in codes - {"200", "201", "202", "204"}:
                if "content" not in operation["responses"][code]:
                    missing.append(f"{method.upper()} {path}: {code} has no body")
            # Not a mixin's docstring for a description (drf-spectacular inherits them).
            if "Viewsets whose ids" in operation.get("description", ""):
                missing.append(f"{method.upper()} {path}: IntLookupMixin's docstring")
    for name, component in raw["components"]["schemas"].items():
        if "For input serializers" in component.get("description", ""):
            missing.append(f"{name}: StrictInput's docstring")

    assert missing == []


@pytest.mark.parametrize(
    "path", ["/api/orders/abc/", "/api/orders/-1/cancel/", "/api/no-such-thing/"]
)
def test_an_api_path_no_route_matches_is_a_json_404(api, client, path):
    response = api.get(path)
    page = client.get("/no-such-page/")

    assert response.status_code == 404
    assert response.headers["Content-Type"] == "application/json"
    assert response.json() == {"detail": "Not found."}
    # Outside the API, the site's own page.
    assert page.status_code == 404
    assert page.headers["Content-Type"].startswith("text/html")


def test_request_bodies_are_json_or_a_form_never_multipart(openapi, api, owner):
    account = ExchangeAccountFactory(owner=owner)
    media_types = {
        media_type
        for operations in openapi.raw_schema["paths"].values()
        for operation in operations.values()
        for media_type in operation.get("requestBody", {}).get("content", {})
    }

    multipart = api.post("/api/orders/cancel-all/", {"account": account.pk}, format="multipart")

    assert media_types == {"application/json", "application/x-www-form-urlencoded"}
    assert multipart.status_code == 415
    assert "detail" in multipart.json()
