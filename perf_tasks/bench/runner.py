"""Benchmark runner in the spirit of pyperf: fresh worker processes, warmups, single-call timing.

A benchmark names a *factory* ``module:function``. Each worker process
(:mod:`perf_tasks.bench.worker`) calls ``factory(**params)`` once (setup, not timed) and times the
zero-argument callable it returns, one call per observation. The callable may carry
``items_per_call`` (e.g. 1,000 ticks per call), ``info`` (a small dict recorded with the result,
e.g. the torch device) and ``close()`` for cleanup.

What the numbers mean (DESIGN.md, measurement contract):

- ``latency_pNN_ms`` are percentiles of single calls, with their sample count. When a call handles
  several items, that call's latency is what each of its items experienced.
- ``calls_per_observation: N`` (for operations shorter than the clock can time alone) makes an
  observation a batch of N calls; its percentiles are ``batch_latency_pNN_ms``, never per call.
- ``latency_mean_per_item_ms`` = timed wall time / items: an amortised mean, not a percentile.
- ``throughput_per_s`` = items completed / wall time of the timed calls.

The profile sets the number of processes (run one after another, never at once: they would slow
each other), warmups per process and the observation and time bounds; observations of all
processes are pooled and each process's mean is kept, so the spread includes what differs between
processes. The psutil sampler runs here, in the parent, watching the worker's pid.
"""
from __future__ import annotations

import dataclasses
import importlib
import json
import logging
import math
import os
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from perf_tasks.stats import required_samples, summarize
from perf_tasks.config import BENCHMARK_METRICS, BenchmarkConfig, ProfileConfig
from perf_tasks.errors import ConfigError
from perf_tasks.monitor.sampler import IoTotals, ResourceSampler, Sample, SamplerOutput, summarize_samples
from perf_tasks.regress.keys import params_digest
from perf_tasks.results import BenchmarkResult, Metric, Target

log = logging.getLogger(__name__)

#: Seconds a worker may spend importing and setting up, on top of its timing bound.
SETUP_ALLOWANCE_S = 600.0


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


@dataclass(frozen=True)
class WorkerOutput:
    """What one worker process returned (see perf_tasks.bench.worker for the protocol)."""

    observation_s: tuple[float, ...]
    calls: int
    errors: int
    error: str | None
    items_per_call: int
    info: dict[str, Any]
    setup_s: float
    series: tuple[Sample, ...]
    io: IoTotals


def _worker_env() -> dict[str, str]:
    """The worker imports what this process can: its sys.path becomes the worker's PYTHONPATH."""
    env = dict(os.environ)
    paths = [p for p in sys.path if p and Path(p).exists()]
    env["PYTHONPATH"] = os.pathsep.join(dict.fromkeys(paths))
    return env


def run_worker(request: dict[str, Any], *, sample_interval_s: float, timeout_s: float,
               key: str = "") -> WorkerOutput:
    """Run one worker process to the end, sampling its resources from here once it starts timing.
    Raises ConfigError when the factory refuses its params; a crashed or hung worker is a
    recorded error, not an exception."""
    with tempfile.TemporaryDirectory(prefix="perf-worker-") as tmp:
        req_path, out_path = Path(tmp) / "request.json", Path(tmp) / "result.json"
        req_path.write_text(json.dumps(request, default=str))
        proc = subprocess.Popen([sys.executable, "-m", "perf_tasks.bench.worker", str(req_path), str(out_path)],
                                stdout=subprocess.PIPE, env=_worker_env(), text=True)
        sampler: list[ResourceSampler] = []

        def watch() -> None:  # start sampling when the worker says it starts timing
            assert proc.stdout is not None
            line = proc.stdout.readline()
            if line.strip() == "timing" and proc.poll() is None:
                try:
                    sampler.append(ResourceSampler(sample_interval_s, pid=proc.pid).start())
                except Exception as exc:  # noqa: BLE001 - process gone between the line and here
                    log.debug("%s: sampler not started: %s", key, exc)
            proc.stdout.read()

        watcher = threading.Thread(target=watch, name="worker-watch", daemon=True)
        watcher.start()
        timed_out = False
        try:
            rc = proc.wait(timeout=timeout_s)
        except subprocess.TimeoutExpired:
            timed_out = True
            proc.kill()
            rc = proc.wait()
        out = sampler[0].stop() if sampler else None
        watcher.join(timeout=5)
        series = out.series if out else ()
        io = IoTotals(out.summary.disk_read_bytes, out.summary.disk_write_bytes, out.summary.net_sent_bytes,
                      out.summary.net_recv_bytes) if out else IoTotals()
        if timed_out or not out_path.exists():
            why = (f"worker timed out after {timeout_s:.0f} s and was killed" if timed_out
                   else f"worker process exited with code {rc} before writing its result (crashed?)")
            return WorkerOutput((), 0, 1, why, 1, {}, 0.0, series, io)
        data = json.loads(out_path.read_text())
    if data.get("config_error"):
        raise ConfigError(data["config_error"])
    if data.get("traceback"):
        log.error("benchmark %s failed in worker pid %s: %s\n%s", key, data.get("pid"), data["error"], data["traceback"])
    return WorkerOutput(tuple(float(v) for v in data["observation_s"]), int(data["calls"]), int(data["errors"]),
                        data.get("error"), int(data["items_per_call"]), dict(data.get("info") or {}),
                        float(data.get("setup_s") or 0.0), series, io)


def other_cpu_pct(system_cpu_pct: float, process_cpu_pct: float, cpus: int | None = None) -> float:
    """Share of the host's CPUs (0-100 %) used by processes other than the worker: the machine's
    busy share minus the worker's (psutil gives the worker's in % of one CPU)."""
    n = cpus or os.cpu_count() or 1
    return max(0.0, system_cpu_pct - process_cpu_pct / n)


def _metrics(key: str, values: dict[str, tuple[float, int | None]], targets: dict[str, Target]) -> tuple[Metric, ...]:
    out = []
    for name, (value, samples) in values.items():
        unit, direction = BENCHMARK_METRICS[name]
        out.append(Metric(name=f"{key}.{name}", value=float(value), unit=unit, direction=direction,
                          target=targets.get(name), samples=samples))
    return tuple(out)


def _merge_series(outputs: list[WorkerOutput]) -> tuple[tuple[Sample, ...], IoTotals]:
    series: list[Sample] = []
    offset = 0.0
    io = IoTotals()
    for w in outputs:
        series.extend(Sample(s.t_s + offset, s.process_cpu_pct, s.rss_bytes, s.system_cpu_pct, s.system_memory_pct)
                      for s in w.series)
        if w.series:
            offset += w.series[-1].t_s
        io = IoTotals(io.disk_read_bytes + w.io.disk_read_bytes, io.disk_write_bytes + w.io.disk_write_bytes,
                      io.net_sent_bytes + w.io.net_sent_bytes, io.net_recv_bytes + w.io.net_recv_bytes)
    return tuple(series), io


@dataclass(frozen=True)
class BenchmarkPlan:
    """One benchmark, ready to run: what each of its worker processes is asked to do."""

    suite: str
    name: str
    cfg: BenchmarkConfig
    params: dict[str, Any]
    targets: dict[str, Target]
    request: dict[str, Any]
    source: str

    @property
    def key(self) -> str:
        return f"{self.suite}.{self.name}"


def plan_benchmark(suite: str, name: str, cfg: BenchmarkConfig, profile: ProfileConfig, profile_name: str, *,
                   source: str = "") -> BenchmarkPlan:
    """Check the callable imports and split the profile's bounds over its processes.

    A benchmark whose targets need no tail samples (throughput, means, a max) is bounded by time
    only: it does not chase ``min_observations`` up to the hard limit (a 1 s training step would
    otherwise take the whole hard limit for nothing a verdict needs)."""
    params = cfg.params_for(profile_name)
    resolve_callable(cfg.callable, source=f"{source}: suites.{suite}.benchmarks.{name}.callable")
    targets = {m: Target(max=t.max, min=t.min, severity=t.severity, source=t.origin or source, warning=t.warning)
               for m, t in cfg.targets.items()}
    procs = profile.processes
    needed = max((required_samples(m) for m in cfg.targets), default=1)
    min_obs = profile.min_observations if needed > 1 else 1
    max_s = profile.max_benchmark_s / procs
    request = {"callable": cfg.callable, "params": params, "calls_per_observation": cfg.calls_per_observation,
               "warmups": profile.warmups, "min_observations": math.ceil(min_obs / procs),
               "max_observations": math.ceil(profile.max_observations / procs), "max_s": max_s,
               "hard_s": max_s * profile.hard_limit_factor}
    return BenchmarkPlan(suite, name, cfg, params, targets, request, source)


def _run_process(plan: BenchmarkPlan, profile: ProfileConfig, index: int) -> WorkerOutput:
    try:
        w = run_worker(plan.request, sample_interval_s=profile.sample_interval_s,
                       timeout_s=plan.request["hard_s"] + SETUP_ALLOWANCE_S, key=plan.key)
    except ConfigError as exc:
        raise ConfigError(f"{plan.source}: suites.{plan.suite}.benchmarks.{plan.name}.params: {exc}") from None
    log.debug("%s process %d/%d: %d observations, setup %.2f s%s", plan.key, index + 1, profile.processes,
              len(w.observation_s), w.setup_s, f", error {w.error}" if w.error else "")
    return w


def run_benchmarks(plans: list[BenchmarkPlan], profile: ProfileConfig, *, rng: np.random.Generator,
                   clock: Callable[[], float] = time.perf_counter) -> list[BenchmarkRun]:
    """Measure several benchmarks in interleaved passes: pass i runs worker process i of every
    benchmark, one after another. So a transient slowdown of the host (another tenant, a frequency
    change) lands in one process of many benchmarks, where the two-level comparison sees it as
    between-process variance, rather than in every process of one benchmark, where it looks like
    a change of that benchmark (measured: back-to-back smoke runs, see the README)."""
    outputs: dict[str, list[WorkerOutput]] = {p.key: [] for p in plans}
    spent: dict[str, float] = {p.key: 0.0 for p in plans}
    try:
        for i in range(profile.processes):
            if len(plans) > 1 or profile.processes > 1:
                log.info("pass %d/%d over %d benchmark(s)", i + 1, profile.processes, len(plans))
            for plan in plans:
                t0 = clock()
                outputs[plan.key].append(_run_process(plan, profile, i))
                spent[plan.key] += clock() - t0
    except KeyboardInterrupt:  # keep every finished worker process's observations
        done = []
        for plan in plans:
            if outputs[plan.key]:
                run = assemble(plan, outputs[plan.key], profile, rng=rng, duration_s=spent[plan.key])
                note = f"interrupted: {len(outputs[plan.key])} of {profile.processes} worker processes ran"
                result = dataclasses.replace(run.result, info={**run.result.info, "interrupted": note})
                done.append(dataclasses.replace(run, result=result))
        raise InterruptedRun(done) from None
    return [assemble(plan, outputs[plan.key], profile, rng=rng, duration_s=spent[plan.key]) for plan in plans]


class InterruptedRun(KeyboardInterrupt):
    """Ctrl-C (SIGINT) during :func:`run_benchmarks`: ``runs`` holds what the finished worker
    processes measured (benchmarks with at least one), so the caller can keep it."""

    def __init__(self, runs: list[BenchmarkRun]) -> None:
        super().__init__(f"interrupted; {len(runs)} benchmark(s) have finished worker processes")
        self.runs = runs


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
    """Measure one benchmark in ``profile.processes`` fresh worker processes, one after another.
    A call that raises stops that process's measurement and is recorded in the result (``errors``,
    ``error``); the benchmark's other processes still run. Raises ConfigError only for a factory
    that cannot be imported or refuses its params."""
    plan = plan_benchmark(suite, name, cfg, profile, profile_name, source=source)
    return run_benchmarks([plan], profile, rng=rng, clock=clock)[0]


def assemble(plan: BenchmarkPlan, outputs: list[WorkerOutput], profile: ProfileConfig, *,
             rng: np.random.Generator, duration_s: float) -> BenchmarkRun:
    """One benchmark's result from its worker processes' outputs (observations pooled in process
    order, each process's mean kept)."""
    key, cfg, cpo = plan.key, plan.cfg, plan.cfg.calls_per_observation
    suite, name, params, targets = plan.suite, plan.name, plan.params, plan.targets

    obs = [v for w in outputs for v in w.observation_s]
    owner = [i for i, w in enumerate(outputs) for _ in w.observation_s]
    means = tuple(float(np.mean(w.observation_s)) for w in outputs if w.observation_s)
    items_per_call = outputs[0].items_per_call if outputs else 1
    calls = sum(w.calls for w in outputs)
    errors = sum(w.errors for w in outputs)
    first_error = next((w.error for w in outputs if w.error), None)
    info = next((w.info for w in outputs if w.info), {})
    series, io = _merge_series(outputs)
    res = summarize_samples(series, profile.sample_interval_s, io)
    timed_s = float(sum(obs))
    items = len(obs) * cpo * items_per_call
    resource_values: dict[str, tuple[float, int | None]] = {
        "rss_max_bytes": (res.rss_max_bytes, None), "process_cpu_pct_mean": (res.process_cpu_pct_mean, None),
        "system_memory_pct_max": (res.system_memory_pct_max, None),
        "other_cpu_pct_mean": (other_cpu_pct(res.system_cpu_pct_mean, res.process_cpu_pct_mean), None)}
    error_rate = 100.0 * errors / max(calls, 1)
    if obs and first_error is None:
        stats = summarize(obs, rng)
        n = stats.n
        prefix = "latency" if cpo == 1 else "batch_latency"
        values: dict[str, tuple[float, int | None]] = {
            f"{prefix}_p50_ms": (stats.median * 1e3, n), f"{prefix}_mean_ms": (stats.mean * 1e3, n),
            f"{prefix}_p95_ms": (stats.p95 * 1e3, n), f"{prefix}_p99_ms": (stats.p99 * 1e3, n),
            f"{prefix}_max_ms": (stats.max * 1e3, n),
            "latency_mean_per_item_ms": (timed_s / items * 1e3, n),
            "throughput_per_s": (items / timed_s if timed_s > 0 else 0.0, n),
            "error_rate_pct": (error_rate, None), **resource_values}
        metrics = _metrics(key, values, targets)
    else:
        stats = None
        metrics = _metrics(key, {"error_rate_pct": (error_rate, None)}, targets)
    result = BenchmarkResult(
        suite=suite, name=name, callable=cfg.callable, params=params, items_per_call=items_per_call,
        item_unit=cfg.item_unit, warmups=profile.warmups, calls_per_observation=cpo, observation_s=tuple(obs),
        latency_s=stats, metrics=metrics, resources=res, calls=calls, errors=errors, error=first_error,
        duration_s=duration_s, info=info, observation_process=tuple(owner), process_means_s=means, timed_s=timed_s,
        items=items, params_digest=params_digest(cfg.callable, params, cpo))
    log.info("benchmark %s: %d observations in %d processes (%s), p50 %.4g ms, p95 %.4g ms, %.4g %s/s%s", key,
             len(obs), len(outputs), "1 call each" if cpo == 1 else f"{cpo} calls each",
             (stats.median * 1e3) if stats else float("nan"), (stats.p95 * 1e3) if stats else float("nan"),
             (items / timed_s) if timed_s > 0 else 0.0, cfg.item_unit, f" ERROR {first_error}" if first_error else "")
    return BenchmarkRun(result=result, resources=SamplerOutput(summary=res, series=series))
