"""The report route of the Airflow plugin (/perf-reports): who may read, what it answers, its
headers; the signed links for Slack; the "Report" and "History site" extra links. The app is
tested with Airflow's own auth manager and dependencies (tests/plugins/conftest.py); the same
checks against a real API server: tests/ui/test_reports_route.py."""
from __future__ import annotations

import base64
import hashlib
import os
import re
from pathlib import Path
from types import SimpleNamespace

import pytest
from fastapi.testclient import TestClient

from perf_tasks.store import FileStore, RunArtifacts, safe_id

RUN_ID = "manual__2026-11-29T21:19:52.383417+00:00"
RUN = safe_id(RUN_ID)
STORE_ROOT = Path(os.environ["PERF_ARTIFACTS_URL"].removeprefix("file://"))

#: every kind of path under the route, and some that are not routes at all
PATHS = ["/perf_daily/", f"/perf_daily/{RUN}/report.html", f"/perf_daily/{RUN}/", f"/perf_daily/{RUN}",
         f"/perf_daily/{RUN}/environment.json", f"/perf_daily/{RUN}/manifest.json", f"/perf_daily/{RUN}/results.json",
         f"/perf_daily/{RUN}/alerts/delivery.json", "/perf_daily/_index/runs.json", "/perf_daily/_alerts/state.json",
         "/perf_daily/_site/index.html", "/docs", "/redoc", "/openapi.json", "/docs/oauth2-redirect", "/",
         "/perf_daily", "/no/such/thing", f"/~link/1.abc/perf_daily/{RUN}"]


@pytest.fixture
def stored_run() -> str:
    run = RunArtifacts(FileStore(STORE_ROOT), "perf_daily", RUN_ID)
    if not run.is_sealed():
        run.store.put_bytes(run.key("report.html"), b"<!doctype html><h1>perf_daily: PASS</h1>")
        run.store.put_bytes(run.key("environment.json"), b'{"host": "h"}')
        run.store.put_bytes(run.key("charts/p95.svg"), b"<svg xmlns='http://www.w3.org/2000/svg'/>")
        run.seal([], status="success", summary={})
    return RUN_ID


@pytest.fixture
def client(auth, stored_run):
    from perf_reports_plugin import app

    return TestClient(app)


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def test_every_path_answers_401_without_a_login(client):
    for path in PATHS:
        for method in ("GET", "POST", "HEAD"):
            resp = client.request(method, path, follow_redirects=False)
            assert resp.status_code == 401, (method, path, resp.status_code, resp.text)


def test_an_invalid_token_or_a_user_without_dag_permission_gets_403(client, auth):
    for path in ("/perf_daily/", f"/perf_daily/{RUN}/report.html", f"/perf_daily/{RUN}/"):
        assert client.get(path, headers=bearer(auth.nobody)).status_code == 403, path
        assert client.get(path, headers=bearer("not-a-jwt")).status_code == 403, path
        assert client.get(path, cookies={"_token": "not-a-jwt"}).status_code == 403, path
        # the token of another deployment (other secret) is refused too
        other = auth.admin.rsplit(".", 1)[0] + ".c2lnbmF0dXJl"
        assert client.get(path, headers=bearer(other)).status_code == 403, path


def test_a_signed_in_user_reads_reports_with_a_bearer_token_or_the_ui_cookie(client, auth):
    for creds in ({"headers": bearer(auth.admin)}, {"headers": bearer(auth.viewer)},
                  {"cookies": {"_token": auth.viewer}}):
        resp = client.get(f"/perf_daily/{RUN}/report.html", **creds)
        assert resp.status_code == 200 and "PASS" in resp.text, creds
        listing = client.get("/perf_daily/", **creds)
        assert listing.status_code == 200 and RUN_ID in listing.text and f"href='{RUN}/'" in listing.text


def test_a_run_folder_serves_its_report_as_html_and_files_with_their_media_types(client, auth):
    folder = client.get(f"/perf_daily/{RUN}/", headers=bearer(auth.viewer))
    assert folder.status_code == 200 and "PASS" in folder.text
    assert folder.headers["content-type"] == "text/html; charset=utf-8"
    no_slash = client.get(f"/perf_daily/{RUN}", headers=bearer(auth.viewer), follow_redirects=False)
    assert no_slash.status_code == 307 and no_slash.headers["location"] == f"{RUN}/"
    assert client.get(f"/perf_daily/{RUN}/environment.json",
                      headers=bearer(auth.viewer)).headers["content-type"] == "application/json"
    assert client.get(f"/perf_daily/{RUN}/charts/p95.svg",
                      headers=bearer(auth.viewer)).headers["content-type"] == "image/svg+xml"


def test_every_answer_carries_nosniff_a_csp_and_no_referrer(client, auth):
    for resp in (client.get(f"/perf_daily/{RUN}/report.html", headers=bearer(auth.viewer)),
                 client.get(f"/perf_daily/{RUN}/report.html"), client.get("/nope", headers=bearer(auth.viewer))):
        assert resp.headers["x-content-type-options"] == "nosniff"
        assert resp.headers["referrer-policy"] == "no-referrer"
        csp = resp.headers["content-security-policy"]
        assert "default-src 'none'" in csp and "frame-ancestors 'self'" in csp and "'unsafe-eval'" not in csp
        assert "script-src 'sha256-" in csp and "script-src 'unsafe-inline'" not in csp


def test_the_csp_allows_exactly_the_scripts_the_history_site_renders(tmp_path):
    from perf_reports_plugin import content_security_policy
    from perf_tasks.report.site import publish_site
    from tests.perf_tasks.report.test_site import seed_runs

    store = FileStore(tmp_path)
    seed_runs(store)
    publish_site(store, "perf_daily")
    html = (tmp_path / "perf_daily" / "_site" / "index.html").read_text()
    scripts = re.findall(r"<script>(.*?)</script>", html, flags=re.S)
    assert scripts, "the site index has its filter script"
    for body in scripts:
        digest = base64.b64encode(hashlib.sha256(body.encode()).digest()).decode()
        assert f"'sha256-{digest}'" in content_security_policy()


def test_404_bodies_name_the_key_and_never_the_store_path(client, auth):
    for path in (f"/perf_daily/{RUN}/nope.json", "/perf_daily/no-such-run/report.html",
                 f"/perf_daily/{RUN}/..%2F..%2F..%2Fetc%2Fpasswd", "/perf_daily/../x/report.html",
                 "/perf%7Edaily/r/report.html", "/nowhere"):
        resp = client.get(path, headers=bearer(auth.admin))
        assert resp.status_code == 404, (path, resp.status_code)
        assert str(STORE_ROOT) not in resp.text and "/tmp" not in resp.text, resp.text
    assert "<li>" not in client.get("/nope/", headers=bearer(auth.admin)).text


def test_a_browser_without_a_login_gets_a_sign_in_link_back_to_the_report(client):
    resp = client.get(f"/perf_daily/{RUN}/report.html", headers={"Accept": "text/html"})
    assert resp.status_code == 401 and "sign in" in resp.text
    assert "/auth/login?next=" in resp.text and "report.html" in resp.text


def test_a_signed_link_opens_its_run_until_it_expires_and_not_when_tampered(client, monkeypatch):
    from perf_tasks.report.links import SIGNED_PREFIX, link_token

    monkeypatch.setenv("PERF_REPORTS_LINK_SECRET", "s3cret")
    import time

    good = link_token("s3cret", "perf_daily", RUN, now_s=time.time(), ttl_s=60)
    ok = client.get(f"/{SIGNED_PREFIX}/{good}/perf_daily/{RUN}/report.html")
    assert ok.status_code == 200 and "PASS" in ok.text and ok.headers["content-type"].startswith("text/html")
    assert client.get(f"/{SIGNED_PREFIX}/{good}/perf_daily/{RUN}/").status_code == 200
    expired = link_token("s3cret", "perf_daily", RUN, now_s=time.time() - 120, ttl_s=60)
    other_secret = link_token("other", "perf_daily", RUN, now_s=time.time(), ttl_s=60)
    expires, sig = good.split(".")
    longer = f"{int(expires) + 3600}.{sig}"
    flipped = f"{expires}.{sig[:-1]}{'A' if sig[-1] != 'A' else 'B'}"
    for token, why in ((expired, "expired"), (other_secret, "bad signature"), (longer, "bad signature"),
                       (flipped, "bad signature"), ("nonsense", "malformed")):
        resp = client.get(f"/{SIGNED_PREFIX}/{token}/perf_daily/{RUN}/report.html")
        assert resp.status_code == 403 and why in resp.text, (token, resp.text)
    # signed for one run folder: not another run, not another DAG, not the DAG's other folders
    for path in (f"/perf_daily/other_run/report.html", f"/perf_load_weekly/{RUN}/report.html",
                 "/perf_daily/_site/index.html"):
        assert client.get(f"/{SIGNED_PREFIX}/{good}{path}").status_code == 403, path
    monkeypatch.delenv("PERF_REPORTS_LINK_SECRET")
    monkeypatch.setenv("AIRFLOW__API__SECRET_KEY", "")
    assert client.get(f"/{SIGNED_PREFIX}/{good}/perf_daily/{RUN}/report.html").status_code == 403


def test_link_tokens_are_bounded_to_seven_days():
    from perf_tasks.report.links import MAX_PRESIGN_S, check_link_token, link_token

    token = link_token("k", "d", "r", now_s=1000.0, ttl_s=10 * MAX_PRESIGN_S)
    assert int(token.split(".")[0]) == 1000 + MAX_PRESIGN_S
    assert check_link_token("k", token, "d", "r", now_s=1000.0 + MAX_PRESIGN_S) == ""
    assert check_link_token("k", token, "d", "r", now_s=1001.0 + MAX_PRESIGN_S) == "expired"
    assert check_link_token("", token, "d", "r", now_s=0).startswith("signed links are not enabled")
    with pytest.raises(ValueError):
        link_token("", "d", "r", now_s=0, ttl_s=1)


KEY = SimpleNamespace(dag_id="perf_daily", run_id="manual__2026-11-29T21:19:52+00:00", task_id="verdict")


def test_the_report_link_is_root_relative_without_a_base_url_and_slack_uses_the_same_route(monkeypatch):
    from perf_operators.site import HistorySiteLink
    from perf_operators.steps import ReportLink, report_base
    from perf_tasks import pipeline

    monkeypatch.delenv("PERF_REPORT_BASE_URL", raising=False)
    monkeypatch.setenv("AIRFLOW__API__BASE_URL", "")
    link = ReportLink().get_link(None, ti_key=KEY)
    # no host at all: the browser's own (never a hard-coded localhost)
    assert link == "/perf-reports/perf_daily/manual__2026-11-29T21_19_52_00_00/report.html"
    assert HistorySiteLink().get_link(None, ti_key=KEY) == "/perf-reports/perf_daily/_site/index.html"
    spec = pipeline.RunSpec(dag_id="perf_daily", run_id=KEY.run_id, artifacts_url="file:///tmp/x")
    assert pipeline.report_url(spec, report_base()) == link
    monkeypatch.setenv("AIRFLOW__API__BASE_URL", "https://airflow.example.org/")
    assert ReportLink().get_link(None, ti_key=KEY) == f"https://airflow.example.org{link}"
    assert HistorySiteLink().get_link(None, ti_key=KEY) == \
        "https://airflow.example.org/perf-reports/perf_daily/_site/index.html"
    monkeypatch.setenv("PERF_REPORT_BASE_URL", "https://perf.example.org/reports")
    assert ReportLink().get_link(None, ti_key=KEY).startswith("https://perf.example.org/reports/perf_daily/")


def test_slack_gets_an_absolute_signed_link_only_where_there_is_an_absolute_base(monkeypatch):
    import time

    from perf_operators.steps import link_secret, slack_report_base
    from perf_tasks.report.links import SIGNED_PREFIX, check_link_token

    monkeypatch.delenv("PERF_REPORT_BASE_URL", raising=False)
    monkeypatch.setenv("AIRFLOW__API__BASE_URL", "")
    assert slack_report_base("perf_daily", KEY.run_id) is None  # a root-relative link means nothing in Slack
    monkeypatch.setenv("AIRFLOW__API__BASE_URL", "https://airflow.example.org")
    monkeypatch.setenv("PERF_REPORTS_LINK_SECRET", "s3cret")
    base = slack_report_base("perf_daily", KEY.run_id, expiry_h=2)
    prefix = f"https://airflow.example.org/perf-reports/{SIGNED_PREFIX}/"
    assert base.startswith(prefix)
    token = base.removeprefix(prefix)
    run = safe_id(KEY.run_id)
    assert check_link_token("s3cret", token, "perf_daily", run, now_s=time.time()) == ""
    assert check_link_token("s3cret", token, "perf_daily", run, now_s=time.time() + 2 * 3600 + 5) == "expired"
    # without a dedicated secret: one derived from [api] secret_key (never the key itself)
    monkeypatch.delenv("PERF_REPORTS_LINK_SECRET")
    monkeypatch.setenv("AIRFLOW__API__SECRET_KEY", "api-key")
    assert link_secret() and link_secret() != "api-key"
    monkeypatch.setenv("AIRFLOW__API__SECRET_KEY", "")
    assert slack_report_base("perf_daily", KEY.run_id) == "https://airflow.example.org/perf-reports"
    # a base of another web server (not this route) is used as it is, unsigned
    monkeypatch.setenv("PERF_REPORT_BASE_URL", "https://perf.example.org/reports")
    monkeypatch.setenv("PERF_REPORTS_LINK_SECRET", "s3cret")
    assert slack_report_base("perf_daily", KEY.run_id) == "https://perf.example.org/reports"


def test_the_plugin_mounts_the_route_and_registers_the_report_link():
    from perf_reports_plugin import PerfReportsPlugin, app

    assert PerfReportsPlugin.fastapi_apps[0]["url_prefix"] == "/perf-reports"
    assert app.openapi_url is None and app.docs_url is None and app.redoc_url is None
