"""The measurement contract's verdicts: a percentile needs enough samples, a miss on a busy host
is not the system's, and neither is ever a pass or an alert."""
from __future__ import annotations

import pytest

from perf_tasks.alerts.rules import evaluate, judge, required_samples
from perf_tasks.results import BenchmarkResult, Metric, RunResults, SuiteResult, Target


@pytest.mark.parametrize("name,need", [("s.b.latency_p95_ms", 200), ("s.b.latency_p99_ms", 1000),
                                       ("s.b.latency_p50_ms", 20), ("s.b.batch_latency_p99_ms", 1000),
                                       ("s.b.latency_max_ms", 1), ("s.b.throughput_per_s", 1),
                                       ("s.b.latency_mean_per_item_ms", 1)])
def test_required_samples_is_ten_observations_beyond_the_percentile(name, need):
    assert required_samples(name) == need


def _m(name: str, value: float, samples: int | None, target: Target) -> Metric:
    return Metric(name, value, "ms", "lower", target, samples)


@pytest.mark.parametrize("value", [5.0, 500.0])
def test_a_p99_from_30_observations_is_invalid_whether_it_meets_or_misses(value):
    v = judge(_m("s.b.latency_p99_ms", value, 30, Target(max=50)))
    assert v.status == "invalid" and not v.passed
    assert "30 observations" in v.reason and ">= 1000" in v.reason


def test_a_p95_with_enough_observations_is_judged():
    assert judge(_m("s.b.latency_p95_ms", 5.0, 200, Target(max=50))).status == "pass"
    assert judge(_m("s.b.latency_p95_ms", 60.0, 200, Target(max=50))).status == "critical"
    assert judge(_m("s.b.latency_p95_ms", 60.0, 200, Target(max=50, severity="warning"))).status == "warning"


def _run(p95_ms: float, other_cpu: float, samples: int = 1000) -> RunResults:
    metrics = (Metric("s.b.latency_p95_ms", p95_ms, "ms", "lower", Target(max=50), samples),
               Metric("s.b.other_cpu_pct_mean", other_cpu, "%", "lower"))
    bench = BenchmarkResult(suite="s", name="b", callable="m:f", params={}, items_per_call=1, item_unit="call",
                            warmups=0, calls_per_observation=1, observation_s=(), latency_s=None, metrics=metrics,
                            resources=None, calls=samples, errors=0)
    return RunResults(dag_id="d", run_id="r", profile="smoke", started_at="t", fingerprint={},
                      suites=(SuiteResult("s", "smoke", "a", "b", (bench,)),))


def test_a_miss_on_a_busy_host_is_invalid_not_an_alert():
    ev = evaluate(_run(p95_ms=80.0, other_cpu=70.0), [], busy_host_other_cpu_pct=40.0)
    (v,) = ev.verdicts
    assert v.status == "invalid" and "host busy" in v.reason and "70 %" in v.reason
    assert ev.violations == () and ev.critical == ()


def test_a_miss_on_a_quiet_host_is_critical_and_a_pass_on_a_busy_host_stands():
    ev = evaluate(_run(p95_ms=80.0, other_cpu=5.0), [], busy_host_other_cpu_pct=40.0)
    assert ev.verdicts[0].status == "critical" and len(ev.critical) == 1
    ev = evaluate(_run(p95_ms=20.0, other_cpu=90.0), [], busy_host_other_cpu_pct=40.0)
    assert ev.verdicts[0].status == "pass"  # contention only slows a run: a pass under it is conservative
