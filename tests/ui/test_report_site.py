"""A generated run report and history site, opened in headless Chromium (Playwright driving
Debian's /usr/bin/chromium, no browser download) as a person would open them from disk: no console
errors, the summary and the charts are there, the site's filters and links work. Screenshots go to
$PERF_UI_SCREENSHOTS (``make ui-screenshots`` sets docs/screenshots), else a temporary folder."""
from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path

import pytest

from perf_tasks.report.html import render_report
from perf_tasks.report.site import publish_site
from perf_tasks.store import FileStore
from tests.perf_tasks.report.sample import full_run
from tests.perf_tasks.report.test_site import seed_runs

CHROMIUM = os.environ.get("PERF_CHROMIUM") or shutil.which("chromium") or "/usr/bin/chromium"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking"]


@pytest.fixture(scope="module")
def shots() -> Path:
    folder = Path(os.environ.get("PERF_UI_SCREENSHOTS") or tempfile.mkdtemp(prefix="perf-report-shots-"))
    folder.mkdir(parents=True, exist_ok=True)
    return folder


@pytest.fixture(scope="module")
def browser():
    if not Path(CHROMIUM).exists():
        pytest.skip(f"Chromium not found ({CHROMIUM}): apt-get install chromium (.ci/run does)")
    sync_api = pytest.importorskip("playwright.sync_api", reason="the playwright package is not installed "
                                                                 "(requirements-test.txt pins it)")
    with sync_api.sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            yield b
        finally:
            b.close()


@pytest.fixture
def page(browser):
    ctx = browser.new_context(viewport={"width": 1280, "height": 900})
    ctx.set_default_timeout(15_000)
    pg = ctx.new_page()
    problems: list[str] = []
    pg.on("console", lambda m: problems.append(f"console {m.type}: {m.text}") if m.type in ("error", "warning")
          else None)
    pg.on("pageerror", lambda e: problems.append(f"page error: {e}"))
    pg.on("requestfailed", lambda r: problems.append(f"request failed: {r.url}"))
    pg.problems = problems  # type: ignore[attr-defined]
    yield pg
    ctx.close()


@pytest.fixture(scope="module")
def store(tmp_path_factory) -> Path:
    """A store with 28 sealed runs (a level change at std14), the site published, and the full
    sample report as the newest standard run's report.html."""
    root = tmp_path_factory.mktemp("store")
    fs = FileStore(root)
    seed_runs(fs)
    publish_site(fs, "perf_daily")
    a = full_run()
    html = render_report(a["results"], a["evaluation"], a["comparison"], links=a["links"], history=a["history"],
                         load=a["load"], sections=a["sections"])
    (root / "perf_daily" / "std23" / "report.html").write_text(html)
    return root


def test_the_report_opens_offline_with_its_summary_and_charts(page, store, shots):
    page.goto((store / "perf_daily" / "std23" / "report.html").as_uri())
    assert page.locator("h1").inner_text().startswith("perf_daily: CRITICAL")
    summary = page.locator("#summary")
    assert summary.is_visible() and page.get_by_text("Recommendations:").is_visible()
    assert page.locator("td", has_text="trading").first.is_visible()
    charts = page.locator("svg.chart")
    assert charts.count() >= 10 and charts.first.is_visible()
    assert charts.first.bounding_box()["width"] > 200  # drawn, not an empty box
    assert page.locator("#load svg.chart, #load ~ div svg.chart").count() >= 1 or \
        page.get_by_text("normal: achieved vs intended rate").count() >= 1
    assert not page.locator("details[open]").count()  # technical details start collapsed
    page.screenshot(path=str(shots / "report-summary.png"))
    assert page.problems == []  # type: ignore[attr-defined]


def test_the_site_filters_by_suite_and_profile_and_links_to_metric_pages_and_reports(page, store, shots):
    page.goto((store / "perf_daily" / "_site" / "index.html").as_uri())
    rows = page.locator("#metric-table tr[data-profile]")
    assert rows.count() == 3 and page.locator("#f-count").inner_text() == "3 metrics shown"
    page.select_option("#f-suite", "risk")
    assert page.locator("#f-count").inner_text() == "2 metrics shown"
    page.select_option("#f-profile", "smoke")
    assert page.locator("#f-count").inner_text() == "1 metrics shown"
    assert page.locator("#run-table tr[data-profile='standard']").first.is_hidden()
    page.select_option("#f-profile", "")
    page.select_option("#f-suite", "")
    page.get_by_role("link", name="risk.mc.latency_p50_ms").nth(1).click()  # the standard profile's page
    page.wait_for_load_state()
    assert "risk.mc.latency_p50_ms--standard.html" in page.url
    assert page.locator("svg.chart").count() == 1 and page.locator("svg.chart").is_visible()
    assert page.get_by_role("heading", name="Change points").is_visible()
    page.screenshot(path=str(shots / "site-metric.png"), full_page=True)
    assert page.get_by_role("link", name="std14").first.get_attribute("href") == "../../std14/report.html"
    page.get_by_role("link", name="perf_daily history").click()  # back to the index, then a run's report
    page.wait_for_load_state()
    page.locator("#run-table").get_by_role("link", name="std23").click()
    page.wait_for_load_state()
    assert page.url.endswith("/perf_daily/std23/report.html") and page.locator("#summary").is_visible()
    assert page.problems == []  # type: ignore[attr-defined]
