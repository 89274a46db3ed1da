"""A real load balancer in front of the instances: HAProxy (Debian's ``haproxy`` package), HTTP mode,
round robin per request, health checks on ``GET /ready``; its stats page (CSV) gives the requests
each instance served, its health-check state and its errors.

Where HAProxy is not installed, :func:`haproxy_path` returns None and :func:`haproxy_missing_reason`
says so; the sweep then falls back to the service's own multi-worker mode (one port, the kernel
spreads connections over uvicorn's workers; no per-instance counts) and the failover scenario
reports no data.
"""
from __future__ import annotations

import csv
import io
import logging
import os
import shutil
import signal
import subprocess
import tempfile
import time
import urllib.request
from dataclasses import dataclass
from pathlib import Path

from perf_tasks.sut import ServiceError, free_port

log = logging.getLogger(__name__)


def haproxy_path() -> str | None:
    return shutil.which("haproxy") or next((p for p in ("/usr/sbin/haproxy", "/usr/local/sbin/haproxy")
                                            if os.access(p, os.X_OK)), None)


def haproxy_missing_reason() -> str:
    return ("HAProxy is not installed (no 'haproxy' on PATH or in /usr/sbin): install Debian's package "
            "(apt-get install -y haproxy)")


@dataclass(frozen=True)
class ServerStats:
    name: str
    status: str  # UP, DOWN, MAINT, no check, ...
    requests: int  # stot: sessions (HTTP mode: requests forwarded) this server took
    responses_2xx: int
    responses_5xx: int
    connect_errors: int  # econ
    response_errors: int  # eresp
    retries: int  # wretr
    redispatches: int  # wredis
    check_down: int  # chkdown: UP -> DOWN transitions
    last_change_s: int  # lastchg: seconds since the last status change


def parse_stats_csv(text: str, backend: str = "be") -> tuple[dict[str, ServerStats], dict[str, int]]:
    """Per-server stats of ``backend`` and its frontend/backend totals from HAProxy's CSV."""
    lines = text.splitlines()
    if not lines or not lines[0].startswith("# "):
        raise ValueError(f"not HAProxy stats CSV: {text[:80]!r}")
    rows = list(csv.DictReader(io.StringIO(lines[0][2:] + "\n" + "\n".join(lines[1:]))))

    def num(row: dict, key: str) -> int:
        v = row.get(key) or ""
        return int(v) if v.strip().lstrip("-").isdigit() else 0

    servers = {}
    totals = {}
    for r in rows:
        if r.get("pxname") != backend:
            continue
        if r.get("svname") == "BACKEND":
            totals = {"requests": num(r, "stot"), "responses_5xx": num(r, "hrsp_5xx"),
                      "connect_errors": num(r, "econ"), "response_errors": num(r, "eresp")}
            continue
        if r.get("svname") == "FRONTEND":
            continue
        servers[r["svname"]] = ServerStats(r["svname"], r.get("status", ""), num(r, "stot"), num(r, "hrsp_2xx"),
                                           num(r, "hrsp_5xx"), num(r, "econ"), num(r, "eresp"), num(r, "wretr"),
                                           num(r, "wredis"), num(r, "chkdown"), num(r, "lastchg"))
    return servers, totals


def render_config(port: int, stats_port: int, backends: list[str], *, check_inter_ms: int = 500, fall: int = 2,
                  rise: int = 1, retries: int = 3, redispatch: bool = True, threads: int = 1,
                  maxconn: int = 4096) -> str:
    """The HAProxy configuration: one frontend on ``port``, round robin over ``backends``
    (``host:port``), health checks on GET /ready every ``check_inter_ms``, stats on ``stats_port``."""
    servers = "\n".join(f"    server s{i} {b} check" for i, b in enumerate(backends))
    return f"""global
    maxconn {maxconn}
    nbthread {threads}

defaults
    mode http
    timeout connect 2s
    timeout client 60s
    timeout server 60s
    timeout check 2s
    retries {retries}
    {'option redispatch' if redispatch else 'no option redispatch'}

frontend fe
    bind 127.0.0.1:{port}
    default_backend be

backend be
    balance roundrobin
    option httpchk GET /ready
    default-server inter {check_inter_ms}ms fastinter {max(50, check_inter_ms // 2)}ms fall {fall} rise {rise}
{servers}

listen stats
    bind 127.0.0.1:{stats_port}
    stats enable
    stats uri /stats
    stats refresh 0
"""


class Haproxy:
    """``start()`` runs HAProxy in the foreground as our child (its own session); ``stop()`` ends it."""

    def __init__(self, backends: list[str], work: Path | None = None, **options: object) -> None:
        exe = haproxy_path()
        if exe is None:
            raise ServiceError(haproxy_missing_reason())
        self.exe = exe
        self.backends = list(backends)
        self.work = Path(work or tempfile.mkdtemp(prefix="perf-haproxy-"))
        self.options = options
        self.port = free_port()
        self.stats_port = free_port()
        self.proc: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def stats_url(self) -> str:
        return f"http://127.0.0.1:{self.stats_port}/stats;csv"

    def start(self, timeout_s: float = 10.0) -> Haproxy:
        self.work.mkdir(parents=True, exist_ok=True)
        cfg = self.work / "haproxy.cfg"
        text = render_config(self.port, self.stats_port, self.backends, **self.options)  # type: ignore[arg-type]
        cfg.write_text(text)
        check = subprocess.run([self.exe, "-c", "-q", "-f", str(cfg)], capture_output=True, text=True, timeout=30)
        if check.returncode != 0:
            raise ServiceError(f"HAProxy refused its configuration {cfg}: {check.stderr.strip() or check.stdout}")
        log_path = self.work / "haproxy.log"
        with log_path.open("ab") as out:
            self.proc = subprocess.Popen([self.exe, "-db", "-f", str(cfg)], stdin=subprocess.DEVNULL, stdout=out,
                                         stderr=subprocess.STDOUT, start_new_session=True)
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise ServiceError(f"HAProxy exited with {self.proc.returncode}: {log_path.read_text()[-2000:]}")
            try:
                self.stats()
                return self
            except OSError:
                time.sleep(0.05)
        self.stop()
        raise ServiceError(f"HAProxy did not answer on its stats port within {timeout_s:.0f} s")

    def stats_raw(self) -> str:
        with urllib.request.urlopen(self.stats_url, timeout=2) as resp:
            return resp.read().decode()

    def stats(self) -> tuple[dict[str, ServerStats], dict[str, int]]:
        return parse_stats_csv(self.stats_raw())

    def wait_all_up(self, timeout_s: float = 15.0) -> bool:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            servers, _ = self.stats()
            if servers and all(s.status.startswith("UP") for s in servers.values()):
                return True
            time.sleep(0.1)
        return False

    @property
    def pid(self) -> int | None:
        return self.proc.pid if self.proc else None

    def stop(self) -> None:
        if self.proc is None or self.proc.poll() is not None:
            return
        try:
            os.killpg(self.proc.pid, signal.SIGTERM)
            self.proc.wait(timeout=5)
        except (ProcessLookupError, subprocess.TimeoutExpired):
            try:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait(timeout=5)
            except (ProcessLookupError, subprocess.TimeoutExpired):
                pass

    def __enter__(self) -> Haproxy:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
