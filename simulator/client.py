"""ccxt clients configured for the simulator (sync, async and ccxt.pro).

Every ``urls['api']`` key is pointed at the simulator, or a forgotten one would call the
real Binance. Websocket URLs (served by ``simulator/ws/``; these are the paths it must
implement, relative to the simulator's base URL with ``http`` -> ``ws``):

====================================  ==============================================
``/ws/spot/<n>``                      spot market streams (ccxt appends a stream number)
``/ws/linear/market/ws/<n>``          USD-M tickers, klines, mark price
``/ws/linear/public/ws/<n>``          USD-M depth and trades
``/ws/linear/private/ws?listenKey=K``  USD-M user data (ORDER_TRADE_UPDATE, ALGO_UPDATE,
                                      ACCOUNT_UPDATE); K from ``POST /fapi/v1/listenKey``
``/ws-api/v3``                        spot websocket API (userDataStream.subscribe.signature)
``/ws-fapi/v1``                       USD-M websocket API
====================================  ==============================================

ccxt rewrites a ``linear`` base ending in ``/ws`` into the ``market``/``public``/``private``
forms above, which is why ``linear`` is ``<base>/ws/linear/ws``.

The error-table trap: ccxt picks Binance's spot-only and futures-only error tables by URL
prefix (``https://api.binance.com/``, ``https://fapi.binance.com/``); on a local URL they
are skipped and e.g. ``-2019 Margin is insufficient.`` becomes a bare ExchangeError. The
subclasses here map the local prefixes back to the real hosts in ``get_exceptions_by_url``.

The same kind of trap on the websocket side: ccxt.pro binance tells a spot stream message
from a futures one by ``/stream`` in the connection URL (``is_spot_url``; Binance's spot
streams live on ``stream.binance.com``). The pro subclasses also count the simulator's
spot stream base as spot, or a client with spot and linear markets loaded would file spot
depth/trade/kline updates under the swap market.
"""

from __future__ import annotations

import functools
from typing import Any

import ccxt

SPOT_REAL = "https://api.binance.com"
FUTURES_REAL = "https://fapi.binance.com"
DELIVERY_REAL = "https://dapi.binance.com"
OPTIONS_REAL = "https://eapi.binance.com"
PORTFOLIO_REAL = "https://papi.binance.com"


def _ws_base(base_url: str) -> str:
    if base_url.startswith("https://"):
        return "wss://" + base_url[len("https://") :]
    if base_url.startswith("http://"):
        return "ws://" + base_url[len("http://") :]
    return base_url


def simulator_urls(base_url: str) -> dict[str, Any]:
    """``urls['api']`` for a simulator at ``base_url`` (e.g. ``http://127.0.0.1:8765``)."""
    base = base_url.rstrip("/")
    ws = _ws_base(base)
    return {
        "public": f"{base}/api/v3",
        "private": f"{base}/api/v3",
        "v1": f"{base}/api/v1",
        "sapi": f"{base}/sapi/v1",
        "sapiV2": f"{base}/sapi/v2",
        "sapiV3": f"{base}/sapi/v3",
        "sapiV4": f"{base}/sapi/v4",
        "fapiPublic": f"{base}/fapi/v1",
        "fapiPublicV2": f"{base}/fapi/v2",
        "fapiPublicV3": f"{base}/fapi/v3",
        "fapiPrivate": f"{base}/fapi/v1",
        "fapiPrivateV2": f"{base}/fapi/v2",
        "fapiPrivateV3": f"{base}/fapi/v3",
        "fapiData": f"{base}/futures/data",
        "dapiPublic": f"{base}/dapi/v1",
        "dapiPrivate": f"{base}/dapi/v1",
        "dapiPrivateV2": f"{base}/dapi/v2",
        "dapiData": f"{base}/futures/data",
        "eapiPublic": f"{base}/eapi/v1",
        "eapiPrivate": f"{base}/eapi/v1",
        "papi": f"{base}/papi/v1",
        "papiV2": f"{base}/papi/v2",
        "ws": {
            "spot": f"{ws}/ws/spot",
            "margin": f"{ws}/ws/spot",
            "linear": f"{ws}/ws/linear/ws",
            "inverse": f"{ws}/ws/inverse/ws",
            "stock": f"{ws}/ws/stock/ws",
            "option": f"{ws}/ws/linear/public/ws",
            "optionMarket": f"{ws}/ws/linear/market/ws",
            "optionPrivate": f"{ws}/ws/linear/private/ws",
            "papi": f"{ws}/ws/papi/ws",
            "ws-api": {
                "spot": f"{ws}/ws-api/v3",
                "linear": f"{ws}/ws-fapi/v1",
                "inverse": f"{ws}/ws-dapi/v1",
            },
        },
    }


def _real_url(url: str, local_base: str) -> str:
    """Map a simulator URL to the Binance host whose error table applies to it."""
    if not local_base or not url.startswith(local_base):
        return url
    path = url[len(local_base) :]
    if path.startswith(("/fapi/", "/futures/")):
        return FUTURES_REAL + path
    if path.startswith("/dapi/"):
        return DELIVERY_REAL + path
    if path.startswith("/eapi/"):
        return OPTIONS_REAL + path
    if path.startswith("/papi/"):
        return PORTFOLIO_REAL + path
    return SPOT_REAL + path


class _SimulatorErrorsMixin:
    """Restores ccxt's per-market error tables for local URLs (see the module docstring)."""

    simulator_base_url = ""

    def get_exceptions_by_url(self, url: str, exactOrBroad: str) -> dict:
        return super().get_exceptions_by_url(  # type: ignore[misc]
            _real_url(url, self.simulator_base_url) if url else url, exactOrBroad
        )


class _SimulatorStreamsMixin:
    """ccxt.pro: the simulator's spot stream URLs are spot (see the module docstring)."""

    def is_spot_url(self, client: Any) -> bool:
        spot = self.urls["api"]["ws"]["spot"]  # type: ignore[attr-defined]
        return client.url.startswith(spot + "/") or super().is_spot_url(client)  # type: ignore[misc]


class SimBinance(_SimulatorErrorsMixin, ccxt.binance):
    pass


class SimBinanceUsdm(_SimulatorErrorsMixin, ccxt.binanceusdm):
    pass


_SYNC_CLASSES = {"spot": SimBinance, "swap": SimBinanceUsdm}


@functools.cache
def _client_class(market_type: str, flavour: str) -> type:
    """The simulator subclass of a ccxt class. The asyncio and ccxt.pro modules are
    imported only here, when first wanted: together they add some 30 MB to a process,
    and the web and worker processes never need them."""
    if flavour == "sync":
        return _SYNC_CLASSES[market_type]
    if flavour == "async":
        import ccxt.async_support as ccxt_async

        base = ccxt_async.binance if market_type == "spot" else ccxt_async.binanceusdm
        return type(f"SimAsync{base.__name__}", (_SimulatorErrorsMixin, base), {})
    import ccxt.pro as ccxt_pro

    base = ccxt_pro.binance if market_type == "spot" else ccxt_pro.binanceusdm
    return type(f"SimPro{base.__name__}", (_SimulatorStreamsMixin, _SimulatorErrorsMixin, base), {})


def _deep_merge(base: dict[str, Any], extra: dict[str, Any]) -> dict[str, Any]:
    out = dict(base)
    for key, value in extra.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = _deep_merge(out[key], value)
        else:
            out[key] = value
    return out


def simulator_options(market_type: str) -> dict[str, Any]:
    """Options that cut ccxt's start-up calls to exchangeInfo alone."""
    options: dict[str, Any] = {
        "fetchCurrencies": False,
        "fetchMargins": False,
        "watchPositions": {"fetchPositionsSnapshot": False},
    }
    if market_type == "spot":
        options["fetchMarkets"] = {"types": ["spot"]}
        options["defaultType"] = "spot"
    else:
        options["fetchMarkets"] = {"types": ["linear"]}
        options["defaultType"] = "swap"
    return options


def simulator_client(
    base_url: str,
    *,
    market_type: str,
    api_key: str = "",
    secret: str = "",
    asynchronous: bool = False,
    pro: bool = False,
    options: dict | None = None,
    timeout_ms: int = 10_000,
) -> ccxt.Exchange:
    """A ccxt client for the simulator: ``market_type`` "spot" -> binance, "swap" -> binanceusdm.

    ``pro=True`` gives the (async) ccxt.pro class; ``asynchronous=True`` the async REST one.
    """
    if market_type not in ("spot", "swap"):
        raise ValueError(f"market_type must be 'spot' or 'swap', not {market_type!r}")
    flavour = "pro" if pro else ("async" if asynchronous else "sync")
    cls = _client_class(market_type, flavour)
    base = base_url.rstrip("/")
    config: dict[str, Any] = {
        "apiKey": api_key,
        "secret": secret,
        "timeout": timeout_ms,
        "enableRateLimit": True,
        "urls": {"api": simulator_urls(base)},
        "options": _deep_merge(simulator_options(market_type), options or {}),
    }
    client = cls(config)
    client.simulator_base_url = base
    return client


__all__ = ["simulator_client", "simulator_options", "simulator_urls"]
