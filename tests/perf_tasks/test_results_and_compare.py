from __future__ import annotations

import json

import numpy as np
import pytest

from perf_tasks.bench.stats import summarize
from perf_tasks.regress.baseline import compare
from perf_tasks.report.html import render_report
from perf_tasks.results import (SCHEMA_VERSION, BenchmarkResult, Evaluation, Metric, RunResults, Stats,
                                SuiteResult, Target, from_json, to_json)


def _bench(p50_ms: float, tput: float, spread: float = 0.01) -> BenchmarkResult:
    rounds = tuple(p50_ms / 1e3 * (1 + spread * x) for x in np.linspace(-1, 1, 12))
    stats = summarize(rounds, np.random.default_rng(0))
    return BenchmarkResult(
        suite="risk", name="mc", callable="m:f", params={"n": 1}, items_per_call=1, item_unit="call", warmups=1,
        loops=1, round_call_s=rounds, latency_s=stats,
        metrics=(Metric("risk.mc.latency_p50_ms", p50_ms, "ms", "lower", Target(max=5000, source="cfg")),
                 Metric("risk.mc.throughput_per_s", tput, "1/s", "higher")),
        resources=None, calls=3, errors=0)


def _run(run_id: str, p50_ms: float, tput: float, cpu: str = "CPU A", spread: float = 0.01) -> RunResults:
    return RunResults(dag_id="perf_daily", run_id=run_id, profile="smoke", started_at="t",
                      fingerprint={"cpu_model": cpu, "python": "3.11.7"},
                      suites=(SuiteResult("risk", "smoke", "a", "b", (_bench(p50_ms, tput, spread),)),))


def test_results_round_trip_through_json_with_schema_version():
    run = _run("r1", 20.0, 50.0)
    text = to_json(run)
    assert json.loads(text)["schema_version"] == SCHEMA_VERSION
    assert from_json(RunResults, text) == run


def test_other_schema_versions_are_refused_naming_both():
    data = json.loads(to_json(_run("r1", 20.0, 50.0)))
    data["schema_version"] = 99
    with pytest.raises(ValueError, match="schema_version 99 is not supported .*reads 1 to 2"):
        from_json(RunResults, json.dumps(data), source="results.json")


def test_stats_refuse_disordered_values():
    with pytest.raises(ValueError, match="out of order"):
        Stats(n=2, min=1, median=3, mean=2, p95=2, p99=2, max=3, stdev=0, mad=0, ci_low=1, ci_high=2, ci_level=0.95)


def test_target_needs_exactly_one_positive_bound():
    with pytest.raises(ValueError):
        Target(max=1, min=1)
    with pytest.raises(ValueError):
        Target(max=-1)


def test_compare_flags_regressions_by_direction_and_threshold():
    base = _run("r0", 20.0, 50.0)
    cmp = compare(_run("r1", 23.0, 44.0), base, threshold_pct=10, metric_globs=["*"])
    by = {c.metric: c for c in cmp.changes}
    assert by["risk.mc.latency_p50_ms"].status == "regression" and by["risk.mc.latency_p50_ms"].change_pct == pytest.approx(15)
    assert by["risk.mc.throughput_per_s"].status == "regression"
    better = compare(_run("r2", 15.0, 60.0), base, threshold_pct=10, metric_globs=["*"])
    assert {c.status for c in better.changes} == {"improvement"}
    same = compare(_run("r3", 21.0, 48.0), base, threshold_pct=10, metric_globs=["*"])
    assert {c.status for c in same.changes} == {"unchanged"} and cmp.note == ""
    assert by["risk.mc.latency_p50_ms"].pvalue < 0.01
    assert by["risk.mc.latency_p50_ms"].ratio_ci_low > 1.1


def test_a_big_but_insignificant_change_is_not_a_regression():
    """Magnitude alone is not enough: with 60 % round-to-round spread a 15 % shift is noise."""
    cmp = compare(_run("r1", 23.0, 44.0, spread=0.6), _run("r0", 20.0, 50.0, spread=0.6), threshold_pct=10,
                  metric_globs=["*.latency_p50_ms"])
    (change,) = cmp.changes
    assert change.change_pct > 10 and change.pvalue > 0.01 and change.status == "unchanged"


def test_compare_flags_a_different_environment_naming_both_values():
    cmp = compare(_run("r1", 20.0, 50.0, cpu="CPU B"), _run("r0", 20.0, 50.0), threshold_pct=10, metric_globs=["*"])
    assert cmp.fingerprint_mismatch == ("cpu_model: 'CPU B' vs 'CPU A'",)
    assert "environment differs" in cmp.note


def test_report_has_a_row_per_target_with_margin_and_verdict():
    from perf_tasks.alerts.rules import evaluate
    run = _run("r1", 20.0, 50.0)
    ev = evaluate(run, [])
    html = render_report(run, ev, None, links={"artifacts": "s3://b/report.html"})
    assert "risk.mc.latency_p50_ms" in html and "250.0x" in html and ">PASS<" in html
    assert "No baseline" in html and "s3://b/report.html" in html
    failed = render_report(run, Evaluation(run_id="r1", verdicts=(), violations=()), None,
                           failed_steps={"evaluate": "boom <script>"})
    assert "FAIL" in failed and "&lt;script&gt;" in failed
