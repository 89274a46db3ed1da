"""Resource stressors: CPU, memory and disk load made by child processes, bounded, capped and
always cleaned up.

Each stressor runs in child processes of its own session (``start_new_session``), so
:meth:`ProcessStressor.stop` ends the whole group; every child also ends by itself at its
deadline (``max_duration_s``) or when its parent is gone, so a killed task leaves nothing behind
for long. A stressor measures what it achieved with psutil (:meth:`ProcessStressor.reading`):

* :class:`CpuStressor`: one worker per core, each busy ``target_pct`` % of every 100 ms period.
  Target: the host's CPU utilisation (all cores, psutil) at least ``target_pct``; achieved is the
  host's utilisation between :meth:`mark` and :meth:`reading` (the service and the load generator
  count: they are part of the load the host carries). Tolerance: achieved >= target - 5 points.
* :class:`MemoryStressor`: one child holds ``target_bytes`` of touched memory (written, so really
  resident): ``min(share * total RAM, cap_bytes, available - margin_bytes)`` at start, never more;
  while it holds, it gives memory back whenever the host's available memory falls below
  ``margin_bytes`` (other processes grew), so the OOM killer is never called by it. Achieved: its
  RSS / target. Tolerance: within 5 % (interpreter overhead, 16 MiB chunks).
* :class:`DiskStressor`: one child writes 64 KiB blocks into a file in a fresh temp dir at
  ``rate_mib_s``, ``fsync`` after each block, the file capped at ``max_bytes`` (it rewrites from
  the start), the dir removed by :meth:`stop`. Achieved: bytes written (psutil ``write_chars``) per
  second / target. Tolerance: within 10 %.

The children are ``python -I -c`` one-liners: they import nothing of this project, start in
~30 ms, and need no pickling.
"""
from __future__ import annotations

import logging
import math
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psutil

from perf_tasks.errors import UserError

log = logging.getLogger(__name__)

GiB = 2**30
MiB = 2**20
CPU_TOLERANCE_PTS = 5.0  # achieved host utilisation >= target - this
MEMORY_TOLERANCE_PCT = 5.0
DISK_TOLERANCE_PCT = 10.0

# Children stop at their deadline or when the parent that started them is gone (re-parented).
_PRELUDE = """
import os, sys, time
deadline, ppid = float(sys.argv[1]), int(sys.argv[2])
def alive():
    return time.time() < deadline and os.getppid() == ppid
"""

_CPU_CHILD = _PRELUDE + """
duty, period = float(sys.argv[3]), float(sys.argv[4])
while alive():
    t0 = time.perf_counter()
    busy_until = t0 + duty * period
    while time.perf_counter() < busy_until:
        pass
    rest = period - (time.perf_counter() - t0)
    if rest > 0:
        time.sleep(rest)
"""

_MEMORY_CHILD = _PRELUDE + """
import psutil
target, margin, chunk = int(sys.argv[3]), int(sys.argv[4]), int(sys.argv[5])
target -= psutil.Process().memory_info().rss  # the target is this process's whole RSS
held = []
while alive():
    avail = psutil.virtual_memory().available
    total = sum(len(b) for b in held)
    if avail < margin and held:
        held.pop()  # give back: the host needs it more than the test does
        print("released", flush=True)
    elif total < target and avail - chunk > margin:
        held.append(b"\\x01" * min(chunk, target - total))  # written: resident, not just reserved
        continue
    time.sleep(0.1)
"""

_DISK_CHILD = _PRELUDE + """
path, rate, max_bytes, block = sys.argv[3], float(sys.argv[4]), int(sys.argv[5]), int(sys.argv[6])
data = os.urandom(block)
fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
t0, written, offset = time.monotonic(), 0, 0
try:
    while alive():
        if offset + block > max_bytes:
            os.lseek(fd, 0, os.SEEK_SET)
            offset = 0
        os.write(fd, data)
        os.fsync(fd)
        written += block
        offset += block
        ahead = written / rate - (time.monotonic() - t0)
        if ahead > 0:
            time.sleep(ahead)
finally:
    os.close(fd)
"""


@dataclass(frozen=True)
class StressorReading:
    """What a stressor achieved since :meth:`ProcessStressor.mark` against what it aimed at."""

    kind: str
    target: float
    achieved: float
    unit: str  # of target and achieved
    achieved_pct: float  # achieved / target * 100 (CPU: host utilisation / target)
    within_tolerance: bool
    tolerance: str  # in words, e.g. "achieved >= target - 5 points"
    detail: dict[str, float]

    def describe(self) -> str:
        return (f"{self.kind} stressor reached {self.achieved:.1f} {self.unit} of {self.target:.1f} {self.unit} "
                f"({self.achieved_pct:.0f} %; tolerance: {self.tolerance})")


class ProcessStressor:
    """Children started together, stopped together. Subclasses say what the children run."""

    kind = "process"

    def __init__(self, *, max_duration_s: float) -> None:
        if not (math.isfinite(max_duration_s) and max_duration_s > 0):
            raise UserError(f"{self.kind} stressor: max_duration_s must be > 0, got {max_duration_s!r}")
        self.max_duration_s = float(max_duration_s)
        self.procs: list[subprocess.Popen[bytes]] = []
        self._t_mark = 0.0

    # subclasses
    def _commands(self) -> list[list[str]]:
        raise NotImplementedError

    def _mark(self) -> None:
        pass

    def reading(self) -> StressorReading:
        raise NotImplementedError

    def _cleanup(self) -> None:
        pass

    # shared
    def _child(self, code: str, *args: object) -> list[str]:
        deadline = time.time() + self.max_duration_s
        return [sys.executable, "-I", "-c", code, repr(deadline), str(os.getpid()), *map(str, args)]

    def start(self) -> ProcessStressor:
        if self.procs:
            raise RuntimeError(f"{self.kind} stressor already started")
        try:
            for cmd in self._commands():
                self.procs.append(subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                                   stderr=subprocess.DEVNULL, start_new_session=True))
        except BaseException:
            self.stop()
            raise
        log.info("%s stressor started: %d process(es), pids %s, at most %.0f s", self.kind, len(self.procs),
                 [p.pid for p in self.procs], self.max_duration_s)
        self.mark()
        return self

    def mark(self) -> None:
        """Start of the window :meth:`reading` measures."""
        self._t_mark = time.monotonic()
        self._mark()

    def alive(self) -> int:
        return sum(1 for p in self.procs if p.poll() is None)

    def pids(self) -> list[int]:
        return [p.pid for p in self.procs]

    def stop(self, timeout_s: float = 5.0) -> None:
        """End every child (SIGTERM to its group, SIGKILL after ``timeout_s``), reap it, clean up. Idempotent."""
        for p in self.procs:
            if p.poll() is None:
                _signal_group(p.pid, signal.SIGTERM)
        deadline = time.monotonic() + timeout_s
        for p in self.procs:
            try:
                p.wait(max(0.0, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                _signal_group(p.pid, signal.SIGKILL)
                p.wait(5.0)
        if self.procs:
            log.info("%s stressor stopped (%d process(es))", self.kind, len(self.procs))
        self.procs = []
        self._cleanup()

    def __enter__(self) -> ProcessStressor:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


def _signal_group(pid: int, sig: int) -> None:
    try:
        os.killpg(pid, sig)  # the child leads its own session/group
    except (ProcessLookupError, PermissionError):
        pass


def _cpu_seconds(pids: list[int]) -> float:
    total = 0.0
    for pid in pids:
        try:
            t = psutil.Process(pid).cpu_times()
            total += t.user + t.system
        except psutil.Error:
            pass
    return total


class CpuStressor(ProcessStressor):
    kind = "cpu"

    def __init__(self, target_pct: float, *, max_duration_s: float, workers: int | None = None,
                 period_s: float = 0.1) -> None:
        super().__init__(max_duration_s=max_duration_s)
        if not (isinstance(target_pct, (int, float)) and 0 < target_pct <= 100):
            raise UserError(f"cpu stressor: target_pct must be within (0, 100], got {target_pct!r}")
        self.target_pct = float(target_pct)
        self.workers = workers or (psutil.cpu_count() or 1)
        self.period_s = period_s
        self._cpu0 = 0.0
        self._host0: Any = None

    def _commands(self) -> list[list[str]]:
        return [self._child(_CPU_CHILD, self.target_pct / 100.0, self.period_s) for _ in range(self.workers)]

    def _mark(self) -> None:
        self._host0 = psutil.cpu_times()  # our own reference: psutil.cpu_percent(None)'s is shared per thread
        self._cpu0 = _cpu_seconds(self.pids())

    def reading(self) -> StressorReading:
        host = host_busy_pct(self._host0, psutil.cpu_times())
        wall = max(1e-6, time.monotonic() - self._t_mark)
        own = 100.0 * (_cpu_seconds(self.pids()) - self._cpu0) / (wall * (psutil.cpu_count() or 1))
        return StressorReading("cpu", self.target_pct, host, "% host CPU", 100.0 * host / self.target_pct,
                               host >= self.target_pct - CPU_TOLERANCE_PTS,
                               f"host CPU >= target - {CPU_TOLERANCE_PTS:g} points",
                               {"own_cpu_pct": round(own, 1), "host_cpu_pct": round(host, 1),
                                "workers": self.workers})


def host_busy_pct(t0: Any, t1: Any) -> float:
    """Host CPU busy % (all cores) between two ``psutil.cpu_times()`` readings (idle and iowait are idle)."""
    def idle(t: Any) -> float:
        return t.idle + getattr(t, "iowait", 0.0)

    total = sum(t1) - sum(t0) - (getattr(t1, "guest", 0.0) - getattr(t0, "guest", 0.0)) \
        - (getattr(t1, "guest_nice", 0.0) - getattr(t0, "guest_nice", 0.0))
    if total <= 0:
        return 0.0
    return max(0.0, min(100.0, 100.0 * (total - (idle(t1) - idle(t0))) / total))


def memory_target_bytes(share: float, cap_bytes: int, margin_bytes: int) -> int:
    """``min(share * total RAM, cap, available - margin)``, never below 0."""
    vm = psutil.virtual_memory()
    return max(0, int(min(share * vm.total, cap_bytes, vm.available - margin_bytes)))


class MemoryStressor(ProcessStressor):
    kind = "memory"
    CHUNK = 16 * MiB

    def __init__(self, share: float, *, cap_bytes: int, margin_bytes: int, max_duration_s: float) -> None:
        super().__init__(max_duration_s=max_duration_s)
        if not (isinstance(share, (int, float)) and 0 < share <= 0.9):
            raise UserError(f"memory stressor: share of RAM must be within (0, 0.9], got {share!r}")
        if not (isinstance(cap_bytes, int) and cap_bytes > 0):
            raise UserError(f"memory stressor: cap_bytes must be a positive integer, got {cap_bytes!r}")
        if not (isinstance(margin_bytes, int) and margin_bytes >= 256 * MiB):
            raise UserError(f"memory stressor: margin_bytes must be >= 256 MiB, got {margin_bytes!r}")
        self.share, self.cap_bytes, self.margin_bytes = float(share), cap_bytes, margin_bytes
        self.target_bytes = 0

    def _commands(self) -> list[list[str]]:
        self.target_bytes = memory_target_bytes(self.share, self.cap_bytes, self.margin_bytes)
        if self.target_bytes < self.CHUNK:
            raise UserError(f"memory stressor: only {psutil.virtual_memory().available / GiB:.1f} GiB available, "
                            f"less than the margin {self.margin_bytes / GiB:.1f} GiB plus one chunk: refusing to "
                            f"add pressure")
        return [self._child(_MEMORY_CHILD, self.target_bytes, self.margin_bytes, self.CHUNK)]

    def wait_filled(self, timeout_s: float = 30.0) -> float:
        """Wait until the child holds its target (or stops growing); returns seconds waited."""
        t0 = time.monotonic()
        last, still = -1, 0
        while time.monotonic() - t0 < timeout_s and self.alive():
            rss = self._rss()
            if rss >= self.target_bytes:
                break
            still = still + 1 if rss == last else 0
            if still >= 10:  # 1 s without growth: the margin stopped it
                break
            last = rss
            time.sleep(0.1)
        self.mark()
        return time.monotonic() - t0

    def _rss(self) -> int:
        total = 0
        for pid in self.pids():
            try:
                total += psutil.Process(pid).memory_info().rss
            except psutil.Error:
                pass
        return total

    def reading(self) -> StressorReading:
        rss = self._rss()
        pct = 100.0 * rss / self.target_bytes if self.target_bytes else 0.0
        return StressorReading("memory", self.target_bytes / MiB, rss / MiB, "MiB", pct,
                               abs(pct - 100.0) <= MEMORY_TOLERANCE_PCT,
                               f"RSS within {MEMORY_TOLERANCE_PCT:g} % of target",
                               {"rss_bytes": rss, "target_bytes": self.target_bytes,
                                "host_available_bytes": psutil.virtual_memory().available,
                                "margin_bytes": self.margin_bytes})


class DiskStressor(ProcessStressor):
    kind = "disk"
    BLOCK = 64 * 1024

    def __init__(self, rate_mib_s: float, *, max_bytes: int, max_duration_s: float,
                 parent_dir: Path | None = None) -> None:
        super().__init__(max_duration_s=max_duration_s)
        if not (isinstance(rate_mib_s, (int, float)) and math.isfinite(rate_mib_s) and rate_mib_s > 0):
            raise UserError(f"disk stressor: rate_mib_s must be > 0, got {rate_mib_s!r}")
        if not (isinstance(max_bytes, int) and self.BLOCK <= max_bytes <= 8 * GiB):
            raise UserError(f"disk stressor: max_bytes must be within [64 KiB, 8 GiB], got {max_bytes!r}")
        where = Path(parent_dir or tempfile.gettempdir())
        while not where.exists() and where != where.parent:  # created at start: ask its nearest existing parent
            where = where.parent
        free = shutil.disk_usage(where).free
        if max_bytes > free // 4:
            raise UserError(f"disk stressor: max_bytes {max_bytes / MiB:.0f} MiB is more than a quarter of the "
                            f"{free / MiB:.0f} MiB free there: refusing")
        self.rate_mib_s, self.max_bytes, self.parent_dir = float(rate_mib_s), max_bytes, parent_dir
        self.dir: Path | None = None
        self._chars0 = 0

    def _commands(self) -> list[list[str]]:
        if self.parent_dir is not None:
            self.parent_dir.mkdir(parents=True, exist_ok=True)
        self.dir = Path(tempfile.mkdtemp(prefix="perf-disk-stress-", dir=self.parent_dir))
        return [self._child(_DISK_CHILD, self.dir / "load.bin", self.rate_mib_s * MiB, self.max_bytes, self.BLOCK)]

    def _written(self) -> int:
        total = 0
        for pid in self.pids():
            try:
                total += psutil.Process(pid).io_counters().write_chars
            except (psutil.Error, AttributeError):
                pass
        return total

    def _mark(self) -> None:
        self._chars0 = self._written()

    def reading(self) -> StressorReading:
        wall = max(1e-6, time.monotonic() - self._t_mark)
        rate = (self._written() - self._chars0) / wall / MiB
        pct = 100.0 * rate / self.rate_mib_s
        return StressorReading("disk", self.rate_mib_s, rate, "MiB/s", pct, abs(pct - 100.0) <= DISK_TOLERANCE_PCT,
                               f"write rate within {DISK_TOLERANCE_PCT:g} % of target (fsync per 64 KiB block)",
                               {"max_bytes": self.max_bytes, "fsync_per_s": round(rate * MiB / self.BLOCK, 1)})

    def _cleanup(self) -> None:
        if self.dir is not None:
            shutil.rmtree(self.dir, ignore_errors=True)
            self.dir = None
