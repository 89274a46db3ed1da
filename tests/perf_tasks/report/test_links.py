"""Report links: http base, presigned S3 URL (against moto's S3 over real HTTP), file URI."""
from __future__ import annotations

import time
import urllib.request
from urllib.parse import parse_qs, urlparse

from perf_tasks.report.links import report_link
from perf_tasks.store import FileStore, S3Store


def test_an_s3_store_without_a_base_url_links_a_presigned_url_that_opens_the_report(s3_client, bucket, monkeypatch):
    monkeypatch.delenv("PERF_REPORT_BASE_URL", raising=False)
    store = S3Store(bucket, "perf", client=s3_client)
    store.put_bytes("perf_daily/r1/report.html", b"<!doctype html><h1>report</h1>")
    url = report_link(store.url, "perf_daily", "r1", store=store, expiry_h=2)
    q = parse_qs(urlparse(url).query)
    assert url.startswith("http://127.0.0.1")
    if "X-Amz-Expires" in q:  # SigV4: seconds
        assert q["X-Amz-Expires"] == ["7200"]
    else:  # SigV2 (this client's default): the epoch second it expires
        assert abs(int(q["Expires"][0]) - time.time() - 7200) < 60
    assert urlparse(url).path.endswith(f"/{bucket}/perf/perf_daily/r1/report.html")
    with urllib.request.urlopen(url, timeout=10) as resp:  # a browser's GET, no credentials
        assert resp.status == 200 and resp.headers["Content-Type"].startswith("text/html")
        assert b"<h1>report</h1>" in resp.read()


def test_a_base_url_wins_and_a_file_store_links_its_file(tmp_path, monkeypatch):
    monkeypatch.setenv("PERF_REPORT_BASE_URL", "https://perf.example/reports/")
    assert report_link("s3://b/p", "perf_daily", "r 1") == "https://perf.example/reports/perf_daily/r_1/report.html"
    monkeypatch.delenv("PERF_REPORT_BASE_URL")
    store = FileStore(tmp_path)
    assert report_link(tmp_path.as_uri(), "perf_daily", "r1", store=store) == \
        (tmp_path / "perf_daily" / "r1" / "report.html").as_uri()


def test_the_pipeline_links_an_s3_report_presigned_for_the_configured_hours(s3_client, bucket, monkeypatch):
    from perf_tasks import pipeline

    monkeypatch.delenv("PERF_REPORT_BASE_URL", raising=False)
    store = S3Store(bucket, "p", client=s3_client)
    spec = pipeline.RunSpec(dag_id="perf_daily", run_id="r1", artifacts_url=store.url)
    url = pipeline.report_url(spec, store=store)
    q = parse_qs(urlparse(url).query)
    assert urlparse(url).path.endswith(f"/{bucket}/p/perf_daily/r1/report.html")
    assert q.get("X-Amz-Expires") == [str(168 * 3600)] or abs(int(q["Expires"][0]) - time.time() - 168 * 3600) < 60
    assert pipeline.report_url(spec, "http://airflow:8080/perf-reports", store=store) == \
        "http://airflow:8080/perf-reports/perf_daily/r1/report.html"
