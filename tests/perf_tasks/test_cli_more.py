"""The CLI's commands over a finished run in a file store (show, baseline, site, seal), regress on a
CSV history, its argument parsing, and the --json/--junit documents of runs that went wrong
(in process: ``main`` returns the exit code; the run is built with the pipeline's tiny config)."""
from __future__ import annotations

import json
import logging
import shutil
import xml.etree.ElementTree as ET
from pathlib import Path

import numpy as np
import pytest

from perf_tasks import cli
from perf_tasks.store import FileStore
from tests.perf_tasks.test_pipeline import _full_run, small_config


@pytest.fixture(scope="module")
def finished(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A file store holding one successful smoke run ``run1`` of perf_daily (read-only: copy to change)."""
    root = tmp_path_factory.mktemp("cli")
    store = FileStore(root / "artifacts")
    _full_run(root, small_config(root), store, "run1")
    return root / "artifacts"


@pytest.fixture
def store_copy(finished: Path, tmp_path: Path) -> str:
    shutil.copytree(finished, tmp_path / "artifacts")
    return (tmp_path / "artifacts").as_uri()


def test_show_markdown_prints_the_targets_table_of_the_newest_run(finished: Path, capsys):
    assert cli.main(["show", "perf_daily", "--artifacts", finished.as_uri(), "--markdown"]) == 0
    out = capsys.readouterr().out
    assert "run1" in out and "market_data.tick_handling.latency_p95_ms" in out
    assert out.count("|") > 10 and "---" in out


def test_show_with_no_finished_run_is_exit_2_naming_the_store(tmp_path: Path, capsys):
    url = (tmp_path / "empty").as_uri()
    assert cli.main(["show", "perf_daily", "--artifacts", url]) == 2
    assert f"no finished run of perf_daily in {url}" in capsys.readouterr().err


def test_baseline_promote_takes_the_newest_successful_run_and_list_shows_it(store_copy: str, capsys):
    assert cli.main(["baseline", "list", "perf_daily", "--artifacts", store_copy]) == 0
    assert json.loads(capsys.readouterr().out) == []
    assert cli.main(["baseline", "promote", "perf_daily", "--artifacts", store_copy, "--note", "first"]) == 0
    assert capsys.readouterr().out.strip() == "run run1 is now baseline v1 of perf_daily"
    assert cli.main(["baseline", "list", "perf_daily", "--artifacts", store_copy]) == 0
    (entry,) = json.loads(capsys.readouterr().out)
    assert entry["run_id"] == "run1" and entry["version"] == 1 and entry["note"] == "first"


def test_baseline_promote_without_a_successful_run_is_exit_2(tmp_path: Path, capsys):
    url = (tmp_path / "empty").as_uri()
    assert cli.main(["baseline", "promote", "perf_daily", "--artifacts", url]) == 2
    assert f"error: no successful run of perf_daily in {url} to promote" in capsys.readouterr().err


def test_site_writes_the_history_site_into_the_store(store_copy: str, capsys):
    assert cli.main(["site", "perf_daily", "--artifacts", store_copy]) == 0
    out = capsys.readouterr().out
    assert out.startswith(f"history site of perf_daily: {store_copy}/perf_daily/_site/index.html (1 runs, ")
    index = Path(store_copy.removeprefix("file://")) / "perf_daily" / "_site" / "index.html"
    assert "run1" in index.read_text()


def test_seal_without_the_runs_work_folder_is_exit_2_saying_where_it_looked(capsys):
    assert cli.main(["seal", "perf_daily", "--run-id", "never-ran"]) == 2
    err = capsys.readouterr().err
    assert "error: no work folder for run 'never-ran' of perf_daily at " in err and "PERF_WORK_DIR" in err


def test_regress_finds_a_level_change_in_a_csv_history(tmp_path: Path, capsys):
    rng = np.random.default_rng(7)
    values = np.r_[rng.normal(100.0, 1.0, 30), rng.normal(130.0, 1.0, 30)]
    csv = tmp_path / "history.csv"
    csv.write_text("timestamp,value,commit\n" + "".join(
        f"2026-01-{1 + i // 24:02d}T{i % 24:02d}:00:00Z,{v:.3f},c{i:03d}\n" for i, v in enumerate(values)))
    assert cli.main(["regress", "--history", str(csv), "--method", "whole", "--json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    (metric,) = doc
    assert doc[metric]["runs"] == 60 and doc[metric]["method"] == "whole"
    level = [c for c in doc[metric]["changes"] if c["kind"] in ("regression", "improvement")]
    assert len(level) == 1 and level[0]["kind"] == "regression"
    assert 98 < level[0]["before"] < 102 and 128 < level[0]["after"] < 132
    assert "c030" in level[0]["commit_range"]
    assert cli.main(["regress", "--history", str(csv), "--method", "whole", "--direction", "higher", "--json"]) == 0
    (change,) = [c for c in json.loads(capsys.readouterr().out)[metric]["changes"] if c["kind"] != "noise"]
    assert change["kind"] == "improvement"


@pytest.mark.parametrize("argv, message", [
    (["run", "daily", "--target", "risk.var.latency_p95_ms"], "expected suite.benchmark.metric=NUMBER"),
    (["run", "daily", "--target", "risk.var.latency_p95_ms=fast"], "'fast' is not a number"),
    (["run", "load", "--opt", "=3"], "--opt '=3': expected NAME=VALUE"),
    (["run", "load", "--opt", "shards"], "--opt 'shards': expected NAME=VALUE"),
])
def test_malformed_target_and_option_arguments_are_usage_errors(argv, message, capsys):
    with pytest.raises(SystemExit) as exc:
        cli.main(argv)
    assert exc.value.code == 2 and message in capsys.readouterr().err


def test_options_parse_as_json_when_they_can_else_as_text():
    assert cli._parse_option("shards=2") == ("shards", 2)
    assert cli._parse_option(" flag =true") == ("flag", True)
    assert cli._parse_option("instances=[1, 2]") == ("instances", [1, 2])
    assert cli._parse_option("scenarios=normal,peak") == ("scenarios", "normal,peak")
    assert cli._parse_option("url=http://h:1/x=y") == ("url", "http://h:1/x=y")
    assert cli._parse_override(" a.b.c = 2.5") == ("a.b.c", 2.5)


def test_stress_list_names_every_scenario_and_its_kind(capsys):
    from perf_tasks.kinds.stress import registry

    assert cli.main(["stress", "--list"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert [line.split()[0] for line in lines] == list(registry())
    assert {line.split()[1] for line in lines} <= {"stressor", "failure"}


def test_load_without_out_is_exit_2_through_the_main_cli(capsys):
    assert cli.main(["load", "--target", "http://127.0.0.1:9", "--scenario", "normal"]) == 2
    assert "error: --out FILE is required" in capsys.readouterr().err


def test_step_states_keep_order_flag_unreadable_status_files_and_list_steps_that_never_ran(tmp_path: Path):
    status = tmp_path / "status"
    status.mkdir()
    (status / "b.json").write_text(json.dumps({"step": "b", "state": "success", "at": "2026-01-01T00:00:02"}))
    (status / "a.json").write_text(json.dumps({"step": "a", "state": "success", "at": "2026-01-01T00:00:01"}))
    (status / "c.json").write_text("{not json")
    states = cli.step_states(tmp_path, {"b": "failed before", "d": "did not run"})
    assert [s["step"] for s in states] == ["c", "a", "b", "d"]  # unreadable has no time: first
    assert states[0]["state"] == "failed" and states[0]["error"].startswith("unreadable status file: ")
    assert states[3] == {"step": "d", "state": "not_run", "error": "did not run"}
    assert cli.step_states(tmp_path / "nowhere", {}) == []


def test_run_document_of_a_work_folder_with_broken_files_says_what_it_could(tmp_path: Path, caplog):
    work = tmp_path / "work"
    (work / "alerts").mkdir(parents=True)
    (work / "run.json").write_text("{broken")
    (work / "evaluation.json").write_text("[]")
    (work / "alerts" / "delivery.json").write_text("not json")
    outcome = cli.RunOutcome(run_id="r1", work=work, artifacts_url="file:///nowhere", exit_code=1,
                             error="the store was down")
    with caplog.at_level(logging.ERROR, logger="perf_tasks.cli"):
        doc = cli.run_document(outcome)
    assert doc["status"] == "failed" and doc["error"] == "the store was down"
    assert doc["evaluation"] is None and doc["alert"] is None
    # never evaluated, setup never recorded: the one verdict says so (and fails the run), never a pass
    assert doc["verdict"] == "CRITICAL" and doc["fails_run"] is True
    assert doc["verdict_line"] == "verdict: CRITICAL (the run was not evaluated: step setup_environment failed)"
    assert doc["measured"] is False and doc["report"] == {"local": None, "stored": None}
    logged = caplog.text
    assert "cannot read the run spec" in logged and "evaluation.json" in logged


def test_run_document_of_a_run_that_never_started_says_setup_did_not_run(tmp_path: Path):
    doc = cli.run_document(cli.RunOutcome(run_id="r", work=tmp_path / "absent", artifacts_url="u", exit_code=2,
                                          error="param 'profile': 'huge'"))
    assert doc["status"] == "usage_or_config_error"
    assert doc["failed_steps"] == {"setup_environment": "did not run"}
    assert doc["steps"] == [{"step": "setup_environment", "state": "not_run", "error": "did not run"}]


def _verdict(metric: str, status: str, **kw) -> dict:
    return {"metric": metric, "status": status, "value": 12.5, "unit": "ms", "op": "<=", "threshold": 10.0,
            "severity": kw.get("severity", "critical"), "reason": kw.get("reason", "")}


def test_junit_counts_rule_violations_and_a_run_error_without_a_failed_step():
    doc = {
        "dag_id": "perf_load_weekly", "exit_code": 2, "error": "param 'users': -1",
        "evaluation": {
            "verdicts": [_verdict("load.normal.latency_p95_ms", "critical"),
                         _verdict("load.normal.error_rate_pct", "invalid", reason="fewer than 200 requests"),
                         _verdict("load.normal.throughput_rps", "ok")],
            "violations": [
                {**_verdict("load.normal.latency_p95_ms", "critical"), "source": "target (benchmarks.yaml)"},
                {**_verdict("load.normal.p99_ms", "warning", severity="warning"), "source": "rule p99_high"}],
        },
        "steps": [{"step": "setup_environment", "state": "success", "duration_s": 1.25},
                  {"step": "run_load", "state": "not_run", "error": "did not run"}],
    }
    root = cli.junit_tree(doc)
    assert root.get("name") == "perf_load_weekly"
    suites = {s.get("name"): s for s in root}
    targets, alerts, steps = suites["perf_targets"], suites["perf_alerts"], suites["perf_pipeline"]
    assert (targets.get("tests"), targets.get("failures"), targets.get("skipped")) == ("3", "1", "1")
    failure = targets.find("testcase[@name='latency_p95_ms']/failure")
    assert failure.get("message") == "CRITICAL: 12.5 ms, target <= 10 ms" and failure.get("type") == "critical"
    (alert,) = alerts.findall("testcase")  # the target's own violation is not repeated here
    assert alert.get("classname") == "load.normal" and alert.get("name") == "p99_ms"
    assert alert.find("failure").get("message") == "WARNING: 12.5 ms, threshold <= 10 (rule p99_high)"
    names = [c.get("name") for c in steps.findall("testcase")]
    assert names == ["setup_environment", "run_load", "run"]
    assert steps.find("testcase[@name='setup_environment']").get("time") == "1.250"
    run_error = steps.find("testcase[@name='run']/error")
    assert run_error.get("type") == "config_error" and run_error.get("message") == "param 'users': -1"
    assert (root.get("tests"), root.get("failures"), root.get("errors"), root.get("skipped")) == ("7", "2", "1", "2")
    ET.tostring(root)  # serialisable


def test_write_outputs_reports_a_file_it_could_not_write(tmp_path: Path, caplog):
    blocker = tmp_path / "file"
    blocker.write_text("a file, not a folder")
    good = tmp_path / "out" / "run.xml"
    outcome = cli.RunOutcome(run_id="r", work=tmp_path / "absent", artifacts_url="u", exit_code=2, error="bad")
    with caplog.at_level(logging.ERROR, logger="perf_tasks.cli"):
        assert cli.write_outputs(blocker / "run.json", good, outcome) is False
    assert f"could not write {blocker / 'run.json'}" in caplog.text
    assert ET.parse(good).getroot().get("errors") == "1"  # the other file is still written
    assert cli.write_outputs(None, None, outcome) is True
