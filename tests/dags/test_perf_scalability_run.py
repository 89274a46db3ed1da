"""perf_scalability_quarterly end to end through Airflow (dag.test): real known-capacity servers
behind a real HAProxy, the sweep mapped per size, the model, judging, report, storage, teardown."""
from __future__ import annotations

import json

import pytest

from perf_tasks.pipeline import work_dir_for
from perf_tasks.scale.balancer import haproxy_path
from perf_tasks.store import FileStore, RunArtifacts


def _run(dag, **conf):
    from airflow.utils.state import DagRunState

    dr = dag.test(run_conf={"profile": "smoke", **conf})
    return dr, dr.state == DagRunState.SUCCESS


def test_the_dag_is_quarterly_without_catchup_and_sweeps_one_size_at_a_time(dagbag):
    dag = dagbag.dags["perf_scalability_quarterly"]
    assert dag.catchup is False and dag.timetable.expression == "0 0 1 1,4,7,10 *"
    assert dag.get_task("run_size").max_active_tis_per_dagrun == 1
    assert dag.get_task("teardown").trigger_rule == "all_done"
    assert {"fit_model", "validate", "evaluate", "compare_to_baseline", "build_report", "persist_artifacts",
            "notify", "verdict"} <= set(dag.task_ids)


@pytest.mark.skipif(haproxy_path() is None, reason="HAProxy is not installed (apt-get install -y haproxy)")
def test_a_sweep_of_the_test_server_is_modelled_judged_reported_and_cleaned_up(dagbag, airflow_db, airflow_conns,
                                                                               slack, tmp_path):
    airflow_conns()
    dr, ok = _run(dagbag.dags["perf_scalability_quarterly"], sut="testserver", instances=[1], axes=["instances"],
                  base_rate_per_s=90, multipliers=[2, 2.5], p99_ms=100, point_duration_s=1.0,
                  artifacts_url=tmp_path.as_uri())
    assert ok, dr.state
    work = work_dir_for("perf_scalability_quarterly", dr.run_id)
    size = json.loads((work / "scale" / "instances_1.json").read_text())
    assert size["balancer"] == "haproxy" and size["knee"]["status"] == "found"
    assert 160 <= size["knee"]["throughput_per_s"] <= 205  # 4 slots x 20 ms = 200/s
    model = json.loads((work / "scale" / "model.json").read_text())
    assert model["instances"]["usl"]["fitted"] is False  # one size: said why, no prediction
    results = json.loads((work / "results.json").read_text())
    names = {m["name"] for s in results["suites"] for b in s["benchmarks"] for m in b["metrics"]}
    assert {"scalability.instances_1.knee_throughput_per_s", "scalability.instances_1.efficiency_pct",
            "scalability.instances_model.predicted_throughput_at_10_per_s"} <= names
    evaluation = json.loads((work / "evaluation.json").read_text())
    linear = next(v for v in evaluation["verdicts"] if v["metric"].endswith("linear_efficiency_at_n_pct"))
    assert linear["status"] == "invalid" and "cannot be judged" in linear["reason"]
    report = (work / "report.html").read_text()
    assert "Scalability: instances" in report and 'class="chart"' in report
    teardown = json.loads((work / "status" / "teardown.json").read_text())
    assert teardown.get("status") in ("success", "ok", None) or "error" not in teardown
    manifest = RunArtifacts(FileStore(tmp_path), "perf_scalability_quarterly", dr.run_id).verify()
    assert manifest["status"] == "success"


def test_a_url_outside_the_allowlist_is_refused_before_anything_starts(dagbag, airflow_db, airflow_conns, slack,
                                                                       tmp_path):
    airflow_conns()
    dr, ok = _run(dagbag.dags["perf_scalability_quarterly"], sut="urls", urls=["http://example.com:8080"],
                  axes=["instances"], artifacts_url=tmp_path.as_uri())
    assert not ok
    work = work_dir_for("perf_scalability_quarterly", dr.run_id)
    status = json.loads((work / "status" / "setup_environment.json").read_text())
    assert "example.com" in status["error"]
    assert not (work / "scale").exists()
