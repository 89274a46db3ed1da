"""The history site: built from a store of sealed runs (disk and moto's S3), links relative,
change points with the runs and commits around them, nothing external."""
from __future__ import annotations

import re
import urllib.request
from datetime import datetime, timedelta, timezone

import numpy as np

from perf_tasks.report.site import build_pages, collect_runs, publish_site
from perf_tasks.verdict import verdict_of_summary as verdict_of
from perf_tasks.store import FileStore, RunArtifacts, S3Store

KEY = {"dag_id": "perf_daily", "cpu_model": "CPU A", "cpu_count_logical": "2"}
T0 = datetime(2026, 10, 1, 6, 0, tzinfo=timezone.utc)


def seed_runs(store, n: int = 24, step_at: int = 14) -> None:
    """``n`` standard runs of perf_daily (p50 10 ms, +30 % from run ``step_at``), 3 smoke runs,
    one failed run; each sealed with its index entry and manifest summary."""
    rng = np.random.default_rng(7)
    for i in range(n):
        p50 = (13.0 if i >= step_at else 10.0) * float(np.exp(rng.normal(0, 0.02)))
        _seal(store, f"std{i:02d}", "standard", {"risk.mc.latency_p50_ms": p50, "models.cnn.throughput_per_s":
                                                  400.0 + (i % 3)}, T0 + timedelta(days=i),
              critical=int(i >= step_at), sha=f"{i:02d}" + "a" * 38)
    for i in range(3):
        _seal(store, f"smoke{i}", "smoke", {"risk.mc.latency_p50_ms": 11.0}, T0 + timedelta(days=i, hours=1),
              invalid=1, sha="b" * 40)
    _seal(store, "broken", "standard", {}, T0 + timedelta(days=n), status="failed", sha="c" * 40)


def _seal(store, run_id, profile, metrics, at, *, critical=0, invalid=0, status="success", sha=""):
    run = RunArtifacts(store, "perf_daily", run_id)
    summary = {"targets": 5, "targets_missed": critical, "targets_invalid": invalid, "critical": critical,
               "alerts": critical, "regressions": 0, "delivery": "sent",
               "failed_steps": {"run_benchmarks.risk": "boom"} if status == "failed" else {}}
    run.seal([], status=status, summary=summary, finished_at=at,
             index_extra={"git_sha": sha, "metrics": metrics, "key": {**KEY, "profile": profile}})


def test_the_site_indexes_runs_with_verdicts_and_marks_the_change_point_with_runs_and_commits(tmp_path):
    store = FileStore(tmp_path / "store")
    seed_runs(store)
    out = publish_site(store, "perf_daily")
    site = tmp_path / "store" / "perf_daily" / "_site"
    assert out.index_uri == (site / "index.html").as_uri() and out.runs == 28
    index = (site / "index.html").read_text()
    assert '<td class="CRITICAL">CRITICAL</td>' in index and '<td class="INVALID">INVALID</td>' in index
    assert '<td class="PASS">PASS</td>' in index and 'href="../std23/report.html"' in index
    assert '<option>risk</option>' in index and '<option>smoke</option>' in index and "<svg" in index
    page = (site / "metrics" / "risk.mc.latency_p50_ms--standard.html").read_text()
    assert 'class="regression">regression</td>' in page and "std14" in page and "std13" in page
    assert "13aaaaaaaaaa..14aaaaaaaaaa" in page  # last good .. first bad commit
    assert "◀ new level" in page and page.count('<svg role="img" class="chart"') == 1
    # every relative link resolves to a page of the site or a run folder of the store
    links = [(site, h) for h in re.findall(r'href="([^"#]+)"', index)]
    links += [(site / "metrics", h) for h in re.findall(r'href="([^"#]+)"', page)]
    for base, href in links:
        target = (base / href).resolve()
        assert target.is_relative_to(tmp_path / "store"), href
        if "report.html" not in href:  # reports are not seeded here
            assert target.exists(), href
    # nothing external: no http(s) URL except SVG namespaces
    for text in (index, page):
        assert not [u for u in re.findall(r'(?:src|href)="(https?:[^"]+)"', text)]
        assert "<script src" not in text
    # throughput is a higher-is-better metric: no regression reported for 400-402/s noise
    tput = (site / "metrics" / "models.cnn.throughput_per_s--standard.html").read_text()
    assert "No level change found" in tput


def test_verdicts_come_from_the_manifest_summary():
    assert verdict_of("success", {"critical": 0, "targets_invalid": 0, "alerts": 0, "failed_steps": {}}) == "PASS"
    assert verdict_of("success", {"critical": 0, "targets_invalid": 0, "alerts": 2}) == "WARNING"
    assert verdict_of("success", {"critical": 0, "targets_invalid": 1, "alerts": 2}) == "INVALID"
    assert verdict_of("failed", {"failed_steps": {"x": "y"}}) == "CRITICAL" and verdict_of("success", {}) == "UNKNOWN"
    # a run sealed with its verdict: the site states that one, never a recount
    assert verdict_of("success", {"critical": 0, "targets_invalid": 1, "verdict": "WARNING"}) == "WARNING"


def test_the_site_is_published_to_s3_as_html_pages(s3_client, bucket):
    store = S3Store(bucket, "perf", client=s3_client)
    seed_runs(store, n=6, step_at=99)
    out = publish_site(store, "perf_daily")
    assert out.index_uri == f"s3://{bucket}/perf/perf_daily/_site/index.html" and out.runs == 10
    obj = s3_client.get_object(Bucket=bucket, Key="perf/perf_daily/_site/index.html")
    assert obj["ContentType"].startswith("text/html") and b"perf_daily: performance history" in obj["Body"].read()
    assert s3_client.head_object(Bucket=bucket, Key="perf/perf_daily/_site/metrics/risk.mc.latency_p50_ms--smoke.html")
    # a static-hosting-style GET over HTTP (moto serves path-style)
    url = s3_client.generate_presigned_url("get_object", Params={"Bucket": bucket,
                                                                 "Key": "perf/perf_daily/_site/index.html"})
    with urllib.request.urlopen(url, timeout=10) as resp:
        assert resp.headers["Content-Type"].startswith("text/html")


def test_an_empty_history_still_makes_an_index(tmp_path):
    pages = build_pages("perf_daily", collect_runs(FileStore(tmp_path), "perf_daily"))
    assert list(pages) == ["index.html"] and "0 runs" in pages["index.html"]


def test_the_cli_site_command_writes_the_site_and_names_a_bad_store(tmp_path, capsys):
    from perf_tasks import cli

    seed_runs(FileStore(tmp_path), n=5, step_at=99)
    assert cli.main(["site", "perf_daily", "--artifacts", tmp_path.as_uri()]) == 0
    assert "history site of perf_daily: file://" in capsys.readouterr().out
    assert (tmp_path / "perf_daily" / "_site" / "index.html").exists()
    assert cli.main(["site", "perf_daily", "--artifacts", "ftp://x"]) == 2
    assert "unsupported artifacts URL 'ftp://x'" in capsys.readouterr().err
