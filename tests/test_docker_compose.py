"""docker-compose.yaml cannot run here (no Docker engine): check it by parsing, after the
interpolation docker compose does (${VAR}, ${VAR:-default}, ${VAR:?error}, $$) with the values of
.env.example. The same topology runs natively in tests/dags/test_celery_stack.py."""
from __future__ import annotations

import json
import re

import pytest
import yaml

from tests.conftest import REPO

AIRFLOW = ["airflow-apiserver", "airflow-scheduler", "airflow-dag-processor", "airflow-worker", "airflow-triggerer",
           "airflow-init"]
ONE_SHOT = {"airflow-init", "minio-init"}
#: environment keys that may differ between Airflow containers (and why)
PER_SERVICE_ENV = {"DUMB_INIT_SETSID",  # worker: warm shutdown of Celery
                   "_AIRFLOW_DB_MIGRATE", "AIRFLOW_ADMIN_USER", "AIRFLOW_ADMIN_PASSWORD"}  # airflow-init
_VAR = re.compile(r"\$\{(\w+)(?:(:?[-?])((?:[^{}]|\{[^{}]*\})*))?\}")


def _env_example() -> dict[str, str]:
    env = {}
    for line in (REPO / ".env.example").read_text().splitlines():
        if line and not line.startswith("#") and "=" in line:
            key, _, value = line.partition("=")
            env[key.strip()] = value.strip()
    return env


def _interpolate(text: str, env: dict[str, str]) -> str:
    def sub(m: re.Match) -> str:
        name, op, arg = m.group(1), m.group(2), m.group(3)
        value = env.get(name)
        if op in (":-", "-"):
            return value if value not in (None, "") or (op == "-" and value is not None) else arg
        if op in (":?", "?"):
            if value in (None, "") if op == ":?" else value is None:
                raise KeyError(f"{name}: {arg}")
            return value
        return value or ""

    out = []
    for part in text.split("$$"):  # $$ is a literal $ for the container's shell
        out.append(_VAR.sub(sub, part))
    return "$".join(out)


def _raw() -> str:
    return (REPO / "docker-compose.yaml").read_text()


def _compose(**env: str) -> dict:
    values = {**_env_example(), "AIRFLOW_JWT_SECRET": "jwt-secret-x", "AIRFLOW_ADMIN_PASSWORD": "pw-x", **env}
    return yaml.safe_load(_interpolate(_raw(), values))


@pytest.fixture(scope="module")
def services() -> dict:
    return _compose()["services"]


def test_stack_has_the_official_airflow_services_plus_minio_and_the_trading_service(services):
    assert set(AIRFLOW) | {"postgres", "redis", "minio", "minio-init", "trading-service"} <= set(services)
    for name in AIRFLOW:
        assert services[name]["environment"]["AIRFLOW__CORE__EXECUTOR"] == "CeleryExecutor", name
    commands = {services[n]["command"] for n in AIRFLOW if isinstance(services[n]["command"], str)}
    assert {"api-server", "scheduler", "dag-processor", "celery worker", "triggerer"} <= commands
    assert services["airflow-apiserver"]["ports"] == ["8080:8080"]


def test_every_airflow_container_has_the_same_environment(services):
    """Same JWT secret and execution API URL everywhere (else: "Signature verification failed"),
    and the same connections, database, broker and pipeline settings."""
    base = {k: v for k, v in services["airflow-scheduler"]["environment"].items() if k not in PER_SERVICE_ENV}
    for name in [*AIRFLOW, "flower"]:
        env = {k: v for k, v in services[name]["environment"].items() if k not in PER_SERVICE_ENV}
        assert env == base, name
    assert base["AIRFLOW__API_AUTH__JWT_SECRET"] == base["AIRFLOW__API__SECRET_KEY"] == "jwt-secret-x"
    assert base["AIRFLOW__CORE__EXECUTION_API_SERVER_URL"] == "http://airflow-apiserver:8080/execution/"
    assert base["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"].endswith("@postgres/airflow")
    assert base["AIRFLOW__CELERY__BROKER_URL"].startswith("redis://") and "@redis:6379" in base["AIRFLOW__CELERY__BROKER_URL"]


def test_secrets_are_required_not_defaulted():
    raw = _raw()
    assert "${AIRFLOW_JWT_SECRET:?" in raw and "${AIRFLOW_ADMIN_PASSWORD:?" in raw
    with pytest.raises(KeyError, match="AIRFLOW_JWT_SECRET"):
        _compose(AIRFLOW_JWT_SECRET="")


def test_connections_come_from_the_environment(services):
    env = services["airflow-worker"]["environment"]
    aws = json.loads(env["AIRFLOW_CONN_AWS_DEFAULT"])
    assert aws["conn_type"] == "aws" and aws["extra"]["endpoint_url"] == "http://minio:9000"
    minio_env = services["minio"]["environment"]
    assert (aws["login"], aws["password"]) == (minio_env["MINIO_ROOT_USER"], minio_env["MINIO_ROOT_PASSWORD"])
    assert "9000:9000" in services["minio"]["ports"]
    api = json.loads(env["AIRFLOW_CONN_AIRFLOW_API"])
    assert api["conn_type"] == "http" and api["host"] == "http://airflow-apiserver:8080"
    admin = env["AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS"].split(":")[0]
    assert api["login"] == admin and api["password"] == "pw-x"
    # airflow-init writes the same user and password into the simple auth manager's file
    init = services["airflow-init"]
    assert env["AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE"] in "\n".join(init["command"])
    assert init["environment"]["AIRFLOW_ADMIN_PASSWORD"] == "pw-x"
    # Slack: passed through only when set (no value: an empty connection would not reach the outbox)
    assert "AIRFLOW_CONN_SLACK_DEFAULT" in env and env["AIRFLOW_CONN_SLACK_DEFAULT"] is None


def test_artifacts_go_to_the_minio_bucket_that_the_init_job_creates(services):
    env = services["airflow-worker"]["environment"]
    bucket = env["PERF_ARTIFACTS_URL"].removeprefix("s3://").split("/")[0]
    init = services["minio-init"]
    assert init["environment"]["PERF_BUCKET"] == bucket
    script = "\n".join(init["command"])
    assert "mc mb --ignore-existing" in script and 'local/${PERF_BUCKET}' in script
    assert _compose(PERF_BUCKET="other")["services"]["airflow-worker"]["environment"]["PERF_ARTIFACTS_URL"] == \
        "s3://other/pipeline"


def test_healthchecks_and_dependencies(services):
    for name, svc in services.items():
        if name in ONE_SHOT:
            assert "restart" not in svc, name
            continue
        assert svc.get("healthcheck", {}).get("test"), f"{name} has no healthcheck"
        assert svc.get("restart") == "always", name
    for name, svc in services.items():
        for dep, cond in (svc.get("depends_on") or {}).items():
            assert dep in services, (name, dep)
            if cond["condition"] == "service_healthy":
                assert services[dep].get("healthcheck"), (name, dep)
            elif cond["condition"] == "service_completed_successfully":
                assert dep in ONE_SHOT, (name, dep)
    for name in AIRFLOW:
        deps = services[name]["depends_on"]
        assert deps["postgres"]["condition"] == deps["redis"]["condition"] == "service_healthy", name
        assert deps["minio-init"]["condition"] == "service_completed_successfully", name
        if name != "airflow-init":
            assert deps["airflow-init"]["condition"] == "service_completed_successfully", name
    # workers fetch task tokens from the API server: they start once it answers
    assert services["airflow-worker"]["depends_on"]["airflow-apiserver"]["condition"] == "service_healthy"
    assert services["airflow-worker"]["environment"]["DUMB_INIT_SETSID"] == "0"
    assert services["airflow-scheduler"]["environment"]["AIRFLOW__SCHEDULER__ENABLE_HEALTH_CHECK"] == "true"


def test_volumes_share_the_work_folder_and_mount_the_repo(services):
    declared = set(_compose()["volumes"])
    for name, svc in services.items():
        for vol in svc.get("volumes", []):
            src, dst = vol.split(":")[:2]
            if src.startswith("./"):
                assert (REPO / src).is_dir(), (name, src)
            else:
                assert src in declared, (name, src)
    for name in AIRFLOW:
        env, vols = services[name]["environment"], services[name]["volumes"]
        assert f"perf-work:{env['PERF_WORK_DIR']}" in vols, name  # load shards meet in the shared work folder
        assert {"./dags:/opt/airflow/dags", "./plugins:/opt/airflow/plugins", "./config:/opt/perf/config",
                "airflow-logs:/opt/airflow/logs"} <= set(vols), name
    # the image puts the pipeline in /opt/perf (its config is ./config mounted there)
    assert "COPY --chown=airflow:root perf_tasks /opt/perf/perf_tasks" in (REPO / "Dockerfile").read_text()


def test_every_variable_is_documented_in_env_example():
    documented = set(_env_example()) | {m.group(1) for m in re.finditer(r"^# ?(\w+)=", (REPO / ".env.example")
                                                                      .read_text(), re.M)}
    used = {m.group(1) for part in _raw().split("$$") for m in _VAR.finditer(part)}
    assert used <= documented, used - documented


def test_images_are_pinned_and_match_the_installed_airflow(services):
    for name, svc in services.items():
        if "image" in svc and "build" not in svc:
            assert ":" in svc["image"] and not svc["image"].endswith(":latest"), name
    version = re.search(r"^apache-airflow==(\S+)$", (REPO / "requirements.txt").read_text(), re.M).group(1)
    assert f"FROM apache/airflow:{version}-python3.11" in (REPO / "Dockerfile").read_text()


def test_monitoring_pushgateway_prometheus_grafana_are_wired(services):
    """Runs push to the Pushgateway (every Airflow container knows it), Prometheus scrapes it
    keeping the pushed labels, Grafana provisions config/grafana's datasource and dashboards
    from the paths its provisioning files name."""
    doc = _compose()
    for name in AIRFLOW:
        assert services[name]["environment"]["PERF_PUSHGATEWAY_URL"] == "http://pushgateway:9091", name
    (scrape,) = yaml.safe_load(doc["configs"]["prometheus-config"]["content"])["scrape_configs"]
    assert scrape["honor_labels"] is True
    assert scrape["static_configs"][0]["targets"] == ["pushgateway:9091"]
    assert [c["source"] for c in services["prometheus"]["configs"]] == ["prometheus-config"]
    mounts = dict(v.split(":")[:2] for v in services["grafana"]["volumes"])
    provisioning = REPO / "config" / "grafana" / "provisioning"
    assert mounts["./config/grafana/provisioning"] == "/etc/grafana/provisioning"
    (provider,) = yaml.safe_load(next((provisioning / "dashboards").glob("*.y*ml")).read_text())["providers"]
    assert mounts["./config/grafana/dashboards"] == provider["options"]["path"]
    (source,) = yaml.safe_load(next((provisioning / "datasources").glob("*.y*ml")).read_text())["datasources"]
    assert source["url"] == "http://prometheus:9090" and "prometheus" in services
    assert list((REPO / "config" / "grafana" / "dashboards").glob("*.json"))
