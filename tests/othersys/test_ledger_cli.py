"""The platform's CLI pointed at the ledger's config folder (examples/ledger/config): daily
benchmarks of its own suites (never the demo's), the load kind on its journeys, and comparison
keys that keep its runs apart from any other system's. The strict xfails are platform gaps of
issue 20, named in their reasons: they turn red the day the platform closes them."""
from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from perf_tasks.errors import ConfigError
from perf_tasks.sut import ServiceError
from tests.othersys.conftest import CONFIG, LEDGER_ROOT, REPO

DEMO_SUITES = {"risk", "market_data", "trading", "trading_postgres", "models"}


def _env(tmp: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("PERF_CONFIG_DIR", "PERF_SYSTEM", "SLACK_WEBHOOK_URL")}
    env.update({"PYTHONPATH": os.pathsep.join([str(REPO), str(LEDGER_ROOT)]), "PERF_WORK_DIR": str(tmp / "work")})
    env.update(extra)
    return env


def _cli(args: list[str], tmp: Path, *, timeout_s: float = 120, **env: str) -> dict[str, Any]:
    out_json = tmp / f"out-{len(list(tmp.glob('out-*.json')))}.json"
    proc = subprocess.run([sys.executable, "-m", "perf_tasks", *args, "--no-notify", "--json", str(out_json)],
                          cwd=REPO, env=_env(tmp, **env), capture_output=True, text=True, timeout=timeout_s)
    assert out_json.exists(), proc.stdout[-3000:] + proc.stderr[-3000:]
    outcome = json.loads(out_json.read_text())
    outcome["_log"] = proc.stdout + proc.stderr
    outcome["_rc"] = proc.returncode
    return outcome


def _config_copy(tmp: Path, name: str, *, system: dict[str, Any] | None = None, rename: str | None = None,
                 journeys: str | None = None) -> Path:
    """A copy of the ledger's config folder, its system entry changed (``system``: keys merged
    into ``systems.ledger``; ``rename``: the system's new name; ``journeys``: the journeys file
    moved to this name)."""
    d = tmp / name
    shutil.copytree(CONFIG, d)
    doc = yaml.safe_load((d / "systems.yaml").read_text())
    entry = doc["systems"]["ledger"]
    for key, value in (system or {}).items():
        entry[key] = {**entry.get(key, {}), **value} if isinstance(value, dict) else value
    if journeys:
        (d / "load_journeys.yaml").rename(d / journeys)
        entry["journeys"] = journeys
    if rename:
        doc["systems"] = {rename: entry}
        doc["default"] = rename
    (d / "systems.yaml").write_text(yaml.safe_dump(doc, sort_keys=False))
    return d


@pytest.fixture(scope="module")
def store(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("ledger-artifacts")


@pytest.fixture(scope="module")
def daily(tmp_path_factory, store) -> dict[str, Any]:
    """One smoke run of the ledger's default suites, promoted as the baseline in ``store``."""
    tmp = tmp_path_factory.mktemp("ledger-daily")
    return _cli(["run", "daily", "--config-dir", str(CONFIG), "--profile", "smoke", "--artifacts",
                 store.as_uri(), "--promote"], tmp)


def test_daily_runs_the_ledger_suites_and_never_the_demos(daily):
    assert daily["_rc"] == 0 and daily["status"] == "success", daily["_log"][-3000:]
    work = Path(daily["work_dir"])
    spec = json.loads((work / "run.json").read_text())
    assert spec["system"] == "ledger" and set(spec["suites"]) == {"ledger_math", "ledger_codec"}
    results = json.loads((work / "results.json").read_text())
    benches = {f"{s['suite']}.{b['name']}": b for s in results["suites"] for b in s["benchmarks"]}
    assert set(benches) == {"ledger_math.balance_replay", "ledger_math.balance_replay_numpy",
                            "ledger_math.drawdown_risk", "ledger_codec.entry_parse", "ledger_codec.resp_codec"}
    assert all(b["callable"].startswith("ledger.bench:") for b in benches.values())
    assert not DEMO_SUITES & {s["suite"] for s in results["suites"]}
    assert "trading_agent" not in (work / "results.json").read_text()
    # info is read after the timed calls and close(): the counters the operation filled while it
    # ran are its (first) worker process's warmups plus its timed calls, and close() verified it
    for key, b in benches.items():
        assert b["error"] is None, key
        timed_first = b["observation_process"].count(0) * b["calls_per_observation"]
        assert timed_first > 0 and b["info"]["calls"] == b["warmups"] + timed_first, (key, b["info"])
        assert b["info"]["verified"] is True, key
    assert benches["ledger_codec.entry_parse"]["info"]["rejected"] > 0
    fp = results["fingerprint"]
    assert fp["system"] == "ledger" and fp["system_packages"] == {"numpy": fp["packages"]["numpy"]}
    assert Path(fp["system_repository"]) == LEDGER_ROOT and fp["git_sha"] == fp["system_git_sha"]
    assert daily["comparison"]["key"]["system"] == "ledger"
    assert {v["metric"].split(".")[0] for v in daily["evaluation"]["verdicts"]} == {"ledger_math", "ledger_codec"}


def test_runs_never_compare_across_systems(daily, store, tmp_path):
    """Same suites, same benchmarks, same machine, same store: a run of another system name finds
    no baseline; a second ledger run finds the ledger's promoted one."""
    assert daily["_rc"] == 0, daily["_log"][-2000:]
    other = _config_copy(tmp_path, "trading-named", rename="trading")
    theirs = _cli(["run", "daily", "--config-dir", str(other), "--profile", "smoke", "--suites", "ledger_codec",
                   "--artifacts", store.as_uri()], tmp_path)
    assert theirs["_rc"] == 0, theirs["_log"][-3000:]
    assert theirs["comparison"]["key"]["system"] == "trading"
    assert theirs["comparison"]["baseline_run_id"] is None and theirs["comparison"]["baseline_kind"] == "none"
    ours = _cli(["run", "daily", "--config-dir", str(CONFIG), "--profile", "smoke", "--suites", "ledger_codec",
                 "--artifacts", store.as_uri()], tmp_path)
    assert ours["_rc"] == 0, ours["_log"][-3000:]
    assert ours["comparison"]["baseline_run_id"] == daily["run_id"]
    assert ours["comparison"]["baseline_kind"] == "promoted"


def _merged(work: Path, scenario: str) -> dict[str, Any]:
    return json.loads((work / "load" / scenario / "merged.json").read_text())


def test_load_drives_the_ledger_journeys(tmp_path, scratch):
    """`run load` on the ledger's config folder: the platform starts the ledger (its command, its
    ready path), the scenario's journey posts entries and reads balances, all answered 2xx, and
    the entries are in the ledger's store. PERF_CONFIG_DIR is set because the load kind still
    starts the deployment's system (see the xfail below)."""
    from ledger.checks import read_entries

    cfg = _config_copy(tmp_path, "cfg", system={"service": {"database_url": scratch}})
    out = _cli(["run", "load", "--config-dir", str(cfg), "--profile", "smoke", "--opt", "scenarios=normal",
                "--artifacts", (tmp_path / "art").as_uri()], tmp_path, timeout_s=150, PERF_CONFIG_DIR=str(cfg))
    assert out["status"] == "success", out["_log"][-4000:]
    work = Path(out["work_dir"])
    handle = json.loads((work / "service.json").read_text())
    assert handle["system"] == "ledger" and not handle["url"].endswith(":8000")
    log = (work / "service" / "service.log")
    assert not log.exists() or "trading_agent" not in log.read_text()
    merged = _merged(work, "normal")
    steps = {e["name"]: e for e in merged["endpoints"]}
    assert set(steps) == {"post_entry", "balance"}, steps.keys()
    assert merged["requests"] >= 200 and merged["errors"] == 0 and merged["dropped"] == 0, merged["errors_by_code"]
    lists, entries = read_entries(scratch)
    assert len(entries) == steps["post_entry"]["requests"]  # every POST was acknowledged and stored
    assert lists and all(re.fullmatch(r"acct-\d+", a) for a in lists)
    verdicts = {v["metric"]: v for v in out["evaluation"]["verdicts"]}
    assert "load.normal.latency_p95_ms" in verdicts and out["comparison"]["key"]["system"] == "ledger"


@pytest.mark.xfail(strict=True, raises=ServiceError,
                   reason="platform gap (issue 20): perf_tasks/kinds/load.py start_service_step calls "
                                       "start_service() without the run's system, so it starts the deployment's "
                                       "($PERF_CONFIG_DIR, else the bundled demo), not the run's --config-dir")
def test_load_starts_the_runs_system_not_the_deployments(tmp_path, monkeypatch, scratch):
    from perf_tasks import pipeline
    from perf_tasks.kinds import load as load_kind
    from perf_tasks.sut import ServiceHandle, stop_service

    # the deployment's folder names a decoy that cannot start: starting it fails at once
    decoy = tmp_path / "deployment"
    decoy.mkdir()
    (decoy / "systems.yaml").write_text(yaml.safe_dump({"schema_version": 1, "default": "decoy", "systems": {
        "decoy": {"service": {"command": ["{python}", "-c", "import sys; sys.exit(3)", "{port}"]}}}}))
    monkeypatch.setenv("PERF_CONFIG_DIR", str(decoy))
    cfg = _config_copy(tmp_path, "cfg", system={"service": {"database_url": scratch}})
    work = tmp_path / "run"
    spec = pipeline.setup_environment(work, pipeline.RunSpec(
        dag_id=load_kind.DAG_ID, run_id="xfail", kind="load", config_dir=str(cfg), artifacts_url=(tmp_path / "a").as_uri(),
        options={"scenarios": ["normal"]}))
    assert spec.system == "ledger"
    try:
        handle = load_kind.start_service_step(work)
        assert handle.system == "ledger"
    finally:
        path = work / "service.json"
        if path.exists():
            stop_service(ServiceHandle.from_json(path.read_text()))


@pytest.mark.xfail(strict=True, raises=ConfigError,
                   reason="platform gap (issue 20): perf_tasks/kinds/load.py (JOURNEYS_FILE, _journeys) "
                                       "and perf_tasks/kinds/scale.py read <config_dir>/load_journeys.yaml, not the "
                                       "file the system's `journeys:` names")
def test_load_reads_the_journeys_file_the_system_names(tmp_path):
    from perf_tasks import pipeline
    from perf_tasks.kinds import load as load_kind

    cfg = _config_copy(tmp_path, "cfg", journeys="ledger_journeys.yaml")
    spec = pipeline.setup_environment(tmp_path / "run", pipeline.RunSpec(
        dag_id=load_kind.DAG_ID, run_id="xfail", kind="load", config_dir=str(cfg), artifacts_url=(tmp_path / "a").as_uri(),
        options={"scenarios": ["normal"]}))
    assert spec.options["scenarios"] == ["normal"]


@pytest.mark.xfail(strict=True, reason="platform gap (issue 20): perf_tasks/stress/degrade.py service_for starts the "
                                       "system with db=<work>/service/orders.db (the demo's SQLite file) whatever the "
                                       "system's store is; the ledger refuses a --store that is not redis:// and the "
                                       "scenario fails with ServiceError")
def test_stress_resource_stressor_drives_the_ledger(tmp_path, scratch):
    cfg = _config_copy(tmp_path, "cfg", system={"service": {"database_url": scratch}})
    out = _cli(["stress", "--config-dir", str(cfg), "--scenarios", "net_latency", "--profile", "smoke",
                "--window-s", "2", "--artifacts", (tmp_path / "art").as_uri()], tmp_path, timeout_s=120)
    assert "ServiceError" not in out["_log"], out["_log"][-2000:]
    assert out["_rc"] == 0 and out["status"] == "success", out["_log"][-3000:]
