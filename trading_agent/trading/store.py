"""Order persistence: the :class:`OrderStore` interface, its SQLite backend and :func:`open_store`.

One :meth:`OrderStore.save` is one transaction holding an order's row, its fills and the new
state of every resting order it traded against, so the database never shows a fill without
both orders' quantities agreeing with it.

Recovery: a service restarted on the same database rebuilds its state from it (see
:meth:`~trading_agent.trading.engine.OrderEngine.restore`): the start-of-day snapshot
(:class:`~trading_agent.trading.model.StartOfDay`, written once, in the same transaction as the
first orders, by :meth:`OrderStore.atomic`), every fill in id order, the orders still resting and
the recent order times. Nothing but orders and fills is written per order.

SQLite choices: ``journal_mode=WAL`` (a commit appends to the write-ahead log instead of
rewriting pages, and readers don't block the writer) and ``synchronous=NORMAL`` (WAL is synced
at checkpoints, not at every commit). A committed order survives a crash of the process; a power
loss can drop the last commits but never corrupts the file. ``synchronous=FULL`` (an fsync per
order) is a constructor argument away when that trade-off is wrong.
"""
from __future__ import annotations

import sqlite3
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

from trading_agent.trading.model import Fill, OrderRecord, OrderUpdate, StartOfDay

from trading_agent.trading.store_base import (  # noqa: F401 - re-exported: the interface lives there
    FILL_COLUMNS, ORDER_COLUMNS, SEEDED_WITH_KEY, SNAPSHOT_DDL, _INSERT_FILL, _INSERT_ORDER, _RESTING_SQL, _SQLITE_DDL,
    _UPDATE_ORDER, OrderStore, _OrderQueries, fill_from_row, fill_row, order_row, record_from_row, update_row)


class SqliteOrderStore(_OrderQueries):
    """Orders and fills in one SQLite file (``path``; ``":memory:"`` for a throwaway store).

    ``synchronous`` is the PRAGMA value: ``NORMAL`` (default, see the module docstring) or
    ``FULL``/``OFF``. The connection is opened in the constructor's caller's thread and must be
    used from that thread (sqlite3's default check).
    """

    def __init__(self, path: str | Path, *, synchronous: str = "NORMAL") -> None:
        if synchronous.upper() not in ("OFF", "NORMAL", "FULL", "EXTRA"):
            raise ValueError(f"synchronous must be OFF, NORMAL, FULL or EXTRA, got {synchronous!r}")
        self.path = str(path)
        # isolation_level=None: we issue BEGIN/COMMIT ourselves, one transaction per save
        self._conn = sqlite3.connect(self.path, isolation_level=None)
        self._conn.execute("PRAGMA journal_mode=WAL")
        self._conn.execute(f"PRAGMA synchronous={synchronous.upper()}")
        for ddl in _SQLITE_DDL:
            self._conn.execute(ddl)
        self._in_atomic = False

    @contextmanager
    def atomic(self) -> Iterator[None]:
        if self._in_atomic:  # nested: part of the outer transaction
            yield
            return
        c = self._conn
        c.execute("BEGIN")
        self._in_atomic = True
        try:
            yield
        except BaseException:
            self._in_atomic = False
            c.execute("ROLLBACK")
            raise
        self._in_atomic = False
        c.execute("COMMIT")

    def save(self, order: OrderRecord, fills: Sequence[Fill], updates: Sequence[OrderUpdate]) -> None:
        c = self._conn
        if self._in_atomic:  # the enclosing atomic() commits or rolls back
            self._write(order, fills, updates)
            return
        c.execute("BEGIN")
        try:
            self._write(order, fills, updates)
        except BaseException:
            c.execute("ROLLBACK")
            raise
        c.execute("COMMIT")

    def _write(self, order: OrderRecord, fills: Sequence[Fill], updates: Sequence[OrderUpdate]) -> None:
        c = self._conn
        c.execute(_INSERT_ORDER, order_row(order))
        if fills:
            c.executemany(_INSERT_FILL, [fill_row(f) for f in fills])
        if updates:
            c.executemany(_UPDATE_ORDER, [update_row(u) for u in updates])

    def update(self, updates: Sequence[OrderUpdate]) -> None:
        c = self._conn
        if self._in_atomic:
            c.executemany(_UPDATE_ORDER, [update_row(u) for u in updates])
            return
        c.execute("BEGIN")
        try:
            c.executemany(_UPDATE_ORDER, [update_row(u) for u in updates])
        except BaseException:
            c.execute("ROLLBACK")
            raise
        c.execute("COMMIT")

    def abort(self) -> None:
        """Interrupt a statement running on this connection, from any thread (it raises)."""
        try:
            self._conn.interrupt()
        except sqlite3.ProgrammingError:  # closed
            pass

    def last_ids(self) -> tuple[int, int]:
        (o,) = self._conn.execute("SELECT COALESCE(MAX(order_id), 0) FROM orders").fetchone()
        (f,) = self._conn.execute("SELECT COALESCE(MAX(fill_id), 0) FROM fills").fetchone()
        return int(o), int(f)

    def close(self) -> None:
        self._conn.close()


def open_store(target: str | Path) -> OrderStore:
    """A store from a location: ``postgresql://...`` (or ``postgres://``) opens PostgreSQL,
    anything else is a SQLite file path (``sqlite:///path`` also accepted)."""
    text = str(target)
    if text.startswith(("postgresql://", "postgres://")):
        from trading_agent.trading.pg_store import PostgresOrderStore  # psycopg only when asked for

        return PostgresOrderStore(text)
    if text.startswith("sqlite:///"):
        text = text[len("sqlite:///"):]
    elif "://" in text:
        raise ValueError(f"unsupported store URL {text!r}; expected postgresql://..., sqlite:///path or a file path")
    return SqliteOrderStore(text)
