"""The /perf-reports route on a REAL Airflow API server (scripts/airflow_stack.py: api-server,
scheduler, dag-processor, triggerer; LocalExecutor on SQLite, as ``make airflow`` starts them):
nobody reads a stored report without signing in, on any path; a token or the UI's cookie opens it;
a signed link opens its run until it expires; the security headers; 404s without the store's path;
the report and the history site render in Chromium under the route's Content-Security-Policy; the
Report link of a FAILED verdict task (Airflow 3.1.1 dropped extra links of failed tasks: issue
57545) is there and opens the report on a host name that is not localhost; the processes listen on
loopback only. Unit tests of the same app: tests/plugins/test_reports_plugin.py."""
from __future__ import annotations

import json
import os
import shutil
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path
from urllib.parse import quote

import pytest

from perf_tasks.report.html import render_report
from perf_tasks.report.links import SIGNED_PREFIX, link_token
from perf_tasks.report.site import publish_site
from perf_tasks.store import FileStore, RunArtifacts, safe_id
from scripts.airflow_stack import Stack, StackConfig, free_port
from tests.perf_tasks.report.sample import full_run
from tests.perf_tasks.report.test_site import seed_runs

pytestmark = pytest.mark.stack

CHROMIUM = os.environ.get("PERF_CHROMIUM") or shutil.which("chromium") or "/usr/bin/chromium"
#: a host name that is not localhost, resolved by Chromium only (no /etc/hosts change)
HOST_ALIAS = "perf-airflow.test"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 f"--host-resolver-rules=MAP {HOST_ALIAS} 127.0.0.1"]
SECRET = "test-link-secret-0123456789abcdef"
FAILING_DAG = "perf_failing_verdict"
RUN = "std23"  # the seeded run whose report.html is the full sample report

# a DAG whose only task is the real VerdictOperator on an empty work folder: it finds no run and
# fails (AirflowFailException), as the verdict of a critical run does
FAILING_DAG_FILE = f'''
from airflow.sdk import DAG
from perf_operators.steps import VerdictOperator

with DAG("{FAILING_DAG}", schedule=None, catchup=False, tags=["test"]):
    VerdictOperator(task_id="verdict", retries=0)
'''


@pytest.fixture(scope="module")
def airflow(request):
    home = Path(tempfile.mkdtemp(prefix="perf-reports-airflow-"))
    dags = home / "dags"
    dags.mkdir()
    (dags / f"{FAILING_DAG}.py").write_text(FAILING_DAG_FILE)
    store = FileStore(home / "artifacts")
    seed_runs(store)
    publish_site(store, "perf_daily")
    a = full_run()
    (home / "artifacts" / "perf_daily" / RUN / "report.html").write_text(
        render_report(a["results"], a["evaluation"], a["comparison"], links=a["links"], history=a["history"],
                      load=a["load"], sections=a["sections"]))
    cfg = StackConfig(home=home, db_url=f"sqlite:///{home}/airflow.db", executor="LocalExecutor", port=free_port(),
                      work_dir=home / "work", artifacts_url=(home / "artifacts").as_uri(),
                      extra_env={"AIRFLOW__CORE__DAGS_FOLDER": str(dags), "PERF_REPORTS_LINK_SECRET": SECRET,
                                 "AIRFLOW__DAG_PROCESSOR__MIN_FILE_PROCESS_INTERVAL": "600"})
    s = Stack(cfg)
    failed_before = request.session.testsfailed
    try:
        s.up(timeout=240)
        yield s
    finally:
        s.stop()
        if request.session.testsfailed == failed_before:
            shutil.rmtree(home, ignore_errors=True)


def fetch(airflow: Stack, path: str, *, method: str = "GET", headers: dict[str, str] | None = None):
    """(status, headers, body) of a plain http request, following no redirect."""
    class NoRedirect(urllib.request.HTTPRedirectHandler):
        def redirect_request(self, *a, **k):
            return None

    req = urllib.request.Request(f"{airflow.cfg.local_url}{path}", method=method, headers=headers or {})
    try:
        with urllib.request.build_opener(NoRedirect).open(req, timeout=30) as resp:
            return resp.status, resp.headers, resp.read()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.headers, exc.read()


def bearer(airflow: Stack) -> dict[str, str]:
    return {"Authorization": f"Bearer {airflow.token()}"}


PATHS = ["/perf-reports/perf_daily/", f"/perf-reports/perf_daily/{RUN}/report.html", f"/perf-reports/perf_daily/{RUN}/",
         f"/perf-reports/perf_daily/{RUN}", f"/perf-reports/perf_daily/{RUN}/manifest.json",
         "/perf-reports/perf_daily/_index/runs.jsonl", "/perf-reports/perf_daily/_site/index.html",
         "/perf-reports/perf_daily/_alerts/state.json", "/perf-reports/docs", "/perf-reports/redoc",
         "/perf-reports/openapi.json", "/perf-reports/", "/perf-reports/nothing/here/at/all",
         f"/perf-reports/{SIGNED_PREFIX}/1.x/perf_daily/{RUN}"]


def test_every_reports_path_refuses_a_request_without_a_login(airflow):
    assert fetch(airflow, "/api/v2/dags")[0] == 401  # the core API beside it
    for path in PATHS:
        for method in ("GET", "POST"):
            status, headers, body = fetch(airflow, path, method=method)
            assert status in (401, 403), (method, path, status, body[:200])
            assert headers["X-Content-Type-Options"] == "nosniff", path
    status, _, _ = fetch(airflow, f"/perf-reports/perf_daily/{RUN}/report.html",
                         headers={"Authorization": "Bearer not.a.jwt"})
    assert status == 403


def test_a_token_opens_reports_with_their_media_types_and_security_headers(airflow):
    status, headers, body = fetch(airflow, f"/perf-reports/perf_daily/{RUN}/", headers=bearer(airflow))
    assert status == 200 and b"<h2 id='summary'>" in body
    assert headers["Content-Type"] == "text/html; charset=utf-8"
    assert headers["X-Content-Type-Options"] == "nosniff" and headers["Referrer-Policy"] == "no-referrer"
    assert "default-src 'none'" in headers["Content-Security-Policy"]
    status, headers, body = fetch(airflow, f"/perf-reports/perf_daily/{RUN}/manifest.json", headers=bearer(airflow))
    assert status == 200 and headers["Content-Type"] == "application/json" and json.loads(body)
    status, _, body = fetch(airflow, "/perf-reports/perf_daily/", headers=bearer(airflow))
    assert status == 200 and f"href='{RUN}/'".encode() in body


def test_404_bodies_carry_no_absolute_path(airflow):
    for path in (f"/perf-reports/perf_daily/{RUN}/nope.json", "/perf-reports/perf_daily/nope/report.html",
                 f"/perf-reports/perf_daily/{RUN}/..%2F..%2F..%2Fetc%2Fpasswd", "/perf-reports/nothing"):
        status, _, body = fetch(airflow, path, headers=bearer(airflow))
        assert status == 404, (path, status)
        assert str(airflow.cfg.home).encode() not in body and b"/tmp" not in body, body


def test_a_signed_link_opens_its_run_until_it_expires_and_never_when_tampered(airflow):
    token = link_token(SECRET, "perf_daily", RUN, now_s=time.time(), ttl_s=4)
    url = f"/perf-reports/{SIGNED_PREFIX}/{token}/perf_daily/{RUN}/report.html"
    status, headers, body = fetch(airflow, url)  # no login
    assert status == 200 and b"<h2 id='summary'>" in body and headers["Content-Type"].startswith("text/html")
    expires, sig = token.split(".")
    for bad in (f"{int(expires) + 600}.{sig}", f"{expires}.{sig[:-2]}xx",
                link_token("another-secret", "perf_daily", RUN, now_s=time.time(), ttl_s=60)):
        assert fetch(airflow, f"/perf-reports/{SIGNED_PREFIX}/{bad}/perf_daily/{RUN}/report.html")[0] == 403, bad
    assert fetch(airflow, f"/perf-reports/{SIGNED_PREFIX}/{token}/perf_daily/std22/report.html")[0] == 403
    time.sleep(max(0.0, int(expires) - time.time()) + 1.2)
    status, _, body = fetch(airflow, url)
    assert status == 403 and b"expired" in body


def test_only_loopback_sockets_and_no_log_servers(airflow):
    import psutil

    listening = set()
    for leader in airflow.procs.values():
        try:
            procs = [psutil.Process(leader.pid), *psutil.Process(leader.pid).children(recursive=True)]
        except psutil.NoSuchProcess:
            continue
        for p in procs:
            try:
                listening |= {c.laddr for c in p.net_connections(kind="inet") if c.status == psutil.CONN_LISTEN}
            except psutil.NoSuchProcess:
                pass
    assert listening, "the API server listens somewhere"
    assert {addr.ip for addr in listening} == {"127.0.0.1"}, listening
    assert {addr.port for addr in listening} == {airflow.cfg.port}, listening  # no log server (8793/8794)


@pytest.fixture(scope="module")
def page(airflow):
    if not Path(CHROMIUM).exists():
        pytest.skip(f"Chromium not found ({CHROMIUM}): apt-get install chromium (.ci/run does)")
    sync_api = pytest.importorskip("playwright.sync_api", reason="the playwright package is not installed")
    with sync_api.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        ctx = browser.new_context(viewport={"width": 1280, "height": 900})
        ctx.set_default_timeout(30_000)
        pg = ctx.new_page()
        problems: list[str] = []
        pg.on("console", lambda m: problems.append(f"console {m.type}: {m.text}") if m.type in ("error", "warning")
              else None)
        pg.on("pageerror", lambda e: problems.append(f"page error: {e}"))
        pg.problems = problems  # type: ignore[attr-defined]
        pg.base = f"http://{HOST_ALIAS}:{airflow.cfg.port}"  # type: ignore[attr-defined]
        try:
            yield pg
        finally:
            browser.close()


def _sign_in(page, airflow: Stack) -> None:
    page.goto(page.base + "/")
    page.wait_for_url("**/auth/login**")
    login, password = airflow.user()
    page.get_by_label("Username").fill(login)
    page.get_by_label("Password").fill(password)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url(lambda url: "/auth/login" not in url)


def test_a_browser_sees_a_sign_in_link_then_the_report_and_site_render_under_the_csp(page, airflow):
    report = f"{page.base}/perf-reports/perf_daily/{RUN}/report.html"
    resp = page.goto(report)
    assert resp.status == 401 and page.get_by_role("link", name="sign in to Airflow").is_visible()
    _sign_in(page, airflow)
    page.problems.clear()  # the 401s before signing in are logged as console errors
    resp = page.goto(report)
    assert resp.status == 200 and page.locator("h1").inner_text().startswith("perf_daily")
    charts = page.locator("svg.chart")
    assert charts.count() >= 10 and charts.first.bounding_box()["width"] > 200  # styled and drawn
    assert page.locator("#summary").is_visible()
    page.goto(f"{page.base}/perf-reports/perf_daily/_site/index.html")
    assert page.locator("#f-count").inner_text() == "3 metrics shown"  # the inline script ran (hash in the CSP)
    page.select_option("#f-suite", "risk")
    assert page.locator("#f-count").inner_text() == "2 metrics shown"
    assert page.problems == []  # type: ignore[attr-defined]  # no CSP violation, no error


def test_a_failed_verdict_task_carries_the_report_link(page, airflow):
    airflow.wait_dag_parsed([FAILING_DAG], timeout=120)
    airflow.patch(f"/api/v2/dags/{FAILING_DAG}", {"is_paused": False})
    run_id = airflow.trigger(FAILING_DAG, {})
    run = airflow.wait_run(FAILING_DAG, run_id, timeout=120)
    ti = {t["task_id"]: t for t in airflow.task_instances(FAILING_DAG, run_id)}["verdict"]
    assert run["state"] == "failed" and ti["state"] == "failed", (run["state"], ti["state"],
                                                                  airflow.task_log_tails(FAILING_DAG, run_id))
    links = airflow.get(f"/api/v2/dags/{FAILING_DAG}/dagRuns/{quote(run_id, safe='')}/taskInstances/verdict/links")
    href = f"/perf-reports/{FAILING_DAG}/{safe_id(run_id)}/report.html"
    assert links["extra_links"] == {"Report": href}, links
    # in the UI, on a host name that is not localhost: the root-relative link stays on that host
    store = RunArtifacts(FileStore(airflow.cfg.home / "artifacts"), FAILING_DAG, run_id)
    store.store.put_bytes(store.key("report.html"), b"<!doctype html><h1>failing verdict report</h1>")
    if "/auth/login" in (page.goto(page.base + "/").url or ""):
        _sign_in(page, airflow)
    page.goto(f"{page.base}/dags/{FAILING_DAG}/runs/{quote(run_id, safe='')}/tasks/verdict/details",
              wait_until="networkidle")
    link = page.get_by_role("link", name="Report", exact=True)
    link.wait_for()
    assert link.get_attribute("href") == href
    with page.context.expect_page() if link.get_attribute("target") == "_blank" else _same_page(page) as opened:
        link.click()
    target = opened.value
    target.wait_for_load_state()
    assert target.url == page.base + href and "failing verdict report" in target.content()


class _same_page:
    """``expect_page``'s shape for a link that opens in the same tab."""

    def __init__(self, page) -> None:
        self.value = page

    def __enter__(self):
        return self

    def __exit__(self, *exc) -> None:
        self.value.wait_for_url(lambda url: "/perf-reports/" in url)
