"""Orders over HTTP with a ledger of what the service acknowledged, and the no-loss audit.

The no-loss rule (spec §3.3 "data loss during failure"): every order the service answered 201
is in its store exactly once, with the account, symbol, side and quantity it was acknowledged
with, every fill an acknowledged order reported is stored, and the portfolio the service shows
equals what its store says (start-of-day snapshot plus stored fills, computed here with SQL,
independently of the service's engine). Orders without an answer (in flight at a kill, timed
out) were never acknowledged: they may or may not be stored, and are counted, not judged.

Stores are read directly (``sqlite3`` on the file, ``psycopg`` on the database): perf_tasks never
imports the service it tests.
"""
from __future__ import annotations

import http.client
import json
import random
import sqlite3
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

ACCOUNTS = tuple(f"acct-{i}" for i in range(1, 9))
SYMBOLS = tuple(f"SYM{i:03d}" for i in range(8))


class Client:
    """One keep-alive HTTP/1.1 connection to the service (reconnects after an error)."""

    def __init__(self, base_url: str, timeout_s: float = 10.0) -> None:
        parts = urlsplit(base_url)
        self.host, self.port, self.timeout_s = parts.hostname or "127.0.0.1", parts.port or 80, timeout_s
        self.conn: http.client.HTTPConnection | None = None

    def call(self, method: str, path: str, body: Any = None) -> tuple[int, Any, dict[str, str]]:
        """(status, JSON body or None, headers); raises OSError / HTTPException when there is no answer."""
        if self.conn is None:
            self.conn = http.client.HTTPConnection(self.host, self.port, timeout=self.timeout_s)
        data = None if body is None else json.dumps(body).encode()
        try:
            self.conn.request(method, path, body=data, headers={"Content-Type": "application/json"} if data else {})
            r = self.conn.getresponse()
            raw = r.read()
        except BaseException:
            self.close()
            raise
        try:
            parsed = json.loads(raw) if raw else None
        except ValueError:
            parsed = raw[:200].decode("latin-1")
        return r.status, parsed, {k.lower(): v for k, v in r.getheaders()}

    def close(self) -> None:
        if self.conn is not None:
            self.conn.close()
            self.conn = None


def random_order(rng: random.Random, accounts: Sequence[str] = ACCOUNTS,
                 symbols: Sequence[str] = SYMBOLS, quotes: Mapping[str, Mapping] | None = None) -> dict[str, Any]:
    """A market order (or, with ``quotes``, a limit near the touch one time in three)."""
    sym = rng.choice(symbols)
    side = rng.choice(("buy", "sell"))
    body: dict[str, Any] = {"account": rng.choice(accounts), "symbol": sym, "side": side,
                            "quantity": 100 * rng.randint(1, 5), "type": "market"}
    q = (quotes or {}).get(sym)
    if q is not None and rng.random() < 1 / 3:
        ticks = rng.randint(-4, 1)
        body["type"] = "limit"
        body["price"] = round(q["bid"] + ticks * 0.01, 2) if side == "buy" else round(q["ask"] - ticks * 0.01, 2)
    return body


@dataclass
class Ledger:
    """What clients saw, thread-safe: acknowledged orders by id, other answers by status, times.

    Times are ``time.monotonic()`` seconds."""

    acked: dict[int, dict] = field(default_factory=dict)
    duplicate_ids: int = 0  # a second 201 carrying an order id already acknowledged
    acked_list: list[dict] = field(default_factory=list)  # every 201 body (several workers reuse ids)
    statuses: dict[str, int] = field(default_factory=dict)  # "201", "422", "503", "no answer", ...
    latencies_s: list[float] = field(default_factory=list)  # of answered orders
    errors_t: list[float] = field(default_factory=list)  # when a request failed (no answer or 5xx)
    ok_t: list[float] = field(default_factory=list)  # when a 201 came back
    retry_after_missing: int = 0  # 503s without a Retry-After header
    rejected: dict[int, dict] = field(default_factory=dict)  # 422 bodies the engine refused, by order id
    rejections_without_reason: int = 0  # 422s that name no reason
    lock: threading.Lock = field(default_factory=threading.Lock)

    def record(self, status: int | None, body: Any, headers: Mapping[str, str], t0: float, t1: float) -> None:
        key = "no answer" if status is None else str(status)
        with self.lock:
            self.statuses[key] = self.statuses.get(key, 0) + 1
            if status is not None:
                self.latencies_s.append(t1 - t0)
            if status == 201 and isinstance(body, dict):
                oid = int(body["order_id"])
                if oid in self.acked:
                    self.duplicate_ids += 1
                self.acked[oid] = body
                self.acked_list.append(body)
                self.ok_t.append(t1)
            elif status is None or status >= 500:
                self.errors_t.append(t1)
                if status == 503 and "retry-after" not in headers:
                    self.retry_after_missing += 1
            elif status == 422:
                if isinstance(body, dict) and "order_id" in body:
                    self.rejected[int(body["order_id"])] = body
                if not (isinstance(body, dict) and (body.get("reason") or body.get("detail"))):
                    self.rejections_without_reason += 1

    @property
    def requests(self) -> int:
        return sum(self.statuses.values())

    def count(self, *keys: str) -> int:
        return sum(self.statuses.get(k, 0) for k in keys)


class OrderFlow:
    """``threads`` clients posting orders back to back until :meth:`stop` (or ``max_orders``),
    each recording into one :class:`Ledger`. ``make_order(rng)`` builds a body."""

    def __init__(self, base_url: str, ledger: Ledger, *, threads: int = 4, max_orders: int = 100_000,
                 timeout_s: float = 10.0, seed: int = 0, pause_s: float = 0.0,
                 make_order: Callable[[random.Random], dict] = random_order) -> None:
        self.base_url, self.ledger, self.timeout_s = base_url, ledger, timeout_s
        self.max_orders, self.pause_s, self.make_order = max_orders, pause_s, make_order
        self._stop = threading.Event()
        self._sent = 0
        self._sent_lock = threading.Lock()
        self._threads = [threading.Thread(target=self._run, args=(seed + k,), name=f"orders-{k}", daemon=True)
                         for k in range(threads)]

    def start(self) -> OrderFlow:
        for t in self._threads:
            t.start()
        return self

    def stop(self, join_s: float = 15.0) -> None:
        self._stop.set()
        for t in self._threads:
            t.join(join_s)

    def _take(self) -> bool:
        with self._sent_lock:
            if self._sent >= self.max_orders:
                return False
            self._sent += 1
            return True

    def _run(self, seed: int) -> None:
        rng, client = random.Random(seed), Client(self.base_url, self.timeout_s)
        try:
            while not self._stop.is_set() and self._take():
                body = self.make_order(rng)
                t0 = time.monotonic()
                try:
                    status, out, headers = client.call("POST", "/orders", body)
                except (OSError, http.client.HTTPException):
                    self.ledger.record(None, None, {}, t0, time.monotonic())
                    self._stop.wait(0.02)  # the service is away: do not spin on refused connects
                    continue
                self.ledger.record(status, out, headers, t0, time.monotonic())
                if status >= 500:
                    self._stop.wait(0.02)
                elif self.pause_s:
                    self._stop.wait(self.pause_s)
        finally:
            client.close()


# -- the store, read directly --------------------------------------------------------------------
@dataclass(frozen=True)
class StoreView:
    orders: dict[int, tuple[str, str, str, int]]  # order_id -> (account, symbol, side, quantity)
    order_rows: int  # rows in the orders table (> len(orders): an id stored twice)
    fills: dict[int, tuple[str, float, int, str, str]]  # fill_id -> (symbol, price, quantity, buyer, seller)
    opening_positions: list[tuple[str, str, int, float]]  # (account, symbol, quantity, price), in order
    opening_cash: dict[str, float]
    outcome: dict[int, tuple[str, str | None]] = field(default_factory=dict)  # order_id -> (status, reason)


_QUERIES = {
    "orders": "SELECT order_id, account, symbol, side, quantity, status, reason FROM orders",
    "fills": "SELECT fill_id, symbol, price, quantity, buy_account, sell_account FROM fills",
    "opening": "SELECT account, symbol, quantity, price FROM opening_positions ORDER BY seq",
    "cash": "SELECT account, cash FROM opening_accounts",
}


def read_store(db: str, *, schema: str | None = None) -> StoreView:
    """The store behind ``--db`` (``sqlite:///path`` or ``postgresql://...``), read-only."""
    if db.startswith(("postgresql://", "postgres://")):
        import psycopg

        with psycopg.connect(db, connect_timeout=5) as conn:
            if schema:
                conn.execute(f"SET search_path TO {schema}")
            rows = {k: conn.execute(q).fetchall() for k, q in _QUERIES.items()}
    else:
        path = db.removeprefix("sqlite:///")
        with sqlite3.connect(f"file:{path}?mode=ro", uri=True) as conn:
            rows = {k: conn.execute(q).fetchall() for k, q in _QUERIES.items()}
    return StoreView({r[0]: (r[1], r[2], r[3], int(r[4])) for r in rows["orders"]}, len(rows["orders"]),
                     {r[0]: (r[1], float(r[2]), int(r[3]), r[4], r[5]) for r in rows["fills"]},
                     [(a, s, int(q), float(p)) for a, s, q, p in rows["opening"]],
                     {a: float(c) for a, c in rows["cash"]}, {r[0]: (r[5], r[6]) for r in rows["orders"]})


def expected_portfolio(view: StoreView, account: str) -> tuple[dict[str, int], float]:
    """(quantity by symbol, cash) of ``account`` from the snapshot and the stored fills; symbols
    whose quantity nets to zero are kept (the service lists a position it once held)."""
    qty: dict[str, int] = {}
    cash = view.opening_cash.get(account, 0.0)
    for a, sym, q, _p in view.opening_positions:
        if a == account:
            qty[sym] = qty.get(sym, 0) + q
    for _fid, (sym, px, q, buyer, seller) in sorted(view.fills.items()):
        signed = (q if buyer == account else 0) - (q if seller == account else 0)
        if buyer == account or seller == account:
            qty[sym] = qty.get(sym, 0) + signed
            cash -= signed * px
    return qty, cash


@dataclass(frozen=True)
class Audit:
    acked: int
    lost: int  # acknowledged, not stored
    duplicated: int  # stored twice, acknowledged twice, or stored under the id with other content
    fills_lost: int  # reported in a 201, not stored
    unacked_stored: int  # stored orders nobody saw a 201 for (in flight at the failure: not judged)
    rejections_lost: int  # refused (422 with an order id), not stored as rejected
    portfolio_mismatch: int  # accounts whose served portfolio differs from the store's
    details: tuple[str, ...] = ()  # the first few problems, named


def audit(ledger: Ledger, view: StoreView, portfolios: Mapping[str, Mapping], *,
          known_before: set[int] = frozenset()) -> Audit:  # type: ignore[assignment]
    """Judge the no-loss rule (module docstring). ``portfolios``: account -> the service's
    ``/portfolio`` body after recovery; ``known_before``: ids stored before the load (seeding)."""
    details: list[str] = []
    lost = dup = fills_lost = 0
    for oid, o in sorted(ledger.acked.items()):
        stored = view.orders.get(oid)
        if stored is None:
            lost += 1
            if len(details) < 5:
                details.append(f"order {oid} acknowledged, not in the store")
            continue
        if stored != (o["account"], o["symbol"], o["side"], int(o["quantity"])):
            dup += 1
            if len(details) < 5:
                details.append(f"order id {oid} acknowledged as {o['account']}/{o['symbol']}/{o['side']}/"
                               f"{o['quantity']}, stored as {'/'.join(map(str, stored))}")
        for f in o.get("fills") or ():
            if f["fill_id"] not in view.fills:
                fills_lost += 1
    dup += ledger.duplicate_ids + (view.order_rows - len(view.orders))
    rej_lost = sum(1 for oid in ledger.rejected if oid not in view.orders)
    unacked = len(set(view.orders) - set(ledger.acked) - set(ledger.rejected) - set(known_before))
    mismatch = 0
    for account, body in portfolios.items():
        qty, cash = expected_portfolio(view, account)
        got = {p["symbol"]: int(p["quantity"]) for p in body.get("positions", ()) if int(p["quantity"])}
        want = {s: q for s, q in qty.items() if q}
        if got != want or abs(float(body["cash"]) - cash) > 1e-6 * max(1.0, abs(cash)):
            mismatch += 1
            if len(details) < 5:
                details.append(f"portfolio {account}: served {got} cash {body['cash']:.2f}, store says {want} "
                               f"cash {cash:.2f}")
    return Audit(len(ledger.acked), lost, dup, fills_lost, unacked, rej_lost, mismatch, tuple(details))


def fetch_portfolios(base_url: str, accounts: Sequence[str] = ACCOUNTS) -> dict[str, dict]:
    client = Client(base_url)
    try:
        out = {}
        for a in accounts:
            status, body, _ = client.call("GET", f"/portfolio/{a}")
            if status != 200:
                raise RuntimeError(f"GET /portfolio/{a} answered {status}: {body}")
            out[a] = body
        return out
    finally:
        client.close()


def fetch_quotes(base_url: str, symbols: Sequence[str] = SYMBOLS) -> dict[str, dict]:
    client = Client(base_url)
    try:
        return {s: client.call("GET", f"/market-data/{s}?bars=0")[1] for s in symbols}
    finally:
        client.close()
