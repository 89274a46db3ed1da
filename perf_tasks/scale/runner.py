"""One size of one axis, end to end: start what it needs, sweep it, stop everything (``finally``).

- ``instances`` axis, size N: N instances of the system under test, each its own process and
  port, behind HAProxy (round robin, health checks; also at N=1, so every size pays the same
  hop). Without HAProxy: the service's own multi-worker mode (``--workers N``, one port; the kernel
  spreads connections; no per-instance counts), and the result says so.
- ``cores`` axis, size k: one service pinned to k cores (``os.sched_setaffinity``) running k
  uvicorn workers (``workers_per_core``), behind the same balancer as the instances axis at N=1.
- ``urls`` mode: the user's running instances (other machines, a Kubernetes Service): a list of
  base URLs, each checked against the allowlist before anything is sent, round-robined by a local
  HAProxy (one URL without HAProxy: used directly). Nothing is started or stopped there.
"""
from __future__ import annotations

import json
import logging
import os
import urllib.request
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from perf_tasks.errors import UserError
from perf_tasks.load.journey import JourneySpec
from perf_tasks.load.safety import DEFAULT_ALLOWLIST, check_target
from perf_tasks.scale.balancer import Haproxy, haproxy_missing_reason, haproxy_path
from perf_tasks.scale.instances import InstanceSet, start_instances
from perf_tasks.scale.model import SizeResult
from perf_tasks.scale.sweep import Knee, Point, PointSettings, SweepTargets, find_knee, run_point
from perf_tasks.sut import ServiceHandle, start_service, stop_service

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class SweepConfig:
    """Everything a size's sweep needs but the size (the kind resolves it from config + options)."""

    journey: JourneySpec
    journey_name: str
    targets: SweepTargets
    base_rate_per_s: float  # per unit of size at N=1; the sweep at size N starts at N x this
    multipliers: tuple[float, ...] = tuple(float(m) for m in range(1, 11))
    point_duration_s: float = 5.0
    users: int = 256
    arrival: str = "poisson"
    timeout_s: float = 5.0
    refine_pct: float = 5.0
    max_refine: int = 4
    retry_invalid: int = 1  # rerun a point the generator spoiled (shared hosts)
    confirm_misses: int = 1  # rerun a point that missed a target; the rate passes if any run passes
    sut: str = "service"  # service | testserver | urls
    urls: tuple[str, ...] = ()
    allow: tuple[str, ...] = DEFAULT_ALLOWLIST
    service_args: tuple[str, ...] = ("--log-level", "warning")
    testserver: tuple[int, float] = (4, 20.0)  # (concurrency, service_ms) per instance
    balancer: str = "auto"  # auto | haproxy | multiworker
    check_inter_ms: int = 500
    workers_per_core: int = 1
    cores_per_instance: float = 1.0  # instances axis: the cost basis of one instance (its pod's CPU request)
    pin_instances: bool = False  # instances axis: pin instance i to core i mod cores
    memory_limit_bytes: int | None = None
    replicas_url: str = ""  # GET -> JSON number, {"replicas": n}, or a Prometheus instant-query answer
    generator_shards: int = 1  # load processes per point (a high rate needs several: see GeneratorHealth)
    seed: int = 0
    scale_base_rate: bool = True  # size N starts its sweep at N x base_rate_per_s
    notes: tuple[str, ...] = field(default_factory=tuple)


def read_replicas(url: str, allow: Sequence[str]) -> float | None:
    """The replica count a monitoring URL reports now (None when unreadable)."""
    check_target(url, allow, source="replicas_url")
    try:
        with urllib.request.urlopen(url, timeout=3) as resp:
            data = json.loads(resp.read())
    except (OSError, ValueError) as exc:
        log.warning("replicas_url %s: %s", url, exc)
        return None
    if isinstance(data, (int, float)):
        return float(data)
    if isinstance(data, dict):
        if isinstance(data.get("replicas"), (int, float)):
            return float(data["replicas"])
        try:  # Prometheus: {"data": {"result": [{"value": [t, "3"]}]}}
            return float(data["data"]["result"][0]["value"][1])
        except (KeyError, IndexError, TypeError, ValueError):
            pass
        status = data.get("status")
        if isinstance(status, dict) and isinstance(status.get("replicas"), (int, float)):  # a k8s scale object
            return float(status["replicas"])
    return None


def _hostport(url: str) -> str:
    parts = urlsplit(url)
    port = parts.port or (443 if parts.scheme == "https" else 80)
    host = parts.hostname or ""
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


def run_size(work: Path, axis: str, size: int, cfg: SweepConfig) -> SizeResult:
    if axis not in ("instances", "cores"):
        raise UserError(f"axis must be 'instances' or 'cores', got {axis!r}")
    if not (isinstance(size, int) and size >= 1):
        raise UserError(f"size must be an integer >= 1, got {size!r}")
    host_cores = os.cpu_count() or 1
    have = sorted(os.sched_getaffinity(0))
    if axis == "cores" and size > len(have):
        raise UserError(f"cores axis size {size}: only {len(have)} cores are available here ({have})")
    work.mkdir(parents=True, exist_ok=True)
    notes = list(cfg.notes)
    use_haproxy = cfg.balancer in ("auto", "haproxy") and haproxy_path() is not None
    if cfg.balancer == "haproxy" and haproxy_path() is None:
        raise UserError(f"balancer 'haproxy' was asked for: {haproxy_missing_reason()}")
    if cfg.balancer == "auto" and not use_haproxy:
        notes.append(f"{haproxy_missing_reason()}; fell back to the service's multi-worker mode (one port, no "
                     f"per-instance counts)")
    inst: InstanceSet | None = None
    lb: Haproxy | None = None
    handle: ServiceHandle | None = None
    balancer = ""
    cores = float(size) if axis == "cores" else size * cfg.cores_per_instance  # cost basis
    try:
        if cfg.sut == "urls":
            if not cfg.urls:
                raise UserError("sut 'urls' needs at least one URL (param urls)")
            for u in cfg.urls:
                check_target(u, cfg.allow, source="param urls")
            if len(cfg.urls) > 1 or use_haproxy:
                if not use_haproxy:
                    raise UserError(f"several URLs need a balancer: {haproxy_missing_reason()}")
                lb = Haproxy([_hostport(u) for u in cfg.urls], work / "haproxy",
                             check_inter_ms=cfg.check_inter_ms).start()
                target, balancer = lb.url, f"haproxy over {len(cfg.urls)} URL(s)"
            else:
                target, balancer = cfg.urls[0].rstrip("/"), "none (one URL)"
            notes.append("instances run elsewhere: their CPU is not sampled here; the bottleneck verdict sees only "
                         "this host")
            service_pids: list[int] = []
        elif use_haproxy or cfg.sut == "testserver":
            if cfg.sut == "testserver" and not use_haproxy:
                raise UserError(f"the test server has no multi-worker mode: {haproxy_missing_reason()}")
            if axis == "instances":
                cpus = [(have[i % len(have)],) for i in range(size)] if cfg.pin_instances else None
                inst = start_instances(work, size, kind=cfg.sut, cpus=cpus, service_args=cfg.service_args,
                                       capacity=cfg.testserver, memory_limit_bytes=cfg.memory_limit_bytes)
            else:
                args = (*cfg.service_args, "--workers", str(size * cfg.workers_per_core))
                inst = start_instances(work, 1, kind=cfg.sut, cpus=[tuple(have[:size])], service_args=args,
                                       capacity=(cfg.testserver[0] * size, cfg.testserver[1]),
                                       memory_limit_bytes=cfg.memory_limit_bytes)
            notes += inst.notes
            lb = Haproxy([u.split("//", 1)[1] for u in inst.urls], work / "haproxy",
                         check_inter_ms=cfg.check_inter_ms).start()
            if not lb.wait_all_up(30.0):
                raise UserError(f"HAProxy did not see every instance UP within 30 s: {lb.stats()[0]}")
            target, balancer = lb.url, "haproxy"
            service_pids = inst.pids
        else:  # multi-worker fallback: one process group, size workers
            workers = size * (cfg.workers_per_core if axis == "cores" else 1)
            handle = start_service(work / "service", workers=workers, extra_args=cfg.service_args)
            if axis == "cores":
                from perf_tasks.scale.instances import pin
                pin(int(handle.pid or 0), tuple(have[:size]))
            target, balancer = handle.url, f"multi-worker ({workers} uvicorn workers; HAProxy not installed)"
            service_pids = [int(handle.pid or 0)]
        settings = PointSettings(
            target_url=target, journey=cfg.journey, journey_name=cfg.journey_name, duration_s=cfg.point_duration_s,
            users=cfg.users, arrival=cfg.arrival, timeout_s=cfg.timeout_s, seed=cfg.seed, allow=cfg.allow,
            service_pids=tuple(service_pids), balancer_pids=(lb.pid,) if lb and lb.pid else (),
            service_cores=float(size) if axis == "cores" else float(min(size, len(have))), host_cores=host_cores,
            memory_limit_bytes=cfg.memory_limit_bytes, generator_shards=cfg.generator_shards,
            stats=(lambda: {k: v.requests for k, v in lb.stats()[0].items()}) if lb else None)
        base = cfg.base_rate_per_s * (size if cfg.scale_base_rate else 1)

        def probe(rate: float) -> Point:
            before = read_replicas(cfg.replicas_url, cfg.allow) if cfg.replicas_url else None
            p = run_point(settings, rate, cfg.targets, base_rate=base)
            if cfg.replicas_url:
                after = read_replicas(cfg.replicas_url, cfg.allow)
                extra = {k: v for k, v in (("replicas_before", before), ("replicas_after", after)) if v is not None}
                p = replace(p, resources={**p.resources, **extra})
            return p

        knee: Knee = find_knee(probe, base, cfg.multipliers, refine_pct=cfg.refine_pct, max_refine=cfg.max_refine,
                               retry_invalid=cfg.retry_invalid, confirm_misses=cfg.confirm_misses)
    finally:
        if lb is not None:
            lb.stop()
        if inst is not None:
            inst.stop()
        if handle is not None:
            stop_service(handle)
    extra: dict[str, Any] = {"target": target, "sut": cfg.sut, "host_cores": host_cores}
    if cfg.memory_limit_bytes and not (inst and any(i.memory_limit_bytes for i in inst.instances)):
        extra["memory_limit"] = "not applied: " + "; ".join(n for n in notes if "memory" in n)
    return SizeResult(axis=axis, size=size, cores=cores, knee=knee, balancer=balancer, notes=tuple(notes),
                      extra=extra)
