"""Pipeline helpers on real folders: where a run's work folder may be (and what a retried setup may
delete), a missing input naming the step, the verdict of a run that was never evaluated, and the
history site published best effort."""
from __future__ import annotations

import json
from pathlib import Path

import pytest

from perf_tasks import pipeline
from perf_tasks.errors import PipelineError, UserError
from perf_tasks.results import to_dict
from perf_tasks.store import FileStore


@pytest.fixture
def root(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    r = tmp_path / "work-root"
    r.mkdir()
    monkeypatch.setenv("PERF_WORK_DIR", str(r))
    return r


def test_work_folders_are_two_levels_inside_the_root_with_safe_ids(root: Path):
    assert pipeline.default_work_root() == root
    work = pipeline.work_dir_for("perf_daily", "manual__2026-11-30T01:00:00+00:00")
    assert work == root / "perf_daily" / "manual__2026-11-30T01_00_00_00_00"
    with pytest.raises(UserError, match=r"run id '\.\.': an id made only of dots"):
        pipeline.work_dir_for("perf_daily", "..")
    with pytest.raises(UserError, match="is not a run folder inside the work root"):
        pipeline._check_inside(root / "perf_daily", root)


def test_clean_work_deletes_a_run_folder_and_refuses_anything_bigger(root: Path):
    run = root / "perf_daily" / "r1"
    (run / "status").mkdir(parents=True)
    (run / "status" / "setup_environment.json").write_text("{}")
    pipeline.clean_work(run)
    assert not run.exists() and (root / "perf_daily").is_dir()
    with pytest.raises(UserError, match="a DAG folder, not a run's work folder"):
        pipeline.clean_work(root / "perf_daily")
    with pytest.raises(UserError, match="it is \\(or holds\\) the work root"):
        pipeline.clean_work(root)
    with pytest.raises(UserError, match="not a run's work folder"):
        pipeline.clean_work(Path("/tmp"))
    assert (root / "perf_daily").is_dir()


def test_a_missing_input_names_the_step_and_the_file(tmp_path: Path):
    with pytest.raises(PipelineError, match=rf"build_report: {tmp_path / 'results.json'} is missing: did the step "
                                            r"that writes it run and succeed\?"):
        pipeline.read_text(tmp_path, "results.json", "build_report")


def _spec_work(tmp_path: Path) -> Path:
    work = tmp_path / "work"
    work.mkdir()
    spec = pipeline.RunSpec(dag_id="perf_daily", run_id="r1", artifacts_url=(tmp_path / "store").as_uri(),
                            expected_steps=("run_benchmarks.risk",))
    (work / "run.json").write_text(json.dumps(to_dict(spec)))
    return work


def test_a_run_that_was_never_evaluated_fails_naming_the_steps_that_did_not_run(tmp_path: Path):
    never = pipeline.run_verdict(tmp_path / "nothing")
    assert never.verdict == "CRITICAL" and never.lines == (
        "verdict: CRITICAL (the run was not evaluated: step setup_environment failed)",
        "STEP FAILED setup_environment: did not run")
    work = _spec_work(tmp_path)
    v = pipeline.run_verdict(work)
    assert v.verdict == "CRITICAL" and v.fails_run and v.report == ""
    assert v.lines[0].startswith("verdict: CRITICAL (the run was not evaluated: step ")
    assert any(line.startswith("STEP FAILED setup_environment") or line.startswith("STEP FAILED run_benchmarks.risk")
               for line in v.lines[1:])
    assert v.note.startswith("**CRITICAL** · verdict: CRITICAL") and "\n- STEP FAILED " in v.note


def test_the_history_site_is_published_best_effort(tmp_path: Path, caplog):
    work = _spec_work(tmp_path)
    blocked = tmp_path / "blocked"
    blocked.write_text("a file where the store should be")
    assert pipeline.publish_site(work, FileStore(blocked / "store")) == ""
    assert "history site of perf_daily not published" in caplog.text
    store = FileStore(tmp_path / "store")
    uri = pipeline.publish_site(work, store)
    assert uri.endswith("perf_daily/_site/index.html") and store.exists("perf_daily/_site/index.html")
