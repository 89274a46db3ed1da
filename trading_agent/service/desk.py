"""The trading side of the service: one :class:`~trading_agent.trading.engine.OrderEngine`, the
seeded accounts and their start-of-day positions, and a market maker that keeps both sides of
every book quoted so that a crossing order can fill.

Accounts: ``acct-1`` .. ``acct-N`` start the day with ``SOD_CASH`` and 3-8 seeded positions
(mostly long, average prices near the opening marks), loaded into the engine's position book as
a start-of-day snapshot, not as orders. ``mm-1`` is the market maker: it rests 5 levels of
``MM_LOT`` shares on each side of each book at start and re-quotes a side around the mark
whenever an order leaves that side empty. Its orders go through the engine like anyone's.

Seeding and recovery: an empty store is seeded once, in one transaction: the start-of-day
snapshot (:class:`~trading_agent.trading.model.StartOfDay`) and the market maker's opening
quotes, so a crash during seeding leaves the store empty, never half seeded. A store that is
already seeded is not seeded again: the desk reads the snapshot back and the engine replays the
stored fills and re-rests the stored resting orders, so positions, cash and books come back
exactly as they were when the last order was acknowledged (the floats too: the same operations
in the same order). Rebuilding costs one pass over the fills at start (measured with SQLite:
~6 us per stored fill, 130k fills in 0.8 s) and nothing per order.
Not kept across a restart: each account's equity peak (the drawdown check's reference restarts
from the opening equity) and the market data (re-replayed from the seed).

Cash is derived, not stored: with the average-cost identity of
:mod:`trading_agent.trading.positions`, the cash flow of all fills is
``sum(realised - quantity * avg_price)`` over an account's positions; the start-of-day
snapshot contributed ``-sod_cost``, so ``cash = sod_cash + sum(realised - q * avg) + sod_cost``.

Threading: the engine and its store are not thread-safe (and a SQLite connection only works on
the thread that opened it), so every method here runs on the service's single engine thread.
"""
from __future__ import annotations

import logging
import random
import time
from collections import deque
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from trading_agent.service.config import ServiceConfigError
from trading_agent.service.schemas import FillOut, OrderOut, OrderRequest, PortfolioOut, PositionOut
from trading_agent.trading.engine import OrderEngine
from trading_agent.trading.model import (Instrument, OpeningAccount, OpeningPosition, Order, OrderResult, OrderType,
                                         RiskLimits, Side, StartOfDay)
from trading_agent.trading.pnl import portfolio_pnl
from trading_agent.trading.store import OrderStore

log = logging.getLogger(__name__)

SOD_CASH = 1_000_000.0
MM_ACCOUNT = "mm-1"
MM_CASH = 100_000_000.0
MM_LOT = 1_000
MM_LEVELS = 5
ORDER_HISTORY_S = 60.0  # order times kept per account, for the order-rate limit
# Pre-trade limits of the engine (per order and per account/symbol position).
ENGINE_LIMITS = RiskLimits(max_order_quantity=10_000, max_notional=5_000_000.0, max_position=1_000_000)


class UnknownAccountError(KeyError):
    """An account the desk does not hold; the message names it and the valid form."""


@dataclass
class _Account:
    sod_cash: float
    sod_cost: float  # sum of quantity x price of the start-of-day positions
    peak_equity: float
    order_times_s: deque[float]


@dataclass(frozen=True)
class Exposure:
    """An account's open positions at marks, for the risk engine (arrays aligned with symbols)."""

    account: str
    symbols: tuple[str, ...]
    quantities: np.ndarray  # shares
    prices: np.ndarray  # marks
    equity: float
    peak_equity: float
    order_times_s: np.ndarray


def account_names(n: int) -> list[str]:
    return [f"acct-{i}" for i in range(1, n + 1)]


def seeded_start_of_day(symbols: Sequence[str], quotes: Mapping[str, tuple[float, float]], n_accounts: int,
                        seed: int) -> StartOfDay:
    """The seeded accounts: 3-8 positions each priced near the opening mid (a pure function)."""
    rng = random.Random(seed)
    accounts, positions = [], []
    for name in account_names(n_accounts):
        value = 0.0
        for sym in rng.sample(list(symbols), k=min(len(symbols), rng.randint(3, 8))):
            bid, ask = quotes[sym]
            mark = (bid + ask) / 2
            qty = rng.randint(1, 30) * 100 * (1 if rng.random() < 0.8 else -1)
            price = round(mark * (1 + rng.gauss(0.0, 0.03)), 2)
            positions.append(OpeningPosition(name, sym, qty, price))
            value += qty * mark
        accounts.append(OpeningAccount(name, SOD_CASH, SOD_CASH + value))
    accounts.append(OpeningAccount(MM_ACCOUNT, MM_CASH, MM_CASH))
    return StartOfDay({"seed": seed, "n_accounts": n_accounts, "symbols": list(symbols)}, tuple(accounts),
                      tuple(positions))


def _check_seeded_with(stored: Mapping, asked: Mapping) -> None:
    """Refuse to continue a store seeded with other parameters, naming both values."""
    def show(key: str, v: object) -> str:
        if key == "symbols" and isinstance(v, list) and v:
            return f"{len(v)} symbols {v[0]}..{v[-1]}"
        return repr(v)

    diff = [f"{k}: stored {show(k, stored.get(k))}, asked {show(k, asked[k])}"
            for k in asked if stored.get(k) != asked[k]]
    if diff:
        raise ServiceConfigError("the order store was seeded with other parameters (" + "; ".join(diff)
                                 + "); start with the stored ones (--seed, --accounts, --symbols) or a new --db")


class TradingDesk:
    """See the module docstring. Build with :meth:`open`; call only from the engine thread."""

    def __init__(self, engine: OrderEngine, accounts: dict[str, _Account], clock: Callable[[], float]) -> None:
        self.engine = engine
        self._accounts = accounts
        self.account_names: frozenset[str] = frozenset(accounts)  # read from any thread
        self._clock = clock

    @classmethod
    def open(cls, symbols: Sequence[str], quotes: Mapping[str, tuple[float, float]], n_accounts: int, seed: int,
             store: OrderStore | None, *, clock: Callable[[], float] = time.time) -> TradingDesk:
        """Engine over ``symbols`` (tick 0.01) persisting to ``store``; ``quotes`` maps each symbol
        to its opening (bid, ask), around which positions are priced and the maker quotes.

        An empty (or no) store is seeded; a seeded one is recovered (see the module docstring).
        Raises :class:`ServiceConfigError` when the store was seeded with other parameters or
        holds orders without a start-of-day snapshot."""
        engine = OrderEngine([Instrument(s, 0.01) for s in symbols], store, limits=ENGINE_LIMITS)
        seeded_with = {"seed": seed, "n_accounts": n_accounts, "symbols": list(symbols)}
        sod = None if store is None else store.load_start_of_day()
        if sod is None:
            if store is not None and store.last_ids() != (0, 0):
                raise ServiceConfigError(
                    f"the order store holds orders (last id {store.last_ids()[0]}) but no start-of-day snapshot: "
                    "it was written by an older version of the service; start with a new --db")
            sod = seeded_start_of_day(symbols, quotes, n_accounts, seed)
            desk = cls._from_start_of_day(engine, sod, clock)
            if store is None:
                desk._quote_all(symbols, quotes)
            else:
                with store.atomic():  # all of it or nothing: a crash here leaves an empty store
                    store.save_start_of_day(sod)
                    desk._quote_all(symbols, quotes)
            return desk
        _check_seeded_with(sod.seeded_with, seeded_with)
        desk = cls._from_start_of_day(engine, sod, clock)
        t0 = time.perf_counter()
        restored = engine.restore(store.iter_fills(), store.resting_orders())  # type: ignore[union-attr]
        since_s = clock() - ORDER_HISTORY_S
        for account, ts_ns in reversed(store.recent_orders(int(since_s * 1e9))):  # type: ignore[union-attr]
            acct = desk._accounts.get(account)
            if acct is not None and account != MM_ACCOUNT:  # the maker's quotes never count towards its rate
                acct.order_times_s.append(ts_ns / 1e9)
        log.info("recovered %d fills and %d resting orders from the store in %.2f s", restored.fills,
                 restored.resting_orders, time.perf_counter() - t0)
        return desk

    @classmethod
    def _from_start_of_day(cls, engine: OrderEngine, sod: StartOfDay, clock: Callable[[], float]) -> TradingDesk:
        """A desk whose engine holds ``sod``'s positions (applied in order, before any fill)."""
        cost: dict[str, float] = {}
        for p in sod.positions:
            engine.positions.apply(p.account, p.symbol, p.quantity, p.price)
            cost[p.account] = cost.get(p.account, 0.0) + p.quantity * p.price
        accounts = {a.account: _Account(a.cash, cost.get(a.account, 0.0), a.equity, deque()) for a in sod.accounts}
        return cls(engine, accounts, clock)

    def _quote_all(self, symbols: Sequence[str], quotes: Mapping[str, tuple[float, float]]) -> None:
        for sym in symbols:
            bid, ask = quotes[sym]
            self._quote(sym, Side.BUY, bid)
            self._quote(sym, Side.SELL, ask)

    def _get(self, account: str) -> _Account:
        acct = self._accounts.get(account)
        if acct is None:
            raise UnknownAccountError(f"unknown account {account!r}; accounts are acct-1..acct-"
                                      f"{len(self._accounts) - 1} and {MM_ACCOUNT}")
        return acct

    # -- market maker ---------------------------------------------------------------------------
    def _quote(self, symbol: str, side: Side, touch: float) -> None:
        """Rest ``MM_LEVELS`` lots of ``MM_LOT`` from ``touch`` outwards on one side."""
        sign = -1 if side is Side.BUY else 1
        base = round(touch / 0.01)
        for k in range(MM_LEVELS):
            r = self.engine.submit(Order(symbol, side, MM_LOT, OrderType.LIMIT, round((base + sign * k) * 0.01, 2),
                                         MM_ACCOUNT))
            if r.rejected:
                log.debug("market maker quote %s %s rejected: %s", side, symbol, r.reason)
                return

    def _requote(self, symbol: str, mark: float) -> None:
        book = self.engine.book(symbol)
        if book.best_bid() is None:
            self._quote(symbol, Side.BUY, mark - 0.01)
        if book.best_ask() is None:
            self._quote(symbol, Side.SELL, mark + 0.01)

    # -- queries --------------------------------------------------------------------------------
    def portfolio(self, account: str, marks: Mapping[str, float]) -> PortfolioOut:
        """Positions, cash and P&L of ``account`` marked at ``marks`` (symbol -> last price)."""
        acct = self._get(account)
        positions = list(self.engine.positions.positions(account))
        pnl = portfolio_pnl(positions, marks)
        flow = sum(p.realised_pnl - p.quantity * p.avg_price for p in positions)
        cash = acct.sod_cash + flow + acct.sod_cost
        equity = cash + pnl.net_exposure
        acct.peak_equity = max(acct.peak_equity, equity)
        out = []
        for p in positions:
            mark = marks.get(p.symbol)
            unreal = p.unrealised_pnl(mark) if p.quantity else 0.0
            out.append(PositionOut(symbol=p.symbol, quantity=p.quantity, avg_price=p.avg_price, mark=mark,
                                   market_value=p.quantity * mark if p.quantity else 0.0,
                                   unrealised_pnl=unreal, realised_pnl=p.realised_pnl))
        return PortfolioOut(account=account, cash=cash, equity=equity, realised_pnl=pnl.realised_pnl,
                            unrealised_pnl=pnl.unrealised_pnl, total_pnl=pnl.total_pnl,
                            gross_exposure=pnl.gross_exposure, net_exposure=pnl.net_exposure, positions=out)

    def exposure(self, account: str, marks: Mapping[str, float]) -> Exposure:
        """``account``'s open positions and equity inputs for the risk engine."""
        view = self.portfolio(account, marks)
        open_ = [p for p in view.positions if p.quantity]
        acct = self._accounts[account]
        return Exposure(account, tuple(p.symbol for p in open_), np.array([p.quantity for p in open_], dtype=float),
                        np.array([p.mark for p in open_], dtype=float), view.equity, acct.peak_equity,
                        np.fromiter(acct.order_times_s, dtype=float))

    # -- orders ---------------------------------------------------------------------------------
    def submit(self, req: OrderRequest, mark: float | None) -> OrderOut:
        """Submit ``req`` through the engine (validation, pre-trade risk, matching, persistence).

        ``mark`` (last price of the symbol, None when the feed has no such symbol) prices the
        market maker's re-quote if a side of the book is empty after the order."""
        acct = self._get(req.account)
        now = self._clock()
        times = acct.order_times_s
        times.append(now)
        while times and times[0] < now - ORDER_HISTORY_S:
            times.popleft()
        order = Order(req.symbol, Side(req.side), req.quantity, OrderType(req.type), req.price, req.account)
        result = self.engine.submit(order)
        if not result.rejected and mark is not None:
            self._requote(req.symbol, mark)
        return _order_out(req, result)


def _order_out(req: OrderRequest, r: OrderResult) -> OrderOut:
    filled = sum(f.quantity for f in r.fills)
    avg = sum(f.price * f.quantity for f in r.fills) / filled if filled else None
    return OrderOut(order_id=r.order_id, status=r.status.value, account=req.account, symbol=req.symbol,
                    side=req.side, type=req.type, quantity=req.quantity, price=req.price,
                    filled_quantity=r.filled_quantity, resting_quantity=r.resting_quantity,
                    cancelled_quantity=r.cancelled_quantity, avg_fill_price=avg,
                    fills=[FillOut(fill_id=f.fill_id, ts_ns=f.ts_ns, price=f.price, quantity=f.quantity,
                                   buy_order_id=f.buy_order_id, sell_order_id=f.sell_order_id,
                                   buy_account=f.buy_account, sell_account=f.sell_account) for f in r.fills],
                    reason=r.reason, reject_code=None if r.reject_code is None else r.reject_code.value)
