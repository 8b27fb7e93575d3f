"""The exchange gateway: the one place that builds ccxt clients for an account.

Credentials stay sealed (common.fields.SealedSecret) everywhere else and are revealed
here only, just before a client is built, in the process that calls the exchange.
Markets are loaded once per (exchange, mode, market type) and shared by every process
through the cache, so a new client or a new worker does not call the venue for them.

ccxt is imported inside the functions that need it, never at the top: ``import ccxt``
loads every exchange module (some 65 MB), and the web process, which imports this module
(admin, order services), reads market rules from the cache without a client
(``account_market_rules``), so it never loads ccxt unless a request calls the venue.
"""

from __future__ import annotations

import functools
import threading
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING

from django.conf import settings
from django.core.cache import cache

from accounts.models import ExchangeAccount
from accounts.precision import MarketRules
from accounts.ratelimit import install_budget
from common.exceptions import ValidationFailed
from common.fields import reveal

if TYPE_CHECKING:
    import ccxt

# The simulator speaks Binance's spot and USD-M APIs only.
SIMULATED_EXCHANGES = frozenset({"binance"})


@dataclass(frozen=True, slots=True)
class Credentials:
    api_key: str
    secret: str
    password: str

    def as_secrets(self) -> tuple[str, ...]:
        return tuple(value for value in (self.api_key, self.secret, self.password) if value)

    def __repr__(self) -> str:  # never let a traceback or a log line print them
        return "Credentials(****)"


def ccxt_class_name(exchange_id: str, market_type: str) -> str:
    """Binance splits spot and USD-M futures into two ccxt classes; others use defaultType."""
    if exchange_id == "binance" and market_type == ExchangeAccount.MarketType.SWAP:
        return "binanceusdm"
    return exchange_id


@functools.cache
def supported_exchanges() -> frozenset[str]:
    """ccxt's exchange ids."""
    import ccxt

    return frozenset(ccxt.exchanges)


def validate_exchange(*, exchange_id: str, mode: str, market_type: str) -> None:
    import ccxt

    if exchange_id not in supported_exchanges():
        raise ValidationFailed(
            f"Unknown exchange {exchange_id!r}: use a ccxt exchange id such as 'binance'.",
            extra={"field": "exchange_id"},
        )
    if mode == ExchangeAccount.Mode.SIMULATOR and exchange_id not in SIMULATED_EXCHANGES:
        raise ValidationFailed(
            "The local simulator speaks Binance only: use exchange_id 'binance' in simulator mode.",
            extra={"field": "mode"},
        )
    if not hasattr(ccxt, ccxt_class_name(exchange_id, market_type)):
        raise ValidationFailed(
            f"{exchange_id} has no {market_type} client in ccxt.", extra={"field": "market_type"}
        )


@functools.cache
def required_credentials(exchange_id: str) -> dict[str, bool]:
    """Which credentials the exchange needs: {'apiKey': True, 'secret': True, 'password': ...}."""
    import ccxt

    # Declared in describe(), so only an instance knows them.
    required = getattr(ccxt, exchange_id)().requiredCredentials
    return {name: bool(required.get(name)) for name in ("apiKey", "secret", "password")}


def load_credentials(account: ExchangeAccount) -> Credentials:
    """Decrypt the account's credentials: the one place that reveals them."""
    return Credentials(
        api_key=reveal(account.api_key),
        secret=reveal(account.api_secret),
        password=reveal(account.api_passphrase),
    )


def _config(credentials: Credentials, market_type: str) -> dict:
    config: dict = {
        "enableRateLimit": True,
        "timeout": settings.EXCHANGE_TIMEOUT_MS,
        "options": {},
    }
    if credentials.api_key:
        config["apiKey"] = credentials.api_key
        config["secret"] = credentials.secret
    if credentials.password:
        config["password"] = credentials.password
    if market_type == ExchangeAccount.MarketType.SWAP:
        config["options"]["defaultType"] = "swap"
    return config


def build_client(
    account: ExchangeAccount,
    *,
    asynchronous: bool = False,
    pro: bool = False,
    credentials: Credentials | None = None,
    priority: str = "sync",
) -> ccxt.Exchange:
    """A new ccxt client for ``account`` (sync, asyncio, or ccxt.pro for websockets).

    Every request it sends charges the account's shared budget (accounts.ratelimit) at
    ``priority``: "orders" for the order path, "sync" for everything else.
    """
    credentials = credentials if credentials is not None else load_credentials(account)
    if account.mode == ExchangeAccount.Mode.SIMULATOR:
        from simulator.client import simulator_client

        if not settings.SIMULATOR_URL:
            raise ValidationFailed(
                "No exchange simulator here (SIMULATOR_URL is not set): simulator-mode "
                "accounts cannot connect."
            )

        client = simulator_client(
            settings.SIMULATOR_URL,
            market_type=account.market_type,
            api_key=credentials.api_key,
            secret=credentials.secret,
            asynchronous=asynchronous or pro,
            pro=pro,
            timeout_ms=settings.EXCHANGE_TIMEOUT_MS,
        )
        return install_budget(_tune(client), account, priority=priority)
    import ccxt

    name = ccxt_class_name(account.exchange_id, account.market_type)
    module = ccxt
    # Imported here, not at the top: the asyncio and ccxt.pro modules add some 30 MB to
    # every process, and only the streams process needs them.
    if pro:
        import ccxt.pro as module
    elif asynchronous:
        import ccxt.async_support as module
    klass = getattr(module, name, None)
    if klass is None:
        raise ValidationFailed(f"ccxt has no {'websocket ' if pro else ''}client for {name}.")
    client = klass(_config(credentials, account.market_type))
    if account.mode == ExchangeAccount.Mode.TESTNET:
        try:
            client.set_sandbox_mode(True)
        except ccxt.NotSupported as exc:
            raise ValidationFailed(f"{name} has no testnet in ccxt: {exc}") from exc
    return install_budget(_tune(client), account, priority=priority)


def _tune(client: ccxt.Exchange) -> ccxt.Exchange:
    """Options every client of ours shares."""
    fetch_open = client.options.get("fetchOpenOrders")
    if isinstance(fetch_open, dict):
        # Polling asks for all open orders in one call on purpose: it must also find
        # orders on symbols we never traded (placed outside the platform).
        fetch_open["warnWithoutSymbol"] = False
    return client


# --- Per-process client cache --------------------------------------------------------------
# Building a ccxt client costs milliseconds (Binance's describe() is large); a worker keeps
# one sync client per account and priority and reuses it (the request budget is in Redis).
# The key includes updated_at, so new credentials or a changed mode build a new client.
_clients: dict[tuple[int, str, object], ccxt.Exchange] = {}
_clients_lock = threading.Lock()


def get_client(account: ExchangeAccount, *, priority: str = "sync") -> ccxt.Exchange:
    key = (account.pk, priority, account.updated_at)
    with _clients_lock:
        client = _clients.get(key)
    if client is None:
        client = build_client(account, priority=priority)
        with _clients_lock:
            for stale in [k for k in _clients if k[:2] == key[:2]]:
                del _clients[stale]
            _clients[key] = client
    return client


def forget_all_clients() -> None:
    """Drop every cached client and market (tests; after moving SIMULATOR_URL)."""
    with _clients_lock:
        _clients.clear()
    _local_markets.clear()


def forget_client(account_id: int) -> None:
    with _clients_lock:
        for stale in [k for k in _clients if k[0] == account_id]:
            del _clients[stale]


# --- Markets -----------------------------------------------------------------------------
# key -> (expires at, markets, the venue's precision mode), this process's copy.
_local_markets: dict[str, tuple[float, dict, int]] = {}
# A short local lifetime: a refresh written to the shared cache reaches every process soon.
LOCAL_MARKETS_SECONDS = 60


def markets_cache_key(account: ExchangeAccount) -> str:
    return f"markets:{account.exchange_id}:{account.mode}:{account.market_type}"


def tickers_cache_key(account: ExchangeAccount) -> str:
    """Where the venue's last prices are cached by market ("BTC/USDT" -> "60000.1"): beat
    keeps them warm (positions.selectors.prices_refresh); the risk gate and order checks
    read them without calling the venue."""
    return f"tickers:{markets_cache_key(account)}"


def precision_mode_cache_key(account: ExchangeAccount) -> str:
    """Where the client's ``precisionMode`` is cached beside the markets: how to read their
    precision numbers, which only a client (and so ccxt) knows otherwise."""
    return f"precision-mode:{markets_cache_key(account)}"


def ensure_markets(
    client: ccxt.Exchange, account: ExchangeAccount, *, reload: bool = False
) -> dict:
    """Give ``client`` its markets from the process, then the shared cache, then the venue."""
    if client.markets and not reload:
        return client.markets
    key = markets_cache_key(account)
    mode_key = precision_mode_cache_key(account)
    now = time.monotonic()
    markets = None
    if not reload:
        local = _local_markets.get(key)
        if local and local[0] > now:
            markets = local[1]
        else:
            shared = cache.get_many([key, mode_key])
            markets = shared.get(key)
            if markets is not None and mode_key not in shared:
                # Markets cached before the mode was: add it, so the cache alone answers.
                cache.add(mode_key, client.precisionMode, timeout=settings.MARKETS_CACHE_SECONDS)
    if markets is None:
        markets = client.load_markets(reload=True)
        cache.set_many(
            {key: markets, mode_key: client.precisionMode},
            timeout=settings.MARKETS_CACHE_SECONDS,
        )
    else:
        client.set_markets(markets)
    _local_markets[key] = (now + LOCAL_MARKETS_SECONDS, markets, client.precisionMode)
    return client.markets


def cached_markets(account: ExchangeAccount) -> tuple[dict, int] | None:
    """The markets and precision mode of the account's venue from this process, then the
    shared cache, as ``ensure_markets`` stored them; None when either is missing."""
    key = markets_cache_key(account)
    now = time.monotonic()
    local = _local_markets.get(key)
    if local and local[0] > now:
        return local[1], local[2]
    mode_key = precision_mode_cache_key(account)
    shared = cache.get_many([key, mode_key])
    markets, precision_mode = shared.get(key), shared.get(mode_key)
    if markets is None or precision_mode is None:
        return None
    _local_markets[key] = (now + LOCAL_MARKETS_SECONDS, markets, precision_mode)
    return markets, precision_mode


def _rules(
    markets: dict, precision_mode: int, account: ExchangeAccount, symbol: str
) -> MarketRules:
    market = markets.get(symbol)
    if market is None:
        raise ValidationFailed(
            f"Unknown symbol {symbol!r} on {account.exchange_id} {account.market_type}.",
            extra={"field": "symbol"},
        )
    return MarketRules.from_ccxt(market, precision_mode=precision_mode)


def market_rules(client: ccxt.Exchange, account: ExchangeAccount, symbol: str) -> MarketRules:
    return _rules(ensure_markets(client, account), client.precisionMode, account, symbol)


def account_market_rules(account: ExchangeAccount, symbol: str) -> MarketRules:
    """``symbol``'s rules on the account's venue, from the cached markets without a client.

    The web process answers an order this way without importing ccxt. Only on a cold cache
    does it fall back to the account's client (``market_rules``), which imports ccxt and
    loads the markets from the venue once for every process. The cached markets are the
    ones a client got (ccxt's ``set_markets`` changes nothing in them that the rules read),
    so both ways give the same rules.
    """
    cached = cached_markets(account)
    if cached is None:
        return market_rules(get_client(account), account, symbol)
    markets, precision_mode = cached
    return _rules(markets, precision_mode, account, symbol)
