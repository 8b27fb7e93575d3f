"""A price-time-priority limit order book for one market.

Levels are FIFO queues keyed by price; sorted price lists give the best level in O(1)
and insert/remove a level in O(log n + n) with bisect (n = number of levels, small).
The book only stores and orders resting orders; the exchange decides what trades.
"""

from __future__ import annotations

from bisect import bisect_left, insort
from collections import deque
from collections.abc import Iterator
from decimal import Decimal

from .model import BUY, ZERO, Order


class _Side:
    __slots__ = ("levels", "prices", "totals")

    def __init__(self) -> None:
        self.levels: dict[Decimal, deque[Order]] = {}
        self.totals: dict[Decimal, Decimal] = {}
        self.prices: list[Decimal] = []  # ascending


class OrderBook:
    def __init__(self) -> None:
        self.bids = _Side()
        self.asks = _Side()
        self.update_id = 1
        # Levels changed since the last drain(): (is_bid, price) -> new total.
        self._dirty: dict[tuple[bool, Decimal], Decimal] = {}
        self._first_dirty_id = 0

    def _side(self, side: str) -> _Side:
        return self.bids if side == BUY else self.asks

    def _touch(self, is_bid: bool, price: Decimal, total: Decimal) -> None:
        if not self._dirty:
            self._first_dirty_id = self.update_id + 1
        self.update_id += 1
        self._dirty[(is_bid, price)] = total

    def add(self, order: Order) -> None:
        book_side = self._side(order.side)
        price = order.price
        level = book_side.levels.get(price)
        if level is None:
            level = book_side.levels[price] = deque()
            book_side.totals[price] = ZERO
            insort(book_side.prices, price)
        level.append(order)
        total = book_side.totals[price] + order.remaining
        book_side.totals[price] = total
        self._touch(order.side == BUY, price, total)

    def remove(self, order: Order) -> None:
        """Take a resting order out (cancelled or fully filled); its remaining leaves the level."""
        book_side = self._side(order.side)
        price = order.price
        level = book_side.levels.get(price)
        if level is None:
            return
        try:
            level.remove(order)
        except ValueError:
            return
        self._reduce_level(book_side, order.side == BUY, price, order.remaining, level)

    def filled(self, order: Order, qty: Decimal) -> None:
        """Record that ``qty`` of a resting order traded (call after updating the order)."""
        book_side = self._side(order.side)
        price = order.price
        level = book_side.levels[price]
        if order.remaining <= 0 and level and level[0] is order:
            level.popleft()
        self._reduce_level(book_side, order.side == BUY, price, qty, level)

    def _reduce_level(
        self, book_side: _Side, is_bid: bool, price: Decimal, qty: Decimal, level: deque[Order]
    ) -> None:
        total = book_side.totals[price] - qty
        if not level:
            del book_side.levels[price]
            del book_side.totals[price]
            index = bisect_left(book_side.prices, price)
            del book_side.prices[index]
            total = ZERO
        else:
            book_side.totals[price] = total
        self._touch(is_bid, price, total)

    def best(self, side: str) -> Order | None:
        """The first order at the best price of ``side`` (BUY = bids)."""
        book_side = self._side(side)
        if not book_side.prices:
            return None
        price = book_side.prices[-1] if side == BUY else book_side.prices[0]
        return book_side.levels[price][0]

    def best_price(self, side: str) -> Decimal | None:
        book_side = self._side(side)
        if not book_side.prices:
            return None
        return book_side.prices[-1] if side == BUY else book_side.prices[0]

    def iter_levels(self, side: str) -> Iterator[tuple[Decimal, Decimal]]:
        """(price, total quantity) from the best level outwards."""
        book_side = self._side(side)
        prices = reversed(book_side.prices) if side == BUY else iter(book_side.prices)
        totals = book_side.totals
        for price in prices:
            yield price, totals[price]

    def depth(
        self, limit: int
    ) -> tuple[list[tuple[Decimal, Decimal]], list[tuple[Decimal, Decimal]]]:
        bids = []
        for level in self.iter_levels(BUY):
            if len(bids) >= limit:
                break
            bids.append(level)
        asks = []
        for level in self.iter_levels("SELL"):
            if len(asks) >= limit:
                break
            asks.append(level)
        return bids, asks

    def drain_changes(
        self,
    ) -> (
        tuple[int, int, tuple[tuple[Decimal, Decimal], ...], tuple[tuple[Decimal, Decimal], ...]]
        | None
    ):
        """Changed levels since the last call, as (first id, last id, bids, asks); None if none."""
        if not self._dirty:
            return None
        bids = tuple((p, q) for (is_bid, p), q in self._dirty.items() if is_bid)
        asks = tuple((p, q) for (is_bid, p), q in self._dirty.items() if not is_bid)
        self._dirty = {}
        return self._first_dirty_id, self.update_id, bids, asks
