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
