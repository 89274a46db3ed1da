"""The CLI runs the same chain without Airflow (in a subprocess, as a user would)."""
from __future__ import annotations

import json
import os
import re
import socket
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

from tests.conftest import REPO


def _cli(*args: str, env: dict | None = None, timeout: int = 300) -> subprocess.CompletedProcess:
    full_env = {**os.environ, "PYTHONPATH": str(REPO), **(env or {})}
    return subprocess.run([sys.executable, "-m", "perf_tasks", *args], capture_output=True, text=True,
                          env=full_env, timeout=timeout, cwd=REPO)


def _judging_config(tmp_path: Path) -> str:
    """config/ with the busy-host guard off: these tests judge the verdict logic, not the host (on a
    busy box the guard rightly makes an impossible miss INVALID instead of CRITICAL)."""
    import shutil

    import yaml

    cfg = tmp_path / "config"
    shutil.copytree(REPO / "config", cfg)
    alerts = yaml.safe_load((cfg / "alerts.yaml").read_text())
    alerts["measurement"] = {**(alerts.get("measurement") or {}), "busy_host_other_cpu_pct": 100}
    (cfg / "alerts.yaml").write_text(yaml.safe_dump(alerts))
    return str(cfg)


def test_run_daily_smoke_writes_artifacts_and_prints_the_summary(tmp_path):
    out = _cli("run", "daily", "--profile", "smoke", "--suites", "market_data", "--artifacts", tmp_path.as_uri(),
               "--junit", str(tmp_path / "junit.xml"), "--json", str(tmp_path / "out.json"))
    assert out.returncode == 0, out.stderr[-2000:]
    assert "market_data.tick_handling.latency_p95_ms" in out.stdout and "PASS" in out.stdout
    # the stored report as a path a terminal opens (not a file:// URI), and the verdict line last-but-report
    report = next(line for line in out.stdout.splitlines() if line.startswith("report: "))
    assert report.startswith(f"report: {tmp_path}/perf_daily/") and report.endswith("/report.html")
    assert any(line.startswith("verdict: ") for line in out.stdout.splitlines())
    manifests = list(tmp_path.glob("perf_daily/*/manifest.json"))
    assert len(manifests) == 1 and json.loads(manifests[0].read_text())["status"] == "success"
    doc = json.loads((tmp_path / "out.json").read_text())
    assert doc["exit_code"] == 0 and doc["failed_steps"] == {} and doc["evaluation"]["verdicts"]
    assert doc["report"]["stored"].startswith("file://") and doc["work_dir"] and doc["run_id"].startswith("cli__")
    junit = ET.parse(tmp_path / "junit.xml").getroot()
    targets, steps = junit.find("testsuite[@name='perf_targets']"), junit.find("testsuite[@name='perf_pipeline']")
    assert targets.get("tests") == str(len(doc["evaluation"]["verdicts"])) and targets.get("failures") == "0"
    assert {c.get("name") for c in steps} >= {"setup_environment", "run_benchmarks.market_data", "persist_artifacts"}
    assert steps.get("errors") == "0" and junit.get("errors") == "0"

    shown = _cli("show", "perf_daily", "--artifacts", tmp_path.as_uri())
    assert shown.returncode == 0 and "sha256 verified" in shown.stdout


def test_critical_violation_exits_nonzero_and_the_alert_lands_in_the_outbox(tmp_path):
    out = _cli("run", "daily", "--suites", "market_data", "--artifacts", tmp_path.as_uri(),
               "--target", "market_data.tick_handling.latency_p95_ms=0.000001", "--config-dir", _judging_config(tmp_path))
    assert out.returncode == 1, out.stderr[-2000:]
    assert "CRITICAL" in out.stdout and "alert: outbox" in out.stdout
    outbox = list(tmp_path.glob("perf_daily/*/alerts/outbox/slack-message.json"))
    assert len(outbox) == 1
    assert "market_data.tick_handling.latency_p95_ms" in outbox[0].read_text()


def test_cli_posts_to_slack_webhook_from_the_environment(tmp_path, slack):
    out = _cli("run", "daily", "--suites", "market_data", "--artifacts", tmp_path.as_uri(),
               "--target", "market_data.tick_handling.latency_p95_ms=0.000001", "--config-dir", _judging_config(tmp_path),
               env={"SLACK_WEBHOOK_URL": slack.url})
    assert out.returncode == 1
    assert len(slack.messages) == 1 and "tick_handling" in json.dumps(slack.messages[0])
    # the target came from --target, and the message says so (not config/benchmarks.yaml)
    text = json.dumps(slack.messages[0])
    assert "CLI --target" in text and "benchmarks.yaml" not in text


def test_bad_config_exits_2_before_measuring(tmp_path):
    bad = tmp_path / "config"
    bad.mkdir()
    for name in ("benchmarks", "profiles", "alerts"):
        (bad / f"{name}.yaml").write_text((REPO / "config" / f"{name}.yaml").read_text())
    (bad / "profiles.yaml").write_text(re.sub(r"warmups: \d+", "warmups: -1", (bad / "profiles.yaml").read_text(),
                                              count=1))
    out = _cli("run", "daily", "--config-dir", str(bad), "--artifacts", (tmp_path / "a").as_uri(),
               "--json", str(tmp_path / "out.json"), "--junit", str(tmp_path / "junit.xml"))
    assert out.returncode == 2
    assert "profiles.smoke.warmups" in out.stderr and "(got -1)" in out.stderr
    assert not (tmp_path / "a").exists()
    # nothing measured, but CI still gets both files, naming the config error
    doc = json.loads((tmp_path / "out.json").read_text())
    assert doc["exit_code"] == 2 and doc["measured"] is False and doc["evaluation"] is None
    assert "profiles.smoke.warmups" in doc["error"] and "setup_environment" in doc["failed_steps"]
    (case,) = ET.parse(tmp_path / "junit.xml").getroot().findall(".//testcase[@name='setup_environment']")
    assert "profiles.smoke.warmups" in case.find("error").get("message")


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_json_and_junit_are_written_and_name_the_failure_when_the_store_is_unreachable(tmp_path):
    s3_down = {"PERF_S3_ENDPOINT_URL": f"http://127.0.0.1:{_closed_port()}", "AWS_ACCESS_KEY_ID": "test",
               "AWS_SECRET_ACCESS_KEY": "test", "AWS_DEFAULT_REGION": "us-east-1"}
    out = _cli("run", "daily", "--suites", "market_data", "--artifacts", "s3://perf-bucket/runs",
               "--json", str(tmp_path / "out.json"), "--junit", str(tmp_path / "junit.xml"), env=s3_down)
    assert out.returncode == 1, out.stderr[-2000:]
    doc = json.loads((tmp_path / "out.json").read_text())
    assert doc["exit_code"] == 1 and doc["measured"] is True
    assert "S3" in doc["failed_steps"]["persist_artifacts"] and "127.0.0.1" in doc["failed_steps"]["persist_artifacts"]
    assert doc["evaluation"]["verdicts"] and doc["comparison"]["note"].startswith("baseline unavailable")
    assert doc["report"]["stored"] is None and doc["report"]["local"].endswith("report.html")
    assert doc["work_dir"] in out.stderr or doc["work_dir"] in doc["error"]
    junit = ET.parse(tmp_path / "junit.xml").getroot()
    (persist,) = junit.findall(".//testsuite[@name='perf_pipeline']/testcase[@name='persist_artifacts']")
    assert "S3" in persist.find("error").get("message")
    assert junit.find("testsuite[@name='perf_targets']").get("tests") == str(len(doc["evaluation"]["verdicts"]))
    # the store is back (here: another store): seal the run from its work folder, from the CLI
    work_env = {"PERF_WORK_DIR": str(Path(doc["work_dir"]).parents[1])}
    sealed = _cli("seal", "perf_daily", "--run-id", doc["run_id"], "--artifacts", (tmp_path / "store").as_uri(),
                  env=work_env)
    assert sealed.returncode == 0, sealed.stderr[-2000:]
    manifest = json.loads(next((tmp_path / "store" / "perf_daily").glob("*/manifest.json")).read_text())
    assert manifest["run_id"] == doc["run_id"] and manifest["status"] == "failed"
    assert any(a["path"] == "report.html" for a in manifest["artifacts"])
    again = _cli("seal", "perf_daily", "--run-id", doc["run_id"], "--artifacts", (tmp_path / "store").as_uri(),
                 env=work_env)
    assert again.returncode == 2 and "already" in again.stderr
    missing = _cli("seal", "perf_daily", "--run-id", "nope", env=work_env)
    assert missing.returncode == 2 and "no work folder" in missing.stderr


def test_junit_marks_warnings_and_criticals_as_failures_and_invalid_targets_as_skipped(tmp_path):
    from perf_tasks.alerts.rules import evaluate
    from perf_tasks.cli import junit_tree
    from perf_tasks.results import Metric, RunResults, Target, to_dict

    metrics = (Metric("s.b.latency_p95_ms", 9.0, "ms", "lower", Target(max=5), samples=500),
               Metric("s.b.error_rate_pct", 3.0, "%", "lower", Target(max=5, warning=2), samples=500),
               Metric("s.c.latency_p95_ms", 1.0, "ms", "lower", Target(max=5), samples=20))
    ev = evaluate(RunResults(dag_id="d", run_id="r", profile="smoke", started_at="", fingerprint={}, suites=(),
                             host_metrics=metrics), [])
    doc = {"evaluation": to_dict(ev), "error": None, "exit_code": 1,
           "steps": [{"step": "evaluate", "state": "success", "duration_s": 0.1},
                     {"step": "persist_artifacts", "state": "failed", "error": "StoreError: down", "duration_s": 1.0},
                     {"step": "notify", "state": "not_run", "error": "did not run"}]}
    root = junit_tree(doc)
    cases = {c.get("name") if c.get("classname") != "s.c" else "c": c for c in root.iter("testcase")}
    assert cases["latency_p95_ms"].find("failure").get("type") == "critical"
    assert cases["error_rate_pct"].find("failure").get("type") == "warning"
    assert "20 observations" in cases["c"].find("skipped").get("message")
    assert cases["persist_artifacts"].find("error").get("message") == "StoreError: down"
    assert cases["notify"].find("skipped") is not None
    assert (root.get("tests"), root.get("failures"), root.get("errors"), root.get("skipped")) == ("6", "2", "1", "2")


def test_bad_suite_and_bad_target_are_usage_errors(tmp_path):
    out = _cli("run", "daily", "--suites", "nope", "--artifacts", tmp_path.as_uri())
    assert out.returncode == 2 and "unknown suite(s) ['nope']" in out.stderr
    out = _cli("run", "daily", "--target", "x=fast", "--artifacts", tmp_path.as_uri())
    assert out.returncode == 2 and "'fast' is not a number" in out.stderr


def test_a_run_id_of_dots_is_a_usage_error_and_writes_nothing(tmp_path):
    env = {"PERF_WORK_DIR": str(tmp_path / "work")}
    for bad in ("..", "."):
        out = _cli("run", "daily", "--run-id", bad, "--suites", "risk", "--artifacts", (tmp_path / "store").as_uri(),
                   env=env)
        assert out.returncode == 2 and "would name the folder above" in out.stderr
    assert not (tmp_path / "store").exists() and not (tmp_path / "work").exists()


def test_debug_logs_never_show_the_slack_webhook_secret(tmp_path, slack):
    url = slack.url.rstrip("/") + "/services/T000/B000/s3cr3tT0ken"
    out = _cli("-v", "run", "daily", "--suites", "market_data", "--artifacts", tmp_path.as_uri(),
               "--target", "market_data.tick_handling.latency_p95_ms=0.000001", env={"SLACK_WEBHOOK_URL": url})
    assert out.returncode == 1 and len(slack.messages) == 1
    assert "Sending a request" in out.stderr  # slack-sdk's DEBUG line is there, redacted
    assert "s3cr3tT0ken" not in out.stderr + out.stdout and "/services/***" in out.stderr
    stored = "".join(p.read_text(errors="replace") for p in tmp_path.rglob("*") if p.is_file())
    assert "s3cr3tT0ken" not in stored


def test_run_any_kind_refuses_unknown_or_mistyped_options_before_measuring(tmp_path):
    """``run KIND --opt NAME=VALUE``: a name the kind does not have, or a value of the wrong type,
    is exit 2 naming it; nothing is measured or stored."""
    store = tmp_path / "a"
    out = _cli("run", "load", "--opt", "nope=1", "--artifacts", store.as_uri())
    assert out.returncode == 2 and "--opt nope: not an option of a load run" in out.stderr
    assert "shards" in out.stderr  # the options it does have are listed
    out = _cli("run", "load", "--opt", "shards=x", "--artifacts", store.as_uri(), "--json", str(tmp_path / "o.json"))
    assert out.returncode == 2 and "--opt shards: expected an integer, got 'x'" in out.stderr
    assert json.loads((tmp_path / "o.json").read_text())["dag_id"] == "perf_load_weekly"
    assert not store.exists()
    out = _cli("run", "nosuchkind")
    assert out.returncode == 2 and "invalid choice: 'nosuchkind'" in out.stderr
