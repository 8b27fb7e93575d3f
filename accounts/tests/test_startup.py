"""A worker's start fills the caches the order path reads (markets, last prices)."""

import pytest
from django.core.cache import cache

from accounts import tasks as account_tasks
from positions import tasks as position_tasks


@pytest.mark.parametrize(
    ("module", "handler", "task", "key"),
    [
        (account_tasks, "_warm_markets_on_start", "markets_warm", "accounts:markets-on-start"),
        (
            position_tasks,
            "_warm_prices_on_start",
            "prices_refresh_all",
            "positions:prices-on-start",
        ),
    ],
)
def test_the_first_worker_to_start_warms_the_cache_once(monkeypatch, module, handler, task, key):
    cache.delete(key)
    queued = []
    monkeypatch.setattr(getattr(module, task), "delay", lambda: queued.append(task))

    getattr(module, handler)()
    getattr(module, handler)()  # a second worker starting in the same minute

    assert queued == [task]
