"""A scenario result (stress, scalability: metrics, no timed observations) gets a card that says
what the scenario was, and a zero against a maximum reads as an infinite margin, not "infx"."""
from __future__ import annotations

from perf_tasks.alerts.rules import evaluate
from perf_tasks.report.html import render_report
from perf_tasks.report.text import summary_table
from perf_tasks.results import BenchmarkResult, Metric, RunResults, SuiteResult, Target


def _stress_run() -> RunResults:
    metrics = (Metric("stress.recovery_sqlite.detect_ms", 28.6, "ms", "lower", Target(max=1000), samples=1),
               Metric("stress.recovery_sqlite.orders_lost_pct", 0.0, "%", "lower", Target(max=0.0), samples=4444))
    bench = BenchmarkResult(suite="stress", name="recovery_sqlite", callable="kill -9 mid-load, restart on SQLite",
                            params={}, items_per_call=1, item_unit="call", warmups=0, calls_per_observation=1,
                            observation_s=(), latency_s=None, metrics=metrics, resources=None, calls=4444, errors=0)
    return RunResults(dag_id="perf_stress_monthly", run_id="r1", profile="smoke", started_at="t0", fingerprint={},
                      suites=(SuiteResult("stress", "smoke", "t0", "t1", (bench,)),))


def test_a_scenario_card_names_the_scenario_and_an_unbounded_margin_is_infinity():
    results = _stress_run()
    evaluation = evaluate(results, [])
    html = render_report(results, evaluation, None, charts=False)
    assert "kill -9 mid-load, restart on SQLite" in html
    assert "0 observations" not in html and "worker process(es)" not in html
    assert "infx" not in html and "∞" in html
    text = summary_table(evaluation, None)
    assert "infx" not in text and " inf " in text and "35.0x" in text
