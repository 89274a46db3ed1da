"""The system under test as a process: start it, wait until it is ready, stop it (always).

perf_tasks starts the bundled service as a subprocess (``python -m trading_agent.service``) or
is pointed at an existing URL; it never imports the service. The handle is a small JSON-able
record so a setup task can pass it to the teardown task that stops it.
"""
from __future__ import annotations

import json
import logging
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from dataclasses import asdict, dataclass
from pathlib import Path

from perf_tasks.errors import PerfError, UserError

log = logging.getLogger(__name__)


class ServiceError(PerfError):
    """The service under test did not start, or died."""


@dataclass(frozen=True)
class ServiceHandle:
    url: str
    pid: int | None  # None when we were pointed at an existing service (we never stop those)
    log_path: str | None = None

    def to_json(self) -> str:
        return json.dumps(asdict(self))

    @classmethod
    def from_json(cls, text: str) -> ServiceHandle:
        return cls(**json.loads(text))


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket() as s:
        s.bind((host, 0))
        return int(s.getsockname()[1])


def wait_ready(url: str, *, path: str = "/ready", timeout_s: float = 60.0, proc: subprocess.Popen | None = None,
               log_path: str | None = None) -> float:
    """Poll ``url + path`` until it answers 200; returns seconds waited. Raises ServiceError with
    the tail of the service log when it dies or does not become ready in time."""
    t0 = time.monotonic()
    last = ""
    while time.monotonic() - t0 < timeout_s:
        if proc is not None and proc.poll() is not None:
            raise ServiceError(f"service exited with code {proc.returncode} before it was ready{_tail(log_path)}")
        try:
            with urllib.request.urlopen(url.rstrip("/") + path, timeout=2) as resp:
                if resp.status == 200:
                    return time.monotonic() - t0
                last = f"HTTP {resp.status}"
        except urllib.error.HTTPError as exc:
            last = f"HTTP {exc.code}"
        except (urllib.error.URLError, OSError) as exc:
            last = str(exc)
        time.sleep(0.2)
    raise ServiceError(f"service at {url} not ready after {timeout_s:.0f} s (last answer: {last}){_tail(log_path)}")


def _tail(log_path: str | None, lines: int = 20) -> str:
    if not log_path or not Path(log_path).exists():
        return ""
    text = Path(log_path).read_text(errors="replace").splitlines()[-lines:]
    return "\nservice log (last lines):\n" + "\n".join(text)


def start_service(work: Path, *, workers: int = 1, port: int | None = None, host: str = "127.0.0.1",
                  extra_args: tuple[str, ...] = (), ready_timeout_s: float = 90.0,
                  advertised_url: str = "") -> ServiceHandle:
    """Start ``python -m trading_agent.service`` bound to ``host`` (loopback by default) and wait
    for /ready (asked on loopback when it binds every address). The handle's URL is
    ``advertised_url`` when given (``{port}`` is replaced by the chosen port): what load shards on
    other machines use to reach it."""
    if workers < 1:
        raise UserError(f"service workers must be >= 1, got {workers}")
    local = {"0.0.0.0": "127.0.0.1", "::": "::1"}.get(host, host)
    port = port or free_port(local)
    work.mkdir(parents=True, exist_ok=True)
    log_path = work / "service.log"
    cmd = [sys.executable, "-m", "trading_agent.service", "--host", host, "--port", str(port),
           "--workers", str(workers), *extra_args]
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(Path(__file__).resolve().parents[1]),
                                                                    os.environ.get("PYTHONPATH")]))}
    with log_path.open("ab") as out:
        # stdin too: under Airflow 3 a task's stdin is its socket to the supervisor, and a service that
        # holds it keeps the supervisor (and a Celery worker slot) waiting 60 s after the task ended
        proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT, env=env,
                                start_new_session=True)
    url = f"http://[{local}]:{port}" if ":" in local else f"http://{local}:{port}"
    try:
        waited = wait_ready(url, proc=proc, log_path=str(log_path), timeout_s=ready_timeout_s)
    except ServiceError:
        stop_service(ServiceHandle(url, proc.pid))
        raise
    if advertised_url:
        url = advertised_url.replace("{port}", str(port)).rstrip("/")
    log.info("service under test ready at %s (bound to %s, pid %d, %d worker(s)) after %.1f s", url, host, proc.pid,
             workers, waited)
    return ServiceHandle(url=url, pid=proc.pid, log_path=str(log_path))


def stop_service(handle: ServiceHandle, *, timeout_s: float = 15.0) -> bool:
    """Stop a service we started (its whole process group): SIGTERM, then SIGKILL. Returns
    whether something was stopped; a service we did not start is left alone."""
    if handle.pid is None:
        return False
    try:
        pgid = os.getpgid(handle.pid)
    except ProcessLookupError:
        return False
    os.killpg(pgid, signal.SIGTERM)
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        try:
            os.killpg(pgid, 0)
        except ProcessLookupError:
            return True
        try:
            os.waitpid(handle.pid, os.WNOHANG)
        except ChildProcessError:
            pass
        time.sleep(0.1)
    log.warning("service pid %d did not stop after SIGTERM; killing", handle.pid)
    try:
        os.killpg(pgid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    return True
