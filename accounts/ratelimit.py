"""One request budget per exchange account, shared by every process through Redis.

ccxt's limiter (``enableRateLimit``) lives in one client instance: four workers with a
client each send four times what the exchange allows. Here every request of every
process charges one budget per account in Redis, with the exchange's own request
weights (ccxt's per-endpoint cost) and, for order create/cancel/edit calls, the
exchange's order-count limits (DESIGN.md, "Rate limits").

Algorithm: GCRA (the generic cell rate algorithm), one Lua script, atomic in Redis.
A window "at most ``limit`` units in any ``seconds``, ``burst`` of them at once" is a
token bucket of capacity ``burst`` refilled at ``(limit - burst) / seconds`` per second.
GCRA stores that bucket as one number per key, the theoretical arrival time (TAT):
``TAT - now`` is how much of the bucket is in use, in seconds of refill. So a check is
one GET and a grant one SET per window, with no background refill and no lists of
timestamps. The guarantee is the token bucket's: any interval of ``seconds`` sees at
most ``burst + rate * seconds = limit`` units - sliding, so also inside the fixed
calendar windows that Binance counts in. (A request bigger than the whole burst is let
through on a full bucket and leaves it in debt, otherwise it could never be sent.)

Every request is checked against all its windows in one script call: it is granted
in all of them or charged in none, and the answer is the wait until it would fit, which
the caller sleeps (sync client) or awaits (asyncio client) before asking again. A caller
that would wait longer than its maximum raises ``BudgetExhausted``, a
``ccxt.RateLimitExceeded``: ``accounts.errors`` classifies it as NOT_SENT (retry with
backoff), which is what it is - the request never left.

Priorities: ``orders`` may use the whole bucket; ``sync`` (balances, positions,
polling, markets) only ``sync_share`` of it (0.7), so the rest is always there for
orders. When the budget runs low, sync waits while orders still go, and orders win the
refill because sync needs the level back above its share. An order create/cancel/edit
is charged as ``orders`` whichever client sends it: a cancel from a sync sweep is as
urgent as one from the order path. The clock is Redis' own (``TIME``), so workers on
different machines agree; tests pass ``now`` instead of sleeping.

Limits (``DEFAULT_LIMITS``, overridable per venue with ``settings.EXCHANGE_RATE_LIMITS``),
each at 80% of the exchange's published limit, leaving room for what we do not see (a
person on the exchange's website, another tool on the same key or IP):

- Binance spot: 6000 request weight per minute (per IP) -> 4800/60 s, burst 600;
  order count 100 per 10 s and 200,000 per day (per account) -> 80/10 s, burst 20, and
  160,000/day, burst 10,000. ccxt scales spot weights by 0.2 to fit its 50 ms
  ``rateLimit`` (weight 20 is cost 4), so 1 ccxt cost = 5 weight.
- Binance USD-M: 2400 weight per minute (per IP) -> 1920/60 s, burst 240; orders 300
  per 10 s and 1200 per minute (per account) -> 240/10 s, burst 40, and 960/60 s, burst
  120. ccxt's fapi costs are Binance's weights as they are (1 cost = 1 weight).
- Any other exchange: ccxt's own pace for one client (``1000 / rateLimit`` cost per
  second), now for the whole platform, with one second of burst; no order-count window.

Binance counts weight per IP; the budget is per account (several accounts behind one IP
share the real weight limit: lower their ``weight`` limits accordingly). Keys carry a
Redis Cluster hash tag per account, so one account's windows live on one node.
If Redis cannot be reached, the client falls back to ccxt's own per-instance limiter
rather than blocking every request.
"""

from __future__ import annotations

import asyncio
import dataclasses
import enum
import json
import logging
import random
import re
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import redis
from django.conf import settings
from redis.backoff import NoBackoff
from redis.retry import Retry

if TYPE_CHECKING:
    import ccxt

    from accounts.models import ExchangeAccount

logger = logging.getLogger(__name__)


class Priority(enum.StrEnum):
    ORDERS = "orders"
    SYNC = "sync"


def __getattr__(name: str) -> Any:
    # ``accounts.ratelimit.BudgetExhausted`` as before, from the module that imports ccxt
    # (accounts.ratelimit_errors), and only when asked for: the budget itself needs no ccxt.
    if name == "BudgetExhausted":
        from accounts.ratelimit_errors import BudgetExhausted

        return BudgetExhausted
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


@dataclass(frozen=True, slots=True)
class Window:
    """At most ``limit`` units in any ``seconds``-long interval, ``burst`` of them at once."""

    limit: float
    seconds: float
    burst: float

    def __post_init__(self) -> None:
        if not 0 < self.burst < self.limit or self.seconds <= 0:
            raise ValueError(f"A window needs 0 < burst < limit and seconds > 0: {self!r}")

    @property
    def rate(self) -> float:
        """Refill per second: what is left of the limit after the burst, spread evenly."""
        return (self.limit - self.burst) / self.seconds


@dataclass(frozen=True, slots=True)
class VenueLimits:
    weight: tuple[Window, ...]
    orders: tuple[Window, ...] = ()
    # Exchange weight per unit of ccxt cost (ccxt scales some APIs to its rateLimit).
    weight_per_cost: float = 1.0


DEFAULT_LIMITS: dict[str, VenueLimits] = {
    "binance:spot": VenueLimits(
        weight=(Window(limit=4800, seconds=60, burst=600),),
        orders=(
            Window(limit=80, seconds=10, burst=20),
            Window(limit=160_000, seconds=86_400, burst=10_000),
        ),
        weight_per_cost=5,
    ),
    "binance:swap": VenueLimits(
        weight=(Window(limit=1920, seconds=60, burst=240),),
        orders=(
            Window(limit=240, seconds=10, burst=40),
            Window(limit=960, seconds=60, burst=120),
        ),
        weight_per_cost=1,
    ),
}


def _parse_venue(base: VenueLimits, override: Mapping[str, Any]) -> VenueLimits:
    changes: dict[str, Any] = {}
    for name in ("weight", "orders"):
        if name in override:
            changes[name] = tuple(Window(**window) for window in override[name])
    if "weight_per_cost" in override:
        changes["weight_per_cost"] = float(override["weight_per_cost"])
    return dataclasses.replace(base, **changes)


def limits_for(exchange_id: str, market_type: str, *, rate_limit_ms: float = 50) -> VenueLimits:
    """The venue's windows: the defaults, with ``settings.EXCHANGE_RATE_LIMITS`` on top.

    ``rate_limit_ms`` (the ccxt client's ``rateLimit``) paces exchanges without an entry.
    """
    venue = f"{exchange_id}:{market_type}"
    base = DEFAULT_LIMITS.get(venue)
    if base is None:
        per_second = 1000 / max(rate_limit_ms, 1)
        base = VenueLimits(weight=(Window(limit=per_second * 60, seconds=60, burst=per_second),))
    override = getattr(settings, "EXCHANGE_RATE_LIMITS", {}).get(venue)
    return _parse_venue(base, override) if override else base


# --- Redis -----------------------------------------------------------------------------------
# KEYS: one per window. ARGV[1]: now in seconds, '' for Redis' clock. Then per window i:
# ARGV[2i] the charge and ARGV[2i+1] the tolerance (this priority's share of the burst),
# both in seconds of refill. Returns {granted, wait seconds, now} with numbers as strings:
# Redis would truncate a Lua number to an integer.
_GCRA = """
local now = tonumber(ARGV[1])
if not now then
  local t = redis.call('TIME')
  now = tonumber(t[1]) + tonumber(t[2]) / 1000000
end
local wait = 0
local tats = {}
for i = 1, #KEYS do
  local charge = tonumber(ARGV[2 * i])
  local tolerance = tonumber(ARGV[2 * i + 1])
  local tat = tonumber(redis.call('GET', KEYS[i])) or now
  if tat < now then tat = now end
  local new_tat = tat + charge
  local allowed_at = new_tat - math.max(tolerance, charge)
  if allowed_at - now > wait then wait = allowed_at - now end
  tats[i] = new_tat
end
if wait > 0 then
  return {0, string.format('%.6f', wait), string.format('%.6f', now)}
end
for i = 1, #KEYS do
  local ttl = math.ceil((tats[i] - now) * 1000) + 1000
  redis.call('SET', KEYS[i], string.format('%.6f', tats[i]), 'PX', ttl)
end
return {1, '0', string.format('%.6f', now)}
"""

_redis: redis.Redis | None = None
_redis_lock = threading.Lock()


def budget_redis_url(redis_url: str) -> str:
    """Database 3 of the platform's Redis (0-2: broker, channel layer, cache)."""
    base = redis_url.rstrip("/")
    if base.rsplit("/", 1)[-1].isdigit():
        base = base.rsplit("/", 1)[0]
    return f"{base}/3"


def connect(url: str) -> redis.Redis:
    # Short timeouts and one immediate retry (a connection dropped by a Redis restart):
    # redis-py's default backoff would hold every request for seconds on a dead Redis.
    return redis.Redis.from_url(
        url,
        socket_connect_timeout=1,
        socket_timeout=1,
        health_check_interval=30,
        retry=Retry(NoBackoff(), retries=1),
    )


def redis_client() -> redis.Redis:
    """The process's one connection pool (redis-py replaces it in a forked child)."""
    global _redis
    if _redis is None:
        with _redis_lock:
            if _redis is None:
                _redis = connect(budget_redis_url(settings.REDIS_URL))
    return _redis


@dataclass(frozen=True, slots=True)
class Decision:
    granted: bool
    wait: float  # seconds until the request would fit; 0 when granted
    now: float  # the clock the decision was made on (Redis' unless one was given)


@dataclass(frozen=True, slots=True)
class Grant:
    at: float  # when the budget granted the request, on the budget's clock
    waited: float  # seconds slept for it; 0 when granted at the first ask


class RequestBudget:
    """The windows of one account under one Redis key prefix."""

    def __init__(
        self,
        key: str,
        limits: VenueLimits,
        *,
        sync_share: float = 0.7,
        max_wait: Mapping[str, float] | None = None,
        client: redis.Redis | None = None,
        clock: Callable[[], float] | None = None,
        label: str = "",
    ) -> None:
        if not 0 < sync_share <= 1:
            raise ValueError("sync_share must be in (0, 1].")
        self.key = key
        self.limits = limits
        self.sync_share = sync_share
        self.max_wait = {Priority.ORDERS: 5.0, Priority.SYNC: 30.0, **(max_wait or {})}
        self.label = label or key
        self._redis = client
        self._clock = clock
        self._script: Any = None

    def keys(self) -> list[str]:
        return [f"{self.key}:weight:{i}" for i in range(len(self.limits.weight))] + [
            f"{self.key}:orders:{i}" for i in range(len(self.limits.orders))
        ]

    def _script_for(self) -> Any:
        if self._script is None:
            self._script = (self._redis or redis_client()).register_script(_GCRA)
        return self._script

    def check(
        self, weight: float, *, priority: str, orders: int = 0, now: float | None = None
    ) -> Decision:
        """Charge ``weight`` (and ``orders`` order counts) if all windows allow it now."""
        share = 1.0 if Priority(priority) is Priority.ORDERS else self.sync_share
        charges = [
            (f"{self.key}:weight:{i}", window, weight)
            for i, window in enumerate(self.limits.weight)
        ]
        # Order-count windows gate order calls only; a balance fetch never waits on them.
        if orders:
            charges += [
                (f"{self.key}:orders:{i}", window, orders)
                for i, window in enumerate(self.limits.orders)
            ]
        keys: list[str] = []
        args: list[str] = []
        for key, window, units in charges:
            keys.append(key)
            args += [repr(units / window.rate), repr(share * window.burst / window.rate)]
        if now is None and self._clock is not None:
            now = self._clock()
        granted, wait, at = self._script_for()(
            keys=keys, args=["" if now is None else repr(now), *args]
        )
        return Decision(granted=bool(granted), wait=float(wait), now=float(at))

    def _next_wait(self, decision: Decision, started: float, priority: str) -> float:
        # Some jitter, so processes refused together do not all come back together.
        wait = max(decision.wait, 0.001) * (1 + 0.1 * random.random())  # noqa: S311
        limit = self.max_wait[Priority(priority)]
        if time.monotonic() - started + wait > limit:
            from accounts.ratelimit_errors import BudgetExhausted

            raise BudgetExhausted(
                f"Request budget of {self.label} exhausted: a {priority} request would wait "
                f"{decision.wait:.2f} s more, over its {limit:g} s maximum. Not sent."
            )
        return wait

    def acquire(self, weight: float, *, priority: str, orders: int = 0) -> Grant:
        """Block until the request fits and is charged. Raises BudgetExhausted."""
        started, waited = time.monotonic(), 0.0
        while not (decision := self.check(weight, priority=priority, orders=orders)).granted:
            wait = self._next_wait(decision, started, priority)
            time.sleep(wait)
            waited += wait
        return Grant(at=decision.now, waited=waited)

    async def acquire_async(self, weight: float, *, priority: str, orders: int = 0) -> Grant:
        """``acquire`` for asyncio: Redis is asked in a thread, the wait is awaited."""
        started, waited = time.monotonic(), 0.0
        while True:
            decision = await asyncio.to_thread(self.check, weight, priority=priority, orders=orders)
            if decision.granted:
                return Grant(at=decision.now, waited=waited)
            wait = self._next_wait(decision, started, priority)
            await asyncio.sleep(wait)
            waited += wait


def budget_for_account(account: ExchangeAccount, *, rate_limit_ms: float = 50) -> RequestBudget:
    prefix = getattr(settings, "EXCHANGE_RATE_LIMIT_KEY_PREFIX", "ratelimit")
    return RequestBudget(
        # The braces are a Redis Cluster hash tag: all of one account's keys on one node.
        f"{{{prefix}:account:{account.pk}}}",
        limits_for(account.exchange_id, account.market_type, rate_limit_ms=rate_limit_ms),
        sync_share=getattr(settings, "EXCHANGE_RATE_LIMIT_SYNC_SHARE", 0.7),
        max_wait=getattr(settings, "EXCHANGE_RATE_LIMIT_MAX_WAIT_SECONDS", None),
        label=f"account {account.pk} ({account.exchange_id} {account.market_type})",
    )


# --- ccxt ------------------------------------------------------------------------------------
# Order create/cancel/edit: any write to an endpoint about orders (order, batchOrders,
# orderList/oco, order/cancelReplace, openOrders, algoOrder, margin/order, ...), but not
# Binance's order/test, which places nothing.
_ORDER_PATH = re.compile(r"order", re.IGNORECASE)
_WRITE_METHODS = frozenset({"POST", "PUT", "DELETE", "PATCH"})


def order_count(method: object, path: object, params: object) -> int:
    """How many orders a request creates, cancels or edits, by ccxt's method and path."""
    method, path = str(method).upper(), str(path)
    if method not in _WRITE_METHODS or not _ORDER_PATH.search(path) or path.endswith("/test"):
        return 0
    batch = params.get("batchOrders") if isinstance(params, dict) else None
    if isinstance(batch, str):
        try:
            batch = json.loads(batch)
        except ValueError:
            batch = None
    if isinstance(batch, list):
        return max(len(batch), 1)
    # A list of orders (Binance's OCO: two) counts each of its orders.
    return 2 if path.lower().startswith("orderlist/oco") else 1


class RequestCost(float):
    """ccxt's cost for one request, tagged with its order count.

    ccxt calls ``calculate_rate_limiter_cost(api, method, path, ...)`` and passes only the
    number to ``throttle``; the tag carries what the path said, in the same call stack.
    """

    __slots__ = ("orders",)
    orders: int

    def __new__(cls, cost: float, orders: int = 0) -> RequestCost:
        instance = super().__new__(cls, cost)
        instance.orders = orders
        return instance


def install_budget(client: ccxt.Exchange, account: ExchangeAccount, *, priority: str) -> Any:
    """Put the account's shared budget in ccxt's path for every request of ``client``.

    ccxt's ``fetch2`` calls ``throttle(cost)`` before each request when ``enableRateLimit``
    is on; the replacement charges the shared budget instead of sleeping on the instance's
    own timer, so nothing is throttled twice. Returns ``client``.
    """
    priority = Priority(priority)
    budget = budget_for_account(account, rate_limit_ms=client.rateLimit or 50)
    calculate_cost = client.calculate_rate_limiter_cost
    local_throttle = client.throttle  # ccxt's own, for when Redis is out of reach

    def calculate_rate_limiter_cost(api, method, path, params, config=None):
        cost = calculate_cost(api, method, path, params, config or {})
        return RequestCost(1 if cost is None else cost, order_count(method, path, params))

    def charge(cost: float | None) -> tuple[float, str, int]:
        orders = getattr(cost, "orders", 0)
        weight = (1 if cost is None else cost) * budget.limits.weight_per_cost
        return weight, Priority.ORDERS if orders else priority, orders

    # An asyncio client has a coroutine ``fetch`` (testing isinstance against
    # ccxt.async_support would import it, some 30 MB, into processes that never use it).
    if asyncio.iscoroutinefunction(client.fetch):

        async def throttle(cost=None):
            weight, request_priority, orders = charge(cost)
            try:
                return await budget.acquire_async(weight, priority=request_priority, orders=orders)
            except redis.RedisError:
                logger.warning("Redis unreachable: ccxt's own limiter for %s", budget.label)
                return await local_throttle(cost)

    else:

        def throttle(cost=None):
            weight, request_priority, orders = charge(cost)
            try:
                return budget.acquire(weight, priority=request_priority, orders=orders)
            except redis.RedisError:
                logger.warning("Redis unreachable: ccxt's own limiter for %s", budget.label)
                return local_throttle(cost)

    client.calculate_rate_limiter_cost = calculate_rate_limiter_cost
    client.throttle = throttle
    client.request_budget = budget
    client.request_priority = priority
    return client
