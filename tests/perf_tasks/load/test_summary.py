"""A load result in the common result model, judged by the one verdict engine (CLI and DAG alike)."""
from __future__ import annotations

import dataclasses

from perf_tasks.load.scenario import LoadScenario
from perf_tasks.load.summary import benchmark_result, evaluate_result, format_summary, result_metrics
from perf_tasks.results import BenchmarkResult, from_json, to_json
from tests.perf_tasks.load.test_merge import _synthetic


def _scenario(**kw: object) -> LoadScenario:
    fields = dict(name="s", users=10, requests_per_minute=600, duration_s=1, p95_target_ms=50,
                  max_error_rate_pct=5, warn_error_rate_pct=2)
    return LoadScenario(**{**fields, **kw})


def _verdicts(result, scenario) -> dict[str, str]:
    return {v.metric.rsplit(".", 1)[1]: v.status for v in evaluate_result(result, scenario).verdicts}


def test_error_rate_between_the_warning_and_the_limit_is_a_warning_not_a_failure():
    result = _synthetic([5.0] * 300, errors=9)  # 3 %
    ev = evaluate_result(result, _scenario())
    assert _verdicts(result, _scenario()) == {"latency_p95_ms": "pass", "error_rate_pct": "warning"}
    assert not ev.critical and [v.severity for v in ev.violations] == ["warning"]
    assert "verdict: WARNING" in format_summary(result, ev)


def test_error_rate_over_the_limit_and_a_slow_p95_are_critical():
    result = _synthetic([80.0] * 300, errors=18)  # 6 %, p95 80 ms > 50 ms
    ev = evaluate_result(result, _scenario())
    assert _verdicts(result, _scenario()) == {"latency_p95_ms": "critical", "error_rate_pct": "critical"}
    assert len(ev.critical) == 2 and "verdict: CRITICAL" in format_summary(result, ev)


def test_a_p95_from_too_few_requests_is_invalid_and_never_passes():
    result = _synthetic([5.0] * 100)
    ev = evaluate_result(result, _scenario())
    assert _verdicts(result, _scenario()) == {"latency_p95_ms": "invalid", "error_rate_pct": "pass"}
    assert ev.violations == () and "verdict: INVALID" in format_summary(result, ev)


def test_a_run_with_no_request_keeps_its_targets_as_invalid():
    empty = dataclasses.replace(_synthetic([5.0]), requests=0, errors=0, error_rate_pct=0.0, latency=None)
    assert _verdicts(empty, _scenario()) == {"latency_p95_ms": "invalid", "error_rate_pct": "invalid"}


def test_a_zero_error_limit_fails_on_one_error():
    result = _synthetic([5.0] * 300, errors=1)
    assert _verdicts(result, _scenario(max_error_rate_pct=0, warn_error_rate_pct=None))["error_rate_pct"] == "critical"


def test_metrics_carry_sample_counts_and_the_warning_bound_through_json():
    result = _synthetic([5.0] * 300, errors=9)
    bench = from_json(BenchmarkResult, to_json(benchmark_result(result, _scenario())))
    metrics = {m.name: m for m in bench.metrics}
    assert metrics["load.s.latency_p95_ms"].samples == 300 and metrics["load.s.error_rate_pct"].samples == 300
    assert metrics["load.s.error_rate_pct"].target.warning == 2 and metrics["load.s.error_rate_pct"].target.max == 5
    assert bench.metrics == result_metrics(result, _scenario())
    assert {m.name for m in result_metrics(result)} >= {"load.s.latency_p95_ms"}  # no scenario: no targets
    assert all(m.target is None for m in result_metrics(result))


def test_all_failed_requests_fail_latency_as_no_data_never_pass():
    """100 % connection errors: no successful request, so the p95 target fails as "no data"."""
    failed = dataclasses.replace(_synthetic([2.0] * 300, errors=0), errors=300, error_rate_pct=100.0, latency=None,
                                 errors_by_class={"connection": 300})
    ev = evaluate_result(failed, _scenario())
    verdict = next(v for v in ev.verdicts if v.metric.endswith("latency_p95_ms"))
    assert verdict.status == "critical" and verdict.reason.startswith("no data: no successful request")
    assert "connection 300" in verdict.reason and "verdict: CRITICAL" in format_summary(failed, ev)


def test_a_saturated_generator_makes_every_target_invalid_not_a_service_failure():
    from perf_tasks.load.result import GeneratorHealth

    gen = GeneratorHealth("saturated", "load generator saturated: 40.0 % of sends were late while its process "
                          "used 99 % of a core (limit 85 %); ... Run about 3 shards (one core each)",
                          cpu_pct_per_process=(99.0,), shards_needed=3)
    slow = dataclasses.replace(_synthetic([900.0] * 300, errors=30), generator=gen)
    ev = evaluate_result(slow, _scenario())
    assert _verdicts(slow, _scenario()) == {"latency_p95_ms": "invalid", "error_rate_pct": "invalid"}
    assert ev.violations == () and all("load generator saturated" in v.reason for v in ev.verdicts)
    text = format_summary(slow, ev)
    assert "generator verdict: SATURATED" in text and "verdict: INVALID" in text and "3 shards" in text


def test_shards_that_did_not_overlap_make_the_targets_invalid():
    bad = dataclasses.replace(_synthetic([5.0] * 300), invalid_reason="shards did not run at the same time: ...")
    assert _verdicts(bad, _scenario()) == {"latency_p95_ms": "invalid", "error_rate_pct": "invalid"}


def test_a_late_but_complete_generator_leaves_passes_standing_and_a_short_one_invalidates_them():
    """Latency runs from the intended send time, so late sends only add to it: a pass stands. A
    generator that dropped arrivals (or sent < 98 % of the rate) under-delivered the load: even a
    pass is of a lighter load, so every target is invalid."""
    from perf_tasks.load.result import GeneratorHealth

    late = GeneratorHealth("saturated", "load generator saturated: 3.0 % of sends were late while its event loop "
                           "lagged 60 ms at p99", achieved_pct=100.0, dropped=0)
    fast = dataclasses.replace(_synthetic([5.0] * 300), generator=late)
    assert _verdicts(fast, _scenario()) == {"latency_p95_ms": "pass", "error_rate_pct": "pass"}
    slow = dataclasses.replace(_synthetic([80.0] * 300), generator=late)
    verdicts = {v.metric.rsplit(".", 1)[1]: v for v in evaluate_result(slow, _scenario()).verdicts}
    assert verdicts["latency_p95_ms"].status == "invalid" and "would have been critical" in verdicts["latency_p95_ms"].reason
    short = dataclasses.replace(late, achieved_pct=90.0, dropped=30)
    assert _verdicts(dataclasses.replace(fast, generator=short), _scenario()) == {
        "latency_p95_ms": "invalid", "error_rate_pct": "invalid"}
