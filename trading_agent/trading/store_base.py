"""What both order-store backends share: the :class:`OrderStore` interface, the row layout and
the start-of-day snapshot tables, and the read queries (:class:`_OrderQueries`). The SQLite
backend (:mod:`trading_agent.trading.store`) and the PostgreSQL one
(:mod:`trading_agent.trading.pg_store`) both build on this module and not on each other."""
from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterator, Sequence
from contextlib import AbstractContextManager, closing
from typing import Any, Protocol, runtime_checkable

from trading_agent.trading.model import (Fill, OpeningAccount, OpeningPosition, OrderRecord, OrderStatus,
                                         OrderUpdate, Side, StartOfDay)

ORDER_COLUMNS = ("order_id", "ts_ns", "account", "symbol", "side", "order_type", "price", "quantity",
                 "filled_quantity", "resting_quantity", "cancelled_quantity", "status", "reason")
FILL_COLUMNS = ("fill_id", "ts_ns", "symbol", "price", "quantity", "buy_order_id", "sell_order_id",
                "buy_account", "sell_account", "aggressor")


@runtime_checkable
class OrderStore(Protocol):
    """Where orders and fills are persisted. Implementations: SQLite, PostgreSQL."""

    def save(self, order: OrderRecord, fills: Sequence[Fill], updates: Sequence[OrderUpdate]) -> None:
        """Persist a new order, its fills and updates of the makers it hit, in one transaction."""

    def update(self, updates: Sequence[OrderUpdate]) -> None:
        """Persist changes to existing orders (e.g. a cancel), in one transaction."""

    def last_ids(self) -> tuple[int, int]:
        """``(max order_id, max fill_id)`` stored so far, 0 when empty: a reopened store continues."""

    def close(self) -> None: ...

    # -- seeding and recovery (start-up only, never on the order path) --------------------------
    def atomic(self) -> AbstractContextManager[None]:
        """A block whose saves and updates commit together or not at all (nested blocks join)."""

    def save_start_of_day(self, sod: StartOfDay) -> None:
        """Write the start-of-day snapshot (once: a second one fails on its primary keys)."""

    def load_start_of_day(self) -> StartOfDay | None:
        """The snapshot written by :meth:`save_start_of_day`, None for an unseeded store."""

    def iter_fills(self) -> Iterator[Fill]:
        """Every fill in fill-id order, streamed (not loaded into one list)."""

    def resting_orders(self) -> list[OrderRecord]:
        """Orders with a resting remainder, in order-id (= time priority) order."""

    def recent_orders(self, since_ns: int) -> list[tuple[str, int]]:
        """``(account, ts_ns)`` of the orders at or after ``since_ns``, newest first."""


def record_from_row(row: Sequence) -> OrderRecord:
    return OrderRecord(*row[:11], status=OrderStatus(row[11]), reason=row[12])


def fill_from_row(row: Sequence) -> Fill:
    return Fill(*row[:9], aggressor=Side(row[9]))


def order_row(o: OrderRecord) -> tuple:
    return (o.order_id, o.ts_ns, o.account, o.symbol, o.side, o.order_type, o.price, o.quantity,
            o.filled_quantity, o.resting_quantity, o.cancelled_quantity, o.status.value, o.reason)


def fill_row(f: Fill) -> tuple:
    return (f.fill_id, f.ts_ns, f.symbol, f.price, f.quantity, f.buy_order_id, f.sell_order_id,
            f.buy_account, f.sell_account, f.aggressor.value)


def update_row(u: OrderUpdate) -> tuple:
    return (u.filled_quantity, u.resting_quantity, u.cancelled_quantity, u.status.value, u.order_id)


# The start-of-day snapshot; ``seq`` keeps the order things were applied in. Written in ANSI SQL
# types both backends accept (SQLite maps DOUBLE PRECISION to REAL itself; replaced for clarity).
SNAPSHOT_DDL = (
    "CREATE TABLE IF NOT EXISTS store_meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)",
    """CREATE TABLE IF NOT EXISTS opening_accounts (
        seq INTEGER PRIMARY KEY, account TEXT NOT NULL UNIQUE, cash DOUBLE PRECISION NOT NULL,
        equity DOUBLE PRECISION NOT NULL)""",
    """CREATE TABLE IF NOT EXISTS opening_positions (
        seq INTEGER PRIMARY KEY, account TEXT NOT NULL, symbol TEXT NOT NULL, quantity BIGINT NOT NULL,
        price DOUBLE PRECISION NOT NULL)""",
)
SEEDED_WITH_KEY = "start_of_day.seeded_with"
_RESTING_SQL = (f"SELECT {', '.join(ORDER_COLUMNS)} FROM orders WHERE resting_quantity > 0 "
                "AND status IN ('new', 'partially_filled') ORDER BY order_id")

_SQLITE_DDL = (
    """CREATE TABLE IF NOT EXISTS orders (
        order_id INTEGER PRIMARY KEY, ts_ns INTEGER NOT NULL, account TEXT NOT NULL,
        symbol TEXT NOT NULL, side TEXT NOT NULL, order_type TEXT NOT NULL, price REAL,
        quantity INTEGER NOT NULL, filled_quantity INTEGER NOT NULL, resting_quantity INTEGER NOT NULL,
        cancelled_quantity INTEGER NOT NULL, status TEXT NOT NULL, reason TEXT)""",
    """CREATE TABLE IF NOT EXISTS fills (
        fill_id INTEGER PRIMARY KEY, ts_ns INTEGER NOT NULL, symbol TEXT NOT NULL, price REAL NOT NULL,
        quantity INTEGER NOT NULL, buy_order_id INTEGER NOT NULL, sell_order_id INTEGER NOT NULL,
        buy_account TEXT NOT NULL, sell_account TEXT NOT NULL, aggressor TEXT NOT NULL)""",
    "CREATE INDEX IF NOT EXISTS fills_buy_order ON fills (buy_order_id)",
    "CREATE INDEX IF NOT EXISTS fills_sell_order ON fills (sell_order_id)",
    *(ddl.replace("DOUBLE PRECISION", "REAL") for ddl in SNAPSHOT_DDL),
)
_INSERT_ORDER = f"INSERT INTO orders ({', '.join(ORDER_COLUMNS)}) VALUES ({', '.join('?' * len(ORDER_COLUMNS))})"
_INSERT_FILL = f"INSERT INTO fills ({', '.join(FILL_COLUMNS)}) VALUES ({', '.join('?' * len(FILL_COLUMNS))})"
_UPDATE_ORDER = ("UPDATE orders SET filled_quantity = ?, resting_quantity = ?, cancelled_quantity = ?, "
                 "status = ? WHERE order_id = ?")


class _OrderQueries:
    """The read side shared by both backends; ``_ph`` is the driver's parameter placeholder
    (sqlite3: ``?``, psycopg: ``%s``)."""

    _ph = "?"
    _conn: Any

    def get_order(self, order_id: int) -> OrderRecord | None:
        row = self._conn.execute(f"SELECT {', '.join(ORDER_COLUMNS)} FROM orders WHERE order_id = {self._ph}",
                                 (order_id,)).fetchone()
        return None if row is None else record_from_row(row)

    def orders(self) -> list[OrderRecord]:
        rows = self._conn.execute(f"SELECT {', '.join(ORDER_COLUMNS)} FROM orders ORDER BY order_id")
        return [record_from_row(r) for r in rows]

    def fills(self, order_id: int | None = None) -> list[Fill]:
        sql = f"SELECT {', '.join(FILL_COLUMNS)} FROM fills"
        if order_id is None:
            rows = self._conn.execute(sql + " ORDER BY fill_id")
        else:
            rows = self._conn.execute(sql + f" WHERE buy_order_id = {self._ph} OR sell_order_id = {self._ph} "
                                      "ORDER BY fill_id", (order_id, order_id))
        return [fill_from_row(r) for r in rows]

    # -- seeding and recovery ------------------------------------------------------------------
    def _stream(self, sql: str, params: Sequence = ()) -> Iterator[Sequence]:
        """Rows of ``sql`` a batch at a time (SQLite cursors step lazily)."""
        yield from self._conn.execute(sql, params)

    def atomic(self) -> AbstractContextManager[None]:  # pragma: no cover - each backend defines it
        raise NotImplementedError

    def save_start_of_day(self, sod: StartOfDay) -> None:
        ph = self._ph
        with self.atomic():
            cur = self._conn.cursor()
            cur.execute(f"INSERT INTO store_meta (key, value) VALUES ({ph}, {ph})",
                        (SEEDED_WITH_KEY, json.dumps(sod.seeded_with, sort_keys=True)))
            cur.executemany(f"INSERT INTO opening_accounts (seq, account, cash, equity) VALUES ({ph}, {ph}, {ph}, {ph})",
                            [(i, a.account, a.cash, a.equity) for i, a in enumerate(sod.accounts)])
            cur.executemany(f"INSERT INTO opening_positions (seq, account, symbol, quantity, price) "
                            f"VALUES ({ph}, {ph}, {ph}, {ph}, {ph})",
                            [(i, p.account, p.symbol, p.quantity, p.price) for i, p in enumerate(sod.positions)])

    def load_start_of_day(self) -> StartOfDay | None:
        row = self._conn.execute(f"SELECT value FROM store_meta WHERE key = {self._ph}",
                                 (SEEDED_WITH_KEY,)).fetchone()
        if row is None:
            return None
        accounts = tuple(OpeningAccount(a, float(c), float(e)) for a, c, e in self._conn.execute(
            "SELECT account, cash, equity FROM opening_accounts ORDER BY seq"))
        positions = tuple(OpeningPosition(a, s, int(q), float(p)) for a, s, q, p in self._conn.execute(
            "SELECT account, symbol, quantity, price FROM opening_positions ORDER BY seq"))
        return StartOfDay(json.loads(row[0]), accounts, positions)

    def iter_fills(self) -> Iterator[Fill]:
        for row in self._stream(f"SELECT {', '.join(FILL_COLUMNS)} FROM fills ORDER BY fill_id"):
            yield fill_from_row(row)

    def resting_orders(self) -> list[OrderRecord]:
        return [record_from_row(r) for r in self._conn.execute(_RESTING_SQL)]

    def recent_orders(self, since_ns: int) -> list[tuple[str, int]]:
        # newest first by id, stopping at the first older one: no index on ts_ns to maintain per
        # order (ids and times rise together; a clock step back only shortens the window)
        out = []
        with closing(self._stream("SELECT account, ts_ns FROM orders ORDER BY order_id DESC")) as rows:
            for account, ts_ns in rows:
                if ts_ns < since_ns:
                    break
                out.append((account, int(ts_ns)))
        return out


