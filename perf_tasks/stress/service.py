"""The service under test for failure scenarios: started by the scenario on loopback (its own
process group, its log in the scenario's folder), SIGKILLed on purpose, always stopped.

The service is the run's system (``ctx.system``, systems.yaml), started with its definition's
``service.fault_args`` appended (the bundled demo: a small synthetic world that starts in a few
seconds on a 2-core box); never the bundled demo in its place.
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
from perf_tasks.system import System

log = logging.getLogger(__name__)


def start(work: Path, db: str, *, system: System | None, workers: int = 1, port: int | None = None,
          extra: Sequence[str] = (), ready_timeout_s: float = 90.0, what: str = "a failure scenario") -> ServiceHandle:
    """Start ``system``'s service (its ``fault_args`` appended); a run without a system, or one with
    only a url, raises :class:`perf_tasks.system.NotApplicableError` (never the bundled demo)."""
    if system is None:
        from perf_tasks.system import NotApplicableError
        raise NotApplicableError(f"{what} is not applicable: the config folder defines no system under test "
                                 "(systems.yaml; docs/own-system.md)")
    svc = system.require_service(what)
    return start_service(work, system=system, workers=workers, port=port, ready_timeout_s=ready_timeout_s, db=db,
                         extra_args=(*svc.fault_args, *extra), what=what)


def scenario_args(system: System | None, scenario: str, params: dict, *, required: str = "") -> tuple[str, ...]:
    """The definition's ``service.scenario_args[scenario]`` with ``{param}`` filled from the
    scenario's ``params``; ``required``: why the scenario cannot run without them (then a missing
    entry raises :class:`perf_tasks.system.NotApplicableError` naming the key)."""
    from perf_tasks.system import NotApplicableError
    svc = system.service if system is not None else None
    args = (svc.scenario_args.get(scenario) if svc is not None else None)
    if args is None:
        if required and system is not None:
            raise NotApplicableError(f"{scenario} is not applicable to system {system.name!r}: "
                                     f"{system.source}.service.scenario_args.{scenario} is not set ({required})")
        return ()
    out = []
    for i, a in enumerate(args):
        try:
            out.append(a.format(**{k: v for k, v in params.items()}))
        except (KeyError, IndexError, ValueError) as exc:
            from perf_tasks.errors import ConfigError
            raise ConfigError(f"{system.source}.service.scenario_args.{scenario}[{i}] {a!r}: unknown parameter "
                              f"{exc} (known: {sorted(params)})") from None
    return tuple(out)


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
