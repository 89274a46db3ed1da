"""S3 retries are one layer: botocore's standard retry mode with the configured number of
attempts, no loop of the store's own on top. Counted on a real HTTP server on loopback that speaks
enough S3 (PUT, GET, HEAD) and answers 503 SlowDown to the first ``fail`` requests."""
from __future__ import annotations

import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import boto3
import pytest
from botocore.config import Config

from perf_tasks.errors import StoreError
from perf_tasks.store import S3Store
from perf_tasks.store.s3 import client_config, default_client

_SLOW_DOWN = (b'<?xml version="1.0" encoding="UTF-8"?><Error><Code>SlowDown</Code>'
              b"<Message>Please reduce your request rate.</Message></Error>")
_DENIED = b'<?xml version="1.0" encoding="UTF-8"?><Error><Code>AccessDenied</Code><Message>no</Message></Error>'


class FlakyS3:
    """Answers 503 SlowDown to the first ``fail`` requests (``fail=-1``: to all), or 403 to all with
    ``deny``; then stores PUT bodies and serves them back."""

    def __init__(self, fail: int = 0, *, deny: bool = False) -> None:
        self.fail, self.deny, self.requests = fail, deny, []
        self.objects: dict[str, bytes] = {}
        s3 = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def _answer(self, status: int, body: bytes = b"", headers: dict[str, str] | None = None) -> None:
                self.send_response(status)
                for k, v in (headers or {}).items():
                    self.send_header(k, v)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                if self.command != "HEAD":
                    self.wfile.write(body)

            def _handle(self) -> None:
                data = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                s3.requests.append((self.command, self.path))
                if s3.deny:
                    return self._answer(403, _DENIED, {"Content-Type": "application/xml"})
                if s3.fail < 0 or len(s3.requests) <= s3.fail:
                    return self._answer(503, _SLOW_DOWN, {"Content-Type": "application/xml"})
                path = self.path.split("?", 1)[0]
                if self.command == "PUT":
                    s3.objects[path] = data
                    return self._answer(200, b"", {"ETag": '"0"'})
                if path not in s3.objects:
                    return self._answer(404, b"", {})
                return self._answer(200, s3.objects[path], {"ETag": '"0"'})

            do_PUT = do_GET = do_HEAD = _handle  # noqa: N815 - http.server API

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.endpoint = f"http://127.0.0.1:{self.server.server_port}"

    def __enter__(self) -> FlakyS3:
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture(autouse=True)
def _credentials_and_no_backoff(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[float]]:
    """Test credentials; botocore's backoff delays recorded, not slept (the count is what matters)."""
    from botocore.retries import standard

    for k, v in (("AWS_ACCESS_KEY_ID", "testing"), ("AWS_SECRET_ACCESS_KEY", "testing"),
                 ("AWS_DEFAULT_REGION", "us-east-1")):
        monkeypatch.setenv(k, v)
    delays: list[float] = []
    real = standard.ExponentialBackoff.delay_amount
    monkeypatch.setattr(standard.ExponentialBackoff, "delay_amount",
                        lambda self, context: delays.append(real(self, context)) or 0.0)
    yield delays


def test_transient_errors_are_retried_by_botocore_with_the_configured_attempts():
    with FlakyS3(fail=2) as s3:
        store = S3Store("b", "p", client=default_client(s3.endpoint, attempts=4))
        store.put_bytes("run/results.json", b"{}")
        assert store.get_bytes("run/results.json") == b"{}"
    assert [r[0] for r in s3.requests] == ["PUT", "PUT", "PUT", "GET"]  # 2 failures, then through


def test_a_store_that_keeps_failing_is_tried_exactly_the_configured_attempts():
    with FlakyS3(fail=-1) as s3:
        store = S3Store("b", "p", client=default_client(s3.endpoint, attempts=3))
        with pytest.raises(StoreError) as err:
            store.put_bytes("run/results.json", b"{}")
    assert len(s3.requests) == 3, s3.requests
    msg = str(err.value)
    assert "s3://b/p/run/results.json" in msg and s3.endpoint in msg and "3 attempt" in msg


def test_no_retry_loop_on_top_of_a_given_clients_own_retries():
    """The client the S3Hook builds comes with its own retry config: the store adds no layer."""
    with FlakyS3(fail=-1) as s3:
        client = boto3.client("s3", endpoint_url=s3.endpoint, config=Config(
            retries={"mode": "standard", "total_max_attempts": 2}, s3={"addressing_style": "path"}))
        with pytest.raises(StoreError):
            S3Store("b", "p", client=client).put_bytes("k", b"v")
    assert len(s3.requests) == 2, s3.requests  # the client's 2, not 2 x the store's 4


def test_a_refused_request_is_not_retried():
    with FlakyS3(deny=True) as s3:
        store = S3Store("b", "p", client=default_client(s3.endpoint, attempts=4))
        with pytest.raises(StoreError, match="refused"):
            store.put_bytes("k", b"v")
    assert len(s3.requests) == 1


def test_the_client_config_is_botocores_standard_mode():
    cfg = client_config(attempts=5)
    assert cfg.retries == {"mode": "standard", "total_max_attempts": 5}
    assert default_client("http://127.0.0.1:1", attempts=5).meta.config.retries["total_max_attempts"] == 5
