"""Comparison keys: only runs and benchmarks with the same key are compared (baseline lookup,
per-benchmark comparison, history)."""
from __future__ import annotations

import dataclasses
import json
from datetime import datetime, timedelta, timezone
from pathlib import Path

import numpy as np

from perf_tasks.regress.compare import compare
from perf_tasks.regress.baselines import find_baseline, promote
from perf_tasks.regress.history import history_from_index
from perf_tasks.regress.keys import index_fields, run_key
from perf_tasks.results import RunResults, to_json
from perf_tasks.store import FileStore, RunArtifacts, run_index
from tests.perf_tasks.clustered import FINGERPRINT, bench, clustered, run

T0 = datetime(2026, 11, 1, tzinfo=timezone.utc)


def _run(run_id: str, profile: str = "standard", *, digest: str = "d1", seed: int = 0, median_s: float = 1e-3,
         fingerprint: dict | None = None) -> RunResults:
    values, owner = clustered(np.random.default_rng(seed), processes=5, per_process=100, median_s=median_s)
    return run(run_id, bench(values, owner, digest=digest), profile=profile, fingerprint=fingerprint)


def _seal(store: FileStore, results: RunResults, day: int, *, status: str = "success", with_key: bool = True,
          tmp: Path) -> None:
    """A finished run in the store, as notify leaves it (results.json, environment.json, index entry)."""
    work = tmp / results.run_id
    work.mkdir(parents=True)
    (work / "results.json").write_text(to_json(results))
    (work / "environment.json").write_text(json.dumps({"fingerprint": results.fingerprint, "host_metrics": []}))
    art = RunArtifacts(store, results.dag_id, results.run_id)
    extra = {"metrics": {m.name: m.value for m in results.metrics()}, **(index_fields(results) if with_key else {})}
    art.seal(art.upload_dir(work), status=status, summary={}, finished_at=T0 + timedelta(days=day), index_extra=extra)


def test_a_smoke_run_is_never_compared_with_a_standard_run(tmp_path):
    store = FileStore(tmp_path / "artifacts")
    _seal(store, _run("smoke1", "smoke"), 1, tmp=tmp_path)
    _seal(store, _run("standard1", "standard"), 2, tmp=tmp_path)  # newer, but another profile
    smoke2 = _run("smoke2", "smoke", seed=1)
    found = find_baseline(store, "perf_daily", "smoke2", run_index(store, "perf_daily"), run_key(smoke2))
    assert (found.kind, found.results.run_id) == ("previous", "smoke1")
    standard2 = _run("standard2", "standard", seed=2)
    found = find_baseline(store, "perf_daily", "standard2", run_index(store, "perf_daily"), run_key(standard2))
    assert found.results.run_id == "standard1"
    full = _run("full1", "full")
    assert find_baseline(store, "perf_daily", "full1", run_index(store, "perf_daily"), run_key(full)).results is None


def test_a_promoted_baseline_of_another_profile_is_passed_over_and_named(tmp_path):
    store = FileStore(tmp_path / "artifacts")
    _seal(store, _run("smoke1", "smoke"), 1, tmp=tmp_path)
    _seal(store, _run("standard1", "standard"), 2, tmp=tmp_path)
    doc = promote(store, "perf_daily", "standard1")
    assert doc["key"]["profile"] == "standard"
    found = find_baseline(store, "perf_daily", "smoke2", run_index(store, "perf_daily"), run_key(_run("smoke2", "smoke")))
    assert (found.kind, found.results.run_id) == ("previous", "smoke1")
    assert found.passed_over == ("promoted baseline v0001 (run standard1) has another key: "
                                 "profile: 'smoke' vs 'standard'",)
    found = find_baseline(store, "perf_daily", "standard2", run_index(store, "perf_daily"),
                          run_key(_run("standard2", "standard")))
    assert (found.kind, found.results.run_id, found.passed_over) == ("promoted", "standard1", ())


def test_index_entries_without_a_key_never_match(tmp_path):
    store = FileStore(tmp_path / "artifacts")
    old = _run("old1", "standard")
    _seal(store, old, 1, with_key=False, tmp=tmp_path)
    entries = run_index(store, "perf_daily")
    assert find_baseline(store, "perf_daily", "new", entries, run_key(old)).results is None
    metric = "risk.mc.latency_p50_ms"
    assert history_from_index(entries, metric, key=run_key(old)).values == ()


def test_another_environment_is_another_key(tmp_path):
    store = FileStore(tmp_path / "artifacts")
    _seal(store, _run("r1", fingerprint={**FINGERPRINT, "packages": {"numpy": "1.26.4"}}), 1, tmp=tmp_path)
    found = find_baseline(store, "perf_daily", "r2", run_index(store, "perf_daily"), run_key(_run("r2")))
    assert found.results is None


def test_the_history_uses_only_runs_with_the_same_run_and_benchmark_key():
    metric = "risk.mc.latency_p50_ms"
    this = _run("now")
    fields = index_fields(this)
    other_digest = index_fields(_run("x", digest="d2"))
    other_profile = index_fields(_run("y", "smoke"))
    entries = [  # newest first
        {"run_id": "r4", "status": "success", "metrics": {metric: 4.0}, **fields},
        {"run_id": "r3", "status": "success", "metrics": {metric: 3.0}, **other_digest},
        {"run_id": "r2", "status": "success", "metrics": {metric: 2.0}, **other_profile},
        {"run_id": "r1", "status": "success", "metrics": {metric: 1.0}, **fields},
        {"run_id": "r0", "status": "success", "metrics": {metric: 0.5}},  # before keys
    ]
    h = history_from_index(entries, metric, key=fields["key"], bench_key=fields["benchmarks"]["risk.mc"])
    assert h.labels == ("r1", "r4")


def test_a_different_params_digest_is_not_compared_and_says_why():
    base = _run("r0", digest="d1")
    cur = _run("r1", digest="d2", seed=1, median_s=2e-3)
    cmp = compare(cur, base, threshold_pct=10, metric_globs=["*"])
    assert cmp.changes and {c.status for c in cmp.changes} == {"not_comparable"}
    assert not cmp.regressions and not cmp.improvements
    assert "params_digest: 'd2' vs 'd1'" in cmp.changes[0].reason


def test_a_different_device_is_not_compared_and_says_why():
    base = _run("r0")
    values, owner = clustered(np.random.default_rng(1), processes=5, per_process=100)
    cur = run("r1", bench(values, owner, info={"device": "cuda", "gpu": "NVIDIA H200"}))
    (change,) = compare(cur, base, threshold_pct=10, metric_globs=["*.latency_p50_ms"]).changes
    assert change.status == "not_comparable" and "device: 'cuda' vs 'cpu'" in change.reason
    assert "gpu: 'NVIDIA H200' vs '-'" in change.reason


def test_a_benchmark_missing_from_the_baseline_is_listed_not_dropped():
    base = _run("r0")
    values, owner = clustered(np.random.default_rng(1), processes=5, per_process=100)
    cur = dataclasses.replace(_run("r1", seed=1), suites=(dataclasses.replace(
        _run("r1", seed=1).suites[0], benchmarks=(bench(values, owner), bench(values, owner, name="new"))),))
    by = {c.metric: c for c in compare(cur, base, threshold_pct=10, metric_globs=["*.latency_p50_ms"]).changes}
    assert by["risk.new.latency_p50_ms"].status == "not_comparable"
    assert "not in the baseline run" in by["risk.new.latency_p50_ms"].reason
    assert by["risk.mc.latency_p50_ms"].status == "unchanged"


def test_the_fingerprint_still_records_every_key_package():
    from perf_tasks.monitor.fingerprint import KEY_PACKAGES, fingerprint

    assert {"numpy", "pandas", "scipy", "psutil"} <= set(KEY_PACKAGES)
    assert {"numpy", "pandas", "scipy", "psutil"} <= set(fingerprint()["packages"])
