"""The risk API answers another user's account exactly like a missing one."""

import pytest

from accounts.tests.factories import ExchangeAccountFactory, UserFactory

pytestmark = pytest.mark.django_db


def test_a_risk_limit_on_another_users_account_answers_like_a_missing_one(api_pair):
    mine, theirs = api_pair
    payload = {"scope": "account", "max_order_value": "100"}

    foreign = mine.post("/api/risk/limits/", {**payload, "account": theirs.pk}, format="json")
    missing = mine.post("/api/risk/limits/", {**payload, "account": 10**6}, format="json")

    assert foreign.status_code == missing.status_code == 400
    assert foreign.json() == missing.json()


@pytest.fixture
def api_pair():
    from rest_framework.test import APIClient

    mine = APIClient()
    mine.force_authenticate(UserFactory())
    return mine, ExchangeAccountFactory(owner=UserFactory())
