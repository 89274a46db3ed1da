"""The load command's usage errors (exit 2, nothing sent, nothing written), as the standalone
``python -m perf_tasks.load.cli`` entry point runs them."""
from __future__ import annotations

import argparse
from pathlib import Path

import pytest
import yaml

from perf_tasks.load import cli


@pytest.mark.parametrize("argv, message", [
    (["--rate", "fast"], "argument --rate: 'fast' is not a float"),
    (["--users", "2.5"], "argument --users: '2.5' is not a int"),
    (["--users", "0"], "argument --users: '0' must be > 0"),
    (["--duration", "-1"], "argument --duration: '-1' must be > 0"),
])
def test_non_positive_or_non_numeric_values_are_argparse_usage_errors(argv, message, capsys):
    with pytest.raises(SystemExit) as exc:
        cli.main(["--target", "http://127.0.0.1:1", "--scenario", "normal", *argv])
    assert exc.value.code == 2 and message in capsys.readouterr().err


@pytest.mark.parametrize("argv, message", [
    (["--target", "http://127.0.0.1:1", "--scenario", "normal"], "error: --out FILE is required"),
    (["--scenario", "normal", "--out", "{out}"], "error: --target URL is required"),
    (["--target", "http://127.0.0.1:1", "--out", "{out}"], "error: --scenario is required (or --merge FILES)"),
])
def test_missing_required_options_are_exit_2_naming_them(tmp_path: Path, argv, message, capsys):
    out = tmp_path / "r.json"
    assert cli.main([a.replace("{out}", str(out)) for a in argv]) == 2
    assert message in capsys.readouterr().err
    assert not out.exists()


def test_merge_of_a_missing_or_foreign_file_is_exit_2_naming_it(tmp_path: Path, capsys):
    missing, foreign = tmp_path / "shard-0.json", tmp_path / "shard-1.json"
    foreign.write_text('{"schema_version": 9}')
    out = tmp_path / "merged.json"
    assert cli.main(["--merge", str(missing), "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: --merge: ") and str(missing) in err
    assert cli.main(["--merge", str(foreign), "--out", str(out)]) == 2
    assert f"error: --merge: {foreign}: load result schema_version 9 is not supported" in capsys.readouterr().err
    assert not out.exists()


def test_a_bad_alerts_file_is_exit_2_naming_the_file_and_the_rule(tmp_path: Path, capsys):
    alerts = yaml.safe_load(cli.DEFAULT_ALERTS.read_text())
    alerts["rules"][0]["warning"] = -1
    bad = tmp_path / "alerts.yaml"
    bad.write_text(yaml.safe_dump(alerts))
    out = tmp_path / "r.json"
    assert cli.main(["--target", "http://127.0.0.1:1", "--scenario", "normal", "--alerts", str(bad),
                     "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert f"error: {bad}: rules[0].warning" in err and "-1" in err
    assert not out.exists()  # refused before any request


def test_duration_override_of_a_scenario_that_is_all_ramp_is_accepted(tmp_path: Path, capsys):
    scenarios = {"schema_version": 1, "scenarios": {"climb": {
        "users": 5, "requests_per_minute": 60, "duration_s": 100, "p95_target_ms": 500, "max_error_rate_pct": 5,
        "ramp": [{"duration_s": 100, "requests_per_minute": 60}]}}}
    path = tmp_path / "sc.yaml"
    path.write_text(yaml.safe_dump(scenarios))
    args = cli.add_parser(argparse.ArgumentParser().add_subparsers()).parse_args(
        ["--scenario", "climb", "--scenarios", str(path), "--profile", "full", "--duration", "7"])
    scenario = cli._scenario_for(args)  # was: ConfigError "ramp stages last 7 s, longer than duration_s 7"
    assert scenario.duration_s == 7 and sum(s.duration_s for s in scenario.ramp) <= 7
