"""Promoted baselines in a real file store: what cannot be promoted (a run that is not there, a
failed run, a version another promotion took), the current baseline, and the lookup's edges (a run
is never its own baseline; a baseline promoted before keys were stored is read from its results)."""
from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from perf_tasks import pipeline
from perf_tasks.errors import PipelineError, StoreError, UserError
from perf_tasks.regress.baselines import current_baseline, find_baseline, no_baseline_note, promote
from perf_tasks.regress.keys import run_key
from perf_tasks.results import RunResults, from_json
from perf_tasks.store import FileStore, RunArtifacts, run_index
from tests.perf_tasks.test_pipeline import _full_run, small_config


@pytest.fixture(scope="module")
def finished(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A store with a successful run ``ok1`` and a failed run ``broken`` of perf_daily (copy to change)."""
    root = tmp_path_factory.mktemp("baselines")
    cfg = small_config(root)
    store = FileStore(root / "artifacts")
    _full_run(root, cfg, store, "ok1")
    work = root / "work" / "broken"
    spec = pipeline.RunSpec(dag_id="perf_daily", run_id="broken", artifacts_url=store.url, config_dir=str(cfg))
    pipeline.setup_environment(work, spec)
    with pytest.raises(PipelineError):
        pipeline.notify(work, store, None, channel="outbox")  # every later step "failed": sealed as failed
    return root / "artifacts"


@pytest.fixture
def store(finished: Path, tmp_path: Path) -> FileStore:
    shutil.copytree(finished, tmp_path / "artifacts")
    return FileStore(tmp_path / "artifacts")


def test_a_run_that_is_not_in_the_store_cannot_be_promoted(store: FileStore):
    with pytest.raises(UserError, match=r"cannot promote run 'nope' of perf_daily: "):
        promote(store, "perf_daily", "nope")
    assert current_baseline(store, "perf_daily") is None


def test_a_failed_run_cannot_be_promoted(store: FileStore):
    with pytest.raises(UserError, match=r"cannot promote run 'broken' of perf_daily: its status is 'failed', "
                                        r"only successful runs can be baselines"):
        promote(store, "perf_daily", "broken")


def test_a_version_taken_by_a_concurrent_promotion_is_refused(store: FileStore):
    first = promote(store, "perf_daily", "ok1", note="first")
    assert current_baseline(store, "perf_daily") == first and first["version"] == 1
    store.put_bytes("perf_daily/_baselines/v0002.json", json.dumps({**first, "version": 2}).encode())
    assert current_baseline(store, "perf_daily")["version"] == 2
    # the next version's file exists while the newest document still says 2 (another promotion is
    # writing v0003 right now): the write is refused, never overwritten
    store.put_bytes("perf_daily/_baselines/v0003.json", json.dumps({**first, "version": 2}).encode())
    with pytest.raises(StoreError, match=r"baseline .*v0003.json already exists; retry the promotion"):
        promote(store, "perf_daily", "ok1")


def test_a_run_is_never_its_own_baseline_and_a_keyless_promotion_is_read_from_its_results(store: FileStore):
    doc = promote(store, "perf_daily", "ok1")
    results = from_json(RunResults, store.get_bytes(doc["results_key"]).decode())
    key = run_key(results)
    own = find_baseline(store, "perf_daily", "ok1", run_index(store, "perf_daily"), key)
    assert own.kind == "none" and own.results is None  # ok1's only candidate is itself
    legacy = {k: v for k, v in doc.items() if k != "key"}  # promoted before keys were stored
    store.put_bytes("perf_daily/_baselines/v0001.json", json.dumps(legacy).encode())
    found = find_baseline(store, "perf_daily", "later-run", [], key)
    assert found.kind == "promoted" and found.results == results and found.passed_over == ()
    other = {**key, "profile": "standard"}
    passed = find_baseline(store, "perf_daily", "later-run", [], other)
    assert passed.kind == "none" and passed.passed_over[0].startswith(
        "promoted baseline v0001 (run ok1) has another key: ")
    assert "profile" in passed.passed_over[0]


def test_the_note_without_a_baseline_names_the_store_and_the_key(store: FileStore):
    note = no_baseline_note(store, "perf_daily", {"dag_id": "perf_daily", "profile": "smoke", "cpu_model": "EPYC"})
    assert note.startswith(f"no promoted baseline and no earlier successful run of perf_daily in {store.url} with "
                           "the same key (")
    assert "smoke" in note and "EPYC" in note
    assert RunArtifacts(store, "perf_daily", "ok1").verify()["status"] == "success"
