"""The load kind's steps in process, without a load run: prepare's refusals, the shard mode, the
tasks-mode start barrier, a user's target (never started or stopped here), refusals of a shard
task that is not part of the run and of a merge with a shard missing, and a live alert that lands
in the outbox."""
from __future__ import annotations

import json
import logging
import time
from pathlib import Path

import pytest

from perf_tasks import pipeline
from perf_tasks.errors import ConfigError, PipelineError, UserError
from perf_tasks.kinds import load
from perf_tasks.load.live import LiveAlert, LiveWindow
from perf_tasks.results import to_dict
from tests.conftest import REPO


def _spec(**options) -> pipeline.RunSpec:
    return pipeline.RunSpec(dag_id=load.DAG_ID, run_id="r1", kind="load", profile="smoke", options=options,
                            config_dir=str(REPO / "config"))


def _prepared_work(tmp_path: Path, **options) -> Path:
    spec = load.prepare(_spec(**options), None)  # type: ignore[arg-type]
    work = tmp_path / "work"
    work.mkdir()
    (work / "run.json").write_text(json.dumps(to_dict(spec)))
    return work


@pytest.mark.parametrize("options, error, needle", [
    ({"shards": 0}, ConfigError, r"param 'shards': expected >= 1, got 0"),
    ({"scenarios": ["normal"], "shards": 150}, ConfigError,  # the form's cap of 64, now prepare's too
     r"param 'shards': expected <= 64, got 150"),
    ({"service_workers": 0}, ConfigError, r"param 'service_workers': expected >= 1, got 0"),
    ({"shard_mode": "threads"}, ConfigError,
     r"param 'shard_mode': 'threads' is not one of \['auto', 'processes', 'tasks'\]"),
    ({"target_url": "http://10.1.2.3:8000"}, UserError, r"param 'target_url': host '10.1.2.3'"),
    ({"advertised_url": "http://203.0.113.9:{port}"}, UserError, r"param 'advertised_url': host '203.0.113.9'"),
    ({"scenarios": ["soak"]}, ConfigError, r"param 'scenarios' .*'soak'"),
    ({"colour": "red"}, ConfigError, r"param 'colour': not an option of a load run"),
])
def test_prepare_refuses_bad_options_before_any_request(options, error, needle):
    with pytest.raises(error, match=needle):
        load.prepare(_spec(**options), None)  # type: ignore[arg-type]


def test_prepare_resolves_the_shard_mode_by_executor_and_lists_the_steps():
    two = _spec(scenarios=["normal"], shards=2)
    local = load.prepare(two, None, executor="LocalExecutor")  # type: ignore[arg-type]
    assert local.options["shard_mode"] == "processes" and load.tasks(local) == [0]
    assert local.expected_steps == ("start_service", "run_shard.0", "merge_shards")
    celery = load.prepare(two, None, executor="CeleryExecutor")  # type: ignore[arg-type]
    assert celery.options["shard_mode"] == "tasks" and load.tasks(celery) == [0, 1]
    assert celery.expected_steps == ("start_service", "run_shard.0", "run_shard.1", "merge_shards")
    every = load.prepare(_spec(), None)  # type: ignore[arg-type]
    assert list(every.options["scenarios"]) == ["normal", "peak", "stress", "burst"] and every.suites == ("load",)


def test_the_start_barrier_waits_for_every_shard_and_agrees_on_one_start(tmp_path: Path):
    barrier = tmp_path / "barrier"
    barrier.mkdir()
    (barrier / "arrived-1").write_text(repr(1_900_000_000.0))  # the other shard arrived (later, by its clock)
    assert load.common_start(barrier, 0, 2, timeout_s=5, lead_s=2.0) == 1_900_000_002.0
    assert float((barrier / "arrived-0").read_text()) == pytest.approx(time.time(), abs=5)


def test_a_shard_alone_at_the_barrier_goes_after_the_timeout_and_says_so(tmp_path: Path, caplog):
    t0 = time.monotonic()
    with caplog.at_level(logging.WARNING, logger="perf_tasks.kinds.load"):
        start = load.common_start(tmp_path / "barrier", 1, 3, timeout_s=0.2, lead_s=1.0)
    assert 0.2 <= time.monotonic() - t0 < 3 and start == pytest.approx(time.time() + 1.0, abs=1.0)
    assert "shard 1: shards [0, 2] did not arrive within 0 s: starting alone" in caplog.text


def test_a_users_target_is_used_as_is_and_never_stopped(tmp_path: Path):
    work = _prepared_work(tmp_path, scenarios=["normal"], target_url="http://127.0.0.1:8000/")
    handle = load.start_service_step(work)
    assert handle.url == "http://127.0.0.1:8000" and handle.pid is None
    assert json.loads((work / "service.json").read_text())["pid"] is None
    assert load.stop_service_step(work) is False  # not ours
    assert json.loads((work / "status" / "stop_service.json").read_text())["state"] == "success"


def test_stop_service_with_nothing_started_is_a_success_that_stops_nothing(tmp_path: Path):
    work = _prepared_work(tmp_path, scenarios=["normal"])
    assert load.stop_service_step(work) is False
    assert json.loads((work / "status" / "stop_service.json").read_text())["state"] == "success"


def test_a_shard_task_outside_the_run_is_refused(tmp_path: Path):
    work = _prepared_work(tmp_path, scenarios=["normal"], shards=2, shard_mode="processes")
    with pytest.raises(ConfigError, match=r"shard task 1 is not in \[0, 1\) \(2 shards as processes\)"):
        load.run_shard(work, 1)
    assert json.loads((work / "status" / "run_shard.1.json").read_text())["state"] == "failed"


def test_merge_with_a_shard_missing_names_the_file_and_the_step(tmp_path: Path):
    from tests.perf_tasks.report.sample import load_result
    from perf_tasks.load.result import result_to_json

    work = _prepared_work(tmp_path, scenarios=["normal"], shards=2, shard_mode="tasks")
    (work / "load" / "normal").mkdir(parents=True)
    (work / "load" / "normal" / "shard-0.json").write_text(result_to_json(load_result("normal", seconds=3)))
    missing = work / "load" / "normal" / "shard-1.json"
    with pytest.raises(PipelineError, match=rf"merge_shards: {missing} is missing \(did run_shard.1 fail\?\)"):
        load.merge_shards(work)
    assert load.report_extras(work, pipeline.load_spec(work)) == {"load": {}}  # nothing merged: no section


def test_a_live_alert_without_a_sender_goes_to_the_outbox_and_is_recorded(tmp_path: Path):
    on_alert = load._live_alert_sender(tmp_path, "normal", None, "")
    window = LiveWindow(at_unix=1.8e9, observations=400, failures=40, p95_ms=2500.0)
    alert = LiveAlert("normal", started_unix=1.8e9 - 60, fired_unix=1.8e9, reasons=("p95 2500 ms > 500 ms",),
                      window=window, aborted=False)
    on_alert(alert)
    record = json.loads((tmp_path / "alerts" / "live" / "normal.json").read_text())
    assert record["alert"]["reasons"] == ["p95 2500 ms > 500 ms"] and record["delivery"]["status"] == "outbox"
    outbox = list((tmp_path / "alerts" / "live" / "normal").rglob("*.json"))
    assert outbox and "load scenario *normal* is failing while it runs (held 60 s)" in outbox[0].read_text()
