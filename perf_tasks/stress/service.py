"""The service under test for failure scenarios: started by the scenario on loopback (its own
process group, its log in the scenario's folder), SIGKILLed on purpose, always stopped.

A small synthetic world (16 symbols, 20 accounts, 5,000 replayed ticks) keeps a start at a few
seconds on a 2-core box; the order flow uses SYM000..SYM007 and acct-1..acct-8.
"""
from __future__ import annotations

import logging
import os
import signal
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

from perf_tasks.sut import ServiceHandle, start_service, stop_service

log = logging.getLogger(__name__)
WORLD_ARGS = ("--symbols", "16", "--accounts", "20", "--ticks", "5000", "--log-level", "warning")


def start(work: Path, db: str, *, workers: int = 1, port: int | None = None, extra: Sequence[str] = (),
          ready_timeout_s: float = 90.0) -> ServiceHandle:
    return start_service(work, workers=workers, port=port, ready_timeout_s=ready_timeout_s, db=db,
                         extra_args=(*WORLD_ARGS, *extra))


def kill9(handle: ServiceHandle) -> float:
    """SIGKILL the service's whole process group (master and workers) and reap the master;
    returns the ``time.monotonic()`` of the kill."""
    assert handle.pid is not None
    t = time.monotonic()
    try:
        os.killpg(os.getpgid(handle.pid), signal.SIGKILL)
    except ProcessLookupError:
        return t
    reap(handle.pid)
    return t


def reap(pid: int, timeout_s: float = 10.0) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        try:
            done, _ = os.waitpid(pid, os.WNOHANG)
        except ChildProcessError:
            return
        if done:
            return
        time.sleep(0.01)


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    try:  # a zombie child of ours counts as gone
        with open(f"/proc/{pid}/stat") as f:
            return f.read().split(") ")[-1][:1] != "Z"
    except OSError:
        return False


@contextmanager
def running(work: Path, db: str, **kwargs) -> Iterator[list[ServiceHandle]]:
    """Start the service; yields a list whose last handle is the live one (a scenario appends the
    restarted one); every handle in it is stopped on exit."""
    handles = [start(work, db, **kwargs)]
    try:
        yield handles
    finally:
        for h in handles:
            try:
                stop_service(h)
            except Exception:  # stop every one; say which did not
                log.exception("stopping service pid %s failed", h.pid)
            if h.pid is not None:
                reap(h.pid, 5.0)
