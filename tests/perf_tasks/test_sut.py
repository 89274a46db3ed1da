"""The system under test as a process: readiness polling (a real loopback server that is not ready,
a process that dies), the service started with an advertised URL or failing to start, and
stopping a process group that ignores SIGTERM."""
from __future__ import annotations

import logging
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import psutil
import pytest

from perf_tasks.errors import UserError
from perf_tasks.sut import ServiceError, ServiceHandle, start_service, stop_service, wait_ready


class _Readiness:
    """Answers ``/ready`` with each status of ``statuses`` in turn, then the last one for ever."""

    def __init__(self, *statuses: int) -> None:
        self.statuses = list(statuses)
        self.asked = 0
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802 - http.server API
                status = outer.statuses[min(outer.asked, len(outer.statuses) - 1)]
                outer.asked += 1
                self.send_response(status)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args: object) -> None:
                pass

        self.srv = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.srv.server_port}"

    def __enter__(self) -> _Readiness:
        threading.Thread(target=self.srv.serve_forever, daemon=True).start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.srv.shutdown()
        self.srv.server_close()


@pytest.fixture
def sigterm_ignorer() -> Iterator[subprocess.Popen]:
    """A process in its own group that ignores SIGTERM (its ``ready`` line says the handler is set)."""
    code = ("import signal, sys, time; signal.signal(signal.SIGTERM, signal.SIG_IGN); "
            "print('ready', flush=True); time.sleep(60)")
    proc = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True, start_new_session=True)
    assert proc.stdout is not None and proc.stdout.readline().strip() == "ready"
    yield proc
    if proc.poll() is None:
        proc.kill()
    proc.wait(5)


def test_a_handle_travels_as_json():
    h = ServiceHandle("http://127.0.0.1:8000", 1234, "/tmp/service.log")
    assert ServiceHandle.from_json(h.to_json()) == h
    assert ServiceHandle.from_json(ServiceHandle("http://h:1", None).to_json()).pid is None


def test_wait_ready_polls_until_the_first_200():
    with _Readiness(503, 503, 200) as srv:
        waited = wait_ready(srv.url, timeout_s=10)
    assert srv.asked == 3 and 0.3 <= waited < 5  # two 0.2 s pauses before the 200


@pytest.mark.parametrize("status", [503, 204])
def test_wait_ready_gives_up_naming_the_last_answer(status: int):
    with _Readiness(status) as srv:
        with pytest.raises(ServiceError, match=rf"service at {srv.url} not ready after 1 s "
                                               rf"\(last answer: HTTP {status}\)"):
            wait_ready(srv.url, timeout_s=1.0)
    assert srv.asked >= 2


def test_wait_ready_names_a_connection_that_is_refused():
    from perf_tasks.sut import free_port

    with pytest.raises(ServiceError, match=r"not ready after 0 s \(last answer: .*refused"):
        wait_ready(f"http://127.0.0.1:{free_port()}", timeout_s=0.3)


def test_wait_ready_stops_when_the_process_dies_and_quotes_its_log(tmp_path: Path):
    log = tmp_path / "service.log"
    with log.open("w") as out:
        proc = subprocess.Popen([sys.executable, "-c", "import sys; print('line 1'); print('port in use'); "
                                 "sys.exit(3)"], stdout=out, stderr=subprocess.STDOUT)
    proc.wait(10)
    with pytest.raises(ServiceError, match=r"(?s)service exited with code 3 before it was ready\n"
                                           r"service log \(last lines\):\nline 1\nport in use"):
        wait_ready("http://127.0.0.1:9", proc=proc, log_path=str(log), timeout_s=10)
    with pytest.raises(ServiceError) as err:  # no log: no tail
        wait_ready("http://127.0.0.1:9", proc=proc, log_path=str(tmp_path / "none.log"), timeout_s=10)
    assert str(err.value) == "service exited with code 3 before it was ready"


def test_start_service_refuses_zero_workers(tmp_path: Path):
    with pytest.raises(UserError, match="service workers must be >= 1, got 0"):
        start_service(tmp_path, workers=0)
    assert not (tmp_path / "service.log").exists()


def test_a_service_that_cannot_start_is_an_error_quoting_its_log(tmp_path: Path):
    with pytest.raises(ServiceError, match=r"(?s)exited with code 2 before it was ready.*--no-such-flag"):
        start_service(tmp_path, extra_args=("--no-such-flag",), ready_timeout_s=60)
    assert "unrecognized arguments: --no-such-flag" in (tmp_path / "service.log").read_text()


def test_stop_service_leaves_alone_what_it_did_not_start_or_what_is_gone():
    assert stop_service(ServiceHandle("http://h:1", None)) is False
    gone = subprocess.Popen([sys.executable, "-c", "pass"])
    gone.wait(10)
    assert stop_service(ServiceHandle("http://h:1", gone.pid)) is False


def test_stop_service_kills_a_group_that_ignores_sigterm(sigterm_ignorer: subprocess.Popen, caplog):
    t0 = time.monotonic()
    with caplog.at_level(logging.WARNING, logger="perf_tasks.sut"):
        assert stop_service(ServiceHandle("http://h:1", sigterm_ignorer.pid), timeout_s=0.5) is True
    assert sigterm_ignorer.wait(5) == -signal.SIGKILL
    assert 0.5 <= time.monotonic() - t0 < 5
    assert f"service pid {sigterm_ignorer.pid} did not stop after SIGTERM; killing" in caplog.text


def test_stop_service_ends_a_group_that_honours_sigterm_without_killing(caplog):
    proc = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"], start_new_session=True)
    try:
        t0 = time.monotonic()
        with caplog.at_level(logging.WARNING, logger="perf_tasks.sut"):
            assert stop_service(ServiceHandle("http://h:1", proc.pid), timeout_s=10) is True
        assert time.monotonic() - t0 < 5 and "killing" not in caplog.text  # SIGTERM was enough
        assert not psutil.pid_exists(proc.pid)  # ended and reaped (stop_service waits for its own children)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(5)


def test_the_handle_carries_the_advertised_url_with_the_chosen_port(tmp_path: Path):
    import urllib.request

    h = start_service(tmp_path, extra_args=("--ticks", "10000", "--log-level", "warning"),
                      advertised_url="http://perf-runner.internal:{port}/", ready_timeout_s=90)
    try:
        host, port = h.url.removeprefix("http://").split(":")
        assert host == "perf-runner.internal" and port.isdigit() and not h.url.endswith("/")
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=5) as resp:  # bound on loopback
            assert resp.status == 200
        assert h.log_path == str(tmp_path / "service.log")
    finally:
        assert stop_service(h) is True
    assert not psutil.pid_exists(h.pid)
