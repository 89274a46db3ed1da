"""Synthetic benchmark results with process-clustered observations, for the comparison tests."""
from __future__ import annotations

from typing import Any

import numpy as np

from perf_tasks.stats import summarize
from perf_tasks.results import BenchmarkResult, Metric, RunResults, SuiteResult, Target

FINGERPRINT = {"cpu_model": "CPU A", "cpu_count_logical": 8, "python": "3.11.7", "packages": {"numpy": "2.2.0"}}


def clustered(rng: np.random.Generator, *, processes: int, per_process: int, median_s: float = 1e-3,
              offset_sd: float = 0.03, spread: float = 0.15, slow_share: float = 0.0,
              slow_factor: float = 1.0) -> tuple[np.ndarray, np.ndarray]:
    """Log-normal single-call times; each process shifted by its own offset (``offset_sd``, log
    scale); ``slow_share`` of calls slowed ``slow_factor`` times (a tail). Returns (values, process)."""
    values, owner = [], []
    for p in range(processes):
        x = median_s * np.exp(rng.normal(0.0, offset_sd) + rng.normal(0.0, spread, per_process))
        x[rng.random(per_process) < slow_share] *= slow_factor
        values.append(x)
        owner += [p] * per_process
    return np.concatenate(values), np.asarray(owner)


def bench(values: np.ndarray, process: np.ndarray, *, digest: str = "d1", params: dict[str, Any] | None = None,
          info: dict[str, Any] | None = None, name: str = "mc") -> BenchmarkResult:
    """A result whose metrics are computed from ``values`` (seconds per call) as the runner does."""
    stats = summarize(values, np.random.default_rng(0))
    n = stats.n
    ms = {"latency_p50_ms": stats.median, "latency_mean_ms": stats.mean, "latency_p95_ms": stats.p95,
          "latency_p99_ms": stats.p99, "latency_max_ms": stats.max}
    metrics = [Metric(f"risk.{name}.{k}", v * 1e3, "ms", "lower", samples=n) for k, v in ms.items()]
    metrics[0] = Metric(f"risk.{name}.latency_p50_ms", stats.median * 1e3, "ms", "lower",
                        Target(max=5000, source="cfg"), samples=n)
    metrics.append(Metric(f"risk.{name}.throughput_per_s", n / float(values.sum()), "1/s", "higher", samples=n))
    means = tuple(float(values[process == p].mean()) for p in dict.fromkeys(process.tolist()))
    return BenchmarkResult(
        suite="risk", name=name, callable="m:f", params=params or {"n": 1}, items_per_call=1, item_unit="call",
        warmups=1, calls_per_observation=1, observation_s=tuple(values.tolist()), latency_s=stats,
        metrics=tuple(metrics), resources=None, calls=n, errors=0, info=info or {"device": "cpu"},
        observation_process=tuple(int(p) for p in process), process_means_s=means, timed_s=float(values.sum()),
        items=n, params_digest=digest)


def run(run_id: str, *benches: BenchmarkResult, profile: str = "standard",
        fingerprint: dict[str, Any] | None = None) -> RunResults:
    return RunResults(dag_id="perf_daily", run_id=run_id, profile=profile, started_at="t",
                      fingerprint=fingerprint or FINGERPRINT,
                      suites=(SuiteResult("risk", profile, "a", "b", tuple(benches)),))
