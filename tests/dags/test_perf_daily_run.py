"""perf_daily end to end through Airflow (dag.test): moto's S3 server and a Slack webhook
receiver, both real HTTP on loopback."""
from __future__ import annotations

import json
import uuid
from pathlib import Path

import pytest

from perf_tasks.pipeline import work_dir_for
from perf_tasks.results import Evaluation, RunResults, from_json
from perf_tasks.store import RunArtifacts, S3Store
from tests.support.servers import free_port

IMPOSSIBLE = "market_data.tick_handling.latency_p95_ms"


def _run(dag, **conf):
    from airflow.utils.state import DagRunState

    dr = dag.test(run_conf={"profile": "smoke", **conf})
    return dr, dr.state == DagRunState.SUCCESS


def _prefix() -> str:
    return f"runs-{uuid.uuid4().hex[:8]}"


def test_smoke_run_persists_manifest_results_and_report_to_s3(perf_daily, airflow_conns, slack, s3_client, bucket):
    airflow_conns()
    prefix = _prefix()
    dr, ok = _run(perf_daily, artifacts_url=f"s3://{bucket}/{prefix}", suites=["risk", "market_data"])
    assert ok, dr.state
    store = S3Store(bucket, prefix, client=s3_client)
    run = RunArtifacts(store, "perf_daily", dr.run_id)
    manifest = run.verify()  # every artifact's size and sha256 match
    assert manifest["status"] == "success"
    paths = {a["path"] for a in manifest["artifacts"]}
    assert {"results.json", "evaluation.json", "comparison.json", "report.html", "environment.json"} <= paths
    results = from_json(RunResults, store.get_bytes(run.key("results.json")).decode())
    assert {s.suite for s in results.suites} == {"risk", "market_data"}
    assert results.fingerprint["cpu_count_logical"] >= 1
    evaluation = from_json(Evaluation, store.get_bytes(run.key("evaluation.json")).decode())
    # every target met, or (a slow benchmark short of observations in smoke, a busy host) INVALID
    # where it would have met: nothing to alert on
    assert evaluation.verdicts and not evaluation.violations
    assert all(v.passed or (v.status == "invalid" and v.would_have == "pass") for v in evaluation.verdicts)
    html = store.get_bytes(run.key("report.html")).decode()
    assert "<table>" in html and "risk.var_monte_carlo.latency_p95_ms" in html
    assert slack.messages == [], "all targets met: no alert"


def test_impossible_target_sends_exactly_one_slack_message_naming_it(perf_daily, airflow_conns, slack, bucket,
                                                                    judging_config):
    airflow_conns()
    dr, ok = _run(perf_daily, artifacts_url=f"s3://{bucket}/{_prefix()}", suites=["market_data"],
                  target_overrides={IMPOSSIBLE: 0.000001})
    # a critical miss: every pipeline step succeeded, and the last task (verdict) fails the run
    # (alerts.yaml run_state.fail_on: critical), so the run's state carries the verdict
    assert not ok
    states = {ti.task_id: ti.state for ti in dr.get_task_instances()}
    assert states.pop("verdict") == "failed" and set(states.values()) == {"success"}, states
    mapped = [ti.rendered_map_index for ti in dr.get_task_instances() if ti.task_id == "run_benchmarks"]
    assert mapped == ["market_data"]  # the UI shows the suite, not [0]
    assert len(slack.messages) == 1
    message = slack.messages[0]
    text = json.dumps(message["blocks"])
    assert IMPOSSIBLE in text
    assert "0.000001 ms" in text  # the threshold, with its unit, in plain digits
    assert "Critical" in text and dr.run_id in message["text"]
    results = from_json(RunResults, (work_dir_for("perf_daily", dr.run_id) / "results.json").read_text())
    measured = next(m for m in results.metrics() if m.name == IMPOSSIBLE)
    from perf_tasks.alerts.slack import format_value
    assert format_value(measured.value, "ms") in text  # the measured value, as printed


def test_slack_answering_500_puts_the_message_in_the_outbox_and_records_it(perf_daily, airflow_conns, slack,
                                                                           s3_client, bucket, judging_config):
    airflow_conns()
    slack.reset(status=500)
    prefix = _prefix()
    dr, ok = _run(perf_daily, artifacts_url=f"s3://{bucket}/{prefix}", suites=["market_data"],
                  target_overrides={IMPOSSIBLE: 0.000001})
    assert not ok  # the critical miss fails the run at its verdict task; the outbox still has the message
    assert slack.attempts == 3 and slack.messages == []  # retried, then gave up
    store = S3Store(bucket, prefix, client=s3_client)
    run = RunArtifacts(store, "perf_daily", dr.run_id)
    manifest = run.verify()
    assert manifest["summary"]["delivery"] == "outbox"
    delivery = json.loads(store.get_bytes(run.key("alerts/delivery.json")))
    assert delivery["status"] == "outbox" and len(delivery["errors"]) == 3
    assert "500" in delivery["errors"][0]
    outbox = json.loads(store.get_bytes(run.key("alerts/outbox/slack-message.json")))
    assert IMPOSSIBLE in json.dumps(outbox["message"])


def test_s3_down_fails_the_run_but_keeps_every_local_artifact(perf_daily, airflow_conns, slack):
    airflow_conns(s3_endpoint=f"http://127.0.0.1:{free_port()}")  # nothing listens there
    dr, ok = _run(perf_daily, artifacts_url="s3://unreachable-bucket/perf", suites=["market_data"])
    assert not ok
    work = work_dir_for("perf_daily", dr.run_id)
    for name in ("results.json", "evaluation.json", "report.html", "suites/market_data.json"):
        assert (work / name).is_file(), name
    status = json.loads((work / "status" / "persist_artifacts.json").read_text())
    assert status["state"] == "failed"
    assert "127.0.0.1" in status["error"] and "Nothing is lost" in status["error"]
    # the run failed, so one alert says so
    assert len(slack.messages) == 1
    assert "persist_artifacts" in json.dumps(slack.messages[0])


def test_bad_profile_param_is_refused_before_anything_runs(perf_daily):
    from airflow.exceptions import ParamValidationError

    with pytest.raises(ParamValidationError, match="bogus"):
        perf_daily.test(run_conf={"profile": "bogus"})


def test_bad_target_override_fails_setup_before_any_benchmark(perf_daily, airflow_conns, slack, bucket):
    airflow_conns()
    dr, ok = _run(perf_daily, artifacts_url=f"s3://{bucket}/{_prefix()}",
                  target_overrides={"risk.no_such_benchmark.latency_p95_ms": 5})
    assert not ok
    work = work_dir_for("perf_daily", dr.run_id)
    status = json.loads((work / "status" / "setup_environment.json").read_text())
    assert "risk.no_such_benchmark.latency_p95_ms" in status["error"]
    assert not (work / "suites").exists(), "no benchmark may run after a config error"
    assert len(slack.messages) == 1 and "setup_environment" in json.dumps(slack.messages[0])


def test_no_secret_reaches_a_log_artifact_xcom_or_object_at_debug(perf_daily, airflow_conns, slack, s3_client, bucket,
                                                                  monkeypatch, caplog, judging_config):
    """Recognisable fake secrets in the Slack and AWS connections, every logger at DEBUG: the
    run's logs, work folder, XComs and stored objects never contain them."""
    import logging

    airflow_conns()
    webhook_secret, aws_secret = "WEBHOOKs3cr3tZZ9", "AWSs3cr3tKEYzz7"
    monkeypatch.setenv("AIRFLOW_CONN_SLACK_DEFAULT", json.dumps({
        "conn_type": "slackwebhook", "host": f"127.0.0.1:{slack.port}/services", "schema": "http",
        "password": f"T000/B000/{webhook_secret}"}))
    conn = json.loads(__import__("os").environ["AIRFLOW_CONN_AWS_DEFAULT"])
    conn["password"] = aws_secret  # moto accepts any key
    monkeypatch.setenv("AIRFLOW_CONN_AWS_DEFAULT", json.dumps(conn))
    caplog.set_level(logging.DEBUG)
    prefix = _prefix()
    dr, ok = _run(perf_daily, artifacts_url=f"s3://{bucket}/{prefix}", suites=["market_data"],
                  target_overrides={IMPOSSIBLE: 0.000001})  # a critical miss: a Slack message is sent
    assert len(slack.messages) == 1
    logs = caplog.text
    assert any("slack" in r.name.lower() for r in caplog.records), "slack-sdk logged at DEBUG"
    work = work_dir_for("perf_daily", dr.run_id)
    files = "".join(p.read_text(errors="replace") for p in work.rglob("*") if p.is_file())
    objects = "".join(s3_client.get_object(Bucket=bucket, Key=o["Key"])["Body"].read().decode(errors="replace")
                      for o in s3_client.list_objects_v2(Bucket=bucket, Prefix=prefix).get("Contents", []))
    xcoms = json.dumps([ti.xcom_pull(task_ids=ti.task_id, map_indexes=ti.map_index)
                        for ti in dr.get_task_instances()], default=str)
    for secret in (webhook_secret, aws_secret):
        for where, text in (("logs", logs), ("work folder", files), ("stored objects", objects), ("XComs", xcoms)):
            assert secret not in text, f"{secret} found in {where}"
    assert objects and files and logs
