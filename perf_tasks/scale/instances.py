"""Instances of the system under test: 1..N processes, each its own port, optionally pinned to
cores (vertical axis) and memory-limited where the platform allows; always stopped.

Two kinds: the system's service (its systems.yaml command, via :mod:`perf_tasks.sut`)
and the known-capacity test server (:mod:`perf_tasks.scale.testserver`). CPU pinning uses
``os.sched_setaffinity`` on the instance and its children right after start (uvicorn with one worker
serves in the started process). A memory limit uses cgroup v2 ``memory.max`` only when a cgroup v2
hierarchy with the memory controller is writable here; otherwise :func:`memory_limit_support`
says why and the run records it.
"""
from __future__ import annotations

import logging
import os
import subprocess
import sys
from dataclasses import asdict, dataclass, field
from pathlib import Path

import psutil

from perf_tasks.errors import UserError
from perf_tasks.sut import ServiceHandle, free_port, start_service, stop_service, wait_ready

log = logging.getLogger(__name__)
CGROUP2_ROOTS = ("/sys/fs/cgroup", "/sys/fs/cgroup/unified")


@dataclass(frozen=True)
class Instance:
    index: int
    url: str
    port: int
    pid: int
    cpus: tuple[int, ...] = ()  # pinned cores; () = not pinned
    memory_limit_bytes: int | None = None  # applied through cgroup v2; None = not limited
    log_path: str = ""

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass
class InstanceSet:
    instances: list[Instance] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    _cgroups: list[Path] = field(default_factory=list)

    @property
    def pids(self) -> list[int]:
        return [i.pid for i in self.instances]

    @property
    def urls(self) -> list[str]:
        return [i.url for i in self.instances]

    def process_tree(self) -> list[int]:
        """Every pid of every instance (uvicorn workers included), alive now."""
        out = []
        for pid in self.pids:
            try:
                p = psutil.Process(pid)
                out.append(pid)
                out.extend(c.pid for c in p.children(recursive=True))
            except psutil.Error:
                continue
        return out

    def stop(self) -> None:
        for inst in self.instances:
            try:
                stop_service(ServiceHandle(inst.url, inst.pid))
            except Exception as exc:  # keep stopping the others
                log.warning("stopping instance %d (pid %d): %s", inst.index, inst.pid, exc)
        for cg in self._cgroups:
            try:
                cg.rmdir()
            except OSError:
                pass

    def __enter__(self) -> InstanceSet:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def memory_limit_support() -> tuple[Path | None, str]:
    """A writable cgroup v2 directory with the memory controller, or None and why not."""
    reasons = []
    for root in CGROUP2_ROOTS:
        controllers = Path(root) / "cgroup.controllers"
        if not controllers.exists():
            reasons.append(f"{root}: not a cgroup v2 hierarchy")
            continue
        if "memory" not in controllers.read_text().split():
            have = controllers.read_text().strip() or "none"
            reasons.append(f"{root}: cgroup v2 without the memory controller ({have})")
            continue
        if not os.access(root, os.W_OK):
            reasons.append(f"{root}: not writable by this user")
            continue
        return Path(root), ""
    return None, "memory.max limits are not available here: " + "; ".join(reasons)


def _limit_memory(pid: int, limit: int, name: str, root: Path) -> Path:
    cg = root / name
    cg.mkdir(exist_ok=True)
    (cg / "memory.max").write_text(str(int(limit)))
    (cg / "cgroup.procs").write_text(str(pid))
    return cg


def pin(pid: int, cpus: tuple[int, ...]) -> None:
    """Pin a process and its children to ``cpus``."""
    procs = [psutil.Process(pid)]
    procs += procs[0].children(recursive=True)
    for p in procs:
        try:
            os.sched_setaffinity(p.pid, set(cpus))
        except (ProcessLookupError, psutil.Error):
            pass


def check_cpus(cpus: tuple[int, ...], source: str) -> None:
    have = os.sched_getaffinity(0)
    bad = [c for c in cpus if c not in have]
    if bad:
        raise UserError(f"{source}: cores {bad} are not available to this process (available: {sorted(have)})")


def start_instances(work: Path, n: int, *, kind: str = "service", cpus: list[tuple[int, ...]] | None = None,
                    memory_limit_bytes: int | None = None, service_args: tuple[str, ...] = (),
                    capacity: tuple[int, float] = (4, 20.0), ready_timeout_s: float = 120.0) -> InstanceSet:
    """Start ``n`` instances (``kind`` "service" or "testserver"), each in ``work/instance-<i>``.
    ``cpus[i]``: cores for instance i (empty: not pinned). ``capacity``: (concurrency, service_ms) of
    the test server. On any failure the ones already started are stopped."""
    if not (isinstance(n, int) and n >= 1):
        raise UserError(f"instances must be an integer >= 1, got {n!r}")
    if kind not in ("service", "testserver"):
        raise UserError(f"instance kind must be 'service' or 'testserver', got {kind!r}")
    cpus = cpus or [()] * n
    if len(cpus) != n:
        raise UserError(f"cpus: need one core set per instance ({n}), got {len(cpus)}")
    for c in cpus:
        check_cpus(c, "cpus")
    out = InstanceSet()
    cg_root = None
    if memory_limit_bytes:
        cg_root, why = memory_limit_support()
        if cg_root is None:
            out.notes.append(why)
    try:
        for i in range(n):
            d = work / f"instance-{i}"
            d.mkdir(parents=True, exist_ok=True)
            if kind == "service":
                h = start_service(d, extra_args=tuple(service_args), ready_timeout_s=ready_timeout_s)
                port = int(h.url.rsplit(":", 1)[1])
                url, pid, log_path = h.url, int(h.pid or 0), h.log_path or ""
            else:
                port = free_port()
                log_path = str(d / "testserver.log")
                with open(log_path, "ab") as fh:
                    proc = subprocess.Popen(
                        [sys.executable, "-m", "perf_tasks.scale.testserver", "--port", str(port),
                         "--concurrency", str(capacity[0]), "--service-ms", str(capacity[1])],
                        stdin=subprocess.DEVNULL, stdout=fh, stderr=subprocess.STDOUT, start_new_session=True,
                        env={**os.environ, "PYTHONPATH": os.pathsep.join(
                            filter(None, [str(Path(__file__).resolve().parents[2]), os.environ.get("PYTHONPATH")]))})
                url, pid = f"http://127.0.0.1:{port}", proc.pid
                out.instances.append(Instance(i, url, port, pid, log_path=log_path))  # stopped on failure
                wait_ready(url, proc=proc, log_path=log_path, timeout_s=ready_timeout_s)
                out.instances.pop()
            if cpus[i]:
                pin(pid, cpus[i])
            limit = None
            if memory_limit_bytes and cg_root is not None:
                try:
                    out._cgroups.append(_limit_memory(pid, memory_limit_bytes, f"perf-scale-{os.getpid()}-{i}",
                                                      cg_root))
                    limit = memory_limit_bytes
                except OSError as exc:
                    out.notes.append(f"instance {i}: memory.max not applied: {exc}")
            out.instances.append(Instance(i, url, port, pid, tuple(cpus[i]), limit, log_path))
    except BaseException:
        out.stop()
        raise
    return out
