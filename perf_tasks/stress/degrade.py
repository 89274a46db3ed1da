"""Degradation under a stressor: the same load against the service unstressed, then stressed, in
one task; the difference, the service's resources, and the spec's stability verdict (§3.2/§3.3).

:func:`run_window` drives the service with the load engine (``perf_tasks.load``: an open-model
plan, so a slower service sees the same arrivals and its latency is measured from the intended send
time); :func:`compare` is pure: it turns the two windows, what the stressor achieved and the
stability probe into metrics ``stress.<scenario>.<name>``:

* ``p95_increase_pct``: (stressed p95 - unstressed p95) / unstressed p95 * 100, of successful requests
  (a percentile: needs >= 200 requests in *both* windows to be judged, else invalid);
* ``throughput_reduction_pct``: (unstressed - stressed) successful responses per second, % of unstressed;
* ``error_rate_increase_pct``: stressed error rate - unstressed error rate, in percentage points
  (dropped sends count as errors, as in load results);
  these three are increases: 0 when the stressed window did as well or better (results validation
  refuses negative percentages); the signed changes are in the benchmark's ``info`` and both
  windows' own figures are metrics (``unstressed_*``, ``stressed_*``);
* ``max_response_ms``: the slowest arrival of the stressed window (failures at their time) - the
  spec's "responses under 2 s";
* ``crashed_pct`` / ``hung_pct`` (0 or 100: the one service of the scenario): the service process
  died / did not answer its health probe within ``HUNG_AFTER_S`` after the stressed window (asked
  directly, never through a fault proxy);
* ``stressor_achieved_pct``: how close the stressor came to its target (see perf_tasks.stress.resources).

A measurement that cannot be trusted is marked, never judged (DESIGN.md): when the stressor missed
its target (outside its stated tolerance), or the load generator was saturated in either window
(perf_tasks.load.summary.invalid_reason), the three degradation metrics carry an ``invalid_reason``.
``crashed_pct`` and ``hung_pct`` are always judged: a crash is a crash, however weak the stressor.
"""
from __future__ import annotations

import logging
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psutil

from perf_tasks.errors import ConfigError
from perf_tasks.load.result import LoadResult
from perf_tasks.load.safety import DEFAULT_ALLOWLIST, check_target
from perf_tasks.results import BenchmarkResult, Metric
from perf_tasks.stress.base import SUITE, StressContext, require_system
from perf_tasks.stress.outcome import target_for
from perf_tasks.stress.resources import StressorReading
from perf_tasks.sut import ServiceHandle, start_service, stop_service

log = logging.getLogger(__name__)

HUNG_AFTER_S = 5.0  # no health answer within this after the stressed window: hung
PROBE_TIMEOUT_S = 2.0  # one health probe (the spec's 2 s response limit)
DEFAULT_JOURNEY = "user_workload"
DEFAULT_HEALTH_PATH = "/health"


def journey_of(ctx: StressContext) -> str:
    """The load journey the scenario drives: its stress.yaml section's ``journey`` (validated there)."""
    j = (ctx.config or {}).get("journey")
    return str(j) if j else DEFAULT_JOURNEY


def journeys_path_of(ctx: StressContext) -> Path:
    """The journeys file of the run's system (its config folder); never the checkout's demo file."""
    return require_system(ctx, f"scenario {ctx.name!r} (its load journeys)").journeys_path()


def health_path_of(ctx: StressContext) -> str:
    system = ctx.system
    svc = getattr(system, "service", None) if system is not None else None
    return getattr(svc, "health_path", None) or DEFAULT_HEALTH_PATH


@dataclass(frozen=True)
class LoadWindow:
    """The load of each window: an open-model Poisson arrival rate for ``duration_s``."""

    rate_per_s: float
    duration_s: float
    users: int = 50  # most requests in flight
    journey: str = DEFAULT_JOURNEY
    timeout_s: float = 5.0  # per request: longer than the 2 s limit, so slow answers are measured, not cut

    def __post_init__(self) -> None:
        for name in ("rate_per_s", "duration_s", "timeout_s"):
            v = getattr(self, name)
            if not (isinstance(v, (int, float)) and v > 0):
                raise ConfigError(f"load window: {name} must be > 0, got {v!r}")


@dataclass(frozen=True)
class Stability:
    crashed: bool
    hung: bool
    probe_ms: float | None  # the health probe's answer time after the stressed window (None: no answer)
    detail: str = ""


@contextmanager
def service_for(ctx: StressContext, *, allow: tuple[str, ...] = ()) -> Iterator[ServiceHandle]:
    """The service to drive: ``ctx.service_url`` (checked against the allowlist, never stopped by
    us) or the run's system's service (``ctx.system``), started here with its database in
    ``ctx.work`` and always stopped. A url-only system or no system: not applicable."""
    if ctx.service_url:
        check_target(ctx.service_url, (*DEFAULT_ALLOWLIST, *allow), source=f"scenario {ctx.name!r} service_url")
        yield ServiceHandle(url=ctx.service_url.rstrip("/"), pid=None)
        return
    folder = ctx.work / "service"
    system = require_system(ctx, f"scenario {ctx.name!r}")
    system.require_service(f"scenario {ctx.name!r} without --target")
    handle = start_service(folder, system=system, db=str(folder / "orders.db"),
                           what=f"scenario {ctx.name!r} without --target")
    try:
        yield handle
    finally:
        stop_service(handle)


def run_window(url: str, window: LoadWindow, *, name: str, seed: int, target_pid: int | None = None,
               allow: tuple[str, ...] = (), journeys_file: Path) -> LoadResult:
    """One load window against ``url`` with the load engine (bounded: duration and 2x the expected
    requests), driving ``window.journey`` of ``journeys_file`` (the run's system's journeys)."""
    from perf_tasks.load.journey import load_journeys, resolve_journey
    from perf_tasks.load.plan import LoadPlan
    from perf_tasks.load.live_push import run_plan_live

    journeys = load_journeys(journeys_file)
    spec = resolve_journey(journeys, window.journey, source=f"scenario {name!r} journey ({journeys_file})")
    plan = LoadPlan(scenario=name, target_url=url, journey_name=window.journey, journey=spec,
                    duration_s=window.duration_s, users=window.users, rate_per_s=window.rate_per_s,
                    max_requests=int(2 * window.rate_per_s * window.duration_s + 100), timeout_s=window.timeout_s,
                    seed=seed, allow=(*DEFAULT_ALLOWLIST, *allow), target_pid=target_pid)
    return run_plan_live(plan)  # pushed live to the Pushgateway when the run has one


def probe_stability(handle: ServiceHandle, *, hung_after_s: float = HUNG_AFTER_S,
                    health_path: str = DEFAULT_HEALTH_PATH) -> Stability:
    """Ask the system's ``health_path`` directly until it answers or ``hung_after_s`` passed; a started service
    whose process is gone crashed."""
    if handle.pid is not None and not _alive(handle.pid):
        return Stability(crashed=True, hung=False, probe_ms=None, detail=f"service process {handle.pid} is gone")
    t_end = time.monotonic() + hung_after_s
    last = ""
    while True:
        t0 = time.monotonic()
        try:
            with urllib.request.urlopen(handle.url + health_path, timeout=PROBE_TIMEOUT_S) as resp:
                resp.read()
            return Stability(crashed=False, hung=False, probe_ms=1000.0 * (time.monotonic() - t0))
        except urllib.error.HTTPError as exc:
            last = f"HTTP {exc.code}"
        except (urllib.error.URLError, OSError) as exc:
            last = str(exc)
            if handle.pid is not None and not _alive(handle.pid):
                return Stability(crashed=True, hung=False, probe_ms=None,
                                 detail=f"service process {handle.pid} died ({last})")
        if time.monotonic() >= t_end:
            refused = "refused" in last.lower()
            return Stability(crashed=refused and handle.pid is None, hung=not (refused and handle.pid is None),
                             probe_ms=None, detail=f"no health answer within {hung_after_s:g} s (last: {last})")
        time.sleep(0.2)


def _alive(pid: int) -> bool:
    try:
        return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    except psutil.Error:
        return False


def _window_invalid(result: LoadResult) -> str:
    from perf_tasks.load.summary import invalid_reason

    return invalid_reason(result)


def signed_changes(baseline: LoadResult, stressed: LoadResult) -> dict[str, float]:
    """Stressed vs unstressed, signed (negative: the stressed window did better): p95 and
    throughput in % of the unstressed value, error rate in percentage points. Pure."""
    out = {"error_rate_change_pts": stressed.error_rate_pct - baseline.error_rate_pct}
    b, s = baseline.latency, stressed.latency
    if b is not None and s is not None and b.p95_ms > 0:
        out["p95_change_pct"] = 100.0 * (s.p95_ms - b.p95_ms) / b.p95_ms
    if baseline.throughput_per_s > 0:
        out["throughput_change_pct"] = 100.0 * (stressed.throughput_per_s - baseline.throughput_per_s) \
            / baseline.throughput_per_s
    return out


def compare(ctx: StressContext, baseline: LoadResult, stressed: LoadResult, reading: StressorReading | None,
            stability: Stability, *, extra: tuple[Metric, ...] = ()) -> tuple[Metric, ...]:
    """The scenario's metrics (module doc). Pure: no I/O."""
    prefix = f"{SUITE}.{ctx.name}"

    def metric(name: str, value: float, unit: str, direction: str = "lower", **kw: Any) -> Metric:
        return Metric(f"{prefix}.{name}", float(value), unit, direction,  # type: ignore[arg-type]
                      target_for(ctx, name), **kw)

    reasons = []
    if reading is not None and not reading.within_tolerance:
        reasons.append(f"the stressor missed its target: {reading.describe()}")
    for label, res in (("unstressed", baseline), ("stressed", stressed)):
        why = _window_invalid(res)
        if why:
            reasons.append(f"{label} window: {why}")
    invalid = "; ".join(reasons)
    changes = signed_changes(baseline, stressed)
    b_lat, s_lat = baseline.latency, stressed.latency
    out: list[Metric] = []
    if "p95_change_pct" in changes:
        out.append(metric("p95_increase_pct", max(0.0, changes["p95_change_pct"]), "%",
                          samples=min(b_lat.count, s_lat.count), invalid_reason=invalid))  # type: ignore[union-attr]
    else:
        which = "unstressed" if b_lat is None else "stressed"
        out.append(metric("p95_increase_pct", 0.0, "%", samples=0, invalid_reason=invalid or (
            "no successful request in the unstressed window: nothing to compare with" if b_lat is None else ""),
            no_data_reason="" if b_lat is None else f"no successful request in the {which} window"))
    if baseline.throughput_per_s > 0:
        out.append(metric("throughput_reduction_pct", max(0.0, -changes["throughput_change_pct"]), "%",
                          samples=baseline.requests, invalid_reason=invalid))
    else:
        out.append(metric("throughput_reduction_pct", 0.0, "%", samples=0,
                          invalid_reason=invalid or "no throughput in the unstressed window"))
    out.append(metric("error_rate_increase_pct", max(0.0, changes["error_rate_change_pts"]), "%",
                      samples=stressed.requests + stressed.dropped, invalid_reason=invalid))
    worst = stressed.latency_all or stressed.latency
    stressed_invalid = _window_invalid(stressed)
    out.append(metric("max_response_ms", worst.max_ms if worst else 0.0, "ms", samples=worst.count if worst else 0,
                      invalid_if_missed=stressed_invalid, no_data_reason="" if worst else "no request completed"))
    out.append(metric("crashed_pct", 100.0 if stability.crashed else 0.0, "%"))
    out.append(metric("hung_pct", 100.0 if stability.hung else 0.0, "%"))
    if reading is not None:
        out.append(metric("stressor_achieved_pct", reading.achieved_pct, "%", "higher"))
    for label, res in (("unstressed", baseline), ("stressed", stressed)):
        if res.latency is not None:
            out.append(Metric(f"{prefix}.{label}_latency_p95_ms", res.latency.p95_ms, "ms", "lower",
                              samples=res.latency.count))
        out.append(Metric(f"{prefix}.{label}_throughput_per_s", res.throughput_per_s, "1/s", "higher"))
        out.append(Metric(f"{prefix}.{label}_error_rate_pct", res.error_rate_pct, "%", "lower"))
    tr = stressed.target_resources
    if tr is not None and tr.samples:
        out.append(Metric(f"{prefix}.service_cpu_pct_mean", tr.process_cpu_pct_mean, "%", "lower"))
        out.append(Metric(f"{prefix}.service_rss_max_bytes", float(tr.rss_max_bytes), "bytes", "lower"))
        out.append(Metric(f"{prefix}.host_cpu_pct_mean", tr.system_cpu_pct_mean, "%", "lower"))
    return (*out, *extra)


def degradation_result(ctx: StressContext, baseline: LoadResult, stressed: LoadResult,
                       reading: StressorReading | None, stability: Stability, *, description: str,
                       params: dict[str, Any], elapsed_s: float, extra: tuple[Metric, ...] = (),
                       info: dict[str, Any] | None = None) -> BenchmarkResult:
    """The scenario as one benchmark of the common result model."""
    metrics = compare(ctx, baseline, stressed, reading, stability, extra=extra)
    notes = {"stressor": reading.describe() if reading else "", "stressor_within_tolerance": bool(
        reading.within_tolerance) if reading else True, "stability": stability.detail or "stable",
        "unstressed_generator": baseline.generator.verdict if baseline.generator else "unknown",
        "stressed_generator": stressed.generator.verdict if stressed.generator else "unknown",
        "stressed_errors_by_class": dict(stressed.errors_by_class),
        **{k: round(v, 3) for k, v in signed_changes(baseline, stressed).items()}}
    if reading is not None:
        notes.update({f"stressor_{k}": v for k, v in reading.detail.items()})
    return BenchmarkResult(
        suite=SUITE, name=ctx.name, callable=description,
        params={"profile": ctx.profile, "intensity": ctx.intensity, **params},
        items_per_call=1, item_unit="request", warmups=0, calls_per_observation=1, observation_s=(),
        latency_s=None, metrics=metrics, resources=stressed.target_resources,
        calls=baseline.requests + stressed.requests, errors=baseline.errors + stressed.errors, error=None,
        duration_s=elapsed_s, info={**notes, **(info or {})}, timed_s=baseline.elapsed_s + stressed.elapsed_s,
        items=baseline.requests + stressed.requests)
