"""A service worker killed (spec §3.1 "service component failures"): the service runs with
``--workers N`` under uvicorn's supervisor; one worker is SIGKILLed mid-load.

What clients see: requests on the killed worker's connections fail (no answer); new connections
land on the survivors. The supervisor notices the dead worker (it checks every 0.5 s) and starts a
new one, which takes the dead worker's store slot back and rebuilds from its file.

Metrics: ``replace_spawn_ms`` (kill -> a new worker process exists), ``replace_ready_ms`` (kill ->
the new worker answers ``/ready`` 200, seen by probes on fresh connections), ``client_errors_pct``
(order requests without an answer or answered 5xx after the kill, of all), ``probe_failures_pct``
(fresh-connection readiness probes that failed after the kill: a balancer would see these; a new
worker accepts connections while it builds its state and answers 503 meanwhile), ``orders_lost_pct``
(acknowledged orders missing from every worker's store; order ids are per worker, so an order is
matched by id and content).
"""
from __future__ import annotations

import http.client
import logging
import os
import signal
import time
from typing import Any

import psutil

from perf_tasks.results import BenchmarkResult
from perf_tasks.stress import service
from perf_tasks.stress.base import StressContext
from perf_tasks.stress.orders import Client, Ledger, OrderFlow, read_store
from perf_tasks.stress.outcome import Metrics, params_for, pct, scenario_result

log = logging.getLogger(__name__)

DEFAULTS = {
    "smoke": {"workers": 2, "before_s": 1.0, "after_s": 1.0, "threads": 4, "replace_timeout_s": 60.0},
    "standard": {"workers": 2, "before_s": 5.0, "after_s": 5.0, "threads": 8, "replace_timeout_s": 90.0},
    "full": {"workers": 4, "before_s": 30.0, "after_s": 30.0, "threads": 16, "replace_timeout_s": 120.0},
}


def _ready_pid(url: str) -> tuple[int, int | None]:
    c = Client(url, timeout_s=2.0)
    try:
        status, body, _ = c.call("GET", "/ready")
        return status, (body or {}).get("pid") if isinstance(body, dict) else None
    except (OSError, http.client.HTTPException):
        return 0, None
    finally:
        c.close()


def _workers(master: int) -> set[int]:
    """The master's worker processes (spawned by multiprocessing; not its resource tracker)."""
    try:
        kids = psutil.Process(master).children()
    except psutil.NoSuchProcess:
        return set()
    out = set()
    for k in kids:
        try:
            if "resource_tracker" not in " ".join(k.cmdline()):
                out.add(k.pid)
        except psutil.NoSuchProcess:
            continue
    return out


def worker_kill(ctx: StressContext) -> BenchmarkResult:
    p = params_for(ctx, DEFAULTS)
    m = Metrics(ctx)
    t_start = time.monotonic()
    ledger = Ledger()
    info: dict[str, Any] = {"workers": p["workers"]}
    ctx.work.mkdir(parents=True, exist_ok=True)
    db = f"sqlite:///{ctx.work / 'orders.db'}"
    probes_after = probe_fail = 0
    t_spawn = t_ready = None
    try:
        with service.running(ctx.work, system=ctx.system, what=ctx.name, db=db, workers=p["workers"]) as handles:
            url, master = handles[0].url, handles[0].pid
            assert master is not None
            deadline = time.monotonic() + 30
            seen: set[int] = set()
            while len(seen) < p["workers"] and time.monotonic() < deadline:  # every worker built its state
                status, pid = _ready_pid(url)
                if status == 200 and pid:
                    seen.add(pid)
            workers = _workers(master)
            info["workers_ready_before"] = len(seen)
            flow = OrderFlow(url, ledger, threads=p["threads"], seed=ctx.seed, timeout_s=5.0).start()
            try:
                time.sleep(p["before_s"])
                victim = sorted(workers)[0]
                t_kill = time.monotonic()
                os.kill(victim, signal.SIGKILL)
                deadline = t_kill + p["replace_timeout_s"]
                new: int | None = None
                while time.monotonic() < deadline and t_ready is None:
                    if new is None:
                        fresh = _workers(master) - workers
                        if fresh:
                            new, t_spawn = fresh.pop(), time.monotonic()
                    status, pid = _ready_pid(url)
                    probes_after += 1
                    probe_fail += status != 200
                    if new is not None and pid == new and status == 200:
                        t_ready = time.monotonic()
                    time.sleep(0.01)
                time.sleep(p["after_s"])
            finally:
                flow.stop()
            info.update({"victim_pid": victim, "replacement_pid": new})
        views = [read_store(f"sqlite:///{f}") for f in sorted(ctx.work.glob("orders-w*.db"))]
    finally:
        for f in ctx.work.glob("orders*.db*"):
            f.unlink(missing_ok=True)
    stored: set[tuple] = set()
    for v in views:
        stored.update((oid, *row) for oid, row in v.orders.items())
    # ids repeat across workers by design: every 201 is matched by id and content, none keyed by id alone
    acked = ledger.acked_list
    lost = sum(1 for o in acked
               if (int(o["order_id"]), o["account"], o["symbol"], o["side"], int(o["quantity"])) not in stored)
    errors_after = sum(1 for t in ledger.errors_t if t >= t_kill)
    m.add("replace_spawn_ms", None if t_spawn is None else 1000 * (t_spawn - t_kill), samples=1)
    m.add("replace_ready_ms", None if t_ready is None else 1000 * (t_ready - t_kill), samples=1)
    m.add("client_errors_pct", pct(errors_after, ledger.requests), samples=ledger.requests)
    m.add("probe_failures_pct", pct(probe_fail, probes_after), samples=probes_after)
    m.add("orders_lost_pct", pct(lost, len(acked)), samples=len(acked))
    info.update({"statuses": dict(ledger.statuses), "worker_stores": len(views), "acked": len(acked),
                 "lost": lost, "client_errors": errors_after, "probe_failures": probe_fail, "probes": probes_after})
    log.info("%s: new worker spawned %.0f ms and ready %.0f ms after the kill; %d client errors, %d/%d probes "
             "failed, %d lost", ctx.name, m.value("replace_spawn_ms"), m.value("replace_ready_ms"), errors_after,
             probe_fail, probes_after, lost)
    return scenario_result(ctx, m, description=f"SIGKILL one of {p['workers']} uvicorn workers", params=p,
                           calls=ledger.requests, errors=ledger.count("no answer") + sum(
                               v for k, v in ledger.statuses.items() if k.startswith("5")),
                           duration_s=time.monotonic() - t_start, info=info)
