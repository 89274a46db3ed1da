from __future__ import annotations

import argparse
import json
from pathlib import Path

import pytest
import yaml

from perf_tasks.load import cli
from devtools.loopback import LoopbackServer
from perf_tasks.load.result import result_from_json, result_to_json


@pytest.fixture(scope="module")
def server():
    s = LoopbackServer().start()
    yield s
    s.stop()


@pytest.fixture
def files(tmp_path: Path) -> dict[str, Path]:
    scenarios = {"schema_version": 1, "scenarios": {
        "quick": {"users": 20, "requests_per_minute": 3000, "duration_s": 3600, "p95_target_ms": 500,
                  "max_error_rate_pct": 5, "warn_error_rate_pct": 2, "arrival": "constant",
                  "profile_duration_s": {"smoke": 1}},
        # 250 requests: enough for a p95 verdict (>= 200 observations)
        "strict": {"users": 20, "requests_per_minute": 15000, "duration_s": 1, "p95_target_ms": 10,
                   "max_error_rate_pct": 5, "journey": "slow", "arrival": "constant"},
        # 320 requests, 1 in 32 answered 500: 3.125 % errors, between the 2 % warning and the 5 % limit
        "flaky": {"users": 20, "requests_per_minute": 19200, "duration_s": 1, "p95_target_ms": 500,
                  "max_error_rate_pct": 5, "warn_error_rate_pct": 2, "journey": "flaky", "arrival": "constant"},
    }}
    flaky = [{"name": f"ok{i}", "path": f"/ok/{i}"} for i in range(31)] + [{"name": "bad", "path": "/status/500"}]
    journeys = {"schema_version": 1, "params": {"symbol": {"range": [0, 49], "format": "SYM{:03d}"}},
                "journeys": {"user_workload": {"steps": [{"name": "market_data", "path": "/market-data/{symbol}"}]},
                             "slow": {"steps": [{"name": "slow", "path": "/sleep/40"}]},
                             "flaky": {"steps": flaky}}}
    (tmp_path / "sc.yaml").write_text(yaml.safe_dump(scenarios))
    (tmp_path / "j.yaml").write_text(yaml.safe_dump(journeys))
    return {"scenarios": tmp_path / "sc.yaml", "journeys": tmp_path / "j.yaml", "out": tmp_path / "out" / "r.json"}


def _run(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m perf_tasks")
    sub = parser.add_subparsers(dest="command", required=True)
    cli.add_parser(sub)
    args = parser.parse_args(["load", *argv])
    return cli.run(args)


def _args(files: dict[str, Path], url: str, scenario: str = "quick", *extra: str) -> list[str]:
    return ["--target", url, "--scenario", scenario, "--scenarios", str(files["scenarios"]), "--journeys",
            str(files["journeys"]), "--out", str(files["out"]), *extra]


def test_runs_a_scenario_writes_json_and_passes(server, files, capsys):
    assert _run(_args(files, server.url, "quick", "--seed", "3", "--rate", "250")) == 0
    r = result_from_json(files["out"].read_text())
    assert r.scenario == "quick" and r.requests == 250 and r.duration_s == 1.0 and r.seed == 3
    out = capsys.readouterr().out
    assert "verdict: PASS" in out and "market_data" in out and str(files["out"]) in out
    assert "PASS     load.quick.latency_p95_ms" in out and "PASS     load.quick.error_rate_pct" in out


def test_too_few_requests_for_a_p95_is_invalid_loudly_and_exits_0(server, files, capsys):
    assert _run(_args(files, server.url, "quick")) == 0  # 50 requests: a p95 needs >= 200
    out = capsys.readouterr().out
    assert "INVALID  load.quick.latency_p95_ms" in out and "50 observations" in out
    assert "verdict: INVALID" in out and "verdict: PASS" not in out


def test_nothing_listening_fails_latency_as_no_data_never_pass(files, capsys):
    """100 % connection errors are fast: their latency must not pass the p95 target."""
    from devtools.loopback import free_port

    assert _run(_args(files, f"http://127.0.0.1:{free_port()}", "quick", "--rate", "250")) == 1
    out = capsys.readouterr().out
    assert "CRITICAL load.quick.latency_p95_ms" in out and "no data: no successful request" in out
    assert "PASS     load.quick.latency_p95_ms" not in out and "verdict: CRITICAL" in out


def test_exit_1_when_the_p95_target_is_missed(server, files, capsys):
    assert _run(_args(files, server.url, "strict")) == 1
    out = capsys.readouterr().out
    assert "CRITICAL load.strict.latency_p95_ms" in out and "verdict: CRITICAL" in out


def test_error_rate_between_warning_and_limit_warns_and_the_dag_path_agrees(server, files, tmp_path, capsys):
    """The same result gets the same verdicts from the CLI and from the weekly DAG's merge_shards
    + evaluate step, the 2 % error-rate warning included."""
    from perf_tasks import pipeline
    from perf_tasks.kinds import load as load_pipeline
    from perf_tasks.alerts.rules import evaluate
    from perf_tasks.load.scenario import load_scenarios
    from perf_tasks.load.summary import evaluate_result
    from perf_tasks.results import RunResults, SuiteResult, from_json, to_dict

    assert _run(_args(files, server.url, "flaky")) == 0  # a warning does not fail the run
    out = capsys.readouterr().out
    assert "WARNING  load.flaky.error_rate_pct" in out and "verdict: WARNING" in out
    result = result_from_json(files["out"].read_text())
    assert result.requests == 320 and result.error_rate_pct == pytest.approx(3.125)
    rules = cli._alert_rules(cli.DEFAULT_ALERTS)
    cli_eval = evaluate_result(result, load_scenarios(files["scenarios"])["flaky"], rules)

    config = tmp_path / "config"
    config.mkdir()
    (config / load_pipeline.SCENARIOS_FILE).write_text(files["scenarios"].read_text())
    work = tmp_path / "work"
    spec = pipeline.RunSpec(dag_id="perf_load_weekly", run_id="r1", kind="load", profile="smoke",
                            options={"scenarios": ["flaky"], "shards": 1}, config_dir=str(config), suites=("load",))
    (work / "load" / "flaky").mkdir(parents=True)
    (work / "run.json").write_text(json.dumps(to_dict(spec)))
    (work / "load" / "flaky" / "shard-0.json").write_text(files["out"].read_text())
    load_pipeline.merge_shards(work)
    suite = from_json(SuiteResult, (work / "suites" / "load.json").read_text())  # as the evaluate step reads it
    dag_eval = evaluate(RunResults(dag_id="perf_load_weekly", run_id="r1", profile="smoke", started_at="",
                                   fingerprint={}, suites=(suite,)), rules)

    assert dag_eval.verdicts == cli_eval.verdicts and dag_eval.violations == cli_eval.violations
    by_metric = {v.metric: v for v in dag_eval.verdicts}
    err = by_metric["load.flaky.error_rate_pct"]
    assert (err.status, err.severity, err.threshold) == ("warning", "warning", 2.0)
    assert by_metric["load.flaky.latency_p95_ms"].status == "pass"
    assert [v.severity for v in dag_eval.violations] == ["warning"] and not dag_eval.critical


def test_overrides_from_the_command_line(server, files):
    assert _run(_args(files, server.url, "quick", "--rate", "30", "--duration", "0.5", "--users", "3",
                      "--model", "open", "--arrival", "constant")) == 0
    r = result_from_json(files["out"].read_text())
    assert r.intended_requests == 15 and r.users == 3


@pytest.mark.parametrize("url,scenario,needle", [
    ("http://example.com:80", "quick", "not in the load-test allowlist"),
    ("not a url", "quick", "http://"),
    ("http://127.0.0.1:1", "soak", "scenario 'soak' is not defined"),
])
def test_exit_2_for_bad_usage(files, capsys, url, scenario, needle):
    assert _run(_args(files, url, scenario)) == 2
    assert needle in capsys.readouterr().err
    assert not files["out"].exists()


def test_bad_option_values_are_usage_errors(files):
    with pytest.raises(SystemExit) as exc:
        _run(_args(files, "http://127.0.0.1:1", "quick", "--rate", "-5"))
    assert exc.value.code == 2


def test_allow_cannot_widen_but_the_deployment_environment_can(files, capsys, monkeypatch):
    monkeypatch.delenv("PERF_LOAD_ALLOWLIST", raising=False)
    other = LoopbackServer(host="127.0.0.2").start()
    try:
        url = f"http://127.0.0.2:{other.port}"
        assert _run(_args(files, url, "quick")) == 2 and other.requests == 0
        assert _run(_args(files, url, "quick", "--allow", "127.0.0.2")) == 2 and other.requests == 0
        assert "--allow: '127.0.0.2' is outside the deployment's load-test allowlist" in capsys.readouterr().err
        monkeypatch.setenv("PERF_LOAD_ALLOWLIST", "127.0.0.0/24")
        assert _run(_args(files, url, "quick", "--allow", "127.0.0.2")) == 0 and other.requests == 50
    finally:
        other.stop()


def test_merge_mode_merges_shard_files(server, files, tmp_path):
    assert _run(_args(files, server.url, "quick", "--shards", "2")) == 0
    sharded = result_from_json(files["out"].read_text())
    assert sharded.shards == 2 and sharded.requests == 50
    a, b = tmp_path / "a.json", tmp_path / "b.json"
    a.write_text(result_to_json(sharded))
    b.write_text(result_to_json(sharded))
    merged_path = tmp_path / "m.json"
    assert _run(["--merge", str(a), str(b), "--out", str(merged_path)]) == 0
    assert json.loads(merged_path.read_text())["requests"] == 100


def test_locustfile_option_runs_locust_against_the_scenario(server, files, tmp_path):
    lf = tmp_path / "lf.py"
    lf.write_text("from locust import FastHttpUser, task, constant\n"
                  "class U(FastHttpUser):\n    wait_time = constant(0.05)\n"
                  "    @task\n    def t(self):\n        self.client.get('/x')\n")
    assert _run(_args(files, server.url, "quick", "--locustfile", str(lf), "--users", "2", "--duration", "2")) == 0
    r = result_from_json(files["out"].read_text())
    assert r.source == "locust" and r.requests > 10
