"""The venue an account's market data comes from (see models)."""

from __future__ import annotations

from accounts.models import ExchangeAccount


def venue_of(account: ExchangeAccount) -> str:
    """``binance:spot`` for the real market (live and paper accounts), ``binance-testnet:
    swap`` for a testnet, ``simulator:spot`` for our simulator: each quotes its own
    prices, so their candles must never mix."""
    if account.mode == ExchangeAccount.Mode.SIMULATOR:
        source = "simulator"
    elif account.mode == ExchangeAccount.Mode.TESTNET:
        source = f"{account.exchange_id}-testnet"
    else:
        source = account.exchange_id
    return f"{source}:{account.market_type}"
