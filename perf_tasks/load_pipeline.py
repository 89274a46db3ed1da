"""The weekly load pipeline as plain functions (Airflow operators and the CLI call them).

setup_environment -> start_service -> run_shard[0..K-1] -> merge_shards -> (the daily pipeline's)
validate -> evaluate -> compare_to_baseline -> build_report -> persist_artifacts -> notify, and
stop_service always. Each shard runs every selected scenario in turn, its 1/K share of the arrival
schedule and users (perf_tasks.load.plan.split_plan); merge_shards combines the shards of each
scenario exactly (HDR histograms add, counts add) and turns the merged results into the common
result model (suite ``load``, one "benchmark" per scenario, built by
perf_tasks.load.summary.benchmark_result exactly as the ``load`` CLI builds it), so validation,
judging (perf_tasks.alerts.rules.evaluate: the same verdicts as the CLI), comparison, report,
storage and alerting are the daily pipeline's own.
"""
from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

from perf_tasks import pipeline
from perf_tasks.errors import ConfigError, PipelineError
from perf_tasks.monitor.fingerprint import fingerprint
from perf_tasks.results import SuiteResult, to_dict, to_json
from perf_tasks.sut import ServiceHandle, start_service, stop_service

log = logging.getLogger(__name__)

SCENARIOS_FILE = "load_scenarios.yaml"
JOURNEYS_FILE = "load_journeys.yaml"
SUITE = "load"


def _scenarios(spec: pipeline.RunSpec) -> dict[str, Any]:
    from perf_tasks.load.scenario import load_scenarios

    return load_scenarios(Path(spec.config_dir) / SCENARIOS_FILE)


def _journeys(spec: pipeline.RunSpec) -> Any:
    from perf_tasks.load.journey import load_journeys

    return load_journeys(Path(spec.config_dir) / JOURNEYS_FILE)


def expected_steps(shards: int) -> tuple[str, ...]:
    return ("setup_environment", "start_service", *(f"run_shard.{i}" for i in range(shards)), "merge_shards",
            "validate", "evaluate", "compare_to_baseline", "build_report", "persist_artifacts", "stop_service")


def setup_environment(work: Path, spec: pipeline.RunSpec) -> list[int]:
    """Validate profile, scenarios, journeys, shards and target (allowlist) before any request;
    fingerprint and host readings. Returns the shard indexes (the mapping input)."""
    from perf_tasks.load.safety import check_target
    from perf_tasks.load.scenario import get_scenario

    work.mkdir(parents=True, exist_ok=True)
    with pipeline.step(work, "setup_environment"):
        if spec.profile not in pipeline.PROFILES:
            raise ConfigError(f"param 'profile': {spec.profile!r} is not one of {list(pipeline.PROFILES)}")
        scenarios = _scenarios(spec)
        names = list(spec.scenarios) or list(scenarios)
        source = str(Path(spec.config_dir) / SCENARIOS_FILE)
        chosen = [get_scenario(scenarios, n, source=f"param 'scenarios' ({source})") for n in names]
        journeys = _journeys(spec)
        from perf_tasks.load.journey import resolve_journey
        for sc in chosen:
            resolve_journey(journeys, sc.journey, source=f"scenario {sc.name!r} journey")
        if not isinstance(spec.shards, int) or spec.shards < 1:
            raise ConfigError(f"param 'shards': expected an integer >= 1, got {spec.shards!r}")
        too_few = [sc.name for sc in chosen if sc.users < spec.shards]
        if too_few:
            raise ConfigError(f"param 'shards': {spec.shards} shards but scenario(s) {too_few} have fewer users")
        if spec.target_url:
            check_target(spec.target_url, source="param 'target_url'")
        if spec.service_workers < 1:
            raise ConfigError(f"param 'service_workers': expected >= 1, got {spec.service_workers!r}")
        spec = pipeline.RunSpec(**{**spec.__dict__, "scenarios": tuple(names), "suites": (SUITE,),
                                   "started_at": spec.started_at or pipeline._now(),
                                   "artifacts_url": spec.artifacts_url or pipeline.default_artifacts_url(),
                                   "expected_steps": expected_steps(spec.shards)})
        pipeline._write(work / "run.json", json.dumps(to_dict(spec), indent=2))
        env = {"fingerprint": fingerprint(),
               "host_metrics": [to_dict(m) for m in pipeline.host_readings(work)]}
        pipeline._write(work / "environment.json", json.dumps(env, indent=2))
        log.info("load run %s: profile %s, scenarios %s, %d shard(s), target %s", spec.run_id, spec.profile, names,
                 spec.shards, spec.target_url or "the bundled service")
    return list(range(spec.shards))


def start_service_step(work: Path) -> ServiceHandle:
    with pipeline.step(work, "start_service"):
        spec = pipeline.load_spec(work)
        if spec.target_url:
            handle = ServiceHandle(url=spec.target_url.rstrip("/"), pid=None)
        else:
            handle = start_service(work / "service", workers=spec.service_workers)
        pipeline._write(work / "service.json", handle.to_json())
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


def run_shard(work: Path, shard: int, *, seed: int = 20261127) -> list[str]:
    """This shard's share of every selected scenario, one scenario after another."""
    from perf_tasks.load.plan import split_plan
    from perf_tasks.load.result import result_to_json
    from perf_tasks.load.runner import run_plan
    from perf_tasks.load.scenario import plan_for_scenario, scale_for_profile

    with pipeline.step(work, f"run_shard.{shard}"):
        spec = pipeline.load_spec(work)
        if not 0 <= shard < spec.shards:
            raise ConfigError(f"shard {shard} is not in [0, {spec.shards})")
        handle = ServiceHandle.from_json(pipeline._read(work, "service.json", f"run_shard.{shard}"))
        scenarios, journeys = _scenarios(spec), _journeys(spec)
        done = []
        for i, name in enumerate(spec.scenarios):
            scaled = scale_for_profile(scenarios[name], spec.profile)
            plan = plan_for_scenario(scaled, handle.url, journeys, seed=seed + i, target_pid=handle.pid)
            mine = split_plan(plan, spec.shards)[shard] if spec.shards > 1 else plan
            log.info("[shard %d/%d] scenario %s: %.0f req/s for %.0f s, %d users", shard + 1, spec.shards, name,
                     scaled.rate_per_s / spec.shards, scaled.duration_s, mine.users)
            result = run_plan(mine)
            pipeline._write(work / "load" / name / f"shard-{shard}.json", result_to_json(result))
            log.info("[shard %d] %s: %d requests, %d errors, p95 %s ms", shard, name, result.requests, result.errors,
                     f"{result.latency.p95_ms:.1f}" if result.latency else "-")
            done.append(name)
    return done


def merge_shards(work: Path) -> SuiteResult:
    """Merge each scenario's shards exactly; write ``load/<scenario>/merged.json`` and the common
    result model (``suites/load.json``)."""
    from perf_tasks.load.result import merge_results, result_from_json, result_to_json
    from perf_tasks.load.summary import benchmark_result

    with pipeline.step(work, "merge_shards"):
        spec = pipeline.load_spec(work)
        scenarios = _scenarios(spec)
        started = spec.started_at
        benches = []
        for name in spec.scenarios:
            parts = []
            for i in range(spec.shards):
                path = work / "load" / name / f"shard-{i}.json"
                if not path.exists():
                    raise PipelineError(f"merge_shards: {path} is missing (did run_shard.{i} fail?)")
                parts.append(result_from_json(path.read_text(), source=str(path)))
            merged = merge_results(parts) if len(parts) > 1 else parts[0]
            pipeline._write(work / "load" / name / "merged.json", result_to_json(merged))
            benches.append(benchmark_result(merged, scenarios[name], suite=SUITE))
        suite = SuiteResult(suite=SUITE, profile=spec.profile, started_at=started, finished_at=pipeline._now(),
                            benchmarks=tuple(benches))
        pipeline._write(work / "suites" / f"{SUITE}.json", to_json(suite))
    return suite
