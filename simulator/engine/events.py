"""Events the engine publishes to its listeners (the websocket layer builds on these).

Contract
--------
``Exchange.add_listener(callback)`` registers ``callback(event)``; ``remove_listener``
undoes it. Callbacks run synchronously, on the thread that drives the engine - in the
server that is the aiohttp event loop - right after the state change and in the order
the changes happened. A callback must not block or raise (an exception is logged and
swallowed so one bad subscriber cannot break matching); to do I/O, queue the event and
let a task send it (``loop.call_soon`` / ``asyncio.Queue.put_nowait``).

Events carry snapshots (copies) of the order, algo order, fill and position, so a
subscriber may keep them after the callback returns.

Types (``event.type`` is a dotted name, house style):

=====================  ==========================================================
``order.updated``      :class:`OrderUpdated` - a spot or USD-M order changed. ``execution_type``
                       is Binance's NEW, TRADE, CANCELED or EXPIRED, plus TRIGGERED when a
                       spot stop order starts working (Binance sends no report for that; map
                       it or skip it). ``last_fill`` is set for TRADE. A futures order placed
                       by a triggered algo order has ``orig_type`` = the algo type.
                       AMENDMENT: a USD-M order was modified in place (same id, new price
                       and/or quantity; Binance's ORDER_TRADE_UPDATE ``x``), possibly followed
                       by TRADE if the new price crosses. A spot cancelReplace is CANCELED for
                       the old order, then NEW (and TRADE...) for the new one, as on Binance.
                       Spot OCO orders carry their ``order_list_id``: when one triggers or
                       trades, the other is EXPIRED first; cancelling one is CANCELED for both.
``trade.user``         :class:`UserTrade` - one fill of one account's order (maker or taker).
``balance.changed``    :class:`BalanceChanged` - spot free/locked or the USD-M wallet
                       changed for the listed assets; read the account for values.
``position.changed``   :class:`PositionChanged` - a USD-M position's amount/entry changed.
``algo.updated``       :class:`AlgoOrderUpdated` - a USD-M algo (conditional) order changed:
                       NEW, CANCELED, TRIGGERING, FINISHED, EXPIRED, REJECTED.
``trade.public``       :class:`PublicTrade` - a trade printed on a market.
``book.changed``       :class:`BookChanged` - the book of a market changed; ``first_update_id``
                       .. ``last_update_id`` and the changed levels (price -> new total
                       quantity, 0 = level removed) since the previous BookChanged.
``kline.updated``      :class:`KlineUpdated` - the current 1m candle of a market changed.
``mark.updated``       :class:`MarkPriceUpdated` - a USD-M mark price moved (once per tick).
=====================  ==========================================================

``venue`` is ``"spot"`` or ``"futures"`` (USD-M); ``symbol`` is Binance's id (``BTCUSDT``).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal
from typing import TYPE_CHECKING, ClassVar

if TYPE_CHECKING:
    from .model import AlgoOrder, Candle, Fill, Order, Position, PublicTradeRecord


@dataclass(frozen=True, slots=True)
class OrderUpdated:
    type: ClassVar[str] = "order.updated"
    venue: str
    account_id: str
    order: Order
    execution_type: str
    last_fill: Fill | None
    event_time: int


@dataclass(frozen=True, slots=True)
class UserTrade:
    type: ClassVar[str] = "trade.user"
    venue: str
    account_id: str
    fill: Fill
    event_time: int


@dataclass(frozen=True, slots=True)
class BalanceChanged:
    type: ClassVar[str] = "balance.changed"
    venue: str
    account_id: str
    assets: tuple[str, ...]
    reason: str  # ORDER, FUNDING (control API), REALIZED_PNL
    event_time: int


@dataclass(frozen=True, slots=True)
class PositionChanged:
    type: ClassVar[str] = "position.changed"
    account_id: str
    position: Position
    event_time: int


@dataclass(frozen=True, slots=True)
class AlgoOrderUpdated:
    type: ClassVar[str] = "algo.updated"
    account_id: str
    algo: AlgoOrder
    event_time: int


@dataclass(frozen=True, slots=True)
class PublicTrade:
    type: ClassVar[str] = "trade.public"
    venue: str
    symbol: str
    trade: PublicTradeRecord


@dataclass(frozen=True, slots=True)
class BookChanged:
    type: ClassVar[str] = "book.changed"
    venue: str
    symbol: str
    first_update_id: int
    last_update_id: int
    bids: tuple[tuple[Decimal, Decimal], ...]
    asks: tuple[tuple[Decimal, Decimal], ...]
    event_time: int


@dataclass(frozen=True, slots=True)
class KlineUpdated:
    type: ClassVar[str] = "kline.updated"
    venue: str
    symbol: str
    candle: Candle
    event_time: int


@dataclass(frozen=True, slots=True)
class MarkPriceUpdated:
    type: ClassVar[str] = "mark.updated"
    symbol: str
    mark_price: Decimal
    event_time: int


Event = (
    OrderUpdated
    | UserTrade
    | BalanceChanged
    | PositionChanged
    | AlgoOrderUpdated
    | PublicTrade
    | BookChanged
    | KlineUpdated
    | MarkPriceUpdated
)
Listener = Callable[[Event], None]
