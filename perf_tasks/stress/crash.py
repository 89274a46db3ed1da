"""Trading-specific stress (spec §3.1): a market crash through the pipeline, and an order flood.

``market_crash``: for each (shock, volume) pair (default -20 %/5x, -30 %/10x, -50 %/20x; the
trigger's ``intensity`` scales the shock), ``simulate()`` of the system's ``workloads.crash`` module
pushes a seeded session through ticks -> features -> risk -> alerts -> orders. Per pair (``s<shock>_...``):
``record_p99_ms`` (one record through validation and features), ``check_p99_ms`` (one full limit
check), ``order_p99_ms`` and ``order_max_ms`` (one de-risking order through the engine; a crash
sends tens of orders, so the target is on the slowest), ``breaches_per_s`` (limit
breaches raised per second of crash), ``alert_s`` (feed seconds from the crash start to the first CRITICAL
alert), and VaR accuracy under stress against a reference computed here with plain numpy on the
same stressed returns: ``var_hist_err_pct`` (historical VaR vs an independent order-statistic
quantile), ``var_mc_err_pct`` (Monte Carlo VaR vs an independent 400k-scenario eigen-decomposition
simulation), and ``loss_over_var_pct`` (the crash day's loss as a percentage of the VaR the day
before: how far outside the model the crash fell; informative, no target).

``order_flood``: many clients post orders back to back to a service on SQLite; the no-loss rule
(every 201 stored exactly once, every 422 stored as rejected, the portfolio equal to the store),
latency of acknowledged orders and the acknowledged rate. One order in ``reject_every`` is over
the engine's size limit: refused with 422 and its reason, never lost.
"""
from __future__ import annotations

import importlib
import logging
import math
import time
from typing import Any

import numpy as np

from perf_tasks.results import BenchmarkResult
from perf_tasks.stress import service
from perf_tasks.errors import ConfigError
from perf_tasks.stress.base import StressContext, require_system
from perf_tasks.system import NotApplicableError
from perf_tasks.stress.databases import scenario_store
from perf_tasks.stress.orders import ACCOUNTS, Ledger, OrderFlow, audit, fetch_portfolios, random_order, read_store
from perf_tasks.stress.outcome import Metrics, params_for, pct, scenario_result

log = logging.getLogger(__name__)

CRASH_DEFAULTS = {
    "smoke": {"n_symbols": 10, "normal_s": 40, "crash_s": 15, "mc_scenarios": 20_000},
    "standard": {"n_symbols": 20, "normal_s": 300, "crash_s": 60, "mc_scenarios": 100_000},
    "full": {"n_symbols": 50, "normal_s": 3600, "crash_s": 600, "mc_scenarios": 1_000_000},
}
SHOCKS = ((-20.0, 5), (-30.0, 10), (-50.0, 20))


def reference_historical_var(returns: np.ndarray, weights: np.ndarray, value: float, confidence: float) -> float:
    """Loss quantile by explicit order statistics (linear interpolation between the two nearest),
    written independently of numpy's quantile."""
    losses = np.sort(-(np.exp(returns) - 1.0) @ weights * value)[::-1]  # largest loss first
    pnl = -losses  # ascending P&L
    h = (len(pnl) - 1) * (1.0 - confidence)
    lo = math.floor(h)
    hi = min(lo + 1, len(pnl) - 1)
    return float(-(pnl[lo] + (h - lo) * (pnl[hi] - pnl[lo])))


def reference_mc_var(returns: np.ndarray, weights: np.ndarray, value: float, confidence: float, *,
                     n: int = 400_000, seed: int = 99) -> float:
    """Gaussian scenarios of the window's mean and covariance by eigen-decomposition (not
    Cholesky), another generator and seed, revalued with simple returns."""
    mu, cov = returns.mean(axis=0), np.cov(returns, rowvar=False)
    vals, vecs = np.linalg.eigh(cov)
    root = vecs * np.sqrt(np.clip(vals, 0.0, None))
    z = np.random.Generator(np.random.MT19937(seed)).standard_normal((n, len(mu)))
    pnl = np.expm1(mu + z @ root.T) @ weights * value
    return float(-np.quantile(pnl, 1.0 - confidence))


def market_crash(ctx: StressContext) -> BenchmarkResult:
    p = params_for(ctx, CRASH_DEFAULTS)
    system = require_system(ctx, ctx.name)
    workload = system.definition.workloads.crash
    if workload is None:
        raise NotApplicableError(f"{ctx.name} is not applicable to system {system.name!r}: "
                                 f"{system.source}.workloads.crash is not set (a module whose simulate() it runs)")
    try:
        crash = importlib.import_module(workload)
    except ImportError as exc:
        raise ConfigError(f"{system.source}.workloads.crash: cannot import {workload!r}: {exc}") from None
    m = Metrics(ctx)
    t0 = time.monotonic()
    info: dict[str, Any] = {}
    records = 0
    shocks = [tuple(x) for x in ctx.config.get("shocks", SHOCKS)]
    for shock, mult in shocks:
        shock = max(-95.0, shock * ctx.intensity)
        tag = f"s{abs(int(round(shock)))}"
        run = crash.simulate(shock, int(mult), n_symbols=p["n_symbols"], normal_s=p["normal_s"],
                             crash_s=p["crash_s"], seed=ctx.seed)
        records += run.records
        m.add(f"{tag}_record_p99_ms", 1e3 * float(np.percentile(run.record_latency_s, 99)),
              samples=len(run.record_latency_s))
        m.add(f"{tag}_check_p99_ms", 1e3 * float(np.percentile(run.check_latency_s, 99)),
              samples=len(run.check_latency_s),
              invalid_reason="" if len(run.check_latency_s) >= 100 else
              f"{len(run.check_latency_s)} checks: too few for a p99")
        m.add(f"{tag}_order_p99_ms", 1e3 * float(np.percentile(run.order_latency_s, 99)) if run.orders else None,
              samples=run.orders, no_data_reason="no de-risking order was sent" if not run.orders else "")
        # a crash sends tens of orders, too few to judge a p99: the slowest one carries the target
        m.add(f"{tag}_order_max_ms", 1e3 * float(run.order_latency_s.max()) if run.orders else None,
              samples=run.orders, no_data_reason="no de-risking order was sent" if not run.orders else "")
        m.add(f"{tag}_breaches_per_s", run.breaches_crash / p["crash_s"], "higher", samples=p["crash_s"])
        m.add(f"{tag}_alert_s", run.first_critical_after_s, samples=1,
              no_data_reason="" if run.first_critical_after_s is not None else "no CRITICAL alert during the crash")
        sv = crash.stressed_var(shock, n_symbols=p["n_symbols"], seed=ctx.seed, mc_scenarios=p["mc_scenarios"])
        ref_h = reference_historical_var(sv.returns, sv.weights, sv.value, sv.confidence)
        ref_mc = reference_mc_var(sv.returns, sv.weights, sv.value, sv.confidence)
        m.add(f"{tag}_var_hist_err_pct", 100.0 * abs(sv.historical - ref_h) / ref_h, samples=len(sv.returns))
        m.add(f"{tag}_var_mc_err_pct", 100.0 * abs(sv.monte_carlo - ref_mc) / ref_mc, samples=p["mc_scenarios"])
        m.add(f"{tag}_loss_over_var_pct", pct(sv.crash_loss, sv.pre_crash_historical), samples=1)
        info[tag] = {"shock_pct": shock, "volume_mult": mult, "records": run.records,
                     "rejected_records": run.records_rejected, "breaches_before_crash": run.breaches_normal,
                     "breaches_during_crash": run.breaches_crash,
                     "breach_names": run.breach_names, "alerts_critical": run.alerts_critical,
                     "alert_wall_ms": run.first_critical_wall_ms, "orders": run.orders,
                     "orders_filled": run.orders_filled, "orders_rejected": run.orders_rejected,
                     "drawdown_pct": round(run.drawdown_pct, 2), "var_historical": round(sv.historical, 2),
                     "var_parametric": round(sv.parametric, 2), "var_monte_carlo": round(sv.monte_carlo, 2),
                     "var_reference_historical": round(ref_h, 2), "var_reference_mc": round(ref_mc, 2),
                     "var_before_crash": round(sv.pre_crash_historical, 2), "crash_loss": round(sv.crash_loss, 2),
                     "elapsed_s": round(run.elapsed_s, 3)}
    return scenario_result(ctx, m, description="market crash through ticks -> features -> risk -> orders",
                           params={**p, "shocks": [list(s) for s in shocks]}, calls=records, errors=0,
                           duration_s=time.monotonic() - t0, info=info)


FLOOD_DEFAULTS = {
    "smoke": {"flood_s": 2.0, "threads": 8, "max_orders": 20_000, "reject_every": 20},
    "standard": {"flood_s": 20.0, "threads": 16, "max_orders": 500_000, "reject_every": 20},
    "full": {"flood_s": 300.0, "threads": 32, "max_orders": 10_000_000, "reject_every": 20},
}


def order_flood(ctx: StressContext) -> BenchmarkResult:
    p = params_for(ctx, FLOOD_DEFAULTS)
    m = Metrics(ctx)
    t0 = time.monotonic()
    ledger = Ledger()
    counter = {"n": 0}

    def make(rng):  # one in reject_every is over the engine's 10,000-share limit: a 422 with its reason
        counter["n"] += 1
        body = random_order(rng)
        if counter["n"] % p["reject_every"] == 0:
            body["quantity"] = 20_000
        return body

    with scenario_store("sqlite", ctx.work) as db, service.running(ctx.work, system=ctx.system, what=ctx.name, db=db) as handles:
        url = handles[0].url
        known = set(read_store(db).orders)
        flow = OrderFlow(url, ledger, threads=max(1, int(p["threads"] * ctx.intensity)),
                         max_orders=p["max_orders"], seed=ctx.seed, timeout_s=10.0, make_order=make)
        t_flood = time.monotonic()
        flow.start()
        time.sleep(p["flood_s"])
        flow.stop()
        elapsed = time.monotonic() - t_flood
        portfolios = fetch_portfolios(url, ACCOUNTS)
        view = read_store(db)
    a = audit(ledger, view, portfolios, known_before=known)
    lat = np.array(ledger.latencies_s)
    server_errors = ledger.count("no answer") + sum(v for k, v in ledger.statuses.items() if k.startswith("5"))
    m.add("orders_lost_pct", pct(a.lost, a.acked), samples=a.acked)
    m.add("orders_duplicated_pct", pct(a.duplicated, a.acked), samples=a.acked)
    m.add("rejections_lost_pct", pct(a.rejections_lost, len(ledger.rejected)), samples=len(ledger.rejected))
    m.add("rejections_without_reason_pct", pct(ledger.rejections_without_reason, ledger.count("422")),
          samples=ledger.count("422"))
    m.add("portfolio_mismatch_pct", pct(a.portfolio_mismatch, len(portfolios)), samples=len(portfolios))
    m.add("server_errors_pct", pct(server_errors, ledger.requests), samples=ledger.requests)
    m.add("order_p50_ms", 1e3 * float(np.percentile(lat, 50)) if len(lat) else None, samples=len(lat))
    m.add("order_p99_ms", 1e3 * float(np.percentile(lat, 99)) if len(lat) else None, samples=len(lat),
          invalid_reason="" if len(lat) >= 1000 else f"{len(lat)} answers: too few for a p99")
    m.add("acked_per_s", a.acked / elapsed, "higher", samples=a.acked)
    return scenario_result(ctx, m, description="order flood with the no-loss rule", params=p,
                           calls=ledger.requests, errors=server_errors, duration_s=time.monotonic() - t0,
                           info={"statuses": dict(ledger.statuses), "acked": a.acked, "rejected": len(ledger.rejected),
                                 "lost": a.lost, "duplicated": a.duplicated, "rejections_lost": a.rejections_lost,
                                 "portfolio_mismatch": a.portfolio_mismatch,
                                 "audit": list(a.details), "threads": max(1, int(p["threads"] * ctx.intensity))})
