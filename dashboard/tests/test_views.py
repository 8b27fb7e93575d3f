"""Dashboard pages render from the API's shapes, behind login, and only the user's data."""

from __future__ import annotations

from decimal import Decimal

import pytest
from django.urls import reverse

from accounts.tests.factories import ExchangeAccountFactory, UserFactory
from orders.models import Order

pytestmark = pytest.mark.django_db

PAGES = ["overview", "orders", "positions", "accounts", "signals", "risk"]


def _order(account, **fields) -> Order:
    return Order.objects.create(
        account=account,
        symbol="BTC/USDT",
        side="buy",
        type="limit",
        amount=Decimal("0.010000000000000000"),
        price=Decimal("59000"),
        client_order_id=f"t-{account.pk}-{Order.objects.count()}",
        status="open",
        **fields,
    )


@pytest.mark.parametrize("name", PAGES)
def test_each_page_needs_a_login(client, name):
    answer = client.get(reverse(f"dashboard:{name}"))
    assert answer.status_code == 302
    assert answer["Location"].startswith(reverse("dashboard:login"))


@pytest.mark.parametrize("name", PAGES)
def test_each_page_renders_the_users_own_accounts_only(client, name, settings):
    settings.PRICES_CACHE_SECONDS = 0
    user = UserFactory()
    ExchangeAccountFactory(owner=user, label="Mine", mode="paper")
    ExchangeAccountFactory(label="Somebody else's", mode="paper")
    client.force_login(user)

    answer = client.get(reverse(f"dashboard:{name}"))

    assert answer.status_code == 200
    assert b"Mine" in answer.content
    assert b"Somebody else" not in answer.content


def test_order_detail_shows_the_order_and_another_users_order_is_404(client):
    user = UserFactory()
    mine = _order(ExchangeAccountFactory(owner=user, mode="paper"))
    theirs = _order(ExchangeAccountFactory(mode="paper"))
    client.force_login(user)

    answer = client.get(reverse("dashboard:order", args=[mine.pk]))

    assert answer.status_code == 200
    assert b"0.01<" in answer.content  # the amount as the API gives it, trailing zeros off
    assert client.get(reverse("dashboard:order", args=[theirs.pk])).status_code == 404


def test_orders_page_filters_and_shows_a_bad_filter_as_the_api_words_it(client):
    user = UserFactory()
    account = ExchangeAccountFactory(owner=user, mode="paper")
    _order(account)
    client.force_login(user)

    answer = client.get(reverse("dashboard:orders"), {"status": "bogus"})

    assert answer.status_code == 200
    assert b"status: unknown: bogus" in answer.content


def test_the_overview_on_cold_prices_asks_a_worker_for_them_and_says_so(
    make_sim_account, sim, exchange_jobs, client
):
    account = make_sim_account()
    client.force_login(account.owner)
    sim.control("DELETE", "/requests")

    page = client.get("/")
    called_by_the_request = sim.control("GET", "/requests")

    assert page.status_code == 200
    assert page.context["page_data"]["pricesPending"] is True
    assert called_by_the_request == {}
    assert exchange_jobs.names == ["positions.prices_refresh"]
