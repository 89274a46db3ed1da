"""Compare a run to its baseline run. Pure functions; the baseline is found in the artifact store
by :func:`perf_tasks.pipeline.compare_to_baseline` (a promoted baseline, else the previous run).

A metric is a regression only with both magnitude (worse than ``threshold_pct`` in its bad
direction) and, where both runs kept raw per-round samples, significance (Mann-Whitney U
p < ``alpha``). Improvements are the mirror image. Mismatched environments are flagged, naming
both values."""
from __future__ import annotations

import fnmatch
from typing import Literal

import numpy as np

from perf_tasks.monitor.fingerprint import mismatches
from perf_tasks.regress.samples import compare_samples
from perf_tasks.results import BenchmarkResult, Comparison, MetricChange, RunResults

#: Metrics whose values are a statistic of the per-round samples (so the rounds can be tested).
_SAMPLE_METRICS = ("latency_p50_ms", "latency_mean_ms", "latency_p95_ms", "latency_p99_ms", "latency_max_ms",
                   "throughput_per_s")


def _benchmarks(run: RunResults) -> dict[str, BenchmarkResult]:
    return {b.key: b for s in run.suites for b in s.benchmarks}


def compare(current: RunResults, baseline: RunResults, *, threshold_pct: float, metric_globs: list[str],
            alpha: float = 0.01, baseline_kind: Literal["promoted", "previous"] = "previous",
            overrides: dict[str, float] | None = None, seed: int = 0) -> Comparison:
    """``overrides`` maps metric globs to their own threshold (percent)."""
    base = {m.name: m for m in baseline.metrics()}
    cur_b, base_b = _benchmarks(current), _benchmarks(baseline)
    rng = np.random.default_rng(seed)
    tests: dict[str, object] = {}
    changes = []
    for m in current.metrics():
        if not any(fnmatch.fnmatchcase(m.name, g) for g in metric_globs):
            continue
        b = base.get(m.name)
        if b is None or b.value == 0:
            continue
        change = (m.value - b.value) / abs(b.value) * 100.0
        limit = next((pct for g, pct in (overrides or {}).items() if fnmatch.fnmatchcase(m.name, g)), threshold_pct)
        worse = change > limit if m.direction == "lower" else change < -limit
        better = change < -limit if m.direction == "lower" else change > limit
        key, _, short = m.name.rpartition(".")
        pvalue = ci_low = ci_high = None
        if short in _SAMPLE_METRICS and key in cur_b and key in base_b:
            rc, rb = cur_b[key].round_call_s, base_b[key].round_call_s
            if len(rc) >= 2 and len(rb) >= 2:
                if key not in tests:
                    tests[key] = compare_samples(np.asarray(rb) / base_b[key].items_per_call,
                                                 np.asarray(rc) / cur_b[key].items_per_call, rng)
                t = tests[key]
                pvalue = t.pvalue  # type: ignore[attr-defined]
                ci_low, ci_high = t.ci_low, t.ci_high  # type: ignore[attr-defined]
                if short == "throughput_per_s":  # throughput is the inverse of time per item
                    ci_low, ci_high = 1.0 / ci_high, 1.0 / ci_low
                significant = pvalue < alpha
                worse, better = worse and significant, better and significant
        status = "regression" if worse else "improvement" if better else "unchanged"
        changes.append(MetricChange(metric=m.name, unit=m.unit, direction=m.direction, baseline=b.value,
                                    current=m.value, change_pct=change, status=status, pvalue=pvalue,
                                    ratio_ci_low=ci_low, ratio_ci_high=ci_high))
    diff = tuple(mismatches(current.fingerprint, baseline.fingerprint))
    note = ("environment differs from the baseline's: " + "; ".join(diff)) if diff else ""
    return Comparison(run_id=current.run_id, baseline_run_id=baseline.run_id, threshold_pct=threshold_pct,
                      changes=tuple(changes), note=note, fingerprint_mismatch=diff, baseline_kind=baseline_kind,
                      alpha=alpha)
