from __future__ import annotations

import json

import pytest

from perf_tasks.errors import ConfigError, RunSealedError, StoreError
from perf_tasks.store import FileStore, RunArtifacts, S3Store, open_store, run_index, safe_id
from perf_tasks.store.s3 import default_client
from tests.support.servers import free_port


@pytest.fixture(params=["file", "s3"])
def store(request, tmp_path):
    if request.param == "file":
        return FileStore(tmp_path / "artifacts")
    s3_client = request.getfixturevalue("s3_client")
    bucket = request.getfixturevalue("bucket")
    return S3Store(bucket, "perf/root", client=s3_client)


def _work(tmp_path):
    work = tmp_path / "work"
    (work / "suites").mkdir(parents=True)
    (work / "results.json").write_text('{"a": 1}')
    (work / "suites" / "risk.json").write_text('{"b": 2}')
    (work / "status").mkdir()
    (work / "status" / "x.json").write_text("{}")
    return work


def test_round_trip_list_and_exists(store):
    store.put_bytes("d/r/a.json", b"1")
    store.put_bytes("d/r/sub/b.json", b"22")
    assert store.get_bytes("d/r/sub/b.json") == b"22"
    assert store.exists("d/r/a.json") and not store.exists("d/r/missing")
    assert store.list_keys("d/r/") == ["d/r/a.json", "d/r/sub/b.json"]
    assert store.list_keys("nothing/") == []


def test_run_layout_manifest_and_verification(store, tmp_path):
    run = RunArtifacts(store, "perf_daily", "manual__2026-11-27T10:00:00+00:00")
    assert run.prefix == "perf_daily/manual__2026-11-27T10_00_00_00_00"
    entries = run.upload_dir(_work(tmp_path), exclude=("status",))
    assert [e.path for e in entries] == ["results.json", "suites/risk.json"]
    manifest = run.seal(entries, status="success", summary={"critical": 0})
    assert run.verify()["run_id"] == "manual__2026-11-27T10:00:00+00:00"
    assert manifest["artifacts"][0]["size_bytes"] == 8 and len(manifest["artifacts"][0]["sha256"]) == 64
    assert [e["run_id"] for e in run_index(store, "perf_daily")] == ["manual__2026-11-27T10:00:00+00:00"]


def test_a_finished_run_is_never_overwritten(store, tmp_path):
    run = RunArtifacts(store, "perf_daily", "r1")
    work = _work(tmp_path)
    run.seal(run.upload_dir(work), status="success", summary={})
    with pytest.raises(RunSealedError, match="never overwritten"):
        run.upload_dir(work)
    with pytest.raises(RunSealedError):
        run.seal([], status="success", summary={})


def test_retried_upload_before_sealing_is_idempotent(store, tmp_path):
    run = RunArtifacts(store, "perf_daily", "r2")
    work = _work(tmp_path)
    first = run.upload_dir(work)
    second = run.upload_dir(work)
    assert first == second


def test_verify_detects_a_tampered_artifact(store, tmp_path):
    run = RunArtifacts(store, "perf_daily", "r3")
    run.seal(run.upload_dir(_work(tmp_path)), status="success", summary={})
    store.put_bytes(run.key("results.json"), b'{"a": 2}')
    with pytest.raises(StoreError, match="does not match"):
        run.verify()


def test_index_is_newest_first(store):
    from datetime import datetime, timezone
    for i, rid in enumerate(["old", "new"]):
        RunArtifacts(store, "d", rid).seal([], status="success", summary={},
                                         finished_at=datetime(2026, 1, 1 + i, tzinfo=timezone.utc))
    assert [e["run_id"] for e in run_index(store, "d")] == ["new", "old"]


# retries (botocore's standard mode, one layer): tests/perf_tasks/test_reliability_s3.py


def test_unreachable_s3_gives_a_clear_error_naming_endpoint_and_key(monkeypatch):
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "x")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "x")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    endpoint = f"http://127.0.0.1:{free_port()}"
    store = S3Store("b", "p", client=default_client(endpoint, attempts=2))
    with pytest.raises(StoreError) as err:
        store.put_bytes("run/results.json", b"{}")
    msg = str(err.value)
    assert "s3://b/p/run/results.json" in msg and endpoint in msg and "2 attempt" in msg


def test_a_refused_request_is_an_error_not_absent_and_not_retried(s3_client):
    store = S3Store("no-such-bucket-xyz", client=s3_client)
    with pytest.raises(StoreError, match="refused"):
        store.get_bytes("k")


def test_open_store_parses_urls(tmp_path, s3_client):
    assert isinstance(open_store(tmp_path.as_uri()), FileStore)
    assert isinstance(open_store(str(tmp_path)), FileStore)
    s3 = open_store("s3://bucket/some/prefix", s3_client=s3_client)
    assert isinstance(s3, S3Store) and s3.prefix == "some/prefix"
    for bad in ("ftp://x/y", "s3:///nobucket", "file://host/path"):
        with pytest.raises(ConfigError, match="artifacts URL"):
            open_store(bad)


def test_file_store_refuses_keys_escaping_its_root(tmp_path):
    with pytest.raises(StoreError, match="escapes"):
        FileStore(tmp_path).put_bytes("../outside", b"x")


def test_safe_id_keeps_ids_readable():
    assert safe_id("scheduled__2026-11-27T00:00:00+00:00") == "scheduled__2026-11-27T00_00_00_00_00"
    assert json.dumps(safe_id("a/b c")) == '"a_b_c"'


@pytest.mark.parametrize("bad", ["..", ".", "...", ""])
def test_ids_that_would_leave_their_folder_are_refused(bad, tmp_path):
    from perf_tasks.pipeline import work_dir_for
    from perf_tasks.store.base import BadIdError, safe_id

    with pytest.raises(BadIdError):
        safe_id(bad)
    with pytest.raises(BadIdError, match="run id"):
        work_dir_for("perf_daily", bad, tmp_path)
    with pytest.raises(BadIdError):
        RunArtifacts(FileStore(tmp_path), "perf_daily", bad)


@pytest.mark.parametrize("run_id, expected", [
    ("manual__2026-11-29T21:19:52.383417+00:00", "manual__2026-11-29T21_19_52.383417_00_00"),
    ("a/../..", "a_.._.."), ("/etc/passwd", "_etc_passwd"), ("..\\..", ".._.."), ("x\x00y", "x_y")])
def test_separators_and_airflow_run_ids_stay_inside_the_root(run_id, expected, tmp_path):
    from perf_tasks.pipeline import work_dir_for

    work = work_dir_for("perf_daily", run_id, tmp_path)
    assert work == tmp_path / "perf_daily" / expected and tmp_path.resolve() in work.resolve().parents
    run = RunArtifacts(FileStore(tmp_path / "store"), "perf_daily", run_id)
    run.store.put_bytes(run.key("x.json"), b"{}")
    assert (tmp_path / "store" / "perf_daily" / expected / "x.json").exists()


def test_clean_work_never_deletes_the_work_root_or_a_dag_folder(tmp_path, monkeypatch):
    from perf_tasks.errors import UserError
    from perf_tasks.pipeline import clean_work

    monkeypatch.setenv("PERF_WORK_DIR", str(tmp_path))
    (tmp_path / "perf_daily" / "run1").mkdir(parents=True)
    for bad in (tmp_path, tmp_path / "perf_daily", tmp_path / "perf_daily" / "run1" / ".." / ".."):
        with pytest.raises(UserError):
            clean_work(bad)
    assert (tmp_path / "perf_daily" / "run1").exists()
    clean_work(tmp_path / "perf_daily" / "run1")
    assert not (tmp_path / "perf_daily" / "run1").exists()


def test_preflight_refuses_a_missing_bucket_and_only_warns_for_an_unreachable_endpoint(s3_client, bucket, tmp_path):
    assert S3Store(bucket, "p", client=s3_client).preflight() == ""
    with pytest.raises(StoreError, match="no such bucket"):
        S3Store("no-such-bucket-xyz", client=s3_client).preflight()
    down = default_client(f"http://127.0.0.1:{free_port()}")
    warning = S3Store("b", client=down).preflight()
    assert "unreachable" in warning and "measuring anyway" in warning
    assert FileStore(tmp_path / "new" / "root").preflight() == "" and (tmp_path / "new" / "root").is_dir()


def test_a_run_into_a_missing_bucket_stops_at_setup_before_measuring(s3_server, s3_client, tmp_path, monkeypatch):
    import os
    import subprocess
    import sys

    from tests.conftest import REPO

    env = {**os.environ, "PYTHONPATH": str(REPO), "PERF_S3_ENDPOINT_URL": s3_server, "AWS_ACCESS_KEY_ID": "testing",
           "AWS_SECRET_ACCESS_KEY": "testing", "AWS_DEFAULT_REGION": "us-east-1", "PERF_WORK_DIR": str(tmp_path)}
    t0 = __import__("time").monotonic()
    out = subprocess.run([sys.executable, "-m", "perf_tasks", "run", "daily", "--suites", "risk", "--artifacts",
                          "s3://no-such-bucket-xyz/runs"], capture_output=True, text=True, env=env, timeout=120)
    assert out.returncode == 2 and "no such bucket" in out.stderr, out.stderr[-1500:]
    assert not list(tmp_path.rglob("suites")) and __import__("time").monotonic() - t0 < 60


def test_s3_objects_carry_their_content_type_and_the_client_signs_v4(s3_client, bucket):
    """report.html must open as a page from S3 static hosting, not download as octet-stream."""
    store = S3Store(bucket, "ct", client=s3_client)
    for key, data in (("r/report.html", b"<html></html>"), ("r/results.json", b"{}"), ("r/blob", b"x")):
        store.put_bytes(key, data)
    types = {k: s3_client.head_object(Bucket=bucket, Key=f"ct/{k}")["ContentType"]
             for k in ("r/report.html", "r/results.json", "r/blob")}
    assert types == {"r/report.html": "text/html; charset=utf-8", "r/results.json": "application/json",
                     "r/blob": "application/octet-stream"}
    assert default_client("http://127.0.0.1:1").meta.config.signature_version == "s3v4"
