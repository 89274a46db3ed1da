"""Alerts without noise: dedup state in the store, worsening, repeat interval, resolved messages,
delivered to a real webhook receiver on loopback."""
from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone

from perf_tasks.alerts.rules import evaluate
from perf_tasks.alerts.slack import RunInfo, deliver, webhook_sender
from perf_tasks.alerts.state import (AlertItem, OpenAlert, decide, load_state, plan_message, record_delivery,
                                     state_key, worsened)
from perf_tasks.results import Comparison, MetricChange, Metric, RunResults, Target
from perf_tasks.store import FileStore

T0 = datetime(2026, 11, 1, 6, 0, tzinfo=timezone.utc)
METRIC = "risk.mc.latency_p95_ms"


def _run(run_id: str, p95_ms: float, samples: int = 500):
    results = RunResults(dag_id="perf_daily", run_id=run_id, profile="standard", started_at="t", fingerprint={},
                         suites=(), host_metrics=(Metric(METRIC, p95_ms, "ms", "lower", Target(max=5000),
                                                         samples=samples),))
    return results, evaluate(results, [])


def _notify(store, slack, run_id: str, p95_ms: float, *, at: datetime, samples: int = 500, repeat_after_h=24.0):
    results, ev = _run(run_id, p95_ms, samples)
    info = RunInfo("perf_daily", run_id, "standard", report_url="http://reports/r.html")
    planned = plan_message(info, store, ev, None, {}, now=at, measured=[m.name for m in results.metrics()],
                           repeat_after_h=repeat_after_h)
    d = deliver(planned.message, webhook_sender(slack.url), slack_dir := store.root / "outbox", channel="test",
                attempts=1, sleep=lambda s: None)
    assert slack_dir  # outbox folder used only when delivery fails
    record_delivery(store, planned, d.status)
    return planned, d


def test_the_same_violation_is_sent_once_again_when_worse_or_due_and_resolved_once(slack, tmp_path):
    store = FileStore(tmp_path / "artifacts")
    p, d = _notify(store, slack, "r1", 6000, at=T0)
    assert d.status == "sent" and p.message["dedup"]["sent"] == {f"violation:{METRIC}": "new"}
    assert "1 critical" in slack.messages[-1]["text"]

    p, d = _notify(store, slack, "r2", 6100, at=T0 + timedelta(hours=1))  # same violation, 1.7 % worse
    assert d.status == "nothing_to_send" and p.message is None and len(slack.messages) == 1
    state = json.loads((tmp_path / "artifacts" / state_key("perf_daily", "standard")).read_text())
    assert state["open"][f"violation:{METRIC}"]["last_seen_run"] == "r2"
    assert state["open"][f"violation:{METRIC}"]["last_sent_run"] == "r1"

    p, d = _notify(store, slack, "r3", 7000, at=T0 + timedelta(hours=2))  # > 10 % worse than last sent
    assert d.status == "sent" and "worse: 6000 -> 7000 ms" in p.message["dedup"]["sent"][f"violation:{METRIC}"]

    p, d = _notify(store, slack, "r4", 7000, at=T0 + timedelta(hours=27))  # repeat_after_h passed
    assert d.status == "sent" and p.message["dedup"]["sent"][f"violation:{METRIC}"] == "still open after 25 h"
    assert len(slack.messages) == 3

    p, d = _notify(store, slack, "r5", 4000, at=T0 + timedelta(hours=28))  # met: resolved, once
    assert d.status == "sent" and slack.messages[-1]["text"].startswith("perf_daily: PASS — 1 resolved")
    body = json.dumps(slack.messages[-1]["blocks"])
    assert "Resolved" in body and METRIC in body and "last sent 7000 ms at run `r4`" in body
    p, d = _notify(store, slack, "r6", 4000, at=T0 + timedelta(hours=29))
    assert d.status == "nothing_to_send" and len(slack.messages) == 4
    assert load_state(store, "perf_daily", "standard")["open"] == {}


def test_an_undelivered_alert_is_sent_again_and_an_unjudged_one_stays_open_silently(slack, tmp_path):
    store = FileStore(tmp_path / "artifacts")
    slack.reset(status=500)
    _, d = _notify(store, slack, "r1", 6000, at=T0)
    assert d.status == "outbox" and load_state(store, "perf_daily", "standard") == {}
    slack.reset()
    _, d = _notify(store, slack, "r2", 6000, at=T0 + timedelta(hours=1))
    assert d.status == "sent" and len(slack.messages) == 1
    # too few observations: the target is invalid this run, not met: the alert stays open, nothing sent
    p, d = _notify(store, slack, "r3", 10.0, at=T0 + timedelta(hours=2), samples=5)
    assert d.status == "nothing_to_send" and not p.decision.resolved
    assert f"violation:{METRIC}" in load_state(store, "perf_daily", "standard")["open"]


def test_repeat_after_zero_sends_every_run(slack, tmp_path):
    store = FileStore(tmp_path / "artifacts")
    for i in range(3):
        _, d = _notify(store, slack, f"r{i}", 6000, at=T0 + timedelta(minutes=i), repeat_after_h=0)
        assert d.status == "sent"
    assert len(slack.messages) == 3


def test_an_unreadable_state_sends_everything_and_a_corrupt_one_starts_afresh(tmp_path):
    store = FileStore(tmp_path / "artifacts")
    key = state_key("perf_daily", "standard")
    store.put_bytes(key, b"{not json")
    assert load_state(store, "perf_daily", "standard") == {}
    store.put_bytes(key, json.dumps({"schema_version": 7, "open": {}}).encode())
    assert load_state(store, "perf_daily", "standard") == {}


def _open(**kw) -> OpenAlert:
    base = dict(key="k", kind="violation", metric="m", severity="warning", value=100.0, unit="ms", op="<=",
                first_sent_at=T0.isoformat(), last_sent_at=T0.isoformat(), last_sent_run="r0", last_seen_run="r0")
    return OpenAlert(**{**base, **kw})


def test_worsening_is_severity_up_or_the_value_worse_by_the_configured_share():
    item = AlertItem("k", "violation", "m", "warning", 109.0, "ms", "<=")
    assert worsened(_open(), item, 10) == ""
    assert worsened(_open(), AlertItem("k", "violation", "m", "warning", 111.0, "ms", "<="), 10)
    assert worsened(_open(), AlertItem("k", "violation", "m", "critical", 100.0, "ms", "<="), 10).endswith(
        "warning -> critical")
    # a lower bound (throughput >= x): lower is worse
    assert worsened(_open(op=">="), AlertItem("k", "violation", "m", "warning", 89.0, "ms", ">="), 10)
    assert not worsened(_open(op=">="), AlertItem("k", "violation", "m", "warning", 120.0, "ms", ">="), 10)
    # regressions: change in points
    reg = _open(kind="regression", severity="regression", value=15.0, unit="%")
    assert not worsened(reg, AlertItem("k", "regression", "m", "regression", 24.0, "%"), 10)
    assert worsened(reg, AlertItem("k", "regression", "m", "regression", 26.0, "%"), 10)


def test_a_regression_vs_the_baseline_clears_when_compared_unchanged():
    def cmp(status: str, pct: float) -> Comparison:
        return Comparison(run_id="r", baseline_run_id="b", threshold_pct=10, baseline_kind="promoted", changes=(
            MetricChange("risk.mc.latency_p50_ms", "ms", "lower", 10.0, 10 * (1 + pct / 100), pct, status),))
    from perf_tasks.alerts.state import alert_items, judged_keys
    d1 = decide({}, alert_items(None, cmp("regression", 20)), set(), now=T0, run_id="r1", repeat_after_h=24,
                worsen_pct=10)
    assert [i.key for i in d1.send] == ["regression:risk.mc.latency_p50_ms"]
    c2 = cmp("unchanged", 1)
    d2 = decide(d1.state, alert_items(None, c2), judged_keys(None, c2), now=T0, run_id="r2", repeat_after_h=24,
                worsen_pct=10)
    assert not d2.send and [r.key for r in d2.resolved] == ["regression:risk.mc.latency_p50_ms"]
    assert d2.state["open"] == {}


def _work(tmp_path, store, run_id: str, p95_ms: float):
    """A finished run's work folder as the steps leave it (results and evaluation written)."""
    from perf_tasks import pipeline
    from perf_tasks.results import to_dict, to_json

    results, ev = _run(run_id, p95_ms)
    work = tmp_path / "work" / run_id
    spec = pipeline.RunSpec(dag_id="perf_daily", run_id=run_id, profile="standard", artifacts_url=store.url,
                            expected_steps=("setup_environment",))
    pipeline.write_text(work / "run.json", json.dumps(to_dict(spec)))
    pipeline.write_text(work / "status" / "setup_environment.json", json.dumps({"state": "success"}))
    pipeline.write_text(work / "results.json", to_json(results))
    pipeline.write_text(work / "evaluation.json", to_json(ev))
    return work


def test_the_notify_step_sends_a_violation_once_then_its_resolution(slack, tmp_path):
    from perf_tasks import pipeline

    store = FileStore(tmp_path / "artifacts")
    statuses = []
    for run_id, p95 in (("r1", 6000), ("r2", 6050), ("r3", 4000), ("r4", 4000)):
        out = pipeline.notify(_work(tmp_path, store, run_id, p95), store, webhook_sender(slack.url), channel="t",
                              sleep=lambda s: None)
        statuses.append(out.delivery.status)
    assert statuses == ["sent", "nothing_to_send", "sent", "nothing_to_send"]
    assert [m["text"].split(" (run")[0] for m in slack.messages] == ["perf_daily: CRITICAL — 1 critical",
                                                                     "perf_daily: PASS — 1 resolved"]
