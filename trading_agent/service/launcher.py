"""Start the service as a real subprocess on loopback and wait until it is ready (for tests and
measurement scripts); always pair :func:`start_server` with :meth:`ServerProcess.stop` (or use
it as a context manager).

Readiness is polled on ``GET /ready`` with a bounded timeout; the server's output goes to a log
file (not a pipe, which a chatty server could fill and block on), and its tail is quoted in any
error.
"""
from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType

import trading_agent


class ServerStartError(RuntimeError):
    """The server exited, failed its build or was not ready in time; the message quotes its log."""


def free_loopback_port() -> int:
    """A TCP port free on 127.0.0.1 right now (another process may take it before we bind)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _get_json(url: str, timeout_s: float) -> tuple[int, dict]:
    try:
        with urllib.request.urlopen(url, timeout=timeout_s) as r:
            return r.status, json.loads(r.read())
    except urllib.error.HTTPError as e:
        return e.code, json.loads(e.read() or b"{}")


@dataclass
class ServerProcess:
    proc: subprocess.Popen
    base_url: str
    log_path: Path
    ready_s: float = float("nan")  # seconds from spawn to the first 200 from /ready
    owns_log: bool = False  # a temporary log: removed by a clean stop, kept after a failure

    def log_tail(self, n_chars: int = 3000) -> str:
        try:
            return self.log_path.read_text(errors="replace")[-n_chars:]
        except OSError:
            return ""

    def stop(self, timeout_s: float = 15.0) -> int:
        """SIGTERM (graceful: uvicorn runs the shutdown), SIGKILL after ``timeout_s``; the exit code.

        A clean exit is 0, or -SIGTERM for a single worker (uvicorn re-raises the signal after
        its graceful shutdown)."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout_s)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
        if self.owns_log and self.proc.returncode in (0, -signal.SIGTERM):
            self.log_path.unlink(missing_ok=True)
        return self.proc.returncode

    def __enter__(self) -> ServerProcess:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.stop()


def start_server(args: Sequence[str] = (), *, port: int | None = None, ready_timeout_s: float = 60.0,
                 log_path: str | Path | None = None, env: dict[str, str] | None = None) -> ServerProcess:
    """Spawn ``python -m trading_agent.service --port PORT *args`` bound to 127.0.0.1 and wait for
    ``/ready`` to answer 200 within ``ready_timeout_s``; on failure the process is stopped and
    :class:`ServerStartError` raised with the tail of its log."""
    port = free_loopback_port() if port is None else port
    root = str(Path(trading_agent.__file__).resolve().parents[1])
    child_env = dict(os.environ if env is None else env)
    child_env["PYTHONPATH"] = os.pathsep.join(p for p in (root, child_env.get("PYTHONPATH", "")) if p)
    owns_log = log_path is None
    if log_path is None:
        fd, name = tempfile.mkstemp(prefix="trading-service-", suffix=".log")
        os.close(fd)
        log_path = name
    log_path = Path(log_path)
    t0 = time.monotonic()
    with open(log_path, "wb") as log:
        proc = subprocess.Popen([sys.executable, "-m", "trading_agent.service", "--host", "127.0.0.1",
                                 "--port", str(port), *args], stdout=log, stderr=subprocess.STDOUT,
                                env=child_env, cwd=root)
    server = ServerProcess(proc, f"http://127.0.0.1:{port}", log_path, owns_log=owns_log)
    deadline = t0 + ready_timeout_s
    last = "no answer yet"
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise ServerStartError(f"server on port {port} exited with code {proc.returncode} before it was "
                                   f"ready; log {log_path}:\n{server.log_tail()}")
        try:
            status, body = _get_json(server.base_url + "/ready", timeout_s=2.0)
        except (OSError, ValueError) as exc:  # not listening yet, or a half-started answer
            last = f"{type(exc).__name__}: {exc}"
        else:
            if status == 200:
                server.ready_s = time.monotonic() - t0
                return server
            last = f"{status} {body}"
            if body.get("status") == "failed":
                server.stop()
                raise ServerStartError(f"server on port {port} failed to build its state: {body.get('detail')}; "
                                       f"log {log_path}:\n{server.log_tail()}")
        time.sleep(0.05)
    server.stop()
    raise ServerStartError(f"server on port {port} not ready after {ready_timeout_s} s (last: {last}); "
                           f"log {log_path}:\n{server.log_tail()}")
