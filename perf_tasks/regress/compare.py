"""Compare a run to its baseline run. Pure functions; the baseline is found in the artifact store
by :func:`perf_tasks.regress.baselines.find_baseline` (a promoted baseline, else the previous run,
of the same comparison key).

Only results with the same key are compared (:mod:`perf_tasks.regress.keys`): a run key that
differs makes every metric *not comparable*; so does, per benchmark, a params digest or device
that differs, or a metric the baseline lacks; each says why, naming both values.

A metric is a regression only with both magnitude (worse than ``threshold_pct``, or its override,
in its bad direction) and significance: the ``1 - alpha`` interval of the ratio current/baseline
excludes 1. Each metric gets its own test (:mod:`perf_tasks.regress.significance`), all on
process-clustered observations (two-level bootstrap: processes, then observations within them):

* ``*_p50_ms`` / ``*_mean_ms`` / ``latency_mean_per_item_ms``: the median / mean ratio; a pooled
  Mann-Whitney U p-value is added for information only (it ignores between-process variance);
* ``*_p95_ms`` / ``*_p99_ms``: the ratio of that quantile, so a tail-only regression is seen;
* ``throughput_per_s``: ratio of items / timed seconds (the inverse of the mean observation);
* ``*_max_ms`` and resource metrics: no test (a maximum is a single observation: resampling cannot
  bound it; measured, a bootstrap of the max ratio gave 4-12 % false positives at alpha 0.01). A
  change beyond the threshold is *inconclusive*, never a regression on magnitude alone.

Mismatched non-key environment fields (memory, OS) are flagged, naming both values.
"""
from __future__ import annotations

import fnmatch
import zlib
from typing import Literal

import numpy as np

from perf_tasks.monitor.fingerprint import mismatches
from perf_tasks.regress.keys import bench_key, bench_mismatch, differences, run_key
from perf_tasks.regress.significance import (DEFAULT_MAX_OBSERVATIONS, DEFAULT_RESAMPLES, ClusteredSample,
                                             hierarchical_draws, mannwhitney_pvalue, ratio_test, subsample)
from perf_tasks.results import BenchmarkResult, Comparison, Metric, MetricChange, RunResults

#: Metric (last name part) -> the statistic of observations it is (see significance.STATISTICS).
_TESTED = {
    "latency_p50_ms": "p50", "batch_latency_p50_ms": "p50",
    "latency_mean_ms": "mean", "batch_latency_mean_ms": "mean", "latency_mean_per_item_ms": "mean",
    "latency_p95_ms": "p95", "batch_latency_p95_ms": "p95",
    "latency_p99_ms": "p99", "batch_latency_p99_ms": "p99",
    "throughput_per_s": "throughput",
}
_UNTESTED_WHY = {"latency_max_ms": "a maximum is one observation: resampling cannot bound it",
                 "batch_latency_max_ms": "a maximum is one observation: resampling cannot bound it"}


def _benchmarks(run: RunResults) -> dict[str, BenchmarkResult]:
    return {b.key: b for s in run.suites for b in s.benchmarks}


def _clustered(b: BenchmarkResult) -> ClusteredSample | None:
    if not b.observation_s or b.error is not None:
        return None
    return ClusteredSample.from_observations(b.observation_s, b.observation_process)


class _Tester:
    """Resampled statistics per benchmark and side, computed once and only when a metric needs them."""

    def __init__(self, seed: int, resamples: int, max_observations: int) -> None:
        self.seed, self.resamples, self.max_observations = seed, resamples, max_observations
        self._cache: dict[tuple[str, str], tuple[ClusteredSample, dict[str, np.ndarray]]] = {}
        self._samples: dict[tuple[str, str], ClusteredSample | None] = {}

    def sample(self, which: str, b: BenchmarkResult | None) -> ClusteredSample | None:
        if b is None:
            return None
        if (which, b.key) not in self._samples:
            self._samples[(which, b.key)] = _clustered(b)
        return self._samples[(which, b.key)]

    def side(self, which: str, b: BenchmarkResult, sample: ClusteredSample) -> tuple[ClusteredSample, dict[str, np.ndarray]]:
        if (which, b.key) not in self._cache:
            # one stream per benchmark and side: a benchmark's interval does not depend on which
            # other metrics or benchmarks were compared
            rng = np.random.default_rng([self.seed, zlib.crc32(f"{which}:{b.key}".encode())])
            small = subsample(sample, self.max_observations, rng)
            self._cache[(which, b.key)] = (small, hierarchical_draws(small, rng, resamples=self.resamples))
        return self._cache[(which, b.key)]


def _metric_change(m: Metric, b: Metric, *, limit: float, alpha: float, bench: BenchmarkResult | None,
                   base_bench: BenchmarkResult | None, tester: _Tester) -> MetricChange:
    short = m.name.rpartition(".")[2]
    key = bench_key(bench) if bench is not None else {}
    common = dict(metric=m.name, unit=m.unit, direction=m.direction, baseline=b.value, current=m.value, key=key)
    if b.value == 0:
        if m.value == 0:
            return MetricChange(**common, change_pct=0.0, status="unchanged")  # type: ignore[arg-type]
        return MetricChange(**common, change_pct=float("inf"), status="not_comparable",  # type: ignore[arg-type]
                            reason="baseline value is 0: a change has no ratio")
    change = (m.value - b.value) / abs(b.value) * 100.0
    worse = change > limit if m.direction == "lower" else change < -limit
    better = change < -limit if m.direction == "lower" else change > limit
    stat = _TESTED.get(short)
    cur, base = tester.sample("current", bench), tester.sample("baseline", base_bench)
    why = ""
    if stat is None:
        why = f"no significance test: {_UNTESTED_WHY.get(short, 'no per-observation samples behind this metric')}"
    elif cur is None or base is None:
        why = "no significance test: no observations on " + ("either side" if cur is None and base is None
                                                            else "this run's side" if cur is None else "the baseline's side")
    elif cur.processes < 2 or base.processes < 2:
        why = (f"no significance test: {base.processes} baseline and {cur.processes} current worker process(es); "
               "between-process variance needs >= 2 per side")
    elif m.value <= 0:
        why = "no significance test: the current value is 0"
    if why:
        beyond = worse or better
        return MetricChange(**common, change_pct=change, status="inconclusive" if beyond else "unchanged",  # type: ignore[arg-type]
                            reason=why + (f"; the change is beyond the {limit:g} % threshold" if beyond else ""),
                            processes_baseline=base.processes if base else None,
                            processes_current=cur.processes if cur else None)
    assert bench is not None and base_bench is not None and cur is not None and base is not None
    small_c, draws_c = tester.side("current", bench, cur)
    small_b, draws_b = tester.side("baseline", base_bench, base)
    if stat == "throughput":  # items / timed s: the inverse of the mean observation
        db, dc, test = 1.0 / draws_b["mean"], 1.0 / draws_c["mean"], "two-level bootstrap of the throughput ratio"
    else:
        db, dc, test = draws_b[stat], draws_c[stat], f"two-level bootstrap of the {stat} ratio"
    r = ratio_test(db, dc, m.value / b.value, k_base=base.processes, k_current=cur.processes, alpha=alpha)
    mw = mannwhitney_pvalue(small_b.pooled(), small_c.pooled()) if stat in ("p50", "mean") else None
    status = "regression" if worse and r.significant else "improvement" if better and r.significant else "unchanged"
    reason = ""
    if r.significant and status == "unchanged":
        reason = f"significant, but within the {limit:g} % threshold"
    elif (worse or better) and not r.significant:
        reason = f"beyond the {limit:g} % threshold, but the {r.level:.0%} interval includes 1"
    return MetricChange(**common, change_pct=change, status=status, pvalue=r.pvalue,  # type: ignore[arg-type]
                        ratio_ci_low=r.low, ratio_ci_high=r.high, test=test, significant=r.significant,
                        ci_level=r.level, processes_baseline=base.processes, processes_current=cur.processes,
                        mannwhitney_pvalue=mw, reason=reason)


def _not_comparable(m: Metric, b: Metric | None, reason: str, bench: BenchmarkResult | None) -> MetricChange:
    return MetricChange(metric=m.name, unit=m.unit, direction=m.direction, baseline=b.value if b else float("nan"),
                        current=m.value, change_pct=float("nan"), status="not_comparable", reason=reason,
                        key=bench_key(bench) if bench is not None else {})


def compare(current: RunResults, baseline: RunResults, *, threshold_pct: float, metric_globs: list[str],
            alpha: float = 0.01, baseline_kind: Literal["promoted", "previous"] = "previous",
            overrides: dict[str, float] | None = None, seed: int = 0, resamples: int = DEFAULT_RESAMPLES,
            max_observations: int = DEFAULT_MAX_OBSERVATIONS) -> Comparison:
    """Every metric of ``current`` matching ``metric_globs``, against ``baseline``. ``overrides``
    maps metric globs to their own threshold (percent). Deterministic for a given ``seed``."""
    key, base_key = run_key(current), run_key(baseline)
    run_diff = differences(key, base_key)
    base = {m.name: m for m in baseline.metrics()}
    cur_b, base_b = _benchmarks(current), _benchmarks(baseline)
    tester = _Tester(seed, resamples, max_observations)
    changes = []
    for m in current.metrics():
        if not any(fnmatch.fnmatchcase(m.name, g) for g in metric_globs):
            continue
        bench_name = m.name.rpartition(".")[0]
        bench, base_bench = cur_b.get(bench_name), base_b.get(bench_name)
        b = base.get(m.name)
        why = None
        if run_diff:
            why = "run key differs: " + "; ".join(run_diff)
        elif bench is not None and base_bench is None:
            why = f"benchmark {bench_name} is not in the baseline run"
        elif bench is not None and base_bench is not None:
            why = bench_mismatch(bench_key(bench), bench_key(base_bench))
        if why is None and b is None:
            why = "not measured in the baseline run" + (
                f" (the benchmark failed there: {base_bench.error})" if base_bench is not None and base_bench.error else "")
        if why is not None:
            changes.append(_not_comparable(m, b, why, bench))
            continue
        assert b is not None
        limit = next((pct for g, pct in (overrides or {}).items() if fnmatch.fnmatchcase(m.name, g)), threshold_pct)
        changes.append(_metric_change(m, b, limit=limit, alpha=alpha, bench=bench, base_bench=base_bench,
                                      tester=tester))
    diff = tuple(mismatches(current.fingerprint, baseline.fingerprint))
    notes = []
    if run_diff:
        notes.append("not comparable, the run key differs from the baseline's: " + "; ".join(run_diff))
    if diff:
        notes.append("environment differs from the baseline's: " + "; ".join(diff))
    return Comparison(run_id=current.run_id, baseline_run_id=baseline.run_id, threshold_pct=threshold_pct,
                      changes=tuple(changes), note="; ".join(notes), fingerprint_mismatch=diff,
                      baseline_kind=baseline_kind, alpha=alpha, key=key, resamples=resamples,
                      max_observations=max_observations)
