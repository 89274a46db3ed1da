"""Where a worker persists its orders, and how several workers avoid each other.

Each worker process has its own engine, and an engine numbers its orders from the store's
largest id (``OrderStore.last_ids``). Two engines writing the same tables would therefore hand
out the same order ids, so workers never share tables:

- SQLite (a path or ``sqlite:///path``): one file per worker. With one worker the file is used
  as named; with N workers, worker *i* uses ``<stem>-w<i><suffix>`` next to it (WAL mode, as
  :mod:`trading_agent.trading.store` sets it).
- PostgreSQL (``postgresql://...``): the workers share the database; with N workers, worker *i*
  keeps its tables in schema ``trading_service_w<i>`` (one worker: the search path's schema).
- Default (no ``--db``): SQLite in a fresh temporary directory per worker, removed at exit,
  so every run starts from an empty store and runs stay comparable.
- ``none``: no persistence at all (the engine's in-memory path).

A worker finds its index *i* by taking an exclusive ``flock`` on the first free of N lock files
(held for the life of the process, released by the kernel when it dies, so a restarted worker
takes the slot back). A second service on the same named database finds no free slot and stops
with an error instead of corrupting the id sequence.
"""
from __future__ import annotations

import fcntl
import hashlib
import logging
import os
import re
import shutil
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from trading_agent.service.config import ServiceConfigError
from trading_agent.trading.store import OrderStore, SqliteOrderStore, open_store

log = logging.getLogger(__name__)
PG_SCHEMA_PREFIX = "trading_service_w"


@dataclass
class WorkerStore:
    """The store of one worker (None: no persistence) and what to release at shutdown."""

    store: OrderStore | None
    description: str  # for /ready and logs; never contains a password
    release: Callable[[], None]
    closed: bool = False

    def abort(self) -> None:
        """Unblock a store call stuck on a database that stopped answering (any thread)."""
        abort = getattr(self.store, "abort", None)
        if abort is not None:
            abort()

    def close(self) -> None:
        """Close the store and release its slot, once: a second call does nothing (releasing twice
        would close whatever file now has the lock's descriptor number)."""
        if self.closed:
            return
        self.closed = True
        try:
            if self.store is not None:
                self.store.close()
        finally:
            self.release()


def claim_slot(lock_base: str, n_slots: int) -> tuple[int, int]:
    """``(slot index, lock fd)``: the first of ``n_slots`` lock files this process can lock.

    One slot: ``<lock_base>.lock``; several: ``<lock_base>.w<i>.lock``. Raises
    :class:`ServiceConfigError` naming the lock files when every slot is held.
    """
    names = [f"{lock_base}.lock"] if n_slots == 1 else [f"{lock_base}.w{i}.lock" for i in range(n_slots)]
    for i, name in enumerate(names):
        fd = os.open(name, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            continue
        return i, fd
    raise ServiceConfigError(f"every worker slot of this database is taken ({names[0]} .. {names[-1]} are "
                             "locked): another service process is using it; pick another --db")


def _release_fd(fd: int) -> Callable[[], None]:
    def release() -> None:
        fcntl.flock(fd, fcntl.LOCK_UN)
        os.close(fd)
    return release


def sqlite_worker_path(path: str, slot: int, workers: int) -> str:
    """The file worker ``slot`` of ``workers`` uses for the SQLite database named ``path``."""
    if workers == 1:
        return path
    p = Path(path)
    return str(p.with_name(f"{p.stem}-w{slot}{p.suffix}"))


def redact_url(url: str) -> str:
    """``url`` without its password (``postgresql://user:***@host/db``)."""
    return re.sub(r"(://[^:/@]+):[^@]*@", r"\1:***@", url)


def open_worker_store(db: str | None, workers: int) -> WorkerStore:
    """Open this worker's store for ``db`` (see the module docstring). Call it on the thread
    that will use the store: a SQLite connection refuses other threads."""
    if db == "none":
        return WorkerStore(None, "none (in memory)", lambda: None)
    if db is None:
        tmp = tempfile.mkdtemp(prefix="trading-service-")
        path = os.path.join(tmp, "orders.db")
        try:
            store = SqliteOrderStore(path)
        except BaseException:
            shutil.rmtree(tmp, ignore_errors=True)
            raise
        return WorkerStore(store, f"sqlite:///{path} (temporary)", lambda: shutil.rmtree(tmp, ignore_errors=True))
    if db.startswith(("postgresql://", "postgres://")):
        digest = hashlib.sha1(db.encode()).hexdigest()[:12]
        slot, fd = claim_slot(os.path.join(tempfile.gettempdir(), f"trading-service-pg-{digest}"), workers)
        try:
            if workers == 1:
                store = open_store(db)
                where = redact_url(db)
            else:
                from trading_agent.trading.pg_store import PostgresOrderStore  # psycopg only when asked for

                schema = f"{PG_SCHEMA_PREFIX}{slot}"
                store = PostgresOrderStore(db, schema=schema)
                where = f"{redact_url(db)} schema {schema}"
        except BaseException:
            _release_fd(fd)()
            raise
        return WorkerStore(store, where, _release_fd(fd))
    path = db[len("sqlite:///"):] if db.startswith("sqlite:///") else db
    parent = Path(path).resolve().parent
    if not parent.is_dir():
        raise ServiceConfigError(f"--db {db!r}: directory {str(parent)!r} does not exist")
    slot, fd = claim_slot(str(Path(path).resolve()), workers)
    mine = sqlite_worker_path(path, slot, workers)
    try:
        store = SqliteOrderStore(mine)
    except BaseException:
        _release_fd(fd)()
        raise
    log.info("worker pid %d persists orders in %s (slot %d of %d)", os.getpid(), mine, slot, workers)
    return WorkerStore(store, f"sqlite:///{mine}", _release_fd(fd))
