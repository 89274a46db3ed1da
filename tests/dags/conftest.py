from __future__ import annotations

import json

import pytest

from tests.conftest import REPO


@pytest.fixture(scope="session")
def airflow_db() -> None:
    """A migrated metadata DB (SQLite in a temporary AIRFLOW_HOME), once per session."""
    from airflow.utils import db

    db.initdb()


@pytest.fixture(scope="session")
def dagbag():
    from airflow.dag_processing.dagbag import DagBag

    return DagBag(dag_folder=str(REPO / "dags"))


@pytest.fixture
def perf_daily(dagbag, airflow_db):
    return dagbag.dags["perf_daily"]


@pytest.fixture
def judging_config(monkeypatch: pytest.MonkeyPatch, tmp_path):
    """$PERF_CONFIG_DIR -> a copy of config/ with the busy-host guard off: a test of a critical miss
    judges the verdict logic, not the host (on a busy box the guard rightly makes an impossible miss
    INVALID, and the run green)."""
    import shutil

    import yaml

    cfg = tmp_path / "config"
    shutil.copytree(REPO / "config", cfg)
    alerts = yaml.safe_load((cfg / "alerts.yaml").read_text())
    alerts["measurement"] = {**(alerts.get("measurement") or {}), "busy_host_other_cpu_pct": 100}
    (cfg / "alerts.yaml").write_text(yaml.safe_dump(alerts))
    monkeypatch.setenv("PERF_CONFIG_DIR", str(cfg))
    return cfg


@pytest.fixture
def airflow_conns(monkeypatch: pytest.MonkeyPatch, s3_server: str, slack_receiver):
    """aws_default -> moto on loopback; slack_default -> the webhook receiver on loopback."""
    def set_conns(s3_endpoint: str = s3_server, slack: bool = True) -> None:
        monkeypatch.setenv("AIRFLOW_CONN_AWS_DEFAULT", json.dumps({
            "conn_type": "aws", "login": "testing", "password": "testing",
            "extra": {"endpoint_url": s3_endpoint, "region_name": "us-east-1",
                      "config_kwargs": {"s3": {"addressing_style": "path"}, "connect_timeout": 1,
                                        "retries": {"max_attempts": 1}}}}))
        if slack:
            monkeypatch.setenv("AIRFLOW_CONN_SLACK_DEFAULT", json.dumps({
                "conn_type": "slackwebhook", "host": f"127.0.0.1:{slack_receiver.port}/services",
                "schema": "http", "password": "T000/B000/XXXX"}))
        else:
            monkeypatch.delenv("AIRFLOW_CONN_SLACK_DEFAULT", raising=False)
    return set_conns
