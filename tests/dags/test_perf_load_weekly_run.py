"""perf_load_weekly end to end through Airflow (dag.test): the bundled service started as a real
subprocess on loopback, a scenario in 2 shards, merged exactly, judged, stored, stopped."""
from __future__ import annotations

import json
import os

import pytest

from perf_tasks.load.result import result_from_json
from perf_tasks.pipeline import work_dir_for
from perf_tasks.store import FileStore, RunArtifacts


def _run(dag, **conf):
    from airflow.utils.state import DagRunState

    dr = dag.test(run_conf={"profile": "smoke", **conf})
    return dr, dr.state == DagRunState.SUCCESS


def test_two_shards_merge_exactly_and_the_service_is_stopped(dagbag, airflow_db, airflow_conns, slack, tmp_path):
    airflow_conns()
    dr, ok = _run(dagbag.dags["perf_load_weekly"], scenarios=["normal"], shards=2, artifacts_url=tmp_path.as_uri())
    assert ok, dr.state
    work = work_dir_for("perf_load_weekly", dr.run_id)
    shards = [result_from_json((work / "load" / "normal" / f"shard-{i}.json").read_text()) for i in range(2)]
    merged = result_from_json((work / "load" / "normal" / "merged.json").read_text())
    assert merged.requests == sum(s.requests for s in shards) > 50
    assert merged.errors == sum(s.errors for s in shards)
    assert merged.shards == 2
    # under dag.test() the two shards run as two processes of one task, started together: they
    # overlap in time and the service saw the whole rate
    assert (work / "status" / "run_shard.0.json").exists() and not (work / "status" / "run_shard.1.json").exists()
    (s0, e0), (s1, e1) = merged.shard_windows
    assert min(e0, e1) - max(s0, s1) >= 0.9 * merged.duration_s and abs(s0 - s1) < 0.2
    assert merged.invalid_reason == ""
    assert merged.achieved_rate_per_s == pytest.approx(merged.intended_rate_per_s, rel=0.02)
    assert merged.intended_requests == sum(s.intended_requests for s in shards)
    service = json.loads((work / "service.json").read_text())
    try:
        os.kill(service["pid"], 0)
        alive = True
    except ProcessLookupError:
        alive = False
    assert not alive, "stop_service must stop the service it started"
    manifest = RunArtifacts(FileStore(tmp_path), "perf_load_weekly", dr.run_id).verify()
    assert manifest["status"] == "success"
    results = json.loads((work / "results.json").read_text())
    names = {m["name"] for s in results["suites"] for b in s["benchmarks"] for m in b["metrics"]}
    assert {"load.normal.latency_p95_ms", "load.normal.error_rate_pct"} <= names


def test_a_target_outside_the_allowlist_is_refused_before_any_request(dagbag, airflow_db, airflow_conns, slack,
                                                                      tmp_path):
    airflow_conns()
    dr, ok = _run(dagbag.dags["perf_load_weekly"], scenarios=["normal"], target_url="http://example.com:8080",
                  artifacts_url=tmp_path.as_uri())
    assert not ok
    work = work_dir_for("perf_load_weekly", dr.run_id)
    status = json.loads((work / "status" / "setup_environment.json").read_text())
    assert "example.com" in status["error"]
    assert not (work / "load").exists()
    assert len(slack.messages) == 1 and "setup_environment" in json.dumps(slack.messages[0])
