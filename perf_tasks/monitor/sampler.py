"""Background resource sampler: psutil readings of a process and the host at a fixed rate.

Start it around a measured region; the summary and the time series come back from
:meth:`ResourceSampler.stop`. It runs as a thread of the measured process, so a benchmark that
holds the GIL delays it: the number of samples actually taken is recorded (``samples``), and the
per-sample work is kept to four cheap readings.
"""
from __future__ import annotations

import logging
import os
import threading
import time
from dataclasses import dataclass

import psutil

from perf_tasks.results import ResourceSummary

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Sample:
    t_s: float  # seconds since the sampler started
    process_cpu_pct: float  # may exceed 100 on several cores
    rss_bytes: int
    system_cpu_pct: float
    system_memory_pct: float


@dataclass(frozen=True)
class IoTotals:
    """Host disk and network bytes moved between start and stop (read at both ends only: the
    counters are cumulative, and reading them per sample would cost the sampled process GIL time)."""

    disk_read_bytes: int = 0
    disk_write_bytes: int = 0
    net_sent_bytes: int = 0
    net_recv_bytes: int = 0


@dataclass(frozen=True)
class SamplerOutput:
    summary: ResourceSummary
    series: tuple[Sample, ...]


def _disk_counters() -> tuple[int, int]:
    c = psutil.disk_io_counters()
    return (c.read_bytes, c.write_bytes) if c else (0, 0)


def _net_counters() -> tuple[int, int]:
    c = psutil.net_io_counters()
    return (c.bytes_sent, c.bytes_recv) if c else (0, 0)


class ResourceSampler:
    """Samples ``pid`` (default: this process) and the host every ``interval_s`` seconds."""

    def __init__(self, interval_s: float = 0.1, pid: int | None = None) -> None:
        if not interval_s > 0:
            raise ValueError(f"sampler interval_s must be > 0, got {interval_s!r}")
        self.interval_s = float(interval_s)
        self.pid = pid if pid is not None else os.getpid()
        self._samples: list[Sample] = []
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> ResourceSampler:
        if self._thread is not None:
            raise RuntimeError("sampler already started")
        self._proc = psutil.Process(self.pid)
        self._proc.cpu_percent(None)  # prime: the first reading is always 0
        psutil.cpu_percent(None)
        self._disk0 = _disk_counters()
        self._net0 = _net_counters()
        self._t0 = time.perf_counter()
        self._thread = threading.Thread(target=self._loop, name="resource-sampler", daemon=True)
        self._thread.start()
        return self

    def _take(self) -> Sample:
        if self._proc.status() == psutil.STATUS_ZOMBIE:  # exited, not yet reaped: gone, not "using nothing"
            raise psutil.NoSuchProcess(self._proc.pid, msg="exited (a zombie, not yet reaped)")
        return Sample(
            t_s=time.perf_counter() - self._t0,
            process_cpu_pct=self._proc.cpu_percent(None),
            rss_bytes=self._proc.memory_info().rss,
            system_cpu_pct=psutil.cpu_percent(None),
            system_memory_pct=psutil.virtual_memory().percent,
        )

    def _loop(self) -> None:
        while not self._stop.wait(self.interval_s):
            try:
                self._samples.append(self._take())
            except psutil.Error as exc:  # the process went away: stop, keep what we have
                log.warning("resource sampler stopped: %s", exc)
                return

    def stop(self) -> SamplerOutput:
        if self._thread is None:
            raise RuntimeError("sampler was not started")
        self._stop.set()
        self._thread.join()
        try:
            self._samples.append(self._take())  # always at least one sample, even for short runs
        except psutil.Error:
            pass
        disk, net = _disk_counters(), _net_counters()
        io = IoTotals(disk[0] - self._disk0[0], disk[1] - self._disk0[1], net[0] - self._net0[0],
                      net[1] - self._net0[1])
        return SamplerOutput(summary=summarize_samples(self._samples, self.interval_s, io),
                             series=tuple(self._samples))


def summarize_samples(samples: list[Sample] | tuple[Sample, ...], interval_s: float,
                      io: IoTotals | None = None) -> ResourceSummary:
    """Pure summary of a sample series (empty series -> zeros with samples=0)."""
    io = io or IoTotals()
    if not samples:
        return ResourceSummary(0, interval_s, 0.0, 0.0, 0, 0.0, 0.0, io.disk_read_bytes, io.disk_write_bytes,
                               io.net_sent_bytes, io.net_recv_bytes)
    n = len(samples)
    return ResourceSummary(
        samples=n,
        interval_s=interval_s,
        process_cpu_pct_mean=sum(s.process_cpu_pct for s in samples) / n,
        process_cpu_pct_max=max(s.process_cpu_pct for s in samples),
        rss_max_bytes=max(s.rss_bytes for s in samples),
        system_cpu_pct_mean=sum(s.system_cpu_pct for s in samples) / n,
        system_memory_pct_max=max(s.system_memory_pct for s in samples),
        disk_read_bytes=io.disk_read_bytes,
        disk_write_bytes=io.disk_write_bytes,
        net_sent_bytes=io.net_sent_bytes,
        net_recv_bytes=io.net_recv_bytes,
    )
