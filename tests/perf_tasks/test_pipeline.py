"""The pipeline steps in process, with a tiny config (fast benchmarks) and a file store."""
from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
import yaml

from perf_tasks import pipeline
from perf_tasks.kinds import daily
from perf_tasks.errors import PipelineError
from perf_tasks.store import FileStore, RunArtifacts

from tests.conftest import REPO


@pytest.fixture
def cfg_dir(tmp_path: Path) -> Path:
    return small_config(tmp_path)


def small_config(tmp_path: Path) -> Path:
    """A copy of config/ with one fast suite and a tiny smoke profile."""
    d = tmp_path / "config"
    shutil.copytree(REPO / "config", d)
    bench = yaml.safe_load((d / "benchmarks.yaml").read_text())
    bench["suites"] = {"market_data": bench["suites"]["market_data"]}
    bench["suites"]["market_data"]["benchmarks"]["tick_handling"]["profile_params"]["smoke"] = {"n_ticks": 200}
    (d / "benchmarks.yaml").write_text(yaml.safe_dump(bench))
    prof = yaml.safe_load((d / "profiles.yaml").read_text())
    prof["profiles"]["smoke"].update(processes=2, min_observations=200, max_observations=200, max_benchmark_s=0.1, warmups=0)
    (d / "profiles.yaml").write_text(yaml.safe_dump(prof))
    return d


def _full_run(tmp_path: Path, cfg_dir: Path, store: FileStore, run_id: str, **spec_kw) -> Path:
    work = tmp_path / "work" / run_id
    spec = pipeline.RunSpec(dag_id="perf_daily", run_id=run_id, artifacts_url=store.url, config_dir=str(cfg_dir),
                            **spec_kw)
    for suite in pipeline.setup_environment(work, spec).suites:
        daily.run_suite(work, suite)
    pipeline.validate_results_step(work)
    pipeline.evaluate_run(work)
    pipeline.compare_to_baseline(work, store)
    pipeline.build_report(work)
    pipeline.persist_artifacts(work, store)
    pipeline.notify(work, store, None, channel="outbox", sleep=lambda s: None)
    return work


def test_second_run_compares_to_the_first_successful_one(tmp_path, cfg_dir):
    store = FileStore(tmp_path / "artifacts")
    _full_run(tmp_path, cfg_dir, store, "run1")
    work = _full_run(tmp_path, cfg_dir, store, "run2")
    comparison = json.loads((work / "comparison.json").read_text())
    assert comparison["baseline_run_id"] == "run1"
    assert {c["metric"] for c in comparison["changes"]} >= {"market_data.tick_handling.latency_p50_ms"}
    assert RunArtifacts(store, "perf_daily", "run2").verify()["status"] == "success"


def test_failed_runs_are_never_baselines(tmp_path, cfg_dir):
    store = FileStore(tmp_path / "artifacts")
    work = tmp_path / "work" / "broken"
    spec = pipeline.RunSpec(dag_id="perf_daily", run_id="broken", artifacts_url=store.url, config_dir=str(cfg_dir))
    pipeline.setup_environment(work, spec)  # then every later step "fails" (never runs)
    with pytest.raises(PipelineError, match="run_benchmarks.market_data"):
        pipeline.notify(work, store, None, channel="outbox")
    assert RunArtifacts(store, "perf_daily", "broken").verify()["status"] == "failed"
    work2 = _full_run(tmp_path, cfg_dir, store, "ok")
    assert json.loads((work2 / "comparison.json").read_text())["baseline_run_id"] is None


def test_notify_disabled_keeps_the_message_in_the_outbox(tmp_path, cfg_dir):
    store = FileStore(tmp_path / "artifacts")
    work = _full_run(tmp_path, cfg_dir, store, "quiet", notify=False,
                     target_overrides={"market_data.tick_handling.latency_p95_ms": 1e-9})
    delivery = json.loads((work / "alerts" / "delivery.json").read_text())
    assert delivery["status"] == "outbox"
    assert "disabled" in json.loads((work / "alerts" / "outbox" / "slack-message.json").read_text())["reason"]


def test_setup_validates_everything_before_any_benchmark(tmp_path, cfg_dir):
    from perf_tasks.errors import ConfigError
    spec = pipeline.RunSpec(dag_id="d", run_id="r", profile="huge", config_dir=str(cfg_dir))
    with pytest.raises(ConfigError, match="param 'profile': 'huge'"):
        pipeline.setup_environment(tmp_path / "w", spec)
    bench = yaml.safe_load((cfg_dir / "benchmarks.yaml").read_text())
    bench["suites"]["market_data"]["benchmarks"]["tick_handling"]["callable"] = "trading_agent.nope:f"
    (cfg_dir / "benchmarks.yaml").write_text(yaml.safe_dump(bench))
    with pytest.raises(ConfigError, match="suites.market_data.benchmarks.tick_handling.callable"):
        pipeline.setup_environment(tmp_path / "w2", pipeline.RunSpec(dag_id="d", run_id="r", config_dir=str(cfg_dir)))
    assert not (tmp_path / "w2" / "suites").exists()


def test_promoted_baseline_wins_over_the_previous_run_and_is_versioned(tmp_path, cfg_dir):
    from perf_tasks.regress.baselines import list_baselines
    store = FileStore(tmp_path / "artifacts")
    _full_run(tmp_path, cfg_dir, store, "run1", promote_baseline=True)
    _full_run(tmp_path, cfg_dir, store, "run2")
    work = _full_run(tmp_path, cfg_dir, store, "run3")
    comparison = json.loads((work / "comparison.json").read_text())
    assert (comparison["baseline_kind"], comparison["baseline_run_id"]) == ("promoted", "run1")
    assert [b["run_id"] for b in list_baselines(store, "perf_daily")] == ["run1"]
    assert list_baselines(store, "perf_daily")[0]["fingerprint"]["cpu_count_logical"] >= 1


def test_index_entries_carry_headline_metrics_for_the_history(tmp_path, cfg_dir):
    from perf_tasks.store import run_index
    store = FileStore(tmp_path / "artifacts")
    _full_run(tmp_path, cfg_dir, store, "run1")
    work = _full_run(tmp_path, cfg_dir, store, "run2")
    (entry, _older) = run_index(store, "perf_daily")
    assert "market_data.tick_handling.latency_p50_ms" in entry["metrics"] and "git_sha" in entry
    comparison = json.loads((work / "comparison.json").read_text())
    assert comparison["history_runs"] == 2
    history = json.loads((work / "history.json").read_text())
    assert history["market_data.tick_handling.latency_p50_ms"]["runs"] == ["run1", "run2"]
    assert "id='history'" in (work / "report.html").read_text()


def test_a_level_change_in_history_alerts_with_the_suspected_commit(tmp_path, cfg_dir):
    """Fake a history of 14 steady runs in the index; then the level triples at run old14, holds
    at old15 and the probe run, and the fourth slow run (this one) completes the change (a new
    level must hold 4 runs: one more than the longest excursion that counts as a transient)."""
    from datetime import datetime, timedelta, timezone

    from perf_tasks.regress.keys import index_fields
    from perf_tasks.results import RunResults, from_json
    store = FileStore(tmp_path / "artifacts")
    work = _full_run(tmp_path, cfg_dir, store, "probe")
    metric = "market_data.tick_handling.latency_p50_ms"
    level = json.loads((work / "results.json").read_text())
    now = next(m["value"] for s in level["suites"] for b in s["benchmarks"] for m in b["metrics"] if m["name"] == metric)
    key = index_fields(from_json(RunResults, (work / "results.json").read_text()))  # the same comparison key
    rng = np.random.default_rng(0)
    t0 = datetime(2026, 1, 1, tzinfo=timezone.utc)
    for i in range(14):
        value = now / 3 * float(np.exp(rng.normal(0, 0.02)))
        RunArtifacts(store, "perf_daily", f"old{i:02d}").seal(
            [], status="success", summary={}, finished_at=t0 + timedelta(days=i),
            index_extra={"git_sha": f"sha{i:02d}", "metrics": {metric: value}, **key})
    for i in (14, 15):
        RunArtifacts(store, "perf_daily", f"old{i:02d}").seal(
            [], status="success", summary={}, finished_at=t0 + timedelta(days=i),
            index_extra={"git_sha": f"sha{i:02d}", "metrics": {metric: now * float(np.exp(rng.normal(0, 0.02)))},
                         **key})
    work = _full_run(tmp_path, cfg_dir, store, "run-new")
    changes = json.loads((work / "comparison.json").read_text())["history_changes"]
    new = [c for c in changes if c["new"] and c["metric"] == metric]
    assert len(new) == 1 and new[0]["kind"] == "regression"
    assert (new[0]["run"], new[0]["commit"], new[0]["last_good_commit"]) == ("old14", "sha14", "sha13")
    assert new[0]["runs_after"] == 4 and new[0]["before_low"] < new[0]["before"] < new[0]["before_high"]
    message = json.loads((work / "alerts" / "message.json").read_text())
    assert "sha14" in json.dumps(message) and "Level changes" in json.dumps(message)


def test_bad_results_stop_the_run_before_any_verdict(tmp_path, cfg_dir):
    store = FileStore(tmp_path / "artifacts")
    work = tmp_path / "work" / "bad"
    spec = pipeline.RunSpec(dag_id="perf_daily", run_id="bad", artifacts_url=store.url, config_dir=str(cfg_dir))
    for suite in pipeline.setup_environment(work, spec).suites:
        daily.run_suite(work, suite)
    path = work / "suites" / "market_data.json"
    doc = json.loads(path.read_text())
    metric = next(m for m in doc["benchmarks"][0]["metrics"] if m["name"].endswith("latency_p95_ms"))
    metric["value"] = -3.0  # corrupted: a negative latency
    path.write_text(json.dumps(doc))
    with pytest.raises(PipelineError, match=r"failed validation.*latency_p95_ms.*-3"):
        pipeline.validate_results_step(work)
    assert not (work / "evaluation.json").exists()
    with pytest.raises(PipelineError, match="validate"):
        pipeline.notify(work, store, None, channel="outbox")
    assert "validate" in (work / "alerts" / "message.json").read_text()


def test_a_smoke_run_is_never_compared_with_a_standard_run(tmp_path, cfg_dir):
    """A newer standard run, even promoted, is passed over: the smoke run compares with a smoke run."""
    import dataclasses

    from perf_tasks.regress.baselines import promote
    from perf_tasks.regress.keys import index_fields
    from perf_tasks.results import RunResults, from_json, to_json
    store = FileStore(tmp_path / "artifacts")
    smoke1 = _full_run(tmp_path, cfg_dir, store, "smoke1")
    standard = dataclasses.replace(from_json(RunResults, (smoke1 / "results.json").read_text()), run_id="standard1",
                                   profile="standard")
    fake = tmp_path / "fake-standard1"
    fake.mkdir()
    (fake / "results.json").write_text(to_json(standard))
    (fake / "environment.json").write_text((smoke1 / "environment.json").read_text())
    art = RunArtifacts(store, "perf_daily", "standard1")
    art.seal(art.upload_dir(fake), status="success", summary={}, index_extra=index_fields(standard))
    promote(store, "perf_daily", "standard1")
    work = _full_run(tmp_path, cfg_dir, store, "smoke2")
    comparison = json.loads((work / "comparison.json").read_text())
    assert (comparison["baseline_kind"], comparison["baseline_run_id"]) == ("previous", "smoke1")
    assert comparison["key"]["profile"] == "smoke"
    assert "run standard1) has another key: profile: 'smoke' vs 'standard'" in comparison["note"]
    assert "Comparison key" in (work / "report.html").read_text()


def test_ctrl_c_during_a_suite_keeps_what_finished_processes_measured(tmp_path, cfg_dir, monkeypatch):
    """SIGINT in the second worker pass: the first pass's measurements are written, marked."""
    from perf_tasks.bench import runner
    from perf_tasks.results import SuiteResult, from_json

    real = runner._run_process
    calls = []

    def interrupt_on_second_pass(plan, profile, i):
        calls.append(i)
        if i == 1:
            raise KeyboardInterrupt
        return real(plan, profile, i)

    monkeypatch.setattr(runner, "_run_process", interrupt_on_second_pass)
    work = tmp_path / "work" / "r1"
    spec = pipeline.RunSpec(dag_id="perf_daily", run_id="r1", artifacts_url=FileStore(tmp_path / "s").url,
                            config_dir=str(cfg_dir))
    (suite,) = pipeline.setup_environment(work, spec).suites
    with pytest.raises(KeyboardInterrupt):
        daily.run_suite(work, suite)
    kept = from_json(SuiteResult, (work / "suites" / f"{suite}.json").read_text())
    assert [b.name for b in kept.benchmarks] and all(b.processes == 1 for b in kept.benchmarks)
    assert all("interrupted: 1 of 2" in b.info["interrupted"] for b in kept.benchmarks)
    assert all(len(b.observation_s) >= 1 for b in kept.benchmarks)


@pytest.mark.parametrize("fail_on, fails", [("critical", True), ("never", False)])
def test_the_run_verdict_fails_the_run_on_a_critical_miss_only_when_configured(tmp_path, cfg_dir, fail_on, fails):
    alerts = yaml.safe_load((cfg_dir / "alerts.yaml").read_text())
    alerts["run_state"] = {"fail_on": fail_on}
    # this judges the verdict logic, not the host: on a busy box the busy-host guard would (rightly)
    # make the impossible miss INVALID instead of critical
    alerts["measurement"] = {**(alerts.get("measurement") or {}), "busy_host_other_cpu_pct": 100}
    (cfg_dir / "alerts.yaml").write_text(yaml.safe_dump(alerts))
    store = FileStore(tmp_path / "store")
    impossible = "market_data.tick_handling.latency_p95_ms"
    work = _full_run(tmp_path, cfg_dir, store, "r1", target_overrides={impossible: 0.000001})
    verdict = pipeline.run_verdict(work)
    assert verdict.verdict == "CRITICAL" and verdict.fails_run is fails
    assert verdict.lines[0].startswith("verdict: CRITICAL") and verdict.lines[1].startswith(f"CRITICAL {impossible}: ")
    assert verdict.report.endswith("report.html") and "**CRITICAL**" in verdict.note and "[report](" in verdict.note
