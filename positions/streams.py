"""What the positions app watches on an account's stream: balances and positions."""

from __future__ import annotations

from accounts.models import ExchangeAccount
from accounts.streams import StreamApp, StreamLoop


def apply_balance(account: ExchangeAccount, balance: dict) -> None:
    from positions.services import balances_apply

    balances_apply(account=account, balance=balance, complete=False)


def apply_positions(account: ExchangeAccount, payloads: list[dict]) -> None:
    from positions.services import positions_apply_exchange

    positions_apply_exchange(account=account, payloads=payloads, complete=False)


def catch_up(account_id: int) -> None:
    from positions.tasks import account_sync

    account_sync(account_id)


def _derivatives(account: ExchangeAccount) -> bool:
    return account.market_type != ExchangeAccount.MarketType.SPOT


STREAM = StreamApp(
    loops=(
        StreamLoop("watch_balance", apply_balance),
        StreamLoop("watch_positions", apply_positions, applies_to=_derivatives, cache="positions"),
    ),
    catch_up=catch_up,
)
