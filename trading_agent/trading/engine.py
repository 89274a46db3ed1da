"""The order path end to end: validate -> pre-trade risk -> match -> positions -> persist.

:meth:`OrderEngine.submit` handles one order and returns an :class:`OrderResult`. A rejected
order gets a reason, is persisted with status ``rejected`` and never touches a book, a position
or an open-order count. An accepted order is matched in price-time priority against its
symbol's book; each fill updates both accounts' positions; a limit order's remainder rests, a
market order's remainder is cancelled. Then the order, its fills and the new state of each
maker it hit are saved in one store transaction.

The store is the system of record: an order is acknowledged (``submit`` returns) only after its
transaction committed, and a restarted engine rebuilds books, positions and open quantities
from the store with :meth:`OrderEngine.restore`. Matching happens in memory before the save, so
if the store raises, memory is ahead of the database; the engine then stops (fail-stop): that
call and every later ``submit``/``cancel`` raise :class:`StoreFailedError`, so nothing is ever
acknowledged on top of state the database does not have. A restart recovers from the store.
Orders of the same account may trade with each other (no self-trade prevention).
"""
from __future__ import annotations

import itertools
import math
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import NoReturn

from trading_agent.trading.book import OrderBook, Resting
from trading_agent.trading.checks import Rejection, check_risk, price_to_ticks, validate_order
from trading_agent.trading.model import (Fill, Instrument, Order, OrderRecord, OrderResult, OrderStatus,
                                         OrderType, OrderUpdate, RiskLimits, Side)
from trading_agent.trading.positions import PositionBook
from trading_agent.trading.store import OrderStore

_NEW, _PARTIAL, _FILLED = OrderStatus.NEW, OrderStatus.PARTIALLY_FILLED, OrderStatus.FILLED
_CANCELLED, _REJECTED = OrderStatus.CANCELLED, OrderStatus.REJECTED
_RESTS = (OrderStatus.NEW, OrderStatus.PARTIALLY_FILLED)


class StoreFailedError(RuntimeError):
    """The order store failed; the engine accepts nothing more until it is rebuilt from the store."""


@dataclass(frozen=True, slots=True)
class Restored:
    """What :meth:`OrderEngine.restore` put back: fills applied, orders resting again."""

    fills: int
    resting_orders: int


class RecoveryError(ValueError):
    """The store holds state this engine cannot rebuild (unknown symbol, off-grid or crossing
    resting order); the message names the order or fill."""


class OrderEngine:
    """Books, positions and pre-trade risk for a set of instruments, persisting to ``store``
    (None: keep nothing, for pure in-memory use). ``clock`` returns nanoseconds."""

    def __init__(self, instruments: Iterable[Instrument], store: OrderStore | None = None, *,
                 limits: RiskLimits | None = None, symbol_limits: Mapping[str, RiskLimits] | None = None,
                 clock: Callable[[], int] = time.time_ns) -> None:
        self.instruments = {i.symbol: i for i in instruments}
        if not self.instruments:
            raise ValueError("OrderEngine needs at least one instrument")
        unknown = sorted(set(symbol_limits or ()) - set(self.instruments))
        if unknown:
            raise ValueError(f"symbol_limits names unknown symbols {unknown}; known: {sorted(self.instruments)[:5]}...")
        default = limits or RiskLimits()
        self._limits = {s: (symbol_limits or {}).get(s, default) for s in self.instruments}
        self.store = store
        self._clock = clock
        last_order, last_fill = store.last_ids() if store is not None else (0, 0)
        self._order_ids = itertools.count(last_order + 1)
        self._resting: dict[int, Resting] = {}  # shared by all books: order id -> resting state
        fill_ids = itertools.count(last_fill + 1)
        self._books = {s: OrderBook(s, i.tick_size, fill_ids, self._resting, i.price_decimals)
                       for s, i in self.instruments.items()}
        self.positions = PositionBook()
        self._open: dict[str, dict[str, list[int]]] = {}  # account -> symbol -> [open buy, open sell]
        self.submitted = self.rejected = 0
        self.failed: str | None = None  # why the store failed; set once, the engine then refuses work

    # -- queries -------------------------------------------------------------------------------
    def book(self, symbol: str) -> OrderBook:
        try:
            return self._books[symbol]
        except KeyError:
            raise KeyError(f"unknown symbol {symbol!r}") from None

    def open_quantity(self, account: str, symbol: str) -> tuple[int, int]:
        """``(open buy, open sell)`` shares resting for an account in a symbol."""
        o = self._open.get(account, {}).get(symbol)
        return (0, 0) if o is None else (o[0], o[1])

    def resting_quantity(self, order_id: int) -> int:
        """Shares of the order still on the book (0 once filled, cancelled or never rested)."""
        r = self._resting.get(order_id)
        return 0 if r is None else r.remaining

    # -- the order path ------------------------------------------------------------------------
    def submit(self, order: Order) -> OrderResult:
        """Process one order end to end (see the module docstring); never raises for a bad order.
        Raises :class:`StoreFailedError` when the store fails (now or before)."""
        if self.failed is not None:
            self._refuse()
        ts = self._clock()
        oid = next(self._order_ids)
        self.submitted += 1
        symbol, account = order.symbol, order.account
        inst = self.instruments.get(symbol) if isinstance(symbol, str) else None
        rej = validate_order(order, inst)
        if rej is None:
            book = self._books[symbol]
            is_buy = order.side == Side.BUY
            if order.order_type == OrderType.LIMIT:
                ticks: int | None = price_to_ticks(order.price, inst.tick_size)  # type: ignore[arg-type]
                ref = order.price
            else:
                ticks = None
                best = book.best_ask() if is_buy else book.best_bid()
                ref = None if best is None else book.to_price(best)
            acct_open = self._open.get(account)
            o = None if acct_open is None else acct_open.get(symbol)
            rej = check_risk(order, self._limits[symbol], position=self.positions.quantity(account, symbol),
                             open_buy=o[0] if o else 0, open_sell=o[1] if o else 0, ref_price=ref)
        if rej is not None:
            return self._reject(order, oid, ts, rej)

        qty = order.quantity
        makers: list[Resting] = []
        fills, remaining = book.match(oid, account, is_buy, qty, ticks, ts, makers)
        updates = []
        if fills:
            apply = self.positions.apply
            opened = self._open
            for f, m in zip(fills, makers):
                apply(f.buy_account, symbol, f.quantity, f.price)
                apply(f.sell_account, symbol, -f.quantity, f.price)
                opened[m.account][symbol][0 if m.is_buy else 1] -= f.quantity
                updates.append(OrderUpdate(m.order_id, m.quantity - m.remaining, m.remaining, 0,
                                           _PARTIAL if m.remaining else _FILLED))
        resting = cancelled = 0
        if not remaining:
            status = _FILLED
        elif ticks is None:  # market order: the unfilled remainder is cancelled (IOC)
            cancelled, status = remaining, _CANCELLED
        else:
            book.rest(oid, account, is_buy, ticks, qty, remaining)
            resting, status = remaining, (_PARTIAL if fills else _NEW)
            acct_open = self._open.get(account)
            if acct_open is None:
                acct_open = self._open[account] = {}
            o = acct_open.get(symbol)
            if o is None:
                o = acct_open[symbol] = [0, 0]
            o[0 if is_buy else 1] += remaining
        if self.store is not None:
            try:
                self.store.save(OrderRecord(oid, ts, account, symbol, "buy" if is_buy else "sell",
                                            "market" if ticks is None else "limit",
                                            None if ticks is None else book.to_price(ticks), qty,
                                            qty - remaining, resting, cancelled, status),
                                fills, updates)
            except Exception as exc:
                self._fail(oid, exc)
        return OrderResult(oid, status, qty - remaining, resting, cancelled, tuple(fills))

    def cancel(self, order_id: int) -> OrderUpdate | None:
        """Cancel a resting order's remainder; None when it is not resting (unknown, filled or
        already cancelled). The update is persisted and returned."""
        if self.failed is not None:
            self._refuse()
        r = self._resting.get(order_id)
        if r is None:
            return None
        self._books[r.symbol].cancel(order_id)
        self._open[r.account][r.symbol][0 if r.is_buy else 1] -= r.remaining
        update = OrderUpdate(order_id, r.quantity - r.remaining, 0, r.remaining, _CANCELLED)
        if self.store is not None:
            try:
                self.store.update((update,))
            except Exception as exc:
                self._fail(order_id, exc)
        return update

    def _reject(self, order: Order, oid: int, ts: int, rej: Rejection) -> OrderResult:
        self.rejected += 1
        if self.store is not None:
            try:
                self.store.save(OrderRecord(oid, ts, str(order.account), str(order.symbol), str(order.side),
                                            str(order.order_type), _storable_price(order.price),
                                            _storable_quantity(order.quantity), 0, 0, 0,
                                            _REJECTED, rej.reason), (), ())
            except Exception as exc:
                self._fail(oid, exc)
        return OrderResult(oid, _REJECTED, 0, 0, 0, (), rej.reason, rej.code)

    def _fail(self, order_id: int, exc: Exception) -> NoReturn:
        self.failed = f"saving order {order_id} failed: {type(exc).__name__}: {exc}"
        raise StoreFailedError(f"{self.failed}; this engine accepts no more orders (memory is ahead of the "
                               "store); it must be rebuilt from the store (the service does so on its own)") from exc

    def _refuse(self) -> NoReturn:
        raise StoreFailedError(f"the order store failed earlier ({self.failed}); it must be rebuilt from the store")

    # -- recovery ------------------------------------------------------------------------------
    def restore(self, fills: Iterable[Fill], resting: Iterable[OrderRecord]) -> Restored:
        """Rebuild from a store: apply ``fills`` (in fill-id order) to the positions and put
        ``resting`` (in order-id order) back on the books with their remaining quantities.

        Call it on a fresh engine, after any start-of-day positions were applied and before the
        first order; the result equals the state the engine had when those were stored (fills
        are applied buyer then seller, as :meth:`submit` does, so every float comes out the same).
        Raises :class:`RecoveryError` for state it cannot take.
        """
        if self.submitted or self._resting:
            raise RecoveryError("restore() needs a fresh engine: this one has already handled orders")
        apply, books, n = self.positions.apply, self._books, 0
        for f in fills:
            book = books.get(f.symbol)
            if book is None:
                raise RecoveryError(f"fill {f.fill_id} is in symbol {f.symbol!r}, which this engine does not trade")
            apply(f.buy_account, f.symbol, f.quantity, f.price)
            apply(f.sell_account, f.symbol, -f.quantity, f.price)
            book.last_price = f.price
            n += 1
        for o in resting:
            inst = self.instruments.get(o.symbol)
            ticks = None if inst is None or o.price is None else price_to_ticks(o.price, inst.tick_size)
            if ticks is None or o.status not in _RESTS or o.side not in ("buy", "sell") or o.resting_quantity <= 0:
                raise RecoveryError(f"stored order {o.order_id} cannot rest again: {o}")
            is_buy = o.side == "buy"
            try:
                self._books[o.symbol].rest(o.order_id, o.account, is_buy, ticks, o.quantity, o.resting_quantity)
            except ValueError as exc:
                raise RecoveryError(f"stored order {o.order_id} cannot rest again: {exc}") from None
            acct_open = self._open.setdefault(o.account, {})
            acct_open.setdefault(o.symbol, [0, 0])[0 if is_buy else 1] += o.resting_quantity
        return Restored(n, len(self._resting))


def _storable_price(price: object) -> float | None:
    """A rejected order's price as a column value: a finite number or NULL (the reason names it)."""
    if type(price) in (int, float) and math.isfinite(price):  # type: ignore[arg-type]
        return float(price)  # type: ignore[arg-type]
    return None


def _storable_quantity(quantity: object) -> int:
    """A rejected order's quantity as a BIGINT column value; 0 when it is not one (the reason names it)."""
    if type(quantity) is int and -2**63 <= quantity < 2**63:
        return quantity
    return 0
