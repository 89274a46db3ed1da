"""The operators' helpers with real Airflow connections (environment variables) and real servers on
loopback: the run note through the REST API (token, then PATCH), the Slack sender of a webhook
connection, and the small XCom summaries."""
from __future__ import annotations

import json
import logging
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from perf_operators.steps import set_run_note, slack_sender, xcom_summary


class _Api:
    """Airflow's API server as far as the note goes: POST /auth/token, PATCH a dag run."""

    def __init__(self, token_status: int = 201) -> None:
        self.calls: list[tuple[str, str, dict[str, Any], str]] = []  # method, path, body, Authorization
        api = self

        class Handler(BaseHTTPRequestHandler):
            def _handle(self) -> None:
                body = json.loads(self.rfile.read(int(self.headers.get("Content-Length", 0))) or b"{}")
                api.calls.append((self.command, self.path, body, self.headers.get("Authorization", "")))
                if self.path == "/auth/token":
                    status, answer = token_status, {"access_token": "tok-123"} if token_status < 300 else {}
                else:
                    status, answer = 200, {"note": body.get("note")}
                data = json.dumps(answer).encode()
                self.send_response(status)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            do_POST = do_PATCH = _handle  # noqa: N815 - http.server API

            def log_message(self, *args: object) -> None:
                pass

        self.srv = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self.srv.server_port

    def __enter__(self) -> _Api:
        threading.Thread(target=self.srv.serve_forever, daemon=True).start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.srv.shutdown()
        self.srv.server_close()


@pytest.fixture
def api() -> Iterator[_Api]:
    with _Api() as a:
        yield a


def _conn(monkeypatch: pytest.MonkeyPatch, name: str, **fields: Any) -> None:
    monkeypatch.setenv(f"AIRFLOW_CONN_{name.upper()}", json.dumps(fields))


def test_the_run_note_is_set_with_a_token_from_the_connections_user(api: _Api, monkeypatch):
    _conn(monkeypatch, "perf_api", conn_type="http", host="127.0.0.1", port=api.port, login="perf", password="s3cret")
    assert set_run_note("perf_api", "perf_daily", "manual__2026-11-30T01:00:00+00:00", "PASS (12 targets)") is True
    (token_call, patch_call) = api.calls
    assert token_call[:3] == ("POST", "/auth/token", {"username": "perf", "password": "s3cret"})
    method, path, body, auth = patch_call
    assert method == "PATCH" and body == {"note": "PASS (12 targets)"} and auth == "Bearer tok-123"
    assert path == "/api/v2/dags/perf_daily/dagRuns/manual__2026-11-30T01%3A00%3A00%2B00%3A00"


def test_a_host_given_as_a_url_is_used_as_the_base(api: _Api, monkeypatch):
    _conn(monkeypatch, "perf_api", conn_type="http", host=f"http://127.0.0.1:{api.port}", login="u", password="p")
    assert set_run_note("perf_api", "d", "r", "n") is True
    assert [c[1] for c in api.calls] == ["/auth/token", "/api/v2/dags/d/dagRuns/r"]


def test_a_refused_token_leaves_the_note_unset_and_says_why(monkeypatch, caplog):
    with _Api(token_status=401) as refusing:
        _conn(monkeypatch, "perf_api", conn_type="http", host="127.0.0.1", port=refusing.port, login="u",
              password="wrong")
        with caplog.at_level(logging.WARNING, logger="perf_operators.steps"):
            assert set_run_note("perf_api", "d", "r", "n") is False
    assert [c[0] for c in refusing.calls] == ["POST"]  # no PATCH without a token
    assert f"run note not set via http://127.0.0.1:{refusing.port}" in caplog.text and "401" in caplog.text


def test_no_api_connection_means_no_note(monkeypatch, caplog):
    monkeypatch.delenv("AIRFLOW_CONN_NO_SUCH_API", raising=False)
    with caplog.at_level(logging.INFO, logger="perf_operators.steps"):
        assert set_run_note("no_such_api", "d", "r", "n") is False
    assert "no Airflow connection 'no_such_api'" in caplog.text


def test_slack_sender_posts_through_a_webhook_connection_or_says_there_is_none(monkeypatch, slack):
    monkeypatch.delenv("AIRFLOW_CONN_NO_SUCH_SLACK", raising=False)
    assert slack_sender("no_such_slack") == (None, "outbox (no Airflow connection 'no_such_slack')")
    _conn(monkeypatch, "perf_slack", conn_type="slackwebhook", host=f"127.0.0.1:{slack.port}/services",
          schema="http", password="T000/B000/XXXX")
    send, channel = slack_sender("perf_slack")
    assert channel == "Airflow connection 'perf_slack'"
    blocks = [{"type": "section", "text": {"type": "mrkdwn", "text": "*FAIL*"}}]
    send({"text": "perf_daily: FAIL", "blocks": blocks})
    (message,) = slack.messages
    assert message["text"] == "perf_daily: FAIL" and message["blocks"] == blocks


def test_xcom_summaries_stay_small():
    import dataclasses

    import numpy as np

    from perf_tasks.results import SuiteResult
    from perf_tasks.sut import ServiceHandle
    from tests.perf_tasks.clustered import bench

    ok = bench(np.array([0.01, 0.02]), np.array([0, 1]), name="ok")
    failed = dataclasses.replace(bench(np.array([0.01, 0.02]), np.array([0, 1]), name="bad"), error="boom")
    suite = SuiteResult("risk", "smoke", "a", "b", (ok, failed))
    assert xcom_summary(suite) == {"suite": "risk", "benchmarks": 2, "errors": [failed.key]}
    assert xcom_summary(ServiceHandle("http://127.0.0.1:1", 42, None)) == {
        "url": "http://127.0.0.1:1", "pid": 42, "log_path": None, "stop_signal": "SIGTERM", "stop_grace_s": 15.0,
        "system": ""}

    @dataclass
    class WithList:
        name: str
        items: list

    assert xcom_summary(WithList("x", [1, 2])) == {"name": "x"}  # only scalars travel
    assert xcom_summary(["instances_1"]) == ["instances_1"]
