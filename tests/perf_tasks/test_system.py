"""systems.yaml: the system under test as config (issue 20), and the service started from it."""
from __future__ import annotations

import json
import textwrap
import urllib.request
from pathlib import Path

import pytest

from perf_tasks.errors import ConfigError
from perf_tasks.sut import ServiceHandle, start_service, stop_service
from perf_tasks.system import PLATFORM_ROOT, NotApplicableError, load_system

FIXTURE = Path(__file__).resolve().parents[1] / "fixtures" / "own_system" / "service.py"

OWN = textwrap.dedent(f"""\
    default: own
    systems:
      own:
        service:
          command: ["{{python}}", "{FIXTURE}", "{{port}}"]
          cwd: work-here
          env: {{OWN_FLAVOUR: plain, OWN_MARKER: "{{MARKER}}"}}
          ready_path: /up
          health_path: /healthz
          stop_signal: SIGINT
          stop_grace_s: 5
          database_url: "sqlite:///own.db"
          database_args: ["{{db}}"]
        journeys: own_journeys.yaml
        dependencies: {{database: {{host: 127.0.0.1, port: 6543}}}}
        checks: {{after_fault: own.audit:no_loss}}
        fingerprint: {{repository: ., packages: [pyyaml], key_packages: [pyyaml]}}
      remote:
        url: http://127.0.0.1:9
    """)


@pytest.fixture
def own_config(tmp_path: Path) -> Path:
    cfg = tmp_path / "config"
    (cfg / "work-here").mkdir(parents=True)
    (cfg / "systems.yaml").write_text(OWN.replace("{MARKER}", str(tmp_path / "marker")))
    return cfg


def _write(tmp_path: Path, text: str) -> Path:
    cfg = tmp_path / "c"
    cfg.mkdir(exist_ok=True)
    (cfg / "systems.yaml").write_text(textwrap.dedent(text))
    return cfg


def test_the_bundled_system_is_the_trading_service_started_as_before():
    s = load_system(PLATFORM_ROOT / "config", "trading")
    cmd = s.command(port=8123, host="127.0.0.1", work=Path("/w"))
    assert cmd[1:] == ["-m", "trading_agent.service", "--host", "127.0.0.1", "--port", "8123", "--workers", "1"]
    assert s.command(port=1, host="h", work=Path("/w"), workers=3, db="sqlite:///x.db")[-4:] == \
        ["--workers", "3", "--db", "sqlite:///x.db"]
    assert s.service.ready_path == "/ready" and s.service.health_path == "/health"
    assert s.cwd() == PLATFORM_ROOT and str(PLATFORM_ROOT) in s.env()["PYTHONPATH"].split(":")
    assert s.repository() == PLATFORM_ROOT and s.journeys_path() == PLATFORM_ROOT / "config" / "load_journeys.yaml"


def test_the_default_system_comes_from_the_file_then_perf_system(own_config: Path, monkeypatch):
    assert load_system(own_config).name == "own"
    monkeypatch.setenv("PERF_SYSTEM", "remote")
    assert load_system(own_config).name == "remote"
    assert load_system(own_config, "own").name == "own"  # an explicit name wins
    monkeypatch.setenv("PERF_SYSTEM", "nope")
    with pytest.raises(ConfigError, match=r"\$PERF_SYSTEM: unknown system 'nope'.*\['own', 'remote'\]"):
        load_system(own_config)


@pytest.mark.parametrize("text, needle", [
    ("default: a\nsystems:\n  a:\n    url: http://x\n    jouneys: j.yaml\n",
     r"systems.yaml: systems.a.jouneys: Extra inputs are not permitted"),
    ("default: a\nsystems:\n  a:\n    service: {command: [srv]}\n",
     r"systems.a.service: .*put '\{port\}' in it"),
    ("default: a\nsystems:\n  a:\n    service: {command: [srv, '{prot}']}\n",
     r"systems.a.service.command: .*unknown placeholder\(s\) \['prot'\]"),
    ("default: a\nsystems:\n  a:\n    service: {command: [srv, '{port}']}\n    url: http://x\n",
     r"systems.a: .*exactly one of 'service'"),
    ("default: a\nsystems:\n  a:\n    service: {command: [s, '{port}'], stop_signal: SIGSTOP}\n",
     r"systems.a.service.stop_signal: .*\(got 'SIGSTOP'\)"),
    ("default: a\nsystems:\n  a:\n    url: http://x\n    checks: {after_fault: audit}\n",
     r"systems.a.checks.after_fault: expected 'package.module:function', got 'audit'"),
    ("default: b\nsystems:\n  a:\n    url: http://x\n", r"default 'b' is not one of the systems \['a'\]"),
    ("default: A\nsystems:\n  A:\n    url: http://x\n", r"system name 'A' must be a safe id"),
])
def test_a_bad_definition_names_file_key_path_and_value(tmp_path: Path, text: str, needle: str):
    with pytest.raises(ConfigError, match=needle):
        load_system(_write(tmp_path, text))


def test_a_config_folder_without_systems_yaml_says_what_to_write(tmp_path: Path):
    with pytest.raises(ConfigError, match=r"no systems file.*systems.yaml"):
        load_system(tmp_path)


def test_a_command_without_workers_refuses_more_than_one(own_config: Path):
    with pytest.raises(NotApplicableError, match=r"system 'own' runs as one process.*3 workers"):
        load_system(own_config).command(port=1, host="h", work=Path("/w"), workers=3)


def test_own_system_starts_from_its_definition_and_stops_with_its_signal(own_config: Path, tmp_path: Path):
    system = load_system(own_config)
    handle = start_service(tmp_path / "svc", system=system, db="sqlite:///run.db")
    try:
        assert handle.system == "own" and handle.stop_signal == "SIGINT" and handle.pid
        assert not handle.url.endswith(":8000")
        with urllib.request.urlopen(handle.url + "/healthz", timeout=5) as resp:
            seen = json.loads(resp.read())
        assert seen == {"ok": True, "db": "sqlite:///run.db", "cwd": str(own_config / "work-here"),
                        "flavour": "plain"}
        # the handle travels to the teardown task with its stop signal
        handle = ServiceHandle.from_json(handle.to_json())
    finally:
        assert stop_service(handle)
    assert (tmp_path / "marker").read_text() == "stopped-by-SIGINT"  # its signal, not SIGTERM (which it ignores)


def test_the_database_url_is_used_when_a_run_gives_none(own_config: Path, tmp_path: Path):
    handle = start_service(tmp_path / "svc", system=load_system(own_config))
    try:
        with urllib.request.urlopen(handle.url + "/up", timeout=5) as resp:
            assert json.loads(resp.read())["db"] == "sqlite:///own.db"
    finally:
        stop_service(handle)


def test_a_url_only_system_is_not_applicable_where_the_service_must_start(own_config: Path, tmp_path: Path):
    with pytest.raises(NotApplicableError, match=r"recovery_sqlite is not applicable to system 'remote'.*"
                                                 r"only url 'http://127.0.0.1:9'"):
        start_service(tmp_path / "svc", system=load_system(own_config, "remote"), what="recovery_sqlite")
    assert not (tmp_path / "svc").exists()  # nothing was started, the demo least of all


def test_the_deployment_system_comes_from_perf_config_dir(own_config: Path, tmp_path: Path, monkeypatch):
    monkeypatch.setenv("PERF_CONFIG_DIR", str(own_config))
    monkeypatch.setenv("PERF_SYSTEM", "remote")
    with pytest.raises(NotApplicableError, match="system 'remote'"):
        start_service(tmp_path / "svc")


def test_the_demo_still_starts_through_its_definition_from_the_stress_call_site(tmp_path: Path, monkeypatch):
    from perf_tasks.stress import service

    monkeypatch.delenv("PERF_CONFIG_DIR", raising=False)
    monkeypatch.delenv("PERF_SYSTEM", raising=False)
    from perf_tasks.sut import default_system

    with service.running(tmp_path / "svc", f"sqlite:///{tmp_path / 'orders.db'}", system=default_system()) as handles:
        h = handles[-1]
        assert h.system == "trading" and h.stop_signal == "SIGTERM"
        with urllib.request.urlopen(h.url + "/health", timeout=5) as resp:
            assert resp.status == 200
