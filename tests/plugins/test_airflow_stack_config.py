"""`make airflow` / `make airflow-celery` (scripts/airflow_stack.py) without starting anything: the
bind address, the private files, the airflow_api connection, no log servers, [api] base_url only
when given. The processes themselves: tests/ui/test_reports_route.py (sockets on 127.0.0.1 only)."""
from __future__ import annotations

import json
import os
import shutil
import stat
import subprocess

import pytest

from scripts.airflow_stack import REPO, Stack, StackConfig, write_private


def _make_n(target: str, **env: str) -> str:
    if not shutil.which("make"):
        pytest.skip("make is not installed")
    out = subprocess.run(["make", "-n", "-s", target], cwd=REPO, capture_output=True, text=True, timeout=60,
                         env={**os.environ, **env, "MAKEFLAGS": ""}, check=True)
    return out.stdout


@pytest.mark.parametrize("target", ["airflow", "airflow-celery"])
def test_make_airflow_binds_loopback_unless_told_otherwise(target, tmp_path):
    stamp_env = {"AIRFLOW_HOME": str(tmp_path)}
    assert "--host 127.0.0.1" in _make_n(target, **stamp_env)
    assert "--host 0.0.0.0" in _make_n(target, AIRFLOW_BIND_HOST="0.0.0.0", **stamp_env)
    assert "standalone" not in _make_n(target, **stamp_env)


def test_private_files_are_mode_0600_from_the_first_byte(tmp_path):
    new = tmp_path / "stack.json"
    write_private(new, "{}")
    assert stat.S_IMODE(new.stat().st_mode) == 0o600
    old = tmp_path / "passwords.json"
    old.write_text("x")
    old.chmod(0o644)
    write_private(old, '{"admin": "pw"}')
    assert stat.S_IMODE(old.stat().st_mode) == 0o600 and json.loads(old.read_text()) == {"admin": "pw"}


def test_every_process_gets_the_airflow_api_connection_and_no_base_url_unless_given(tmp_path):
    cfg = StackConfig(home=tmp_path, db_url=f"sqlite:///{tmp_path}/airflow.db", executor="LocalExecutor", port=18080,
                      users={"admin": "pw"})
    env = Stack(cfg).env()
    conn = json.loads(env["AIRFLOW_CONN_AIRFLOW_API"])
    assert conn == {"conn_type": "http", "host": "http://127.0.0.1:18080", "login": "admin", "password": "pw"}
    assert "AIRFLOW__API__BASE_URL" not in env  # links root-relative: the browser's host
    assert env["AIRFLOW__API__HOST"] == "127.0.0.1"
    assert env["AIRFLOW__CORE__EXECUTION_API_SERVER_URL"] == "http://127.0.0.1:18080/execution/"
    cfg = StackConfig(home=tmp_path, db_url="sqlite:///x.db", executor="LocalExecutor", port=18080, host="0.0.0.0",
                      base_url="https://airflow.example.org/")
    env = Stack(cfg).env()
    assert env["AIRFLOW__API__BASE_URL"] == "https://airflow.example.org" and cfg.url == "https://airflow.example.org"
    assert cfg.local_url == "http://127.0.0.1:18080"  # a wildcard bind is reached on loopback
    assert StackConfig(home=tmp_path, db_url="sqlite:///x.db", host="10.1.2.3", port=1).local_url == "http://10.1.2.3:1"


def test_no_log_servers_are_started(tmp_path):
    cmds = Stack(StackConfig(home=tmp_path, db_url="sqlite:///x.db", executor="CeleryExecutor", workers=2)).commands()
    for name in ("scheduler", "triggerer", "worker1", "worker2"):
        assert "--skip-serve-logs" in cmds[name][0], name
    assert cmds["api-server"][0][cmds["api-server"][0].index("--host") + 1] == "127.0.0.1"
