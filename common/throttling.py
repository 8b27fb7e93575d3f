"""Request rates: a fixed window per identity, counted with one atomic INCR in the cache
(Redis), so every web process shares the count.

DRF's own SimpleRateThrottle keeps a list of request times per identity, read and
written whole on every request - a 6,000-entry list unpickled per API call at a trading
API's rates, and two concurrent requests can both pass on the same count. Rates come
from REST_FRAMEWORK["DEFAULT_THROTTLE_RATES"] by scope; a refusal is DRF's 429 with
Retry-After. Should Redis fail, requests pass: the limit protects the platform, and with
Redis down its workers are down anyway - the API must not be the only part still failing.
"""

from __future__ import annotations

import logging
import time

import redis
from django.core.cache import cache
from rest_framework.settings import api_settings
from rest_framework.throttling import BaseThrottle, SimpleRateThrottle

logger = logging.getLogger(__name__)

KEY_PREFIX = "throttle"


def window_hit(*, scope: str, ident: str, rate: str, now: float | None = None) -> float | None:
    """Count one request of ``ident`` in ``scope``'s current window. Returns None when it
    is within ``rate`` ("120/min"), else the seconds until the window ends."""
    limit, period = SimpleRateThrottle.parse_rate(None, rate)
    now = time.time() if now is None else now
    window = int(now // period)
    key = f"{KEY_PREFIX}:{scope}:{ident}:{window}"
    try:
        try:
            count = cache.incr(key)
        except ValueError:  # the window's first request
            count = 1 if cache.add(key, 1, timeout=period + 1) else cache.incr(key)
    except redis.RedisError as exc:
        logger.warning("rate of %s not counted: %s", scope, exc)
        return None
    if count <= limit:
        return None
    return max(1.0, (window + 1) * period - now)


class WindowThrottle(BaseThrottle):
    """Base: ``scope`` names the rate; ``ident`` says whose requests are counted (None:
    this throttle does not apply to the request)."""

    scope = ""

    def ident(self, request, view) -> str | None:
        raise NotImplementedError

    def allow_request(self, request, view) -> bool:
        rate = api_settings.DEFAULT_THROTTLE_RATES.get(self.scope)
        ident = self.ident(request, view) if rate else None
        if ident is None:
            return True
        self._wait = window_hit(scope=self.scope, ident=ident, rate=rate)
        return self._wait is None

    def wait(self) -> float | None:
        return getattr(self, "_wait", None)


class UserThrottle(WindowThrottle):
    """Every API request of a logged-in user (session or token)."""

    scope = "user"

    def ident(self, request, view) -> str | None:
        user = getattr(request, "user", None)
        return str(user.pk) if user is not None and user.is_authenticated else None


class AnonThrottle(WindowThrottle):
    """Requests without a user (the views that allow them), per client address."""

    scope = "anon"

    def ident(self, request, view) -> str | None:
        from common.api import client_ip  # common.api imports DRF's views, which import us

        user = getattr(request, "user", None)
        if user is not None and user.is_authenticated:
            return None
        return client_ip(request) or "unknown"


class WebhookSourceThrottle(WindowThrottle):
    """Alerts per webhook source (the id in the URL), counted before the source is read:
    a flood against one source costs an INCR each, not a database read."""

    scope = "webhook"

    def ident(self, request, view) -> str | None:
        source_id = view.kwargs.get("source_id")
        return None if source_id is None else str(source_id)
