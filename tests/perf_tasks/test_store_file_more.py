"""The file artifact store's refusals on a real filesystem: a root that cannot be created, keys
that escape the root, writes and reads that fail, and what it lists; written files are readable."""
from __future__ import annotations

import stat
from pathlib import Path

import pytest

from perf_tasks.errors import StoreError
from perf_tasks.store.file import FileStore


def test_preflight_names_a_root_that_cannot_be_created(tmp_path: Path):
    blocker = tmp_path / "artifacts"
    blocker.write_text("a file where the store's folder should be")
    store = FileStore(blocker / "perf")
    with pytest.raises(StoreError, match=rf"artifact store {store.url}: cannot create its folder"):
        store.preflight()
    assert FileStore(tmp_path / "fresh").preflight() == "" and (tmp_path / "fresh").is_dir()


@pytest.mark.parametrize("key", ["../outside.json", "perf_daily/../../outside.json", "/etc/passwd"])
def test_keys_that_escape_the_root_are_refused(tmp_path: Path, key: str):
    store = FileStore(tmp_path / "root")
    with pytest.raises(StoreError, match="escapes the store root"):
        store.put_bytes(key, b"x")
    assert not (tmp_path / "outside.json").exists()


def test_a_write_under_a_file_fails_naming_the_path(tmp_path: Path):
    store = FileStore(tmp_path)
    store.put_bytes("perf_daily/r1", b"a file")
    with pytest.raises(StoreError, match=rf"cannot write {tmp_path / 'perf_daily' / 'r1' / 'report.html'}"):
        store.put_bytes("perf_daily/r1/report.html", b"<html>")


def test_reads_of_missing_keys_and_of_folders_are_store_errors(tmp_path: Path):
    store = FileStore(tmp_path)
    with pytest.raises(StoreError, match=rf"{tmp_path / 'nope.json'} does not exist"):
        store.get_bytes("nope.json")
    (tmp_path / "a_folder").mkdir()
    with pytest.raises(StoreError, match=rf"cannot read {tmp_path / 'a_folder'}"):
        store.get_bytes("a_folder")
    assert not store.exists("a_folder") and not store.exists("nope.json")


def test_written_files_are_readable_by_others_and_replace_atomically(tmp_path: Path):
    store = FileStore(tmp_path)
    store.put_bytes("d/r/report.html", b"one")
    store.put_bytes("d/r/report.html", b"two")
    path = tmp_path / "d" / "r" / "report.html"
    assert path.read_bytes() == b"two" and stat.S_IMODE(path.stat().st_mode) == 0o644
    assert [p.name for p in path.parent.iterdir()] == ["report.html"]  # no temporary file left behind
    assert store.list_keys("d/") == ["d/r/report.html"] and store.list_keys("missing/") == []
