"""A run records its system: RunSpec.system (else $PERF_SYSTEM, else the file's default) is resolved
at setup, written to run.json, and its fingerprint names it (issue 20)."""
from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from perf_tasks import pipeline
from perf_tasks.errors import ConfigError
from perf_tasks.store import FileStore
from tests.perf_tasks.test_pipeline import small_config


@pytest.fixture
def two_systems(tmp_path: Path) -> Path:
    cfg = small_config(tmp_path)
    doc = yaml.safe_load((cfg / "systems.yaml").read_text())
    doc["systems"]["own"] = {"url": "http://127.0.0.1:9", "fingerprint": {"packages": ["pyyaml"]}}
    (cfg / "systems.yaml").write_text(yaml.safe_dump(doc))
    return cfg


def _setup(tmp_path: Path, cfg: Path, run_id: str, **kw) -> tuple[dict, dict]:
    store = FileStore(tmp_path / "artifacts")
    work = tmp_path / "work" / run_id
    pipeline.setup_environment(work, pipeline.RunSpec(dag_id="perf_daily", run_id=run_id, artifacts_url=store.url,
                                                      config_dir=str(cfg), **kw))
    return json.loads((work / "run.json").read_text()), json.loads((work / "environment.json").read_text())


def test_the_named_system_is_recorded_in_run_json_and_the_fingerprint(tmp_path: Path, two_systems: Path):
    spec, env = _setup(tmp_path, two_systems, "r1", system="own")
    assert spec["system"] == "own" and env["fingerprint"]["system"] == "own"
    assert env["fingerprint"]["key_packages"] == ["pyyaml"]


def test_without_a_name_the_run_takes_perf_system_then_the_default(tmp_path: Path, two_systems: Path, monkeypatch):
    monkeypatch.delenv("PERF_SYSTEM", raising=False)
    assert _setup(tmp_path, two_systems, "r1")[0]["system"] == "trading"
    monkeypatch.setenv("PERF_SYSTEM", "own")
    assert _setup(tmp_path, two_systems, "r2")[0]["system"] == "own"


def test_an_unknown_system_fails_setup_naming_the_known_ones(tmp_path: Path, two_systems: Path):
    with pytest.raises(ConfigError, match=r"unknown system 'nope'.*\['own', 'trading'\]"):
        _setup(tmp_path, two_systems, "r1", system="nope")


def test_a_run_json_written_before_systems_still_loads(tmp_path: Path):
    work = tmp_path / "w"
    work.mkdir()
    (work / "run.json").write_text(json.dumps({"dag_id": "perf_daily", "run_id": "old"}))
    assert pipeline.load_spec(work).system == ""


def test_the_cli_system_flag_names_the_runs_system(tmp_path: Path, two_systems: Path, monkeypatch):
    from perf_tasks import cli

    monkeypatch.setenv("PERF_WORK_DIR", str(tmp_path / "work"))
    args = cli.build_parser().parse_args(["run", "daily", "--config-dir", str(two_systems), "--system", "nope",
                                          "--artifacts", (tmp_path / "a").as_uri(), "--run-id", "c1"])
    assert args.system == "nope"
    with pytest.raises(ConfigError, match=r"unknown system 'nope'"):
        cli.cmd_run(args)
