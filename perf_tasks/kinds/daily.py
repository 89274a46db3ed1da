"""The daily benchmarks (spec §1.3): each suite of ``config/benchmarks.yaml`` in worker processes,
one suite at a time (``run_benchmarks.<suite>``)."""
from __future__ import annotations

import dataclasses
import json
import logging
from pathlib import Path
from typing import Any

import numpy as np

from perf_tasks import pipeline
from perf_tasks.bench.runner import InterruptedRun, plan_benchmark, resolve_callable, run_benchmarks
from perf_tasks.config import PerfConfig, select_suites
from perf_tasks.errors import ConfigError
from perf_tasks.kinds.options import DailyOptions, defaults
from perf_tasks.results import SuiteResult, to_json

log = logging.getLogger(__name__)

KIND = "daily"
DAG_ID = "perf_daily"
OPTIONS = DailyOptions  #: the options model (perf_tasks.kinds.options): params, --opt and checks
OPTION_DEFAULTS: dict[str, Any] = defaults(DailyOptions)  # none: suites and target overrides are every run's


def prepare(spec: pipeline.RunSpec, cfg: PerfConfig, *, executor: str = "") -> pipeline.RunSpec:
    """The suites (all in config by default), every benchmark's callable importable."""
    suites = select_suites(cfg, list(spec.suites))
    for suite in suites:
        for name, bench in cfg.benchmarks.suites[suite].benchmarks.items():
            resolve_callable(bench.callable,
                             source=f"{cfg.source('benchmarks')}: suites.{suite}.benchmarks.{name}.callable")
    return dataclasses.replace(spec, suites=tuple(suites),
                               expected_steps=tuple(f"run_benchmarks.{s}" for s in suites))


def run_suite(work: Path, suite: Any = None, *, seed: int = 20261127, sender: Any = None,
              channel: str = "") -> SuiteResult:
    """Run every benchmark of one suite; writes ``suites/<suite>.json`` and resource series."""
    with pipeline.step(work, f"run_benchmarks.{suite}"):
        spec = pipeline.load_spec(work)
        cfg = pipeline.run_config(spec)
        if suite not in spec.suites:
            raise ConfigError(f"suite {suite!r} is not part of run {spec.run_id} (suites: {list(spec.suites)})")
        profile = cfg.profile(spec.profile)
        rng = np.random.default_rng(seed)
        started = pipeline.now()
        benches = cfg.benchmarks.suites[suite].benchmarks
        plans = [plan_benchmark(suite, name, bench, profile, spec.profile, source=cfg.source("benchmarks"))
                 for name, bench in benches.items()]
        log.info("[%s] %d benchmarks x %d worker processes, in %d interleaved passes", suite, len(plans),
                 profile.processes, profile.processes)
        try:
            runs = run_benchmarks(plans, profile, rng=rng)
        except InterruptedRun as stop:  # Ctrl-C: keep what finished processes measured, then stop
            _write_suite(work, suite, spec.profile, started, stop.runs, profile.sample_interval_s)
            log.warning("[%s] interrupted: kept %d benchmark(s) measured by finished worker processes in %s", suite,
                        len(stop.runs), work / "suites" / f"{suite}.json")
            raise
        result = _write_suite(work, suite, spec.profile, started, runs, profile.sample_interval_s)
    return result


def _write_suite(work: Path, suite: str, profile: str, started: str, runs: list[Any],
                 interval_s: float) -> SuiteResult:
    for run in runs:
        pipeline.write_text(work / "resources" / f"{run.result.suite}.{run.result.name}.json",
                            json.dumps({"interval_s": interval_s, "samples": [s.__dict__ for s in run.resources.series]}))
    result = SuiteResult(suite=suite, profile=profile, started_at=started, finished_at=pipeline.now(),
                         benchmarks=tuple(run.result for run in runs))
    pipeline.write_text(work / "suites" / f"{suite}.json", to_json(result))
    return result


def measure(work: Path, *, sender: Any = None, channel: str = "") -> None:
    for suite in pipeline.load_spec(work).suites:
        run_suite(work, suite)
