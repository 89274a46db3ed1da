"""Crash recovery of the HTTP service, for real: a server subprocess on a named SQLite file or
PostgreSQL database takes orders over HTTP, is killed with SIGKILL and restarted on the same
store; portfolios, order counts and the books must come back exactly as they were."""
from __future__ import annotations

import hashlib
import http.client
import json
import os
import random
import signal
import sqlite3
import tempfile
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from trading_agent.service.launcher import ServerProcess, ServerStartError, start_server

SMALL = ["--ticks", "10000", "--log-level", "warning", "--advance-ticks", "0"]  # a frozen market: same marks
PG_ADMIN_URL = os.environ.get("TRADING_PG_URL", "postgresql://postgres@127.0.0.1:5432/postgres")
ACCOUNTS = [f"acct-{i}" for i in range(1, 7)]
WATCHED = [*ACCOUNTS, "mm-1"]


class Client:
    """One keep-alive HTTP connection (1,000 orders in about a second)."""

    def __init__(self, base_url: str) -> None:
        host, port = base_url.removeprefix("http://").split(":")
        self.conn = http.client.HTTPConnection(host, int(port), timeout=10)

    def call(self, method: str, path: str, body: Any = None) -> tuple[int, Any]:
        data = None if body is None else json.dumps(body).encode()
        self.conn.request(method, path, body=data, headers={"Content-Type": "application/json"} if data else {})
        r = self.conn.getresponse()
        return r.status, json.loads(r.read() or b"null")

    def close(self) -> None:
        self.conn.close()


@dataclass
class Store:
    """A named store the service is started on, and a way to query it from the test."""

    db: str
    query: Callable[[str], list[tuple]]


@pytest.fixture(params=["sqlite", "postgres"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Store]:
    if request.param == "sqlite":
        path = tmp_path / "orders.db"

        def q(sql: str) -> list[tuple]:
            with sqlite3.connect(path) as c:
                return c.execute(sql).fetchall()
        yield Store(f"sqlite:///{path}", q)
        return
    psycopg = pytest.importorskip("psycopg")
    try:
        admin = psycopg.connect(PG_ADMIN_URL, autocommit=True, connect_timeout=3)
    except psycopg.OperationalError as exc:
        pytest.skip(f"PostgreSQL unreachable at {PG_ADMIN_URL}: {exc}")
    name = f"trading_recovery_{uuid.uuid4().hex[:10]}"
    admin.execute(f"CREATE DATABASE {name}")
    url = PG_ADMIN_URL.rsplit("/", 1)[0] + "/" + name

    def q_pg(sql: str) -> list[tuple]:
        with psycopg.connect(url) as c:
            return c.execute(sql).fetchall()
    try:
        yield Store(url, q_pg)
    finally:
        digest = hashlib.sha1(url.encode()).hexdigest()[:12]  # this database's worker slot lock files
        for lock in Path(tempfile.gettempdir()).glob(f"trading-service-pg-{digest}*.lock"):
            lock.unlink()
        admin.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
        admin.close()


def kill9(server: ServerProcess) -> None:
    os.kill(server.proc.pid, signal.SIGKILL)
    server.proc.wait(10)
    assert server.proc.returncode == -signal.SIGKILL
    server.log_path.unlink(missing_ok=True)


def portfolios(c: Client) -> dict[str, dict]:
    out = {}
    for a in WATCHED:
        status, p = c.call("GET", f"/portfolio/{a}")
        assert status == 200, p
        out[a] = p
    return out


def post_orders(c: Client, n: int, seed: int) -> dict[int, dict]:
    """``n`` orders over SYM000..SYM007 (market, crossing and resting limits, some refused);
    returns the acknowledged ones (201) by order id."""
    rng = random.Random(seed)
    quotes = {s: c.call("GET", f"/market-data/{s}")[1] for s in (f"SYM{i:03d}" for i in range(8))}
    acked: dict[int, dict] = {}
    for i in range(n):
        sym = f"SYM{rng.randrange(8):03d}"
        q = quotes[sym]
        side = rng.choice(["buy", "sell"])
        body: dict[str, Any] = {"account": rng.choice(ACCOUNTS), "symbol": sym, "side": side,
                                "quantity": 100 * rng.randint(1, 8)}
        kind = rng.random()
        if kind < 0.5:
            body["type"] = "market"
        elif kind < 0.95:  # a limit near the touch: some cross, most rest behind it
            ticks = rng.randint(-6, 2)
            body["price"] = round(q["bid"] + ticks * 0.01, 2) if side == "buy" else round(q["ask"] - ticks * 0.01, 2)
        else:
            body["price"] = 1e308  # refused (422), never a 500
        status, o = c.call("POST", "/orders", body)
        assert status in (201, 422), (status, o)
        if status == 201:
            acked[o["order_id"]] = o
    return acked


def test_kill_9_and_restart_restores_portfolios_books_and_orders_exactly(store: Store):
    args = ["--db", store.db, *SMALL]
    srv = start_server(args, ready_timeout_s=60)
    c = Client(srv.base_url)
    try:
        assert store.query("SELECT COUNT(*) FROM orders")[0][0] == 500  # the maker's opening quotes, once
        acked = post_orders(c, 1000, seed=11)
        # a bid inside the spread of SYM009, alone at its price: after the restart it must still
        # be the best bid, so a market sell hits it first
        q = c.call("GET", "/market-data/SYM009")[1]
        status, resting = c.call("POST", "/orders", {"account": "acct-5", "symbol": "SYM009", "side": "buy",
                                                     "quantity": 300, "price": round(q["bid"] + 0.01, 2)})
        assert status == 201 and resting["status"] == "new"
        before = portfolios(c)
        n_orders, n_fills = (store.query("SELECT COUNT(*) FROM orders")[0][0],
                             store.query("SELECT COUNT(*) FROM fills")[0][0])
    finally:
        c.close()
        kill9(srv)
    assert len(acked) > 900 and n_fills > 300
    stored = {oid: st for oid, st in store.query("SELECT order_id, status FROM orders")}
    assert set(acked) <= set(stored)  # every acknowledged order is in the store
    final = {"filled", "cancelled", "rejected"}
    assert all(stored[oid] == o["status"] for oid, o in acked.items() if o["status"] in final)

    srv = start_server(args, ready_timeout_s=60)
    c = Client(srv.base_url)
    try:
        assert store.query("SELECT COUNT(*) FROM orders")[0][0] == n_orders  # no second seeding
        after = portfolios(c)
        assert after == before  # cash, positions, average prices, realised and unrealised P&L: exact
        status, hit = c.call("POST", "/orders", {"account": "acct-6", "symbol": "SYM009", "side": "sell",
                                                 "type": "market", "quantity": 100})
        assert status == 201 and hit["order_id"] > max(stored)  # ids continue, none reused
        assert hit["fills"][0]["buy_order_id"] == resting["order_id"]  # the book came back in priority
        assert hit["fills"][0]["price"] == resting["price"]
    finally:
        c.close()
        assert srv.stop() in (0, -signal.SIGTERM)
    assert store.query("SELECT COUNT(*) FROM orders")[0][0] > n_orders
    assert len({r[0] for r in store.query("SELECT order_id FROM orders")}) == store.query(
        "SELECT COUNT(*) FROM orders")[0][0]


def test_restart_with_other_seed_parameters_is_refused_naming_both(tmp_path: Path):
    db = f"sqlite:///{tmp_path / 'orders.db'}"
    start_server(["--db", db, *SMALL], ready_timeout_s=60).stop()
    with pytest.raises(ServerStartError, match=r"seeded with other parameters \(seed: stored 7, asked 8"):
        start_server(["--db", db, "--seed", "8", *SMALL], ready_timeout_s=60)
    with sqlite3.connect(tmp_path / "orders.db") as conn:
        assert conn.execute("SELECT COUNT(*) FROM orders").fetchone()[0] == 500  # untouched


def test_orders_in_flight_at_the_kill_every_acknowledged_one_survives(tmp_path: Path):
    """Four clients send orders as fast as they can; SIGKILL lands mid-stream. Every 201 is in
    the store, and the restarted service's positions and cash equal what the stored fills say
    (computed here with SQL, independently of the engine)."""
    path = tmp_path / "orders.db"
    args = ["--db", f"sqlite:///{path}", *SMALL]
    srv = start_server(args, ready_timeout_s=60)
    acked: list[int] = []
    stop = threading.Event()

    def client(k: int) -> None:
        c, rng = Client(srv.base_url), random.Random(k)
        try:
            while not stop.is_set():
                status, o = c.call("POST", "/orders", {"account": rng.choice(ACCOUNTS), "side": rng.choice(["buy", "sell"]),
                                                       "symbol": f"SYM{rng.randrange(8):03d}", "type": "market",
                                                       "quantity": 100 * rng.randint(1, 5)})
                if status == 201:
                    acked.append(o["order_id"])
        except (OSError, http.client.HTTPException, ValueError):
            pass  # the kill: a request without an answer was never acknowledged
        finally:
            c.close()

    threads = [threading.Thread(target=client, args=(k,)) for k in range(4)]
    for t in threads:
        t.start()
    time.sleep(1.5)
    kill9(srv)
    stop.set()
    for t in threads:
        t.join(10)
    with sqlite3.connect(path) as conn:
        stored = {r[0] for r in conn.execute("SELECT order_id FROM orders")}
    assert len(acked) > 100 and set(acked) <= stored

    srv = start_server(args, ready_timeout_s=60)
    c = Client(srv.base_url)
    try:
        got = portfolios(c)
    finally:
        c.close()
        srv.stop()
    with sqlite3.connect(path) as conn:
        for account in ACCOUNTS:
            expect_qty: dict[str, int] = {}
            for sym, qty in conn.execute("SELECT symbol, quantity FROM opening_positions WHERE account = ?",
                                         (account,)):
                expect_qty[sym] = expect_qty.get(sym, 0) + qty
            cash = conn.execute("SELECT cash FROM opening_accounts WHERE account = ?", (account,)).fetchone()[0]
            for sym, qty, px, buy, sell in conn.execute(
                    "SELECT symbol, quantity, price, buy_account, sell_account FROM fills "
                    "WHERE buy_account = ? OR sell_account = ?", (account, account)):
                signed = (qty if buy == account else 0) - (qty if sell == account else 0)
                expect_qty[sym] = expect_qty.get(sym, 0) + signed
                cash -= signed * px
            assert {p["symbol"]: p["quantity"] for p in got[account]["positions"]} == expect_qty
            assert got[account]["cash"] == pytest.approx(cash, abs=1e-6)
