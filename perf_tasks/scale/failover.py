"""Failover (spec §4.1): two instances of the bundled service behind HAProxy, open-model load
running, one instance SIGKILLed mid-run. Measures what clients saw and how the balancer healed:

- ``error_rate_pct``: failed requests (and drops) seen by the load generator over the whole run, as
  a share of them (the count is in ``info``; HAProxy retries a refused connection on the other
  instance: ``option redispatch``; a request already sent to the killed one fails);
- ``detect_s``: kill -> HAProxy marks the instance DOWN (its health checks: ``check_inter_ms`` x
  ``fall``), from its stats page polled every 50 ms;
- ``time_to_full_service_s``: kill -> the end of the last time bucket (``bucket_s``) in which a
  request failed (0 when none failed);
- ``instance_<i>_share_pct``: the share of requests each instance served (HAProxy's per-server
  counters; the counts are in ``info``);
- ``p99_ms``: p99 of every arrival (from its intended send time).

A saturated generator makes every metric invalid (the instance may have been killed under a load
the service never saw). Without HAProxy the scenario reports no data, saying so.
Registered in the stress kind as ``failover`` (``FAILURES``); ``run_failover(ctx)`` follows the
contract in :mod:`perf_tasks.stress.base`.
"""
from __future__ import annotations

import logging
import os
import signal
import threading
import time
from typing import Any

from perf_tasks.load.journey import load_journeys, resolve_journey
from perf_tasks.load.plan import LoadPlan
from perf_tasks.load.result import LoadResult
from perf_tasks.load.runner import run_plan
from perf_tasks.results import BenchmarkResult
from perf_tasks.scale.balancer import Haproxy, haproxy_missing_reason, haproxy_path
from perf_tasks.scale.instances import start_instances
from perf_tasks.stress.base import StressContext
from perf_tasks.stress.outcome import Metrics, params_for, pct, scenario_result

log = logging.getLogger(__name__)
JOURNEYS = os.path.join(os.path.dirname(__file__), "..", "..", "config", "load_journeys.yaml")

DEFAULTS: dict[str, dict[str, Any]] = {
    "smoke": {"rate_per_s": 40.0, "duration_s": 6.0, "kill_at_s": 2.0, "check_inter_ms": 200, "fall": 2,
              "journey": "mixed_traffic", "bucket_s": 0.25},
    "standard": {"rate_per_s": 60.0, "duration_s": 30.0, "kill_at_s": 10.0, "check_inter_ms": 500, "fall": 2,
                 "journey": "mixed_traffic", "bucket_s": 0.5},
    "full": {"rate_per_s": 80.0, "duration_s": 120.0, "kill_at_s": 40.0, "check_inter_ms": 1000, "fall": 3,
             "journey": "mixed_traffic", "bucket_s": 1.0},
}
METRICS = ("error_rate_pct", "detect_s", "time_to_full_service_s", "p99_ms")


def _no_data(ctx: StressContext, reason: str, params: dict[str, Any]) -> BenchmarkResult:
    m = Metrics(ctx)
    for name in METRICS:
        m.add(name, None, no_data_reason=reason)
    return scenario_result(ctx, m, description="failover: SIGKILL one of two instances behind HAProxy",
                           params=params, calls=0, errors=0, duration_s=0.0, info={"no_data": reason}, error=reason)


def last_error_end_s(result: LoadResult, after_s: float) -> float | None:
    """End (seconds from the schedule's start) of the last bucket with a failed request at or after
    ``after_s``; None when none failed."""
    ts = result.timeseries
    last = None
    for t, errs in zip(ts.t_s, ts.errors):
        if errs and t + ts.bucket_s > after_s:
            last = t + ts.bucket_s
    return last


def run_failover(ctx: StressContext) -> BenchmarkResult:
    p = params_for(ctx, DEFAULTS)
    params = {k: p[k] for k in sorted(p)}
    if haproxy_path() is None:
        return _no_data(ctx, haproxy_missing_reason(), params)
    if not 0 < p["kill_at_s"] < p["duration_s"]:
        from perf_tasks.errors import ConfigError
        raise ConfigError(f"config/stress.yaml {ctx.name}: kill_at_s {p['kill_at_s']} must be inside (0, "
                          f"duration_s={p['duration_s']})")
    rate = float(p["rate_per_s"]) * ctx.intensity
    journeys = load_journeys(JOURNEYS)
    journey = resolve_journey(journeys, p["journey"], source="config/load_journeys.yaml")
    ctx.work.mkdir(parents=True, exist_ok=True)
    t_start = time.monotonic()
    with start_instances(ctx.work, 2, kind="service", service_args=("--log-level", "warning")) as inst:
        with Haproxy([u.split("//", 1)[1] for u in inst.urls], ctx.work / "haproxy",
                     check_inter_ms=int(p["check_inter_ms"]), fall=int(p["fall"]), rise=1) as lb:
            if not lb.wait_all_up(15.0):
                return _no_data(ctx, f"HAProxy did not see both instances UP within 15 s: {lb.stats()[0]}", params)
            before, _ = lb.stats()
            plan = LoadPlan(scenario="failover", target_url=lb.url, journey_name=p["journey"], journey=journey,
                            duration_s=float(p["duration_s"]), users=128, rate_per_s=rate, arrival="poisson",
                            timeout_s=5.0, seed=ctx.seed, bucket_s=float(p["bucket_s"]),
                            max_requests=int(2 * rate * p["duration_s"] + 100))
            box: dict[str, Any] = {}

            def load() -> None:
                try:
                    box["result"] = run_plan(plan)
                except BaseException as exc:  # reported below
                    box["error"] = exc

            th = threading.Thread(target=load, name="failover-load", daemon=True)
            t_load = time.time()
            th.start()
            # the engine's schedule starts a moment after the thread: measure the kill from its start_unix
            time.sleep(max(0.0, p["kill_at_s"] - (time.time() - t_load)))
            victim = inst.instances[1]
            t_kill_unix = time.time()
            os.killpg(os.getpgid(victim.pid), signal.SIGKILL)
            detect_s = None
            down_deadline = time.monotonic() + max(10.0, 5 * p["check_inter_ms"] * p["fall"] / 1000.0)
            while time.monotonic() < down_deadline:
                servers, _ = lb.stats()
                if servers.get("s1") and servers["s1"].status.startswith("DOWN"):
                    detect_s = time.time() - t_kill_unix
                    break
                time.sleep(0.05)
            th.join(p["duration_s"] + 30)
            after, _ = lb.stats()
    if "error" in box or "result" not in box:
        raise RuntimeError(f"failover load did not finish: {box.get('error', 'timed out')}")
    res: LoadResult = box["result"]
    kill_at = t_kill_unix - res.start_unix  # seconds into the schedule
    last_err = last_error_end_s(res, kill_at)
    heal = 0.0 if last_err is None else max(0.0, last_err - kill_at)
    invalid = res.generator.reason if res.generator and res.generator.verdict == "saturated" else res.invalid_reason
    lat = res.latency_all or res.latency
    m = Metrics(ctx)
    m.add("error_rate_pct", res.error_rate_pct, samples=res.requests, invalid_reason=invalid)
    m.add("detect_s", detect_s, invalid_reason=invalid,
          no_data_reason="" if detect_s is not None else "HAProxy never marked the killed instance DOWN")
    m.add("time_to_full_service_s", heal, invalid_reason=invalid)
    m.add("p99_ms", lat.p99_ms if lat and lat.count else None, samples=lat.count if lat else None,
          invalid_reason=invalid)
    served = {}
    for name in sorted(after):
        served[name] = after[name].requests - (before[name].requests if name in before else 0)
    total = sum(served.values())
    for name, count in served.items():
        m.add(f"instance_{name[1:]}_share_pct", pct(count, total), "higher")
    info = {"kill_at_s": round(kill_at, 3), "killed": "s1", "served": served,
            "client_errors": res.errors + res.dropped,
            "redispatches": sum(s.redispatches for s in after.values()),
            "retries": sum(s.retries for s in after.values()),
            "generator": res.generator.verdict if res.generator else "unknown",
            "errors_by_class": res.errors_by_class, "balancer": f"HAProxy ({haproxy_path()})",
            "check": f"GET /ready every {p['check_inter_ms']} ms, fall {p['fall']}, rise 1",
            "intended_rate_per_s": rate, "invalid_reason": invalid,
            "detect_s_expected_max": round(p["check_inter_ms"] * (p["fall"] + 1) / 1000.0, 3)}
    log.info("failover: %d client errors of %d, detect %s s, full service after %.2f s, served %s", res.errors +
             res.dropped, res.requests, "never" if detect_s is None else f"{detect_s:.2f}", heal, served)
    return scenario_result(ctx, m, description="failover: SIGKILL one of two instances behind HAProxy",
                           params=params, calls=res.requests, errors=res.errors, duration_s=time.monotonic() - t_start,
                           info=info)

