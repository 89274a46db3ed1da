"""Soak mode (spec §3.3 "memory leaks"): the service under a steady order flow for a while, its
resident memory (RSS of the whole process tree) sampled, and the trend judged.

:func:`rss_trend` fits ``rss = a + b t`` by least squares (``scipy.stats.linregress``) over the
samples after a warm-up share (start-up allocations, caches filling), and gives the slope in MB/h
with a one-sided lower confidence bound (Student's t on the slope's standard error). A leak is
flagged only when that lower bound is above ``leak_mb_per_h``: the growth is both real (not noise)
and large. A run shorter than ``min_judged_s`` cannot tell a slow leak from allocator noise: its
slope metric is recorded as *invalid* (never a pass).

Metrics (bytes: the validator's units): ``rss_growth_per_h_bytes`` (the slope),
``rss_growth_per_h_low_bytes`` (its lower bound; the target goes on this one), ``rss_growth_bytes``
(fitted growth over the judged samples), ``rss_max_bytes``; a shrinking RSS is recorded as 0 with
the signed slope in ``info``, with ``leak_flagged`` and the orders acknowledged.
"""
from __future__ import annotations

import logging
import math
import threading
import time
from dataclasses import dataclass
from typing import Any

import numpy as np
import psutil
from scipy import stats

from perf_tasks.results import BenchmarkResult
from perf_tasks.stress import service
from perf_tasks.stress.base import StressContext
from perf_tasks.stress.databases import scenario_store
from perf_tasks.stress.orders import Ledger, OrderFlow
from perf_tasks.stress.outcome import Metrics, params_for, scenario_result

log = logging.getLogger(__name__)
MB = 1024.0 * 1024.0

DEFAULTS = {
    "smoke": {"soak_s": 6.0, "sample_s": 0.1, "warmup_share": 0.25, "threads": 2, "pause_s": 0.002,
              "leak_mb_per_h": 50.0, "confidence": 0.95, "min_judged_s": 600.0},
    "standard": {"soak_s": 300.0, "sample_s": 1.0, "warmup_share": 0.2, "threads": 2, "pause_s": 0.002,
                 "leak_mb_per_h": 50.0, "confidence": 0.95, "min_judged_s": 180.0},
    "full": {"soak_s": 8 * 3600.0, "sample_s": 10.0, "warmup_share": 0.05, "threads": 4, "pause_s": 0.001,
             "leak_mb_per_h": 10.0, "confidence": 0.95, "min_judged_s": 600.0},
}


@dataclass(frozen=True)
class Trend:
    slope_mb_per_h: float
    slope_low_mb_per_h: float  # one-sided lower confidence bound
    growth_mb: float  # fitted growth over the judged samples
    n: int
    r2: float
    span_s: float


def rss_trend(t_s: np.ndarray, rss_bytes: np.ndarray, *, warmup_share: float = 0.2,
              confidence: float = 0.95) -> Trend:
    """The RSS trend after the first ``warmup_share`` of the samples (see the module docstring).
    Needs at least 3 judged samples with distinct times (ValueError otherwise)."""
    t_s, rss = np.asarray(t_s, dtype=float), np.asarray(rss_bytes, dtype=float)
    if t_s.shape != rss.shape:
        raise ValueError(f"times {t_s.shape} and RSS samples {rss.shape} differ in shape")
    if not 0 <= warmup_share < 1:
        raise ValueError(f"warmup_share must be in [0, 1), got {warmup_share!r}")
    k = int(len(t_s) * warmup_share)
    t, y = t_s[k:], rss[k:] / MB
    if len(t) < 3 or np.ptp(t) <= 0:
        raise ValueError(f"need >= 3 samples over a positive time span after the warm-up, got {len(t)}")
    fit = stats.linregress(t, y)
    per_h = 3600.0
    tq = stats.t.ppf(confidence, len(t) - 2)
    slope, se = fit.slope * per_h, fit.stderr * per_h
    return Trend(float(slope), float(slope - tq * se), float(fit.slope * np.ptp(t)), len(t),
                 float(fit.rvalue ** 2) if math.isfinite(fit.rvalue) else 0.0, float(np.ptp(t)))


def tree_rss(pid: int) -> int:
    """RSS of ``pid`` and its children, bytes (a vanished child counts 0)."""
    total = 0
    try:
        root = psutil.Process(pid)
        procs = [root, *root.children(recursive=True)]
    except psutil.NoSuchProcess:
        return 0
    for p in procs:
        try:
            total += p.memory_info().rss
        except psutil.NoSuchProcess:
            continue
    return total


def soak(ctx: StressContext) -> BenchmarkResult:
    p = params_for(ctx, DEFAULTS)
    m = Metrics(ctx)
    t_start = time.monotonic()
    ledger = Ledger()
    times: list[float] = []
    rss: list[int] = []
    with scenario_store("sqlite", ctx.work) as db, service.running(ctx.work, system=ctx.system, what=ctx.name, db=db) as handles:
        pid = handles[0].pid
        assert pid is not None
        flow = OrderFlow(handles[0].url, ledger, threads=p["threads"], seed=ctx.seed, pause_s=p["pause_s"],
                         max_orders=10**9).start()
        stop = threading.Event()
        t0 = time.monotonic()
        try:
            while time.monotonic() - t0 < p["soak_s"] * ctx.intensity and not stop.is_set():
                times.append(time.monotonic() - t0)
                rss.append(tree_rss(pid))
                stop.wait(p["sample_s"])
        finally:
            flow.stop()
    trend = rss_trend(np.array(times), np.array(rss), warmup_share=p["warmup_share"], confidence=p["confidence"])
    short = "" if trend.span_s >= p["min_judged_s"] else (
        f"a soak of {trend.span_s:.0f} s (after warm-up) is too short to tell a leak from allocator noise "
        f"(judged from {p['min_judged_s']:.0f} s)")
    m.add("rss_growth_per_h_bytes", max(0.0, trend.slope_mb_per_h * MB), samples=trend.n, invalid_reason=short)
    m.add("rss_growth_per_h_low_bytes", max(0.0, trend.slope_low_mb_per_h * MB), samples=trend.n,
          invalid_reason=short)
    m.add("rss_growth_bytes", max(0.0, trend.growth_mb * MB), samples=trend.n)
    m.add("rss_max_bytes", float(max(rss)) if rss else None, samples=len(rss))
    flagged = trend.slope_low_mb_per_h > p["leak_mb_per_h"]
    info: dict[str, Any] = {"slope_mb_per_h": round(trend.slope_mb_per_h, 3),
                            "slope_low_mb_per_h": round(trend.slope_low_mb_per_h, 3), "leak_flagged": flagged,
                            "r2": round(trend.r2, 4), "span_s": round(trend.span_s, 1), "samples": len(rss),
                            "leak_mb_per_h": p["leak_mb_per_h"], "acked": len(ledger.acked),
                            "statuses": dict(ledger.statuses)}
    if short:
        info["invalid_reason"] = short
    return scenario_result(ctx, m, description="RSS trend under a steady order flow", params=p,
                           calls=ledger.requests, errors=ledger.count("no answer"),
                           duration_s=time.monotonic() - t_start, info=info)
