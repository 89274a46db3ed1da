"""Alert dedup state on a real file store that fails: unreadable and malformed state, a save that
cannot be written, a plan without state (everything sent, nothing recorded); and the decision's
rules for repeated keys, unreadable times and saturated generators."""
from __future__ import annotations

import json
import logging
from datetime import datetime, timezone
from pathlib import Path

from perf_tasks.alerts.slack import RunInfo
from perf_tasks.alerts.state import (
    AlertItem,
    OpenAlert,
    alert_items,
    decide,
    load_state,
    plan_message,
    save_state,
    state_key,
)
from perf_tasks.results import GENERATOR_SATURATED, Comparison, Evaluation, MetricChange, Verdict, Violation
from perf_tasks.errors import StoreError
from perf_tasks.store import FileStore

NOW = datetime(2026, 11, 30, 6, 0, tzinfo=timezone.utc)
RUN = RunInfo("perf_daily", "r2", "standard")


def _evaluation() -> Evaluation:
    return Evaluation("r2", verdicts=(), violations=(
        Violation("risk.var.latency_p95_ms", 12.5, "ms", 10.0, "<=", "critical", "target (config/benchmarks.yaml)"),))


class _UnreadableStore(FileStore):
    """A file store whose reads fail the way an S3 outage does (a StoreError), writes work."""

    def get_bytes(self, key: str) -> bytes:
        raise StoreError(f"GET {key}: 503 SlowDown")


def test_a_state_that_cannot_be_read_is_none_and_says_every_alert_is_sent(tmp_path: Path, caplog):
    store = _UnreadableStore(tmp_path)
    store.put_bytes(state_key("perf_daily", "standard"), b"{}")
    with caplog.at_level(logging.WARNING, logger="perf_tasks.alerts.state"):
        assert load_state(store, "perf_daily", "standard") is None
    assert "unreadable (GET perf_daily/_alerts/standard.json: 503 SlowDown)" in caplog.text
    assert "every alert of this run is sent" in caplog.text


def test_a_state_with_a_malformed_entry_starts_afresh(tmp_path: Path, caplog):
    store = FileStore(tmp_path)
    store.put_bytes(state_key("perf_daily", "standard"), json.dumps(
        {"schema_version": 1, "open": {"k": {"key": "k", "colour": "red"}}}).encode())
    with caplog.at_level(logging.WARNING, logger="perf_tasks.alerts.state"):
        assert load_state(store, "perf_daily", "standard") == {}
    assert "has a malformed entry" in caplog.text


def test_a_state_that_cannot_be_saved_is_logged_not_raised(tmp_path: Path, caplog):
    blocker = tmp_path / "artifacts"
    blocker.write_text("not a folder")
    with caplog.at_level(logging.WARNING, logger="perf_tasks.alerts.state"):
        assert save_state(FileStore(blocker), "perf_daily", "standard", {"schema_version": 1, "open": {}}) == ""
    assert "alert state not saved to" in caplog.text and "the next run sends its alerts again" in caplog.text
    good = FileStore(tmp_path / "ok")
    uri = save_state(good, "perf_daily", "standard", {"schema_version": 1, "open": {}})
    assert uri.endswith("perf_daily/_alerts/standard.json") and load_state(good, "perf_daily", "standard")


def test_without_a_readable_state_the_whole_message_goes_and_nothing_is_recorded(tmp_path: Path):
    store = _UnreadableStore(tmp_path)
    store.put_bytes(state_key("perf_daily", "standard"), b"{}")
    for s in (store, None):
        planned = plan_message(RUN, s, _evaluation(), None, None, now=NOW)
        assert planned.decision is None and planned.message is not None
        assert "risk.var.latency_p95_ms" in json.dumps(planned.message)


def test_a_repeated_key_is_decided_once_and_an_unreadable_time_is_due():
    prev = OpenAlert("violation:m", "violation", "m", "critical", 12.0, "ms", "<=", "garbage", "garbage", "r0", "r0")
    item = AlertItem("violation:m", "violation", "m", "critical", 12.0, "ms")
    d = decide({"schema_version": 1, "open": {"violation:m": prev.__dict__}}, [item, item], set(), now=NOW,
               run_id="r1", repeat_after_h=24.0, worsen_pct=10.0)
    assert d.send == (item,) and d.why == {"violation:m": "still open"}
    assert d.state["open"]["violation:m"]["times_sent"] == 2


def test_a_saturated_generator_is_an_alert_item_and_other_invalid_targets_are_not():
    def invalid(metric: str, reason: str) -> Verdict:
        return Verdict(metric, 9.0, "ms", 10.0, "<=", 1.1, False, "critical", "target", "invalid", reason)

    ev = Evaluation("r", verdicts=(invalid("load.normal.latency_p95_ms", f"{GENERATOR_SATURATED}: late sends"),
                                   invalid("load.peak.latency_p95_ms", "p95 from 150 requests (< 200)")),
                    violations=())
    (item,) = alert_items(ev, None)
    assert item.key == "invalid:load.normal.latency_p95_ms" and item.kind == "invalid"


def test_previous_run_regressions_alert_only_with_enough_processes_on_both_sides():
    def change(metric: str, procs: int) -> MetricChange:
        return MetricChange(metric, "ms", "lower", 1.0, 1.5, 50.0, "regression", processes_baseline=procs,
                            processes_current=procs)

    cmp = Comparison("r", "r0", 10.0, changes=(change("a.b.p50_ms", 2), change("a.c.p50_ms", 5)),
                     baseline_kind="previous")
    assert [i.key for i in alert_items(None, cmp, alert_on="processes", alert_min_processes=5)] == [
        "regression:a.c.p50_ms"]
    assert alert_items(None, cmp) == []  # default: previous-run regressions are reported, not alerted
