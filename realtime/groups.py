"""Channel group names. Every group name in the code comes from here."""

from __future__ import annotations

import hashlib


def account_group(account_id: int) -> str:
    return f"account.{account_id}"


def user_group(user_id: int) -> str:
    return f"user.{user_id}"


def session_group(session_key: str) -> str:
    # A hash: the session key is a credential, and group names travel through Redis.
    return f"session.{hashlib.sha256(session_key.encode()).hexdigest()[:32]}"


def market_group(venue: str, symbol: str) -> str:
    # Group names allow only ASCII letters, digits, hyphens, periods and underscores.
    safe = f"{venue}.{symbol}".replace(":", "_").replace("/", "-")
    return f"market.{safe}"
