"""Live load windows pushed to (and deleted from) a Pushgateway-shaped loopback server, best effort
when it is down; and the history site's own command line."""
from __future__ import annotations

import logging
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from perf_tasks.monitor.prom import LIVE_JOB, delete_live, push_live
from perf_tasks.sut import free_port


class _Gateway:
    """Records every request (method, path, body) and answers 200, as the Pushgateway does."""

    def __init__(self) -> None:
        self.requests: list[tuple[str, str, str]] = []
        gw = self

        class Handler(BaseHTTPRequestHandler):
            def _record(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", 0))).decode()
                gw.requests.append((self.command, self.path, body))
                self.send_response(200)
                self.send_header("Content-Length", "0")
                self.end_headers()

            do_PUT = do_POST = do_DELETE = _record  # noqa: N815 - http.server API

            def log_message(self, *args: object) -> None:
                pass

        self.srv = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.srv.server_port}"


@pytest.fixture
def gateway() -> Iterator[_Gateway]:
    g = _Gateway()
    threading.Thread(target=g.srv.serve_forever, daemon=True).start()
    yield g
    g.srv.shutdown()
    g.srv.server_close()


def test_a_live_window_is_pushed_under_its_dag_and_scenario_and_deleted_at_the_end(gateway: _Gateway):
    assert push_live(gateway.url, dag="perf_load_weekly", scenario="normal", run_id="r1", window_s=60.0,
                     observations=600, failures=6, p95_ms=None, extra={"perf_live_shards": 2.0}) == ""
    (method, path, body) = gateway.requests[0]
    assert method == "PUT" and path == f"/metrics/job/{LIVE_JOB}/dag/perf_load_weekly/scenario/normal"
    assert 'perf_live_rate_per_s{dag="perf_load_weekly",run_id="r1",scenario="normal"} 10.0' in body
    assert 'perf_live_error_rate_pct{dag="perf_load_weekly",run_id="r1",scenario="normal"} 1.0' in body
    assert "perf_live_shards" in body and "perf_live_p95_ms" not in body  # no p95 from too few observations
    delete_live(gateway.url, dag="perf_load_weekly", scenario="normal")
    assert gateway.requests[1][:2] == ("DELETE", f"/metrics/job/{LIVE_JOB}/dag/perf_load_weekly/scenario/normal")


def test_without_a_gateway_nothing_is_pushed_and_a_down_one_is_logged_not_raised(caplog):
    assert push_live("", dag="d", scenario="s", run_id="r", window_s=60, observations=1, failures=0,
                     p95_ms=1.0) == ""
    delete_live("", dag="d", scenario="s")
    down = f"http://127.0.0.1:{free_port()}"
    with caplog.at_level(logging.WARNING, logger="perf_tasks.monitor.prom"):
        error = push_live(down, dag="d", scenario="s", run_id="r", window_s=0, observations=0, failures=0,
                          p95_ms=5.0)
        delete_live(down, dag="d", scenario="s")
    assert error.startswith("URLError") and "refused" in error.lower()
    assert f"Pushgateway {down}: live push for s failed" in caplog.text
    assert f"Pushgateway {down}: could not delete the live group of s" in caplog.text


def test_the_site_command_writes_the_index_of_an_empty_store(tmp_path: Path, capsys):
    from perf_tasks.cli import main

    url = (tmp_path / "store").as_uri()
    assert main(["site", "perf_daily", "--artifacts", url]) == 0
    out = capsys.readouterr().out
    assert out.strip() == f"history site of perf_daily: {url}/perf_daily/_site/index.html (0 runs, 0 metric pages)"
    assert (tmp_path / "store" / "perf_daily" / "_site" / "index.html").exists()
