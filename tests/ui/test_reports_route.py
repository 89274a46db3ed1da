"""The /perf-reports route on a REAL Airflow API server (scripts/airflow_stack.py: api-server,
scheduler, dag-processor, triggerer; LocalExecutor on SQLite, as ``make airflow`` starts them):
nobody reads a stored report without signing in, on any path; a token or the UI's cookie opens it;
a signed link opens its run until it expires; the security headers; 404s without the store's path;
the report and the history site render in Chromium under the route's Content-Security-Policy; the
Report link of a FAILED verdict task (perf_daily with an impossible target: a critical verdict;
Airflow 3.1.1 dropped extra links of failed tasks, issue 57545) is there and opens the report on
``[api] base_url``, a host name that is not localhost; the Slack message's report link is signed
and opens without a login; the processes listen on loopback only. Root-relative links (no base_url)
on such a host: tests/ui/test_airflow_ui.py. Unit tests of the same app:
tests/plugins/test_reports_plugin.py."""
from __future__ import annotations

import json
import os
import re
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
from perf_tasks.store import FileStore, safe_id
from scripts.airflow_stack import REPO, Stack, StackConfig, free_port
from tests.perf_tasks.report.sample import full_run
from tests.perf_tasks.report.test_site import seed_runs

pytestmark = pytest.mark.stack

CHROMIUM = os.environ.get("PERF_CHROMIUM") or shutil.which("chromium") or "/usr/bin/chromium"
#: a host name that is not localhost, resolved by Chromium only (no /etc/hosts change)
HOST_ALIAS = "perf-airflow.test"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 f"--host-resolver-rules=MAP {HOST_ALIAS} 127.0.0.1"]
SECRET = "test-link-secret-0123456789abcdef"
RUN = "std23"  # the seeded run whose report.html is the full sample report
IMPOSSIBLE = "market_data.tick_handling.latency_p95_ms"  # a 1 ns target: a critical miss


@pytest.fixture(scope="module")
def airflow(request):
    home = Path(tempfile.mkdtemp(prefix="perf-reports-airflow-"))
    dags = home / "dags"  # perf_daily only: one DAG to parse on 2 shared cores
    dags.mkdir()
    shutil.copy(REPO / "dags" / "perf_daily.py", dags / "perf_daily.py")
    store = FileStore(home / "artifacts")
    seed_runs(store)
    publish_site(store, "perf_daily")
    a = full_run()
    (home / "artifacts" / "perf_daily" / RUN / "report.html").write_text(
        render_report(a["results"], a["evaluation"], a["comparison"], links=a["links"], history=a["history"],
                      load=a["load"], sections=a["sections"]))
    port = free_port()
    cfg = StackConfig(home=home, db_url=f"sqlite:///{home}/airflow.db", executor="LocalExecutor", port=port,
                      base_url=f"http://{HOST_ALIAS}:{port}",
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
    # the inline script ran (allowed by its hash in the CSP): it counted the rows
    assert re.fullmatch(r"\d+ metrics shown", page.locator("#f-count").inner_text())
    page.select_option("#f-suite", "risk")
    assert page.locator("#f-count").inner_text() == "2 metrics shown"
    assert page.problems == []  # type: ignore[attr-defined]  # no CSP violation, no error


def test_a_critical_verdict_fails_its_task_which_carries_the_report_link_and_slack_links_it_signed(page, airflow):
    airflow.wait_dag_parsed(["perf_daily"], timeout=120)
    airflow.patch("/api/v2/dags/perf_daily", {"is_paused": False})
    run_id = airflow.trigger("perf_daily", {"profile": "smoke", "suites": ["market_data"],
                                            "target_overrides": {IMPOSSIBLE: 0.000001}})
    run = airflow.wait_run("perf_daily", run_id, timeout=240)
    states = {t["task_id"]: t["state"] for t in airflow.task_instances("perf_daily", run_id)}
    assert run["state"] == "failed" and states.pop("verdict") == "failed", (
        states, airflow.task_log_tails("perf_daily", run_id))
    path = f"/perf-reports/perf_daily/{safe_id(run_id)}/report.html"
    links = airflow.get(f"/api/v2/dags/perf_daily/dagRuns/{quote(run_id, safe='')}/taskInstances/verdict/links")
    assert links["extra_links"] == {"Report": airflow.cfg.base_url + path}, links
    assert path in (run["note"] or ""), run["note"]
    # in the UI: the failed task's Details tab shows the link; it opens the report on that host
    if "/auth/login" in (page.goto(page.base + "/").url or ""):
        _sign_in(page, airflow)
    page.goto(f"{page.base}/dags/perf_daily/runs/{quote(run_id, safe='')}/tasks/verdict/details",
              wait_until="networkidle")
    link = page.get_by_role("link", name="Report", exact=True)
    link.wait_for()
    assert link.get_attribute("href") == page.base + path
    report = page.context.new_page()
    resp = report.goto(link.get_attribute("href"))
    assert resp.status == 200 and IMPOSSIBLE in report.content()
    report.close()
    # Slack (no webhook here: the message is in the store): the report link, signed for this run
    message = (airflow.cfg.home / "artifacts" / "perf_daily" / safe_id(run_id) / "alerts" / "message.json").read_text()
    found = re.search(r"<(http[^|>]*/perf-reports/~link/[^|>]*)\|Report>", message)
    assert found, message[:3000]
    url = found.group(1)
    assert url.startswith(f"{airflow.cfg.base_url}/perf-reports/{SIGNED_PREFIX}/")
    assert url.endswith(path.removeprefix("/perf-reports"))
    assert f"<{airflow.cfg.base_url}/dags/perf_daily/runs/" in message  # the run's link: absolute too
    signed = url.removeprefix(airflow.cfg.base_url)
    status, _, body = fetch(airflow, signed)  # no token, no cookie
    assert status == 200 and IMPOSSIBLE.encode() in body
    assert fetch(airflow, signed.replace(f"/{SIGNED_PREFIX}/", f"/{SIGNED_PREFIX}/9"))[0] == 403  # tampered
    assert fetch(airflow, path)[0] == 401  # the same report without the signature
