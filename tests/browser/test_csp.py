"""The Content-Security-Policy in a real browser: the dashboard, the admin, the Swagger UI
and DRF's browsable API work under it - live updates included - and nothing they load or
run is refused (no `securitypolicyviolation` event, no console report)."""

from __future__ import annotations

import re
from decimal import Decimal

import pytest

from tests.browser.conftest import login

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

PASSWORD = "correct-horse-battery"  # accounts.tests.factories.UserFactory
CHART_DRAWN = re.compile("ready|empty")

# Runs before any page script, outside the page's policy (Playwright injects it itself),
# in every document the page loads; reports to the test through an exposed function.
RECORD_VIOLATIONS = """
document.addEventListener("securitypolicyviolation", (e) => {
  window.__cspReport(`${e.effectiveDirective} blocked ${e.blockedURI || "inline"}`
    + ` at ${e.sourceFile || e.documentURI}:${e.lineNumber} ${e.sample || ""}`);
});
"""


def _expect():
    from playwright.sync_api import expect

    return expect


class Violations:
    """CSP reports of a page: its securitypolicyviolation events and console messages."""

    def __init__(self, page):
        self.events: list[str] = []
        self.console: list[str] = []
        page.expose_function("__cspReport", lambda report: self.events.append(report))
        page.add_init_script(RECORD_VIOLATIONS)
        page.on("console", self._console)

    def _console(self, message) -> None:
        if "Content Security Policy" in message.text or "Content-Security-Policy" in message.text:
            self.console.append(f"{message.location.get('url')}: {message.text}")

    def all(self) -> list[str]:
        return [*self.events, *self.console]


def _page(new_page):
    page = new_page()
    return page, Violations(page)


def test_the_dashboard_runs_and_updates_live_under_the_policy(
    new_page, make_sim_account, browser_worker
):
    from accounts.tests.factories import UserFactory
    from orders.services import OrderRequest, order_submit
    from positions.services import account_sync, snapshots_take

    expect = _expect()
    dana = UserFactory(username="dana")
    account = make_sim_account(owner=dana, label="Dana spot")
    account_sync(account=account)
    snapshots_take(reference="USDT")
    page, violations = _page(new_page)

    login(page, "dana", PASSWORD)
    response = page.goto("/")
    assert "frame-ancestors 'none'" in response.headers["content-security-policy"]
    expect(page.locator("#conn")).to_have_attribute("data-state", "live")
    expect(page.locator("#equity-chart")).to_have_attribute("data-state", CHART_DRAWN)
    # The socket is live: an order committed elsewhere appears without a reload.
    order, _ = order_submit(
        account=account,
        request=OrderRequest(
            symbol="BTC/USDT", side="buy", type="limit", amount=Decimal("0.01"), price=Decimal(1000)
        ),
        origin="api",
        actor="test",
    )
    expect(page.locator(f'#orders tr[data-id="{order.pk}"]')).to_have_count(1)
    # Every page, its chart (lightweight-charts styles its logo with a <style> it inserts).
    for path in ("/orders/", f"/orders/{order.pk}/", "/positions/", "/accounts/", "/signals/"):
        page.goto(path)
        expect(page.locator("#conn")).to_have_attribute("data-state", "live")
        charts = page.locator(".chart")
        for index in range(charts.count()):
            expect(charts.nth(index)).to_have_attribute("data-state", CHART_DRAWN)
    page.goto("/risk/")
    expect(page.locator("#conn")).to_have_attribute("data-state", "live")
    # The page's own form posts through the API (connect-src) and updates in place.
    page.goto("/orders/")
    form = page.locator("#order-form")
    form.locator('[name="amount"]').fill("abc")
    form.get_by_role("button", name="Place order").click()
    expect(form.locator("[data-message]")).to_have_text("amount: A valid number is required.")

    assert violations.all() == []
    assert violations.events == []


def test_the_admin_works_under_the_policy(new_page, make_sim_account):
    from django_celery_beat.models import CrontabSchedule

    from accounts.tests.factories import UserFactory
    from orders.tests.factories import OrderFactory

    expect = _expect()
    admin = UserFactory(username="root", is_staff=True, is_superuser=True)
    account = make_sim_account(owner=admin, label="Admin spot")
    order = OrderFactory(account=account)
    crontab = CrontabSchedule.objects.create(minute="0", hour="4")
    page, violations = _page(new_page)

    page.goto("/admin/login/")
    page.get_by_label("Username").fill("root")
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()
    expect(page.locator("#site-name")).to_be_visible()
    for path in (
        "/admin/",
        "/admin/accounts/exchangeaccount/",
        f"/admin/accounts/exchangeaccount/{account.pk}/change/",
        "/admin/accounts/exchangeaccount/add/",
        "/admin/orders/order/",
        f"/admin/orders/order/{order.pk}/change/",
        "/admin/strategies/signal/",
        "/admin/accounts/apitoken/",
        "/admin/accounts/apitoken/add/",
        "/admin/auth/user/",
        f"/admin/auth/user/{admin.pk}/change/",
        "/admin/django_celery_beat/periodictask/add/",
    ):
        response = page.goto(path)
        assert response.status == 200, path
        assert "script-src 'self';" in response.headers["content-security-policy"], path
    # The admin's scripts run: the changelist's select-all checkbox ticks every row.
    page.goto("/admin/accounts/exchangeaccount/")
    page.locator("#action-toggle").check()
    expect(page.locator("input.action-select").first).to_be_checked()
    # django-celery-beat's crontab help, moved from an inline script to a static file.
    page.goto("/admin/django_celery_beat/periodictask/add/")
    page.locator("#id_crontab").select_option(str(crontab.pk))
    expect(page.locator(".field-crontab .help")).to_contain_text("Translation: At 04:00")

    assert violations.all() == []


def test_the_swagger_ui_and_browsable_api_work_under_their_policies(new_page):
    from accounts.tests.factories import UserFactory

    expect = _expect()
    UserFactory(username="erin")
    page, violations = _page(new_page)
    login(page, "erin", PASSWORD)

    response = page.goto("/api/docs/")
    assert "script-src 'self';" in response.headers["content-security-policy"]
    # Swagger UI read the schema and lists the operations.
    expect(page.locator(".swagger-ui .info .title")).to_contain_text("Trading platform API")
    expect(page.locator(".opblock").first).to_be_visible()
    page.locator(".opblock-summary", has_text="/api/orders/").first.click()
    expect(page.locator(".opblock-body").first).to_be_visible()

    page.goto("/api/orders/")
    expect(page.locator(".response-info")).to_contain_text('"results"')

    assert violations.all() == []
