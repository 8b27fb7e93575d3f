"""Plain state of the venue: orders, fills, algo orders, balances, positions, accounts."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from decimal import Decimal

ZERO = Decimal(0)

BUY = "BUY"
SELL = "SELL"

# Order statuses (Binance's).
NEW = "NEW"
PARTIALLY_FILLED = "PARTIALLY_FILLED"
FILLED = "FILLED"
CANCELED = "CANCELED"
EXPIRED = "EXPIRED"
OPEN_STATUSES = frozenset({NEW, PARTIALLY_FILLED})

# Order list (OCO) statuses: Binance's listStatusType / listOrderStatus.
EXEC_STARTED = "EXEC_STARTED"
EXECUTING = "EXECUTING"
ALL_DONE = "ALL_DONE"
NO_LIST = -1  # orderListId of an order that belongs to no list

# Types that execute as market orders once working.
MARKET_LIKE = frozenset(
    {
        "MARKET",
        "STOP_LOSS",
        "TAKE_PROFIT",
        "STOP_MARKET",
        "TAKE_PROFIT_MARKET",
        "TRAILING_STOP_MARKET",
    }
)
SPOT_STOP_TYPES = frozenset({"STOP_LOSS", "STOP_LOSS_LIMIT", "TAKE_PROFIT", "TAKE_PROFIT_LIMIT"})


@dataclass(eq=False, slots=True)
class Order:
    """A spot or USD-M order. ``account_id`` None marks the liquidity provider's quotes."""

    order_id: int
    venue: str
    symbol: str
    account_id: str | None
    client_order_id: str
    side: str
    type: str
    time_in_force: str
    price: Decimal
    orig_qty: Decimal
    time: int
    executed_qty: Decimal = ZERO
    cum_quote: Decimal = ZERO
    status: str = NEW
    stop_price: Decimal = ZERO
    quote_order_qty: Decimal = ZERO
    reduce_only: bool = False
    orig_type: str = ""
    update_time: int = 0
    working_time: int = -1  # -1 while a stop order waits for its trigger (Binance's value)
    order_list_id: int = NO_LIST
    # Spot: funds held for the rest of this order (asset, amount); released when it ends.
    locked_asset: str = ""
    locked: Decimal = ZERO
    fills: list[Fill] = field(default_factory=list)

    @property
    def remaining(self) -> Decimal:
        return self.orig_qty - self.executed_qty

    @property
    def is_open(self) -> bool:
        return self.status in OPEN_STATUSES

    @property
    def is_working(self) -> bool:
        return self.working_time >= 0

    @property
    def executes_as_market(self) -> bool:
        return self.type in MARKET_LIKE

    @property
    def avg_price(self) -> Decimal:
        if not self.executed_qty:
            return ZERO
        return self.cum_quote / self.executed_qty


@dataclass(frozen=True, slots=True)
class Fill:
    """One account's side of one trade."""

    trade_id: int
    order_id: int
    venue: str
    symbol: str
    side: str
    price: Decimal
    qty: Decimal
    quote_qty: Decimal
    commission: Decimal
    commission_asset: str
    is_maker: bool
    time: int
    realized_pnl: Decimal = ZERO
    order_list_id: int = NO_LIST


@dataclass(eq=False, slots=True)
class OrderList:
    """A spot OCO: two orders of one side and quantity, at most one of which may execute.

    While the list is executing it holds the funds for the quantity once (``locked``); its
    orders hold nothing. The first order to trigger or trade takes the hold over and the
    other expires; cancelling either cancels both and releases the hold.
    """

    order_list_id: int
    list_client_order_id: str
    symbol: str
    account_id: str
    orders: list[Order]  # Binance's order: the below order first, then the above one
    transaction_time: int
    locked_asset: str
    locked: Decimal
    contingency_type: str = "OCO"
    list_status_type: str = EXEC_STARTED
    list_order_status: str = EXECUTING

    @property
    def is_executing(self) -> bool:
        return self.list_order_status == EXECUTING

    def other(self, order: Order) -> Order:
        below, above = self.orders
        return above if order is below else below


@dataclass(frozen=True, slots=True)
class PublicTradeRecord:
    trade_id: int
    price: Decimal
    qty: Decimal
    quote_qty: Decimal
    time: int
    is_buyer_maker: bool


@dataclass(slots=True)
class Candle:
    open_time: int
    close_time: int
    open: Decimal
    high: Decimal
    low: Decimal
    close: Decimal
    volume: Decimal = ZERO
    quote_volume: Decimal = ZERO
    trades: int = 0
    taker_buy_volume: Decimal = ZERO
    taker_buy_quote_volume: Decimal = ZERO


@dataclass(eq=False, slots=True)
class AlgoOrder:
    """A USD-M conditional order waiting for its trigger (Binance's algo-order API)."""

    algo_id: int
    client_algo_id: str
    account_id: str
    symbol: str
    side: str
    order_type: str  # STOP, STOP_MARKET, TAKE_PROFIT, TAKE_PROFIT_MARKET, TRAILING_STOP_MARKET
    quantity: Decimal
    price: Decimal
    trigger_price: Decimal
    time_in_force: str
    reduce_only: bool
    close_position: bool
    working_type: str
    create_time: int
    update_time: int
    status: str = NEW
    activate_price: Decimal = ZERO
    callback_rate: Decimal = ZERO
    # Trailing stops: whether the activation price was reached, and the best price since.
    activated: bool = False
    extreme_price: Decimal = ZERO
    trigger_time: int = 0
    actual_order_id: int | None = None

    @property
    def is_open(self) -> bool:
        return self.status == NEW


@dataclass(slots=True)
class Balance:
    free: Decimal = ZERO
    locked: Decimal = ZERO

    @property
    def total(self) -> Decimal:
        return self.free + self.locked


@dataclass(slots=True)
class Position:
    """A one-way-mode USD-M position: signed amount, average entry price."""

    symbol: str
    amount: Decimal = ZERO
    entry_price: Decimal = ZERO
    update_time: int = 0


@dataclass(frozen=True, slots=True)
class ApiKey:
    key: str
    secret: str
    account_id: str
    can_trade: bool = True
    can_withdraw: bool = False
    can_futures: bool = True
    create_time: int = 0


@dataclass(eq=False)
class Account:
    account_id: str
    create_time: int
    spot_balances: dict[str, Balance] = field(default_factory=lambda: defaultdict(Balance))
    # USD-M wallet balance per margin asset (cross margin: one wallet per asset).
    futures_wallet: dict[str, Decimal] = field(default_factory=lambda: defaultdict(Decimal))
    futures_wallet_update: dict[str, int] = field(default_factory=dict)
    positions: dict[str, Position] = field(default_factory=dict)
    leverage: dict[str, int] = field(default_factory=dict)
    # USD-M margin type per symbol (CROSSED unless set ISOLATED), and Multi-Assets Mode.
    margin_type: dict[str, str] = field(default_factory=dict)
    multi_assets_margin: bool = False
    # All orders ever placed, by id; open ones indexed separately for fast lookups.
    orders: dict[tuple[str, int], Order] = field(default_factory=dict)  # (venue, order id)
    open_orders: dict[tuple[str, int], Order] = field(default_factory=dict)
    orders_by_client_id: dict[tuple[str, str], Order] = field(default_factory=dict)
    # Spot order lists (OCO), by orderListId and by listClientOrderId.
    order_lists: dict[int, OrderList] = field(default_factory=dict)
    order_lists_by_client_id: dict[str, OrderList] = field(default_factory=dict)
    fills: dict[str, list[Fill]] = field(default_factory=lambda: defaultdict(list))
    algo_orders: dict[int, AlgoOrder] = field(default_factory=dict)
    algo_by_client_id: dict[str, AlgoOrder] = field(default_factory=dict)
    listen_key: str = ""

    def position(self, symbol: str) -> Position:
        pos = self.positions.get(symbol)
        if pos is None:
            pos = self.positions[symbol] = Position(symbol)
        return pos
