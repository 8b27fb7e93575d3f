"""What the orders app watches on an account's stream: orders and trades.

They feed the same merge services as REST polling, so an update that arrives twice,
late, or out of order does no harm; after a reconnect a REST poll brings in whatever
happened while the stream was away (accounts.streams runs both).
"""

from __future__ import annotations

from accounts.models import ExchangeAccount
from accounts.streams import StreamApp, StreamLoop
from orders import venue
from orders.services.common import STREAM as STREAM_ACTOR


def apply_orders(account: ExchangeAccount, payloads: list[dict]) -> None:
    from orders.services import order_apply_updates

    # One delivery, one transaction: one commit and one positions update for the lot.
    order_apply_updates(
        account=account, updates=[venue.parse_order(p) for p in payloads], actor=STREAM_ACTOR
    )


def apply_trades(account: ExchangeAccount, payloads: list[dict]) -> None:
    from orders.services import fills_record

    fills_record(
        account=account, trades=[venue.parse_trade(t) for t in payloads], actor=STREAM_ACTOR
    )


def catch_up(account_id: int) -> None:
    from orders.services import orders_poll

    orders_poll(account_id=account_id)


STREAM = StreamApp(
    loops=(
        StreamLoop("watch_orders", apply_orders, cache="orders"),
        StreamLoop("watch_my_trades", apply_trades, cache="myTrades"),
    ),
    catch_up=catch_up,
)
