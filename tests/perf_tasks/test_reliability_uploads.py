"""Each artifact of a run is uploaded once: persist_artifacts uploads the work folder, and the seal
(notify, or ``python -m perf_tasks seal``) uploads only what persist did not (new or changed files),
then the manifest. PUTs are counted on a real S3 API (moto's server on loopback) and on the file
store."""
from __future__ import annotations

from collections import Counter
from pathlib import Path

import pytest

from perf_tasks import pipeline
from perf_tasks.kinds import daily
from perf_tasks.store import FileStore, RunArtifacts, S3Store
from tests.perf_tasks.test_pipeline import small_config


class CountingFileStore(FileStore):
    def __init__(self, root: Path) -> None:
        super().__init__(root)
        self.puts: Counter[str] = Counter()

    def put_bytes(self, key: str, data: bytes) -> None:
        self.puts[key] += 1
        super().put_bytes(key, data)


def _count_s3_puts(client) -> Counter[str]:
    """PutObject requests as sent over HTTP (botocore's retries would be counted too)."""
    puts: Counter[str] = Counter()

    def count(request, **_kw):
        puts[request.url.split("?", 1)[0]] += 1

    client.meta.events.register("before-send.s3.PutObject", count)
    return puts


def _measured(tmp_path: Path, store_url: str, run_id: str = "run1") -> Path:
    work = tmp_path / "work" / "perf_daily" / run_id
    spec = pipeline.RunSpec(dag_id="perf_daily", run_id=run_id, artifacts_url=store_url,
                            config_dir=str(small_config(tmp_path)), notify=False)
    for suite in pipeline.setup_environment(work, spec).suites:
        daily.run_suite(work, suite)
    pipeline.validate_results_step(work)
    pipeline.evaluate_run(work)
    return work


def _tail(work: Path, store) -> None:
    pipeline.compare_to_baseline(work, store)
    pipeline.build_report(work)
    pipeline.persist_artifacts(work, store)
    pipeline.notify(work, store, None, channel="outbox", sleep=lambda s: None)


def _run_keys(store, prefix: str) -> list[str]:
    return store.list_keys(prefix + "/")


def test_a_run_puts_each_artifact_once_on_s3(tmp_path, s3_server, s3_client, bucket, monkeypatch):
    monkeypatch.setenv("PERF_S3_ENDPOINT_URL", s3_server)  # setup's preflight opens the store from the URL
    store = S3Store(bucket, "perf", client=s3_client)
    work = _measured(tmp_path, store.url)
    puts = _count_s3_puts(s3_client)
    _tail(work, store)
    run = RunArtifacts(store, "perf_daily", "run1")
    keys = _run_keys(store, run.prefix)
    assert f"{run.prefix}/report.html" in keys and f"{run.prefix}/manifest.json" in keys
    per_key = {k: puts[f"{s3_server}/{bucket}/perf/{k}"] for k in keys}
    assert set(per_key.values()) == {1}, {k: n for k, n in per_key.items() if n != 1}
    assert run.verify()["status"] == "success"


def test_a_run_puts_each_artifact_once_on_the_file_store(tmp_path):
    store = CountingFileStore(tmp_path / "artifacts")
    work = _measured(tmp_path, store.url)
    _tail(work, store)
    run = RunArtifacts(store, "perf_daily", "run1")
    per_key = {k: store.puts[k] for k in _run_keys(store, run.prefix)}
    assert len(per_key) > 5 and set(per_key.values()) == {1}, {k: n for k, n in per_key.items() if n != 1}
    manifest = run.verify()
    stored = {e["path"] for e in manifest["artifacts"]}
    assert {"report.html", "results.json", "alerts/delivery.json"} <= stored and not any(
        p.startswith("status/") for p in stored)


def test_what_changed_after_persist_is_uploaded_by_the_seal(tmp_path):
    store = CountingFileStore(tmp_path / "artifacts")
    work = _measured(tmp_path, store.url)
    pipeline.compare_to_baseline(work, store)
    pipeline.build_report(work)
    pipeline.persist_artifacts(work, store)
    (work / "report.html").write_text((work / "report.html").read_text() + "<!-- rebuilt -->")
    pipeline.notify(work, store, None, channel="outbox", sleep=lambda s: None)
    run = RunArtifacts(store, "perf_daily", "run1")
    assert store.puts[run.key("report.html")] == 2 and store.puts[run.key("results.json")] == 1
    assert store.get_bytes(run.key("report.html")).endswith(b"<!-- rebuilt -->")
    run.verify()


def test_seal_uploads_everything_when_persist_never_reached_this_store(tmp_path):
    """The ``seal`` command after a failed persist, or with another store: nothing is skipped."""
    first = CountingFileStore(tmp_path / "first")
    work = _measured(tmp_path, first.url)
    pipeline.compare_to_baseline(work, first)
    pipeline.build_report(work)
    pipeline.persist_artifacts(work, first)
    other = CountingFileStore(tmp_path / "other")
    spec = pipeline.load_spec(work)
    pipeline.seal_run(work, other, spec, delivery_status="outbox", failed={})
    run = RunArtifacts(other, "perf_daily", "run1")
    manifest = run.verify()
    assert {e["path"] for e in manifest["artifacts"]} >= {"report.html", "results.json"}
    assert all(other.puts[run.key(e["path"])] == 1 for e in manifest["artifacts"])


def test_a_retried_persist_is_idempotent_and_the_seal_still_uploads_once(tmp_path):
    store = CountingFileStore(tmp_path / "artifacts")
    work = _measured(tmp_path, store.url)
    pipeline.compare_to_baseline(work, store)
    pipeline.build_report(work)
    first = pipeline.persist_artifacts(work, store)
    again = pipeline.persist_artifacts(work, store)  # a retried task
    assert first == again
    pipeline.notify(work, store, None, channel="outbox", sleep=lambda s: None)
    run = RunArtifacts(store, "perf_daily", "run1")
    assert store.puts[run.key("results.json")] <= 2  # the retry may write again; the seal does not
    run.verify()
