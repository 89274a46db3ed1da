"""The scalability kind (spec §4): the load sweep at each size of each axis, then the capacity model.

setup_environment -> run_size[axis_N] (mapped over the sizes, one at a time: sizes share the box)
-> fit_model -> (the shared tail) validate -> evaluate -> compare_to_baseline -> build_report ->
persist_artifacts -> notify, and ``teardown`` always last.

``run_size.<axis>_<N>`` starts the size's instances (and HAProxy), sweeps it
(:mod:`perf_tasks.scale.runner`: knee, bottleneck per point, per-instance counts), stops them and
writes ``scale/<axis>_<N>.json``. ``fit_model`` builds the model of each axis
(:mod:`perf_tasks.scale.model`: factors, efficiency, cost, USL fit and its predictions or the reason
it refuses) into ``scale/model.json``, charts (``scale/<axis>.svg``) and the common result model
(suite ``scalability``: one benchmark per size, one ``<axis>_model`` per axis).

Cleanup: every process a size starts inherits ``PERF_SCALE_WORK=<work folder>``; ``teardown`` ends
any such process still alive (a task killed mid-sweep), so a run leaves nothing behind.

Options (``RunSpec.options``; the DAG's trigger params, ``--opt`` on the CLI): :class:`ScaleOptions`;
an empty/zero option takes ``config/scalability.yaml``'s value for the run's profile.
"""
from __future__ import annotations

import dataclasses
import json
import logging
import math
import os
import signal
from pathlib import Path
from typing import Any

from perf_tasks import pipeline
from perf_tasks.config import PerfConfig
from perf_tasks.errors import ConfigError, PipelineError
from perf_tasks.kinds.options import ScaleOptions, defaults
from perf_tasks.results import BenchmarkResult, Metric, SuiteResult, Target, from_json, to_json

log = logging.getLogger(__name__)

KIND = "scale"
DAG_ID = "perf_scalability_quarterly"
SUITE = "scalability"
CONFIG_FILE = "scalability.yaml"
JOURNEYS_FILE = "load_journeys.yaml"
TEARDOWN_STEPS = ("teardown",)
MARKER_ENV = "PERF_SCALE_WORK"


OPTIONS = ScaleOptions  #: the options model (perf_tasks.kinds.options): params, --opt and checks
OPTION_DEFAULTS = defaults(ScaleOptions)


def options_of(spec: pipeline.RunSpec) -> ScaleOptions:
    return ScaleOptions.parse(spec.options)


def _config(spec: pipeline.RunSpec) -> Any:
    from perf_tasks.scale.settings import load_scale_config

    return load_scale_config(Path(spec.config_dir) / CONFIG_FILE)


def items(opts: ScaleOptions) -> list[str]:
    return [f"{axis}_{n}" for axis in opts.axes or () for n in getattr(opts, axis) or ()]


def prepare(spec: pipeline.RunSpec, cfg: PerfConfig, *, executor: str = "") -> pipeline.RunSpec:
    """Resolve every option against config/scalability.yaml and the profile; check the journey,
    the sizes against this host, and every URL against the allowlist, before anything starts."""
    from perf_tasks.load.journey import load_journeys, resolve_journey
    from perf_tasks.load.safety import check_target, run_allowlist

    opts = options_of(spec)
    sc = _config(spec)
    source = str(Path(spec.config_dir) / CONFIG_FILE)
    if spec.profile not in sc.profiles:
        raise ConfigError(f"{source}: no profile {spec.profile!r} (profiles: {sorted(sc.profiles)})")
    prof = sc.profiles[spec.profile]
    axes = opts.axes or tuple(prof.axes)
    bad = [a for a in axes if a not in ("instances", "cores")]
    if bad:
        raise ConfigError(f"param 'axes': {bad} are not axes (instances, cores)")
    sizes = {"instances": opts.instances or tuple(prof.instances), "cores": opts.cores or tuple(prof.cores)}
    for axis in ("instances", "cores"):
        if any(n < 1 for n in sizes[axis]) or len(set(sizes[axis])) != len(sizes[axis]):
            raise ConfigError(f"param '{axis}': sizes must be distinct integers >= 1, got {list(sizes[axis])}")
        sizes[axis] = tuple(sorted(sizes[axis]))
    have = len(os.sched_getaffinity(0))
    if "cores" in axes and max(sizes["cores"]) > have:
        raise ConfigError(f"param 'cores': {max(sizes['cores'])} cores asked for, this host gives {have}")
    sut = opts.sut or sc.sut
    if sut not in ("service", "testserver", "urls"):
        raise ConfigError(f"param 'sut': {sut!r} is not one of service, testserver, urls")
    allow = run_allowlist(spec.config_dir, opts.allow or (), source="param 'allow'")  # narrows, never widens
    if sut == "urls":
        if not opts.urls:
            raise ConfigError("param 'urls': sut 'urls' needs at least one base URL")
        if axes != ("instances",) and "cores" in axes:
            raise ConfigError("param 'axes': the cores axis pins local processes; with sut 'urls' use axes "
                              "['instances'] (the instances run elsewhere)")
        for u in opts.urls:
            check_target(u, allow, source="param 'urls'")
    if opts.replicas_url:
        check_target(opts.replicas_url, allow, source="param 'replicas_url'")
    journey = opts.journey or sc.journey
    resolve_journey(load_journeys(Path(spec.config_dir) / JOURNEYS_FILE), journey, source="param 'journey'")
    for metric in sc.targets:  # a target that cannot be built fails here, not after every size was swept
        _target(sc, metric, source=source)
    balancer = opts.balancer or sc.balancer.kind
    if balancer not in ("auto", "haproxy", "multiworker"):
        raise ConfigError(f"param 'balancer': {balancer!r} is not one of auto, haproxy, multiworker")
    shards = opts.generator_shards or sc.generator_shards
    if not 1 <= shards <= 64:
        raise ConfigError(f"param 'generator_shards': expected 1..64, got {shards}")
    if sc.users < shards:
        raise ConfigError(f"param 'generator_shards': {shards} shards need at least as many users "
                          f"(config users: {sc.users})")
    resolved = ScaleOptions(
        axes=tuple(axes), instances=sizes["instances"], cores=sizes["cores"], sut=sut, urls=opts.urls or (),
        allow=allow, base_rate_per_s=opts.base_rate_per_s or prof.base_rate_per_s,
        multipliers=tuple(sorted(opts.multipliers or ())) or tuple(prof.multipliers),
        point_duration_s=opts.point_duration_s or prof.point_duration_s, p99_ms=opts.p99_ms or sc.knee.p99_ms,
        error_rate_pct=opts.error_rate_pct or sc.knee.error_rate_pct, journey=journey,
        cost_per_core_hour=sc.cost_per_core_hour if opts.cost_per_core_hour is None else opts.cost_per_core_hour,
        replicas_url=opts.replicas_url, memory_limit_mb=opts.memory_limit_mb or 0, balancer=balancer,
        generator_shards=shards, seed=opts.seed)
    steps = tuple(f"run_size.{i}" for i in items(resolved)) + ("fit_model",)
    log.info("scale: %s, sut %s, knee p99 <= %g ms, error rate <= %g %%", items(resolved), sut, resolved.p99_ms,
             resolved.error_rate_pct)
    return dataclasses.replace(spec, suites=(SUITE,), options=resolved.dump(), expected_steps=steps)


def tasks(spec: pipeline.RunSpec) -> list[str]:
    """The mapping input of ``run_size``: ``<axis>_<N>`` for every size."""
    return items(options_of(spec))


def sweep_config(spec: pipeline.RunSpec) -> Any:
    from perf_tasks.load.journey import load_journeys, resolve_journey
    from perf_tasks.load.safety import DEFAULT_ALLOWLIST
    from perf_tasks.scale.runner import SweepConfig
    from perf_tasks.scale.sweep import SweepTargets

    opts = options_of(spec)
    sc = _config(spec)
    prof = sc.profiles[spec.profile]
    journey = resolve_journey(load_journeys(Path(spec.config_dir) / JOURNEYS_FILE), opts.journey,
                              source="param 'journey'")
    return SweepConfig(
        journey=journey, journey_name=opts.journey, targets=SweepTargets(opts.p99_ms, opts.error_rate_pct),
        base_rate_per_s=opts.base_rate_per_s, multipliers=opts.multipliers, point_duration_s=opts.point_duration_s,
        users=sc.users, arrival=sc.arrival, timeout_s=sc.timeout_s, max_refine=prof.max_refine, sut=opts.sut,
        urls=opts.urls, allow=opts.allow or DEFAULT_ALLOWLIST, balancer=opts.balancer,
        check_inter_ms=sc.balancer.check_inter_ms, cores_per_instance=sc.cores_per_instance,
        memory_limit_bytes=(opts.memory_limit_mb or 0) * 2**20 or None, replicas_url=opts.replicas_url or "",
        generator_shards=opts.generator_shards, seed=opts.seed)


def run_size(work: Path, item: Any = None, *, sender: Any = None, channel: str = "") -> dict[str, Any]:
    """Sweep one size (``item`` = ``<axis>_<N>``); writes ``scale/<item>.json``."""
    from perf_tasks.scale.runner import run_size as run_one

    with pipeline.step(work, f"run_size.{item}"):
        spec = pipeline.load_spec(work)
        if item not in tasks(spec):
            raise ConfigError(f"size {item!r} is not part of run {spec.run_id} (sizes: {tasks(spec)})")
        axis, n = str(item).rsplit("_", 1)
        os.environ[MARKER_ENV] = str(work)  # inherited by every process the size starts (teardown finds them)
        from perf_tasks.load.live_push import pushing
        from perf_tasks.monitor.prom import gateway_url

        gateway = gateway_url(pipeline.run_config(spec).alerts.monitoring.pushgateway_url)
        try:
            with pushing(gateway, dag=spec.dag_id, run_id=spec.run_id):  # each load point live, when configured
                result = run_one(work / "scale" / str(item), axis, int(n), sweep_config(spec))
        finally:
            os.environ.pop(MARKER_ENV, None)
        pipeline.write_text(work / "scale" / f"{item}.json", to_json(result))
        k = result.knee
        log.info("[%s] knee %s: %.1f/s at p99 %.1f ms (%s); limited by %s", item, k.status, k.throughput_per_s,
                 k.p99_ms, k.note, k.limited_by or "-")
    return {"item": item, "knee_status": k.status, "knee_throughput_per_s": k.throughput_per_s}


def _target(sc: Any, metric: str, *, source: str = f"config/{CONFIG_FILE}") -> Target | None:
    t = sc.targets.get(metric)
    if t is None:
        return None
    try:
        return Target(max=t.max, min=t.min, warning=t.warning, severity=t.severity,
                      source=f"{source} targets.{metric}")
    except ValueError as exc:
        raise ConfigError(f"{source} targets.{metric}: {exc}") from None


def _bench(name: str, description: str, metrics: list[Metric], params: dict[str, Any], info: dict[str, Any],
           calls: int = 0, duration_s: float = 0.0) -> BenchmarkResult:
    return BenchmarkResult(suite=SUITE, name=name, callable=description, params=params, items_per_call=1,
                           item_unit="request", warmups=0, calls_per_observation=1, observation_s=(), latency_s=None,
                           metrics=tuple(metrics), resources=None, calls=calls, errors=0, duration_s=duration_s,
                           info=info, timed_s=duration_s, items=calls)


def _metric(sc: Any, bench: str, name: str, value: float | None, unit: str, direction: str, *,
            invalid: str = "", no_data: str = "", samples: int | None = None) -> Metric:
    if value is None or not math.isfinite(value):
        no_data = no_data or invalid or "not measured"
        value = 0.0
    return Metric(f"{SUITE}.{bench}.{name}", float(value), unit, direction, _target(sc, name),  # type: ignore[arg-type]
                  samples=samples, invalid_reason=invalid, no_data_reason="" if invalid else no_data)


def sweep_params(opts: ScaleOptions) -> dict[str, Any]:
    """What a knee depends on besides the size: part of every benchmark's params (so of its
    comparison key: a run with another knee definition or load shape is not compared)."""
    return {"sut": opts.sut, "journey": opts.journey, "p99_ms": opts.p99_ms, "error_rate_pct": opts.error_rate_pct,
            "base_rate_per_s": opts.base_rate_per_s, "multipliers": list(opts.multipliers),
            "point_duration_s": opts.point_duration_s, "balancer": opts.balancer,
            "memory_limit_mb": opts.memory_limit_mb, "urls": list(opts.urls or ())}


def size_benchmark(sc: Any, r: Any, row: dict[str, Any], factor: dict[str, Any] | None,
                   base_invalid: str = "", params: dict[str, Any] | None = None) -> BenchmarkResult:
    """One size as a benchmark; ``base_invalid``: why the smallest size's knee (the factors' base)
    cannot be trusted, if so."""
    k = r.knee
    name = f"{r.axis}_{r.size}"
    from perf_tasks.scale.bottleneck import OTHER_WORK

    invalid = ""
    if k.status in ("generator_limited", "no_valid_points"):
        invalid = f"the load generator was the limit: {k.note}"
    elif k.limited_by == OTHER_WORK:
        invalid = f"a busy host: {k.limited_reason}"
    bound = k.status in ("beyond_sweep",)
    knee_pt = next((p for p in k.points if p.valid and p.meets_targets and p.rate_per_s == k.rate_per_s), None)
    ms = [
        _metric(sc, name, "knee_throughput_per_s", k.throughput_per_s if k.throughput_per_s else None, "1/s",
                "higher", invalid=invalid, no_data=k.note, samples=knee_pt.requests if knee_pt else None),
        _metric(sc, name, "knee_p99_ms", k.p99_ms if k.throughput_per_s else None, "ms", "lower", invalid=invalid,
                no_data=k.note, samples=knee_pt.requests if knee_pt else None),
    ]

    def pct(v: float | None) -> float | None:
        return None if v is None else 100.0 * v

    if factor is not None:
        busy = invalid or base_invalid
        ms += [_metric(sc, name, "efficiency_pct", pct(factor["efficiency"]), "%", "higher", invalid=busy),
               _metric(sc, name, "throughput_factor_pct", pct(factor["throughput_factor"]), "%", "higher",
                       invalid=busy),
               _metric(sc, name, "latency_factor_pct", pct(factor["latency_factor"]), "%", "lower", invalid=busy),
               _metric(sc, name, "resource_efficiency_pct", pct(factor["resource_efficiency"]), "%", "higher",
                       invalid=busy, no_data="CPU of the instances not sampled (they run elsewhere)")]
    elif bound:
        why = f"the knee is only a lower bound ({k.note}): left out of the scaling factors"
        ms.append(_metric(sc, name, "efficiency_pct", None, "%", "higher", invalid=why))
    info = {"knee_status": k.status, "note": k.note, "limited_by": k.limited_by or "-",
            "limited_reason": k.limited_reason or "-", "balancer": r.balancer, "notes": "; ".join(r.notes) or "-",
            "cost_basis_cores": r.cores, "cost_per_transaction_usd": row.get("cost_per_transaction"),
            "transactions_per_usd": row.get("transactions_per_dollar"),
            "throughput_per_cpu_core_per_s": row.get("throughput_per_cpu_core"),
            "points": f"{len(k.points)} ({sum(not p.valid for p in k.points)} invalid): scale/{name}.json"}
    return _bench(name, f"load sweep at {r.size} {r.axis} ({r.balancer or 'no balancer'})", ms,
                  {"axis": r.axis, "size": r.size, **(params or {}),
                   **{k2: v for k2, v in r.extra.items() if k2 != "target"}}, info,
                  calls=sum(p.requests for p in k.points))


def model_benchmark(sc: Any, axis: str, model: dict[str, Any], params: dict[str, Any] | None = None) -> BenchmarkResult:
    name = f"{axis}_model"
    u = model["usl"]
    refused = u.get("refused") or ("" if u.get("fitted") else f"no capacity model: {u.get('reason', '')}")
    ms = []
    if u.get("fitted"):
        ms += [_metric(sc, name, "usl_sigma_pct", 100.0 * u["sigma"], "%", "lower", invalid=refused),
               _metric(sc, name, "usl_kappa_pct", 100.0 * u["kappa"], "%", "lower", invalid=refused),
               _metric(sc, name, "usl_r2_pct", 100.0 * u["r2"], "%", "higher")]
    preds = {int(p["n"]): p for p in u.get("predictions", [])}
    for n in sc.predict:
        p = preds.get(int(n))
        ms.append(_metric(sc, name, f"predicted_throughput_at_{n}_per_s", p["throughput"] if p else None, "1/s",
                          "higher", invalid=refused if not p else ""))
    claim = u["linear_claim"]
    eff = None
    if claim["verdict"] != "not judged":
        from perf_tasks.scale.usl import usl

        lam, s, kp = u["lam"], u["sigma"], u["kappa"]
        eff = float(usl(claim["n"], lam, s, kp) / (claim["n"] * usl(1.0, lam, s, kp)))
    ms.append(_metric(sc, name, "linear_efficiency_at_n_pct", None if eff is None else 100.0 * eff, "%", "higher",
                      invalid="" if eff is not None else f"the linear claim cannot be judged: {claim['reason']}"))
    return _bench(name, f"capacity model of the {axis} axis (Universal Scalability Law)", ms,
                  {"axis": axis, "predict": list(sc.predict), "linear_claim_n": claim["n"],
                   "sizes": [row["size"] for row in model["sizes"]], **(params or {})},
                  {"fitted": bool(u.get("fitted")), "lambda_per_s": u.get("lam"), "sigma_se": u.get("sigma_se"),
                   "kappa_se": u.get("kappa_se"), "peak_n": u.get("peak_n"), "refused": refused or "-",
                   "linear_claim": f"{claim['verdict']}: {claim['reason']}",
                   "excluded": "; ".join(f"{e['size']}: {e['reason']}" for e in model["excluded"]) or "-",
                   "model": "scale/model.json"})


def fit_model(work: Path, item: Any = None, *, sender: Any = None, channel: str = "") -> SuiteResult:
    """Every size's result -> the model of each axis, charts, ``suites/scalability.json``."""
    from perf_tasks.scale.bottleneck import OTHER_WORK
    from perf_tasks.scale.model import SizeResult, analyse_axis
    from perf_tasks.scale.report import scaling_chart

    with pipeline.step(work, "fit_model"):
        spec = pipeline.load_spec(work)
        opts = options_of(spec)
        sc = _config(spec)
        benches: list[BenchmarkResult] = []
        models: dict[str, Any] = {}
        missing = []
        for axis in opts.axes:
            results = []
            for n in getattr(opts, axis):
                path = work / "scale" / f"{axis}_{n}.json"
                if not path.exists():
                    missing.append(f"{axis}_{n}")
                    continue
                results.append(from_json(SizeResult, path.read_text(), source=str(path)))
            if not results:
                continue
            model = analyse_axis(results, cost_per_core_hour=opts.cost_per_core_hour, predict=sc.predict,
                                 linear_claim_n=sc.linear_claim.n, min_efficiency=sc.linear_claim.min_efficiency)
            model["excluded"] += [{"size": m, "reason": f"run_size.{m} produced no result (the step failed)"}
                                  for m in missing if m.startswith(axis)]
            models[axis] = model
            factors = {f["size"]: f for f in model.get("factors", [])}
            rows = {row["size"]: row for row in model["sizes"]}
            base = min((r for r in results if r.size in factors), key=lambda r: r.size, default=None)
            base_invalid = (f"the smallest size's knee was limited by {OTHER_WORK}: {base.knee.limited_reason}"
                            if base is not None and base.knee.limited_by == OTHER_WORK else "")
            for r in results:
                benches.append(size_benchmark(sc, r, rows[r.size], factors.get(r.size),
                                              base_invalid if r is not base else "", sweep_params(opts)))
            benches.append(model_benchmark(sc, axis, model, sweep_params(opts)))
            pipeline.write_text(work / "scale" / f"{axis}.svg", scaling_chart(model))
        if not benches:
            raise PipelineError(f"fit_model: no size produced a result (missing: {missing})")
        pipeline.write_text(work / "scale" / "model.json", json.dumps(models, indent=2, default=str))
        suite = SuiteResult(suite=SUITE, profile=spec.profile, started_at=spec.started_at,
                            finished_at=pipeline.now(), benchmarks=tuple(benches))
        pipeline.write_text(work / "suites" / f"{SUITE}.json", to_json(suite))
    return suite


def teardown(work: Path, item: Any = None, *, sender: Any = None, channel: str = "") -> list[int]:
    """Always runs: ends any process a size started that is still alive (its environment carries
    ``PERF_SCALE_WORK=<this work folder>``)."""
    import psutil

    with pipeline.step(work, "teardown"):
        mine = str(work)
        killed = []
        for p in psutil.process_iter(["pid"]):
            try:
                if p.pid == os.getpid() or p.environ().get(MARKER_ENV) != mine:
                    continue
                os.kill(p.pid, signal.SIGKILL)
                killed.append(p.pid)
            except (psutil.Error, ProcessLookupError, PermissionError):
                continue
        if killed:
            log.warning("teardown: killed %d process(es) a size left running: %s", len(killed), killed)
    return killed


def report_extras(work: Path, spec: pipeline.RunSpec) -> dict[str, Any]:
    from perf_tasks.scale.report import sections

    path = work / "scale" / "model.json"
    if not path.exists():
        return {}
    return {"sections": sections(json.loads(path.read_text()), work / "scale")}


def measure(work: Path, *, sender: Any = None, channel: str = "") -> None:
    """Every size in turn, then the model; teardown always."""
    try:
        for item in tasks(pipeline.load_spec(work)):
            try:
                run_size(work, item)
            except Exception as exc:  # recorded by the step; the model says the size is missing
                log.error("run_size.%s failed: %s", item, exc)
        fit_model(work)
    finally:
        teardown(work)
