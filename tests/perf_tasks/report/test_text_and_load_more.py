"""The terminal summary (invalid targets, alert rules, the baseline line, Markdown) and the load
section's hand-drawn charts and closed-model rates: pure functions of small results."""
from __future__ import annotations

import dataclasses
import re

from perf_tasks.report.load import line_chart, load_section
from perf_tasks.report.text import markdown_table, summary_table, verdict_block
from perf_tasks.verdict import verdict_lines
from perf_tasks.results import Comparison, Evaluation, MetricChange, Verdict, Violation
from perf_tasks.verdict import judge_run
from tests.perf_tasks.report.sample import load_result

P95 = "risk.var.latency_p95_ms"


def _verdict(metric: str, value: float, status: str = "pass", **kw) -> Verdict:
    return Verdict(metric=metric, value=value, unit="ms", threshold=10.0, op="<=", margin=10.0 / value,
                   passed=status == "pass", severity=kw.pop("severity", "critical"),
                   source="target (config/benchmarks.yaml)", status=status, **kw)  # type: ignore[arg-type]


def _evaluation() -> Evaluation:
    return Evaluation(
        run_id="r2",
        verdicts=(_verdict(P95, 12.5, "critical", samples=1200),
                  _verdict("risk.var.latency_p99_ms", 9.0, samples=None),
                  _verdict("load.normal.latency_p95_ms", 4.0, "invalid", samples=150,
                           reason="p95 from 150 requests (< 200)")),
        violations=(Violation(P95, 12.5, "ms", 10.0, "<=", "critical", "target (config/benchmarks.yaml)"),
                    Violation("host.cpu_pct", 95.0, "%", 90.0, "<=", "warning", "rule host_cpu")))


def _change(metric: str, status: str, baseline: float, current: float) -> MetricChange:
    return MetricChange(metric=metric, unit="ms", direction="lower", baseline=baseline, current=current,
                        change_pct=100.0 * (current - baseline) / baseline, status=status)  # type: ignore[arg-type]


def test_summary_table_lists_targets_alert_rules_and_the_baseline_and_the_block_the_findings():
    comparison = Comparison(run_id="r2", baseline_run_id="r1", threshold_pct=5.0, note="fingerprints differ: cpu",
                            changes=(_change(P95, "regression", 10.0, 12.5), _change("a.b.c_ms", "improvement", 2.0,
                                                                                      1.0)))
    lines = summary_table(_evaluation(), comparison).splitlines()
    head, rule = lines[0], lines[1]
    assert head.split() == ["metric", "target", "measured", "n", "margin", "verdict"]
    assert set(rule.replace(" ", "")) == {"-"} and len(rule) == len(head)  # one dash per column character
    row = next(line for line in lines if line.startswith(P95 + " "))
    assert row.split()[-1] == "CRITICAL" and "12.50 ms" in row and "1,200" in row and "0.8x" in row
    p99 = next(line for line in lines if line.startswith("risk.var.latency_p99_ms"))
    assert " - " in p99 and p99.rstrip().endswith("PASS")  # no sample count
    text = "\n".join(lines)
    assert "alerts:\n  WARNING  host.cpu_pct = 95.00% (threshold <= 90.00%; rule host_cpu)" in text
    assert P95 + " = 12.50" not in text.split("alerts:")[1]  # a target's violation is its row, not an alert
    assert "baseline r1: 1 regressions, 1 improvements (threshold 5 %); fingerprints differ: cpu" in text
    block = verdict_block(judge_run(_evaluation(), comparison)).splitlines()
    assert block[0] == "findings (3, worst first):"
    assert block[1] == f"  1. CRITICAL {P95}: 12.50 ms against target <= 10.00 ms, 1.25x the target"
    assert block[2] == "  2. WARNING host.cpu_pct: 95.00%, threshold <= 90.00% (rule host_cpu)"
    assert block[3].startswith(f"  3. REGRESSION {P95}: 10.00 ms -> 12.50 ms (+25.0 %) vs the previous run (r1) "
                               "(not alerted: compared with the previous run, not a promoted baseline")
    assert block[4] == "not judged (INVALID: the measurement cannot carry a verdict; never a pass):"
    assert block[5] == "  load.normal.latency_p95_ms: p95 from 150 requests (< 200)"
    assert block[-1] == ("verdict: CRITICAL (3 targets: 1 pass, 1 critical, 1 INVALID); the run FAILS "
                         "(alerts.yaml run_state.fail_on: critical)")


def test_summary_table_without_a_baseline_says_why():
    evaluation = Evaluation(run_id="r1", verdicts=(_verdict(P95, 5.0),), violations=())
    text = summary_table(evaluation, Comparison(run_id="r1", baseline_run_id=None, threshold_pct=5.0,
                                                note="no earlier successful run"))
    assert text.splitlines()[-1] == "baseline: none (no earlier successful run)"
    assert "invalid" not in text and "alerts:" not in text


def test_verdicts_read_critical_before_invalid_before_warning_before_pass():
    e = _evaluation()
    assert judge_run(e).verdict == "CRITICAL"
    no_critical = dataclasses.replace(e, violations=e.violations[1:])
    assert judge_run(no_critical).verdict == "INVALID"
    only_warning = dataclasses.replace(no_critical, verdicts=e.verdicts[:2])
    assert judge_run(only_warning).verdict == "WARNING"
    assert judge_run(dataclasses.replace(only_warning, violations=())).verdict == "PASS"
    assert judge_run(e).line == "verdict: CRITICAL (3 targets: 1 pass, 1 critical, 1 INVALID)"
    assert judge_run(dataclasses.replace(e, verdicts=e.verdicts[1:2], violations=())).line == \
        "verdict: PASS (1 target: 1 pass)"


def test_verdict_lines_give_one_line_per_target_then_rules_then_the_verdict():
    lines = verdict_lines(_evaluation())
    assert lines[0] == f"CRITICAL {P95} = 12.50 ms (target <= 10.00 ms, n=1,200)"
    assert lines[1] == "PASS     risk.var.latency_p99_ms = 9.00 ms (target <= 10.00 ms)"
    assert lines[2].endswith("n=150): p95 from 150 requests (< 200)") and lines[2].startswith("INVALID ")
    assert lines[3] == "WARNING  host.cpu_pct = 95.00% (threshold <= 90.00%; rule host_cpu)"
    assert lines[4].startswith("verdict: CRITICAL") and len(lines) == 5


def test_markdown_table_names_the_machine_and_every_target():
    fingerprint = {"cpu_model": "EPYC", "cpu_count_logical": 8, "memory_total_bytes": 16 * 2**30,
                   "python": "3.12.3", "packages": {"torch": "2.5.0"}, "git_sha": "0123456789abcdef"}
    lines = markdown_table(_evaluation(), fingerprint, "r2").splitlines()
    assert lines[0] == ("Run `r2` on EPYC (8 logical CPUs, 16 GiB), Python 3.12.3, torch 2.5.0, commit "
                        "`0123456789ab`.")
    assert lines[2] == "| metric | target | measured | samples | margin | verdict |"
    assert lines[4] == f"| `{P95}` | <= 10.00 ms | 12.50 ms | 1,200 | 0.8x | CRITICAL |"
    assert lines[5].endswith("| - | 1.1x | PASS |") and len(lines) == 7
    bare = markdown_table(_evaluation(), {}, "r3").splitlines()[0]
    assert "torch -" in bare and "commit `-`" in bare and "0 GiB" in bare


def test_line_chart_scales_to_the_highest_value_and_labels_range_and_span():
    svg = line_chart([0.0, 1.0, 2.0], {"sent/s": [0.0, 5.0, 10.0], "completed/s": [0.0, 2.5, 5.0]}, unit="req/s",
                     width=206, height=126)
    assert svg.startswith('<svg width="206" height="126"') and svg.endswith("</svg>")
    assert ">10 req/s</text>" in svg and ">2 s</text>" in svg and ">0 s</text>" in svg
    polylines = re.findall(r'points="([^"]+)"', svg)
    assert len(polylines) == 2
    # x runs from 48 to width - 6; y from height - 18 (zero) to 8 (the maximum)
    assert polylines[0] == "48.0,108.0 124.0,58.0 200.0,8.0"
    assert polylines[1] == "48.0,108.0 124.0,83.0 200.0,58.0"
    assert ">sent/s</tspan>" in svg and ">completed/s</tspan>" in svg


def test_line_chart_of_fewer_than_two_times_or_no_values_is_empty():
    assert line_chart([0.0], {"a": [1.0]}, unit="ms") == ""
    assert line_chart([0.0, 1.0], {}, unit="ms") == ""
    flat = line_chart([0.0, 1.0], {"a": [0.0, 0.0]}, unit="ms")  # all zero: scaled to 1, not a division by 0
    assert ">1 ms</text>" in flat and 'points="48.0,122.0 554.0,122.0"' in flat


def test_load_section_without_charts_draws_rate_and_p95_lines_and_shows_a_closed_models_rate():
    closed = dataclasses.replace(load_result("closed", seconds=6), model="closed", intended_rate_per_s=0.0,
                                 invalid_reason="p95 from 290 requests (< 300)", generator=None)
    html = "".join(load_section({"closed": closed}))
    assert "closed model, 200 users, 6 s" in html
    assert f"rate: {closed.achieved_rate_per_s:,.1f}/s (closed model)" in html
    assert "INVALID: p95 from 290 requests (&lt; 300)" in html
    assert "load generator: unknown" in html
    assert html.count("<svg") == 2 and ">sent/s</tspan>" in html and "p95 (all, by intended time)" in html
