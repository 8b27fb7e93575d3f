"""Channel group names. Every group name in the code comes from here."""

from __future__ import annotations


def account_group(account_id: int) -> str:
    return f"account.{account_id}"


def user_group(user_id: int) -> str:
    return f"user.{user_id}"
