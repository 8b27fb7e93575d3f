"""Browser tests: headless Debian Chromium driven by Playwright, against the ASGI app (daphne,
for HTTP and websockets) and a real Celery worker, all on this run's test database.

The test process, daphne and the worker publish and receive through one Redis channel
layer (TEST_CHANNEL_LAYER_PREFIX, unique per run), since an event committed in any of them
must reach the browser's socket.
"""

from __future__ import annotations

import os
import uuid
from pathlib import Path

import pytest

from tests.conftest import BASE_DIR, WebServer, Worker

CHROMIUM = "/usr/bin/chromium"
SCREENSHOTS = BASE_DIR / "docs" / "screenshots"
DESKTOP = {"width": 1280, "height": 800}
PHONE = {"width": 390, "height": 844}


def pytest_collection_modifyitems(config, items):
    reason = ""
    if not Path(CHROMIUM).exists():
        reason = f"{CHROMIUM} is missing (Debian: apt-get install chromium)"
    else:
        try:
            import playwright.sync_api  # noqa: F401
        except ImportError:
            reason = "playwright is not installed (pip install -e '.[dev]')"
    if reason:
        for item in items:
            if "browser" in item.keywords:
                item.add_marker(pytest.mark.skip(reason=f"browser test: {reason}"))


@pytest.fixture(scope="module")
def layer_prefix() -> str:
    return f"asgi-browser-{uuid.uuid4().hex[:10]}"


@pytest.fixture(autouse=True)
def redis_channel_layer(settings, layer_prefix):
    """This process publishes to the shared Redis layer (daphne reads it)."""
    from channels.layers import channel_layers

    from trading_site.settings.base import redis_settings

    layers = redis_settings(settings.REDIS_URL)["CHANNEL_LAYERS"]
    layers["default"]["CONFIG"]["prefix"] = layer_prefix
    settings.CHANNEL_LAYERS = layers
    channel_layers.backends.clear()
    yield
    channel_layers.backends.clear()


@pytest.fixture(scope="module")
def browser_env(subprocess_env, simulator, layer_prefix) -> dict[str, str]:
    from django.conf import settings

    return {
        **subprocess_env,
        "SIMULATOR_URL": simulator.url,
        "TEST_CHANNEL_LAYER_PREFIX": layer_prefix,
        # One cache for daphne, the worker and the test: the exchange jobs daphne queues
        # (connection tests, candles, prices) and what the worker leaves for it.
        "TEST_CACHE_KEY_PREFIX": settings.CACHES["default"]["KEY_PREFIX"],
    }


@pytest.fixture(scope="module")
def asgi_server(browser_env, tmp_path_factory) -> str:
    """daphne serving trading_site.asgi on a free port; yields its base URL."""
    server = WebServer(browser_env, tmp_path_factory.mktemp("daphne") / "daphne.log")
    try:
        server.wait_until_answering()
        yield server.url
    finally:
        server.stop()


@pytest.fixture(scope="module")
def browser_worker(browser_env, tmp_path_factory):
    # `sync` too: the page's exchange work (connection tests, candles, prices) runs there.
    worker = Worker(
        browser_env, tmp_path_factory.mktemp("worker") / "worker.log", queues="orders,sync"
    )
    try:
        worker.wait_until_consuming()
        yield worker
    finally:
        worker.stop()


@pytest.fixture(scope="module")
def browser():
    from playwright.sync_api import sync_playwright

    # Playwright's sync API keeps an event loop running in this thread; the test's own ORM
    # calls are still plain synchronous code (pytest-playwright documents the same switch).
    previous = os.environ.get("DJANGO_ALLOW_ASYNC_UNSAFE")
    os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=CHROMIUM,
            headless=True,
            args=[
                "--no-sandbox",
                "--disable-gpu",
                "--disable-quic",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
                "--no-first-run",
                "--disable-dev-shm-usage",
            ],
        )
        try:
            yield browser
        finally:
            browser.close()
            if previous is None:
                os.environ.pop("DJANGO_ALLOW_ASYNC_UNSAFE", None)
            else:
                os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = previous


@pytest.fixture
def new_page(browser, asgi_server):
    """``new_page(viewport=DESKTOP)``: a page in a fresh context (own cookies)."""
    contexts = []

    def make(viewport=None):
        context = browser.new_context(viewport=viewport or DESKTOP, base_url=asgi_server)
        context.set_default_timeout(15_000)
        contexts.append(context)
        return context.new_page()

    yield make
    for context in contexts:
        context.close()


def login(page, username: str, password: str) -> None:
    page.goto("/login/")
    page.get_by_label("User name").fill(username)
    page.get_by_label("Password").fill(password)
    page.get_by_role("button", name="Log in").click()
    page.wait_for_url("**/")


def screenshot(page, name: str) -> None:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOTS / f"{name}.png"), full_page=True)
