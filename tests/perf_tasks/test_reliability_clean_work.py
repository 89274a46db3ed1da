"""clean_work (a retried setup deletes its run folder) deletes only a ``<dag>/<run>`` folder inside
the configured work root ($PERF_WORK_DIR, or the ``root`` given): never a folder elsewhere, never
through a symlink that leads out of the root."""
from __future__ import annotations

from pathlib import Path

import pytest

from perf_tasks import pipeline
from perf_tasks.errors import UserError


def _run_folder(path: Path) -> Path:
    (path / "status").mkdir(parents=True)
    (path / "results.json").write_text("{}")
    return path


@pytest.fixture
def root(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    r = tmp_path / "configured-root"
    r.mkdir()
    monkeypatch.setenv("PERF_WORK_DIR", str(r))
    return r


def test_refuses_a_run_shaped_folder_outside_the_configured_root(root: Path, tmp_path: Path):
    outside = _run_folder(tmp_path / "elsewhere" / "perf_daily" / "r1")
    with pytest.raises(UserError, match="inside the work root"):
        pipeline.clean_work(outside)
    assert (outside / "results.json").exists()


def test_refuses_a_dag_folder_that_is_a_symlink_out_of_the_root(root: Path, tmp_path: Path):
    victim = _run_folder(tmp_path / "precious" / "r1")
    (root / "perf_daily").symlink_to(tmp_path / "precious", target_is_directory=True)
    with pytest.raises(UserError, match="inside the work root"):
        pipeline.clean_work(root / "perf_daily" / "r1")
    assert (victim / "results.json").exists()


def test_refuses_a_run_folder_that_is_a_symlink(root: Path, tmp_path: Path):
    other = _run_folder(root / "perf_daily" / "other-run")
    (root / "perf_daily" / "r1").symlink_to(other, target_is_directory=True)
    with pytest.raises(UserError, match="symlink"):
        pipeline.clean_work(root / "perf_daily" / "r1")
    assert (other / "results.json").exists()


def test_an_explicit_root_is_the_one_checked(root: Path, tmp_path: Path):
    custom = tmp_path / "custom-root"
    run = _run_folder(custom / "perf_daily" / "r1")
    with pytest.raises(UserError, match="inside the work root"):
        pipeline.clean_work(run)  # not inside $PERF_WORK_DIR
    assert run.exists()
    pipeline.clean_work(run, root=custom)
    assert not run.exists() and (custom / "perf_daily").is_dir()
    with pytest.raises(UserError, match="a DAG folder"):
        pipeline.clean_work(custom / "perf_daily", root=custom)


def test_deletes_a_run_folder_inside_the_configured_root(root: Path):
    run = _run_folder(root / "perf_daily" / "r1")
    pipeline.clean_work(run)
    assert not run.exists() and (root / "perf_daily").is_dir()
