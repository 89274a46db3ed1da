"""The run report: a run with every section and one with only benchmarks render, self-contained."""
from __future__ import annotations

import re
import time

from perf_tasks.alerts.rules import evaluate
from perf_tasks.report.html import render_report
from tests.perf_tasks.report.sample import benchmark_run, full_run


def _self_contained(html: str) -> None:
    assert not re.findall(r'(?:src|href)="https?:', html) and "<script src" not in html
    assert "<link " not in html and "@import" not in html


def test_a_run_with_every_section_renders_summary_charts_load_stress_scale_and_details():
    args = full_run()
    t0 = time.perf_counter()
    html = render_report(args["results"], args["evaluation"], args["comparison"], links=args["links"],
                         history=args["history"], load=args["load"], sections=args["sections"])
    elapsed = time.perf_counter() - t0
    _self_contained(html)
    order = [html.index(s) for s in ("id='summary'", "id='benchmarks-charts'", "id='load'", "id='stress'",
                                     "id='scale'", "id='targets'", "id='technical'", "id='history'")]
    assert order == sorted(order)
    for area in ("data", "models", "risk", "trading", "load"):
        assert f"<td>{area}</td>" in html
    assert "LEVEL CHANGE" in html and "trading.order.latency_p50_ms" in html
    assert "Recommendations" in html and "less than 20 % margin" in html
    # charts: a distribution and trends per benchmark, the load rate and latency over time
    assert html.count('class="chart"') >= 4 + 4 + 2
    assert "normal: achieved vs intended rate" in html and "normal: latency over time" in html
    assert "normal: p95 per endpoint" in html and "normal: errors over time (5xx" in html
    assert "NEW +25 %" in html  # the level change is marked on the trading trend
    assert "<details><summary><b>Environment</b>" in html and "a1b2c3d4e5f6" in html
    assert elapsed < 15, elapsed


def test_a_run_with_only_benchmarks_renders_without_load_history_or_comparison():
    results = benchmark_run()
    html = render_report(results, evaluate(results, []), None)
    _self_contained(html)
    assert "id='load'" not in html and "No baseline" in html and "No history yet" in html
    assert html.count('class="chart"') == 4  # one distribution per benchmark, no trend without history
    plain = render_report(results, evaluate(results, []), None, charts=False)
    assert 'class="chart"' not in plain and "<svg" in plain  # the small hand-drawn histograms stay
