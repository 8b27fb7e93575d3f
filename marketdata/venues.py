"""The venue an account's market data comes from (accounts.models.ExchangeAccount.data_venue)."""

from __future__ import annotations

from accounts.models import ExchangeAccount


def venue_of(account: ExchangeAccount) -> str:
    return account.data_venue
