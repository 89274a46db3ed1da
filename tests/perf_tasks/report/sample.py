"""A synthetic run with every report section (benchmarks in four areas, history with a level
change, a baseline comparison, load with time series, stress and scalability sections), and one
with only benchmarks. Used by the report tests and the browser test."""
from __future__ import annotations

import dataclasses
from typing import Any

import numpy as np

from perf_tasks.alerts.rules import evaluate
from perf_tasks.load.histo import SERIES_SIGNIFICANT_FIGURES, LatencyHistogram
from perf_tasks.load.result import EndpointResult, GeneratorHealth, LoadResult, TimeSeries
from perf_tasks.regress.compare import compare
from perf_tasks.results import HistoryChange, Metric, RunResults, SuiteResult, Target
from tests.perf_tasks.clustered import FINGERPRINT, bench, clustered

AREAS = {"data": ("ingest", 2e-3), "models": ("cnn_infer", 8e-3), "risk": ("mc", 40e-3), "trading": ("order", 1e-3)}


def _bench(area: str, name: str, median_s: float, seed: int, target_ms: float):
    values, owner = clustered(np.random.default_rng(seed), processes=5, per_process=200, median_s=median_s,
                              slow_share=0.02, slow_factor=3.0)
    b = bench(values, owner, name=name)
    metrics = tuple(dataclasses.replace(m, name=m.name.replace("risk.", f"{area}.", 1),
                                        target=Target(max=target_ms, source="config/benchmarks.yaml")
                                        if m.name.endswith("latency_p95_ms") else None)
                    for m in b.metrics)
    return dataclasses.replace(b, suite=area, metrics=metrics)


def benchmark_run(run_id: str = "scheduled__2026-11-29", *, slow: float = 1.0) -> RunResults:
    suites = []
    for i, (area, (name, median_s)) in enumerate(AREAS.items()):
        # risk's p95 target is tight (a warning-level margin), trading's is missed when slow > 1
        target = {"risk": median_s * 1e3 * 1.45, "trading": 1.6}.get(area, median_s * 1e3 * 5)
        suites.append(SuiteResult(area, "standard", "t0", "t1", (_bench(area, name, median_s * slow, i, target),)))
    return RunResults(dag_id="perf_daily", run_id=run_id, profile="standard", started_at="2026-11-29T06:00:00Z",
                      fingerprint={**FINGERPRINT, "git_sha": "a1b2c3d4e5f6"}, suites=tuple(suites),
                      host_metrics=(Metric("host.cpu_pct", 12.0, "%", "lower"),
                                    Metric("host.memory_pct", 41.0, "%", "lower")))


def history_for(results: RunResults, n: int = 40, step_at: int = 30) -> dict[str, dict[str, Any]]:
    rng = np.random.default_rng(3)
    out = {}
    for m in results.metrics():
        if m.name.endswith(("latency_p50_ms", "throughput_per_s")):
            base = m.value / (1.25 if m.name.startswith("trading.") and m.name.endswith("p50_ms") else 1.0)
            vals = [base * (1.25 if (m.name.startswith("trading.") and i >= step_at and m.name.endswith("p50_ms"))
                            else 1.0) * float(np.exp(rng.normal(0, 0.02))) for i in range(n - 1)] + [m.value]
            out[m.name] = {"runs": [f"scheduled__2026-10-{i + 1:02d}" for i in range(n - 1)] + [results.run_id],
                           "values": vals}
    return out


def load_result(scenario: str = "normal", seconds: int = 30) -> LoadResult:
    rng = np.random.default_rng(11)
    h, hb = LatencyHistogram(), LatencyHistogram(SERIES_SIGNIFICANT_FIGURES)
    t, sent, done, errs, p50, p95, p99, encoded = [], [], [], [], [], [], [], []
    total = 0
    for s in range(seconds):
        n = 50 if s < seconds - 5 else 42  # the last seconds fall behind the intended 50/s
        lat = rng.lognormal(np.log(20 + (s > 20) * 15), 0.35, n)
        h.record_many((lat * 1000).astype(np.int64))
        b = LatencyHistogram(SERIES_SIGNIFICANT_FIGURES)
        b.record_many((lat * 1000).astype(np.int64))
        q = b.values_at_percentiles((50, 95, 99))
        t.append(float(s)); sent.append(n); done.append(n); errs.append(int(s % 9 == 0))
        p50.append(q[0] / 1e3); p95.append(q[1] / 1e3); p99.append(q[2] / 1e3); encoded.append(b.encode())
        total += n
    errors = sum(errs)
    eps = (EndpointResult("GET /prices", "GET", total * 2 // 3, errors, h.summary(), h.encode(), 0, h.summary()),
           EndpointResult("POST /orders", "POST", total - total * 2 // 3, 0, h.summary(), h.encode(), 0,
                          h.summary()))
    return LoadResult(
        scenario=scenario, model="open", source="perf_tasks.load", target="http://127.0.0.1:8000",
        started_at="2026-11-29T06:10:00Z", duration_s=float(seconds), elapsed_s=seconds + 0.3, users=200,
        intended_requests=50 * seconds, intended_rate_per_s=50.0, achieved_rate_per_s=total / seconds,
        throughput_per_s=(total - errors) / seconds, requests=total, errors=errors,
        error_rate_pct=100.0 * errors / total, errors_by_class={"5xx": errors}, errors_by_code={"500": errors},
        error_samples={"5xx": "500 Internal Server Error"}, late_sends=3, late_threshold_ms=10.0, lateness=None,
        lateness_histogram="", dropped=0, out_of_range=0, latency=h.summary(), histogram=h.encode(), endpoints=eps,
        timeseries=TimeSeries(1.0, tuple(t), tuple(sent), tuple(done), tuple(errs), tuple(p50), tuple(p95),
                              tuple(p99), tuple(encoded)),
        generator=GeneratorHealth("ok", processes=1, cpu_pct_per_process=(35.0,), cpu_pct_max=60.0,
                                  loop_lag_p99_ms=2.1, late_sends_pct=0.2),
        start_unix=1.8e9, end_unix=1.8e9 + seconds)


def full_run() -> dict[str, Any]:
    """Arguments of render_report for a run with every section."""
    from perf_tasks.report.charts import bar_chart

    results = benchmark_run(slow=1.1)
    baseline = benchmark_run("scheduled__2026-11-28")
    load = {"normal": load_result()}
    load_metric = Metric("load.normal.latency_p95_ms", load["normal"].latency.p95_ms, "ms", "lower",
                         Target(max=500, source="config/load_scenarios.yaml"), samples=load["normal"].requests)
    results = dataclasses.replace(results, suites=results.suites + (SuiteResult(
        "load", "standard", "t0", "t1", ()),), host_metrics=results.host_metrics + (load_metric,))
    evaluation = evaluate(results, [])
    comparison = compare(results, baseline, threshold_pct=5, metric_globs=["*.latency_p50_ms"], alpha=0.01,
                         baseline_kind="promoted")
    history = history_for(results)
    change = HistoryChange(metric="trading.order.latency_p50_ms", kind="regression", run="scheduled__2026-10-31",
                           commit="f00dfeed", detected_at_run=results.run_id, before=1.0, after=1.25,
                           change_pct=25.0, pvalue=1e-6, new=True, last_good_run="scheduled__2026-10-30",
                           last_good_commit="deadbeef", runs_before=30, runs_after=10)
    comparison = dataclasses.replace(comparison, history_changes=(change,), history_runs=40)
    sections = [
        {"title": "Stress: degradation under faults", "id": "stress",
         "html": bar_chart(["latency spike", "db slow", "cpu hog"], [12.0, 35.0, 61.0], unit="% p95 increase",
                           title="degradation per fault")},
        {"title": "Scalability", "id": "scale", "text": "USL fit: sigma 0.04, kappa 0.001 (peak at 31 workers).",
         "table": [{"workers": 1, "rate_per_s": 100.0}, {"workers": 2, "rate_per_s": 188.0},
                   {"workers": 4, "rate_per_s": 330.0}]},
    ]
    return {"results": results, "evaluation": evaluation, "comparison": comparison, "history": history,
            "load": load, "sections": sections, "links": {"stored at": "s3://perf/perf_daily/r/report.html"}}
