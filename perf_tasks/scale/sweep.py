"""The load sweep at one size: open-model points at multiples of a base rate, then a bisection,
finding the knee: the highest throughput at which the latency target (p99 of every arrival, from
its intended send time) and the error-rate target still hold.

A point where the load generator was the limit (``GeneratorHealth.verdict == "saturated"``, or an
invalid load result) is *invalid*: it is kept in the result with its reason, excluded from the knee
and from every model, and the sweep stops there (a higher rate would not be more trustworthy).
Each point records the resources of the instances, the balancer and the host (psutil, sampled
here), the requests each instance served (the balancer's own counters) and a bottleneck verdict
(:mod:`perf_tasks.scale.bottleneck`).
"""
from __future__ import annotations

import logging
import math
import os
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import psutil

from perf_tasks.load.journey import JourneySpec, StepSpec
from perf_tasks.load.plan import LoadPlan
from perf_tasks.load.runner import run_sharded
from perf_tasks.load.live_push import run_plan_live
from perf_tasks.load.safety import DEFAULT_ALLOWLIST
from perf_tasks.scale.bottleneck import Verdict, bottleneck

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class SweepTargets:
    p99_ms: float  # p99 of every arrival (errors and drops at their wait), ms
    error_rate_pct: float = 1.0

    def __post_init__(self) -> None:
        for name in ("p99_ms", "error_rate_pct"):
            v = getattr(self, name)
            if not (isinstance(v, (int, float)) and math.isfinite(v) and v > 0):
                raise ValueError(f"sweep target {name} must be a positive number, got {v!r}")


@dataclass(frozen=True)
class Point:
    rate_per_s: float  # intended (offered) rate
    multiplier: float  # of the base rate
    throughput_per_s: float  # successful responses per second
    p50_ms: float
    p99_ms: float
    error_rate_pct: float
    requests: int
    valid: bool
    invalid_reason: str = ""
    meets_targets: bool = False
    missed: str = ""  # which target was missed, with the numbers
    generator: str = "unknown"  # ok | saturated | unknown
    resources: dict[str, float] = field(default_factory=dict)
    per_instance: dict[str, int] = field(default_factory=dict)  # instance -> requests it served in this point
    bottleneck: str = ""
    bottleneck_reason: str = ""


@dataclass(frozen=True)
class Knee:
    status: str  # found | beyond_sweep | below_base | generator_limited | no_valid_points
    throughput_per_s: float  # the knee: highest throughput of a valid point meeting the targets (0: none)
    rate_per_s: float  # its offered rate
    p99_ms: float
    bracket: tuple[float, float]  # (last passing rate, first failing rate); 0 where none
    points: tuple[Point, ...]
    note: str
    limited_by: str = ""  # bottleneck verdict of the first failing valid point (what stopped the growth)
    limited_reason: str = ""


class MultiSampler:
    """CPU and memory of a set of processes (with their children) and the host, every ``interval_s``."""

    def __init__(self, groups: dict[str, list[int]], interval_s: float = 0.25) -> None:
        self.groups = groups
        self.interval_s = interval_s
        self._procs: dict[str, list[psutil.Process]] = {}
        self._cpu: dict[str, list[float]] = {g: [] for g in groups}
        self._rss: dict[str, int] = {g: 0 for g in groups}
        self._sys: list[float] = []
        self._mem: list[float] = []
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def _collect(self) -> None:
        for g, pids in self.groups.items():
            procs = []
            for pid in pids:
                try:
                    p = psutil.Process(pid)
                    procs.append(p)
                    procs.extend(p.children(recursive=True))
                except psutil.Error:
                    continue
            for p in procs:
                try:
                    p.cpu_percent(None)
                except psutil.Error:
                    pass
            self._procs[g] = procs

    def _io(self) -> tuple[int, int, int]:
        disk = 0
        for procs in self._procs.values():
            for p in procs:
                try:
                    c = p.io_counters()
                    disk += c.read_bytes + c.write_bytes
                except (psutil.Error, AttributeError):
                    pass
        net = psutil.net_io_counters()
        return disk, (net.bytes_sent + net.bytes_recv) if net else 0, 0

    def _schedstat(self, group: str) -> tuple[int, int] | None:
        """(ns on a CPU, ns runnable but waiting for one) summed over the group's threads (Linux
        ``/proc/<pid>/task/*/schedstat``); None where unreadable."""
        run = wait = 0
        for p in self._procs.get(group, []):
            try:
                for task in os.listdir(f"/proc/{p.pid}/task"):
                    with open(f"/proc/{p.pid}/task/{task}/schedstat") as fh:
                        fields = fh.read().split()
                    run, wait = run + int(fields[0]), wait + int(fields[1])
            except FileNotFoundError:
                continue  # the process or thread ended
            except (OSError, ValueError, IndexError):
                return None
        return run, wait

    def start(self) -> MultiSampler:
        self._collect()
        psutil.cpu_percent(None)
        self._io0 = self._io()
        self._sched0 = self._schedstat("service")
        self._t0 = time.monotonic()
        self._thread = threading.Thread(target=self._loop, daemon=True, name="scale-sampler")
        self._thread.start()
        return self

    def _loop(self) -> None:
        while not self._stop.wait(self.interval_s):
            for g, procs in self._procs.items():
                total, rss = 0.0, 0
                for p in procs:
                    try:
                        total += p.cpu_percent(None)
                        rss += p.memory_info().rss
                    except psutil.Error:
                        pass
                self._cpu[g].append(total)
                self._rss[g] = max(self._rss[g], rss)
            self._sys.append(psutil.cpu_percent(None))
            self._mem.append(psutil.virtual_memory().percent)

    def stop(self) -> dict[str, float]:
        self._stop.set()
        if self._thread:
            self._thread.join()
        elapsed = max(1e-9, time.monotonic() - self._t0)
        io1 = self._io()
        out: dict[str, float] = {}
        for g, vals in self._cpu.items():
            out[f"{g}_cpu_pct_mean"] = round(sum(vals) / len(vals), 1) if vals else 0.0
            out[f"{g}_cpu_pct_max"] = round(max(vals), 1) if vals else 0.0
            out[f"{g}_rss_max_bytes"] = float(self._rss[g])
        out["system_cpu_pct_mean"] = round(sum(self._sys) / len(self._sys), 1) if self._sys else 0.0
        out["system_memory_pct_max"] = max(self._mem) if self._mem else 0.0
        out["process_disk_bytes_per_s"] = round((io1[0] - self._io0[0]) / elapsed, 1)
        out["host_net_bytes_per_s"] = round((io1[1] - self._io0[1]) / elapsed, 1)
        sched1 = self._schedstat("service")
        if self._sched0 is not None and sched1 is not None and "service" in self._procs:
            run, wait = sched1[0] - self._sched0[0], sched1[1] - self._sched0[1]
            # share of the time the instances wanted a CPU that they spent waiting for one
            out["service_cpu_wait_share_pct"] = round(100.0 * wait / (run + wait), 1) if run + wait > 0 else 0.0
            out["service_cpu_wait_pct"] = round(100.0 * wait / (elapsed * 1e9), 1)  # % of one core's time
        out["samples"] = float(len(self._sys))
        return out


def simple_journey(path: str = "/", method: str = "GET") -> JourneySpec:
    step = StepSpec(name="request", method=method, path=path)  # type: ignore[arg-type]
    return JourneySpec(mode="sequence", steps=[step])


@dataclass(frozen=True)
class PointSettings:
    """How one point runs: everything but the rate."""

    target_url: str
    journey: JourneySpec
    journey_name: str = "scale"
    duration_s: float = 5.0
    users: int = 256  # max requests in flight
    arrival: str = "poisson"
    timeout_s: float = 5.0
    seed: int = 0
    allow: tuple[str, ...] = DEFAULT_ALLOWLIST
    service_pids: tuple[int, ...] = ()
    balancer_pids: tuple[int, ...] = ()
    database_pids: tuple[int, ...] = ()
    service_cores: float = 1.0  # cores the instances may use together
    host_cores: int = 0  # 0: os.cpu_count()
    memory_limit_bytes: int | None = None
    stats: Callable[[], dict[str, int]] | None = None  # instance -> requests served so far (balancer counters)
    generator_shards: int = 1  # load processes per point (their schedules interleave; results merge exactly)


def run_point(settings: PointSettings, rate: float, targets: SweepTargets, *, base_rate: float = 0.0) -> Point:
    s = settings
    plan = LoadPlan(scenario=f"scale@{rate:.1f}", target_url=s.target_url, journey_name=s.journey_name,
                    journey=s.journey, duration_s=s.duration_s, users=s.users, model="open", rate_per_s=rate,
                    arrival=s.arrival, timeout_s=s.timeout_s, seed=s.seed, allow=s.allow,  # type: ignore[arg-type]
                    max_requests=int(max(1000, 2 * rate * s.duration_s + 100)), use_uvloop=True)
    before = s.stats() if s.stats else {}
    groups = {"service": list(s.service_pids), "balancer": list(s.balancer_pids), "database": list(s.database_pids)}
    sampler = MultiSampler({g: p for g, p in groups.items() if p}).start()
    try:
        res = run_sharded(plan, s.generator_shards) if s.generator_shards > 1 else run_plan_live(plan)
    finally:
        resources = sampler.stop()
    after = s.stats() if s.stats else {}
    per_instance = {k: int(after.get(k, 0) - before.get(k, 0)) for k in after}
    gen = res.generator.verdict if res.generator else "unknown"
    invalid = ""
    if res.generator is not None and res.generator.verdict == "saturated":
        invalid = res.generator.reason
    elif res.invalid_reason:
        invalid = res.invalid_reason
    lat = res.latency_all or res.latency
    p99 = lat.p99_ms if lat and lat.count else math.inf
    p50 = lat.p50_ms if lat and lat.count else math.inf
    missed = []
    if p99 > targets.p99_ms:
        missed.append(f"p99 {p99:.1f} ms > {targets.p99_ms:g} ms")
    if res.error_rate_pct > targets.error_rate_pct:
        missed.append(f"error rate {res.error_rate_pct:.2f} % > {targets.error_rate_pct:g} %")
    if res.generator is not None:
        resources["generator_cpu_pct_mean"] = (max(res.generator.cpu_pct_per_process)
                                               if res.generator.cpu_pct_per_process else 0.0)
        resources["generator_late_sends_pct"] = round(res.generator.late_sends_pct, 2)
        resources["generator_achieved_pct"] = round(res.generator.achieved_pct, 1)
    v: Verdict = bottleneck(resources, generator_saturated=gen == "saturated", generator_reason=invalid,
                            service_cores=s.service_cores, host_cores=s.host_cores or (psutil.cpu_count() or 1),
                            memory_limit_bytes=s.memory_limit_bytes, missed=bool(missed))
    point = Point(rate_per_s=round(rate, 3), multiplier=round(rate / base_rate, 3) if base_rate else 0.0,
                  throughput_per_s=round(res.throughput_per_s, 2), p50_ms=p50, p99_ms=p99,
                  error_rate_pct=round(res.error_rate_pct, 3), requests=res.requests, valid=not invalid,
                  invalid_reason=invalid, meets_targets=not invalid and not missed, missed="; ".join(missed),
                  generator=gen, resources=resources, per_instance=per_instance, bottleneck=v.verdict,
                  bottleneck_reason=v.reason)
    log.info("point %.1f/s: throughput %.1f/s p99 %.1f ms err %.2f %% %s%s [%s]", rate, point.throughput_per_s,
             p99, point.error_rate_pct, "valid" if point.valid else "INVALID",
             f" missed: {point.missed}" if point.missed else "", point.bottleneck)
    return point


def find_knee(probe: Callable[[float], Point], base_rate: float, multipliers: Sequence[float] = tuple(range(1, 11)),
              *, refine_pct: float = 5.0, max_refine: int = 4, retry_invalid: int = 1, confirm_misses: int = 1) -> Knee:
    """Probe ``base_rate * m`` for rising ``multipliers`` until a valid point misses a target (or an
    invalid point stops the sweep), then bisect between the last passing and the first failing rate
    until they are within ``refine_pct`` % (at most ``max_refine`` more points).

    On a shared host a point can be spoiled by other work: an invalid point is retried up to
    ``retry_invalid`` times, and a miss is confirmed by up to ``confirm_misses`` reruns (the rate
    passes if any run passes); every run is kept in ``points``."""
    if not (math.isfinite(base_rate) and base_rate > 0):
        raise ValueError(f"base_rate must be > 0 requests/s, got {base_rate!r}")
    ms = sorted(float(m) for m in multipliers)
    if not ms or ms[0] <= 0:
        raise ValueError(f"multipliers must be positive, got {list(multipliers)!r}")
    points: list[Point] = []
    lo = hi = 0.0
    stop_invalid: Point | None = None

    def measure(rate: float) -> Point:
        p = probe(rate)
        points.append(p)
        for _ in range(retry_invalid):
            if p.valid:
                break
            p = probe(rate)
            points.append(p)
        for _ in range(confirm_misses):
            if not p.valid or p.meets_targets:
                break
            p2 = probe(rate)
            points.append(p2)
            if p2.valid and p2.meets_targets:
                p = p2
        return p

    for m in ms:
        p = measure(base_rate * m)
        if not p.valid:
            stop_invalid = p
            break
        if not p.meets_targets:
            hi = p.rate_per_s
            break
        lo = p.rate_per_s
    if lo and hi:
        for _ in range(max_refine):
            if (hi - lo) / lo * 100.0 <= refine_pct:
                break
            p = measure((lo + hi) / 2.0)
            if not p.valid:
                stop_invalid = p
                break
            if p.meets_targets:
                lo = p.rate_per_s
            else:
                hi = p.rate_per_s
    passing = [p for p in points if p.valid and p.meets_targets]
    passed_rates = {p.rate_per_s for p in passing}
    failing = sorted((p for p in points if p.valid and not p.meets_targets and p.rate_per_s not in passed_rates),
                     key=lambda p: p.rate_per_s)
    best = max(passing, key=lambda p: p.throughput_per_s) if passing else None
    first_fail = failing[0] if failing else None
    if not any(p.valid for p in points):
        status, note = "no_valid_points", f"every point was invalid: {points[0].invalid_reason}"
    elif stop_invalid is not None:
        status = "generator_limited"
        note = (f"the sweep stopped at {stop_invalid.rate_per_s:g}/s: that point is invalid "
                f"({stop_invalid.invalid_reason}); the knee is at least {best.throughput_per_s if best else 0:g}/s")
    elif best is None:
        status, note = "below_base", (f"already the first point ({points[0].rate_per_s:g}/s) missed its targets "
                                      f"({points[0].missed}): lower the base rate")
    elif first_fail is None:
        status, note = "beyond_sweep", (f"every point met its targets up to {best.rate_per_s:g}/s: the knee is beyond "
                                        f"the sweep (raise the base rate or the multipliers)")
    else:
        status, note = "found", (f"knee between {lo:g}/s (met the targets) and {hi:g}/s ({first_fail.missed})")
    return Knee(status, best.throughput_per_s if best else 0.0, best.rate_per_s if best else 0.0,
                best.p99_ms if best else math.inf, (lo, hi), tuple(points), note,
                first_fail.bottleneck if first_fail else (stop_invalid and "generator") or "",
                first_fail.bottleneck_reason if first_fail else (stop_invalid.invalid_reason if stop_invalid else ""))


def sweep(settings: PointSettings, targets: SweepTargets, base_rate: float,
          multipliers: Sequence[float] = tuple(range(1, 11)), **knee_options: Any) -> Knee:
    return find_knee(lambda r: run_point(settings, r, targets, base_rate=base_rate), base_rate, multipliers,
                     **knee_options)

