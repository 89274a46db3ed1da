"""Great Expectations validation of the pipeline's own results: good runs pass, each kind of bad
data fails with a message naming the metric, the expectation and the value."""
from __future__ import annotations

import math
import os
import subprocess
import sys
from collections.abc import Callable

import numpy as np
import pandas as pd
import pytest

from perf_tasks.bench.runner import run_benchmark
from perf_tasks.stats import summarize
from perf_tasks.config import BENCHMARK_METRICS, BenchmarkConfig, ProfileConfig, TargetConfig
from perf_tasks.results import BenchmarkResult, Metric, RunResults, SuiteResult, Target, from_json, to_json
from perf_tasks.validate import ResultsValidation, results_frame, validate_results, validate_results_frame
from tests.conftest import REPO

PROFILE = ProfileConfig(warmups=1, processes=1, min_observations=20, max_observations=40, max_benchmark_s=0.3,
                        sample_interval_s=0.01)


def _bench(suite: str, name: str, base_ms: float, rng: np.random.Generator, **overrides: float) -> BenchmarkResult:
    """A benchmark result shaped as the runner writes it (same metric names, units, directions)."""
    stats = summarize(list(rng.lognormal(math.log(base_ms / 1e3), 0.2, 30)), rng)
    values = {"latency_p50_ms": stats.median * 1e3, "latency_mean_ms": stats.mean * 1e3,
              "latency_p95_ms": stats.p95 * 1e3, "latency_p99_ms": stats.p99 * 1e3, "latency_max_ms": stats.max * 1e3,
              "latency_mean_per_item_ms": stats.mean * 1e3, "throughput_per_s": 1.0 / stats.mean, "error_rate_pct": 0.0, "rss_max_bytes": 3e8,
              "process_cpu_pct_mean": 97.0, "system_memory_pct_max": 41.0, **overrides}
    metrics = tuple(Metric(f"{suite}.{name}.{k}", float(v), *BENCHMARK_METRICS[k],
                           target=Target(max=1000.0, source="cfg") if k == "latency_p95_ms" else None)
                    for k, v in values.items())
    return BenchmarkResult(suite=suite, name=name, callable="m:f", params={}, items_per_call=1, item_unit="call",
                           warmups=1, calls_per_observation=1, observation_s=(stats.median,), latency_s=stats, metrics=metrics,
                           resources=None, calls=31, errors=0)


def _run(*benches: BenchmarkResult) -> RunResults:
    by_suite: dict[str, list[BenchmarkResult]] = {}
    for b in benches:
        by_suite.setdefault(b.suite, []).append(b)
    return RunResults(dag_id="perf_daily", run_id="r1", profile="standard", started_at="t", fingerprint={},
                      suites=tuple(SuiteResult(s, "standard", "a", "b", tuple(bs)) for s, bs in by_suite.items()),
                      host_metrics=(Metric("host.cpu_pct", 3.5, "%", "lower"),
                                    Metric("host.memory_pct", 40.0, "%", "lower"),
                                    Metric("host.disk_pct", 28.4, "%", "lower")))


def _realistic_run(n_benchmarks: int = 30) -> RunResults:
    rng = np.random.default_rng(0)
    suites = ("risk", "market_data", "data", "model", "orders")
    return _run(*(_bench(suites[i % 5], f"bench_{i}", 0.01 * (i + 1), rng) for i in range(n_benchmarks)))


@pytest.fixture(scope="module")
def good_frame() -> pd.DataFrame:
    return results_frame(_realistic_run())


def test_a_realistic_run_of_30_benchmarks_passes():
    run = from_json(RunResults, to_json(_realistic_run()))  # as read back from results.json
    v = validate_results(run)
    assert v == ResultsValidation(passed=True, failures=(), checked=30 * 11 + 3)


def test_results_written_by_the_real_runner_pass():
    cfg = BenchmarkConfig(callable="trading_agent.risk.bench:var_parametric", params={"n_assets": 5},
                          targets={"latency_p95_ms": TargetConfig(max=1000)})
    bench = run_benchmark("risk", "var_parametric", cfg, PROFILE, "smoke", rng=np.random.default_rng(1)).result
    v = validate_results(_run(bench))
    assert v.passed, v.failures
    assert v.checked == len(bench.metrics) + 3


def test_a_failed_benchmark_with_only_an_error_rate_passes():
    failed = BenchmarkResult(suite="risk", name="broken", callable="m:f", params={}, items_per_call=1, item_unit="call",
                             warmups=1, calls_per_observation=1, observation_s=(), latency_s=None,
                             metrics=(Metric("risk.broken.error_rate_pct", 50.0, "%", "lower"),), resources=None,
                             calls=2, errors=1, error="RuntimeError: boom")
    assert validate_results(_run(failed)).passed


def test_out_of_order_percentiles_in_a_run_fail_naming_the_metric_and_both_values():
    rng = np.random.default_rng(2)
    v = validate_results(_run(_bench("risk", "var", 5.0, rng, latency_p50_ms=9.0, latency_p95_ms=7.0)))
    assert not v.passed
    assert v.failures == ("risk.var.latency_p95_ms: latency_p95_ms must be >= the benchmark's latency_p50_ms "
                          "(got value=7, latency_p50_ms=9)",)


def _set(name: str, column: str, value: object) -> Callable[[pd.DataFrame], pd.DataFrame]:
    def mutate(df: pd.DataFrame) -> pd.DataFrame:
        df = df.copy()
        if isinstance(value, str) and column == "value":
            df["value"] = df["value"].astype(object)
        df.loc[df["name"] == name, column] = value
        return df
    return mutate


B = "data.bench_2"
BAD_CASES = {  # id: (mutation, the failure expected, in full or in part)
    "unknown_unit": (_set(f"{B}.rss_max_bytes", "unit", "MB"),
                     f"{B}.rss_max_bytes: unit must be one of ['1/s', 'bytes', '%', 'ms', 's'] (got unit='MB')"),
    "unit_not_the_suffix": (_set(f"{B}.latency_p50_ms", "unit", "s"),
                            f"{B}.latency_p50_ms: unit must match the name's suffix (got unit='s', "
                            "expected_unit='ms')"),
    "pct_unit_on_a_throughput": (_set(f"{B}.throughput_per_s", "unit", "%"),
                                 f"{B}.throughput_per_s: unit must match the name's suffix (got unit='%', "
                                 "expected_unit='1/s')"),
    "bad_name_form": (_set(f"{B}.error_rate_pct", "name", "Data.x.error_rate_pct"),
                      "Data.x.error_rate_pct: name must look like <suite>.<benchmark>.<metric> or host.<metric> "
                      "(got name='Data.x.error_rate_pct')"),
    "two_part_name": (_set(f"{B}.error_rate_pct", "name", "data.error_rate_pct"),
                      "data.error_rate_pct: name must look like"),
    "no_unit_suffix": (_set(f"{B}.error_rate_pct", "name", f"{B}.error_rate"),
                       f"{B}.error_rate: name must end in a unit suffix"),
    "duplicate_name": (_set(f"{B}.latency_mean_ms", "name", f"{B}.latency_max_ms"),
                       f"{B}.latency_max_ms: name must be unique in the run"),
    "nan_value": (_set(f"{B}.latency_mean_ms", "value", float("nan")),
                  f"{B}.latency_mean_ms: value must be a number (got value=nan)"),
    "text_value": (_set(f"{B}.latency_mean_ms", "value", "fast"),
                   f"{B}.latency_mean_ms: value must be a number (got value='fast')"),
    "infinite_value": (_set(f"{B}.latency_mean_ms", "value", float("inf")),
                       f"{B}.latency_mean_ms: value must be finite (got value=inf)"),
    "negative_latency": (_set(f"{B}.latency_mean_ms", "value", -0.5),
                         f"{B}.latency_mean_ms: value must be >= 0 (a latency, throughput, rate, size or share) "
                         "(got value=-0.5, unit='ms')"),
    "negative_throughput": (_set(f"{B}.throughput_per_s", "value", -3.0),
                            f"{B}.throughput_per_s: value must be >= 0"),
    "bad_direction": (_set(f"{B}.throughput_per_s", "direction", "up"),
                      f"{B}.throughput_per_s: direction must be one of ['lower', 'higher'] (got direction='up')"),
    "p95_below_p50": (_set(f"{B}.latency_p95_ms", "value", 1e-9),
                      f"{B}.latency_p95_ms: latency_p95_ms must be >= the benchmark's latency_p50_ms "
                      "(got value=1e-09, latency_p50_ms="),
    "p99_below_p95": (_set(f"{B}.latency_p99_ms", "value", 1e-9),
                      f"{B}.latency_p99_ms: latency_p99_ms must be >= the benchmark's latency_p95_ms "
                      "(got value=1e-09"),
    "max_below_p99": (_set(f"{B}.latency_max_ms", "value", 1e-9),
                      f"{B}.latency_max_ms: latency_max_ms must be >= the benchmark's latency_p99_ms"),
    "no_samples": (_set(f"{B}.latency_p50_ms", "samples", 0.0),
                   f"{B}.latency_p50_ms: the benchmark's sample count must be >= 1 (got samples=0)"),
    "missing_unit_column": (lambda df: df.drop(columns=["unit"]),
                            "table: required column 'unit' is missing (got columns ['direction', 'name', 'samples', "
                            "'value'])"),
}


@pytest.mark.parametrize("case", list(BAD_CASES), ids=list(BAD_CASES))
def test_each_kind_of_bad_data_fails_naming_the_metric_and_value(good_frame: pd.DataFrame, case: str):
    mutate, expected = BAD_CASES[case]
    v = validate_results_frame(mutate(good_frame))
    assert not v.passed
    assert v.checked == len(good_frame)
    assert any(f.startswith(expected) for f in v.failures), v.failures


def test_one_bad_value_gives_only_the_failures_it_causes(good_frame: pd.DataFrame):
    v = validate_results_frame(_set(f"{B}.latency_p99_ms", "value", float("inf"))(good_frame))
    assert v.failures == (
        f"{B}.latency_max_ms: latency_max_ms must be >= the benchmark's latency_p99_ms "
        f"(got value={good_frame.set_index('name').at[f'{B}.latency_max_ms', 'value']:g}, latency_p99_ms=inf)",
        f"{B}.latency_p99_ms: value must be finite (got value=inf)",
    )


def test_a_missing_column_is_reported_once_not_by_every_check_that_needs_it(good_frame: pd.DataFrame):
    v = validate_results_frame(good_frame.drop(columns=["name", "samples"]))
    assert v.failures == ("table: required column 'name' is missing (got columns ['direction', 'unit', 'value'])",)


def test_the_frame_index_does_not_matter(good_frame: pd.DataFrame):
    assert validate_results_frame(good_frame.set_axis(range(1000, 1000 + len(good_frame)))).passed


def test_importing_the_validation_package_does_not_import_great_expectations():
    code = ("import sys, perf_tasks.validate, perf_tasks.validate.results; "
            "print('GX' if any(m.startswith('great_expectations') for m in sys.modules) else 'NO_GX')")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=120,
                         env={**os.environ, "PYTHONPATH": str(REPO)})
    assert out.stdout.strip() == "NO_GX"
