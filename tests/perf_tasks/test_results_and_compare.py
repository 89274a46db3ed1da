from __future__ import annotations

import json
import re
import zlib

import numpy as np
import pytest

from perf_tasks.regress.compare import compare
from perf_tasks.report.html import render_report
from perf_tasks.results import (SCHEMA_VERSION, Comparison, Evaluation, RunResults, Stats, Target, from_json,
                                to_json)
from tests.perf_tasks.clustered import FINGERPRINT, bench, clustered, run


def _run(run_id: str, p50_ms: float, tput: float | None = None, cpu: str = "CPU A", spread: float = 0.01,
         memory: int = 2**34) -> RunResults:
    """5 processes x 100 calls around ``p50_ms``; ``spread`` is both the per-process offset and
    the within-process noise (log scale). Throughput follows the latency (``tput`` is unused:
    it is items / timed seconds)."""
    values, owner = clustered(np.random.default_rng(zlib.crc32(run_id.encode())), processes=5, per_process=100,
                              median_s=p50_ms / 1e3, offset_sd=spread, spread=spread)
    fp = {**FINGERPRINT, "cpu_model": cpu, "memory_total_bytes": memory}
    return run(run_id, bench(values, owner), profile="smoke", fingerprint=fp)


def test_results_round_trip_through_json_with_schema_version():
    run = _run("r1", 20.0, 50.0)
    text = to_json(run)
    assert json.loads(text)["schema_version"] == SCHEMA_VERSION
    assert from_json(RunResults, text) == run


def test_other_schema_versions_are_refused_naming_both():
    data = json.loads(to_json(_run("r1", 20.0, 50.0)))
    data["schema_version"] = 99
    with pytest.raises(ValueError, match=f"schema_version 99 is not supported .*reads 1 to {SCHEMA_VERSION}"):
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
    base = _run("r0", 20.0)
    cmp = compare(_run("r1", 23.0), base, threshold_pct=10, metric_globs=["*"])
    by = {c.metric: c for c in cmp.changes}
    p50 = by["risk.mc.latency_p50_ms"]
    assert p50.status == "regression" and p50.change_pct == pytest.approx(15, abs=2)
    assert by["risk.mc.throughput_per_s"].status == "regression"
    assert p50.pvalue < 0.01 and p50.ratio_ci_low > 1.1 and p50.significant and p50.ci_level == 0.99
    assert (p50.processes_baseline, p50.processes_current) == (5, 5) and "p50" in p50.test
    assert p50.mannwhitney_pvalue is not None and by["risk.mc.latency_p99_ms"].mannwhitney_pvalue is None
    better = compare(_run("r2", 15.0), base, threshold_pct=10, metric_globs=["*.latency_p50_ms", "*.throughput_per_s"])
    assert {c.status for c in better.changes} == {"improvement"}
    same = compare(_run("r3", 20.4), base, threshold_pct=10, metric_globs=["*.latency_p50_ms", "*.throughput_per_s"])
    assert {c.status for c in same.changes} == {"unchanged"} and cmp.note == ""
    assert cmp.key["profile"] == "smoke" and cmp.resamples > 0


def test_per_metric_threshold_override_applies():
    cmp = compare(_run("r1", 23.0), _run("r0", 20.0), threshold_pct=10, metric_globs=["*.latency_p50_ms"],
                  overrides={"*.latency_p50_ms": 25})
    (change,) = cmp.changes
    assert change.status == "unchanged" and change.significant and "25 % threshold" in change.reason


def test_a_big_but_insignificant_change_is_not_a_regression():
    """Magnitude alone is not enough: with 30 % process-to-process spread a 15 % shift is noise."""
    cmp = compare(_run("r1", 23.0, spread=0.3), _run("r0", 20.0, spread=0.3), threshold_pct=10,
                  metric_globs=["*.latency_p50_ms"])
    (change,) = cmp.changes
    assert change.change_pct > 10 and change.pvalue > 0.01 and change.status == "unchanged"
    assert "interval includes 1" in change.reason


def test_a_maximum_is_never_a_regression_on_magnitude_alone():
    cmp = compare(_run("r1", 30.0), _run("r0", 20.0), threshold_pct=10, metric_globs=["*.latency_max_ms"])
    (change,) = cmp.changes
    assert change.status == "inconclusive" and change.significant is None and "one observation" in change.reason


def test_compare_flags_a_different_non_key_environment_naming_both_values():
    cmp = compare(_run("r1", 20.0, memory=2**35), _run("r0", 20.0), threshold_pct=10, metric_globs=["*"])
    assert cmp.fingerprint_mismatch == (f"memory_total_bytes: {2**35} vs {2**34}",)
    assert "environment differs" in cmp.note and not cmp.not_comparable


def test_a_different_cpu_is_not_compared_and_says_why():
    cmp = compare(_run("r1", 20.0, cpu="CPU B"), _run("r0", 20.0), threshold_pct=10, metric_globs=["*"])
    assert cmp.changes and all(c.status == "not_comparable" for c in cmp.changes)
    assert "cpu_model: 'CPU B' vs 'CPU A'" in cmp.changes[0].reason and "run key differs" in cmp.note
    assert not cmp.regressions and not cmp.improvements


def test_comparison_round_trips_through_json():
    cmp = compare(_run("r1", 23.0), _run("r0", 20.0), threshold_pct=10, metric_globs=["*"])
    assert from_json(Comparison, to_json(cmp)).changes[0].key == {"params_digest": "d1", "device": "cpu"}


def test_report_has_a_row_per_target_with_margin_and_verdict():
    from perf_tasks.alerts.rules import evaluate
    run = _run("r1", 20.0, 50.0)
    ev = evaluate(run, [])
    html = render_report(run, ev, None, links={"artifacts": "s3://b/report.html"})
    assert "risk.mc.latency_p50_ms" in html and re.search(r">2\d\d\.\dx<", html) and ">PASS<" in html
    assert "No baseline" in html and "s3://b/report.html" in html
    failed = render_report(run, Evaluation(run_id="r1", verdicts=(), violations=()), None,
                           failed_steps={"evaluate": "boom <script>"})
    assert "CRITICAL" in failed and "&lt;script&gt;" in failed


def test_the_report_opens_with_an_executive_summary_per_area_and_advice():
    from perf_tasks.alerts.rules import evaluate
    from perf_tasks.report.html import executive_summary, histogram_svg, recommendations
    from perf_tasks.results import BenchmarkResult, Metric, RunResults, SuiteResult, Target

    def bench(suite, name, *metrics):
        return BenchmarkResult(suite=suite, name=name, callable="x:y", params={}, items_per_call=1, item_unit="call",
                               warmups=0, calls_per_observation=1, observation_s=(0.001, 0.002, 0.003),
                               latency_s=None, metrics=metrics, resources=None, calls=3, errors=0)

    results = RunResults(dag_id="perf_daily", run_id="r", profile="smoke", started_at="t", fingerprint={}, suites=(
        SuiteResult("risk", "smoke", "t", "t", (
            bench("risk", "mc", Metric("risk.mc.latency_p95_ms", 6000.0, "ms", "lower", Target(max=5000), samples=500)),
            bench("risk", "var", Metric("risk.var.latency_p95_ms", 900.0, "ms", "lower", Target(max=1000), samples=500)))),
        SuiteResult("models", "smoke", "t", "t", (
            bench("models", "cnn", Metric("models.cnn.latency_p95_ms", 5.0, "ms", "lower", Target(max=50), samples=20)),))))
    ev = evaluate(results, [])
    html = "".join(executive_summary(results, ev, None))
    assert '<td>risk</td><td class="fail">CRITICAL</td>' in html and '<td>models</td><td class="warn">INVALID</td>' in html
    assert "risk.mc.latency_p95_ms" in html and "1 because of too few observations" in html
    advice = recommendations(results, ev)
    assert any("standard profile" in a for a in advice) and any("less than 20 % margin" in a and "risk.var" in a
                                                               for a in advice)
    svg = histogram_svg([1.0, 2.0, 2.5, 3.0, 10.0], target_ms=5.0)
    assert svg.startswith("<svg") and "#b00020" in svg and histogram_svg([1.0]) == ""
