"""Order path, order book invariants, positions, P&L, persistence (SQLite and PostgreSQL) and the
benchmark factories of trading_agent.trading."""
from __future__ import annotations

import math
import os
import uuid
from collections import defaultdict
from collections.abc import Callable, Iterator

import numpy as np
import pytest

from trading_agent.trading import bench
from trading_agent.trading.book import OrderBook
from trading_agent.trading.engine import OrderEngine
from trading_agent.trading.model import (Fill, Instrument, Order, OrderStatus, OrderType, RejectCode,
                                         RiskLimits, Side)
from trading_agent.trading.orderflow import FlowConfig, instruments, synthetic_orders
from trading_agent.trading.pnl import MissingMarkError, portfolio_pnl
from trading_agent.trading.positions import PositionBook
from trading_agent.trading.store import OrderStore, SqliteOrderStore, open_store

PG_ADMIN_URL = os.environ.get("TRADING_PG_URL", "postgresql://postgres@127.0.0.1:5432/postgres")
BUY, SELL, LIMIT, MARKET = Side.BUY, Side.SELL, OrderType.LIMIT, OrderType.MARKET


def lim(side: Side, qty: int, price: float, account: str = "A", symbol: str = "AAA") -> Order:
    return Order(symbol, side, qty, LIMIT, price, account)


def mkt(side: Side, qty: int, account: str = "A", symbol: str = "AAA") -> Order:
    return Order(symbol, side, qty, MARKET, None, account)


def make_engine(store: OrderStore | None = None, **kw) -> OrderEngine:
    ts = iter(range(1, 10**9))
    return OrderEngine([Instrument("AAA", 0.01), Instrument("BBB", 0.05)], store, clock=lambda: next(ts), **kw)


# -- price-time priority and matching ---------------------------------------------------------

def test_earlier_order_at_same_price_fills_first():
    e = make_engine()
    first = e.submit(lim(SELL, 100, 10.00, "M1"))
    second = e.submit(lim(SELL, 100, 10.00, "M2"))
    r = e.submit(lim(BUY, 150, 10.00, "T"))
    assert [(f.sell_order_id, f.quantity) for f in r.fills] == [(first.order_id, 100), (second.order_id, 50)]
    assert e.book("AAA").orders_at(SELL, 1000) == [second.order_id]


def test_better_price_fills_first_at_the_makers_price():
    e = make_engine()
    e.submit(lim(SELL, 100, 10.02, "M1"))
    best = e.submit(lim(SELL, 100, 10.01, "M2"))
    e.submit(lim(BUY, 100, 9.98, "M3"))
    r = e.submit(lim(BUY, 150, 10.05, "T"))
    assert [(f.sell_order_id, f.price, f.quantity) for f in r.fills][0] == (best.order_id, 10.01, 100)
    assert [f.price for f in r.fills] == [10.01, 10.02]
    s = e.submit(mkt(SELL, 100, "T2"))
    assert [f.price for f in s.fills] == [9.98]


def test_limit_order_partially_fills_and_rests_the_remainder():
    e = make_engine()
    e.submit(lim(SELL, 100, 10.00, "M"))
    r = e.submit(lim(BUY, 300, 10.01, "T"))
    assert (r.status, r.filled_quantity, r.resting_quantity, r.cancelled_quantity) == (
        OrderStatus.PARTIALLY_FILLED, 100, 200, 0)
    book = e.book("AAA")
    assert book.depth(BUY) == [(1001, 200)] and book.depth(SELL) == []
    assert e.open_quantity("T", "AAA") == (200, 0)


def test_non_crossing_limit_order_rests_without_fills():
    e = make_engine()
    e.submit(lim(SELL, 100, 10.05, "M"))
    r = e.submit(lim(BUY, 100, 10.00, "T"))
    assert (r.status, r.fills, r.resting_quantity) == (OrderStatus.NEW, (), 100)
    assert e.book("AAA").best_bid() == 1000 and e.book("AAA").best_ask() == 1005


def test_market_order_sweeps_levels_and_cancels_the_unfilled_remainder():
    e = make_engine()
    e.submit(lim(SELL, 100, 10.00, "M1"))
    e.submit(lim(SELL, 100, 10.10, "M2"))
    r = e.submit(mkt(BUY, 500, "T"))
    assert [f.price for f in r.fills] == [10.00, 10.10]
    assert (r.status, r.filled_quantity, r.resting_quantity, r.cancelled_quantity) == (
        OrderStatus.CANCELLED, 200, 0, 300)
    assert e.book("AAA").depth(SELL) == [] and e.book("AAA").depth(BUY) == []


def test_market_order_into_an_empty_book_is_cancelled_not_rejected():
    r = make_engine().submit(mkt(SELL, 100))
    assert (r.status, r.filled_quantity, r.cancelled_quantity, r.reason) == (OrderStatus.CANCELLED, 0, 100, None)


def test_cancel_removes_the_resting_remainder_and_conserves_quantity():
    e = make_engine()
    r = e.submit(lim(BUY, 300, 10.00, "M"))
    e.submit(lim(SELL, 100, 10.00, "T"))
    u = e.cancel(r.order_id)
    assert (u.filled_quantity, u.resting_quantity, u.cancelled_quantity) == (100, 0, 200)
    assert u.status is OrderStatus.CANCELLED
    assert e.book("AAA").depth(BUY) == [] and e.open_quantity("M", "AAA") == (0, 0)
    assert e.cancel(r.order_id) is None and e.cancel(999_999) is None


def test_book_refuses_to_rest_a_crossing_order():
    book = OrderBook("AAA", 0.01, iter(range(1, 100)))
    book.rest(1, "A", False, 1000, 100, 100)
    with pytest.raises(ValueError, match="would cross"):
        book.rest(2, "B", True, 1000, 100, 100)


def test_price_level_heap_stays_bounded_when_levels_come_and_go():
    e = make_engine()
    for i in range(2_000):
        r = e.submit(lim(BUY, 100, round(5.00 + (i % 500) * 0.01, 2), "A"))
        e.cancel(r.order_id)
    heap = e.book("AAA")._bids.heap
    assert e.book("AAA").resting_count == 0 and len(heap) <= 500 + 64


# -- rejections --------------------------------------------------------------------------------

def _state(e: OrderEngine, accounts: tuple[str, ...] = ("A", "M", "T")) -> tuple:
    """Everything a rejected order must leave alone: books (with time priority), positions, open orders."""
    books = {s: (b.depth(BUY), b.depth(SELL), [b.orders_at(side, t) for side in (BUY, SELL) for t, _ in b.depth(side)])
             for s, b in ((s, e.book(s)) for s in e.instruments)}
    positions = sorted((p.account, p.symbol, p.quantity, p.avg_price, p.realised_pnl) for p in e.positions.positions())
    opened = {(a, s): e.open_quantity(a, s) for a in accounts for s in e.instruments}
    return books, positions, opened


REJECTIONS = [
    (lim(BUY, 0, 10.00), RejectCode.INVALID_QUANTITY, "got 0"),
    (lim(BUY, -100, 10.00), RejectCode.INVALID_QUANTITY, "got -100"),
    (lim(BUY, 1.5, 10.00), RejectCode.INVALID_QUANTITY, "got 1.5"),  # type: ignore[arg-type]
    (lim(BUY, 100, 10.00, symbol="ZZZ"), RejectCode.UNKNOWN_SYMBOL, "'ZZZ'"),
    (lim(BUY, 100, 10.005), RejectCode.OFF_TICK_GRID, "10.005"),
    (lim(BUY, 100, 10.02, symbol="BBB"), RejectCode.OFF_TICK_GRID, "0.05 tick grid of BBB"),
    (lim(BUY, 100, -1.0), RejectCode.INVALID_PRICE, "got -1.0"),
    (lim(BUY, 100, float("nan")), RejectCode.INVALID_PRICE, "got nan"),
    (Order("AAA", BUY, 100, LIMIT, None, "A"), RejectCode.INVALID_PRICE, "got None"),
    (Order("AAA", BUY, 100, MARKET, 10.0, "A"), RejectCode.INVALID_PRICE, "got 10.0"),
    (Order("AAA", "hold", 100, LIMIT, 10.0, "A"), RejectCode.INVALID_SIDE, "'hold'"),  # type: ignore[arg-type]
    (Order("AAA", BUY, 100, "stop", 10.0, "A"), RejectCode.INVALID_ORDER_TYPE, "'stop'"),  # type: ignore[arg-type]
    (Order("AAA", BUY, 100, LIMIT, 10.0, ""), RejectCode.INVALID_ACCOUNT, "got ''"),
    (lim(BUY, 5_000, 10.00), RejectCode.MAX_ORDER_QUANTITY, "quantity 5000 exceeds max order quantity 1000"),
    (lim(SELL, 1_000, 60.00), RejectCode.MAX_NOTIONAL, "notional 60000.00"),
    (mkt(BUY, 1_000, "T"), RejectCode.MAX_NOTIONAL, "1000 x 55.0"),  # priced at the best ask
    (lim(BUY, 800, 10.00, "T"), RejectCode.MAX_POSITION, "position 300, open buys 0"),
    (lim(SELL, 800, 55.00, "M"), RejectCode.MAX_POSITION, "to -1100 (position 300, open sells 600)"),
]


@pytest.mark.parametrize(("order", "code", "detail"), REJECTIONS,
                         ids=[f"{c.value}-{i}" for i, (_, c, _) in enumerate(REJECTIONS)])
def test_bad_order_is_rejected_with_a_reason_and_touches_nothing(tmp_path, order, code, detail):
    store = SqliteOrderStore(tmp_path / "o.db")
    e = make_engine(store, limits=RiskLimits(max_order_quantity=1_000, max_notional=50_000.0, max_position=1_000))
    e.submit(lim(SELL, 600, 55.00, "M"))
    e.submit(lim(BUY, 300, 9.00, "M"))
    e.submit(lim(SELL, 300, 9.00, "A"))  # M 300 long, T 300 via the next two orders
    e.submit(lim(SELL, 300, 8.00, "A"))
    e.submit(mkt(BUY, 300, "T"))
    before = _state(e)
    r = e.submit(order)
    assert r.rejected and r.reject_code is code and detail in r.reason
    assert (r.filled_quantity, r.resting_quantity, r.fills) == (0, 0, ())
    assert _state(e) == before
    rec = store.get_order(r.order_id)
    assert (rec.status, rec.reason, rec.filled_quantity) == (OrderStatus.REJECTED, r.reason, 0)
    store.close()


def test_symbol_limits_override_the_defaults():
    e = make_engine(symbol_limits={"BBB": RiskLimits(max_order_quantity=100)})
    assert e.submit(lim(BUY, 200, 10.00, symbol="AAA")).status is OrderStatus.NEW
    assert e.submit(lim(BUY, 200, 10.00, symbol="BBB")).reject_code is RejectCode.MAX_ORDER_QUANTITY
    with pytest.raises(ValueError, match="unknown symbols \\['ZZZ'\\]"):
        make_engine(symbol_limits={"ZZZ": RiskLimits()})


# -- positions and P&L -------------------------------------------------------------------------

def test_average_price_and_realised_pnl_on_a_partial_close():
    pb = PositionBook()
    pb.apply("A", "X", 100, 10.0)
    pb.apply("A", "X", 100, 12.0)
    pb.apply("A", "X", -50, 15.0)
    p = pb.get("A", "X")
    assert (p.quantity, p.avg_price, p.realised_pnl) == (150, 11.0, 200.0)
    assert p.unrealised_pnl(10.0) == -150.0


def test_a_fill_through_flat_opens_the_remainder_at_the_fill_price():
    pb = PositionBook()
    pb.apply("A", "X", -100, 20.0)
    pb.apply("A", "X", 300, 18.0)
    p = pb.get("A", "X")
    assert (p.quantity, p.avg_price, p.realised_pnl) == (200, 18.0, 200.0)


def test_round_trip_realised_pnl_equals_the_fills_cash_flows():
    rng = np.random.default_rng(5)
    pb = PositionBook()
    cash = 0.0
    legs = [int(q) * 100 for q in rng.integers(-5, 6, size=40) if q]
    legs.append(-sum(legs))  # back to flat
    for q in legs:
        price = round(float(rng.uniform(90, 110)), 2)
        pb.apply("A", "X", q, price)
        cash -= q * price
    p = pb.get("A", "X")
    assert p.quantity == 0 and p.realised_pnl == pytest.approx(cash, abs=1e-6)


def test_portfolio_pnl_adds_realised_and_marked_unrealised():
    pb = PositionBook()
    pb.apply("A", "X", 100, 10.0)
    pb.apply("A", "X", -40, 12.0)  # realised 80
    pb.apply("A", "Y", -50, 20.0)
    pb.apply("A", "Z", 10, 5.0)
    pb.apply("A", "Z", -10, 6.0)  # flat, realised 10, needs no mark
    r = portfolio_pnl(pb.positions("A"), {"X": 11.0, "Y": 19.0})
    assert (r.realised_pnl, r.unrealised_pnl, r.total_pnl) == (90.0, 60 * 1.0 + 50 * 1.0, 200.0)
    assert (r.gross_exposure, r.net_exposure, r.n_positions, r.n_open) == (660 + 950, 660 - 950, 3, 2)


def test_portfolio_pnl_refuses_an_open_position_without_a_mark():
    pb = PositionBook()
    pb.apply("A", "X", 100, 10.0)
    with pytest.raises(MissingMarkError, match="A/X"):
        portfolio_pnl(pb.positions(), {"Y": 1.0})
    with pytest.raises(MissingMarkError, match="nan"):
        portfolio_pnl(pb.positions(), {"X": math.nan})


# -- a seeded random order stream, invariants checked after every order ------------------------

def test_random_order_stream_keeps_every_book_invariant(tmp_path):
    store = SqliteOrderStore(tmp_path / "orders.db")
    e = OrderEngine(instruments(5), store, limits=RiskLimits(5_000, 2_000_000.0, 20_000))
    orders = synthetic_orders(3_000, 5, seed=3, config=FlowConfig(bad_fraction=0.05, n_accounts=4))
    rng = np.random.default_rng(4)
    qty: dict[int, int] = {}
    filled: dict[int, int] = defaultdict(int)
    cancelled: dict[int, int] = defaultdict(int)
    cash: dict[tuple[str, str], float] = defaultdict(float)
    seen_fill_ids: set[int] = set()
    live: list[int] = []
    accounts = tuple(f"ACC{i}" for i in range(4))
    for order in orders:
        before = _state(e, accounts)
        r = e.submit(order)
        if r.rejected:
            assert _state(e, accounts) == before, r.reason
            continue
        qty[r.order_id] = order.quantity
        for f in r.fills:
            assert f.fill_id not in seen_fill_ids and f.quantity > 0
            seen_fill_ids.add(f.fill_id)
            filled[f.buy_order_id] += f.quantity
            filled[f.sell_order_id] += f.quantity
            cash[f.buy_account, f.symbol] -= f.quantity * f.price
            cash[f.sell_account, f.symbol] += f.quantity * f.price
        cancelled[r.order_id] += r.cancelled_quantity
        if r.resting_quantity:
            live.append(r.order_id)
        if live and rng.random() < 0.1:  # cancel a random earlier order now and then
            u = e.cancel(live.pop(int(rng.integers(len(live)))))
            if u is not None:
                cancelled[u.order_id] += u.cancelled_quantity
        book = e.book(order.symbol)
        bid, ask = book.best_bid(), book.best_ask()
        assert bid is None or ask is None or bid < ask, f"crossed {order.symbol}: {bid} >= {ask}"
        for oid in (r.order_id, *(f.buy_order_id for f in r.fills), *(f.sell_order_id for f in r.fills)):
            assert filled[oid] + e.resting_quantity(oid) + cancelled[oid] == qty[oid]

    # quantity conserved per order, and the database agrees with the engine
    records = {o.order_id: o for o in store.orders()}
    for oid, q in qty.items():
        rec = records[oid]
        assert (rec.filled_quantity, rec.resting_quantity, rec.cancelled_quantity) == (
            filled[oid], e.resting_quantity(oid), cancelled[oid])
        assert rec.filled_quantity + rec.resting_quantity + rec.cancelled_quantity == q
    assert sum(r.status is OrderStatus.REJECTED for r in records.values()) == len(orders) - len(qty) > 0
    fills = store.fills()
    assert len(fills) == len(seen_fill_ids) > 500
    # total bought == total sold: positions net to zero per symbol; P&L reconciles with cash flows
    marks = {s: e.book(s).last_price or 100.0 for s in e.instruments}
    net: dict[str, int] = defaultdict(int)
    for p in e.positions.positions():
        net[p.symbol] += p.quantity
        pnl = p.realised_pnl + p.unrealised_pnl(marks[p.symbol])
        assert pnl == pytest.approx(cash[p.account, p.symbol] + p.quantity * marks[p.symbol], abs=1e-4)
    assert all(v == 0 for v in net.values())
    assert portfolio_pnl(e.positions.positions(), marks).total_pnl == pytest.approx(0.0, abs=1e-4)
    store.close()


# -- persistence: SQLite and PostgreSQL -------------------------------------------------------

@pytest.fixture(scope="module")
def pg_database() -> Iterator[str]:
    """A uniquely named database on the local server, dropped afterwards."""
    psycopg = pytest.importorskip("psycopg")
    try:
        admin = psycopg.connect(PG_ADMIN_URL, autocommit=True, connect_timeout=3)
    except psycopg.OperationalError as exc:
        pytest.skip(f"PostgreSQL unreachable at {PG_ADMIN_URL}: {exc}")
    name = f"trading_test_{uuid.uuid4().hex[:12]}"
    admin.execute(f"CREATE DATABASE {name}")
    try:
        yield PG_ADMIN_URL.rsplit("/", 1)[0] + "/" + name
    finally:
        admin.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
        admin.close()


@pytest.fixture(params=["sqlite", "postgres"])
def open_test_store(request, tmp_path) -> Iterator[Callable[[], OrderStore]]:
    """Opens (and reopens) one store location of the given backend."""
    opened: list[OrderStore] = []
    if request.param == "sqlite":
        def factory() -> OrderStore:
            opened.append(open_store(tmp_path / "orders.db"))
            return opened[-1]
    else:
        from trading_agent.trading.pg_store import PostgresOrderStore
        url, schema = request.getfixturevalue("pg_database"), f"t_{uuid.uuid4().hex[:12]}"

        def factory() -> OrderStore:
            opened.append(PostgresOrderStore(url, schema=schema))
            return opened[-1]
    yield factory
    for s in opened:
        s.close()


def test_store_persists_orders_fills_and_maker_updates_and_a_reopened_engine_continues(open_test_store):
    store = open_test_store()
    assert isinstance(store, OrderStore)
    e = make_engine(store)
    maker = e.submit(lim(SELL, 300, 10.00, "M"))
    taker = e.submit(lim(BUY, 100, 10.00, "T"))
    bad = e.submit(lim(BUY, 0, 10.00, "T"))
    store.close()
    store = open_test_store()
    m, t = store.get_order(maker.order_id), store.get_order(taker.order_id)
    assert (m.status, m.filled_quantity, m.resting_quantity, m.price) == (OrderStatus.PARTIALLY_FILLED, 100, 200, 10.0)
    assert (t.status, t.side, t.order_type, t.account) == (OrderStatus.FILLED, "buy", "limit", "T")
    assert store.get_order(bad.order_id).reason == bad.reason
    (f,) = store.fills(maker.order_id)
    assert f == taker.fills[0] and store.fills() == [f] and store.get_order(10**9) is None
    assert store.last_ids() == (bad.order_id, f.fill_id)
    e2 = make_engine(store)
    again = e2.submit(lim(BUY, 100, 9.00, "T"))
    assert again.order_id == bad.order_id + 1
    e2.cancel(again.order_id)
    assert store.get_order(again.order_id).status is OrderStatus.CANCELLED


def test_failed_postgres_save_rolls_back_and_the_store_stays_usable(pg_database):
    import psycopg

    from trading_agent.trading.pg_store import PostgresOrderStore
    store = PostgresOrderStore(pg_database, schema=f"t_{uuid.uuid4().hex[:12]}")
    try:
        e = make_engine(store)
        r = e.submit(lim(SELL, 100, 10.00, "M"))
        dup = store.get_order(r.order_id)
        fill = Fill(1, 1, "AAA", 10.0, 100, 1, r.order_id, "T", "M", BUY)
        with pytest.raises(psycopg.errors.UniqueViolation):
            store.save(dup, (fill,), ())
        assert store.fills() == [] and len(store.orders()) == 1
        assert e.submit(lim(BUY, 100, 10.00, "T")).status is OrderStatus.FILLED
        assert len(store.fills()) == 1
    finally:
        store.drop_schema()
        store.close()


def test_open_store_picks_the_backend_from_the_location(tmp_path):
    s = open_store(f"sqlite:///{tmp_path}/a.db")
    assert isinstance(s, SqliteOrderStore) and s.path == f"{tmp_path}/a.db"
    s.close()
    with pytest.raises(ValueError, match="mysql://x"):
        open_store("mysql://x")


# -- benchmark factories ------------------------------------------------------------------------

def test_order_processing_factory_persists_each_order_and_removes_its_temp_db(tmp_path, monkeypatch):
    import sqlite3
    import tempfile
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    op = bench.order_processing(n_symbols=5, n_orders=500, warm_orders=50)
    assert op.items_per_call == 1 and op.info == {"store": "sqlite"}
    results = [op() for _ in range(200)]
    (db,) = tmp_path.glob("trading-bench-*/orders.db")
    with sqlite3.connect(db) as conn:
        assert conn.execute("SELECT count(*) FROM orders").fetchone()[0] >= 250
    assert any(r.fills for r in results) and any(r.rejected for r in results + [op() for _ in range(100)])
    op.close()
    assert list(tmp_path.iterdir()) == []


def test_order_loop_keeps_the_book_bounded_over_a_long_run():
    loop = bench.order_loop(n_symbols=3, store="memory", seed=1, n_orders=1_000, warm_orders=0,
                            bad_fraction=0.0, max_resting_per_symbol=20)
    loop.run(5_000)
    engine = loop.engine
    assert loop.cancels > 0 and all(engine.book(s).resting_count <= 20 for s in engine.instruments)
    assert all(len(engine.book(s)._bids.heap) + len(engine.book(s)._asks.heap) < 200 for s in engine.instruments)
    loop.close()


def test_order_processing_on_postgres_drops_its_schema_on_close(pg_database):
    import psycopg
    op = bench.order_processing(n_symbols=3, store="postgres", db_url=pg_database, n_orders=200, warm_orders=20)
    assert op.info == {"store": "postgres"}
    for _ in range(20):
        op()
    with psycopg.connect(pg_database) as conn:
        schemas = "SELECT count(*) FROM pg_namespace WHERE nspname LIKE 'trading_bench_%'"
        assert conn.execute(schemas).fetchone()[0] == 1
        op.close()
        assert conn.execute(schemas).fetchone()[0] == 0


def test_batch_position_and_pnl_factories_run():
    op = bench.order_processing_batch(batch=50, n_symbols=3, store="memory", n_orders=300, warm_orders=0)
    op()
    assert op.items_per_call == 50 and op._fn is not None
    op.close()
    pu = bench.position_update(n_symbols=10, n_fills=100)
    for _ in range(150):
        pu()
    pnl = bench.pnl_portfolio(n_positions=20, n_mark_sets=3)
    results = [pnl() for _ in range(4)]
    assert results[0] == results[3] and results[0].n_positions == 20
    with pytest.raises(ValueError, match="store must be one of"):
        bench.order_processing(store="oracle")
    with pytest.raises(ValueError, match="store='postgres' only"):
        bench.order_processing(store="sqlite", synchronous_commit=False)


def test_a_price_with_float_noise_is_on_the_grid_and_stored_as_the_grid_price(tmp_path):
    store = SqliteOrderStore(tmp_path / "o.db")
    r = make_engine(store).submit(lim(BUY, 100, 0.1 + 0.2))  # 0.30000000000000004
    assert r.status is OrderStatus.NEW and store.get_order(r.order_id).price == 0.3
    store.close()


# -- extreme values: every order gets a reason, none an exception ----------------------------------

@pytest.mark.parametrize("price", [1e308, 1e300, 1e10 + 0.01, 10**400, 1e-300, 5e-324, 0.0, -0.01, float("inf"),
                                   float("-inf"), True], ids=repr)
def test_a_price_out_of_range_is_rejected_naming_the_value_and_the_range(price):
    e = make_engine()
    r = e.submit(Order("AAA", BUY, 100, LIMIT, price, "A"))
    assert r.reject_code is RejectCode.INVALID_PRICE
    assert "limit price must be a number from 0.01 to 1e+10 (1 to 1,000,000,000,000 ticks of 0.01)" in r.reason
    assert len(r.reason) < 200 and e.book("AAA").depth(BUY) == []


def test_price_to_ticks_is_total():
    from trading_agent.trading.checks import price_to_ticks
    assert price_to_ticks(1e308, 0.01) is None and price_to_ticks(float("nan"), 0.01) is None
    assert price_to_ticks(1e10, 0.01) == 10**12 and price_to_ticks(0.01, 0.01) == 1


@pytest.mark.parametrize(("quantity", "code", "detail"), [
    (10**30, RejectCode.MAX_ORDER_QUANTITY, "exceeds max order quantity 1000 (allowed: 1 to 1000)"),
    (-(10**30), RejectCode.INVALID_QUANTITY, "whole number of shares >= 1, got -1000000000000000000000000000000"),
    (10**5000, RejectCode.MAX_ORDER_QUANTITY, "an integer of about 5001 digits exceeds"),
], ids=["1e30", "-1e30", "1e5000"])
def test_an_absurd_quantity_is_rejected_with_a_short_reason(tmp_path, quantity, code, detail):
    store = SqliteOrderStore(tmp_path / "o.db")
    e = make_engine(store, limits=RiskLimits(max_order_quantity=1_000))
    r = e.submit(lim(BUY, quantity, 10.00))
    assert r.reject_code is code and detail in r.reason and len(r.reason) < 200
    assert store.get_order(r.order_id).quantity == 0  # not a BIGINT: stored as 0, the reason names it
    store.close()


# -- recovery: an engine rebuilt from its store is the engine that wrote it ------------------------

def _book_state(e: OrderEngine) -> dict:
    return {s: (b.depth(BUY), b.depth(SELL), [b.orders_at(side, t) for side in (BUY, SELL) for t, _ in b.depth(side)],
                b.last_price) for s, b in ((s, e.book(s)) for s in e.instruments)}


def test_engine_restored_from_the_store_continues_exactly_like_the_one_that_wrote_it(open_test_store):
    store = open_test_store()
    limits = RiskLimits(5_000, 2_000_000.0, 20_000)
    orders = synthetic_orders(2_500, 5, seed=5, config=FlowConfig(bad_fraction=0.05, n_accounts=4))
    first, rest = orders[:2_000], orders[2_000:]
    e = OrderEngine(instruments(5), store, limits=limits, clock=lambda: 1)
    e.positions.apply("ACC0", "SYM001", 500, 101.37)  # a start-of-day position, applied before any fill
    rng = np.random.default_rng(6)
    for o in first:
        r = e.submit(o)
        if r.resting_quantity and rng.random() < 0.2:
            e.cancel(r.order_id)
    accounts = tuple(f"ACC{i}" for i in range(4))
    store.close()

    store = open_test_store()
    e2 = OrderEngine(instruments(5), store, limits=limits, clock=lambda: 1)
    e2.positions.apply("ACC0", "SYM001", 500, 101.37)
    restored = e2.restore(store.iter_fills(), store.resting_orders())
    assert restored.fills == len(store.fills()) > 300 and restored.resting_orders > 20
    assert _book_state(e2) == _book_state(e)  # levels, quantities and time priority
    assert list(e2.positions.positions()) == list(e.positions.positions())  # exact floats, same order
    assert {(a, s): e2.open_quantity(a, s) for a in accounts for s in e.instruments} == {
        (a, s): e.open_quantity(a, s) for a in accounts for s in e.instruments}
    e_mem = e
    e_mem.store = None  # the original continues in memory; the restored one persists
    for o in rest:
        a, b = e_mem.submit(o), e2.submit(o)
        assert a == b
    assert _book_state(e2) == _book_state(e_mem)
    assert list(e2.positions.positions()) == list(e_mem.positions.positions())


def test_restore_refuses_a_used_engine_and_state_it_cannot_take():
    from trading_agent.trading.engine import RecoveryError
    from trading_agent.trading.model import OrderRecord
    e = make_engine()
    e.submit(lim(BUY, 100, 10.00))
    with pytest.raises(RecoveryError, match="fresh engine"):
        e.restore([], [])
    bad = OrderRecord(7, 1, "A", "ZZZ", "buy", "limit", 10.0, 100, 0, 100, 0, OrderStatus.NEW)
    with pytest.raises(RecoveryError, match="stored order 7"):
        make_engine().restore([], [bad])
    with pytest.raises(RecoveryError, match="fill 1 is in symbol 'ZZZ'"):
        make_engine().restore([Fill(1, 1, "ZZZ", 10.0, 100, 1, 2, "A", "B", BUY)], [])


def test_start_of_day_is_written_with_the_first_orders_or_not_at_all(open_test_store):
    from trading_agent.trading.model import OpeningAccount, OpeningPosition, StartOfDay
    store = open_test_store()
    sod = StartOfDay({"seed": 1, "symbols": ["AAA"]}, (OpeningAccount("A", 1e6, 1.1e6), OpeningAccount("M", 5.0, 5.0)),
                     (OpeningPosition("A", "AAA", 300, 101.37), OpeningPosition("A", "BBB", -200, 0.1 + 0.2)))
    assert store.load_start_of_day() is None
    e = make_engine(store)
    with pytest.raises(RuntimeError, match="crash"):
        with store.atomic():
            store.save_start_of_day(sod)
            e.submit(lim(SELL, 100, 10.00, "M"))
            raise RuntimeError("crash while seeding")
    assert store.load_start_of_day() is None and store.last_ids() == (0, 0)  # nothing half seeded
    with store.atomic():
        store.save_start_of_day(sod)
        make_engine(store).submit(lim(SELL, 100, 10.00, "M"))
    store.close()
    store = open_test_store()
    assert store.load_start_of_day() == sod  # floats round-trip exactly (0.1 + 0.2 included)
    assert store.last_ids() == (1, 0)
    with pytest.raises(Exception):
        store.save_start_of_day(sod)  # once only
    assert store.load_start_of_day() == sod


def test_recent_orders_are_newest_first_and_stop_at_the_window(open_test_store):
    store = open_test_store()
    e = make_engine(store)  # its clock: 1, 2, 3... ns
    for acct in ("A", "B", "C", "D"):
        e.submit(lim(BUY, 100, 9.00, acct))
    assert store.recent_orders(3) == [("D", 4), ("C", 3)]
    assert store.recent_orders(10) == []


class _FailingStore:
    """A store whose writes fail after ``ok`` saves (a full disk, a dropped connection)."""

    def __init__(self, ok: int) -> None:
        self.ok = ok

    def last_ids(self) -> tuple[int, int]:
        return 0, 0

    def save(self, order, fills, updates) -> None:
        if self.ok <= 0:
            raise OSError("disk full")
        self.ok -= 1

    def update(self, updates) -> None:
        raise OSError("disk full")


def test_a_failed_save_stops_the_engine_so_nothing_is_acknowledged_on_unsaved_state():
    from trading_agent.trading.engine import StoreFailedError
    e = make_engine(_FailingStore(ok=1))  # type: ignore[arg-type]
    resting = e.submit(lim(SELL, 300, 10.00, "M"))
    with pytest.raises(StoreFailedError, match="saving order 2 failed: OSError: disk full"):
        e.submit(lim(BUY, 100, 10.00, "T"))
    assert e.failed is not None
    with pytest.raises(StoreFailedError, match="failed earlier"):
        e.submit(lim(BUY, 100, 9.00, "T"))
    with pytest.raises(StoreFailedError):
        e.cancel(resting.order_id)
