"""The ledger service started by the platform from its definition (examples/ledger/config/systems.yaml):
its paths, durability across kill -9, its worker supervisor, and a store that goes away."""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import psutil
import pytest

from perf_tasks.stress import service as fault_service
from perf_tasks.stress.faultproxy import Faults, FaultProxy
from perf_tasks.sut import start_service, stop_service
from tests.othersys.conftest import LEDGER_ROOT, Http


def _group_pids(pid: int) -> set[int]:
    pgid = os.getpgid(pid)
    return {p.pid for p in psutil.process_iter(["pid"]) if _pgid(p.pid) == pgid}


def _pgid(pid: int) -> int | None:
    try:
        return os.getpgid(pid)
    except (ProcessLookupError, PermissionError):
        return None


def _poll(fn, timeout_s: float, every_s: float = 0.05):
    deadline = time.monotonic() + timeout_s
    while True:
        value = fn()
        if value or time.monotonic() > deadline:
            return value
        time.sleep(every_s)


def test_definition_is_not_the_demo(ledger_system):
    svc = ledger_system.service
    assert ledger_system.name == "ledger"
    assert (svc.ready_path, svc.health_path, svc.stop_signal) == ("/up", "/healthz", "SIGINT")
    cmd = ledger_system.command(port=18123, host="127.0.0.1", work=Path("/tmp"))
    assert cmd[1:3] == ["-m", "ledger.server"] and "127.0.0.1:18123" in cmd
    assert not any("trading_agent" in part or "8000" in part for part in cmd)
    assert ledger_system.cwd() == LEDGER_ROOT
    assert ledger_system.definition.dependencies.database.port == 6379
    assert ledger_system.definition.checks.after_fault == "ledger.checks:no_acknowledged_write_lost"


def test_ledger_imports_nothing_of_the_platform():
    code = ("import sys, ledger.server, ledger.store, ledger.bench, ledger.checks, ledger.analytics; "
            "bad = sorted(m for m in sys.modules if m.split('.')[0] in ('perf_tasks', 'trading_agent', 'redis')); "
            "print(bad); sys.exit(1 if bad else 0)")
    env = {**os.environ, "PYTHONPATH": str(LEDGER_ROOT)}
    out = subprocess.run([sys.executable, "-c", code], cwd=LEDGER_ROOT, env=env, capture_output=True, text=True,
                         timeout=30)
    assert out.returncode == 0, out.stdout + out.stderr
    for path in (LEDGER_ROOT / "ledger").glob("*.py"):
        text = path.read_text()
        assert "perf_tasks" not in text and "trading_agent" not in text, path


def test_paths_from_the_definition(tmp_path, ledger_system, scratch):
    handle = start_service(tmp_path / "svc", system=ledger_system, db=scratch)
    try:
        assert handle.system == "ledger" and handle.stop_signal == "SIGINT"
        assert not handle.url.endswith(":8000")
        cmdline = psutil.Process(handle.pid).cmdline()
        assert "ledger.server" in cmdline and scratch in cmdline
        c = Http(handle.url)
        assert c.call("GET", "/up")[:2] == (200, {"status": "ready"})
        status, body, _, _ = c.call("GET", "/healthz")
        assert status == 200 and body["status"] == "alive"
        s1, e1, h1, _ = c.call("POST", "/entries", {"account": "alice", "amount": 1500})
        s2, e2, _, _ = c.call("POST", "/entries", {"account": "alice", "amount": -400})
        s3, e3, _, _ = c.call("POST", "/entries", {"account": "bob", "amount": 7})
        assert (s1, s2, s3) == (201, 201, 201)
        assert e1 == {"id": e1["id"], "account": "alice", "amount": 1500, "seq": 1, "balance": 1500}
        assert (e2["seq"], e2["balance"], e3["seq"]) == (2, 1100, 1)
        assert e1["id"] < e2["id"] < e3["id"] and h1["location"] == f"/entries/{e1['id']}"
        assert c.call("GET", "/balance/alice")[:2] == (200, {"account": "alice", "balance": 1100, "entries": 2})
        assert c.call("GET", "/balance/nobody")[:2] == (200, {"account": "nobody", "balance": 0, "entries": 0})
        assert c.call("GET", f"/entries/{e2['id']}")[:2] == (
            200, {"id": e2["id"], "account": "alice", "amount": -400, "seq": 2})
        assert c.call("GET", "/entries/999999")[0] == 404
        for bad in ({"account": "alice", "amount": 1.5}, {"account": "alice", "amount": True}, {"account": "alice"},
                    {"account": "a b", "amount": 1}, {"account": "alice", "amount": 1, "memo": "x"}, [1],
                    {"account": "alice", "amount": 10**13}):
            status, body, _, _ = c.call("POST", "/entries", bad)
            assert status == 422 and body["detail"], bad
        assert c.call("POST", "/entries", raw=b"{not json")[0] == 422
        assert c.call("GET", "/balance/a:b")[0] == 422
        assert c.call("GET", "/nowhere")[0] == 404
        assert c.call("GET", "/entries")[0] == 405
        assert c.call("GET", "/balance/alice")[1]["balance"] == 1100  # the refused bodies wrote nothing
        c.close()
    finally:
        assert stop_service(handle)
    assert not fault_service.alive(handle.pid)


def test_kill9_mid_load_loses_no_acknowledged_entry_and_ids_continue(tmp_path, ledger_system, scratch):
    from ledger.checks import no_acknowledged_write_lost, read_entries, state_equals_store

    work = tmp_path / "svc"
    handle = fault_service.start(work, scratch, system=ledger_system, what="test kill -9")
    acked: list[dict] = []
    lock, stop = threading.Lock(), threading.Event()

    def post(k: int) -> None:
        c = Http(handle.url, timeout_s=5.0)
        n = 0
        while not stop.is_set():
            n += 1
            try:
                status, body, _, _ = c.call("POST", "/entries", {"account": f"acct-{k}", "amount": n})
            except OSError:
                return  # the service was killed under this request: never acknowledged
            if status == 201:
                with lock:
                    acked.append(body)

    threads = [threading.Thread(target=post, args=(k,), daemon=True) for k in range(4)]
    try:
        for t in threads:
            t.start()
        assert _poll(lambda: len(acked) >= 40, 10.0), f"only {len(acked)} entries acknowledged before the kill"
        fault_service.kill9(handle)
        for t in threads:
            t.join(10)
        assert not fault_service.alive(handle.pid)
        handle = fault_service.start(work, scratch, system=ledger_system, what="test restart")
        audit = no_acknowledged_write_lost(scratch, acked)
        assert audit.ok, audit
        assert audit.counts["lost"] == audit.counts["duplicated"] == audit.counts["mismatched"] == 0
        assert audit.checked == len(acked) >= 40
        state = state_equals_store(handle.url, scratch)
        assert state.ok and state.checked == 4, state
        _, entries = read_entries(scratch)
        status, new, _, _ = Http(handle.url).call("POST", "/entries", {"account": "after", "amount": 1})
        assert status == 201 and new["id"] > max(entries), "an id was reused after the restart"
    finally:
        stop.set()
        stop_service(handle)


def test_checks_find_a_lost_entry_and_a_wrong_balance(tmp_path, ledger_system, scratch):
    from ledger.checks import no_acknowledged_write_lost, state_equals_store
    from ledger.store import Store

    handle = start_service(tmp_path / "svc", system=ledger_system, db=scratch)
    try:
        c = Http(handle.url)
        acked = [c.call("POST", "/entries", {"account": a, "amount": x})[1] for a, x in
                 (("alice", 10), ("alice", 20), ("bob", 5))]
        assert no_acknowledged_write_lost(scratch, acked).ok
        assert state_equals_store(handle.url, scratch).ok
        store = Store(scratch)
        store.execute(("LREM", store.address.key("acct", "alice", "ids"), 0, acked[1]["id"]))  # lose one entry
        store.execute(("INCRBY", store.address.key("acct", "bob", "balance"), 3))  # corrupt a balance
        audit = no_acknowledged_write_lost(scratch, [*acked, acked[0]])  # and a duplicate acknowledgement
        assert not audit.ok
        assert (audit.counts["lost"], audit.counts["duplicated"]) == (1, 1), audit
        assert any(str(acked[1]["id"]) in p for p in audit.problems)
        state = state_equals_store(handle.url, scratch)
        # alice: her balance key still counts the removed entry; bob: his key was raised by 3
        assert not state.ok and state.counts["mismatched"] == 2 and state.counts["store_inconsistent"] == 2, state
        store.close()
        c.close()
    finally:
        stop_service(handle)


def test_workers_share_the_socket_and_a_killed_worker_is_replaced(tmp_path, ledger_system, scratch):
    handle = start_service(tmp_path / "svc", system=ledger_system, db=scratch, workers=2)
    try:
        parent = psutil.Process(handle.pid)
        workers = _poll(lambda: [p.pid for p in parent.children()] if len(parent.children()) == 2 else None, 10.0)
        assert workers and len(workers) == 2
        served_by = {Http(handle.url).call("GET", "/healthz")[1]["pid"] for _ in range(40)}
        assert served_by <= set(workers) and served_by
        os.kill(workers[0], signal.SIGKILL)
        replaced = _poll(lambda: (lambda now: now if len(now) == 2 and workers[0] not in now else None)(
            [p.pid for p in parent.children()]), 10.0)
        assert replaced and workers[1] in replaced, f"worker {workers[0]} not replaced: {parent.children()}"
        assert Http(handle.url).call("POST", "/entries", {"account": "w", "amount": 1})[0] == 201
        group = _group_pids(handle.pid)
        assert set(replaced) | {handle.pid} <= group
    finally:
        assert stop_service(handle)
    assert not any(fault_service.alive(p) for p in group), "a worker outlived the stop"


@pytest.mark.parametrize("fault", ["refuse", "blackhole"])
def test_store_away_answers_503_quickly_and_recovers_by_itself(tmp_path, ledger_system, scratch, redis, fault):
    from ledger.checks import no_acknowledged_write_lost, via

    with FaultProxy(*redis, connect_timeout_s=1.0) as proxy:
        db = via(scratch, "127.0.0.1", proxy.port)
        handle = fault_service.start(tmp_path / "svc", db, system=ledger_system, what=f"test store {fault}")
        try:
            c = Http(handle.url, timeout_s=10.0)
            acked = [c.call("POST", "/entries", {"account": "carol", "amount": 100})[1]]
            assert acked[0]["id"] >= 1
            proxy.set_faults(Faults(refuse=True) if fault == "refuse" else Faults(blackhole=True))
            proxy.reset_all()
            for _ in range(3):
                status, body, headers, took = c.call("POST", "/entries", {"account": "carol", "amount": 1})
                assert status == 503 and headers.get("retry-after") == "1", (status, body)
                assert took < 2.5, f"a 503 took {took:.2f} s: the store client must fail fast"
            status, _, headers, took = c.call("GET", "/up")
            assert status == 503 and "retry-after" in headers and took < 2.5
            assert c.call("GET", "/healthz")[0] == 200  # alive, only not ready
            proxy.clear()

            def back() -> bool:
                status, body, _, _ = c.call("POST", "/entries", {"account": "carol", "amount": 2})
                if status == 201:
                    acked.append(body)
                return status == 201

            t0 = time.monotonic()
            assert _poll(back, 10.0, every_s=0.1), "the ledger did not recover once the store came back"
            assert time.monotonic() - t0 < 5.0
            assert fault_service.alive(handle.pid)  # recovered by itself, no restart
            assert c.call("GET", "/up")[0] == 200
            c.close()
        finally:
            stop_service(handle)
        audit = no_acknowledged_write_lost(scratch, acked)
        assert audit.ok and audit.checked == 2, audit


def test_vectorised_math_equals_the_plain_python():
    import numpy as np
    from ledger import analytics, model

    for seed in range(20):
        rng = np.random.default_rng(seed)
        n, k = int(rng.integers(1, 300)), int(rng.integers(1, 12))
        account, amount = rng.integers(0, k, size=n), rng.integers(-1000, 1000, size=n).astype(np.int64)
        entries = [(f"a{a}", int(x)) for a, x in zip(account.tolist(), amount.tolist())]
        bal, dd = model.replay_balances(entries), model.max_drawdowns(entries)
        assert analytics.balances(account, amount, k).tolist() == [bal.get(f"a{i}", 0) for i in range(k)]
        assert analytics.max_drawdowns(account, amount, k).tolist() == [dd.get(f"a{i}", 0) for i in range(k)]
    assert model.max_drawdowns([("a", 5), ("a", -8), ("a", 10), ("a", -4)]) == {"a": 8}
