"""The stress kind's config shape errors (each naming the file and the key), prepare without any
scenario, a scenario task that is not part of the run, and collect recording a scenario that never
ran."""
from __future__ import annotations

import dataclasses
import json
import shutil
from pathlib import Path

import pytest

from perf_tasks import pipeline
from perf_tasks.errors import ConfigError
from perf_tasks.kinds import stress as kind
from tests.conftest import REPO


@pytest.mark.parametrize("text, needle", [
    ("schema_version: 2\n", r"schema_version: Input should be 1 \(got 2\)"),
    ("schema_version: 1\ncolour: red\n", r"colour: Extra inputs are not permitted"),
    ("schema_version: 1\nscenarios: [cpu_saturation]\n", r"scenarios: Input should be a valid dictionary"),
    ("schema_version: 1\nscenarios:\n  cpu_saturation: 3\n", r"scenarios\.cpu_saturation: Input should be a valid dictionary"),
    ("schema_version: 1\ndefault_scenarios: cpu_saturation\n",
     r"default_scenarios: Input should be a valid list \(got 'cpu_saturation'\)"),
    ("schema_version: 1\ndefault_scenarios: [cpu_saturaton]\n",
     r"default_scenarios: \['cpu_saturaton'\] are not stress scenarios"),
])
def test_a_malformed_stress_config_names_the_file_and_the_key(tmp_path: Path, text: str, needle: str):
    (tmp_path / kind.CONFIG_FILE).write_text(text)
    with pytest.raises(ConfigError, match=rf"{tmp_path / kind.CONFIG_FILE}: {needle}"):
        kind.load_stress_config(tmp_path)


def _prepare(config_dir: Path = REPO / "config", **options) -> pipeline.RunSpec:
    spec = pipeline.RunSpec(dag_id=kind.DAG_ID, run_id="r", kind="stress", profile="smoke", options=options,
                            config_dir=str(config_dir))
    return kind.prepare(spec, None)  # type: ignore[arg-type]


def test_no_scenarios_asked_and_none_by_default_is_refused(tmp_path: Path):
    config = tmp_path / "config"
    shutil.copytree(REPO / "config", config)
    (config / kind.CONFIG_FILE).write_text("schema_version: 1\nscenarios: {}\n")
    with pytest.raises(ConfigError, match=rf"param 'scenarios': none given and {config / kind.CONFIG_FILE} has no "
                                          r"default_scenarios"):
        _prepare(config)


def _work(tmp_path: Path, names: list[str]) -> Path:
    work = tmp_path / "work"
    spec = dataclasses.replace(_prepare(scenarios=names), started_at=pipeline.now())
    pipeline.write_text(work / "run.json", json.dumps(dataclasses.asdict(spec)))
    return work


def test_a_scenario_task_that_is_not_part_of_the_run_fails_its_step(tmp_path: Path):
    work = _work(tmp_path, ["cpu_saturation"])
    with pytest.raises(ConfigError, match=r"run_scenario: 'disk_io' is not one of this run's scenarios "
                                          r"\['cpu_saturation'\]"):
        kind.run_scenario(work, "disk_io")
    assert json.loads((work / "status" / "run_scenario.disk_io.json").read_text())["state"] == "failed"


def test_collect_records_a_scenario_that_never_ran_as_its_error(tmp_path: Path):
    work = _work(tmp_path, ["cpu_saturation", "disk_io"])
    suite = kind.collect(work)
    assert [b.name for b in suite.benchmarks] == ["cpu_saturation", "disk_io"]
    assert all("the scenario did not run" in (b.error or "") for b in suite.benchmarks)
    assert json.loads((work / "suites" / "stress.json").read_text())["suite"] == "stress"
