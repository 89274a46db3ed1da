"""The system under test as a process: start it, wait until it is ready, stop it (always).

perf_tasks starts the configured system's service (:mod:`perf_tasks.system`: its command, working
folder, environment, readiness path, stop signal and grace) as a subprocess in a process group of
its own, or is pointed at an existing URL; it never imports the service. The handle is a small
JSON-able record so a setup task can pass it to the teardown task that stops it.
"""
from __future__ import annotations

import dataclasses
import json
import logging
import os
import signal
import socket
import subprocess
import time
import urllib.error
import urllib.request
from dataclasses import asdict, dataclass
from pathlib import Path

from perf_tasks.errors import PerfError, UserError
from perf_tasks.system import System, load_system

log = logging.getLogger(__name__)


class ServiceError(PerfError):
    """The service under test did not start, or died."""


@dataclass(frozen=True)
class ServiceHandle:
    url: str
    pid: int | None  # None when we were pointed at an existing service (we never stop those)
    log_path: str | None = None
    stop_signal: str = "SIGTERM"  # the system's (systems.yaml service.stop_signal)
    stop_grace_s: float = 15.0  # then SIGKILL of the process group
    system: str = ""  # the system's name ("" in handles written before systems existed)

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


def default_system() -> System:
    """The deployment's system: ``$PERF_SYSTEM`` (else the file's default) of the deployment's
    config folder (``$PERF_CONFIG_DIR``, else the bundled ``config/``)."""
    env = os.environ.get("PERF_CONFIG_DIR", "").strip()
    return load_system(Path(env) if env else Path(__file__).resolve().parents[1] / "config")


def start_service(work: Path, *, system: System | None = None, workers: int | None = None, port: int | None = None,
                  host: str = "127.0.0.1", db: str | None = None, extra_args: tuple[str, ...] = (),
                  ready_timeout_s: float | None = None, advertised_url: str = "",
                  what: str = "starting the service") -> ServiceHandle:
    """Start ``system``'s service (default :func:`default_system`) from its definition, bound to
    ``host`` (loopback by default), and wait for its ready path (asked on loopback when it binds
    every address). ``db``: the run's database (``{db}``); ``extra_args`` are appended to the
    command. A system with only a ``url`` raises :class:`perf_tasks.system.NotApplicableError`
    naming ``what``. The handle's URL is ``advertised_url`` when given (``{port}`` is replaced by
    the chosen port): what load shards on other machines use to reach it."""
    system = system or default_system()
    svc = system.require_service(what)
    if workers is not None and workers < 1:
        raise UserError(f"service workers must be >= 1, got {workers}")
    local = {"0.0.0.0": "127.0.0.1", "::": "::1"}.get(host, host)
    port = port or free_port(local)
    work.mkdir(parents=True, exist_ok=True)
    log_path = work / "service.log"
    cmd = [*system.command(port=port, host=host, work=work, workers=workers, db=db), *extra_args]
    cwd = system.cwd()
    with log_path.open("ab") as out:
        # stdin too: under Airflow 3 a task's stdin is its socket to the supervisor, and a service that
        # holds it keeps the supervisor (and a Celery worker slot) waiting 60 s after the task ended
        try:
            proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT,
                                    env=system.env(), cwd=cwd, start_new_session=True)
        except OSError as exc:
            raise ServiceError(f"system {system.name!r}: cannot start {cmd[0]!r} (cwd {cwd}): {exc} "
                               f"({system.source}.service.command)") from None
    url = f"http://[{local}]:{port}" if ":" in local else f"http://{local}:{port}"
    handle = ServiceHandle(url=url, pid=proc.pid, log_path=str(log_path), stop_signal=svc.stop_signal,
                           stop_grace_s=svc.stop_grace_s, system=system.name)
    try:
        waited = wait_ready(url, path=svc.ready_path, proc=proc, log_path=str(log_path),
                            timeout_s=ready_timeout_s or svc.ready_timeout_s)
    except ServiceError:
        stop_service(handle)
        raise
    if advertised_url:
        url = advertised_url.replace("{port}", str(port)).rstrip("/")
    log.info("system %s: service under test ready at %s (bound to %s, pid %d, %s worker(s)) after %.1f s",
             system.name, url, host, proc.pid, workers or svc.workers, waited)
    return dataclasses.replace(handle, url=url)


def stop_service(handle: ServiceHandle, *, timeout_s: float | None = None) -> bool:
    """Stop a service we started (its whole process group): its stop signal, then SIGKILL after its
    grace. Returns whether something was stopped; a service we did not start is left alone."""
    if handle.pid is None:
        return False
    timeout_s = handle.stop_grace_s if timeout_s is None else timeout_s
    try:
        pgid = os.getpgid(handle.pid)
    except ProcessLookupError:
        return False
    os.killpg(pgid, getattr(signal, handle.stop_signal, signal.SIGTERM))
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
    log.warning("service pid %d did not stop after %s; killing (its process group, after %.1f s)", handle.pid,
                handle.stop_signal, timeout_s)
    try:
        os.killpg(pgid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    return True
