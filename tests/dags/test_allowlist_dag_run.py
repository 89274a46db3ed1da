"""Through Airflow (dag.test): a trigger's ``allow`` param cannot widen the deployment's allowlist.
A real server on a loopback address outside the default list (127.0.0.2) must see no request."""
from __future__ import annotations

import json

import pytest

from devtools.loopback import LoopbackServer
from perf_tasks.load.safety import ENV_VAR
from perf_tasks.pipeline import work_dir_for


@pytest.mark.parametrize("dag_id, conf", [
    ("perf_load_weekly", {"scenarios": ["normal"]}),
    ("perf_stress_monthly", {"scenarios": ["net_latency"]}),
])
def test_a_widening_allow_param_fails_the_run_before_any_request(airflow_db, airflow_conns, slack, tmp_path,
                                                                 monkeypatch, dag_id, conf):
    from airflow.dag_processing.dagbag import DagBag
    from airflow.utils.state import DagRunState

    from tests.conftest import REPO

    # a DagBag of its own: dag.test(run_conf=...) keeps the conf in the DAG's params, and the session
    # DagBag's DAGs would carry this run's 'allow' into the next test's run (seen: every later load and
    # stress DAG test failed with this very refusal)
    dagbag = DagBag(dag_folder=str(REPO / "dags"))
    monkeypatch.delenv(ENV_VAR, raising=False)  # the deployment lists loopback only
    airflow_conns()
    server = LoopbackServer(0, host="127.0.0.2").start()
    try:
        dr = dagbag.dags[dag_id].test(run_conf={
            "profile": "smoke", **conf, "target_url": f"http://127.0.0.2:{server.port}", "allow": ["127.0.0.2"],
            "artifacts_url": tmp_path.as_uri()})
        assert dr.state == DagRunState.FAILED
        assert server.requests == 0
    finally:
        server.stop()
    status = json.loads((work_dir_for(dag_id, dr.run_id) / "status" / "setup_environment.json").read_text())
    assert status["error"].startswith("AllowlistWidenedError: param 'allow': '127.0.0.2' is outside the "
                                      "deployment's load-test allowlist"), status["error"]
