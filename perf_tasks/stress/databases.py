"""Stores for failure scenarios: a SQLite file in the scenario's folder, or a PostgreSQL database
of its own on the machine's server (``127.0.0.1:5432``), created for the scenario and dropped
after it, with the service's worker-slot lock files. The machine's server itself is never
stopped or reconfigured.
"""
from __future__ import annotations

import hashlib
import logging
import os
import tempfile
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from urllib.parse import urlsplit

from perf_tasks.errors import UserError

log = logging.getLogger(__name__)
PG_ADMIN_URL = os.environ.get("PERF_STRESS_PG_URL", "postgresql://postgres@127.0.0.1:5432/postgres")
DB_PREFIX = "perf_stress_"


def _url_with_db(admin_url: str, name: str) -> str:
    base, _, _db = admin_url.rpartition("/")
    return f"{base}/{name}"


def pg_lock_files(url: str) -> list[Path]:
    """The service's worker-slot lock files for database ``url``."""
    digest = hashlib.sha1(url.encode()).hexdigest()[:12]
    return sorted(Path(tempfile.gettempdir()).glob(f"trading-service-pg-{digest}*.lock"))


@contextmanager
def postgres_database(admin_url: str = PG_ADMIN_URL) -> Iterator[str]:
    """A fresh database (``perf_stress_<hex>``) on ``admin_url``'s server; yields its URL and drops
    it (``WITH (FORCE)``: a killed service's sessions too) and its lock files afterwards."""
    host = urlsplit(admin_url).hostname
    if host not in ("127.0.0.1", "localhost", "::1"):
        raise UserError(f"failure scenarios create and drop databases on a loopback PostgreSQL only; "
                        f"PERF_STRESS_PG_URL names host {host!r}")
    try:
        import psycopg
    except ImportError as exc:  # pragma: no cover - psycopg is in requirements.txt
        raise UserError(f"PostgreSQL scenarios need psycopg: {exc}") from None
    try:
        admin = psycopg.connect(admin_url, autocommit=True, connect_timeout=5)
    except psycopg.OperationalError as exc:
        raise UserError(f"PostgreSQL at {admin_url.split('@')[-1]} is unreachable ({exc}); the PostgreSQL "
                        "failure scenarios need a server (PERF_STRESS_PG_URL)") from None
    name = f"{DB_PREFIX}{uuid.uuid4().hex[:12]}"
    url = _url_with_db(admin_url, name)
    try:
        admin.execute(f"CREATE DATABASE {name}")
        yield url
    finally:
        try:
            admin.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
        finally:
            admin.close()
            for lock in pg_lock_files(url):
                lock.unlink(missing_ok=True)


def leftover_databases(admin_url: str = PG_ADMIN_URL) -> list[str]:
    """Databases named like ours that exist now (a test checks none is left behind)."""
    import psycopg

    with psycopg.connect(admin_url, connect_timeout=5) as conn:
        return [r[0] for r in conn.execute("SELECT datname FROM pg_database WHERE datname LIKE %s",
                                           (DB_PREFIX + "%",)).fetchall()]


@contextmanager
def scenario_store(kind: str, work: Path) -> Iterator[str]:
    """``--db`` for the service: ``sqlite`` (a file in ``work``) or ``postgres`` (a database of
    its own, dropped afterwards)."""
    if kind == "sqlite":
        work.mkdir(parents=True, exist_ok=True)
        path = work / "orders.db"
        try:
            yield f"sqlite:///{path}"
        finally:
            for p in work.glob("orders.db*"):
                p.unlink(missing_ok=True)
        return
    if kind == "postgres":
        with postgres_database() as url:
            yield url
        return
    raise UserError(f"store kind must be 'sqlite' or 'postgres', got {kind!r}")
