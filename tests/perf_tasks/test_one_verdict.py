"""One verdict, stated once (perf_tasks.verdict): the same word and the same first finding in the
terminal, the report, Slack, the run note, JUnit; an INVALID target that would have missed is a
finding, never silent; a regression that does not alert says why; "no data" where nothing was
measured. Pure functions on small results (the CLI's exit code: tests/perf_tasks/test_cli.py)."""
from __future__ import annotations

import json
import re
import xml.etree.ElementTree as ET

from perf_tasks import cli
from perf_tasks.alerts.rules import evaluate
from perf_tasks.alerts.slack import RunInfo, build_message
from perf_tasks.fmt import factor, format_margin, format_value
from perf_tasks.report.html import render_report
from perf_tasks.report.text import summary_table, verdict_block
from perf_tasks.results import Comparison, Evaluation, Metric, MetricChange, RunResults, Target, Verdict
from perf_tasks.verdict import judge_run, verdict_of_summary

SLOW = "models.cnn_lstm_latency.latency_p95_ms"
RUN = RunInfo(dag_id="perf_daily", run_id="r1", profile="smoke", report_url="http://h/perf-reports/perf_daily/r1/"
              "report.html")


def _results(*metrics: Metric) -> RunResults:
    return RunResults(dag_id="perf_daily", run_id="r1", profile="smoke", started_at="t", fingerprint={},
                      suites=(), host_metrics=metrics)


def _the_1037_ms_case() -> tuple[RunResults, Evaluation]:
    """The case from issue 21: 1,037 ms against a 100 ms target from 27 observations (a p95 needs 200)."""
    results = _results(Metric(SLOW, 1037.0, "ms", "lower", Target(max=100.0, source="config/benchmarks.yaml"),
                              samples=27),
                       Metric("risk.var.latency_p95_ms", 0.13, "ms", "lower", Target(max=1000.0), samples=2000),
                       Metric("risk.mc.latency_p95_ms", 53.0, "ms", "lower", Target(max=5000.0), samples=156))
    return results, evaluate(results, [])


def test_a_target_that_would_have_been_missed_is_invalid_and_the_first_finding_with_reason_and_factor():
    _, ev = _the_1037_ms_case()
    slow = next(v for v in ev.verdicts if v.metric == SLOW)
    assert slow.status == "invalid" and slow.would_have == "critical"
    assert next(v for v in ev.verdicts if v.metric == "risk.mc.latency_p95_ms").would_have == "pass"
    judged = judge_run(ev)
    assert judged.verdict == "INVALID" and not judged.fails_run
    first = judged.headline[0]
    assert first.kind == "would_miss" and first.metric == SLOW and first.label == "INVALID"
    assert first.detail == ("1,037 ms against target <= 100 ms, 10.4x the target: would have been CRITICAL")
    assert "27 observations; this percentile needs >= 200" in first.note
    # the one that would have met is a caveat, not a finding
    assert [f.metric for f in judged.not_judged] == ["risk.mc.latency_p95_ms"]
    assert judged.line == "verdict: INVALID (3 targets: 1 pass, 2 INVALID)"


def test_the_report_and_the_slack_message_open_with_that_finding():
    results, ev = _the_1037_ms_case()
    html = render_report(results, ev, None, charts=False)
    assert re.search(r"<h1>perf_daily: <span class='warn'>INVALID</span></h1>", html)
    findings = re.search(r"<ol class='findings'>(.*?)</ol>", html, re.S)
    assert findings, "the summary lists the findings"
    first = re.findall(r"<li>(.*?)</li>", findings.group(1), re.S)[0]
    assert SLOW in first and "10.4x the target" in first and "would have been CRITICAL" in first
    assert "every judged target met" not in html  # the old "Findings: none" for this very run
    msg = build_message(RUN, ev, None)
    assert msg is not None, "a would-be miss alerts on its own"
    assert msg["text"].startswith("perf_daily: INVALID — 1 would have missed (INVALID)")
    sections = [b["text"]["text"] for b in msg["blocks"] if b["type"] == "section"]
    assert sections[0].startswith("*:grey_exclamation: Would have missed") and SLOW in sections[0]
    assert "1,037 ms against target <= 100 ms, 10.4x the target" in sections[0]


def test_terminal_note_junit_and_report_state_the_same_verdict():
    results, ev = _the_1037_ms_case()
    judged = judge_run(ev)
    block = verdict_block(judged).splitlines()
    assert block[1].startswith(f"  1. INVALID {SLOW}: 1,037 ms") and block[-1] == judged.line
    doc = {"dag_id": "perf_daily", "evaluation": json.loads(json.dumps(cli.to_dict(ev))), "steps": [], "error": None,
           "exit_code": 0, "verdict": judged.verdict, "verdict_line": judged.line, "fails_run": judged.fails_run}
    root = cli.junit_tree(doc)
    props = {p.get("name"): p.get("value") for p in root.iter("property")}
    assert props["verdict"] == "INVALID" and props["verdict_line"] == judged.line
    skipped = [c.find("skipped").get("message") for c in root.iter("testcase") if c.find("skipped") is not None]
    assert any(m.startswith("INVALID, would have been CRITICAL: 1037 ms") for m in skipped)
    assert "INVALID" in render_report(results, ev, None, charts=False).split("</h1>")[0]
    # the history site reads the verdict the run was sealed with, not a recount of its counts
    assert verdict_of_summary("success", {**judged.summary(), "targets_invalid": 0}) == "INVALID"
    ET.tostring(root)  # serialisable


def test_a_critical_verdict_fails_the_run_only_with_fail_on_critical():
    ev = evaluate(_results(Metric("risk.var.latency_p95_ms", 2000.0, "ms", "lower", Target(max=1000.0),
                                  samples=2000)), [])
    assert judge_run(ev).verdict == "CRITICAL" and judge_run(ev).fails_run
    never = judge_run(ev, fail_on="never")
    assert never.verdict == "CRITICAL" and not never.fails_run
    assert judge_run(ev, failed_steps={"persist_artifacts": "store down"}, fail_on="never").fails_run


def test_a_regression_that_does_not_alert_says_why_beside_it_and_one_that_alerts_warns():
    ev = evaluate(_results(Metric("risk.var.latency_p50_ms", 1.97, "ms", "lower")), [])
    change = MetricChange(metric="risk.var.latency_p50_ms", unit="ms", direction="lower", baseline=1.0, current=1.97,
                          change_pct=97.1, status="regression", processes_baseline=1, processes_current=1)
    previous = Comparison(run_id="r1", baseline_run_id="r0", threshold_pct=5.0, changes=(change,),
                          baseline_kind="previous")
    quiet = judge_run(ev, previous)
    f = quiet.headline[0]
    assert f.kind == "regression" and not f.alerts and quiet.verdict == "PASS"
    assert "vs the previous run (r0)" in f.detail and "previous baseline" not in f.text
    assert f.note.startswith("not alerted: compared with the previous run, not a promoted baseline")
    assert build_message(RUN, ev, previous) is None  # it does not alert, and the report says so
    assert "not alerted" in render_report(_results(), ev, previous, charts=False)
    processes = judge_run(ev, previous, alert_on="processes")
    assert "here 1; alerts.yaml regression.alert_on 'processes'" in processes.headline[0].note
    promoted = judge_run(ev, Comparison(run_id="r1", baseline_run_id="r0", threshold_pct=5.0, changes=(change,),
                                        baseline_kind="promoted"))
    assert promoted.verdict == "WARNING" and promoted.headline[0].alerts and promoted.headline[0].note == ""
    assert "vs the promoted baseline (run r0)" in promoted.headline[0].detail


def test_nothing_measured_reads_no_data_and_all_invalid_is_not_every_target_met():
    v = Verdict(metric="load.normal.error_rate_pct", value=0.0, unit="%", threshold=1.0, op="<=", margin=float("inf"),
                passed=False, severity="critical", source="t", status="invalid", reason="0 observations", samples=0)
    ev = Evaluation(run_id="r1", verdicts=(v,), violations=())
    row = summary_table(ev).splitlines()[2]
    assert row.split()[3:] == ["no", "data", "0", "no", "data", "INVALID"]  # not "0%  inf"
    html = render_report(_results(), ev, None, charts=False)
    assert "every judged target met" not in html and "no target could be judged: all 1 are INVALID" in html
    judged = judge_run(ev)
    assert judged.verdict == "INVALID" and judged.not_judged[0].detail.startswith("no data against target")
    assert format_value(float("nan"), "ms") == "no data" and format_margin(float("nan")) == "no data"


def test_numbers_read_plainly_with_units():
    assert format_value(1037.0, "ms") == "1,037 ms" and format_value(0.001021, "ms") == "0.001021 ms"
    assert format_value(0.0000012, "ms") == "0.0000012 ms" and "e" not in format_value(3.2e-7, "s")
    assert factor(873.0, 1000.0) == "0.87x the target" and factor(1.0, 0.0) == ""


def test_chart_legends_use_plain_numbers_with_units():
    from perf_tasks.report.charts import distribution_chart

    svg = distribution_chart([900.0 + i for i in range(300)], title="obs", target_ms=1100.0,
                             percentiles={"p95": 1037.4})
    assert "p95 1,037 ms" in svg and "target 1,100 ms" in svg and "1.04e+03" not in svg


def _with_na(*metrics: Metric) -> RunResults:
    from perf_tasks.results import SuiteResult, not_applicable_result

    na = not_applicable_result("stress", "recovery_sqlite", "recovery_sqlite is not applicable to system 'quotes': "
                               "it must start (and may kill) the service, and it gives only a url")
    suite = SuiteResult(suite="stress", profile="smoke", started_at="t", finished_at="t", benchmarks=(na,))
    return RunResults(dag_id="perf_stress", run_id="r1", profile="smoke", started_at="t", fingerprint={},
                      suites=(suite,), host_metrics=metrics)


def test_a_scenario_not_applicable_to_the_system_is_a_finding_never_a_pass_nor_a_failure():
    ok = Metric("stress.cpu_saturation.latency_p95_ms", 20.0, "ms", "lower", Target(max=100.0), samples=500)
    ev = evaluate(_with_na(ok), [])
    assert ev.not_applicable == {"stress.recovery_sqlite": ev.not_applicable["stress.recovery_sqlite"]}
    assert not ev.failed_benchmarks and not ev.violations
    judged = judge_run(ev)
    assert judged.verdict == "PASS" and not judged.fails_run  # the other scenario passed; this one is said apart
    na = [f for f in judged.headline if f.kind == "not_applicable"]
    assert len(na) == 1 and na[0].label == "NOT APPLICABLE" and "gives only a url" in na[0].detail
    assert not na[0].alerts
    assert judged.line == "verdict: PASS (1 target: 1 pass; 1 not applicable)"
    # nothing applicable at all: nothing was measured, so never a pass
    only = judge_run(evaluate(_with_na(), []))
    assert only.verdict == "INVALID" and not only.fails_run
    assert "NOT APPLICABLE stress.recovery_sqlite" in verdict_block(only)
