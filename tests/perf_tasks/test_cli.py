"""The CLI runs the same chain without Airflow (in a subprocess, as a user would)."""
from __future__ import annotations

import json
import os
import subprocess
import sys
import xml.etree.ElementTree as ET

from tests.conftest import REPO


def _cli(*args: str, env: dict | None = None, timeout: int = 300) -> subprocess.CompletedProcess:
    full_env = {**os.environ, "PYTHONPATH": str(REPO), **(env or {})}
    return subprocess.run([sys.executable, "-m", "perf_tasks", *args], capture_output=True, text=True,
                          env=full_env, timeout=timeout, cwd=REPO)


def test_run_daily_smoke_writes_artifacts_and_prints_the_summary(tmp_path):
    out = _cli("run", "daily", "--profile", "smoke", "--suites", "market_data", "--artifacts", tmp_path.as_uri(),
               "--junit", str(tmp_path / "junit.xml"), "--json", str(tmp_path / "out.json"))
    assert out.returncode == 0, out.stderr[-2000:]
    assert "market_data.tick_handling.latency_p95_ms" in out.stdout and "PASS" in out.stdout
    assert "report: file://" in out.stdout
    manifests = list(tmp_path.glob("perf_daily/*/manifest.json"))
    assert len(manifests) == 1 and json.loads(manifests[0].read_text())["status"] == "success"
    suite = ET.parse(tmp_path / "junit.xml").getroot()
    assert suite.get("tests") == "1" and suite.get("failures") == "0"
    assert json.loads((tmp_path / "out.json").read_text())["evaluation"]["verdicts"]

    shown = _cli("show", "perf_daily", "--artifacts", tmp_path.as_uri())
    assert shown.returncode == 0 and "sha256 verified" in shown.stdout


def test_critical_violation_exits_nonzero_and_the_alert_lands_in_the_outbox(tmp_path):
    out = _cli("run", "daily", "--suites", "market_data", "--artifacts", tmp_path.as_uri(),
               "--target", "market_data.tick_handling.latency_p95_ms=0.000001")
    assert out.returncode == 1, out.stderr[-2000:]
    assert "CRITICAL" in out.stdout and "alert: outbox" in out.stdout
    outbox = list(tmp_path.glob("perf_daily/*/alerts/outbox/slack-message.json"))
    assert len(outbox) == 1
    assert "market_data.tick_handling.latency_p95_ms" in outbox[0].read_text()


def test_cli_posts_to_slack_webhook_from_the_environment(tmp_path, slack):
    out = _cli("run", "daily", "--suites", "market_data", "--artifacts", tmp_path.as_uri(),
               "--target", "market_data.tick_handling.latency_p95_ms=0.000001", env={"SLACK_WEBHOOK_URL": slack.url})
    assert out.returncode == 1
    assert len(slack.messages) == 1 and "tick_handling" in json.dumps(slack.messages[0])


def test_bad_config_exits_2_before_measuring(tmp_path):
    bad = tmp_path / "config"
    bad.mkdir()
    for name in ("benchmarks", "profiles", "alerts"):
        (bad / f"{name}.yaml").write_text((REPO / "config" / f"{name}.yaml").read_text())
    (bad / "profiles.yaml").write_text((bad / "profiles.yaml").read_text().replace("warmups: 1", "warmups: -1"))
    out = _cli("run", "daily", "--config-dir", str(bad), "--artifacts", (tmp_path / "a").as_uri())
    assert out.returncode == 2
    assert "profiles.smoke.warmups" in out.stderr and "(got -1)" in out.stderr
    assert not (tmp_path / "a").exists()


def test_bad_suite_and_bad_target_are_usage_errors(tmp_path):
    out = _cli("run", "daily", "--suites", "nope", "--artifacts", tmp_path.as_uri())
    assert out.returncode == 2 and "unknown suite(s) ['nope']" in out.stderr
    out = _cli("run", "daily", "--target", "x=fast", "--artifacts", tmp_path.as_uri())
    assert out.returncode == 2 and "'fast' is not a number" in out.stderr
