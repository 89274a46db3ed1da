from __future__ import annotations

import json

import pytest

from perf_tasks.alerts.rules import check_rule, evaluate
from perf_tasks.alerts.slack import (MAX_BLOCKS, MAX_SECTION_CHARS, RunInfo, build_message, deliver,
                                     webhook_sender)
from perf_tasks.config import AlertRule, load_config
from perf_tasks.errors import DeliveryError
from perf_tasks.results import (Comparison, Evaluation, Metric, MetricChange, RunResults, SuiteResult, Target,
                                Violation)
from tests.conftest import REPO

RULES = load_config(REPO / "config").alerts.rules
RUN = RunInfo(dag_id="perf_daily", run_id="manual__1", profile="smoke", report_url="s3://b/p/report.html",
              run_url="http://localhost:8080/dags/perf_daily/runs/manual__1")


def _results(*metrics: Metric) -> RunResults:
    return RunResults(dag_id="perf_daily", run_id="r", profile="smoke", started_at="t", fingerprint={},
                      suites=(), host_metrics=metrics)


def test_spec_rules_grade_warning_and_critical():
    rule = AlertRule(name="response_time_p95", metric="*.latency_p95_ms", warning=1000, critical=2000)
    m = lambda v: Metric("api.x.latency_p95_ms", v, "ms", "lower")  # noqa: E731
    assert check_rule(rule, m(999)) is None
    assert check_rule(rule, m(1500)).severity == "warning"
    v = check_rule(rule, m(2500))
    assert v.severity == "critical" and v.threshold == 2000 and v.source == "rule response_time_p95"


def test_own_target_takes_precedence_over_a_generic_rule():
    slow_but_within_target = Metric("risk.mc.latency_p95_ms", 3000.0, "ms", "lower", Target(max=5000, source="cfg"))
    ev = evaluate(_results(slow_but_within_target), RULES)
    assert ev.violations == () and ev.verdicts[0].passed and ev.verdicts[0].margin == pytest.approx(5000 / 3000)


def test_missed_target_is_a_violation_with_margin_below_one():
    ev = evaluate(_results(Metric("risk.mc.latency_p95_ms", 10.0, "ms", "lower", Target(max=5, source="cfg"))), RULES)
    (v,) = ev.violations
    assert (v.metric, v.value, v.threshold, v.severity) == ("risk.mc.latency_p95_ms", 10.0, 5.0, "critical")
    assert ev.verdicts[0].margin == 0.5 and not ev.verdicts[0].passed


def test_host_readings_are_judged_by_the_resource_rules():
    ev = evaluate(_results(Metric("host.cpu_pct", 95.0, "%", "lower"), Metric("host.memory_pct", 85.0, "%", "lower"),
                           Metric("host.disk_pct", 50.0, "%", "lower")), RULES)
    assert [(v.metric, v.severity) for v in ev.violations] == [("host.cpu_pct", "warning"),  # a caveat, never critical
                                                              ("host.memory_pct", "warning")]


def _violation(metric: str, severity: str = "critical") -> Violation:
    return Violation(metric=metric, value=12.5, unit="ms", threshold=10.0, op="<=", severity=severity,
                     source="target (config/benchmarks.yaml)")


def test_message_groups_violations_by_severity_with_value_threshold_and_links():
    ev = Evaluation(run_id="manual__1", verdicts=(), violations=(
        _violation("risk.a.latency_p95_ms"), _violation("risk.b.latency_p95_ms", "warning")))
    msg = build_message(RUN, ev)
    text = json.dumps(msg["blocks"])
    assert msg["text"].startswith("perf_daily: CRITICAL — 1 critical, 1 warning")
    crit = next(b for b in msg["blocks"] if "Critical" in b.get("text", {}).get("text", ""))
    assert "risk.a.latency_p95_ms" in crit["text"]["text"] and "risk.b" not in crit["text"]["text"]
    assert "12.50 ms" in text and "<= 10.00 ms" in text
    assert "manual__1" in text and "s3://b/p/report.html" in text and RUN.run_url in text


def test_nothing_to_alert_builds_no_message():
    assert build_message(RUN, Evaluation(run_id="r", verdicts=(), violations=())) is None


def test_regressions_and_failed_steps_are_in_the_message():
    cmp = Comparison(run_id="r", baseline_run_id="r0", threshold_pct=10, baseline_kind="promoted", changes=(
        MetricChange("risk.a.latency_p50_ms", "ms", "lower", 1.0, 1.5, 50.0, "regression", pvalue=0.001,
                     ratio_ci_low=1.4, ratio_ci_high=1.6),))
    msg = build_message(RUN, None, cmp, {"persist_artifacts": "StoreError: S3 unreachable"})
    text = json.dumps(msg)
    assert "run FAILED" in msg["text"] and "1 regression" in msg["text"]
    assert "+50.0 %" in text and "r0" in text and "S3 unreachable" in text and "p=0.001" in text


def test_per_run_regressions_vs_the_previous_run_do_not_alert_by_default():
    cmp = Comparison(run_id="r", baseline_run_id="r0", threshold_pct=10, baseline_kind="previous", changes=(
        MetricChange("risk.a.latency_p50_ms", "ms", "lower", 1.0, 1.5, 50.0, "regression", pvalue=0.001),))
    assert build_message(RUN, None, cmp) is None
    assert "1 regression" in build_message(RUN, None, cmp, alert_on="any")["text"]


def test_per_run_regressions_vs_the_previous_run_alert_only_with_enough_processes_on_both_sides():
    def cmp(procs_b: int, procs_c: int) -> Comparison:
        return Comparison(run_id="r", baseline_run_id="r0", threshold_pct=10, baseline_kind="previous", changes=(
            MetricChange("risk.a.latency_p50_ms", "ms", "lower", 1.0, 1.5, 50.0, "regression", pvalue=0.001,
                         processes_baseline=procs_b, processes_current=procs_c),))
    assert build_message(RUN, None, cmp(2, 2), alert_on="processes", alert_min_processes=5) is None  # smoke
    assert build_message(RUN, None, cmp(5, 2), alert_on="processes", alert_min_processes=5) is None
    assert "1 regression" in build_message(RUN, None, cmp(5, 5), alert_on="processes", alert_min_processes=5)["text"]


def test_message_respects_slack_size_limits():
    ev = Evaluation(run_id="r", verdicts=(), violations=tuple(
        _violation(f"suite.bench{i}.latency_p95_ms_" + "x" * 200) for i in range(500)))
    msg = build_message(RUN, ev)
    assert len(msg["blocks"]) <= MAX_BLOCKS
    assert all(len(b["text"]["text"]) <= MAX_SECTION_CHARS for b in msg["blocks"] if b["type"] == "section")
    assert "and 460 more" in json.dumps(msg)


def test_deliver_posts_to_a_real_webhook(slack, tmp_path):
    msg = build_message(RUN, Evaluation(run_id="r", verdicts=(), violations=(_violation("a.b.c"),)))
    d = deliver(msg, webhook_sender(slack.url), tmp_path, channel="test")
    assert d.status == "sent" and d.attempts == 1
    assert slack.messages == [{"text": msg["text"], "blocks": msg["blocks"]}]


def test_deliver_retries_then_writes_the_outbox(slack, tmp_path):
    slack.reset(status=500)
    msg = build_message(RUN, Evaluation(run_id="r", verdicts=(), violations=(_violation("a.b.c"),)))
    sleeps: list[float] = []
    d = deliver(msg, webhook_sender(slack.url), tmp_path / "outbox", channel="test", attempts=3, backoff_s=0.5,
                sleep=sleeps.append)
    assert d.status == "outbox" and slack.attempts == 3 and sleeps == [0.5, 1.0]
    saved = json.loads((tmp_path / "outbox" / "slack-message.json").read_text())
    assert saved["message"] == msg and "500" in saved["errors"][0]


def test_no_sender_goes_to_the_outbox(tmp_path):
    msg = {"text": "t", "blocks": []}
    d = deliver(msg, None, tmp_path, channel="outbox (SLACK_WEBHOOK_URL not set)")
    assert d.status == "outbox" and (tmp_path / "slack-message.json").exists()


def test_webhook_sender_raises_on_error_status(slack):
    slack.reset(status=500)
    with pytest.raises(DeliveryError, match="500"):
        webhook_sender(slack.url)({"text": "t"})


def _judged(value: float, target: Target, samples: int | None = None, name: str = "load.s.error_rate_pct"):
    """Target grading alone (the business rules that also judge targeted metrics, e.g.
    availability on load error rates, are tested below)."""
    rules = [r for r in RULES if not r.with_targets]
    ev = evaluate(_results(Metric(name, value, "%", "lower", target, samples=samples)), rules)
    return ev.verdicts[0], ev.violations


def _metric(name: str, value: float, unit: str = "%", target: Target | None = None, **kw) -> Metric:
    return Metric(name, value, unit, "lower", target, **kw)


def test_business_rules_availability_volume_risk_delays_and_model_errors():
    ev = evaluate(_results(
        _metric("load.normal.error_rate_pct", 0.5, target=Target(max=5), samples=10_000),  # availability 99.5 %
        _metric("load.burst.error_rate_pct", 0.05, target=Target(max=5), samples=10_000),  # 99.95 %: fine
        Metric("trading.order_matching_in_process.throughput_per_s", 420.0, "1/s", "higher"),
        Metric("trading.pnl_portfolio.throughput_per_s", 300.0, "1/s", "higher"),  # not an order volume
        _metric("risk.var_monte_carlo.latency_p99_ms", 6200.0, "ms"),
        _metric("risk.var_parametric.latency_p99_ms", 0.05, "ms"),
        _metric("risk.risk_limit_check.latency_p99_ms", 12.0, "ms"),
        _metric("models.cnn_lstm_latency.error_rate_pct", 0.4),  # generic rule would allow 2 %
        _metric("data.ingest.error_rate_pct", 0.4)), RULES)
    got = {(v.metric, v.severity, v.source, v.op) for v in ev.violations}
    assert got == {
        ("load.normal.error_rate_pct", "warning", "rule availability", "<="),
        ("trading.order_matching_in_process.throughput_per_s", "critical", "rule trading_volume", ">="),
        ("risk.var_monte_carlo.latency_p99_ms", "critical", "rule risk_calculation_delay", "<="),
        ("risk.risk_limit_check.latency_p99_ms", "warning", "rule risk_check_delay", "<="),
        ("models.cnn_lstm_latency.error_rate_pct", "warning", "rule model_prediction_errors", "<="),
    }
    assert next(v for v in ev.verdicts if v.metric == "load.normal.error_rate_pct").status == "pass"


def test_a_target_judged_invalid_carries_no_business_alert():
    ev = evaluate(_results(_metric("load.normal.error_rate_pct", 3.0, target=Target(max=5), samples=10_000,
                                   invalid_reason="load generator saturated")), RULES)
    assert ev.verdicts[0].status == "invalid" and ev.violations == ()


def test_a_below_rule_refuses_a_critical_bound_above_its_warning_bound():
    with pytest.raises(ValueError, match="warning \\(500.0\\) must not be under critical \\(1000.0\\)"):
        AlertRule(name="v", metric="x", when="below", warning=500, critical=1000)


def test_a_target_warning_bound_grades_pass_warning_and_critical():
    target = Target(max=5, warning=2, source="load scenario s")
    verdict, violations = _judged(1.5, target)
    assert verdict.status == "pass" and verdict.threshold == 5 and violations == ()
    verdict, (violation,) = _judged(3.0, target)
    assert (verdict.status, verdict.severity, verdict.threshold, verdict.passed) == ("warning", "warning", 2, False)
    assert "not the warning bound <= 2" in verdict.reason and verdict.margin == pytest.approx(2 / 3)
    assert (violation.severity, violation.threshold, violation.source) == ("warning", 2, "target (load scenario s)")
    verdict, (violation,) = _judged(6.0, target)
    assert (verdict.status, verdict.threshold) == ("critical", 5)
    assert (violation.severity, violation.threshold) == ("critical", 5)


def test_a_min_target_warning_bound_is_above_the_main_bound():
    target = Target(min=100, warning=150)
    verdict, _ = _judged(120.0, target, name="load.s.throughput_per_s")
    assert verdict.status == "warning" and verdict.op == ">=" and verdict.threshold == 150


@pytest.mark.parametrize("kwargs,needle", [
    ({"max": 5, "warning": 6}, "stricter"),
    ({"min": 5, "warning": 4}, "stricter"),
    ({"max": 5, "warning": 2, "severity": "warning"}, "severity 'critical'"),
    ({"max": 5, "warning": float("nan")}, "finite"),
    ({"min": 0}, "positive"),
])
def test_target_refuses_a_warning_bound_that_is_not_stricter(kwargs, needle):
    with pytest.raises(ValueError, match=needle):
        Target(**kwargs)


def test_a_zero_max_allows_none_and_any_value_misses_it():
    verdict, _ = _judged(0.0, Target(max=0), samples=100)
    assert verdict.status == "pass"
    verdict, (violation,) = _judged(0.5, Target(max=0), samples=100)
    assert verdict.status == "critical" and verdict.margin == 0 and violation.threshold == 0


def test_a_metric_with_no_observations_is_invalid_whatever_its_value():
    verdict, violations = _judged(0.0, Target(max=5, warning=2), samples=0)
    assert verdict.status == "invalid" and "0 observations; a verdict needs >= 1" in verdict.reason
    assert violations == ()


def test_the_message_lists_invalid_targets_alongside_the_alerts():
    ev = evaluate(_results(Metric("a.b.latency_p95_ms", 10.0, "ms", "lower", Target(max=5), samples=1000),
                           Metric("a.c.latency_p95_ms", 1.0, "ms", "lower", Target(max=5), samples=30)), RULES)
    text = json.dumps(build_message(RUN, ev))
    assert "Invalid: not judged" in text and "a.c.latency_p95_ms" in text and "30 observations" in text
    only_invalid = evaluate(_results(Metric("a.c.latency_p95_ms", 1.0, "ms", "lower", Target(max=5), samples=30)),
                            RULES)
    assert build_message(RUN, only_invalid) is None  # listed in the report and the CLI, not alerted alone


def test_a_saturated_load_generator_alerts_on_its_own_as_invalid_not_as_a_failure():
    reason = "load generator saturated: 40.0 % of sends were late while its process used 99 % of a core"
    ev = evaluate(_results(Metric("load.burst.latency_p95_ms", 20000.0, "ms", "lower", Target(max=2000), samples=5000,
                                  invalid_reason=reason)), RULES)
    assert [v.status for v in ev.verdicts] == ["invalid"] and ev.violations == ()
    message = build_message(RUN, ev)
    assert message is not None and "1 invalid: load generator saturated" in message["text"]
    assert "critical" not in message["text"] and reason in json.dumps(message)


def test_no_data_fails_at_the_targets_severity():
    verdict, violations = _judged(0.0, Target(max=200), samples=0)
    assert verdict.status == "invalid"  # nothing asked: invalid
    m = Metric("load.s.latency_p95_ms", 0.0, "ms", "lower", Target(max=200), samples=0,
               no_data_reason="no successful request (300 answered or failed: connection 300)")
    ev = evaluate(_results(m), RULES)
    assert ev.verdicts[0].status == "critical" and ev.verdicts[0].reason.startswith("no data: no successful")
    assert len(ev.critical) == 1


def test_history_lines_carry_the_commit_range_levels_intervals_and_kind():
    from perf_tasks.alerts.slack import history_line
    from perf_tasks.results import HistoryChange

    reg = HistoryChange(metric="risk.mc.latency_p50_ms", kind="regression", run="r14", commit="b" * 40,
                        detected_at_run="r17", before=50.0, after=56.0, change_pct=12.0, pvalue=1e-6, new=True,
                        last_good_run="r13", last_good_commit="a" * 40, before_low=49.5, before_high=50.5,
                        after_low=55.0, after_high=57.0, runs_before=30, runs_after=4, runs_excluded=1)
    line = history_line(reg)
    assert "`aaaaaaaaaaaa..bbbbbbbbbbbb`" in line and "[49.5, 50.5]" in line and "[55, 57]" in line
    assert "runs 30 before / 4 after, 1 excursions left out" in line
    spike = HistoryChange(metric="m", kind="transient", run="r9", commit=None, detected_at_run="r11", before=50.0,
                          after=90.0, change_pct=80.0, pvalue=None, new=True)
    assert "transient (came back, not a level change)" in history_line(spike)
    noise = HistoryChange(metric="m", kind="noise", run="r20", commit=None, detected_at_run="r40", before=8.0,
                          after=2.0, change_pct=-75.0, pvalue=None, new=True)
    assert "noise changed" in history_line(noise)
