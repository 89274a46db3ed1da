"""The HTTP service: a real server subprocess on loopback (one worker, then two), plus in-process
checks of the app's readiness, the worker stores and the feature window."""
from __future__ import annotations

import hashlib
import json
import signal
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from trading_agent.service.config import CONFIG_ENV, ServiceConfig, ServiceConfigError, config_from_env
from trading_agent.service.launcher import ServerProcess, start_server
from trading_agent.service.storage import claim_slot, open_worker_store, sqlite_worker_path

SMALL = ["--ticks", "10000", "--log-level", "warning"]
PATHS = ("/health", "/ready", "/universe", "/market-data/{symbol}", "/portfolio/{account}", "/risk/{account}",
         "/risk/metrics", "/recommendations/{symbol}", "/orders")


def call(base: str, method: str, path: str, body: Any = None, raw: bytes | None = None) -> tuple[int, Any]:
    data = raw if raw is not None else (None if body is None else json.dumps(body).encode())
    req = urllib.request.Request(base + path, data=data, method=method,
                                 headers={"Content-Type": "application/json"} if data is not None else {})
    try:
        with urllib.request.urlopen(req, timeout=10) as r:
            return r.status, json.loads(r.read())
    except urllib.error.HTTPError as e:
        return e.code, json.loads(e.read() or b"null")


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    db = tmp_path_factory.mktemp("service") / "orders.db"
    srv = start_server(["--db", f"sqlite:///{db}", *SMALL], ready_timeout_s=45)
    try:
        yield srv
    finally:
        # uvicorn shuts down gracefully on SIGTERM, then re-raises the signal: -15 is a clean exit
        assert srv.stop() in (0, -signal.SIGTERM), f"unclean exit; log kept at {srv.log_path}"


@pytest.fixture(scope="module")
def base(server: ServerProcess) -> str:
    return server.base_url


def position(portfolio: dict, symbol: str) -> int:
    return next((p["quantity"] for p in portfolio["positions"] if p["symbol"] == symbol), 0)


# -- probes and discovery ------------------------------------------------------------------------

def test_health_and_ready_answer_200_once_built(base: str, server: ServerProcess):
    status, health = call(base, "GET", "/health")
    assert status == 200 and health["status"] == "ok" and health["pid"] == server.proc.pid
    status, ready = call(base, "GET", "/ready")
    assert status == 200 and ready["status"] == "ready" and ready["build_s"] > 0
    assert ready["store"].endswith("orders.db")


def test_universe_lists_symbols_and_accounts(base: str):
    status, u = call(base, "GET", "/universe")
    assert status == 200
    assert len(u["symbols"]) == 50 and u["symbols"][0] == "SYM000"
    assert u["accounts"][:2] == ["acct-1", "acct-2"] and "acct-100" in u["accounts"] and "mm-1" in u["accounts"]


def test_openapi_lists_every_path_with_response_models(base: str):
    status, spec = call(base, "GET", "/openapi.json")
    assert status == 200
    assert set(PATHS) <= set(spec["paths"])
    for path in PATHS:
        for op in spec["paths"][path].values():
            ok = op["responses"].get("200") or op["responses"].get("201")
            assert "$ref" in ok["content"]["application/json"]["schema"], path
    assert "OrderRequest" in spec["components"]["schemas"]


# -- market data -----------------------------------------------------------------------------------

def test_market_data_returns_top_of_book_vwap_and_bars(base: str):
    status, q = call(base, "GET", "/market-data/SYM001?bars=5")
    assert status == 200
    assert 0 < q["bid"] < q["ask"] and q["spread"] == pytest.approx(q["ask"] - q["bid"])
    assert q["day_low"] <= q["last"] <= q["day_high"] and q["vwap"] > 0 and q["volume"] > 0
    assert 1 <= len(q["bars"]) <= 5
    assert [b["start_ns"] for b in q["bars"]] == sorted(b["start_ns"] for b in q["bars"])
    assert all(b["low"] <= b["close"] <= b["high"] for b in q["bars"])


def test_market_data_moves_with_each_call(base: str):
    _, a = call(base, "GET", "/market-data/SYM002")
    _, b = call(base, "GET", "/market-data/SYM002")
    assert b["ts_ns"] > a["ts_ns"] and b["volume"] > a["volume"]


def test_market_data_unknown_symbol_is_404_naming_it(base: str):
    status, body = call(base, "GET", "/market-data/NOPE")
    assert status == 404 and "'NOPE'" in body["detail"]


def test_market_data_too_many_bars_is_422(base: str):
    assert call(base, "GET", "/market-data/SYM001?bars=1000")[0] == 422


# -- portfolio and risk ----------------------------------------------------------------------------

def test_portfolio_adds_up(base: str):
    status, p = call(base, "GET", "/portfolio/acct-1")
    assert status == 200 and p["account"] == "acct-1" and len(p["positions"]) >= 3
    assert p["equity"] == pytest.approx(p["cash"] + p["net_exposure"])
    assert p["total_pnl"] == pytest.approx(p["realised_pnl"] + p["unrealised_pnl"])
    assert p["unrealised_pnl"] == pytest.approx(sum(x["unrealised_pnl"] for x in p["positions"]))


def test_portfolio_unknown_account_is_404(base: str):
    status, body = call(base, "GET", "/portfolio/acct-999")
    assert status == 404 and "'acct-999'" in body["detail"]


def test_risk_gives_historical_and_parametric_var_and_limits(base: str):
    status, r = call(base, "GET", "/risk/acct-2")
    assert status == 200 and r["method"] == "both"
    assert r["var"]["historical"] > 0 and r["var"]["parametric"] > 0 and r["var"]["monte_carlo"] is None
    assert r["var"]["parametric"] < r["portfolio_value"]
    assert r["limits"]["n_checks"] > 0 and isinstance(r["limits"]["ok"], bool)


def test_risk_monte_carlo_is_seeded(base: str):
    q = "/risk/acct-3?method=monte_carlo&scenarios=2000&seed=5"
    (s1, a), (s2, b) = call(base, "GET", q), call(base, "GET", q)
    assert s1 == s2 == 200 and a["var"]["monte_carlo_scenarios"] == 2000
    assert a["var"]["monte_carlo"] > 0 and a["var"]["monte_carlo"] == b["var"]["monte_carlo"]


def test_risk_metrics_post_matches_the_get(base: str):
    status, r = call(base, "POST", "/risk/metrics", {"account": "acct-4", "method": "all", "scenarios": 1000})
    assert status == 200 and all(r["var"][m] > 0 for m in ("historical", "parametric", "monte_carlo"))
    _, g = call(base, "GET", "/risk/acct-4?method=all&scenarios=1000")
    assert g["var"] == r["var"]


def test_risk_of_a_flat_account_is_zero(base: str):
    status, r = call(base, "GET", "/risk/mm-1?method=all")  # the market maker starts flat
    assert status == 200 and r["portfolio_value"] >= 0 and r["limits"] is not None
    if r["portfolio_value"] == 0:
        assert r["var"]["historical"] == r["var"]["parametric"] == r["var"]["monte_carlo"] == 0.0


@pytest.mark.parametrize("path,status", [("/risk/acct-999", 404), ("/risk/acct-1?scenarios=5", 422),
                                         ("/risk/acct-1?method=bogus", 422), ("/risk/acct-1?confidence=1.5", 422)])
def test_risk_bad_requests(base: str, path: str, status: int):
    assert call(base, "GET", path)[0] == status


def test_risk_metrics_refuses_unknown_fields(base: str):
    assert call(base, "POST", "/risk/metrics", {"account": "acct-1", "bogus": 1})[0] == 422


# -- recommendations -------------------------------------------------------------------------------

def test_recommendations_give_prediction_and_action(base: str):
    status, r = call(base, "GET", "/recommendations/SYM005")
    assert status == 200 and r["symbol"] == "SYM005"
    assert 0.0 <= r["price_model"]["p_up"] <= 1.0 and np.isfinite(r["price_model"]["next_return_std"])
    assert r["price_model"]["direction"] == ("up" if r["price_model"]["p_up"] >= 0.5 else "down")
    assert r["agent"]["action"] in ("sell", "hold", "buy") and 0.0 < r["agent"]["action_prob"] <= 1.0


def test_recommendations_unknown_symbol_is_404(base: str):
    assert call(base, "GET", "/recommendations/NOPE")[0] == 404


# -- orders ----------------------------------------------------------------------------------------

def test_crossing_order_fills_and_changes_the_portfolio(base: str):
    _, before = call(base, "GET", "/portfolio/acct-7")
    status, o = call(base, "POST", "/orders", {"account": "acct-7", "symbol": "SYM003", "side": "buy",
                                               "type": "market", "quantity": 200})
    assert status == 201 and o["status"] == "filled" and o["filled_quantity"] == 200
    assert o["fills"] and all(f["buy_account"] == "acct-7" and f["sell_account"] == "mm-1" for f in o["fills"])
    _, after = call(base, "GET", "/portfolio/acct-7")
    assert position(after, "SYM003") == position(before, "SYM003") + 200
    paid = sum(f["price"] * f["quantity"] for f in o["fills"])
    assert after["cash"] == pytest.approx(before["cash"] - paid)


def test_crossing_limit_sell_fills_at_makers_prices(base: str):
    _, q = call(base, "GET", "/market-data/SYM004")
    price = round(q["bid"] * 0.97, 2)
    status, o = call(base, "POST", "/orders", {"account": "acct-8", "symbol": "SYM004", "side": "sell",
                                               "type": "limit", "quantity": 300, "price": price})
    assert status == 201 and o["filled_quantity"] == 300
    assert all(f["price"] >= price for f in o["fills"])


def test_passive_limit_order_rests(base: str):
    _, q = call(base, "GET", "/market-data/SYM006")
    status, o = call(base, "POST", "/orders", {"account": "acct-9", "symbol": "SYM006", "side": "buy",
                                               "quantity": 100, "price": round(q["bid"] * 0.8, 2)})
    assert status == 201 and o["status"] == "new" and o["resting_quantity"] == 100 and o["fills"] == []


def test_negative_quantity_is_rejected_with_reason_and_leaves_portfolio_alone(base: str):
    _, before = call(base, "GET", "/portfolio/acct-10")
    status, o = call(base, "POST", "/orders", {"account": "acct-10", "symbol": "SYM001", "side": "buy",
                                               "type": "market", "quantity": -100})
    assert status == 422 and o["status"] == "rejected" and o["reject_code"] == "invalid_quantity"
    assert "-100" in o["reason"] and o["fills"] == []
    _, after = call(base, "GET", "/portfolio/acct-10")

    def book(p: dict) -> list[tuple]:
        return [(x["symbol"], x["quantity"], x["avg_price"], x["realised_pnl"]) for x in p["positions"]]

    assert book(after) == book(before) and after["cash"] == before["cash"]


@pytest.mark.parametrize("order,code", [
    ({"symbol": "NOPE", "side": "buy", "quantity": 100, "price": 10.0}, "unknown_symbol"),
    ({"symbol": "SYM001", "side": "buy", "quantity": 100, "price": 100.005}, "off_tick_grid"),
    ({"symbol": "SYM001", "side": "buy", "type": "market", "quantity": 100, "price": 100.0}, "invalid_price"),
    ({"symbol": "SYM001", "side": "buy", "quantity": 20_000, "price": 100.0}, "max_order_quantity"),
])
def test_engine_rejections_come_back_as_422_with_their_code(base: str, order: dict, code: str):
    status, o = call(base, "POST", "/orders", {"account": "acct-11", **order})
    assert status == 422 and o["reject_code"] == code and o["reason"]


@pytest.mark.parametrize("body", [
    {"account": "acct-1", "symbol": "SYM001", "quantity": 100},  # no side
    {"account": "acct-1", "symbol": "SYM001", "side": "hold", "quantity": 100},
    {"account": "acct-1", "symbol": "SYM001", "side": "buy", "quantity": "100"},  # a string, not an int
    {"account": "acct-1", "symbol": "SYM001", "side": "buy", "quantity": 1.5},
    {"account": "acct-1", "symbol": "SYM001", "side": "buy", "quantity": 100, "colour": "red"},
])
def test_malformed_order_bodies_are_422_with_validation_detail(base: str, body: dict):
    status, out = call(base, "POST", "/orders", body)
    assert status == 422 and isinstance(out["detail"], list)


@pytest.mark.parametrize("raw", [b"{not json", b'{"account": "acct-1", "symbol": "SYM001", "side": "buy", '
                                              b'"quantity": 100, "price": NaN}'])
def test_order_body_that_is_not_valid_json_is_refused(base: str, raw: bytes):
    status, out = call(base, "POST", "/orders", raw=raw)
    assert status in (400, 422) and out["detail"]


def test_order_for_unknown_account_is_404(base: str):
    status, out = call(base, "POST", "/orders", {"account": "nobody", "symbol": "SYM001", "side": "buy",
                                                 "type": "market", "quantity": 100})
    assert status == 404 and "'nobody'" in out["detail"]


# -- hostile input: every bad request is a 4xx with a short answer, never a 500 --------------------

ORDER = {"account": "acct-12", "symbol": "SYM001", "side": "buy", "quantity": 100}


@pytest.mark.parametrize("price", [1e308, 1e300, 1e11, 1e-300, 5e-324, 0.0, -5.0])
def test_a_limit_price_out_of_range_is_422_naming_price_value_and_range(base: str, price: float):
    status, o = call(base, "POST", "/orders", {**ORDER, "price": price})
    assert status == 422 and o["reject_code"] == "invalid_price" and o["status"] == "rejected"
    assert o["reason"].startswith("limit price must be a number from 0.01 to 1e+10")
    assert o["reason"].endswith(f"got {price!r}")


@pytest.mark.parametrize("literal", [b"NaN", b"Infinity", b"-Infinity", b"1e999"])
def test_a_non_finite_price_is_422_naming_the_field(base: str, literal: bytes):
    raw = json.dumps({**ORDER, "price": 0}).encode().replace(b'"price": 0', b'"price": ' + literal)
    status, out = call(base, "POST", "/orders", raw=raw)
    assert status == 422 and out["detail"][0]["loc"] == ["body", "price"]
    assert out["detail"][0]["type"] == "finite_number"


@pytest.mark.parametrize("quantity,code,text", [
    (10**30, "max_order_quantity", "exceeds max order quantity 10000 (allowed: 1 to 10000)"),
    (2**63, "max_order_quantity", "(allowed: 1 to 10000)"),
    (0, "invalid_quantity", "quantity must be a whole number of shares >= 1, got 0"),
])
def test_an_absurd_quantity_is_422_with_the_allowed_range(base: str, quantity: int, code: str, text: str):
    status, o = call(base, "POST", "/orders", {**ORDER, "price": 10.0, "quantity": quantity})
    assert status == 422 and o["reject_code"] == code and text in o["reason"]


def test_a_10_mb_body_is_413_and_not_echoed(base: str):
    big = json.dumps({**ORDER, "account": "x" * (10 << 20)}).encode()
    status, out = call(base, "POST", "/orders", raw=big)  # urllib: Connection: close
    assert status == 413 and "exceeds the limit of 65,536 bytes" in out["detail"] and len(json.dumps(out)) < 300
    import http.client  # a keep-alive client: the 413, then the same connection serves the next request
    host, port = base.removeprefix("http://").split(":")
    conn = http.client.HTTPConnection(host, int(port), timeout=10)
    try:
        conn.request("POST", "/orders", body=big, headers={"Content-Type": "application/json"})
        r = conn.getresponse()
        assert r.status == 413 and len(r.read()) < 300
        conn.request("GET", "/health")
        assert conn.getresponse().status == 200
    finally:
        conn.close()


def test_an_oversized_body_is_refused_before_it_is_sent(base: str):
    """The 413 comes back after the headers alone: the body is never waited for, let alone read."""
    import socket
    host, port = base.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port)), timeout=5) as sock:
        sock.sendall(b"POST /orders HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                     b"Content-Length: 10485760\r\n\r\n")
        head = sock.recv(4096)
    assert head.startswith(b"HTTP/1.1 413 ")


def test_a_chunked_body_over_the_limit_is_413(base: str):
    import http.client
    host, port = base.removeprefix("http://").split(":")
    for headers in ({}, {"Connection": "close"}):
        conn = http.client.HTTPConnection(host, int(port), timeout=10)
        try:
            conn.request("POST", "/orders", body=iter([b"x" * 65536] * 40), encode_chunked=True,
                         headers={"Content-Type": "application/json", **headers})
            r = conn.getresponse()
            assert r.status == 413 and b"exceeds the limit" in r.read()
        finally:
            conn.close()


def test_a_422_echoes_only_a_short_excerpt_of_the_input(base: str):
    status, out = call(base, "POST", "/orders", {**ORDER, "account": "y" * 60_000})  # under the size limit
    assert status == 422 and len(json.dumps(out)) < 600
    (err,) = out["detail"]
    assert err["loc"] == ["body", "account"] and err["input"].endswith("... (60,000 chars)")


FUZZ = {
    "quantity as a string": {**ORDER, "quantity": "100"},
    "quantity true": {**ORDER, "quantity": True},
    "quantity a float": {**ORDER, "quantity": 1e2},
    "quantity missing": {k: v for k, v in ORDER.items() if k != "quantity"},
    "account missing": {k: v for k, v in ORDER.items() if k != "account"},
    "price true": {**ORDER, "price": True},
    "price a string": {**ORDER, "price": "10.00"},
    "price a list": {**ORDER, "price": [10.0]},
    "price a 400-digit int": {**ORDER, "price": 10**400},
    "account a number": {**ORDER, "account": 12},
    "account null": {**ORDER, "account": None},
    "symbol with NUL": {**ORDER, "symbol": "SYM\u0000001"},
    "symbol with a newline": {**ORDER, "symbol": "SYM\n001"},
    "unicode symbol": {**ORDER, "symbol": "ÄÖ\u202e😀", "price": 10.0},
    "type stop": {**ORDER, "type": "stop", "price": 10.0},
    "side a dict": {**ORDER, "side": {"buy": 1}},
    "body a list": [ORDER] * 50,
    "body a string": "order",
    "body null": None,
    "5,000 unknown keys": {**ORDER, **{f"k{i}": i for i in range(5000)}},
    "nested 900 deep": {**ORDER, "account": json.loads("[" * 900 + "]" * 900)},
}
RAW_FUZZ = {
    "lone surrogate": b'{"account": "acct-1", "symbol": "\\ud800", "side": "buy", "quantity": 100}',
    "invalid UTF-8": b'{"account": "\xff\xfe", "symbol": "SYM001", "side": "buy", "quantity": 100}',
    "truncated JSON": b'{"account": "acct-1", "symb',
    "a 5,000-digit int": b'{"account": "acct-1", "symbol": "SYM001", "side": "buy", "quantity": ' + b"9" * 5000 + b"}",
    "nested 20,000 deep": b"[" * 20000 + b"]" * 20000,
    "empty body": b"",
}


@pytest.mark.parametrize("name", [*FUZZ, *RAW_FUZZ])
def test_malformed_and_hostile_orders_are_a_short_4xx_never_a_500(base: str, server: ServerProcess, name: str):
    raw = RAW_FUZZ[name] if name in RAW_FUZZ else json.dumps(FUZZ[name]).encode()
    req = urllib.request.Request(base + "/orders", data=raw, method="POST", headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(req, timeout=10) as r:
            status, body = r.status, r.read()
    except urllib.error.HTTPError as e:
        status, body = e.code, e.read()
    assert 400 <= status < 500, (status, body[:300])
    out = json.loads(body)
    assert len(body) < 4096 and (out.get("detail") or out["reason"])  # validation detail, or the engine's reason
    assert "Traceback" not in server.log_tail(200_000)


@pytest.mark.filterwarnings("ignore:Using `httpx` with `starlette.testclient`")
def test_the_body_limit_is_configurable():
    from fastapi.testclient import TestClient

    from trading_agent.service.__main__ import parse_args
    from trading_agent.service.app import create_app

    assert parse_args(["--max-body-bytes", "2048"]).max_body_bytes == 2048
    assert parse_args([]).max_body_bytes == 65536
    with pytest.raises(SystemExit) as exc:
        parse_args(["--max-body-bytes", "10"])  # under 1 KiB: refused, naming the option
    assert exc.value.code == 2

    async def never(config, holder):  # the limit acts before any state is needed
        raise RuntimeError("not built")

    with TestClient(create_app(ServiceConfig(max_body_bytes=2048), builder=never)) as client:
        assert client.post("/orders", content=b"x" * 2049, headers={"Content-Type": "application/json"}).status_code == 413
        # at the limit: read, and refused for what it is (not JSON), not for its size
        assert client.post("/orders", content=b"x" * 2048, headers={"Content-Type": "application/json"}).status_code == 422


def test_validation_detail_is_bounded_and_encodable():
    from trading_agent.service.guards import MAX_ERRORS_SHOWN, excerpt, validation_detail

    assert excerpt("a" * 100_000).endswith("... (100,000 chars)") and len(excerpt("a" * 100_000)) < 120
    assert excerpt(float("nan")) == "nan" and excerpt(10**5000).startswith("an integer of about 5001")
    assert excerpt("\ud800").encode("utf-8") and excerpt(1.5) == 1.5 and excerpt(None) is None
    assert len(excerpt([["x" * 1000] * 1000] * 1000)) < 100
    detail = validation_detail([{"type": "extra_forbidden", "loc": ("body", f"k{i}"), "msg": "x", "input": i}
                                for i in range(500)])
    assert len(detail) == MAX_ERRORS_SHOWN + 1 and detail[-1]["msg"] == "480 more errors not shown"
    json.dumps(detail).encode("utf-8")


# -- several workers -------------------------------------------------------------------------------

def test_two_workers_start_each_with_its_own_store_and_serve(tmp_path: Path):
    db = tmp_path / "orders.db"
    srv = start_server(["--workers", "2", "--db", f"sqlite:///{db}", *SMALL], ready_timeout_s=45)
    try:
        deadline = time.monotonic() + 30
        pids: set[int] = set()
        while time.monotonic() < deadline and not (len(pids) == 2 and (tmp_path / "orders-w1.db").exists()):
            status, ready = call(srv.base_url, "GET", "/ready")
            if status == 200:
                pids.add(ready["pid"])
            time.sleep(0.05)
        assert (tmp_path / "orders-w0.db").exists() and (tmp_path / "orders-w1.db").exists()
        for i in range(10):
            assert call(srv.base_url, "GET", f"/market-data/SYM00{i}")[0] == 200
        status, o = call(srv.base_url, "POST", "/orders", {"account": "acct-1", "symbol": "SYM001", "side": "buy",
                                                           "type": "market", "quantity": 100})
        assert status == 201 and o["status"] == "filled"
        assert len(pids) == 2 and srv.proc.pid not in pids  # both workers answer; the supervisor does not
    finally:
        assert srv.stop() == 0


# -- in-process: readiness, stores, config, features ------------------------------------------------

@pytest.mark.filterwarnings("ignore:Using `httpx` with `starlette.testclient`")
def test_ready_is_503_while_state_builds_and_health_stays_200():
    from fastapi.testclient import TestClient

    from trading_agent.service.app import create_app

    release = threading.Event()
    built = threading.Event()

    async def slow_builder(config, holder):
        import asyncio

        while not release.is_set():
            await asyncio.sleep(0.01)
        built.set()
        raise RuntimeError("model file unreadable")

    with TestClient(create_app(ServiceConfig(), builder=slow_builder)) as client:
        assert client.get("/health").status_code == 200
        r = client.get("/ready")
        assert r.status_code == 503 and r.json()["status"] == "starting"
        assert client.get("/market-data/SYM001").status_code == 503
        release.set()
        assert built.wait(5)
        for _ in range(100):
            r = client.get("/ready")
            if r.json()["status"] == "failed":
                break
            time.sleep(0.01)
        assert r.status_code == 503 and "model file unreadable" in r.json()["detail"]
        assert client.get("/health").status_code == 200


def test_worker_slots_are_exclusive(tmp_path: Path):
    base = str(tmp_path / "db")
    a, fa = claim_slot(base, 2)
    b, fb = claim_slot(base, 2)
    assert (a, b) == (0, 1)
    with pytest.raises(ServiceConfigError, match="taken"):
        claim_slot(base, 2)
    import os
    os.close(fa)  # the kernel drops the lock with the descriptor, as when a worker dies
    assert claim_slot(base, 2)[0] == 0
    os.close(fb)


def test_sqlite_workers_get_their_own_files(tmp_path: Path):
    db = f"sqlite:///{tmp_path / 'o.db'}"
    first, second = open_worker_store(db, 2), open_worker_store(db, 2)
    try:
        assert {first.description, second.description} == {f"sqlite:///{tmp_path / 'o-w0.db'}",
                                                           f"sqlite:///{tmp_path / 'o-w1.db'}"}
        with pytest.raises(ServiceConfigError):
            open_worker_store(db, 2)
    finally:
        first.close()
        second.close()
    assert sqlite_worker_path("/x/o.db", 3, 1) == "/x/o.db"


def test_postgres_workers_share_the_database_in_their_own_schemas():
    psycopg = pytest.importorskip("psycopg")
    import os
    admin_url = os.environ.get("TRADING_PG_URL", "postgresql://postgres@127.0.0.1:5432/postgres")
    try:
        admin = psycopg.connect(admin_url, autocommit=True, connect_timeout=3)
    except psycopg.OperationalError as exc:
        pytest.skip(f"PostgreSQL unreachable at {admin_url}: {exc}")
    name = f"trading_svc_test_{uuid.uuid4().hex[:10]}"
    admin.execute(f"CREATE DATABASE {name}")
    url = admin_url.rsplit("/", 1)[0] + "/" + name
    try:
        stores = [open_worker_store(url, 2), open_worker_store(url, 2)]
        assert [s.description.rsplit(" ", 1)[-1] for s in stores] == ["trading_service_w0", "trading_service_w1"]
        for s in stores:
            s.close()
    finally:
        digest = hashlib.sha1(url.encode()).hexdigest()[:12]  # this database's slot lock files
        for lock in Path(tempfile.gettempdir()).glob(f"trading-service-pg-{digest}.w*.lock"):
            lock.unlink()
        admin.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
        admin.close()


def test_config_from_env_names_the_bad_key():
    with pytest.raises(ServiceConfigError, match=r"n_symbols.*got 0"):
        config_from_env({CONFIG_ENV: json.dumps({"n_symbols": 0})})
    assert config_from_env({}) == ServiceConfig()
    assert config_from_env({CONFIG_ENV: ServiceConfig(port=9).model_dump_json()}).port == 9


def test_feature_window_ends_with_todays_live_row():
    from trading_agent.models.features import ohlcv_features
    from trading_agent.service.market import MarketFeed
    from trading_agent.service.recommend import FeatureWindows

    feed = MarketFeed.replay(3000, 3, seed=1)
    live = {s: feed.live(s) for s in feed.symbols}
    fw = FeatureWindows.seeded(feed.symbols, live, seed=1)
    now = live["SYM001"]
    win = fw.window(now)
    assert win.shape == (60, 15) and win.dtype == np.float32 and np.isfinite(win).all()
    h = fw._hist["SYM001"]
    today = pd.DataFrame([[now.day_open, now.day_high, now.day_low, now.last, now.last, float(now.volume)]],
                         columns=h.raw_tail.columns)
    full = ohlcv_features(pd.concat([h.raw_tail, today], ignore_index=True)).to_numpy()[-1]
    np.testing.assert_allclose(win[-1], np.nan_to_num((full - h.mean) / h.std), rtol=1e-5, atol=1e-5)
    assert fw.window(now) is win  # same bar: cached


def test_service_modules_import_neither_airflow_nor_perf_tasks_nor_torch_eagerly():
    code = ("import sys, trading_agent.service.app, trading_agent.service.__main__, trading_agent.service.launcher, "
            "trading_agent.service.latency; "
            "bad = sorted({m.split('.')[0] for m in sys.modules} & {'airflow', 'perf_tasks', 'torch'}); "
            "print(bad)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60,
                         cwd=Path(__file__).resolve().parents[2])
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "[]"


def test_recommender_loads_checkpoints_and_refuses_the_wrong_kind(tmp_path: Path):
    from trading_agent.models.checkpoint import save_model
    from trading_agent.models.cnn_lstm import build_cnn_lstm
    from trading_agent.models.rl_agent import build_actor_critic
    from trading_agent.service.market import MarketFeed
    from trading_agent.service.recommend import Recommender

    cnn_path, policy_path = tmp_path / "cnn.pt", tmp_path / "policy.pt"
    save_model(build_cnn_lstm(seed=3), cnn_path)
    save_model(build_actor_critic(seed=3), policy_path)
    feed = MarketFeed.replay(3000, 3, seed=1)
    live = {s: feed.live(s) for s in feed.symbols}
    rec = Recommender.build(feed.symbols, live, 3, cnn_lstm_path=str(cnn_path), policy_path=str(policy_path))
    seeded = Recommender.build(feed.symbols, live, 3)
    a, b = rec.recommend(live["SYM002"]), seeded.recommend(live["SYM002"])  # same weights, same answer
    assert a.agent.action == b.agent.action and a.agent.value == pytest.approx(b.agent.value, abs=1e-5)
    assert a.price_model.p_up == pytest.approx(b.price_model.p_up, abs=1e-6)
    with pytest.raises(ValueError, match=str(policy_path)):
        Recommender.build(feed.symbols, live, 0, cnn_lstm_path=str(policy_path))
