"""Every DAG file parses offline, fast; perf_daily has the promised shape."""
from __future__ import annotations

import pytest

import os
import subprocess
import sys
import time

import yaml

from tests.conftest import REPO


def test_every_dag_file_imports_without_errors(dagbag):
    assert dagbag.import_errors == {}
    assert "perf_daily" in dagbag.dag_ids


def test_each_dag_file_parses_in_under_two_seconds():
    """Measured in a fresh interpreter (Airflow itself already imported, as in a dag-processor)."""
    code = ("import time, runpy, sys, airflow.sdk; t=time.perf_counter(); runpy.run_path(sys.argv[1]); "
            "print(time.perf_counter()-t)")
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(REPO), str(REPO / "plugins")])}
    for path in sorted((REPO / "dags").glob("*.py")):
        out = subprocess.run([sys.executable, "-c", code, str(path)], capture_output=True, text=True, env=env,
                             timeout=120, check=True)
        seconds = float(out.stdout.strip().splitlines()[-1])
        assert seconds < 2.0, f"{path.name} took {seconds:.2f}s to parse"


def test_dag_file_does_not_import_heavy_modules():
    code = ("import sys, runpy, airflow.sdk; runpy.run_path(sys.argv[1]); "
            "print(','.join(m for m in ('numpy','pandas','torch','great_expectations','boto3','scipy') if m in sys.modules))")
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(REPO), str(REPO / "plugins")])}
    out = subprocess.run([sys.executable, "-c", code, str(REPO / "dags" / "perf_daily.py")], capture_output=True,
                         text=True, env=env, timeout=120, check=True)
    loaded = out.stdout.strip().splitlines()[-1] if out.stdout.strip() else ""
    heavy = {m for m in loaded.split(",") if m} - {"numpy"}  # numpy comes with Airflow itself
    assert not heavy, f"perf_daily.py imports {heavy} at parse time"


def test_perf_daily_has_the_pipeline_tasks_and_edges(dagbag):
    dag = dagbag.dags["perf_daily"]
    chain = ["setup_environment", "run_benchmarks", "validate", "evaluate", "compare_to_baseline", "build_report",
             "persist_artifacts", "notify", "verdict"]
    assert set(dag.task_ids) == set(chain) | {"publish_site"}
    assert dag.get_task("publish_site").upstream_task_ids == {"notify"}  # a leaf: the history site
    assert dag.get_task("publish_site").trigger_rule == "all_done"
    for upstream, downstream in zip(chain, chain[1:]):
        assert dag.get_task(downstream).upstream_task_ids == {upstream}, downstream
    assert dag.get_task("notify").trigger_rule == "all_done"
    assert dag.get_task("verdict").trigger_rule == "all_done"
    assert dag.get_task("run_benchmarks").max_active_tis_per_dagrun == 1  # suites never overlap


def test_perf_daily_schedule_and_run_policy(dagbag):
    dag = dagbag.dags["perf_daily"]
    assert dag.timetable.expression == "0 0 * * *"  # unpausing: tests/dags/test_schedule.py
    assert dag.catchup is False
    assert dag.max_active_runs == 1


def test_perf_daily_params_build_the_trigger_form(dagbag):
    params = dagbag.dags["perf_daily"].params
    assert params.get_param("profile").schema["enum"] == ["smoke", "standard", "full"]
    suites = params.get_param("suites").schema
    assert suites["type"] == "array" and suites["items"]["enum"]
    assert params.get_param("notify").schema["type"] == "boolean"
    assert params["profile"] == "standard"


def test_suites_offered_in_the_form_match_the_config(dagbag):
    suites = yaml.safe_load((REPO / "config" / "benchmarks.yaml").read_text())["suites"]
    params = dagbag.dags["perf_daily"].params
    assert params.get_param("suites").schema["items"]["enum"] == list(suites)
    assert params["suites"] == [name for name, s in suites.items() if s.get("default", True)]


def test_perf_load_weekly_shape_schedule_and_params(dagbag):
    dag = dagbag.dags["perf_load_weekly"]
    chain = ["setup_environment", "start_service", "run_shard", "merge_shards", "validate", "evaluate",
             "compare_to_baseline", "build_report", "persist_artifacts", "notify"]
    assert set(dag.task_ids) == set(chain) | {"stop_service", "verdict", "publish_site"}
    assert dag.get_task("publish_site").upstream_task_ids == {"notify"}
    assert dag.get_task("verdict").upstream_task_ids == {"notify"}
    for upstream, downstream in zip(chain[:-1], chain[1:-1]):
        assert upstream in dag.get_task(downstream).upstream_task_ids, downstream
    assert dag.get_task("stop_service").trigger_rule == "all_done"
    assert dag.get_task("stop_service").upstream_task_ids == {"start_service", "run_shard"}
    assert dag.get_task("notify").upstream_task_ids == {"persist_artifacts", "stop_service"}
    assert dag.timetable.expression == "0 0 * * 0" and dag.catchup is False and dag.max_active_runs == 1
    params = dag.params
    assert params.get_param("shards").schema["minimum"] == 1
    assert {"profile", "scenarios", "shards", "target_url"} <= set(params.keys())


def test_load_scenarios_offered_match_the_config(dagbag):
    configured = list(yaml.safe_load((REPO / "config" / "load_scenarios.yaml").read_text())["scenarios"])
    assert dagbag.dags["perf_load_weekly"].params.get_param("scenarios").schema["items"]["enum"] == configured


ALL_DAGS = ["perf_daily", "perf_load_weekly", "perf_stress_monthly", "perf_scalability_quarterly"]


def test_every_dag_is_in_the_bag_and_each_is_a_kind_of_run(dagbag):
    """Each DAG starts with the generic setup of its kind (perf_tasks.kinds) and ends with the
    shared tail: notify (all_done) then verdict."""
    assert set(ALL_DAGS) <= set(dagbag.dag_ids)
    for dag_id in ALL_DAGS:
        dag = dagbag.dags[dag_id]
        setup = dag.get_task("setup_environment")
        assert type(setup).__name__ == "KindSetupOperator", dag_id
        assert dag.get_task("notify").trigger_rule == "all_done", dag_id
        assert "notify" in dag.get_task("verdict").upstream_task_ids, dag_id
        assert dag.catchup is False and dag.start_date is None, dag_id


@pytest.mark.parametrize("dag_id", ALL_DAGS)
def test_the_trigger_form_validates_with_its_defaults(dagbag, dag_id):
    """As the 3.3 UI does: each default must satisfy its param's JSON schema, and a param whose
    type is not nullable is required, so an empty default ("", None, [], {}) would leave the form
    red and the Trigger button disabled (verified in the UI; ../shared/AIRFLOW-NOTES.md)."""
    import jsonschema

    params = dagbag.dags[dag_id].params
    params.validate()  # Airflow's own check of every default against its schema
    for name in params.keys():
        param = params.get_param(name)
        schema = param.schema
        jsonschema.validate(param.value, schema)
        types = schema.get("type")
        nullable = "null" in types if isinstance(types, list) else types == "null"
        empty = param.value in (None, "", [], {})
        assert nullable or not empty, f"{dag_id} param {name!r}: empty default {param.value!r} on a required type {types}"


def test_mapped_tasks_are_named_by_suite_and_shard_in_the_ui(dagbag):
    assert dagbag.dags["perf_daily"].get_task("run_benchmarks").partial_kwargs["map_index_template"] == "{{ task.item }}"
    tmpl = dagbag.dags["perf_load_weekly"].get_task("run_shard").partial_kwargs["map_index_template"]
    assert "{{ task.item }}" in tmpl


def test_dags_serialize_with_the_report_link_as_the_scheduler_and_ui_see_them(dagbag):
    """Serialized and back (what the dag-processor stores and the API server reads): the Report
    extra link survives on the report, notify and verdict tasks (the plugin registers it)."""
    from airflow.serialization.serialized_objects import DagSerialization

    for dag_id in ALL_DAGS:
        back = DagSerialization.from_dict(DagSerialization.to_dict(dagbag.dags[dag_id]))
        links = {t.task_id: set(getattr(t, "operator_extra_link_dict", {})) for t in back.tasks}
        assert {k for k, v in links.items() if "Report" in v} == {"build_report", "notify", "verdict"}, dag_id
        assert {k for k, v in links.items() if "History site" in v} == {"publish_site"}, dag_id
