"""The venue: accounts, markets and the matching of spot and USD-M orders.

Everything here is synchronous and single-threaded: the server calls it from its event
loop only, so no locks are needed and the order of calls is the order of effects. Time
comes from an injectable clock and randomness from one ``random.Random`` per market, so
the same seed, clock and call sequence reproduce the same fills byte for byte.
"""

from __future__ import annotations

import logging
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from decimal import Decimal

from .. import errors
from ..config import FUTURES, SPOT, VENUES, SimConfig
from . import accounting
from .events import (
    AlgoOrderUpdated,
    BalanceChanged,
    BookChanged,
    Event,
    KlineUpdated,
    Listener,
    MarkPriceUpdated,
    OrderUpdated,
    PositionChanged,
    PublicTrade,
    UserTrade,
)
from .market import MINUTE_MS, MarketState
from .model import (
    ALL_DONE,
    BUY,
    CANCELED,
    EXPIRED,
    FILLED,
    NEW,
    NO_LIST,
    PARTIALLY_FILLED,
    SELL,
    SPOT_STOP_TYPES,
    ZERO,
    Account,
    AlgoOrder,
    ApiKey,
    Fill,
    Order,
    OrderList,
    PublicTradeRecord,
)

logger = logging.getLogger(__name__)

SPOT_ORDER_TYPES = (
    "LIMIT",
    "LIMIT_MAKER",
    "MARKET",
    "STOP_LOSS",
    "STOP_LOSS_LIMIT",
    "TAKE_PROFIT",
    "TAKE_PROFIT_LIMIT",
)
FUTURES_ORDER_TYPES = ("LIMIT", "MARKET")
ALGO_ORDER_TYPES = (
    "STOP",
    "STOP_MARKET",
    "TAKE_PROFIT",
    "TAKE_PROFIT_MARKET",
    "TRAILING_STOP_MARKET",
)
FUTURES_EXCHANGE_INFO_TYPES = FUTURES_ORDER_TYPES + ALGO_ORDER_TYPES
OCO_ORDER_TYPES = (
    "STOP_LOSS",
    "STOP_LOSS_LIMIT",
    "TAKE_PROFIT",
    "TAKE_PROFIT_LIMIT",
    "LIMIT_MAKER",
)
SPOT_LIMIT_PRICED_TYPES = ("LIMIT_MAKER", "STOP_LOSS_LIMIT", "TAKE_PROFIT_LIMIT")
TIME_IN_FORCE = ("GTC", "IOC", "FOK")
FUTURES_TIME_IN_FORCE = ("GTC", "IOC", "FOK", "GTX")
MAX_TRIGGER_ROUNDS = 20  # triggered orders can trade and trigger others; bound the cascade


def wall_clock_ms() -> int:
    return time.time_ns() // 1_000_000


@dataclass(slots=True)
class OrderRequest:
    """A new order, parsed from Binance's parameters (strings already turned to Decimal)."""

    symbol: str
    side: str
    type: str
    quantity: Decimal | None = None
    price: Decimal | None = None
    stop_price: Decimal | None = None
    time_in_force: str | None = None
    client_order_id: str | None = None
    quote_order_qty: Decimal | None = None
    reduce_only: bool = False


@dataclass(slots=True)
class OcoLegRequest:
    """One order of an OCO (Binance's ``above*`` or ``below*`` parameters)."""

    type: str
    price: Decimal | None = None
    stop_price: Decimal | None = None
    time_in_force: str | None = None
    client_order_id: str | None = None


@dataclass(slots=True)
class OcoRequest:
    """``POST /api/v3/orderList/oco``: two orders of one side and quantity."""

    symbol: str
    side: str
    quantity: Decimal | None
    above: OcoLegRequest
    below: OcoLegRequest
    list_client_order_id: str | None = None


@dataclass(slots=True)
class AlgoRequest:
    symbol: str
    side: str
    type: str
    quantity: Decimal | None = None
    price: Decimal | None = None
    trigger_price: Decimal | None = None
    time_in_force: str | None = None
    client_algo_id: str | None = None
    reduce_only: bool = False
    close_position: bool = False
    working_type: str = "CONTRACT_PRICE"
    activate_price: Decimal | None = None
    callback_rate: Decimal | None = None


CANCEL_REPLACE_MODES = ("STOP_ON_FAILURE", "ALLOW_FAILURE")
CANCEL_RESTRICTIONS = {"ONLY_NEW": NEW, "ONLY_PARTIALLY_FILLED": PARTIALLY_FILLED}


@dataclass(slots=True)
class CancelReplaceResult:
    """What a spot ``cancelReplace`` did: each half either has its order or its error; a new
    order that was never attempted (STOP_ON_FAILURE after a failed cancel) has neither."""

    canceled: Order | None = None
    cancel_error: errors.BinanceError | None = None
    new_order: Order | None = None
    new_order_error: errors.BinanceError | None = None

    @property
    def new_order_attempted(self) -> bool:
        return self.new_order is not None or self.new_order_error is not None


# Binance's texts for amendments (errors.py holds the shared ones; ccxt matches the text).
def _cancel_restricted() -> errors.BinanceError:
    return errors.BinanceError(-2011, "Order was not canceled due to cancel restrictions.")


def _modify_limit_only() -> errors.BinanceError:
    return errors.BinanceError(-5025, "Only limit order is supported.")


def _modify_no_change() -> errors.BinanceError:
    return errors.BinanceError(-5027, "No need to modify the order.")


def _triggered(kind: str, side: str, trigger: Decimal, price: Decimal) -> bool:
    """Stop orders fire when the price moves against the position they protect; take-profit
    orders when it moves in its favour (Binance's rule for both spot and USD-M)."""
    stop = kind.startswith("STOP")
    if (side == BUY) == stop:
        return price >= trigger
    return price <= trigger


class Exchange:
    def __init__(self, config: SimConfig, *, clock: Callable[[], int] | None = None) -> None:
        self.config = config
        self.now: Callable[[], int] = clock or wall_clock_ms
        started = self.now()  # the seam between kline history and the live market
        self.markets: dict[str, dict[str, MarketState]] = {
            venue: {
                s: MarketState(venue, spec, config.seed, started, config.history_anchor_ms)
                for s, spec in specs.items()
            }
            for venue, specs in ((SPOT, config.spot), (FUTURES, config.futures))
        }
        self.accounts: dict[str, Account] = {}
        self.api_keys: dict[str, ApiKey] = {}
        self.listen_keys: dict[str, str] = {}
        self.ticks = 0
        self._next_order_id = {SPOT: 1, FUTURES: 1}
        self._next_order_list_id = 1
        self._next_algo_id = 1
        self._open_algos: dict[str, dict[int, AlgoOrder]] = {s: {} for s in config.futures}
        self._listeners: list[Listener] = []
        for venue in VENUES:
            for mkt in self._sorted_markets(venue):
                self._requote(mkt)
                mkt.book.drain_changes()

    def restored(self) -> None:
        """After a state file is loaded: a market saved before kline history existed gets
        its seam at its first live candle, so the candles it served stay as they were and
        history ends at that candle's open."""
        for markets in self.markets.values():
            for mkt in markets.values():
                if "seam_ms" in mkt.__dict__:
                    continue
                first = mkt.candles[0] if mkt.candles else None
                start = first.open_time if first is not None else self.now()
                mkt.seed = self.config.seed
                mkt.seam_ms = mkt.anchor_ms = start - start % MINUTE_MS
                mkt.anchor_price = first.open if first is not None else mkt.mid

    # ------------------------------------------------------------------ listeners
    def add_listener(self, callback: Listener) -> None:
        self._listeners.append(callback)

    def remove_listener(self, callback: Listener) -> None:
        self._listeners.remove(callback)

    def _emit(self, event: Event) -> None:
        for callback in self._listeners:
            try:
                callback(event)
            except Exception:
                # A subscriber's bug must not leave the book half-matched.
                logger.exception("simulator listener failed on %s", event.type)

    def _emit_order(self, order: Order, execution_type: str, fill: Fill | None = None) -> None:
        if self._listeners and order.account_id is not None:
            snapshot = replace(order, fills=list(order.fills))
            self._emit(
                OrderUpdated(
                    order.venue, order.account_id, snapshot, execution_type, fill, self.now()
                )
            )

    def _emit_balance(
        self, venue: str, account_id: str, assets: tuple[str, ...], reason: str
    ) -> None:
        if self._listeners:
            self._emit(BalanceChanged(venue, account_id, assets, reason, self.now()))

    def _emit_algo(self, algo: AlgoOrder) -> None:
        if self._listeners:
            self._emit(AlgoOrderUpdated(algo.account_id, replace(algo), self.now()))

    def _flush_book(self, mkt: MarketState) -> None:
        changes = mkt.book.drain_changes()
        if changes is not None and self._listeners:
            first, last, bids, asks = changes
            self._emit(BookChanged(mkt.venue, mkt.symbol, first, last, bids, asks, self.now()))

    # ------------------------------------------------------------------ accounts
    def create_account(
        self,
        *,
        account_id: str | None = None,
        spot_balances: dict[str, Decimal] | None = None,
        futures_balances: dict[str, Decimal] | None = None,
        can_withdraw: bool = False,
        can_trade: bool = True,
        api_key: str | None = None,
        secret: str | None = None,
    ) -> tuple[Account, ApiKey]:
        """A new account and its first key: generated, or ``api_key``/``secret`` as given
        (a client that keeps its keys registers them again after a restart)."""
        account_id = account_id or f"acct-{len(self.accounts) + 1}"
        if account_id in self.accounts:
            raise ValueError(f"account {account_id!r} exists")
        if api_key is not None and (api_key in self.api_keys or not secret):
            raise ValueError("api_key is taken, or given without its secret")
        now = self.now()
        account = Account(account_id=account_id, create_time=now)
        self.accounts[account_id] = account
        self.fund(account_id, spot=spot_balances or {}, futures=futures_balances or {})
        key = self.add_api_key(
            account_id,
            can_withdraw=can_withdraw,
            can_trade=can_trade,
            api_key=api_key,
            secret=secret,
        )
        return account, key

    def add_api_key(
        self,
        account_id: str,
        *,
        can_withdraw: bool = False,
        can_trade: bool = True,
        api_key: str | None = None,
        secret: str | None = None,
    ) -> ApiKey:
        account = self.accounts[account_id]
        key = ApiKey(
            key=api_key or secrets.token_hex(32),
            secret=secret or secrets.token_hex(32),
            account_id=account.account_id,
            can_trade=can_trade,
            can_withdraw=can_withdraw,
            create_time=self.now(),
        )
        self.api_keys[key.key] = key
        return key

    def fund(
        self, account_id: str, *, spot: dict[str, Decimal], futures: dict[str, Decimal]
    ) -> None:
        """Set balances (control API). Spot sets the free amount; futures the wallet."""
        account = self.accounts[account_id]
        now = self.now()
        for asset, amount in spot.items():
            if amount < 0:
                raise ValueError("balances cannot be negative")
            account.spot_balances[asset].free = amount
        for asset, amount in futures.items():
            if amount < 0:
                raise ValueError("balances cannot be negative")
            account.futures_wallet[asset] = amount
            account.futures_wallet_update[asset] = now
        if spot:
            self._emit_balance(SPOT, account_id, tuple(spot), "FUNDING")
        if futures:
            self._emit_balance(FUTURES, account_id, tuple(futures), "FUNDING")

    def set_position(
        self, account_id: str, symbol: str, *, amount: Decimal, entry_price: Decimal
    ) -> None:
        """Set a USD-M position directly, as if changed behind the client's back (control
        API): no order, no fill, no margin check - for reconciliation tests."""
        account = self.accounts[account_id]
        self.market(FUTURES, symbol)
        if amount != 0 and entry_price <= 0:
            raise ValueError("a position needs a positive entry price")
        pos = account.position(symbol)
        pos.amount = amount
        pos.entry_price = entry_price if amount != 0 else ZERO
        pos.update_time = self.now()
        self._emit(PositionChanged(account_id, replace(pos), pos.update_time))

    def listen_key(self, account_id: str) -> str:
        """The account's user-data listenKey (one per account, like Binance's USD-M)."""
        account = self.accounts[account_id]
        if not account.listen_key:
            account.listen_key = secrets.token_urlsafe(48)[:64]
            self.listen_keys[account.listen_key] = account_id
        return account.listen_key

    # ------------------------------------------------------------------ market
    def market(self, venue: str, symbol: str) -> MarketState:
        try:
            return self.markets[venue][symbol]
        except KeyError:
            raise errors.invalid_symbol() from None

    def _sorted_markets(self, venue: str) -> list[MarketState]:
        return [self.markets[venue][s] for s in sorted(self.markets[venue])]

    def advance(self, n: int = 1) -> None:
        for _ in range(n):
            self.step()

    def step(self) -> None:
        """One market tick: every mid walks, the liquidity provider requotes (filling resting
        orders the new quotes cross), background takers print trades, triggers fire."""
        self.ticks += 1
        for venue in VENUES:
            for mkt in self._sorted_markets(venue):
                mkt.walk()
                self._requote(mkt)
                self._noise_trade(mkt)
                self._after_trades(mkt)
                if venue == FUTURES and self._listeners:
                    self._emit(MarkPriceUpdated(mkt.symbol, mkt.mid, self.now()))
        self._check_liquidations()

    def set_price(self, venue: str, symbol: str, price: Decimal) -> None:
        """Move a market to ``price`` now: requote around it and print a trade there, so
        resting orders and triggers see the move (control API)."""
        mkt = self.market(venue, symbol)
        price = mkt.round_price(price)
        if price <= 0:
            raise ValueError("price must be positive")
        mkt.mid = price
        self._requote(mkt)
        self._print_internal_trade(mkt, price, mkt.spec.step_size, taker_is_buyer=True)
        self._after_trades(mkt)
        self._check_liquidations()

    def _requote(self, mkt: MarketState) -> None:
        for order in mkt.lp_orders:
            if order.remaining > 0:
                mkt.book.remove(order)
        mkt.lp_orders = []
        spec = mkt.spec
        mid = mkt.round_price(mkt.mid)
        tick = spec.tick_size
        rng = mkt.rng
        for i in range(spec.lp_levels):
            offset = tick * (spec.lp_half_spread_ticks + i * spec.lp_level_gap_ticks)
            for side, price in ((BUY, mid - offset), (SELL, mid + offset)):
                scale = Decimal(rng.randint(500, 1500)) / 1000
                qty = mkt.round_qty(spec.lp_level_qty * scale)
                if price <= 0 or qty <= 0:
                    continue
                order = self._internal_order(mkt, side, "LIMIT", price, qty)
                self._match(mkt, order, price)
                if order.remaining > 0:
                    mkt.book.add(order)
                    mkt.lp_orders.append(order)

    def _noise_trade(self, mkt: MarketState) -> None:
        rng = mkt.rng
        if rng.random() >= mkt.spec.noise_trade_probability:
            return
        side = BUY if rng.random() < 0.5 else SELL
        scale = Decimal(rng.randint(50, 400)) / 1000
        qty = mkt.round_qty(mkt.spec.lp_level_qty * scale)
        if qty > 0:
            self._match(mkt, self._internal_order(mkt, side, "MARKET", ZERO, qty), None)

    def _internal_order(
        self, mkt: MarketState, side: str, kind: str, price: Decimal, qty: Decimal
    ) -> Order:
        # Internal (liquidity provider / background) orders take no ids from the user
        # sequence, so user order ids depend only on user actions.
        return Order(
            order_id=0,
            venue=mkt.venue,
            symbol=mkt.symbol,
            account_id=None,
            client_order_id="",
            side=side,
            type=kind,
            time_in_force="GTC",
            price=price,
            orig_qty=qty,
            time=0,
        )

    def _print_internal_trade(
        self, mkt: MarketState, price: Decimal, qty: Decimal, *, taker_is_buyer: bool
    ) -> None:
        trade = PublicTradeRecord(
            trade_id=mkt.next_trade_id,
            price=price,
            qty=qty,
            quote_qty=price * qty,
            time=self.now(),
            is_buyer_maker=not taker_is_buyer,
        )
        mkt.next_trade_id += 1
        self._publish_trade(mkt, trade, taker_is_buyer)

    def _publish_trade(
        self, mkt: MarketState, trade: PublicTradeRecord, taker_is_buyer: bool
    ) -> None:
        candle = mkt.record_trade(trade, taker_is_buyer)
        if self._listeners:
            self._emit(PublicTrade(mkt.venue, mkt.symbol, trade))
            self._emit(KlineUpdated(mkt.venue, mkt.symbol, replace(candle), trade.time))

    def _after_trades(self, mkt: MarketState) -> None:
        self._check_triggers(mkt)
        self._flush_book(mkt)

    # ------------------------------------------------------------------ matching
    def _match(
        self,
        mkt: MarketState,
        taker: Order,
        limit: Decimal | None,
        quote_limit: Decimal | None = None,
    ) -> None:
        """Trade ``taker`` against the opposite side up to ``limit`` (None = market)."""
        book = mkt.book
        opposite = SELL if taker.side == BUY else BUY
        buying = taker.side == BUY
        while taker.remaining > 0:
            maker = book.best(opposite)
            if maker is None:
                break
            price = maker.price
            if limit is not None and (price > limit if buying else price < limit):
                break
            qty = min(taker.remaining, maker.remaining)
            if quote_limit is not None:
                qty = min(qty, mkt.round_qty((quote_limit - taker.cum_quote) / price))
                if qty <= 0:
                    break
            if taker.reduce_only:
                qty = min(qty, self._reducible(taker))
                if qty <= 0:
                    break
            if maker.reduce_only:
                allowed = self._reducible(maker)
                if allowed <= 0:
                    book.remove(maker)
                    self._finish(maker, EXPIRED)
                    continue
                qty = min(qty, allowed)
            self._execute(mkt, maker, taker, price, qty)

    def _reducible(self, order: Order) -> Decimal:
        """How much a reduce-only order may still trade: the opposite position's size."""
        pos = self.accounts[order.account_id].positions.get(order.symbol)  # type: ignore[index]
        if pos is None or pos.amount == 0 or (pos.amount > 0) == (order.side == BUY):
            return ZERO
        return abs(pos.amount)

    def _execute(
        self, mkt: MarketState, maker: Order, taker: Order, price: Decimal, qty: Decimal
    ) -> None:
        now = self.now()
        quote_qty = price * qty
        trade_id = mkt.next_trade_id
        mkt.next_trade_id += 1
        for order in (maker, taker):
            order.executed_qty += qty
            order.cum_quote += quote_qty
            order.update_time = now
        mkt.book.filled(maker, qty)
        trade = PublicTradeRecord(
            trade_id=trade_id,
            price=price,
            qty=qty,
            quote_qty=quote_qty,
            time=now,
            is_buyer_maker=maker.side == BUY,
        )
        self._publish_trade(mkt, trade, taker.side == BUY)
        for order, is_maker in ((maker, True), (taker, False)):
            if order.account_id is None:
                if order.remaining <= 0:
                    order.status = FILLED
                continue
            if order.order_list_id != NO_LIST:
                self._leave_list(order)
            fill = self._settle(mkt, order, trade_id, price, qty, quote_qty, is_maker, now)
            order.fills.append(fill)
            if order.remaining <= 0:
                self._finish(order, FILLED, fill)
            else:
                order.status = PARTIALLY_FILLED
                self._emit_order(order, "TRADE", fill)
            if self._listeners:
                self._emit(UserTrade(order.venue, order.account_id, fill, now))

    def _settle(
        self,
        mkt: MarketState,
        order: Order,
        trade_id: int,
        price: Decimal,
        qty: Decimal,
        quote_qty: Decimal,
        is_maker: bool,
        now: int,
    ) -> Fill:
        account = self.accounts[order.account_id]  # type: ignore[index]
        spec = mkt.spec
        commission_asset = spec.quote
        if mkt.venue == SPOT:
            fees = self.config.spot_fees
            rate = fees.maker if is_maker else fees.taker
            commission = accounting.fee(quote_qty, rate)
            balances = account.spot_balances
            if order.side == BUY:
                # As Binance charges a buyer who does not pay in BNB: the commission is
                # taken from the coins bought, so the cost alone comes out of the funds this
                # order locked (the lock's fee margin returns to the balance when it ends).
                commission = accounting.fee(qty, rate)
                commission_asset = spec.base
                order.locked -= quote_qty
                balances[spec.quote].locked -= quote_qty
                balances[spec.base].free += qty - commission
            else:
                order.locked -= qty
                balances[spec.base].locked -= qty
                balances[spec.quote].free += quote_qty - commission
            self._emit_balance(SPOT, account.account_id, (spec.base, spec.quote), "ORDER")
            realized = ZERO
        else:
            fees = self.config.futures_fees
            commission = accounting.fee(quote_qty, fees.maker if is_maker else fees.taker)
            pos = account.position(order.symbol)
            realized = accounting.apply_fill_to_position(pos, order.side == BUY, price, qty)
            pos.update_time = now
            account.futures_wallet[spec.quote] += realized - commission
            account.futures_wallet_update[spec.quote] = now
            if self._listeners:
                self._emit(PositionChanged(account.account_id, replace(pos), now))
            self._emit_balance(FUTURES, account.account_id, (spec.quote,), "ORDER")
        fill = Fill(
            trade_id=trade_id,
            order_id=order.order_id,
            venue=mkt.venue,
            symbol=mkt.symbol,
            side=order.side,
            price=price,
            qty=qty,
            quote_qty=quote_qty,
            commission=commission,
            commission_asset=commission_asset,
            is_maker=is_maker,
            time=now,
            realized_pnl=realized,
            order_list_id=order.order_list_id,
        )
        account.fills[mkt.venue].append(fill)
        return fill

    def _finish(self, order: Order, status: str, fill: Fill | None = None) -> None:
        """End an order: release whatever it still locks and tell subscribers."""
        order.status = status
        order.update_time = self.now()
        if order.account_id is None:
            return
        account = self.accounts[order.account_id]
        account.open_orders.pop((order.venue, order.order_id), None)
        if order.order_list_id != NO_LIST:
            self._end_list_if_done(account, order)
        if order.locked:
            balance = account.spot_balances[order.locked_asset]
            balance.locked -= order.locked
            balance.free += order.locked
            order.locked = ZERO
            self._emit_balance(SPOT, account.account_id, (order.locked_asset,), "ORDER")
        execution = {FILLED: "TRADE", CANCELED: "CANCELED", EXPIRED: "EXPIRED"}[status]
        self._emit_order(order, execution, fill)

    # ------------------------------------------------------------------ orders: shared
    def _new_order(self, venue: str, account: Account, req: OrderRequest, now: int) -> Order:
        order_id = self._next_order_id[venue]
        self._next_order_id[venue] += 1
        order = Order(
            order_id=order_id,
            venue=venue,
            symbol=req.symbol,
            account_id=account.account_id,
            client_order_id=req.client_order_id or f"sim-{venue}-{order_id}",
            side=req.side,
            type=req.type,
            time_in_force=req.time_in_force or "GTC",
            price=req.price or ZERO,
            orig_qty=req.quantity or ZERO,
            time=now,
            update_time=now,
            stop_price=req.stop_price or ZERO,
            quote_order_qty=req.quote_order_qty or ZERO,
            reduce_only=req.reduce_only,
            orig_type=req.type,
        )
        # Spot and USD-M number their orders apart (as Binance's two systems do): a key of
        # both, or futures order 1 would hide spot order 1.
        account.orders[(venue, order_id)] = order
        account.open_orders[(venue, order_id)] = order
        account.orders_by_client_id[(venue, order.client_order_id)] = order
        return order

    def _check_client_id(self, venue: str, account: Account, client_id: str | None) -> None:
        if not client_id:
            return
        existing = account.orders_by_client_id.get((venue, client_id))
        if existing is not None and existing.is_open:
            raise (
                errors.spot_duplicate_order()
                if venue == SPOT
                else errors.futures_duplicate_client_id()
            )

    def _validate_filters(
        self, mkt: MarketState, req: OrderRequest, *, needs_price: bool, needs_qty: bool
    ) -> None:
        spec = mkt.spec
        if needs_price:
            if req.price is None:
                raise errors.mandatory_param("price")
            if req.price <= 0 or req.price % spec.tick_size:
                raise errors.filter_failure("PRICE_FILTER")
        if needs_qty:
            if req.quantity is None:
                raise errors.mandatory_param("quantity")
            if req.quantity < spec.min_qty or req.quantity % spec.step_size:
                raise errors.filter_failure("LOT_SIZE")
        if req.stop_price is not None and (req.stop_price <= 0 or req.stop_price % spec.tick_size):
            raise errors.filter_failure("PRICE_FILTER")

    def _fillable(
        self, mkt: MarketState, side: str, limit: Decimal | None, wanted: Decimal
    ) -> tuple[Decimal, Decimal]:
        """(quantity, cost) the book would give a taker now, up to ``wanted``."""
        opposite = SELL if side == BUY else BUY
        qty = cost = ZERO
        for price, level_qty in mkt.book.iter_levels(opposite):
            if limit is not None and (price > limit if side == BUY else price < limit):
                break
            take = min(level_qty, wanted - qty)
            qty += take
            cost += take * price
            if qty >= wanted:
                break
        return qty, cost

    def _run_taker(self, mkt: MarketState, order: Order) -> None:
        """Match a working order and decide what happens to the rest by time in force."""
        market_like = order.executes_as_market
        limit = None if market_like else order.price
        quote_limit = order.quote_order_qty if order.quote_order_qty and market_like else None
        if order.time_in_force == "FOK" and not market_like:
            available, _ = self._fillable(mkt, order.side, limit, order.remaining)
            if available < order.remaining:
                self._finish(order, EXPIRED)
                return
        if quote_limit is not None:
            # Spending a quote amount: the quantity is whatever it buys, known only after.
            order.orig_qty = Decimal("Infinity")
            self._match(mkt, order, limit, quote_limit)
            order.orig_qty = order.executed_qty
            self._finish(order, FILLED if order.executed_qty else EXPIRED)
            return
        self._match(mkt, order, limit, quote_limit)
        if not order.is_open:
            return
        if market_like or order.time_in_force in ("IOC", "FOK"):
            self._finish(order, EXPIRED)
        elif order.reduce_only and self._reducible(order) <= 0:
            self._finish(order, EXPIRED)
        else:
            mkt.book.add(order)

    def _withdraw(self, mkt: MarketState, order: Order) -> None:
        """Take an open order off the book, or out of the stops waiting for a trigger."""
        if order.is_working:
            mkt.book.remove(order)
        else:
            mkt.pending_stops.pop(order.order_id, None)

    def _cancel(self, mkt: MarketState, order: Order) -> None:
        partner = self._open_list_partner(order)
        self._withdraw(mkt, order)
        self._finish(order, CANCELED)
        if partner is not None:
            # Binance: cancelling one order of an order list cancels the whole list.
            self._withdraw(mkt, partner)
            self._finish(partner, CANCELED)
        self._flush_book(mkt)

    def find_order(
        self, venue: str, account_id: str, symbol: str, order_id: int | None, client_id: str | None
    ) -> Order | None:
        account = self.accounts[account_id]
        if order_id is not None:
            order = account.orders.get((venue, order_id))
        elif client_id is not None:
            order = account.orders_by_client_id.get((venue, client_id))
        else:
            raise errors.mandatory_param("orderId")
        if order is None or order.venue != venue or order.symbol != symbol:
            return None
        return order

    def cancel_order(
        self, venue: str, account_id: str, symbol: str, order_id: int | None, client_id: str | None
    ) -> Order:
        mkt = self.market(venue, symbol)
        order = self.find_order(venue, account_id, symbol, order_id, client_id)
        if order is None or not order.is_open:
            raise errors.unknown_order_on_cancel()
        self._cancel(mkt, order)
        return order

    def get_order(
        self, venue: str, account_id: str, symbol: str, order_id: int | None, client_id: str | None
    ) -> Order:
        self.market(venue, symbol)
        order = self.find_order(venue, account_id, symbol, order_id, client_id)
        if order is None:
            raise errors.order_does_not_exist()
        return order

    def open_orders(self, venue: str, account_id: str, symbol: str | None) -> list[Order]:
        if symbol is not None:
            self.market(venue, symbol)
        return [
            o
            for o in self.accounts[account_id].open_orders.values()
            if o.venue == venue and (symbol is None or o.symbol == symbol)
        ]

    def cancel_all(self, venue: str, account_id: str, symbol: str) -> list[Order]:
        mkt = self.market(venue, symbol)
        orders = self.open_orders(venue, account_id, symbol)
        for order in orders:
            if order.is_open:  # the other order of an OCO went with the first
                self._cancel(mkt, order)
        return orders

    def user_trades(self, venue: str, account_id: str, symbol: str | None) -> list[Fill]:
        fills = self.accounts[account_id].fills[venue]
        return [f for f in fills if symbol is None or f.symbol == symbol]

    # ------------------------------------------------------------------ spot
    def _validate_spot_request(self, mkt: MarketState, req: OrderRequest) -> tuple[bool, bool]:
        """Parameter and filter checks of a new spot order, before the matching engine sees it
        (``cancelReplace`` runs these before it cancels). Returns (has_price, quote_market)."""
        spec = mkt.spec
        kind = req.type
        if req.side not in (BUY, SELL):
            raise errors.invalid_side()
        if kind not in SPOT_ORDER_TYPES:
            raise errors.invalid_order_type()
        limit_like = kind in ("LIMIT", "STOP_LOSS_LIMIT", "TAKE_PROFIT_LIMIT")
        if limit_like:
            if req.time_in_force is None:
                raise errors.mandatory_param("timeInForce")
            if req.time_in_force not in TIME_IN_FORCE:
                raise errors.invalid_time_in_force()
        elif kind == "LIMIT_MAKER":
            req.time_in_force = "GTC"
        else:
            req.time_in_force = "GTC"
        has_price = limit_like or kind == "LIMIT_MAKER"
        quote_market = kind == "MARKET" and req.quantity is None
        if quote_market and req.quote_order_qty is None:
            raise errors.mandatory_param("quantity")
        self._validate_filters(mkt, req, needs_price=has_price, needs_qty=not quote_market)
        if kind in SPOT_STOP_TYPES and req.stop_price is None:
            raise errors.mandatory_param("stopPrice")
        reference = req.price if has_price else mkt.last_price
        notional = req.quote_order_qty if quote_market else reference * req.quantity  # type: ignore[operator]
        if notional < spec.min_notional:
            raise errors.filter_failure("NOTIONAL")
        return has_price, quote_market

    def place_spot_order(self, account_id: str, req: OrderRequest) -> Order:
        mkt = self.market(SPOT, req.symbol)
        account = self.accounts[account_id]
        spec = mkt.spec
        kind = req.type
        has_price, quote_market = self._validate_spot_request(mkt, req)
        self._check_client_id(SPOT, account, req.client_order_id)
        if kind in SPOT_STOP_TYPES and _triggered(kind, req.side, req.stop_price, mkt.last_price):  # type: ignore[arg-type]
            raise errors.spot_stop_would_trigger()
        if kind == "LIMIT_MAKER":
            best = mkt.book.best_price(SELL if req.side == BUY else BUY)
            if best is not None and (req.price >= best if req.side == BUY else req.price <= best):  # type: ignore[operator]
                raise errors.spot_would_match_and_take()

        # Funds: held up front so a fill can never overdraw the account.
        fees = self.config.spot_fees
        if req.side == BUY:
            asset = spec.quote
            if has_price:
                lock = accounting.spot_buy_lock(
                    req.price, req.quantity, max(fees.maker, fees.taker)
                )  # type: ignore[arg-type]
            elif quote_market:
                lock = req.quote_order_qty + accounting.fee(req.quote_order_qty, fees.taker)  # type: ignore[operator]
            elif kind == "MARKET":
                _, cost = self._fillable(mkt, BUY, None, req.quantity)  # type: ignore[arg-type]
                lock = cost + accounting.fee(cost, fees.taker)
            else:
                # Stop-market buy: hold the cost at the stop price now; topped up (or the
                # order expires) when it triggers and the real cost is known.
                lock = accounting.spot_buy_lock(req.stop_price, req.quantity, fees.taker)  # type: ignore[arg-type]
        else:
            asset = spec.base
            lock = req.quantity  # type: ignore[assignment]
        balance = account.spot_balances[asset]
        if balance.free < lock:
            raise errors.spot_insufficient_balance()
        now = self.now()
        order = self._new_order(SPOT, account, req, now)
        balance.free -= lock
        balance.locked += lock
        order.locked_asset = asset
        order.locked = lock
        self._emit_balance(SPOT, account_id, (asset,), "ORDER")
        if kind in SPOT_STOP_TYPES:
            mkt.pending_stops[order.order_id] = order
            self._emit_order(order, "NEW")
            return order
        order.working_time = now
        self._emit_order(order, "NEW")
        self._run_taker(mkt, order)
        self._after_trades(mkt)
        return order

    def _trigger_spot_stop(self, mkt: MarketState, order: Order) -> None:
        if order.order_list_id != NO_LIST:
            self._leave_list(order)
        order.working_time = self.now()
        order.update_time = order.working_time
        if order.side == BUY and order.executes_as_market:
            # Re-hold what the book now costs; expire if the account cannot cover it.
            _, cost = self._fillable(mkt, BUY, None, order.remaining)
            need = cost + accounting.fee(cost, self.config.spot_fees.taker)
            balance = self.accounts[order.account_id].spot_balances[order.locked_asset]  # type: ignore[index]
            extra = need - order.locked
            if extra > 0:
                if balance.free < extra:
                    self._finish(order, EXPIRED)
                    return
                balance.free -= extra
                balance.locked += extra
                order.locked += extra
        self._emit_order(order, "TRIGGERED")
        self._run_taker(mkt, order)

    # ------------------------------------------------------------------ spot order lists (OCO)
    def _oco_leg_request(self, req: OcoRequest, leg: OcoLegRequest, prefix: str) -> OrderRequest:
        """Binance's parameter checks of one OCO order, named by its prefixed parameter."""
        kind = leg.type
        if kind not in SPOT_ORDER_TYPES:
            raise errors.invalid_order_type()
        if kind not in OCO_ORDER_TYPES:
            raise errors.oco_order_type_rejected()
        priced = kind in SPOT_LIMIT_PRICED_TYPES
        if priced and leg.price is None:
            raise errors.mandatory_param(f"{prefix}Price")
        if not priced and leg.price is not None:
            raise errors.param_not_required(f"{prefix}Price")
        if kind in SPOT_STOP_TYPES and leg.stop_price is None:
            raise errors.mandatory_param(f"{prefix}StopPrice")
        if kind not in SPOT_STOP_TYPES and leg.stop_price is not None:
            raise errors.param_not_required(f"{prefix}StopPrice")
        if kind in ("STOP_LOSS_LIMIT", "TAKE_PROFIT_LIMIT") and leg.time_in_force is None:
            raise errors.mandatory_param(f"{prefix}TimeInForce")
        return OrderRequest(
            symbol=req.symbol,
            side=req.side,
            type=kind,
            quantity=req.quantity,
            price=leg.price,
            stop_price=leg.stop_price,
            time_in_force=leg.time_in_force,
            client_order_id=leg.client_order_id,
        )

    @staticmethod
    def _oco_family(kind: str) -> str:
        if kind == "LIMIT_MAKER":
            return kind
        return "STOP_LOSS" if kind.startswith("STOP_LOSS") else "TAKE_PROFIT"

    def place_spot_oco(self, account_id: str, req: OcoRequest) -> OrderList:
        """Binance's ``POST /api/v3/orderList/oco``: a below and an above order, one of
        which must be a stop loss (below for a SELL, above for a BUY) and the other a take
        profit or LIMIT_MAKER; the last price must lie strictly between them.

        Checks run before anything changes; a rejection raises Binance's error. The list
        holds the funds for ``quantity`` once (base for SELL; for BUY the quote at the dearer
        order's price plus the highest fee). Both orders are then ordinary open orders with
        the list's ``orderListId``: stops wait for their trigger, a LIMIT_MAKER rests on the
        book. The below order is created first (the lower order id), as Binance does.
        """
        mkt = self.market(SPOT, req.symbol)
        account = self.accounts[account_id]
        spec = mkt.spec
        if req.side not in (BUY, SELL):
            raise errors.invalid_side()
        if req.quantity is None:
            raise errors.mandatory_param("quantity")
        below = self._oco_leg_request(req, req.below, "below")
        above = self._oco_leg_request(req, req.above, "above")
        if below.type == above.type == "LIMIT_MAKER":
            raise errors.oco_needs_contingent_order()
        # The stop loss protects against the adverse move: below a SELL, above a BUY.
        stop_slot, profit_slot = (below, above) if req.side == SELL else (above, below)
        for leg, wants_stop in ((above, above is stop_slot), (below, below is stop_slot)):
            family = self._oco_family(leg.type)
            if (family == "STOP_LOSS") != wants_stop:
                raise errors.oco_order_misplaced(req.side, family)
        for leg in (below, above):
            self._validate_spot_request(mkt, leg)

        def level(leg: OrderRequest) -> Decimal:
            # Binance compares the limit price of LIMIT_MAKER / TAKE_PROFIT_LIMIT and the
            # stop price of the others with the last price.
            priced = leg.type in ("LIMIT_MAKER", "TAKE_PROFIT_LIMIT")
            return leg.price if priced else leg.stop_price  # type: ignore[return-value]

        last = mkt.last_price
        if not level(below) < last < level(above):
            raise errors.oco_price_relationship()
        for leg in (below, above):
            if leg.type in SPOT_STOP_TYPES and _triggered(
                leg.type,
                leg.side,
                leg.stop_price,  # type: ignore[arg-type]
                last,
            ):
                raise errors.spot_stop_would_trigger()
        if profit_slot.type == "LIMIT_MAKER":
            best = mkt.book.best_price(SELL if req.side == BUY else BUY)
            price: Decimal = profit_slot.price  # type: ignore[assignment]
            if best is not None and (price >= best if req.side == BUY else price <= best):
                raise errors.spot_would_match_and_take()
        for leg in (below, above):
            self._check_client_id(SPOT, account, leg.client_order_id)
        if below.client_order_id and below.client_order_id == above.client_order_id:
            raise errors.spot_duplicate_order()
        list_client_id = req.list_client_order_id
        if list_client_id:
            existing = account.order_lists_by_client_id.get(list_client_id)
            if existing is not None and existing.is_executing:
                raise errors.spot_duplicate_order()

        # One hold for the list: whichever order executes can use all of it, and at most
        # one of them does.
        qty: Decimal = req.quantity
        if req.side == SELL:
            asset, lock = spec.base, qty
        else:
            fees = self.config.spot_fees
            rate = max(fees.maker, fees.taker)
            asset = spec.quote
            lock = max(
                accounting.spot_buy_lock(
                    leg.price if leg.price is not None else leg.stop_price,  # type: ignore[arg-type]
                    qty,
                    rate,
                )
                for leg in (below, above)
            )
        balance = account.spot_balances[asset]
        if balance.free < lock:
            raise errors.spot_insufficient_balance()

        now = self.now()
        list_id = self._next_order_list_id
        self._next_order_list_id += 1
        orders = [self._new_order(SPOT, account, leg, now) for leg in (below, above)]
        for order in orders:
            order.order_list_id = list_id
            order.locked_asset = asset
        order_list = OrderList(
            order_list_id=list_id,
            list_client_order_id=list_client_id or f"sim-list-{list_id}",
            symbol=req.symbol,
            account_id=account_id,
            orders=orders,
            transaction_time=now,
            locked_asset=asset,
            locked=lock,
        )
        account.order_lists[list_id] = order_list
        account.order_lists_by_client_id[order_list.list_client_order_id] = order_list
        balance.free -= lock
        balance.locked += lock
        self._emit_balance(SPOT, account_id, (asset,), "ORDER")
        for order in orders:
            if order.type in SPOT_STOP_TYPES:
                mkt.pending_stops[order.order_id] = order
                self._emit_order(order, "NEW")
            else:
                order.working_time = now
                self._emit_order(order, "NEW")
                self._run_taker(mkt, order)  # a LIMIT_MAKER checked not to cross: it rests
        self._after_trades(mkt)
        return order_list

    def _leave_list(self, order: Order) -> None:
        """``order`` of an executing OCO triggers or trades: it takes over the list's hold
        and the other order expires (Binance expires the other order of an OCO as soon as
        one is triggered, filled or partially filled)."""
        account = self.accounts[order.account_id]  # type: ignore[index]
        order_list = account.order_lists[order.order_list_id]
        if not order_list.is_executing:
            return
        order.locked += order_list.locked
        order_list.locked = ZERO
        order_list.list_status_type = order_list.list_order_status = ALL_DONE
        other = order_list.other(order)
        if other.is_open:
            self._withdraw(self.market(SPOT, other.symbol), other)
            self._finish(other, EXPIRED)

    def _end_list_if_done(self, account: Account, order: Order) -> None:
        """Called as ``order`` ends: once no order of a still-executing list is open (both
        cancelled), the list is done and its hold goes back to the free balance."""
        order_list = account.order_lists.get(order.order_list_id)
        if order_list is None or not order_list.is_executing:
            return
        if any(o.is_open for o in order_list.orders):
            return
        order_list.list_status_type = order_list.list_order_status = ALL_DONE
        if order_list.locked:
            balance = account.spot_balances[order_list.locked_asset]
            balance.locked -= order_list.locked
            balance.free += order_list.locked
            order_list.locked = ZERO
            self._emit_balance(SPOT, account.account_id, (order_list.locked_asset,), "ORDER")

    def _open_list_partner(self, order: Order) -> Order | None:
        """The other order of ``order``'s list while the list is executing and it is open."""
        if order.order_list_id == NO_LIST or order.account_id is None:
            return None
        order_list = self.accounts[order.account_id].order_lists[order.order_list_id]
        if not order_list.is_executing:
            return None
        other = order_list.other(order)
        return other if other.is_open else None

    def find_order_list(
        self, account_id: str, order_list_id: int | None, list_client_id: str | None
    ) -> OrderList | None:
        account = self.accounts[account_id]
        if order_list_id is not None:
            return account.order_lists.get(order_list_id)
        if list_client_id is not None:
            return account.order_lists_by_client_id.get(list_client_id)
        raise errors.BinanceError(
            -1102,
            "Param 'orderListId' or 'listClientOrderId' must be sent, but both were empty/null!",
        )

    def cancel_order_list(
        self,
        account_id: str,
        symbol: str,
        order_list_id: int | None,
        list_client_id: str | None,
    ) -> OrderList:
        """Binance's ``DELETE /api/v3/orderList``: cancel the list's open orders."""
        mkt = self.market(SPOT, symbol)
        order_list = self.find_order_list(account_id, order_list_id, list_client_id)
        if order_list is None or order_list.symbol != symbol:
            raise errors.unknown_order_on_cancel()
        open_orders = [o for o in order_list.orders if o.is_open]
        if not open_orders:
            raise errors.unknown_order_on_cancel()
        self._cancel(mkt, open_orders[0])  # takes the other order with it
        for order in open_orders[1:]:
            if order.is_open:
                self._cancel(mkt, order)
        return order_list

    # ------------------------------------------------------------------ amendments
    def cancel_replace_spot_order(
        self,
        account_id: str,
        req: OrderRequest,
        *,
        cancel_order_id: int | None,
        cancel_client_id: str | None,
        allow_failure: bool = False,
        cancel_restriction: str | None = None,
    ) -> CancelReplaceResult:
        """Binance's ``POST /api/v3/order/cancelReplace``: cancel, then place ``req``.

        Parameter and filter checks of the new order run first and raise (nothing happens).
        Then the cancel; with STOP_ON_FAILURE (``allow_failure`` False) a failed cancel - the
        order already filled, cancelled or unknown - stops there. Otherwise the new order is
        placed exactly as ``place_spot_order`` would, so funds the cancel released are
        available to it; its rejection is reported, not raised (the cancel stands).
        """
        mkt = self.market(SPOT, req.symbol)
        self._validate_spot_request(mkt, req)
        if cancel_restriction is not None and cancel_restriction not in CANCEL_RESTRICTIONS:
            raise errors.BinanceError(
                -1145, "cancelRestrictions has to be either ONLY_NEW or ONLY_PARTIALLY_FILLED."
            )
        result = CancelReplaceResult()
        order = self.find_order(SPOT, account_id, req.symbol, cancel_order_id, cancel_client_id)
        if order is None or not order.is_open:
            result.cancel_error = errors.unknown_order_on_cancel()
        elif cancel_restriction and order.status != CANCEL_RESTRICTIONS[cancel_restriction]:
            result.cancel_error = _cancel_restricted()
        else:
            self._cancel(mkt, order)
            result.canceled = order
        if result.cancel_error is not None and not allow_failure:
            return result
        try:
            result.new_order = self.place_spot_order(account_id, req)
        except errors.BinanceError as exc:
            result.new_order_error = exc
        return result

    def modify_futures_order(
        self,
        account_id: str,
        symbol: str,
        order_id: int | None,
        client_id: str | None,
        *,
        side: str,
        quantity: Decimal,
        price: Decimal,
    ) -> Order:
        """Binance's USD-M Modify Order (``PUT /fapi/v1/order``): same order id, new price and
        quantity, LIMIT orders only.

        Rejections leave the order as it was: not open (-2013), not LIMIT (-5025), another
        side, a filter, the notional, no change (-5027), or not enough margin for the larger
        order (-2019). As Binance documents, the order is instead *cancelled* when it is
        partially filled and the new quantity is not above the filled amount, or when it is
        GTX (post-only) and the new price would trade. A modified order re-enters the queue:
        it goes to the back of its (new) price level, and a price that crosses the book trades
        at once as a taker. Subscribers see ``order.updated`` with execution type AMENDMENT.
        """
        mkt = self.market(FUTURES, symbol)
        account = self.accounts[account_id]
        spec = mkt.spec
        order = self.find_order(FUTURES, account_id, symbol, order_id, client_id)
        if order is None or not order.is_open:
            raise errors.order_does_not_exist()
        if order.type != "LIMIT":
            raise _modify_limit_only()
        if side != order.side:
            raise errors.invalid_side()
        if price <= 0 or price % spec.tick_size:
            raise errors.filter_failure("PRICE_FILTER")
        if quantity < spec.min_qty or quantity % spec.step_size:
            raise errors.filter_failure("LOT_SIZE")
        if not order.reduce_only and price * quantity < spec.min_notional:
            raise errors.futures_min_notional(f"{spec.min_notional.normalize():f}")
        if price == order.price and quantity == order.orig_qty:
            raise _modify_no_change()
        if order.executed_qty and quantity <= order.executed_qty:
            self._cancel(mkt, order)
            return order
        best_opposite = mkt.book.best_price(SELL if side == BUY else BUY)
        if (
            order.time_in_force == "GTX"
            and best_opposite is not None
            and (price >= best_opposite if side == BUY else price <= best_opposite)
        ):
            self._cancel(mkt, order)
            return order
        if not order.reduce_only:
            # Initial margin the open part of the order holds now, and would hold after.
            before = order.remaining * order.price
            after = (quantity - order.executed_qty) * price
            extra = (after - before) / self.leverage(account, symbol)
            if extra > 0 and extra > self.futures_summary(account_id, spec.quote)["available"]:
                raise errors.futures_margin_insufficient()
        # Out of the book at the old level, back in at the end of the new one.
        mkt.book.remove(order)
        order.price = price
        order.orig_qty = quantity
        order.update_time = self.now()
        self._emit_order(order, "AMENDMENT")
        self._run_taker(mkt, order)
        self._expire_stale_reduce_only(account, mkt)
        self._after_trades(mkt)
        return order

    # ------------------------------------------------------------------ futures
    def leverage(self, account: Account, symbol: str) -> int:
        return account.leverage.get(symbol, self.config.default_leverage)

    def margin_type(self, account: Account, symbol: str) -> str:
        return account.margin_type.get(symbol, "CROSSED")

    def set_margin_type(self, account_id: str, symbol: str, kind: str) -> None:
        """Binance's rules: nothing to change, or not while the symbol has a position or
        open orders (in that order of checks)."""
        self.market(FUTURES, symbol)
        account = self.accounts[account_id]
        if self.margin_type(account, symbol) == kind:
            raise errors.BinanceError(-4046, "No need to change margin type.")
        if account.position(symbol).amount:
            raise errors.BinanceError(
                -4048, "Margin type cannot be changed if there exists position."
            )
        if any(
            o.venue == FUTURES and o.symbol == symbol for o in account.open_orders.values()
        ) or any(a.symbol == symbol and a.is_open for a in account.algo_orders.values()):
            raise errors.BinanceError(
                -4047, "Margin type cannot be changed if there exists open orders."
            )
        account.margin_type[symbol] = kind

    def set_leverage(self, account_id: str, symbol: str, leverage: int) -> int:
        self.market(FUTURES, symbol)
        if not 1 <= leverage <= self.config.max_leverage:
            raise errors.futures_invalid_leverage(str(leverage))
        self.accounts[account_id].leverage[symbol] = leverage
        return leverage

    def mark_price(self, symbol: str) -> Decimal:
        return self.market(FUTURES, symbol).mid

    def futures_summary(self, account_id: str, asset: str = "USDT") -> dict[str, Decimal]:
        """Cross-margin figures of one margin asset, Binance's definitions."""
        account = self.accounts[account_id]
        mmr = self.config.maintenance_margin_rate
        upnl = pos_im = maint = ZERO
        for symbol, pos in account.positions.items():
            if pos.amount == 0:
                continue
            mark = self.mark_price(symbol)
            upnl += accounting.unrealized_pnl(pos, mark)
            notional = abs(pos.amount) * mark
            pos_im += notional / self.leverage(account, symbol)
            maint += notional * mmr
        order_im = ZERO
        for order in account.open_orders.values():
            if order.venue == FUTURES and not order.reduce_only:
                price = order.price or self.mark_price(order.symbol)
                order_im += order.remaining * price / self.leverage(account, order.symbol)
        wallet = account.futures_wallet.get(asset, ZERO)
        margin_balance = wallet + upnl
        available = margin_balance - pos_im - order_im
        return {
            "wallet": wallet,
            "unrealized": upnl,
            "margin_balance": margin_balance,
            "position_im": pos_im,
            "order_im": order_im,
            "initial_margin": pos_im + order_im,
            "maint_margin": maint,
            "available": max(available, ZERO),
        }

    def liquidation_price(self, account_id: str, symbol: str) -> Decimal:
        account = self.accounts[account_id]
        pos = account.positions.get(symbol)
        if pos is None or pos.amount == 0:
            return ZERO
        mmr = self.config.maintenance_margin_rate
        other_upnl = other_maint = ZERO
        for other, p in account.positions.items():
            if other != symbol and p.amount:
                mark = self.mark_price(other)
                other_upnl += accounting.unrealized_pnl(p, mark)
                other_maint += abs(p.amount) * mark * mmr
        wallet = account.futures_wallet.get(self.market(FUTURES, symbol).spec.quote, ZERO)
        price = accounting.liquidation_price(wallet, pos, mmr, other_upnl, other_maint)
        return self.market(FUTURES, symbol).round_price(price) if price else ZERO

    def _required_margin(
        self, account: Account, mkt: MarketState, side: str, qty: Decimal, price: Decimal
    ) -> Decimal:
        """Initial margin plus taker fee for the part of an order that grows the position."""
        pos = account.positions.get(mkt.symbol)
        opening = qty
        if pos is not None and pos.amount and (pos.amount > 0) != (side == BUY):
            opening = max(ZERO, qty - abs(pos.amount))
        notional = opening * price
        return notional / self.leverage(account, mkt.symbol) + accounting.fee(
            qty * price, self.config.futures_fees.taker
        )

    def place_futures_order(
        self, account_id: str, req: OrderRequest, *, orig_type: str = ""
    ) -> Order:
        mkt = self.market(FUTURES, req.symbol)
        account = self.accounts[account_id]
        spec = mkt.spec
        if req.side not in (BUY, SELL):
            raise errors.invalid_side()
        if req.type in ALGO_ORDER_TYPES and not orig_type:
            raise errors.futures_algo_type_required()
        if req.type not in FUTURES_ORDER_TYPES:
            raise errors.invalid_order_type()
        is_limit = req.type == "LIMIT"
        if is_limit:
            if req.time_in_force is None:
                raise errors.mandatory_param("timeInForce")
            if req.time_in_force not in FUTURES_TIME_IN_FORCE:
                raise errors.invalid_time_in_force()
        else:
            req.time_in_force = "GTC"
        self._validate_filters(mkt, req, needs_price=is_limit, needs_qty=True)
        best_opposite = mkt.book.best_price(SELL if req.side == BUY else BUY)
        reference = req.price if is_limit else (best_opposite or mkt.mid)
        qty: Decimal = req.quantity  # type: ignore[assignment]
        if not req.reduce_only and reference * qty < spec.min_notional:  # type: ignore[operator]
            raise errors.futures_min_notional(f"{spec.min_notional.normalize():f}")
        self._check_client_id(FUTURES, account, req.client_order_id)
        if req.reduce_only:
            pos = account.positions.get(req.symbol)
            if pos is None or pos.amount == 0 or (pos.amount > 0) == (req.side == BUY):
                raise errors.futures_reduce_only_rejected()
        if (
            req.time_in_force == "GTX"
            and best_opposite is not None
            and (
                req.price >= best_opposite if req.side == BUY else req.price <= best_opposite  # type: ignore[operator]
            )
        ):
            raise errors.futures_post_only_rejected()
        if req.time_in_force == "FOK":
            available, _ = self._fillable(mkt, req.side, req.price, qty)
            if available < qty:
                raise errors.futures_fok_rejected()
        if not req.reduce_only:
            need = self._required_margin(account, mkt, req.side, qty, reference)  # type: ignore[arg-type]
            if need > self.futures_summary(account_id, spec.quote)["available"]:
                raise errors.futures_margin_insufficient()
        now = self.now()
        order = self._new_order(FUTURES, account, req, now)
        order.orig_type = orig_type or req.type
        order.working_time = now
        self._emit_order(order, "NEW")
        self._run_taker(mkt, order)
        self._expire_stale_reduce_only(account, mkt)
        self._after_trades(mkt)
        return order

    def _expire_stale_reduce_only(self, account: Account, mkt: MarketState) -> None:
        for order in list(account.open_orders.values()):
            if (
                order.venue == FUTURES
                and order.symbol == mkt.symbol
                and order.reduce_only
                and self._reducible(order) <= 0
            ):
                mkt.book.remove(order)
                self._finish(order, EXPIRED)

    # ------------------------------------------------------------------ futures algo orders
    def _reference_price(self, mkt: MarketState, working_type: str) -> Decimal:
        return mkt.mid if working_type == "MARK_PRICE" else mkt.last_price

    def place_algo_order(self, account_id: str, req: AlgoRequest) -> AlgoOrder:
        mkt = self.market(FUTURES, req.symbol)
        account = self.accounts[account_id]
        spec = mkt.spec
        if req.side not in (BUY, SELL):
            raise errors.invalid_side()
        if req.type not in ALGO_ORDER_TYPES:
            raise errors.invalid_order_type()
        trailing = req.type == "TRAILING_STOP_MARKET"
        needs_price = req.type in ("STOP", "TAKE_PROFIT")
        if needs_price:
            if req.price is None:
                raise errors.mandatory_param("price")
            if req.price % spec.tick_size or req.price <= 0:
                raise errors.filter_failure("PRICE_FILTER")
        if trailing:
            if req.callback_rate is None:
                raise errors.mandatory_param("callbackRate")
            if not Decimal("0.1") <= req.callback_rate <= Decimal("10"):
                raise errors.BinanceError(-2007, "Invalid callBackRate.")
        elif req.trigger_price is None:
            raise errors.mandatory_param("triggerPrice")
        elif req.trigger_price <= 0 or req.trigger_price % spec.tick_size:
            raise errors.filter_failure("PRICE_FILTER")
        if not req.close_position:
            if req.quantity is None:
                raise errors.mandatory_param("quantity")
            if req.quantity < spec.min_qty or req.quantity % spec.step_size:
                raise errors.filter_failure("LOT_SIZE")
        client_id = req.client_algo_id
        if client_id:
            existing = account.algo_by_client_id.get(client_id)
            if existing is not None and existing.is_open:
                raise errors.futures_duplicate_client_id()
        working_type = req.working_type or "CONTRACT_PRICE"
        current = self._reference_price(mkt, working_type)
        if not trailing and _triggered(req.type, req.side, req.trigger_price, current):  # type: ignore[arg-type]
            raise errors.futures_would_trigger()
        now = self.now()
        algo_id = self._next_algo_id
        self._next_algo_id += 1
        algo = AlgoOrder(
            algo_id=algo_id,
            client_algo_id=client_id or f"sim-algo-{algo_id}",
            account_id=account_id,
            symbol=req.symbol,
            side=req.side,
            order_type=req.type,
            quantity=req.quantity or ZERO,
            price=req.price or ZERO,
            trigger_price=req.trigger_price or ZERO,
            time_in_force=req.time_in_force or "GTC",
            reduce_only=req.reduce_only or req.close_position,
            close_position=req.close_position,
            working_type=working_type,
            create_time=now,
            update_time=now,
            activate_price=req.activate_price or ZERO,
            callback_rate=req.callback_rate or ZERO,
        )
        if trailing:
            self._update_trailing(algo, current)
        account.algo_orders[algo_id] = algo
        account.algo_by_client_id[algo.client_algo_id] = algo
        self._open_algos[req.symbol][algo_id] = algo
        self._emit_algo(algo)
        return algo

    def _update_trailing(self, algo: AlgoOrder, price: Decimal) -> bool:
        """Track a trailing stop; True once the price retraces by the callback rate."""
        selling = algo.side == SELL
        if not algo.activated:
            reached = not algo.activate_price or (
                price >= algo.activate_price if selling else price <= algo.activate_price
            )
            if not reached:
                return False
            algo.activated = True
            algo.extreme_price = price
        rate = algo.callback_rate / 100
        if selling:
            algo.extreme_price = max(algo.extreme_price, price)
            return price <= algo.extreme_price * (1 - rate)
        algo.extreme_price = min(algo.extreme_price, price)
        return price >= algo.extreme_price * (1 + rate)

    def find_algo(
        self, account_id: str, algo_id: int | None, client_id: str | None
    ) -> AlgoOrder | None:
        account = self.accounts[account_id]
        if algo_id is not None:
            return account.algo_orders.get(algo_id)
        if client_id is not None:
            return account.algo_by_client_id.get(client_id)
        raise errors.mandatory_param("algoId")

    def cancel_algo_order(
        self, account_id: str, algo_id: int | None, client_id: str | None
    ) -> AlgoOrder:
        algo = self.find_algo(account_id, algo_id, client_id)
        if algo is None or not algo.is_open:
            raise errors.unknown_order_on_cancel()
        self._close_algo(algo, CANCELED)
        return algo

    def _close_algo(self, algo: AlgoOrder, status: str) -> None:
        algo.status = status
        algo.update_time = self.now()
        self._open_algos[algo.symbol].pop(algo.algo_id, None)
        self._emit_algo(algo)

    def open_algo_orders(self, account_id: str, symbol: str | None) -> list[AlgoOrder]:
        return [
            a
            for a in self.accounts[account_id].algo_orders.values()
            if a.is_open and (symbol is None or a.symbol == symbol)
        ]

    def _fire_algo(self, mkt: MarketState, algo: AlgoOrder) -> None:
        account = self.accounts[algo.account_id]
        algo.status = "TRIGGERING"
        algo.trigger_time = self.now()
        self._open_algos[algo.symbol].pop(algo.algo_id, None)
        self._emit_algo(algo)
        qty = algo.quantity
        if algo.close_position:
            pos = account.positions.get(algo.symbol)
            qty = abs(pos.amount) if pos is not None else ZERO
        kind = "LIMIT" if algo.order_type in ("STOP", "TAKE_PROFIT") else "MARKET"
        req = OrderRequest(
            symbol=algo.symbol,
            side=algo.side,
            type=kind,
            quantity=qty,
            price=algo.price if kind == "LIMIT" else None,
            time_in_force=algo.time_in_force if kind == "LIMIT" else None,
            client_order_id=algo.client_algo_id,
            reduce_only=algo.reduce_only,
        )
        try:
            if qty <= 0:
                raise errors.futures_reduce_only_rejected()
            order = self.place_futures_order(algo.account_id, req, orig_type=algo.order_type)
        except errors.BinanceError as exc:
            logger.info("algo order %s expired on trigger: %s", algo.algo_id, exc.msg)
            self._close_algo(algo, EXPIRED)
            return
        order.stop_price = algo.trigger_price
        algo.actual_order_id = order.order_id
        self._close_algo(algo, "FINISHED")

    # ------------------------------------------------------------------ triggers, liquidation
    def _check_triggers(self, mkt: MarketState) -> None:
        for _ in range(MAX_TRIGGER_ROUNDS):
            fired = False
            if mkt.venue == SPOT:
                for order in list(mkt.pending_stops.values()):
                    if order.order_id in mkt.pending_stops and _triggered(
                        order.type, order.side, order.stop_price, mkt.last_price
                    ):
                        del mkt.pending_stops[order.order_id]
                        self._trigger_spot_stop(mkt, order)
                        fired = True
            else:
                for algo in list(self._open_algos[mkt.symbol].values()):
                    if not algo.is_open:
                        continue
                    price = self._reference_price(mkt, algo.working_type)
                    if algo.order_type == "TRAILING_STOP_MARKET":
                        hit = self._update_trailing(algo, price)
                    else:
                        hit = _triggered(algo.order_type, algo.side, algo.trigger_price, price)
                    if hit:
                        self._fire_algo(mkt, algo)
                        fired = True
            if not fired:
                return

    def _check_liquidations(self) -> None:
        for account in self.accounts.values():
            if not any(p.amount for p in account.positions.values()):
                continue
            summary = self.futures_summary(account.account_id)
            if summary["maint_margin"] and summary["margin_balance"] <= summary["maint_margin"]:
                self._liquidate(account)

    def _liquidate(self, account: Account) -> None:
        """Close every position at the mark price against the insurance fund (no book)."""
        logger.info("liquidating account %s", account.account_id)
        for symbol, pos in sorted(account.positions.items()):
            if not pos.amount:
                continue
            mkt = self.market(FUTURES, symbol)
            for order in self.open_orders(FUTURES, account.account_id, symbol):
                self._cancel(mkt, order)
            side = SELL if pos.amount > 0 else BUY
            now = self.now()
            order = self._new_order(
                FUTURES,
                account,
                OrderRequest(
                    symbol=symbol,
                    side=side,
                    type="MARKET",
                    quantity=abs(pos.amount),
                    client_order_id=f"autoclose-{now}-{symbol}",
                    reduce_only=True,
                ),
                now,
            )
            order.orig_type = "LIQUIDATION"
            order.working_time = now
            price = mkt.round_price(mkt.mid)
            insurance = self._internal_order(
                mkt, BUY if side == SELL else SELL, "LIMIT", price, order.orig_qty
            )
            self._execute_direct(mkt, insurance, order, price, order.orig_qty)
        quote = "USDT"
        if account.futures_wallet.get(quote, ZERO) < 0:
            # The insurance fund absorbs a bankrupt account's deficit: balances never go negative.
            account.futures_wallet[quote] = ZERO

    def _execute_direct(
        self, mkt: MarketState, counterparty: Order, order: Order, price: Decimal, qty: Decimal
    ) -> None:
        now = self.now()
        quote_qty = price * qty
        trade_id = mkt.next_trade_id
        mkt.next_trade_id += 1
        order.executed_qty += qty
        order.cum_quote += quote_qty
        order.update_time = now
        self._publish_trade(
            mkt,
            PublicTradeRecord(trade_id, price, qty, quote_qty, now, counterparty.side == BUY),
            order.side == BUY,
        )
        fill = self._settle(mkt, order, trade_id, price, qty, quote_qty, False, now)
        order.fills.append(fill)
        self._finish(order, FILLED, fill)


__all__ = [
    "ALGO_ORDER_TYPES",
    "NEW",
    "AlgoRequest",
    "CancelReplaceResult",
    "Exchange",
    "OcoLegRequest",
    "OcoRequest",
    "OrderRequest",
]
