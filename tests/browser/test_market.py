"""The market page in headless Chromium: stored candles drawn, then the ticker, the book
and the forming candle patched live from the streams process's pushes."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from tests.browser.conftest import login, screenshot

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

PASSWORD = "correct-horse-battery"  # accounts.tests.factories.UserFactory


def test_the_market_page_draws_stored_candles_and_follows_the_streams_live(
    new_page, make_sim_account, sim, running_markets, wait_for, settings
):
    from playwright.sync_api import expect

    from accounts import gateway
    from accounts.tests.factories import UserFactory
    from marketdata.models import Subscription
    from marketdata.services import candles_store
    from marketdata.timeframes import floor_ms, to_ms

    settings.MARKETDATA_STREAM_WARMUP = 5
    alice = UserFactory(username="alice")
    account = make_sim_account(owner=alice, label="Alice spot")
    gateway.ensure_markets(gateway.get_client(account), account)
    # Two hours of history, as a backfill leaves it.
    now = floor_ms(to_ms(datetime.now(UTC)), "1m")
    rows = [
        [now - (120 - m) * 60_000, 60000 + m, 60010 + m, 59990 + m, 60005 + m, 1 + m % 7]
        for m in range(118)
    ]
    candles_store(venue="simulator:spot", symbol="BTC/USDT", timeframe="1m", rows=rows, now_ms=now)
    running_markets()

    page = new_page()
    login(page, "alice", PASSWORD)
    page.goto(f"/market/?account={account.pk}&symbol=BTC/USDT&timeframe=1m")
    chart = page.locator("#market-chart")
    expect(chart).to_have_attribute("data-state", "ready")
    assert int(chart.get_attribute("data-bars")) >= 118
    assert Subscription.objects.filter(owner=alice, is_active=True).count() == 3

    def live() -> bool:
        sim.control("POST", "/step", {"n": 2})
        return (
            page.locator("#market-last").get_attribute("data-state") == "live"
            and page.locator("#market-book tbody tr").count() == 10
            and chart.get_attribute("data-live") is not None
            and page.locator('#market-ticker [data-q="bid"]').inner_text() != "-"
        )

    wait_for(live, timeout=30, message="the ticker, book and forming candle pushed live")
    last = page.locator("#market-last").inner_text()
    assert last.replace(".", "", 1).isdigit() and 50_000 < float(last) < 70_000
    bid = page.locator('#market-ticker [data-q="bid"]').inner_text()
    ask = page.locator('#market-ticker [data-q="ask"]').inner_text()
    assert float(bid) < float(ask)
    screenshot(page, "market")
