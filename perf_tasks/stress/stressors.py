"""The resource stressor scenarios (spec §3.1 "Resource Exhaustion"), by name: ``STRESSORS[name](ctx)``.

Every scenario runs the same open-model load against the service twice in one task, unstressed
and then stressed (:mod:`perf_tasks.stress.degrade`), and returns the degradation, the service's
resources and the stability verdict as one benchmark of suite ``stress``:

==================  ====================================================================================
cpu_saturation      CPU workers on every core, duty cycle ``target_pct`` (90 % x intensity) of the host
memory_pressure     one process holding ``share`` (0.5 x intensity) of RAM, capped, a margin kept free
disk_io             fsync after every 64 KiB write at ``rate_mib_s`` (32 x intensity), file size-capped
net_latency         the load goes through the fault proxy; +``latency_ms`` (50 x intensity) each way, jitter
net_bandwidth       the proxy's link limited to (1 - ``cut`` x intensity) of the unstressed window's bytes/s
net_resets          ``reset_pct`` (5 x intensity) of requests answered by a TCP reset
net_blackhole       nothing forwarded for ``blackhole_s`` in the middle of the window, then restored
==================  ====================================================================================

Network scenarios send *both* windows through the fault proxy (clean in the unstressed one), so
the proxy's own cost is not counted as degradation. Parameters by profile (below, ``DEFAULTS``)
can be overridden in ``config/stress.yaml`` (``<scenario>.profiles.<profile>``); targets come from
``<scenario>.targets`` (perf_tasks.stress.outcome). Each stressor states its tolerance
(perf_tasks.stress.resources; the network ones here) and a miss marks the degradation invalid.
"""
from __future__ import annotations

import logging
import math
import threading
import time
import urllib.request
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any
from urllib.parse import urlsplit

from perf_tasks.errors import ConfigError
from perf_tasks.results import BenchmarkResult, Metric
from perf_tasks.stress.base import SUITE, StressContext
from perf_tasks.stress.degrade import (
    DEFAULT_HEALTH_PATH,
    DEFAULT_JOURNEY,
    LoadWindow,
    health_path_of,
    journey_of,
    journeys_path_of,
    degradation_result,
    probe_stability,
    run_window,
    service_for,
)
from perf_tasks.stress.faultproxy import FaultProxy, Faults
from perf_tasks.stress.outcome import params_for, target_for
from perf_tasks.stress.resources import (
    MiB,
    CpuStressor,
    DiskStressor,
    MemoryStressor,
    ProcessStressor,
    StressorReading,
)

log = logging.getLogger(__name__)

# The load of each window, by profile: smoke sends ~250 requests per window (a p95 needs 200).
_LOAD = {"smoke": {"rate_per_s": 25.0, "duration_s": 10.0, "settle_s": 1.0},
         "standard": {"rate_per_s": 50.0, "duration_s": 60.0, "settle_s": 3.0},
         "full": {"rate_per_s": 100.0, "duration_s": 300.0, "settle_s": 5.0}}


def _by_profile(**per: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {p: {**_LOAD[p], **per.get(p, per.get("all", {}))} for p in _LOAD}


DEFAULTS: dict[str, dict[str, dict[str, Any]]] = {
    "cpu_saturation": _by_profile(all={"target_pct": 90.0}),
    "memory_pressure": _by_profile(smoke={"share": 0.5, "cap_mib": 1024, "margin_mib": 2048},
                                   standard={"share": 0.5, "cap_mib": 8192, "margin_mib": 2048},
                                   full={"share": 0.7, "cap_mib": 65536, "margin_mib": 2048}),
    "disk_io": _by_profile(smoke={"rate_mib_s": 32.0, "max_mib": 256},
                           standard={"rate_mib_s": 32.0, "max_mib": 1024},
                           full={"rate_mib_s": 32.0, "max_mib": 4096}),
    "net_latency": _by_profile(all={"latency_ms": 50.0, "jitter_ms": 10.0}),
    "net_bandwidth": _by_profile(all={"cut": 0.5}),
    "net_resets": _by_profile(all={"reset_pct": 5.0}),
    "net_blackhole": _by_profile(smoke={"blackhole_s": 3.0}, standard={"blackhole_s": 10.0},
                                 full={"blackhole_s": 30.0}),
}
LATENCY_TOLERANCE = (0.2, 5.0)  # added round trip within 20 % or 5 ms of 2 x latency_ms
# the stressed window's bytes/s within these % of the limit (the 16 KiB burst adds a little over it)
BANDWIDTH_FILL_PCT = (80.0, 120.0)
PROBES = 10


def _window(p: dict[str, Any], journey: str = DEFAULT_JOURNEY) -> LoadWindow:
    return LoadWindow(rate_per_s=p["rate_per_s"], duration_s=p["duration_s"], journey=journey)


def _check_intensity(ctx: StressContext) -> float:
    x = ctx.intensity
    if not (isinstance(x, (int, float)) and math.isfinite(x) and 0 < x <= 1):
        raise ConfigError(f"scenario {ctx.name!r}: intensity must be within (0, 1], got {x!r}")
    return float(x)


class _Stress:
    """What a scenario does around the two windows; the default drives the service directly."""

    health_path: str = DEFAULT_HEALTH_PATH  # the system's health path (set per run by _degrade)

    def url(self, service_url: str) -> str:
        return service_url

    def start(self) -> None: ...

    def mark(self) -> None: ...

    def reading(self) -> StressorReading | None:
        return None

    def stop(self) -> None: ...

    def extra(self, ctx: StressContext, stressed: Any) -> tuple[Metric, ...]:
        """Scenario-specific metrics, given the stressed window's LoadResult."""
        return ()


class _ProcessStress(_Stress):
    def __init__(self, make: Callable[[], ProcessStressor]) -> None:
        self.make = make
        self.stressor: ProcessStressor | None = None

    def start(self) -> None:
        self.stressor = self.make().start()
        if isinstance(self.stressor, MemoryStressor):
            self.stressor.wait_filled()

    def mark(self) -> None:
        assert self.stressor is not None
        self.stressor.mark()

    def reading(self) -> StressorReading | None:
        return self.stressor.reading() if self.stressor else None

    def stop(self) -> None:
        if self.stressor is not None:
            self.stressor.stop()


def _get_ms(url: str, timeout_s: float = 2.0) -> float:
    t0 = time.perf_counter()
    with urllib.request.urlopen(url, timeout=timeout_s) as resp:
        resp.read()
    return 1000.0 * (time.perf_counter() - t0)


def _median(xs: list[float]) -> float:
    s = sorted(xs)
    return s[len(s) // 2]


class _NetStress(_Stress):
    """Both windows through a fault proxy in front of the service; ``faults`` during the stressed one."""

    def __init__(self, faults: Faults, seed: int) -> None:
        self.faults = faults
        self.proxy: FaultProxy | None = None
        self.seed = seed
        self.service_url = ""
        self._t_mark = 0.0
        self._stats0: Any = None

    @contextmanager
    def around(self, service_url: str) -> Iterator[str]:
        parts = urlsplit(service_url)
        self.service_url = service_url
        self.proxy = FaultProxy(parts.hostname or "127.0.0.1", parts.port or 80, seed=self.seed).start()
        try:
            yield self.proxy.url
        finally:
            self.proxy.stop()

    def start(self) -> None:
        assert self.proxy is not None
        self.proxy.set_faults(self.faults)

    def mark(self) -> None:
        assert self.proxy is not None
        self._t_mark = time.monotonic()
        self._stats0 = self.proxy.stats()

    def stop(self) -> None:
        if self.proxy is not None:
            self.proxy.clear()


class _LatencyStress(_NetStress):
    def start(self) -> None:
        assert self.proxy is not None
        self.direct_ms = _median([_get_ms(self.service_url + self.health_path) for _ in range(PROBES)])
        super().start()
        self.proxied_ms = _median([_get_ms(self.proxy.url + self.health_path) for _ in range(PROBES)])

    def reading(self) -> StressorReading:
        want = 2.0 * self.faults.latency_ms
        added = self.proxied_ms - self.direct_ms
        rel, abs_ms = LATENCY_TOLERANCE
        ok = abs(added - want) <= max(rel * want, abs_ms)
        return StressorReading("net_latency", want, added, "ms added per round trip",
                               100.0 * added / want if want else 100.0, ok,
                               f"within {rel * 100:g} % or {abs_ms:g} ms of 2 x latency_ms (median of {PROBES} probes)",
                               {"direct_ms": round(self.direct_ms, 2), "proxied_ms": round(self.proxied_ms, 2),
                                "jitter_ms": self.faults.jitter_ms})


class _BandwidthStress(_NetStress):
    def __init__(self, cut: float, seed: int) -> None:
        super().__init__(Faults(), seed)
        self.cut = cut
        self.limit = 0.0
        self._baseline_t0 = 0.0
        self._baseline_stats: Any = None

    def begin_baseline(self) -> None:
        assert self.proxy is not None
        self._baseline_t0, self._baseline_stats = time.monotonic(), self.proxy.stats()

    def start(self) -> None:
        assert self.proxy is not None
        wall = max(1e-6, time.monotonic() - self._baseline_t0)
        rate = (self.proxy.stats().bytes_to_client - self._baseline_stats.bytes_to_client) / wall
        self.limit = max(1024.0, rate * (1.0 - self.cut))
        self.faults = Faults(bandwidth_bytes_per_s=self.limit)
        super().start()

    def reading(self) -> StressorReading:
        assert self.proxy is not None
        wall = max(1e-6, time.monotonic() - self._t_mark)
        rate = (self.proxy.stats().bytes_to_client - self._stats0.bytes_to_client) / wall
        pct = 100.0 * rate / self.limit if self.limit else 0.0
        lo, hi = BANDWIDTH_FILL_PCT
        return StressorReading("net_bandwidth", self.limit / 1024, rate / 1024, "KiB/s", pct, lo <= pct <= hi,
                               f"the stressed window filled the limited link: {lo:g}-{hi:g} % of the limit",
                               {"limit_bytes_per_s": round(self.limit), "cut": self.cut})


class _ResetStress(_NetStress):
    """Also ``unexplained_error_rate_pct``: the stressed window's error rate less the share of its
    requests the proxy reset (the errors the service, not the injected fault, accounts for; 0 when
    the service coped with every reset)."""

    def _counts(self) -> tuple[int, int]:
        assert self.proxy is not None
        s = self.proxy.stats()
        return s.chunks_to_upstream - self._stats0.chunks_to_upstream, s.resets - self._stats0.resets

    def extra(self, ctx: StressContext, stressed: Any) -> tuple[Metric, ...]:
        n, k = self._counts()
        injected = 100.0 * k / n if n else 0.0
        return (Metric(f"{SUITE}.{ctx.name}.unexplained_error_rate_pct", max(0.0, stressed.error_rate_pct - injected),
                       "%", "lower", target_for(ctx, "unexplained_error_rate_pct"),
                       samples=stressed.requests + stressed.dropped),)

    def reading(self) -> StressorReading:
        n, k = self._counts()
        p = self.faults.reset_pct / 100.0
        observed = 100.0 * k / n if n else 0.0
        ok = n > 0 and abs(k - n * p) <= 3.0 * math.sqrt(n * p * (1 - p)) + 1.0
        return StressorReading("net_resets", self.faults.reset_pct, observed, "% of requests reset",
                               100.0 * observed / self.faults.reset_pct, ok,
                               "resets within 3 binomial standard deviations of reset_pct",
                               {"requests_seen": n, "resets": k})


class _BlackholeStress(_NetStress):
    """Blackholes from a third of the stressed window for ``blackhole_s``, then restores and
    measures how long until a request through the proxy succeeds again (``recovery_ms``: a new
    connection), and until the load's requests stopped failing (``client_recovery_s``: from the lift
    to the first 1 s bucket of the stressed window from which on no request sent failed; requests
    stuck on blackholed connections wait for their timeout)."""

    def __init__(self, blackhole_s: float, window_s: float, seed: int) -> None:
        super().__init__(Faults(blackhole=True), seed)
        self.blackhole_s, self.window_s = blackhole_s, window_s
        self._timer: threading.Thread | None = None
        self._stop = threading.Event()
        self.on_s = self.off_s = 0.0
        self.off_unix = 0.0
        self.recovery_ms: float | None = None
        self.swallowed = 0

    def start(self) -> None:  # the load starts right after: the timer places the blackhole inside it
        self._stop.clear()
        self._timer = threading.Thread(target=self._run, name="blackhole", daemon=True)
        self._timer.start()

    def _run(self) -> None:
        assert self.proxy is not None
        if self._stop.wait(self.window_s / 3.0):
            return
        before = self.proxy.stats().blackholed_bytes
        self.proxy.set_faults(self.faults)
        t_on = time.monotonic()
        self._stop.wait(self.blackhole_s)
        self.proxy.clear()
        t_off = time.monotonic()
        self.off_unix = time.time()
        self.on_s, self.off_s = t_on, t_off
        self.swallowed = self.proxy.stats().blackholed_bytes - before
        deadline = t_off + 10.0
        while time.monotonic() < deadline and not self._stop.is_set():
            try:
                _get_ms(self.proxy.url + self.health_path, timeout_s=1.0)
                self.recovery_ms = 1000.0 * (time.monotonic() - t_off)
                return
            except OSError:
                time.sleep(0.05)

    def stop(self) -> None:
        if self._timer is not None:
            self._timer.join(timeout=self.blackhole_s + 15.0)
            self._stop.set()
        super().stop()

    def reading(self) -> StressorReading:
        if self._timer is not None:
            self._timer.join(timeout=self.blackhole_s + 15.0)
        lasted = self.off_s - self.on_s
        pct = 100.0 * lasted / self.blackhole_s if self.blackhole_s else 0.0
        ok = self.swallowed > 0 and abs(pct - 100.0) <= 10.0
        return StressorReading("net_blackhole", self.blackhole_s, lasted, "s blackholed", pct, ok,
                               "lasted within 10 % of blackhole_s and swallowed traffic",
                               {"swallowed_bytes": self.swallowed})

    def extra(self, ctx: StressContext, stressed: Any) -> tuple[Metric, ...]:
        name = f"{SUITE}.{ctx.name}.recovery_ms"
        if self.recovery_ms is None:
            link = Metric(name, 0.0, "ms", "lower", target_for(ctx, "recovery_ms"),
                          no_data_reason="no request through the restored link succeeded within 10 s")
        else:
            link = Metric(name, self.recovery_ms, "ms", "lower", target_for(ctx, "recovery_ms"))
        name = f"{SUITE}.{ctx.name}.client_recovery_s"
        lift = self.off_unix - stressed.start_unix if self.off_unix and stressed.start_unix else None
        clients = client_recovery_s(stressed.timeseries, lift) if lift is not None else None
        if clients is None:
            return (link, Metric(name, 0.0, "s", "lower", target_for(ctx, "client_recovery_s"),
                                 no_data_reason="the load's requests still failed at the end of the window"))
        return (link, Metric(name, clients, "s", "lower", target_for(ctx, "client_recovery_s")))


def client_recovery_s(series: Any, lift_s: float) -> float | None:
    """Seconds from ``lift_s`` (from the window's start) to the start of the first bucket from which
    on no request sent failed (buckets without requests do not count either way); None when the last
    bucket with requests still had failures. Pure."""
    t, sent, errors = series.t_s, series.sent, series.errors
    clean_from = None
    for i in range(len(t) - 1, -1, -1):
        if sent[i] == 0:
            continue
        if errors[i] > 0:
            break
        clean_from = t[i]
    if clean_from is None:
        return None
    return max(0.0, clean_from - lift_s)


def _degrade(ctx: StressContext, stress: _Stress, p: dict[str, Any], description: str) -> BenchmarkResult:
    t0 = time.monotonic()
    window = _window(p, journey_of(ctx))
    journeys_file = journeys_path_of(ctx)
    health_path = health_path_of(ctx)
    stress.health_path = health_path  # type: ignore[attr-defined]
    ctx.work.mkdir(parents=True, exist_ok=True)
    with service_for(ctx, allow=ctx.allow) as svc:
        around = stress.around(svc.url) if isinstance(stress, _NetStress) else _nothing(svc.url)
        with around as url:
            if isinstance(stress, _BandwidthStress):
                stress.begin_baseline()
            baseline = run_window(url, window, name=f"{ctx.name}.unstressed", seed=ctx.seed, target_pid=svc.pid,
                                  allow=ctx.allow, journeys_file=journeys_file)
            try:
                stress.start()
                if not isinstance(stress, _BlackholeStress):
                    time.sleep(p["settle_s"])
                stress.mark()
                stressed = run_window(url, window, name=f"{ctx.name}.stressed", seed=ctx.seed,
                                      target_pid=svc.pid, allow=ctx.allow, journeys_file=journeys_file)
                reading = stress.reading()
            finally:
                stress.stop()
        stability = probe_stability(svc, health_path=health_path)
    _keep(ctx, baseline=baseline, stressed=stressed)
    log.info("%s: %s; unstressed p95 %s ms, stressed p95 %s ms; %s", ctx.name,
             reading.describe() if reading else "-", _p95(baseline), _p95(stressed),
             stability.detail or "stable")
    return degradation_result(ctx, baseline, stressed, reading, stability, description=description,
                              params={k: v for k, v in p.items()}, elapsed_s=time.monotonic() - t0,
                              extra=stress.extra(ctx, stressed))


def _keep(ctx: StressContext, **windows: Any) -> None:
    """Each window's full load result (histograms, time series) beside the scenario's result."""
    from perf_tasks.load.result import result_to_json

    ctx.work.mkdir(parents=True, exist_ok=True)
    for label, result in windows.items():
        (ctx.work / f"{label}.json").write_text(result_to_json(result))


def _p95(result: Any) -> str:
    return f"{result.latency.p95_ms:.1f}" if result.latency else "-"


@contextmanager
def _nothing(url: str) -> Iterator[str]:
    yield url


def cpu_saturation(ctx: StressContext) -> BenchmarkResult:
    """CPU workers on every core at a duty cycle: host CPU at target_pct (90 % x intensity).

    Needs: a service to load (the bundled one, or --target)
    """
    x, p = _check_intensity(ctx), params_for(ctx, DEFAULTS["cpu_saturation"])
    target = p["target_pct"] * x
    stress = _ProcessStress(lambda: CpuStressor(target, max_duration_s=p["duration_s"] + p["settle_s"] + 30))
    return _degrade(ctx, stress, {**p, "target_pct": target}, f"CPU saturation at {target:.0f} % of the host")


def memory_pressure(ctx: StressContext) -> BenchmarkResult:
    """One process holding share x RAM (capped, a margin kept free), written so it is resident.

    Needs: a service to load (the bundled one, or --target); free RAM above margin_mib
    """
    x, p = _check_intensity(ctx), params_for(ctx, DEFAULTS["memory_pressure"])
    share = p["share"] * x
    stress = _ProcessStress(lambda: MemoryStressor(share, cap_bytes=int(p["cap_mib"]) * MiB,
                                                   margin_bytes=int(p["margin_mib"]) * MiB,
                                                   max_duration_s=p["duration_s"] + p["settle_s"] + 60))
    return _degrade(ctx, stress, {**p, "share": share},
                    f"memory pressure: {share:.0%} of RAM, at most {p['cap_mib']} MiB, {p['margin_mib']} MiB kept free")


def disk_io(ctx: StressContext) -> BenchmarkResult:
    """fsync after every 64 KiB write at rate_mib_s into a size-capped temp file.

    Needs: a service to load (the bundled one, or --target); max_mib of disk in the work folder
    """
    x, p = _check_intensity(ctx), params_for(ctx, DEFAULTS["disk_io"])
    rate = p["rate_mib_s"] * x
    stress = _ProcessStress(lambda: DiskStressor(rate, max_bytes=int(p["max_mib"]) * MiB, parent_dir=ctx.work,
                                                 max_duration_s=p["duration_s"] + p["settle_s"] + 30))
    return _degrade(ctx, stress, {**p, "rate_mib_s": rate},
                    f"disk I/O: {rate:.0f} MiB/s, fsync per 64 KiB, file capped at {p['max_mib']} MiB")


def net_latency(ctx: StressContext) -> BenchmarkResult:
    """Fault proxy between load and service: +latency_ms each way, with jitter.

    Needs: a service to load (the bundled one, or --target)
    """
    x, p = _check_intensity(ctx), params_for(ctx, DEFAULTS["net_latency"])
    faults = Faults(latency_ms=p["latency_ms"] * x, jitter_ms=p["jitter_ms"] * x)
    return _degrade(ctx, _LatencyStress(faults, ctx.seed), {**p, "latency_ms": faults.latency_ms,
                                                            "jitter_ms": faults.jitter_ms},
                    f"network latency +{faults.latency_ms:g} ms each way (jitter {faults.jitter_ms:g} ms)")


def net_bandwidth(ctx: StressContext) -> BenchmarkResult:
    """Fault proxy: the link limited below the unstressed window's bytes/s.

    Needs: a service to load (the bundled one, or --target)
    """
    x, p = _check_intensity(ctx), params_for(ctx, DEFAULTS["net_bandwidth"])
    cut = min(0.95, p["cut"] * x)
    return _degrade(ctx, _BandwidthStress(cut, ctx.seed), {**p, "cut": cut},
                    f"network bandwidth limited to {1 - cut:.0%} of the unstressed demand")


def net_resets(ctx: StressContext) -> BenchmarkResult:
    """Fault proxy: reset_pct of requests answered by a TCP reset.

    Needs: a service to load (the bundled one, or --target)
    """
    x, p = _check_intensity(ctx), params_for(ctx, DEFAULTS["net_resets"])
    faults = Faults(reset_pct=min(100.0, p["reset_pct"] * x))
    return _degrade(ctx, _ResetStress(faults, ctx.seed), {**p, "reset_pct": faults.reset_pct},
                    f"connection resets: {faults.reset_pct:g} % of requests")


def net_blackhole(ctx: StressContext) -> BenchmarkResult:
    """Fault proxy: nothing forwarded for blackhole_s mid-window, then restored.

    Needs: a service to load (the bundled one, or --target)
    """
    x, p = _check_intensity(ctx), params_for(ctx, DEFAULTS["net_blackhole"])
    hole = min(p["blackhole_s"] * x, p["duration_s"] / 2)
    return _degrade(ctx, _BlackholeStress(hole, p["duration_s"], ctx.seed), {**p, "blackhole_s": hole},
                    f"network blackhole for {hole:g} s mid-window, then restored")


STRESSORS: dict[str, Callable[[StressContext], BenchmarkResult]] = {
    "cpu_saturation": cpu_saturation,
    "memory_pressure": memory_pressure,
    "disk_io": disk_io,
    "net_latency": net_latency,
    "net_bandwidth": net_bandwidth,
    "net_resets": net_resets,
    "net_blackhole": net_blackhole,
}
