"""Slack delivery retries only what may succeed later: a 5xx or a lost connection (with backoff),
a 429 after its Retry-After; never another 4xx (a bad payload or a revoked webhook stays bad).
Against a real HTTP receiver on loopback that answers a scripted list of statuses and headers,
through the CLI's sender (slack-sdk's WebhookClient) and the DAGs' (the Airflow Slack webhook hook)."""
from __future__ import annotations

import json
import threading
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from perf_tasks.alerts.slack import deliver, webhook_sender
from tests.support.servers import free_port

MESSAGE = {"text": "perf_daily: 1 critical", "blocks": [{"type": "section", "text": {"type": "mrkdwn",
                                                                                         "text": "*critical*"}}]}


class Receiver:
    """Answers each POST with the next (status, headers, body) of ``script`` (the last one repeats)."""

    def __init__(self, script: list[tuple[int, dict[str, str], bytes]]) -> None:
        self.script, self.posts = script, []
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 - http.server API
                receiver.posts.append(json.loads(self.rfile.read(int(self.headers.get("Content-Length", 0)))))
                status, headers, body = receiver.script[min(len(receiver.posts), len(receiver.script)) - 1]
                self.send_response(status)
                for k, v in headers.items():
                    self.send_header(k, v)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self.server.server_port
        self.url = f"http://127.0.0.1:{self.port}/services/T000/B000/XXXX"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def receiver() -> Iterator[Callable[..., Receiver]]:
    started: list[Receiver] = []

    def start(*script: tuple[int, dict[str, str], bytes]) -> Receiver:
        started.append(Receiver(list(script)))
        return started[-1]

    yield start
    for r in started:
        r.stop()


OK = (200, {}, b"ok")
BAD_REQUEST = (400, {}, b"invalid_blocks")
GONE = (404, {}, b"no_service")
SERVER_ERROR = (500, {}, b"internal_error")
RATE_LIMITED = (429, {"Retry-After": "7"}, b"rate_limited")


def _deliver(sender, tmp_path: Path, sleeps: list[float], attempts: int = 3):
    return deliver(MESSAGE, sender, tmp_path / "outbox", channel="test", attempts=attempts, backoff_s=0.5,
                   sleep=sleeps.append)


@pytest.mark.parametrize("answer", [BAD_REQUEST, GONE], ids=["400", "404"])
def test_a_4xx_is_not_retried_and_the_message_goes_to_the_outbox(receiver, tmp_path, answer):
    slack, sleeps = receiver(answer), []
    d = _deliver(webhook_sender(slack.url), tmp_path, sleeps)
    assert len(slack.posts) == 1 and sleeps == [] and d.status == "outbox" and d.attempts == 1
    saved = json.loads((tmp_path / "outbox" / "slack-message.json").read_text())
    assert str(answer[0]) in saved["errors"][0] and "not retried" in saved["reason"]


def test_a_429_is_retried_after_its_retry_after(receiver, tmp_path):
    slack, sleeps = receiver(RATE_LIMITED, OK), []
    d = _deliver(webhook_sender(slack.url), tmp_path, sleeps)
    assert d.status == "sent" and d.attempts == 2 and len(slack.posts) == 2
    assert sleeps == [7.0]  # the receiver's Retry-After, not the 0.5 s backoff


def test_a_retry_after_longer_than_the_wait_allowed_goes_to_the_outbox_now(receiver, tmp_path):
    slack, sleeps = receiver((429, {"Retry-After": "3600"}, b"rate_limited")), []
    d = _deliver(webhook_sender(slack.url), tmp_path, sleeps)
    assert d.status == "outbox" and len(slack.posts) == 1 and sleeps == []
    assert "Retry-After" in json.loads((tmp_path / "outbox" / "slack-message.json").read_text())["reason"]


def test_a_5xx_is_retried_with_backoff(receiver, tmp_path):
    slack, sleeps = receiver(SERVER_ERROR, SERVER_ERROR, OK), []
    d = _deliver(webhook_sender(slack.url), tmp_path, sleeps)
    assert d.status == "sent" and d.attempts == 3 and len(slack.posts) == 3 and sleeps == [0.5, 1.0]


def test_one_retry_layer_a_failing_5xx_is_posted_exactly_attempts_times(receiver, tmp_path):
    slack, sleeps = receiver(SERVER_ERROR), []
    d = _deliver(webhook_sender(slack.url), tmp_path, sleeps, attempts=3)
    assert d.status == "outbox" and len(slack.posts) == 3 and sleeps == [0.5, 1.0]


def test_a_refused_connection_is_retried(tmp_path):
    sleeps: list[float] = []
    d = _deliver(webhook_sender(f"http://127.0.0.1:{free_port()}/services/T/B/X"), tmp_path, sleeps, attempts=2)
    assert d.status == "outbox" and d.attempts == 2 and sleeps == [0.5]


def test_the_airflow_hooks_sender_is_not_retried_on_a_4xx_either(receiver, tmp_path, monkeypatch):
    from perf_operators.steps import slack_sender

    slack, sleeps = receiver(BAD_REQUEST), []
    monkeypatch.setenv("AIRFLOW_CONN_PERF_SLACK_RETRY", json.dumps({
        "conn_type": "slackwebhook", "host": f"127.0.0.1:{slack.port}/services", "schema": "http",
        "password": "T000/B000/XXXX"}))
    send, _channel = slack_sender("perf_slack_retry")
    d = _deliver(send, tmp_path, sleeps)
    assert len(slack.posts) == 1 and sleeps == [] and d.status == "outbox"
