"""Benchmark runner in the spirit of pyperf: warmups, calibrated inner loops, several rounds.

A benchmark names a *factory* ``module:function``. The runner calls ``factory(**params)`` once
(setup, not timed) and gets back the operation to time: a zero-argument callable. The callable
may carry ``items_per_call`` (e.g. 1,000 ticks per call) so latency and throughput are reported
per item, ``info`` (a small dict recorded with the result, e.g. the torch device) and ``close()``
for cleanup.

Each round runs the operation ``loops`` times back to back and records the mean seconds per
call, so fast operations (microseconds) are timed above the clock's resolution. ``loops`` is
calibrated until one round takes at least ``min_round_s``; with ``loops: 1`` in config every
round is one call and the percentiles are those of single calls.
"""
from __future__ import annotations

import importlib
import logging
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from perf_tasks.bench.stats import summarize
from perf_tasks.config import BENCHMARK_METRICS, BenchmarkConfig, ProfileConfig
from perf_tasks.errors import ConfigError
from perf_tasks.monitor.sampler import ResourceSampler, SamplerOutput
from perf_tasks.results import BenchmarkResult, Metric, Target

log = logging.getLogger(__name__)

MAX_LOOPS = 1 << 22


def resolve_callable(spec: str, *, source: str = "") -> Callable[..., Any]:
    """Import ``package.module:function``; errors name the spec and where it came from."""
    where = f"{source}: " if source else ""
    module_name, _, attr = spec.partition(":")
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        raise ConfigError(f"{where}cannot import module {module_name!r} of callable {spec!r}: {exc}") from exc
    try:
        fn = getattr(module, attr)
    except AttributeError:
        raise ConfigError(f"{where}module {module_name!r} has no attribute {attr!r} (callable {spec!r})") from None
    if not callable(fn):
        raise ConfigError(f"{where}{spec!r} is not callable")
    return fn


@dataclass(frozen=True)
class BenchmarkRun:
    result: BenchmarkResult
    resources: SamplerOutput


def _time_loops(op: Callable[[], Any], loops: int, clock: Callable[[], float]) -> float:
    t0 = clock()
    for _ in range(loops):
        op()
    return clock() - t0


def calibrate_loops(op: Callable[[], Any], min_round_s: float, clock: Callable[[], float]) -> int:
    """Smallest power of two of calls that takes at least ``min_round_s`` (capped at MAX_LOOPS)."""
    loops = 1
    while loops < MAX_LOOPS:
        if _time_loops(op, loops, clock) >= min_round_s:
            break
        loops *= 2
    return loops


def _metrics(key: str, latency_ms: dict[str, float], throughput: float, error_rate: float,
             resources: dict[str, float], targets: dict[str, Target]) -> tuple[Metric, ...]:
    values = {**{f"latency_{k}_ms": v for k, v in latency_ms.items()}, "throughput_per_s": throughput,
              "error_rate_pct": error_rate, **resources}
    out = []
    for name, value in values.items():
        unit, direction = BENCHMARK_METRICS[name]
        out.append(Metric(name=f"{key}.{name}", value=float(value), unit=unit, direction=direction,
                          target=targets.get(name)))
    return tuple(out)


def _info(op: Any) -> dict[str, Any]:
    info = getattr(op, "info", None)
    if not isinstance(info, dict):
        return {}
    return {str(k): v if isinstance(v, (str, int, float, bool)) or v is None else str(v) for k, v in info.items()}


def run_benchmark(
    suite: str,
    name: str,
    cfg: BenchmarkConfig,
    profile: ProfileConfig,
    profile_name: str,
    *,
    rng: np.random.Generator,
    clock: Callable[[], float] = time.perf_counter,
    source: str = "",
) -> BenchmarkRun:
    """Set up, warm up, calibrate and time one benchmark. A call that raises stops the benchmark
    and is recorded in the result (``errors``, ``error``); it does not raise here."""
    key = f"{suite}.{name}"
    params = cfg.params_for(profile_name)
    factory = resolve_callable(cfg.callable, source=f"{source}: suites.{suite}.benchmarks.{name}.callable")
    try:
        op = factory(**params)
    except TypeError as exc:
        raise ConfigError(f"{source}: suites.{suite}.benchmarks.{name}.params: {cfg.callable} refused "
                          f"params {params!r}: {exc}") from exc
    if not callable(op):
        raise ConfigError(f"{source}: suites.{suite}.benchmarks.{name}: {cfg.callable} must return a "
                          f"callable (the operation to time), got {type(op).__name__}")
    items = int(getattr(op, "items_per_call", 1))
    if items < 1:
        raise ConfigError(f"{key}: items_per_call must be >= 1, got {items}")
    targets = {m: Target(max=t.max, min=t.min, severity=t.severity, source=source)
               for m, t in cfg.targets.items()}

    sampler = ResourceSampler(profile.sample_interval_s).start()
    t_start = clock()
    rounds: list[float] = []
    calls = errors = 0
    first_error: str | None = None
    loops = cfg.loops or 1
    try:
        for _ in range(profile.warmups):
            calls += 1
            op()
        if cfg.loops is None:
            loops = calibrate_loops(op, profile.min_round_s, clock)
            calls += 2 * loops - 1
        while True:
            dt = _time_loops(op, loops, clock)
            calls += loops
            rounds.append(dt / loops)
            n = len(rounds)
            if n >= profile.max_rounds or (n >= profile.min_rounds and clock() - t_start >= profile.max_benchmark_s):
                break
    except Exception as exc:  # a broken workload is a finding, recorded, not a crash of the suite
        errors += 1
        first_error = f"{type(exc).__name__}: {exc}"
        log.error("benchmark %s failed after %d calls: %s\n%s", key, calls, first_error, traceback.format_exc())
    finally:
        resources = sampler.stop()
        close = getattr(op, "close", None)
        if callable(close):
            close()
    duration = clock() - t_start

    res = resources.summary
    resource_metrics = {"rss_max_bytes": res.rss_max_bytes, "process_cpu_pct_mean": res.process_cpu_pct_mean,
                        "system_memory_pct_max": res.system_memory_pct_max}
    error_rate = 100.0 * errors / max(calls, 1)
    if rounds and first_error is None:
        per_item_s = [r / items for r in rounds]
        stats = summarize(per_item_s, rng)
        latency_ms = {"p50": stats.median * 1e3, "mean": stats.mean * 1e3, "p95": stats.p95 * 1e3,
                      "p99": stats.p99 * 1e3, "max": stats.max * 1e3}
        throughput = items / float(np.median(rounds))
        metrics = _metrics(key, latency_ms, throughput, error_rate, resource_metrics, targets)
    else:
        stats = None
        metrics = (Metric(f"{key}.error_rate_pct", error_rate, "%", "lower", targets.get("error_rate_pct")),)
    result = BenchmarkResult(
        suite=suite, name=name, callable=cfg.callable, params=params, items_per_call=items,
        item_unit=cfg.item_unit, warmups=profile.warmups, loops=loops, round_call_s=tuple(rounds),
        latency_s=stats, metrics=metrics, resources=res, calls=calls, errors=errors,
        error=first_error, duration_s=duration, info=_info(op),
    )
    log.info("benchmark %s: %d rounds x %d loops, p50 %.4g ms/%s, %.4g %s/s%s", key, len(rounds), loops,
             (stats.median * 1e3) if stats else float("nan"), cfg.item_unit,
             (items / float(np.median(rounds))) if rounds else 0.0, cfg.item_unit,
             f" ERROR {first_error}" if first_error else "")
    return BenchmarkRun(result=result, resources=resources)
