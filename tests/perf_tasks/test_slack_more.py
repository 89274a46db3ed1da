"""The Slack message beyond the basics (improvements and an environment mismatch next to a
regression, the history link, open alerts not repeated, truncation at Slack's block limit) and
the redaction of webhook secrets from the Slack libraries' logs."""
from __future__ import annotations

import json
import logging

from perf_tasks.alerts.slack import MAX_BLOCKS, RunInfo, build_message, format_value, redact
from perf_tasks.results import Comparison, Evaluation, HistoryChange, MetricChange, Violation

RUN = RunInfo("perf_daily", "scheduled__2026-11-30", "standard",
              report_url="https://reports.example/perf_daily/r/report.html",
              run_url="https://airflow.example/dags/perf_daily/runs/r")


def _change(metric: str, status: str, baseline: float, current: float) -> MetricChange:
    return MetricChange(metric, "ms", "lower", baseline, current, 100.0 * (current - baseline) / baseline, status,
                        pvalue=0.001, ratio_ci_low=current / baseline * 0.95, ratio_ci_high=current / baseline * 1.05,
                        ci_level=0.99)  # type: ignore[arg-type]


def _texts(msg: dict) -> str:
    return json.dumps(msg["blocks"], ensure_ascii=False)


def test_webhook_paths_and_tokens_are_redacted_from_the_slack_libraries_logs(caplog):
    url = "https://hooks.slack.com/services/T0123/B0456/abcdefSECRET"
    with caplog.at_level(logging.DEBUG, logger="slack_sdk.webhook.client"):
        logging.getLogger("slack_sdk.webhook.client").debug("Sending a request - url: %s, token %s", url,
                                                            "xoxb-1234-abcd")
    (record,) = [r for r in caplog.records if r.name == "slack_sdk.webhook.client"]
    assert "SECRET" not in record.getMessage() and "xoxb-1234" not in record.getMessage()
    assert record.getMessage() == "Sending a request - url: https://hooks.slack.com/services/***, token ***"
    assert redact("nothing secret here") == "nothing secret here"


def test_bytes_read_as_mebibytes():
    assert format_value(3 * 2**20, "bytes") == "3.0 MiB"
    assert format_value(1536 * 2**20, "bytes") == "1,536.0 MiB"


def test_a_regression_message_also_lists_improvements_the_environment_and_history_with_its_chart_link():
    history = HistoryChange(metric="risk.var.latency_p50_ms", kind="regression", run="r40", commit="bad0000000001",
                            detected_at_run="r44", before=10.0, after=12.5, change_pct=25.0, pvalue=1e-6, new=True,
                            last_good_commit="good000000001")
    cmp = Comparison(run_id="r", baseline_run_id="b7", threshold_pct=10, baseline_kind="promoted",
                     changes=(_change("risk.var.latency_p50_ms", "regression", 10.0, 12.5),
                              _change("risk.mc.latency_p50_ms", "improvement", 20.0, 15.0)),
                     fingerprint_mismatch=("cpu_model: EPYC 7763 vs Xeon 8375C",), history_changes=(history,))
    msg = build_message(RUN, None, cmp, ongoing=[f"alert-{i}" for i in range(12)])
    assert msg["text"].startswith("perf_daily: INVALID — 2 regressions")  # the per-run one and the history's level change
    text = _texts(msg)
    assert "Improvements vs promoted baseline `b7`" in text and "*15.00 ms*" in text and "-25.0 %" in text
    assert "99 % CI" in text
    assert "Environment differs from the baseline's" in text and "EPYC 7763 vs Xeon 8375C" in text
    assert f"over the run history (<{RUN.report_url}#history|history chart>)" in text
    assert "good00000000..bad000000000" in text  # the suspects, shortened
    ongoing = msg["blocks"][-2]["elements"][0]["text"]
    assert ongoing.startswith("12 alert(s) still open, sent before and not repeated: alert-0, ")
    assert ongoing.endswith("alert-9 …")
    assert msg["blocks"][-1]["elements"][0]["text"] == f"<{RUN.report_url}|Report> · <{RUN.run_url}|Airflow run>"


def test_improvements_alone_are_not_an_alert():
    cmp = Comparison(run_id="r", baseline_run_id="b7", threshold_pct=10, baseline_kind="promoted",
                     changes=(_change("risk.mc.latency_p50_ms", "improvement", 20.0, 15.0),))
    assert build_message(RUN, None, cmp) is None


def test_a_message_over_slacks_block_limit_is_cut_and_says_so():
    long = "x" * 2800  # one line per section
    failed = {f"run_benchmarks.suite{i}": long for i in range(40)}
    ev = Evaluation(run_id="r", verdicts=(), violations=tuple(
        Violation(f"s.b{i}.latency_p95_ms_{long[:2700]}", 12.5, "ms", 10.0, "<=", "critical", "target")
        for i in range(40)))
    msg = build_message(RUN, ev, None, failed)
    assert len(msg["blocks"]) == MAX_BLOCKS
    assert msg["blocks"][-1] == {"type": "context", "elements": [
        {"type": "mrkdwn", "text": "message truncated: see the report"}]}
    assert msg["text"].startswith("perf_daily: CRITICAL — run FAILED, 40 critical")
