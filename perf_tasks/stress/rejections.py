"""Order execution rejections (spec §3.1 "order execution failures"): clients send a mix of valid
orders and orders the engine must refuse, each kind with the reject code it must get.

The service's documented behaviour: a refused order is answered 422 with the engine's reason and
reject code (never a 5xx, never silence), is stored with status ``rejected`` and that reason (the
store is the system of record for refusals too), and valid orders around it are unaffected.

Kinds sent (one in ``reject_every`` orders is a refusal, the kinds in turn): ``unknown_symbol``,
``off_tick_grid`` (a limit price between ticks), ``max_order_quantity`` (20,000 shares over the
10,000 limit), ``max_notional`` (9,000 shares at a 600.00 limit: 5.4 M over 5 M).

Metrics: ``wrong_answer_pct`` (refusals not answered 422 with the expected code and a reason),
``rejections_not_stored_pct`` (not stored as rejected with the same reason), ``server_errors_pct``,
``orders_lost_pct`` (valid orders acknowledged, not stored), ``reject_p99_ms`` (latency of a refusal).
"""
from __future__ import annotations

import http.client
import logging
import random
import threading
import time
from typing import Any

import numpy as np

from perf_tasks.results import BenchmarkResult
from perf_tasks.stress import service
from perf_tasks.stress.base import StressContext
from perf_tasks.stress.databases import scenario_store
from perf_tasks.stress.orders import ACCOUNTS, SYMBOLS, Client, random_order, read_store
from perf_tasks.stress.outcome import Metrics, params_for, pct, scenario_result

log = logging.getLogger(__name__)

DEFAULTS = {
    "smoke": {"duration_s": 2.0, "threads": 4, "reject_every": 4},
    "standard": {"duration_s": 15.0, "threads": 8, "reject_every": 4},
    "full": {"duration_s": 120.0, "threads": 16, "reject_every": 4},
}
KINDS = ("unknown_symbol", "off_tick_grid", "max_order_quantity", "max_notional")


def refused_order(kind: str, rng: random.Random) -> dict[str, Any]:
    body: dict[str, Any] = {"account": rng.choice(ACCOUNTS), "symbol": rng.choice(SYMBOLS),
                            "side": rng.choice(("buy", "sell")), "quantity": 100, "type": "market"}
    if kind == "unknown_symbol":
        body["symbol"] = "NOPE999"
    elif kind == "off_tick_grid":
        body.update(type="limit", price=100.005)
    elif kind == "max_order_quantity":
        body["quantity"] = 20_000
    elif kind == "max_notional":
        body.update(type="limit", side="buy", quantity=9_000, price=600.0)
    else:
        raise ValueError(f"unknown rejection kind {kind!r}; known: {KINDS}")
    return body


def order_rejections(ctx: StressContext) -> BenchmarkResult:
    p = params_for(ctx, DEFAULTS)
    m = Metrics(ctx)
    t0 = time.monotonic()
    lock = threading.Lock()
    refusals: list[tuple[str, int, Any, float]] = []  # (kind, status, body, seconds)
    acked: list[dict] = []
    other: dict[str, int] = {}
    stop = threading.Event()

    def client(k: int, url: str) -> None:
        rng, c, n = random.Random(ctx.seed + k), Client(url, 10.0), 0
        try:
            while not stop.is_set():
                n += 1
                kind = KINDS[(n // p["reject_every"] + k) % len(KINDS)] if n % p["reject_every"] == 0 else ""
                body = refused_order(kind, rng) if kind else random_order(rng)
                s0 = time.monotonic()
                try:
                    status, out, _ = c.call("POST", "/orders", body)
                except (OSError, http.client.HTTPException):
                    status, out = 0, None
                took = time.monotonic() - s0
                with lock:
                    if kind:
                        refusals.append((kind, status, out, took))
                    elif status == 201:
                        acked.append(out)
                    else:
                        other[str(status)] = other.get(str(status), 0) + 1
        finally:
            c.close()

    with scenario_store("sqlite", ctx.work) as db, service.running(ctx.work, system=ctx.system, what=ctx.name, db=db) as handles:
        threads = [threading.Thread(target=client, args=(k, handles[0].url), daemon=True)
                   for k in range(max(1, int(p["threads"] * ctx.intensity)))]
        for t in threads:
            t.start()
        time.sleep(p["duration_s"])
        stop.set()
        for t in threads:
            t.join(15)
        view = read_store(db)
    wrong, not_stored, by_kind = 0, 0, {k: 0 for k in KINDS}
    examples: dict[str, str] = {}
    for kind, status, out, _ in refusals:
        by_kind[kind] += 1
        ok = (status == 422 and isinstance(out, dict) and out.get("reject_code") == kind and bool(out.get("reason")))
        wrong += not ok
        if ok:
            examples.setdefault(kind, out["reason"])
            if view.outcome.get(int(out["order_id"])) != ("rejected", out["reason"]):
                not_stored += 1
    lost = sum(1 for o in acked if int(o["order_id"]) not in view.orders)
    errors = sum(v for k, v in other.items() if k == "0" or k.startswith("5")) + sum(
        1 for _, s, _, _ in refusals if s == 0 or s >= 500)
    requests = len(refusals) + len(acked) + sum(other.values())
    lat = np.array([s for *_, s in refusals])
    m.add("wrong_answer_pct", pct(wrong, len(refusals)), samples=len(refusals))
    m.add("rejections_not_stored_pct", pct(not_stored, len(refusals) - wrong), samples=len(refusals) - wrong)
    m.add("server_errors_pct", pct(errors, requests), samples=requests)
    m.add("orders_lost_pct", pct(lost, len(acked)), samples=len(acked))
    m.add("reject_p99_ms", 1e3 * float(np.percentile(lat, 99)) if len(lat) else None, samples=len(lat),
          invalid_reason="" if len(lat) >= 1000 else f"{len(lat)} refusals: too few for a p99")
    return scenario_result(ctx, m, description="orders the engine must refuse, among valid ones", params=p,
                           calls=requests, errors=errors, duration_s=time.monotonic() - t0,
                           info={"refusals_by_kind": by_kind, "acked": len(acked), "other_statuses": other,
                                 "wrong": wrong, "not_stored": not_stored, "lost": lost, "reasons": examples})
