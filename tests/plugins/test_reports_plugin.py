"""The report route of the Airflow plugin and the "Report" extra link."""
from __future__ import annotations

import os
from pathlib import Path
from types import SimpleNamespace

import pytest
from fastapi.testclient import TestClient

from perf_tasks.store import FileStore, RunArtifacts


@pytest.fixture
def stored_run() -> str:
    root = Path(os.environ["PERF_ARTIFACTS_URL"].removeprefix("file://"))
    run_id = "manual__2026-11-29T21:19:52.383417+00:00"
    run = RunArtifacts(FileStore(root), "perf_daily", run_id)
    if not run.is_sealed():
        run.store.put_bytes(run.key("report.html"), b"<!doctype html><h1>perf_daily: PASS</h1>")
        run.seal([], status="success", summary={})
    return run_id


def test_a_stored_report_is_served_over_http_and_nothing_outside_the_store(stored_run):
    from perf_reports_plugin import PerfReportsPlugin, app
    from perf_tasks.store import safe_id

    client = TestClient(app)
    resp = client.get(f"/perf_daily/{safe_id(stored_run)}/report.html")
    assert resp.status_code == 200 and "PASS" in resp.text and resp.headers["content-type"].startswith("text/html")
    listing = client.get("/perf_daily/")
    assert listing.status_code == 200 and stored_run in listing.text
    for bad in (f"/perf_daily/{safe_id(stored_run)}/..%2F..%2F..%2Fetc%2Fpasswd", "/perf_daily/../x/report.html",
                "/perf_daily/no-such-run/report.html"):
        assert client.get(bad).status_code == 404, bad
    assert "<li>" not in client.get("/nope/").text  # an unknown DAG has no runs
    assert PerfReportsPlugin.fastapi_apps[0]["url_prefix"] == "/perf-reports"


def test_the_report_link_points_at_the_route_and_slack_uses_the_same(monkeypatch):
    from perf_operators.steps import ReportLink, report_base
    from perf_tasks import pipeline

    monkeypatch.delenv("PERF_REPORT_BASE_URL", raising=False)
    key = SimpleNamespace(dag_id="perf_daily", run_id="manual__2026-11-29T21:19:52+00:00", task_id="verdict")
    link = ReportLink().get_link(None, ti_key=key)
    assert link.startswith("http") and link.endswith("/perf-reports/perf_daily/manual__2026-11-29T21_19_52_00_00/report.html")
    spec = pipeline.RunSpec(dag_id="perf_daily", run_id=key.run_id, artifacts_url="file:///tmp/x")
    assert pipeline.report_url(spec, report_base()) == link
    monkeypatch.setenv("PERF_REPORT_BASE_URL", "https://perf.example.org/reports")
    assert ReportLink().get_link(None, ti_key=key).startswith("https://perf.example.org/reports/perf_daily/")
