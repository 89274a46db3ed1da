"""docker-compose.yaml cannot run here (no Docker engine); check its parts instead."""
from __future__ import annotations

import yaml

from tests.conftest import REPO

AIRFLOW = ["airflow-apiserver", "airflow-scheduler", "airflow-dag-processor", "airflow-worker", "airflow-triggerer",
           "airflow-init"]


def _compose() -> dict:
    return yaml.safe_load((REPO / "docker-compose.yaml").read_text())


def test_stack_has_celery_airflow_postgres_redis_and_minio():
    services = _compose()["services"]
    assert set(AIRFLOW) | {"postgres", "redis", "minio", "minio-init"} <= set(services)
    for name in AIRFLOW:
        assert services[name]["environment"]["AIRFLOW__CORE__EXECUTOR"] == "CeleryExecutor"


def test_every_airflow_service_shares_jwt_secret_and_execution_api_url():
    services = _compose()["services"]
    secrets = {services[n]["environment"]["AIRFLOW__API_AUTH__JWT_SECRET"] for n in AIRFLOW}
    urls = {services[n]["environment"]["AIRFLOW__CORE__EXECUTION_API_SERVER_URL"] for n in AIRFLOW}
    assert len(secrets) == 1 and urls == {"http://airflow-apiserver:8080/execution/"}


def test_artifacts_go_to_the_minio_bucket_that_the_init_job_creates():
    services = _compose()["services"]
    env = services["airflow-worker"]["environment"]
    bucket = env["PERF_ARTIFACTS_URL"].removeprefix("s3://").split("/")[0]
    assert f"local/{bucket}" in services["minio-init"]["entrypoint"]
    assert '"endpoint_url": "http://minio:9000"' in env["AIRFLOW_CONN_AWS_DEFAULT"]
    assert "perf-work:/opt/perf-work" in services["airflow-worker"]["volumes"]


def test_images_are_pinned():
    for name, svc in _compose()["services"].items():
        if "image" in svc and "build" not in svc:
            assert ":" in svc["image"] and not svc["image"].endswith(":latest"), name
