"""Price-time-priority limit order book for one symbol.

Prices inside the book are integer ticks (``price / tick_size``), so level keys compare exactly.
Each side is a dict ``ticks -> deque`` of resting orders in arrival order, plus a heap of level
keys (bids negated) with lazy deletion: an emptied level leaves the dict at once and its heap
key is dropped when it reaches the top (or when the heap is compacted). Each key is in the heap
at most once (``_in_heap``), so the heap is bounded by the number of distinct live prices plus
stale keys, and it is rebuilt when stale keys outnumber live levels.

Invariants kept after every call: no crossed book (best bid < best ask), every resting order
has ``remaining > 0``, and every fill is at the resting (maker) order's price.
"""
from __future__ import annotations

import heapq
from collections import deque
from collections.abc import Iterator

from trading_agent.trading.model import Fill, Side

_COMPACT_MIN = 64  # don't rebuild tiny heaps; stale keys there cost nothing


class Resting:
    """A resting order's mutable state (internal; slots keep it small and fast)."""

    __slots__ = ("order_id", "account", "symbol", "is_buy", "ticks", "quantity", "remaining")

    def __init__(self, order_id: int, account: str, symbol: str, is_buy: bool, ticks: int,
                 quantity: int, remaining: int) -> None:
        self.order_id = order_id
        self.account = account
        self.symbol = symbol
        self.is_buy = is_buy
        self.ticks = ticks
        self.quantity = quantity  # as submitted
        self.remaining = remaining  # still resting; quantity - remaining has been filled


class _Side:
    """One side of the book. ``sign`` is -1 for bids (max-heap via negated keys), +1 for asks."""

    __slots__ = ("sign", "levels", "heap", "_in_heap")

    def __init__(self, sign: int) -> None:
        self.sign = sign
        self.levels: dict[int, deque[Resting]] = {}
        self.heap: list[int] = []
        self._in_heap: set[int] = set()

    def best(self) -> int | None:
        """Best live price in ticks, or None when the side is empty."""
        heap, levels = self.heap, self.levels
        while heap:
            key = heap[0] * self.sign
            if key in levels:
                return key
            self._in_heap.discard(heapq.heappop(heap) * self.sign)
        return None

    def add(self, r: Resting) -> None:
        level = self.levels.get(r.ticks)
        if level is None:
            level = self.levels[r.ticks] = deque()
            if r.ticks not in self._in_heap:
                self._in_heap.add(r.ticks)
                heapq.heappush(self.heap, r.ticks * self.sign)
                if len(self.heap) > _COMPACT_MIN and len(self.heap) > 2 * len(self.levels):
                    self._compact()
        level.append(r)

    def _compact(self) -> None:
        self.heap = [k * self.sign for k in self.levels]
        heapq.heapify(self.heap)
        self._in_heap = set(self.levels)


class OrderBook:
    """The book of one symbol. ``index`` maps order id -> :class:`Resting` and may be shared by
    all books of an engine (so a cancel finds its book); ``fill_ids`` yields unique fill ids."""

    def __init__(self, symbol: str, tick_size: float, fill_ids: Iterator[int],
                 index: dict[int, Resting] | None = None, price_decimals: int = 2) -> None:
        self.symbol = symbol
        self.tick_size = tick_size
        self._decimals = price_decimals
        self._fill_ids = fill_ids
        self.index: dict[int, Resting] = {} if index is None else index
        self._bids = _Side(-1)
        self._asks = _Side(1)
        self.resting_count = 0
        self.last_price: float | None = None  # last fill price (currency)

    # -- queries -----------------------------------------------------------------------------
    def best_bid(self) -> int | None:
        """Best bid in ticks (None if no bids)."""
        return self._bids.best()

    def best_ask(self) -> int | None:
        """Best ask in ticks (None if no asks)."""
        return self._asks.best()

    def depth(self, side: Side) -> list[tuple[int, int]]:
        """``[(ticks, resting quantity)]`` best price first (for tests and inspection; O(n log n))."""
        s = self._bids if side is Side.BUY else self._asks
        levels = sorted(s.levels.items(), key=lambda kv: kv[0] * s.sign)
        return [(ticks, sum(r.remaining for r in q)) for ticks, q in levels]

    def orders_at(self, side: Side, ticks: int) -> list[int]:
        """Order ids resting at a price, in time priority."""
        s = self._bids if side is Side.BUY else self._asks
        return [r.order_id for r in s.levels.get(ticks, ())]

    def to_price(self, ticks: int) -> float:
        return round(ticks * self.tick_size, self._decimals)

    # -- mutations ---------------------------------------------------------------------------
    def match(self, order_id: int, account: str, is_buy: bool, quantity: int, limit_ticks: int | None,
              ts_ns: int, makers: list[Resting]) -> tuple[list[Fill], int]:
        """Match an incoming order against the opposite side; returns ``(fills, unfilled)``.

        ``limit_ticks`` None is a market order (no price limit). Better prices fill first, and
        within a price the earlier order. Each maker touched is appended to ``makers`` (once per
        fill) so the caller can persist its new state. Nothing rests here: see :meth:`rest`.
        """
        opp = self._asks if is_buy else self._bids
        levels, heap, sign = opp.levels, opp.heap, opp.sign
        fills: list[Fill] = []
        remaining = quantity
        symbol, decimals, tick, index = self.symbol, self._decimals, self.tick_size, self.index
        aggressor = Side.BUY if is_buy else Side.SELL
        fill_ids = self._fill_ids
        while remaining:
            best = opp.best()
            if best is None or (limit_ticks is not None and (best > limit_ticks if is_buy else best < limit_ticks)):
                break
            queue = levels[best]
            price = round(best * tick, decimals)
            while remaining and queue:
                maker = queue[0]
                qty = maker.remaining if maker.remaining < remaining else remaining
                maker.remaining -= qty
                remaining -= qty
                if is_buy:
                    fills.append(Fill(next(fill_ids), ts_ns, symbol, price, qty, order_id, maker.order_id,
                                      account, maker.account, aggressor))
                else:
                    fills.append(Fill(next(fill_ids), ts_ns, symbol, price, qty, maker.order_id, order_id,
                                      maker.account, account, aggressor))
                makers.append(maker)
                if not maker.remaining:
                    queue.popleft()
                    del index[maker.order_id]
                    self.resting_count -= 1
            if not queue:
                del levels[best]
                opp._in_heap.discard(heapq.heappop(heap) * sign)  # best is the heap top
            self.last_price = price
        return fills, remaining

    def rest(self, order_id: int, account: str, is_buy: bool, ticks: int, quantity: int,
             remaining: int) -> Resting:
        """Put a limit order's unfilled remainder on the book (time priority = now).

        The caller must have matched first: resting at or through the opposite best would cross.
        """
        opp_best = (self._asks if is_buy else self._bids).best()
        if opp_best is not None and (ticks >= opp_best if is_buy else ticks <= opp_best):
            raise ValueError(f"order {order_id} at {ticks} ticks would cross the {self.symbol} book "
                             f"(opposite best {opp_best}); match before resting")
        if remaining <= 0:
            raise ValueError(f"order {order_id}: resting quantity must be > 0, got {remaining}")
        r = Resting(order_id, account, self.symbol, is_buy, ticks, quantity, remaining)
        (self._bids if is_buy else self._asks).add(r)
        self.index[order_id] = r
        self.resting_count += 1
        return r

    def cancel(self, order_id: int) -> Resting | None:
        """Remove a resting order; returns its state (``remaining`` = the cancelled quantity) or
        None when it is not resting in this book. O(orders at its price level)."""
        r = self.index.get(order_id)
        if r is None or r.symbol != self.symbol:
            return None
        side = self._bids if r.is_buy else self._asks
        queue = side.levels[r.ticks]
        queue.remove(r)
        if not queue:
            del side.levels[r.ticks]  # heap key goes lazily
        del self.index[order_id]
        self.resting_count -= 1
        return r
