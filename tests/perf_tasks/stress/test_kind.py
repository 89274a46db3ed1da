"""The stress kind: options validated before anything runs, scenarios recorded (a raising one as
its error), collected into suites/stress.json, and teardown ends what a killed task left behind;
the CLI twin maps its flags to the generic run."""
from __future__ import annotations

import argparse
import dataclasses
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from perf_tasks import pipeline
from perf_tasks.config import load_config
from perf_tasks.errors import ConfigError, UserError
from perf_tasks.kinds import stress as kind
from perf_tasks.results import SuiteResult, from_json
from perf_tasks import cli
from perf_tasks.stress import cli as stress_cli

CONFIG = pipeline.DEFAULT_CONFIG_DIR


def _spec(**options) -> pipeline.RunSpec:
    return pipeline.RunSpec(dag_id=kind.DAG_ID, run_id="t", kind="stress", profile="smoke", options=options)


def _prepare(**options) -> pipeline.RunSpec:
    return kind.prepare(_spec(**options), load_config(CONFIG))


def test_prepare_resolves_defaults_and_the_steps():
    spec = _prepare()
    conf = kind.load_stress_config(CONFIG)
    assert list(spec.options["scenarios"]) == conf["default_scenarios"]
    assert spec.suites == ("stress",)
    assert spec.expected_steps == (*(f"run_scenario.{n}" for n in conf["default_scenarios"]), "collect_stress")
    assert kind.tasks(spec) == conf["default_scenarios"]


@pytest.mark.parametrize("options, match", [
    ({"scenarios": ["cpu_saturation", "nope"]}, r"param 'scenarios': \['nope'\]"),
    ({"scenarios": ["disk_io", "disk_io"]}, "more than once"),
    ({"intensity": 0}, "param 'intensity'"),
    ({"intensity": 1.5}, "param 'intensity'"),
    ({"intensity": "lots"}, "param 'intensity'"),
    ({"window_s": -1}, "param 'window_s'"),
    ({"target_url": "http://example.com"}, "example.com"),
    ({"colour": "red"}, "param 'colour': not an option of a stress run"),
])
def test_prepare_refuses_bad_options_naming_the_param(options, match):
    with pytest.raises(UserError, match=match):  # ConfigError, or the allowlist's TargetNotAllowedError
        _prepare(**options)


def test_every_config_section_names_a_registered_scenario_and_states_stability_targets():
    conf = kind.load_stress_config(CONFIG)
    from perf_tasks.stress.stressors import STRESSORS

    for name in STRESSORS:
        targets = conf["scenarios"][name]["targets"]
        assert targets["crashed_pct"] == {"max": 0} and targets["hung_pct"] == {"max": 0}, name


def test_config_with_an_unknown_scenario_section_is_refused(tmp_path):
    (tmp_path / "stress.yaml").write_text("schema_version: 1\nscenarios:\n  cpu_saturaton: {}\n")
    with pytest.raises(ConfigError, match="cpu_saturaton"):
        kind.load_stress_config(tmp_path)


def _work(tmp_path: Path, names: list[str], monkeypatch) -> Path:
    work = tmp_path / "work"
    spec = dataclasses.replace(_prepare(scenarios=names), started_at=pipeline.now())
    pipeline.write_text(work / "run.json", json.dumps(dataclasses.asdict(spec)))
    return work


def test_a_raising_scenario_is_recorded_with_its_error_and_collected(tmp_path, monkeypatch):
    def boom(ctx):
        raise RuntimeError("stressor exploded")

    from perf_tasks.stress.stressors import STRESSORS

    monkeypatch.setitem(STRESSORS, "disk_io", boom)
    monkeypatch.setitem(STRESSORS, "net_latency", boom)
    work = _work(tmp_path, ["disk_io", "net_latency"], monkeypatch)
    out = kind.run_scenario(work, "disk_io")
    assert out["error"] == "RuntimeError: stressor exploded"
    suite = kind.collect(work)
    assert [b.name for b in suite.benchmarks] == ["disk_io", "net_latency"]
    assert suite.benchmarks[0].error == "RuntimeError: stressor exploded"
    assert "did not run" in suite.benchmarks[1].error  # its task never wrote a result
    assert from_json(SuiteResult, (work / "suites" / "stress.json").read_text()).benchmarks[0].errors == 1
    with pytest.raises(ConfigError, match="not one of this run's scenarios"):
        kind.run_scenario(work, "cpu_saturation")


def test_teardown_ends_processes_a_killed_scenario_left_and_removes_temp_dirs(tmp_path, monkeypatch):
    work = _work(tmp_path, ["disk_io"], monkeypatch)
    leftover = work / "stress" / "disk_io" / "perf-disk-stress-abc"
    leftover.mkdir(parents=True)
    (leftover / "load.bin").write_bytes(b"x" * 1024)
    with kind._marked(work):  # as if a scenario started it, then its task was killed
        orphan = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"], start_new_session=True)
    unrelated = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        time.sleep(0.2)
        assert [p.pid for p in kind.leftover_processes(work)] == [orphan.pid]
        assert kind.teardown(work) == {"processes_ended": 1, "dirs_removed": 1}
        assert orphan.wait(5) is not None
        assert unrelated.poll() is None  # not ours: left alone
        assert not leftover.exists()
        assert os.environ.get(kind.MARKER_ENV) is None
    finally:
        for p in (orphan, unrelated):
            if p.poll() is None:
                p.kill()
                p.wait()


def test_cli_maps_its_flags_to_the_generic_run():
    parser = argparse.ArgumentParser()
    stress_cli.add_parser(parser.add_subparsers(dest="command"))
    args = parser.parse_args(["stress", "--scenarios", "cpu_saturation,net_latency", "--intensity", "0.5",
                              "--profile", "smoke", "--window-s", "3", "--target", "http://127.0.0.1:9"])
    assert args.profile == "smoke"
    assert dict(stress_cli.kind_options(args)) == {"intensity": 0.5, "scenarios": ["cpu_saturation", "net_latency"],
                                                  "window_s": 3.0, "target_url": "http://127.0.0.1:9"}
    with pytest.raises(SystemExit):
        parser.parse_args(["stress", "--intensity", "2"])


def test_cli_lists_every_scenario(capsys):
    assert cli.main(["stress", "--list"]) == 0
    out = capsys.readouterr().out
    for name in kind.registry():
        assert name in out
