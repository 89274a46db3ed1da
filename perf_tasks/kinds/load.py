"""The load kind (spec §2): the weekly load scenarios against the trading HTTP API.

setup_environment -> start_service -> run_shard[0..K-1] -> merge_shards -> (the shared tail)
validate -> evaluate -> compare_to_baseline -> build_report -> persist_artifacts -> notify, and
stop_service always. Each shard runs every selected scenario in turn, its 1/K share of the arrival
schedule and users (perf_tasks.load.plan.split_plan); merge_shards combines the shards of each
scenario exactly (HDR histograms add, counts add) and turns the merged results into the common
result model (suite ``load``, one "benchmark" per scenario, built by
perf_tasks.load.summary.benchmark_result exactly as the ``load`` CLI builds it), so validation,
judging (perf_tasks.alerts.rules.evaluate: the same verdicts as the CLI), comparison, report,
storage and alerting are the shared steps'.

Options (``RunSpec.options``; the DAG's trigger params): see :class:`LoadOptions`.
"""
from __future__ import annotations

import dataclasses
import json
import logging
import time
from pathlib import Path
import typing
from typing import Any

from perf_tasks import pipeline
from perf_tasks.config import PerfConfig
from perf_tasks.errors import ConfigError, PipelineError
from perf_tasks.kinds.options import LoadOptions, ShardMode, defaults
from perf_tasks.results import SuiteResult, to_json
from perf_tasks.sut import ServiceHandle, start_service, stop_service

log = logging.getLogger(__name__)

KIND = "load"
DAG_ID = "perf_load_weekly"
SCENARIOS_FILE = "load_scenarios.yaml"
JOURNEYS_FILE = "load_journeys.yaml"
SUITE = "load"
#: tasks mode: how long a shard waits for the others at a scenario's start before it goes alone
#: (the merge then marks the scenario invalid: its shards did not run together)
BARRIER_TIMEOUT_S = 60.0
BARRIER_LEAD_S = 5.0  # the common start: this long after the last shard arrived (2 s was too tight under load)


TEARDOWN_STEPS = ("stop_service",)


OPTIONS = LoadOptions  #: the options model (perf_tasks.kinds.options): params, --opt and checks
OPTION_DEFAULTS = defaults(LoadOptions)
SHARD_MODES = typing.get_args(ShardMode)  # auto, processes, tasks


def options_of(spec: pipeline.RunSpec) -> LoadOptions:
    return LoadOptions.parse(spec.options)


def _scenarios(spec: pipeline.RunSpec) -> dict[str, Any]:
    from perf_tasks.load.scenario import load_scenarios

    return load_scenarios(Path(spec.config_dir) / SCENARIOS_FILE)


def _journeys(spec: pipeline.RunSpec) -> Any:
    from perf_tasks.load.journey import load_journeys

    return load_journeys(Path(spec.config_dir) / JOURNEYS_FILE)


def shard_tasks(shards: int, mode: str) -> int:
    """How many ``run_shard`` tasks a run has: K in tasks mode, one (running K processes) otherwise."""
    return shards if mode == "tasks" else 1


def expected_steps(shards: int, mode: str = "processes") -> tuple[str, ...]:
    """The load kind's own measuring steps (stop_service is its teardown step, recorded last)."""
    return ("start_service", *(f"run_shard.{i}" for i in range(shard_tasks(shards, mode))), "merge_shards")


def resolve_shard_mode(mode: str, executor: str = "") -> str:
    """"auto": mapped tasks only where the executor runs them at once on separate workers
    (Celery, Kubernetes, Edge); elsewhere (dag.test, Local/Sequential executors) one task runs the
    K shards as K processes, so they really overlap and the service sees the whole rate."""
    if mode not in SHARD_MODES:
        raise ConfigError(f"param 'shard_mode': {mode!r} is not one of {list(SHARD_MODES)}")
    if mode != "auto":
        return mode
    distributed = ("CeleryExecutor", "KubernetesExecutor", "CeleryKubernetesExecutor", "EdgeExecutor")
    return "tasks" if any(name in executor for name in distributed) else "processes"


def prepare(spec: pipeline.RunSpec, cfg: PerfConfig, *, executor: str = "") -> pipeline.RunSpec:
    """Validate scenarios, journeys, shards and target (allowlist) before any request."""
    from perf_tasks.load.journey import resolve_journey
    from perf_tasks.load.safety import check_target, run_allowlist
    from perf_tasks.load.scenario import get_scenario

    opts = options_of(spec)
    scenarios = _scenarios(spec)
    names = list(opts.scenarios or ()) or list(scenarios)
    source = str(Path(spec.config_dir) / SCENARIOS_FILE)
    chosen = [get_scenario(scenarios, n, source=f"param 'scenarios' ({source})") for n in names]
    journeys = _journeys(spec)
    for sc in chosen:
        resolve_journey(journeys, sc.journey, source=f"scenario {sc.name!r} journey")
    too_few = [sc.name for sc in chosen if sc.users < opts.shards]
    if too_few:
        raise ConfigError(f"param 'shards': {opts.shards} shards but scenario(s) {too_few} have fewer users")
    allow = run_allowlist(spec.config_dir, opts.allow or (), source="param 'allow'")  # narrows, never widens
    if opts.target_url:
        check_target(opts.target_url, allow, source="param 'target_url'")
    if opts.advertised_url:
        check_target(opts.advertised_url.replace("{port}", "1"), allow, source="param 'advertised_url'")
    mode = resolve_shard_mode(opts.shard_mode, executor)
    opts = opts.model_copy(update={"scenarios": tuple(names), "shard_mode": mode, "allow": tuple(allow)})
    log.info("load: scenarios %s, %d shard(s) as %s, target %s", names, opts.shards, mode,
             opts.target_url or "the bundled service")
    return dataclasses.replace(spec, suites=(SUITE,), options=opts.dump(),
                               expected_steps=expected_steps(opts.shards, mode))


def tasks(spec: pipeline.RunSpec) -> list[int]:
    """The shard task indexes (the mapping input of ``run_shard``): K in tasks mode, [0] in
    processes mode (that task runs the K shards; :func:`resolve_shard_mode`)."""
    opts = options_of(spec)
    return list(range(shard_tasks(opts.shards, opts.shard_mode)))


def start_service_step(work: Path) -> ServiceHandle:
    with pipeline.step(work, "start_service"):
        opts = options_of(pipeline.load_spec(work))
        if opts.target_url:
            handle = ServiceHandle(url=opts.target_url.rstrip("/"), pid=None)
        else:
            handle = start_service(work / "service", workers=opts.service_workers, host=opts.service_host,
                                   advertised_url=opts.advertised_url or "")
        pipeline.write_text(work / "service.json", handle.to_json())
    return handle


def stop_service_step(work: Path) -> bool:
    """Always runs (teardown): stops the service we started, if any."""
    with pipeline.step(work, "stop_service"):
        path = work / "service.json"
        if not path.exists():
            return False
        stopped = stop_service(ServiceHandle.from_json(path.read_text()))
        log.info("service under test %s", "stopped" if stopped else "not ours: left running")
    return stopped


def common_start(folder: Path, shard: int, shards: int, *, timeout_s: float = BARRIER_TIMEOUT_S,
                 lead_s: float = BARRIER_LEAD_S) -> float:
    """Tasks mode: a file barrier in the (shared) work folder. Each shard writes when it arrived and
    waits for the others; all compute the same start (the last arrival + ``lead_s``). A shard that
    waited ``timeout_s`` goes alone (the merge then finds the shards did not overlap)."""
    folder.mkdir(parents=True, exist_ok=True)
    pipeline.write_text(folder / f"arrived-{shard}", repr(time.time()))
    deadline = time.monotonic() + timeout_s
    while True:
        stamps = [folder / f"arrived-{i}" for i in range(shards)]
        if all(p.exists() for p in stamps):
            return max(float(p.read_text()) for p in stamps) + lead_s
        if time.monotonic() > deadline:
            missing = [i for i, p in enumerate(stamps) if not p.exists()]
            log.warning("shard %d: shards %s did not arrive within %.0f s: starting alone (the merge will mark "
                        "this scenario invalid: its shards did not run together)", shard, missing, timeout_s)
            return time.time() + lead_s
        time.sleep(0.05)


def _log_result(shard: int, name: str, result: Any) -> None:
    gen = result.generator.verdict if result.generator else "unknown"
    log.info("[shard %d] %s: %d requests, %d errors, %d dropped, p95 %s ms (successful), generator %s", shard, name,
             result.requests, result.errors, result.dropped,
             f"{result.latency.p95_ms:.1f}" if result.latency else "-", gen)
    if gen == "saturated":
        log.warning("[shard %d] %s: %s", shard, name, result.generator.reason)


def _live_alert_sender(work: Path, scenario: str, sender: Any, channel: str) -> Any:
    """on_alert for a LiveMonitor: deliver one Slack message (outbox when no sender), and record
    what happened in ``alerts/live/<scenario>.json``."""
    from perf_tasks.alerts.slack import deliver
    from perf_tasks.results import to_dict

    def on_alert(alert: Any) -> None:
        text = alert.text()
        message = {"text": text, "blocks": [{"type": "section", "text": {"type": "mrkdwn", "text": text}}]}
        delivery = deliver(message, sender, work / "alerts" / "live" / scenario, channel=channel or "outbox",
                           attempts=2, backoff_s=0.5)
        pipeline.write_text(work / "alerts" / "live" / f"{scenario}.json", json.dumps(
            {"alert": to_dict(alert), "delivery": to_dict(delivery), "delivered_unix": time.time()}, indent=2))

    return on_alert


def _live_pusher(url: str, dag: str, scenario: str, run_id: str, window_s: float) -> Any:
    from perf_tasks.monitor.prom import push_live

    def on_window(w: Any) -> None:
        push_live(url, dag=dag, scenario=scenario, run_id=run_id, window_s=window_s, observations=w.observations,
                  failures=w.failures, p95_ms=w.p95_ms)

    return on_window


def run_shard(work: Path, shard: Any = 0, *, seed: int = 20261127, sender: Any = None, channel: str = "") -> list[str]:
    """Every selected scenario, one after another: in processes mode this task runs all K shards
    as K processes that start together; in tasks mode it runs shard ``shard`` after meeting the
    other shard tasks at a common start (:func:`common_start`). Task 0 watches the shards' live
    windows and alerts mid-run (alerts.yaml ``live``; ``sender`` posts to Slack, else the outbox)."""
    from perf_tasks.load.live import LiveMonitor, LiveSettings
    from perf_tasks.monitor.prom import delete_live, gateway_url
    from perf_tasks.load.plan import split_plan
    from perf_tasks.load.result import result_to_json
    from perf_tasks.load.runner import run_plan, run_plans_in_processes
    from perf_tasks.load.safety import DEFAULT_ALLOWLIST
    from perf_tasks.load.scenario import plan_for_scenario, scale_for_profile

    with pipeline.step(work, f"run_shard.{shard}"):
        spec = pipeline.load_spec(work)
        opts = options_of(spec)
        shard = int(shard)
        n_tasks = shard_tasks(opts.shards, opts.shard_mode)
        if not 0 <= shard < n_tasks:
            raise ConfigError(f"shard task {shard} is not in [0, {n_tasks}) ({opts.shards} shards as "
                              f"{opts.shard_mode})")
        handle = ServiceHandle.from_json(pipeline.read_text(work, "service.json", f"run_shard.{shard}"))
        scenarios, journeys = _scenarios(spec), _journeys(spec)
        allow = opts.allow or DEFAULT_ALLOWLIST  # resolved by prepare(): the deployment's list or a narrower one
        live_cfg = pipeline.run_config(spec).alerts.live
        done = []
        for i, name in enumerate(opts.scenarios):
            scaled = scale_for_profile(scenarios[name], spec.profile)
            plan = plan_for_scenario(scaled, handle.url, journeys, seed=seed + i, target_pid=handle.pid, allow=allow)
            plans = split_plan(plan, opts.shards) if opts.shards > 1 else (plan,)
            live_dir = work / "load" / name / "live"
            monitor = None
            if live_cfg.enabled:
                live_dir.mkdir(parents=True, exist_ok=True)
                plans = tuple(dataclasses.replace(p, live=LiveSettings(
                    str(live_dir / f"shard-{k}.json"), str(live_dir / "abort"), live_cfg.window_s, live_cfg.every_s))
                    for k, p in enumerate(plans))
                if shard == 0:
                    sc = scenarios[name]
                    gateway = gateway_url(pipeline.run_config(spec).alerts.monitoring.pushgateway_url)
                    monitor = LiveMonitor(name, [live_dir / f"shard-{k}.json" for k in range(len(plans))],
                                          live_dir / "abort", p95_target_ms=sc.p95_target_ms,
                                          max_error_rate_pct=sc.max_error_rate_pct, window_s=live_cfg.window_s,
                                          hold_s=live_cfg.hold_s, every_s=live_cfg.every_s, abort=live_cfg.abort,
                                          on_alert=_live_alert_sender(work, name, sender, channel),
                                          on_window=_live_pusher(gateway, spec.dag_id, name, spec.run_id,
                                                                 live_cfg.window_s) if gateway else None)
            log.info("[shard task %d] scenario %s: %.0f req/s for %.0f s, %d users, %d shard(s) as %s", shard, name,
                     scaled.rate_per_s, scaled.duration_s, plan.users, opts.shards, opts.shard_mode)
            if monitor is not None:
                monitor.__enter__()
            try:
                if opts.shard_mode == "tasks" and opts.shards > 1:
                    start = common_start(work / "load" / name / "barrier", shard, opts.shards)
                    results = {shard: run_plan(dataclasses.replace(plans[shard], start_at_unix=start))}
                elif len(plans) > 1:
                    results = dict(enumerate(run_plans_in_processes(plans)))
                else:
                    results = {0: run_plan(plans[0])}
            finally:
                if monitor is not None:
                    monitor.__exit__(None, None, None)
                    if monitor.on_window is not None:
                        delete_live(gateway, dag=spec.dag_id, scenario=name)
            for k, result in results.items():
                pipeline.write_text(work / "load" / name / f"shard-{k}.json", result_to_json(result))
                _log_result(k, name, result)
            done.append(name)
    return done


def merge_shards(work: Path) -> SuiteResult:
    """Merge each scenario's shards exactly; write ``load/<scenario>/merged.json`` and the common
    result model (``suites/load.json``)."""
    from perf_tasks.load.result import merge_results, result_from_json, result_to_json
    from perf_tasks.load.summary import benchmark_result

    with pipeline.step(work, "merge_shards"):
        spec = pipeline.load_spec(work)
        opts = options_of(spec)
        scenarios = _scenarios(spec)
        started = spec.started_at
        benches = []
        for name in opts.scenarios:
            parts = []
            for i in range(opts.shards):
                path = work / "load" / name / f"shard-{i}.json"
                if not path.exists():
                    raise PipelineError(f"merge_shards: {path} is missing (did run_shard.{i} fail?)")
                parts.append(result_from_json(path.read_text(), source=str(path)))
            merged = merge_results(parts) if len(parts) > 1 else parts[0]
            pipeline.write_text(work / "load" / name / "merged.json", result_to_json(merged))
            benches.append(benchmark_result(merged, scenarios[name], suite=SUITE))
        suite = SuiteResult(suite=SUITE, profile=spec.profile, started_at=started, finished_at=pipeline.now(),
                            benchmarks=tuple(benches))
        pipeline.write_text(work / "suites" / f"{SUITE}.json", to_json(suite))
    return suite


def report_extras(work: Path, spec: pipeline.RunSpec) -> dict[str, Any]:
    """The report's load section: each scenario's merged result."""
    from perf_tasks.load.result import result_from_json

    load = {}
    for name in options_of(spec).scenarios:
        merged = work / "load" / name / "merged.json"
        if merged.exists():
            load[name] = result_from_json(merged.read_text(), source=str(merged))
    return {"load": load}


def measure(work: Path, *, sender: Any = None, channel: str = "") -> None:
    """start_service -> every shard task -> merge_shards, and stop_service always."""
    try:
        start_service_step(work)
        for shard in tasks(pipeline.load_spec(work)):
            run_shard(work, shard, sender=sender, channel=channel)
        merge_shards(work)
    finally:
        stop_service_step(work)
