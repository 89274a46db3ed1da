"""Benchmark factories for trading operations (named in config/benchmarks.yaml).

Setup (untimed) builds the engine, the store and a seeded order stream; the returned
:class:`~trading_agent.operation.Operation` times one order end to end (validate, risk, match,
positions, persist) per call, cycling through the stream. To keep the book bounded over any
number of calls, a call whose symbol has more than ``max_resting_per_symbol`` resting orders
also cancels the oldest ones (a cancel is an order message too, and is persisted).

``store``: ``sqlite`` (a temp file unless ``db_url`` names one; removed on close unless named),
``postgres`` (``db_url`` or ``$TRADING_PG_URL`` or ``postgresql://postgres@127.0.0.1:5432/postgres``;
tables in a fresh schema dropped on close) or ``memory`` (no persistence: the in-process path).
"""
from __future__ import annotations

import os
import shutil
import tempfile
import uuid
from collections import deque
from collections.abc import Callable

import numpy as np

from trading_agent.data import synthetic_portfolio
from trading_agent.operation import Operation
from trading_agent.trading.engine import OrderEngine
from trading_agent.trading.model import Fill, Order, OrderResult, RiskLimits, Side
from trading_agent.trading.orderflow import FlowConfig, instruments, synthetic_orders
from trading_agent.trading.pnl import PortfolioPnL, portfolio_pnl
from trading_agent.trading.positions import PositionBook
from trading_agent.trading.store import OrderStore, SqliteOrderStore

DEFAULT_PG_URL = "postgresql://postgres@127.0.0.1:5432/postgres"
BENCH_LIMITS = RiskLimits(max_order_quantity=10_000, max_notional=5_000_000.0, max_position=1_000_000)
STORES = ("sqlite", "postgres", "memory")


def _open_bench_store(store: str, db_url: str | None = None, *,
                     synchronous_commit: bool | None = None) -> tuple[OrderStore | None, Callable[[], None]]:
    """``(store, cleanup)`` for a benchmark; cleanup closes it and removes what setup created.
    ``synchronous_commit`` (PostgreSQL only): None keeps the server's setting."""
    if synchronous_commit is not None and store != "postgres":
        raise ValueError(f"synchronous_commit applies to store='postgres' only, got store={store!r}")
    if store == "memory":
        return None, lambda: None
    if store == "sqlite":
        tmp = None if db_url else tempfile.mkdtemp(prefix="trading-bench-")
        s = SqliteOrderStore(db_url or os.path.join(tmp, "orders.db"))  # type: ignore[arg-type]

        def cleanup() -> None:
            s.close()
            if tmp is not None:
                shutil.rmtree(tmp, ignore_errors=True)
        return s, cleanup
    if store == "postgres":
        from trading_agent.trading.pg_store import PostgresOrderStore

        url = db_url or os.environ.get("TRADING_PG_URL", DEFAULT_PG_URL)
        pg = PostgresOrderStore(url, schema=f"trading_bench_{uuid.uuid4().hex[:12]}",
                                synchronous_commit=synchronous_commit)

        def cleanup_pg() -> None:
            try:
                pg.drop_schema()
            finally:
                pg.close()
        return pg, cleanup_pg
    raise ValueError(f"store must be one of {STORES}, got {store!r}")


class OrderLoop:
    """Submits the next order of a cycled stream; caps resting orders per symbol by cancelling
    the oldest. ``step()`` handles one order (plus any cancels it triggers)."""

    def __init__(self, engine: OrderEngine, orders: list[Order], max_resting_per_symbol: int,
                 close: Callable[[], None] = lambda: None) -> None:
        if max_resting_per_symbol < 1:
            raise ValueError(f"max_resting_per_symbol must be >= 1, got {max_resting_per_symbol}")
        self.engine = engine
        self.close = close  # closes the store and removes what setup created
        self.orders = orders
        self.cap = max_resting_per_symbol
        self.i = 0
        self.cancels = 0
        self._rested: dict[str, deque[int]] = {s: deque() for s in engine.instruments}

    def step(self) -> OrderResult:
        order = self.orders[self.i]
        self.i = (self.i + 1) % len(self.orders)
        engine = self.engine
        result = engine.submit(order)
        if result.resting_quantity:
            rested = self._rested[order.symbol]
            rested.append(result.order_id)
            book = engine.book(order.symbol)
            while book.resting_count > self.cap:
                if engine.cancel(rested.popleft()) is not None:
                    self.cancels += 1
        return result

    def run(self, n: int) -> None:
        step = self.step
        for _ in range(n):
            step()


def order_loop(n_symbols: int = 50, store: str = "sqlite", db_url: str | None = None, seed: int = 23,
               n_orders: int = 20_000, warm_orders: int = 2_000, bad_fraction: float = 0.02,
               market_fraction: float = 0.15, max_resting_per_symbol: int = 50,
               synchronous_commit: bool | None = None) -> OrderLoop:
    """The set-up, warmed-up order loop behind :func:`order_processing`; call ``close()`` after."""
    orders = synthetic_orders(n_orders, n_symbols, seed,
                              config=FlowConfig(market_fraction=market_fraction, bad_fraction=bad_fraction))
    st, cleanup = _open_bench_store(store, db_url, synchronous_commit=synchronous_commit)
    try:
        engine = OrderEngine(instruments(n_symbols), st, limits=BENCH_LIMITS)
        loop = OrderLoop(engine, orders, max_resting_per_symbol, cleanup)
        loop.run(warm_orders)  # a book in steady state, not an empty one
    except BaseException:
        cleanup()
        raise
    return loop


def order_processing(n_symbols: int = 50, store: str = "sqlite", db_url: str | None = None, seed: int = 23,
                     n_orders: int = 20_000, warm_orders: int = 2_000, bad_fraction: float = 0.02,
                     market_fraction: float = 0.15, max_resting_per_symbol: int = 50,
                     synchronous_commit: bool | None = None) -> Operation:
    """One call = one order end to end, persisted (use ``loops: 1`` for per-order tails)."""
    loop = order_loop(n_symbols, store, db_url, seed, n_orders, warm_orders, bad_fraction, market_fraction,
                      max_resting_per_symbol, synchronous_commit)
    return Operation(loop.step, items_per_call=1, close=loop.close, info={"store": store})


def order_processing_batch(batch: int = 1_000, n_symbols: int = 50, store: str = "sqlite",
                           db_url: str | None = None, seed: int = 23, n_orders: int = 20_000,
                           warm_orders: int = 2_000, bad_fraction: float = 0.02, market_fraction: float = 0.15,
                           max_resting_per_symbol: int = 50, synchronous_commit: bool | None = None) -> Operation:
    """One call = ``batch`` orders back to back, each its own transaction (throughput)."""
    if batch < 1:
        raise ValueError(f"batch must be >= 1, got {batch}")
    loop = order_loop(n_symbols, store, db_url, seed, n_orders, warm_orders, bad_fraction, market_fraction,
                      max_resting_per_symbol, synchronous_commit)
    return Operation(lambda: loop.run(batch), items_per_call=batch, close=loop.close, info={"store": store})


def _random_fills(n_fills: int, n_symbols: int, n_accounts: int, seed: int) -> list[Fill]:
    rng = np.random.default_rng(seed)
    sym = rng.integers(0, n_symbols, size=n_fills)
    buyer = rng.integers(0, n_accounts, size=n_fills)
    seller = (buyer + rng.integers(1, max(n_accounts, 2), size=n_fills)) % n_accounts
    qty = rng.integers(1, 11, size=n_fills) * 100
    price = np.round(100.0 + rng.normal(0.0, 2.0, size=n_fills), 2)
    return [Fill(i + 1, i, f"SYM{int(sym[i]):03d}", float(price[i]), int(qty[i]), 2 * i + 1, 2 * i + 2,
                 f"ACC{int(buyer[i])}", f"ACC{int(seller[i])}", Side.BUY) for i in range(n_fills)]


def position_update(n_symbols: int = 200, n_accounts: int = 8, n_fills: int = 50_000, seed: int = 29) -> Operation:
    """One call = one fill applied to positions (buyer's and seller's average price and P&L)."""
    fills = _random_fills(n_fills, n_symbols, n_accounts, seed)
    book = PositionBook()
    state = {"i": 0}
    apply_fill = book.apply_fill

    def run() -> None:
        i = state["i"]
        apply_fill(fills[i])
        state["i"] = (i + 1) % n_fills

    return Operation(run, items_per_call=1)


def pnl_portfolio(n_positions: int = 200, n_mark_sets: int = 64, seed: int = 31) -> Operation:
    """One call = realised + unrealised P&L of a ``n_positions``-symbol portfolio, snapshotted
    from the live position book and marked to one of ``n_mark_sets`` price vectors."""
    p = synthetic_portfolio(n_positions, seed)
    rng = np.random.default_rng(seed)
    base = rng.uniform(20.0, 500.0, size=n_positions)
    book = PositionBook()
    for _ in range(3):  # buys, partial sells and adds: non-trivial average prices and realised P&L
        for j, s in enumerate(p.symbols):
            signed = int(rng.integers(-20, 21)) * 100 or 100
            book.apply("PORT", s, signed, round(float(base[j] * (1 + rng.normal(0, 0.01))), 2))
    vol = np.sqrt(np.diag(p.cov))
    marks = [dict(zip(p.symbols, (base * np.exp(vol * rng.standard_normal(n_positions))).tolist()))
             for _ in range(n_mark_sets)]
    state = {"i": 0}

    def run() -> PortfolioPnL:
        i = state["i"]
        state["i"] = (i + 1) % n_mark_sets
        return portfolio_pnl(book.positions("PORT"), marks[i])

    return Operation(run, items_per_call=1, info={"n_positions": n_positions})
