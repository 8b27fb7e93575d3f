"""The dashboard in headless Chromium: live order, fill, position and risk updates over the
websocket (no reloads), actions through the API, and another user's data never shown."""

from __future__ import annotations

import re
from decimal import Decimal

import pytest

from tests.browser.conftest import DESKTOP, PHONE, login, screenshot

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

CHART_DRAWN = re.compile("ready|empty")  # "empty": the API had no data to draw
PASSWORD = "correct-horse-battery"  # accounts.tests.factories.UserFactory


def _expect():
    from playwright.sync_api import expect

    return expect


def _btc_price(sim) -> Decimal:
    return Decimal(sim.control("GET", "/markets")["spot"]["BTCUSDT"]["last"])


def _api_post(page, path: str, body: dict):
    token = next(c["value"] for c in page.context.cookies() if c["name"] == "csrftoken")
    return page.request.post(path, data=body, headers={"X-CSRFToken": token})


def _snapshot(account) -> None:
    from positions.services import account_sync, snapshots_take

    account_sync(account=account)
    snapshots_take(reference="USDT")


def test_orders_fill_cancel_and_kill_switch_live_without_reloads(
    new_page, make_sim_account, sim, browser_worker, wait_for
):
    from accounts.tests.factories import UserFactory
    from orders.models import Order
    from orders.services import orders_poll

    expect = _expect()
    alice = UserFactory(username="alice")
    account = make_sim_account(owner=alice, label="Alice spot")
    make_sim_account(owner=UserFactory(username="bob"), label="Bob secret desk")
    _snapshot(account)

    orders_page = new_page()
    login(orders_page, "alice", PASSWORD)
    overview = orders_page.context.new_page()
    overview.goto("/")
    orders_page.goto("/orders/")
    for page in (orders_page, overview):
        expect(page.locator("#conn")).to_have_attribute("data-state", "live")
        expect(page.locator("body")).not_to_contain_text("Bob secret desk")
    orders_page.evaluate("window.__marker = 'not reloaded'")

    # An order placed through the API appears on the orders page, then goes open (worker).
    price = (_btc_price(sim) * Decimal("0.99")).quantize(Decimal("1"))
    answer = _api_post(
        orders_page,
        "/api/orders/",
        {
            "account": account.pk,
            "symbol": "BTC/USDT",
            "side": "buy",
            "type": "limit",
            "amount": "0.01",
            "price": str(price),
        },
    )
    assert answer.status == 201, answer.text()
    order_id = answer.json()["id"]
    row = orders_page.locator(f'#orders tr[data-id="{order_id}"]')
    expect(row.locator('[data-f="status"]')).to_have_text("open", timeout=30_000)
    expect(overview.locator(f'#orders tr[data-id="{order_id}"]')).to_be_visible()

    # The market trades through the limit: the fill (found by the REST poll, as beat would
    # run it) turns the order filled and opens a position, on both pages, live.
    sim.control("POST", "/price", {"symbol": "BTC/USDT", "price": str(price - 50), "venue": "spot"})
    wait_for(
        lambda: (
            orders_poll(account_id=account.pk) is not None
            and Order.objects.get(pk=order_id).status == "filled"
        ),
        timeout=20,
        message="the poll to record the fill",
    )
    expect(row.locator('[data-f="status"]')).to_have_text("filled")
    expect(row.locator('[data-f="filled"]')).to_have_text("0.01")
    position = overview.locator("#positions tbody tr", has_text="BTC/USDT")
    expect(position.locator('[data-f="side"]')).to_have_text("long")
    expect(position.locator('[data-f="contracts"]')).to_have_text(re.compile(r"^0\.0\d+$"))
    expect(overview.locator(f'#orders tr[data-id="{order_id}"]')).to_have_count(0)
    expect(overview.locator("#fills tbody tr[data-id]")).to_have_count(1)
    _snapshot(account)

    # Place from the form, then cancel from the row.
    form = orders_page.locator("#order-form")
    form.locator('[name="amount"]').fill("0.02")
    form.locator('[name="price"]').fill(str(price - 1000))
    form.get_by_role("button", name="Place order").click()
    expect(form.locator("[data-message]")).to_have_text(re.compile(r"Order \d+ accepted"))
    second_id = int(re.search(r"Order (\d+)", form.locator("[data-message]").inner_text())[1])
    second = orders_page.locator(f'#orders tr[data-id="{second_id}"]')
    expect(second.locator('[data-f="status"]')).to_have_text("open", timeout=30_000)
    second.get_by_role("button", name="Cancel").click()
    expect(second.locator('[data-f="status"]')).to_have_text("canceled", timeout=30_000)

    # Bad input: the API's own validation message, nothing written.
    before = Order.objects.count()
    form.locator('[name="amount"]').fill("abc")
    form.get_by_role("button", name="Place order").click()
    expect(form.locator("[data-message]")).to_have_text("amount: A valid number is required.")
    assert Order.objects.count() == before

    # Screenshots of the console (desktop and phone width).
    overview.reload()
    expect(overview.locator("#equity-chart")).to_have_attribute("data-state", CHART_DRAWN)
    screenshot(overview, "overview-desktop")
    detail = orders_page.context.new_page()
    detail.goto(f"/orders/{order_id}/")
    expect(detail.locator("#timeline li.kind-fill")).to_have_count(1)
    expect(detail.locator("#timeline li.kind-risk")).to_have_count(1)
    expect(detail.locator("#price-chart")).to_have_attribute("data-state", CHART_DRAWN)
    screenshot(detail, "order-detail-desktop")
    for page, name in ((overview, "overview-phone"), (detail, "order-detail-phone")):
        page.set_viewport_size(PHONE)
        page.reload()
        expect(page.locator("#conn")).to_have_attribute("data-state", "live")
        expect(page.locator(".chart").first).to_have_attribute("data-state", CHART_DRAWN)
        screenshot(page, name)
        page.set_viewport_size(DESKTOP)

    # Kill switch on (with its confirmation); order entry is refused with the gate's reason.
    risk = orders_page.context.new_page()
    risk.goto("/risk/")
    risk_row = risk.locator(f'#risk-table tr[data-id="{account.pk}"]')
    risk_row.get_by_role("button", name="Kill switch on").click()
    risk.locator("#confirm-reason").fill("browser test")
    risk.get_by_role("button", name="Confirm").click()
    expect(risk_row.locator("[data-kill]")).to_have_text("ON")
    form.locator('[name="amount"]').fill("0.01")
    form.get_by_role("button", name="Place order").click()
    expect(form.locator("[data-message]")).to_contain_text("kill switch on: browser test")

    assert orders_page.evaluate("window.__marker") == "not reloaded"
    expect(orders_page.locator("body")).not_to_contain_text("Bob secret desk")


def test_another_users_accounts_and_orders_never_appear(
    new_page, make_sim_account, sim, browser_worker
):
    from accounts.tests.factories import UserFactory
    from orders.services import OrderRequest, order_submit

    expect = _expect()
    alice = UserFactory(username="alice2")
    make_sim_account(owner=alice, label="Alice only")
    bob_account = make_sim_account(owner=UserFactory(username="bob2"), label="Bob secret desk")

    page = new_page(PHONE)
    login(page, "alice2", PASSWORD)
    page.goto("/orders/")
    expect(page.locator("#conn")).to_have_attribute("data-state", "live")
    bob_order, _ = order_submit(
        account=bob_account,
        request=OrderRequest(symbol="BTC/USDT", side="buy", type="market", amount=Decimal("0.01")),
        origin="api",
        actor="test",
    )
    for path in ("/", "/orders/", "/positions/", "/accounts/", "/risk/", "/signals/"):
        page.goto(path)
        if path != "/signals/":  # no signals: no account named there
            expect(page.locator("body")).to_contain_text("Alice only")
        expect(page.locator("body")).not_to_contain_text("Bob secret desk")
        expect(page.locator(f'#orders tr[data-id="{bob_order.pk}"]')).to_have_count(0)
    assert page.goto(f"/orders/{bob_order.pk}/").status == 404


def test_after_a_reconnect_the_page_resyncs_what_it_missed(
    new_page, make_sim_account, sim, browser_worker
):
    from accounts.tests.factories import UserFactory
    from orders.services import OrderRequest, order_submit

    expect = _expect()
    carol = UserFactory(username="carol")
    account = make_sim_account(owner=carol, label="Carol spot")
    page = new_page()
    login(page, "carol", PASSWORD)
    page.goto("/orders/")
    expect(page.locator("#conn")).to_have_attribute("data-state", "live")

    # Events are lost while the socket is "away" ...
    page.evaluate("window.dashboard.live.paused = window.dashboard.live.onEvent")
    page.evaluate("window.dashboard.live.onEvent = () => {}")
    missed, _ = order_submit(
        account=account,
        request=OrderRequest(
            symbol="BTC/USDT", side="buy", type="limit", amount=Decimal("0.01"), price=Decimal(1000)
        ),
        origin="api",
        actor="test",
    )
    row = page.locator(f'#orders tr[data-id="{missed.pk}"]')
    expect(row).to_have_count(0)

    # ... and read back from the API when it reconnects.
    page.evaluate("window.dashboard.live.onEvent = window.dashboard.live.paused")
    page.evaluate("window.dashboard.live.socket.close()")
    expect(page.locator("body")).to_have_attribute("data-resynced", "1")
    expect(row).to_have_count(1)
    expect(page.locator("#conn")).to_have_attribute("data-state", "live")


def test_a_connection_test_shows_testing_then_its_result_from_the_worker(
    new_page, make_sim_account, sim, browser_worker
):
    from accounts.tests.factories import UserFactory

    expect = _expect()
    dora = UserFactory(username="dora")
    account = make_sim_account(owner=dora, label="Dora spot")
    page = new_page()
    login(page, "dora", PASSWORD)
    page.goto("/accounts/")
    row = page.locator(f'#accounts-table tr[data-id="{account.pk}"]')
    expect(row.locator('[data-f="connection"]')).to_have_text("never synced")
    # A slow exchange: the page says the test is running, then what the worker found.
    sim.control(
        "POST",
        "/faults",
        {"path": "/api/v3/account", "action": "latency", "delay_ms": 1500, "count": 1},
    )

    row.get_by_role("button", name="Test connection").click()

    note = page.locator("#accounts-message")
    expect(note).to_have_text("Dora spot: testing the connection...")
    expect(note).to_have_text(
        re.compile(r"^Dora spot: connected \(\d+ markets\)\.$"), timeout=30_000
    )
    expect(row.locator('[data-f="connection"]')).to_have_text("synced")
    expect(row.locator('[data-f="last_sync_at"]')).not_to_have_text("-")
