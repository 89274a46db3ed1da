"""The report's first screen and its advice (pure): per-area verdicts with failed benchmarks,
caveats counted by why targets were not judged, and a recommendation for each condition that
calls for one."""
from __future__ import annotations

import dataclasses

import numpy as np

from perf_tasks.report.html import executive_summary, recommendations
from perf_tasks.results import Evaluation, ResourceSummary, RunResults, SuiteResult, Verdict
from tests.perf_tasks.clustered import FINGERPRINT, bench
from tests.perf_tasks.report.sample import load_result


def _v(metric: str, status: str = "pass", reason: str = "", margin: float = 3.0) -> Verdict:
    return Verdict(metric, 10.0, "ms", 20.0, "<=", margin, status == "pass", "critical", "target", status,
                   reason)  # type: ignore[arg-type]


def _run(*benches) -> RunResults:
    return RunResults(dag_id="perf_daily", run_id="r", profile="smoke", started_at="t", fingerprint=FINGERPRINT,
                      suites=(SuiteResult("risk", "smoke", "a", "b", tuple(benches)),
                              SuiteResult("trading", "smoke", "a", "b", ())))


def test_each_condition_gets_its_recommendation():
    noisy = bench(np.array([0.001, 0.001, 0.003, 0.003] * 50), np.array([0, 1] * 100), name="noisy")
    ev = Evaluation("r", verdicts=(
        _v("risk.a.latency_p99_ms", "invalid", "p99 from 120 observations; needs >= 1000"),
        _v("risk.b.latency_p95_ms", "invalid", "host busy: other processes used 85 % of the CPUs"),
        _v("load.normal.latency_p95_ms", "invalid", "load generator saturated: late sends. Run about 3 shards"),
        _v("load.peak.latency_p95_ms", "invalid", "load generator saturated: dropped arrivals"),
        _v("risk.c.latency_p95_ms", margin=1.1)), violations=())
    hot = dataclasses.replace(load_result("normal", seconds=3), target_resources=ResourceSummary(
        10, 1.0, 80.0, 97.0, 2**28, 50.0, 40.0, 0, 0, 0, 0))
    advice = recommendations(_run(noisy), ev, {"normal": hot})
    text = "\n".join(advice)
    assert "1 percentile target(s) had too few observations for a verdict (e.g. risk.a.latency_p99_ms)" in text
    assert "1 miss(es) happened while other processes used the host's CPUs (e.g. risk.b.latency_p95_ms)" in text
    assert "The load generator was the limit in 2 scenario(s): give it more cores (3 shards)." in text
    assert "1 target(s) pass with less than 20 % margin (risk.c.latency_p95_ms)" in text
    assert f"{noisy.key} is noisy (MAD " in text and "need more worker processes" in text
    assert "Load normal: the service process reached 97 % CPU: it is CPU-bound" in text
    assert len(advice) == 6


def test_the_summary_marks_an_area_with_a_failed_benchmark_and_counts_the_caveats():
    failed = dataclasses.replace(bench(np.array([0.001, 0.002]), np.array([0, 1]), name="mc"), error="boom")
    ev = Evaluation("r", verdicts=(
        _v("trading.order.latency_p95_ms", "invalid", "p95 from 50 observations; needs >= 200"),
        _v("trading.fill.latency_p95_ms", "invalid", "p95 from 10 observations; needs >= 200"),
        _v("trading.x.error_rate_pct", "invalid", "shards did not run at the same time: 2 s of 10 s")),
        violations=(), failed_benchmarks=(failed.key,))
    html = "".join(executive_summary(_run(failed), ev, None))
    # a failed benchmark fails its area even without a target of its own
    assert '<tr><td>risk</td><td class="fail">CRITICAL</td><td>1 critical</td></tr>' in html
    assert '<tr><td>trading</td><td class="warn">INVALID</td><td>3 invalid</td></tr>' in html
    # nothing judged is not "every judged target met": it says that no target could be judged
    assert "Findings:</b> none, but no target could be judged: all 3 are INVALID" in html
    assert "every judged target met" not in html
    assert ("Not judged:</b> 3 targets INVALID, never counted as passes: 2 because of too few observations for the "
            "percentile (e.g. trading.order.latency_p95_ms); 1 because of load shards did not run together "
            "(e.g. trading.x.error_rate_pct).") in html
