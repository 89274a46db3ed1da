"""perf_stress_monthly: its shape and trigger form, and a smoke run end to end through Airflow
(dag.test): two cheap scenarios, each starting the bundled service as a real subprocess on
loopback, judged, stored, and nothing left behind (processes, proxies, temp dirs)."""
from __future__ import annotations

import json
import os

import psutil

from perf_tasks.pipeline import work_dir_for
from perf_tasks.store import FileStore, RunArtifacts

DAG_ID = "perf_stress_monthly"


def test_shape_one_scenario_at_a_time_and_teardown_always(dagbag):
    dag = dagbag.dags[DAG_ID]
    chain = ["setup_environment", "run_scenario", "collect_stress", "validate", "evaluate", "compare_to_baseline",
             "build_report", "persist_artifacts"]
    for upstream, downstream in zip(chain, chain[1:]):
        assert dag.get_task(downstream).upstream_task_ids == {upstream}, downstream
    assert dag.get_task("notify").upstream_task_ids == {"persist_artifacts", "teardown"}
    assert dag.get_task("teardown").upstream_task_ids == {"run_scenario"}
    assert dag.get_task("teardown").trigger_rule == "all_done"
    assert dag.get_task("notify").trigger_rule == "all_done"
    assert dag.get_task("verdict").upstream_task_ids == {"notify"}
    assert dag.get_task("publish_site").upstream_task_ids == {"notify"}
    mapped = dag.get_task("run_scenario")
    assert mapped.partial_kwargs["map_index_template"] == "{{ task.item }}"
    assert mapped.partial_kwargs["max_active_tis_per_dag"] == 1


def test_schedule_is_monthly_without_catchup(dagbag):
    dag = dagbag.dags[DAG_ID]
    assert dag.timetable.expression == "0 2 1 * *"
    assert dag.catchup is False and dag.max_active_runs == 1
    assert dag.start_date is None


def test_the_form_offers_every_registered_scenario_and_validates_with_its_defaults(dagbag):
    import jsonschema

    from perf_tasks.kinds.stress import load_stress_config, registry
    from tests.conftest import REPO

    params = dagbag.dags[DAG_ID].params
    from perf_tasks.stress.stressors import STRESSORS

    assert sorted(params.get_param("scenarios").schema["items"]["enum"]) == sorted(registry())
    assert dagbag.dags[DAG_ID].params.get_param("scenarios").schema["items"]["enum"][:len(STRESSORS)] == list(STRESSORS)
    assert params["scenarios"] is None  # empty: config/stress.yaml's default_scenarios (prepare resolves it)
    assert set(load_stress_config(REPO / "config")["default_scenarios"]) <= set(registry())
    params.validate()
    for name in params.keys():
        jsonschema.validate(params.get_param(name).value, params.get_param(name).schema)
    assert {"profile", "scenarios", "intensity", "target_url", "notify", "artifacts_url"} <= set(params.keys())


def _marked(work) -> list[int]:
    mine = str(work.resolve())
    out = []
    for p in psutil.process_iter(["pid"]):
        try:
            if p.environ().get("PERF_STRESS_WORK") == mine:
                out.append(p.pid)
        except psutil.Error:
            pass
    return out


def test_smoke_run_of_two_scenarios_end_to_end_leaves_nothing_behind(dagbag, airflow_db, airflow_conns, slack,
                                                                     tmp_path):
    from airflow.utils.state import DagRunState

    airflow_conns()
    listening_before = {c.laddr.port for c in psutil.net_connections("tcp") if c.status == "LISTEN"}
    dr = dagbag.dags[DAG_ID].test(run_conf={"profile": "smoke", "scenarios": ["net_latency", "net_resets"],
                                            "window_s": 2, "artifacts_url": tmp_path.as_uri()})
    work = work_dir_for(DAG_ID, dr.run_id)
    assert dr.state == DagRunState.SUCCESS, sorted((work / "status").glob("*.json"))
    mapped = sorted(ti.rendered_map_index for ti in dr.get_task_instances() if ti.task_id == "run_scenario")
    assert mapped == ["net_latency", "net_resets"]  # the UI names each mapped task by its scenario
    suite = json.loads((work / "suites" / "stress.json").read_text())
    assert [b["name"] for b in suite["benchmarks"]] == ["net_latency", "net_resets"]
    for b in suite["benchmarks"]:
        names = {m["name"].rsplit(".", 1)[-1] for m in b["metrics"]}
        assert {"p95_increase_pct", "throughput_reduction_pct", "error_rate_increase_pct", "max_response_ms",
                "crashed_pct", "hung_pct", "stressor_achieved_pct"} <= names, b["name"]
        assert b["error"] is None
    for step in ("run_scenario.net_latency", "run_scenario.net_resets", "collect_stress", "teardown"):
        assert json.loads((work / "status" / f"{step}.json").read_text())["state"] == "success"
    manifest = RunArtifacts(FileStore(tmp_path), DAG_ID, dr.run_id).verify()
    assert manifest["status"] == "success"
    assert "Degradation under stress" in (work / "report.html").read_text()
    # nothing left: no process of the run, no proxy or service still listening
    assert _marked(work) == []
    listening_after = {c.laddr.port for c in psutil.net_connections("tcp") if c.status == "LISTEN"}
    assert not [p for p in listening_after - listening_before if p > 1024 and _ours(p)]


def _ours(port: int) -> bool:
    """A listener that belongs to this test process or its children (other sessions share the box)."""
    me = os.getpid()
    kids = {c.pid for c in psutil.Process(me).children(recursive=True)}
    return any(c.laddr.port == port and c.pid in ({me} | kids) for c in psutil.net_connections("tcp")
               if c.status == "LISTEN")


def test_a_target_outside_the_allowlist_is_refused_before_any_scenario_runs(dagbag, airflow_db, airflow_conns,
                                                                            slack, tmp_path):
    from airflow.utils.state import DagRunState

    airflow_conns()
    dr = dagbag.dags[DAG_ID].test(run_conf={"profile": "smoke", "scenarios": ["net_latency"],
                                            "target_url": "http://example.com:8080",
                                            "artifacts_url": tmp_path.as_uri()})
    assert dr.state != DagRunState.SUCCESS
    work = work_dir_for(DAG_ID, dr.run_id)
    status = json.loads((work / "status" / "setup_environment.json").read_text())
    assert "example.com" in status["error"]
    assert not (work / "stress").exists()
