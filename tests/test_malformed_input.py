"""Malformed input answers a clear 4xx and writes nothing - never a 500.

Each shape here answered 500 (or silently meant something else) before: a page size past
2**63, ids in other scripts' digits, NUL characters in filters and JSON strings, and JSON
nested deeper than the parser's recursion limit - on the webhook too, where no login is
needed.
"""

from __future__ import annotations

import pytest
from django.utils import timezone
from rest_framework.test import APIClient

from accounts.models import Alert, BalanceSnapshot
from accounts.tests.factories import ExchangeAccountFactory, UserFactory
from positions.models import Drift
from positions.tests.factories import PositionFactory
from risk.models import RiskDecision, RiskEvent, RiskLimit
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
