"""The stress kind (spec §3): resource stressors, failure injection, recovery and trading-specific
scenarios, one task each, never two at once on one box.

setup_environment -> run_scenario[name] (mapped over the selected scenarios) -> collect_stress ->
(the shared tail) validate -> evaluate -> compare_to_baseline -> build_report -> persist_artifacts
-> notify, and ``teardown`` always last.

A scenario is ``fn(ctx: StressContext) -> BenchmarkResult`` from
``perf_tasks.stress.stressors.STRESSORS`` or ``perf_tasks.stress.failures.FAILURES``; its section
of ``config/stress.yaml`` (targets, per-profile parameters) is its ``ctx.config``. ``run_scenario``
writes ``stress/<name>.json`` (one BenchmarkResult; a scenario that raised is recorded with its
error, which the verdict engine judges critical, and the other scenarios still run), and
``collect_stress`` gathers them into ``suites/stress.json``.

Cleanup: every process a scenario starts inherits ``PERF_STRESS_WORK=<work folder>`` in its
environment; ``teardown`` ends any such process still alive (a task killed mid-scenario) and
removes stressor temp dirs left in the work folder, so a run leaves nothing behind even when its
scenario's own ``finally`` never ran.

Options (``RunSpec.options``; the DAG's trigger params): see :class:`StressOptions`.
"""
from __future__ import annotations

import contextlib
import dataclasses
import logging
import os
import shutil
import signal
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from perf_tasks import pipeline
from perf_tasks.config import PerfConfig
from perf_tasks.errors import ConfigError, UserError
from perf_tasks.kinds.options import StressOptions, defaults
from perf_tasks.results import BenchmarkResult, SuiteResult, from_json, not_applicable_result, to_json
from perf_tasks.system import NotApplicableError, load_system

log = logging.getLogger(__name__)

KIND = "stress"
DAG_ID = "perf_stress_monthly"
SUITE = "stress"
CONFIG_FILE = "stress.yaml"
TEARDOWN_STEPS = ("teardown",)
MARKER_ENV = "PERF_STRESS_WORK"


OPTIONS = StressOptions  #: the options model (perf_tasks.kinds.options): params, --opt and checks
OPTION_DEFAULTS = defaults(StressOptions)


def options_of(spec: pipeline.RunSpec) -> StressOptions:
    return StressOptions.parse(spec.options)


def registry() -> dict[str, Callable[..., BenchmarkResult]]:
    """Every scenario by name: the resource stressors and the failures (imported lazily by them)."""
    from perf_tasks.stress.failures import FAILURES
    from perf_tasks.stress.stressors import STRESSORS

    return {**STRESSORS, **FAILURES}


def load_stress_config(config_dir: str | Path) -> dict[str, Any]:
    """``config/stress.yaml`` (:class:`perf_tasks.stress.settings.StressConfig`): ``default_scenarios``
    (names), ``scenarios`` (name -> section); unknown keys and bad shapes are refused naming the file
    and the key path, names that are not scenarios naming the key."""
    from perf_tasks.stress.settings import load_path, section_dict

    path = Path(config_dir) / CONFIG_FILE
    model = load_path(path)
    default = list(model.default_scenarios)
    sections = {name: section_dict(sec) for name, sec in model.scenarios.items()}
    known = registry()
    for where, names in (("default_scenarios", default), ("scenarios", list(sections))):
        bad = [n for n in names if n not in known]
        if bad:
            raise ConfigError(f"{path}: {where}: {bad} are not stress scenarios (known: {sorted(known)})")
    return {"default_scenarios": default, "scenarios": sections, "source": str(path)}


def prepare(spec: pipeline.RunSpec, cfg: PerfConfig, *, executor: str = "") -> pipeline.RunSpec:
    """Validate scenarios, intensity and target (allowlist) before anything runs."""
    from perf_tasks.load.safety import check_target, run_allowlist

    opts = options_of(spec)
    conf = load_stress_config(spec.config_dir)
    names = list(opts.scenarios or ()) or list(conf["default_scenarios"])
    if not names:
        raise ConfigError(f"param 'scenarios': none given and {conf['source']} has no default_scenarios")
    known = registry()
    bad = [n for n in names if n not in known]
    if bad:
        raise ConfigError(f"param 'scenarios': {bad} are not stress scenarios (known: {sorted(known)})")
    dup = sorted({n for n in names if names.count(n) > 1})
    if dup:
        raise ConfigError(f"param 'scenarios': {dup} named more than once")
    allow = run_allowlist(spec.config_dir, opts.allow or (), source="param 'allow'")  # narrows, never widens
    if opts.target_url:
        check_target(opts.target_url, allow, source="param 'target_url'")
    opts = opts.model_copy(update={"scenarios": tuple(names), "allow": tuple(allow)})
    log.info("stress: scenarios %s at intensity %g, target %s", names, opts.intensity,
             opts.target_url or "the bundled service (one per scenario)")
    return dataclasses.replace(spec, suites=(SUITE,), options=opts.dump(),
                               expected_steps=(*(f"run_scenario.{n}" for n in names), "collect_stress"))


def tasks(spec: pipeline.RunSpec) -> list[str]:
    """The scenario names: the mapping input of ``run_scenario``."""
    return list(options_of(spec).scenarios)


def _context(work: Path, spec: pipeline.RunSpec, opts: StressOptions, name: str) -> Any:
    from perf_tasks.stress.base import StressContext
    from perf_tasks.stress.stressors import STRESSORS

    section = dict(load_stress_config(spec.config_dir)["scenarios"].get(name) or {})
    if opts.window_s and name in STRESSORS:  # the option wins over the file's profile override
        profiles = dict(section.get("profiles") or {})
        profiles[spec.profile] = {**(profiles.get(spec.profile) or {}), "duration_s": float(opts.window_s)}
        section["profiles"] = profiles
    folder = work / "stress" / name
    folder.mkdir(parents=True, exist_ok=True)
    return StressContext(name=name, work=folder, profile=spec.profile, intensity=opts.intensity, config=section,
                         seed=opts.seed, service_url=opts.target_url or "", log_prefix=f"[{name}] ", allow=opts.allow,
                         system=load_system(spec.config_dir, spec.system) if spec.system else None)


@contextlib.contextmanager
def _marked(work: Path) -> Iterator[None]:
    """Children started meanwhile carry ``PERF_STRESS_WORK`` (teardown finds them by it)."""
    old = os.environ.get(MARKER_ENV)
    os.environ[MARKER_ENV] = str(work.resolve())
    try:
        yield
    finally:
        if old is None:
            os.environ.pop(MARKER_ENV, None)
        else:
            os.environ[MARKER_ENV] = old


def _failed(name: str, spec: pipeline.RunSpec, exc: BaseException, elapsed_s: float) -> BenchmarkResult:
    return BenchmarkResult(suite=SUITE, name=name, callable=f"stress scenario {name}", params={"profile": spec.profile},
                           items_per_call=1, item_unit="request", warmups=0, calls_per_observation=1,
                           observation_s=(), latency_s=None, metrics=(), resources=None, calls=0, errors=1,
                           error=f"{type(exc).__name__}: {exc}", duration_s=elapsed_s)


def _live(spec: pipeline.RunSpec) -> Any:
    """The scenario's load windows go live to the Pushgateway, when one is configured."""
    from perf_tasks.load.live_push import pushing
    from perf_tasks.monitor.prom import gateway_url

    return pushing(gateway_url(pipeline.run_config(spec).alerts.monitoring.pushgateway_url), dag=spec.dag_id,
                   run_id=spec.run_id)


def run_scenario(work: Path, item: Any = None) -> dict[str, Any]:
    """Run scenario ``item`` into ``stress/<item>.json``. A user error (bad config) fails the
    task; any other exception is recorded as the scenario's error (judged critical) and the task
    succeeds, so one broken scenario does not hide the others' results."""
    name = str(item)
    with pipeline.step(work, f"run_scenario.{name}"):
        spec = pipeline.load_spec(work)
        opts = options_of(spec)
        if name not in opts.scenarios:
            raise ConfigError(f"run_scenario: {name!r} is not one of this run's scenarios {list(opts.scenarios)}")
        fn = registry()[name]
        ctx = _context(work, spec, opts, name)
        t0 = time.monotonic()
        log.info("stress scenario %s: profile %s, intensity %g", name, spec.profile, opts.intensity)
        try:
            with _marked(work), _live(spec):
                result = fn(ctx)
        except NotApplicableError as exc:  # the system cannot serve this scenario: said, never run elsewhere
            log.warning("stress scenario %s: %s", name, exc)
            result = not_applicable_result(SUITE, name, str(exc), params={"profile": spec.profile})
        except UserError:
            raise
        except Exception as exc:  # recorded, judged critical by evaluate; the traceback goes to the log
            log.exception("stress scenario %s raised", name)
            result = _failed(name, spec, exc, time.monotonic() - t0)
        if result.name != name or result.suite != SUITE:
            result = dataclasses.replace(result, name=name, suite=SUITE)
        pipeline.write_text(work / "stress" / f"{name}.json", to_json(result))
    return {"scenario": name, "metrics": len(result.metrics), "error": result.error,
            "duration_s": round(time.monotonic() - t0, 1)}


def collect(work: Path) -> SuiteResult:
    """``suites/stress.json`` from every scenario's ``stress/<name>.json`` (a missing one is
    recorded as a scenario that did not run)."""
    with pipeline.step(work, "collect_stress"):
        spec = pipeline.load_spec(work)
        benches = []
        for name in options_of(spec).scenarios:
            path = work / "stress" / f"{name}.json"
            if path.exists():
                benches.append(from_json(BenchmarkResult, path.read_text(), source=str(path)))
            else:
                benches.append(_failed(name, spec, RuntimeError("the scenario did not run (its task failed or was "
                                                                "skipped)"), 0.0))
        suite = SuiteResult(suite=SUITE, profile=spec.profile, started_at=spec.started_at, finished_at=pipeline.now(),
                            benchmarks=tuple(benches))
        pipeline.write_text(work / "suites" / f"{SUITE}.json", to_json(suite))
    return suite


collect_stress = collect  # the DAG task's name


def leftover_processes(work: Path) -> list[Any]:
    """Processes (not this one, nor its ancestors) whose environment carries this run's marker."""
    import psutil

    mine = str(work.resolve())
    skip = {os.getpid(), *(p.pid for p in psutil.Process().parents())}
    found = []
    for proc in psutil.process_iter(["pid"]):
        if proc.pid in skip:
            continue
        try:
            if proc.environ().get(MARKER_ENV) == mine:
                found.append(proc)
        except (psutil.Error, OSError):
            continue
    return found


def teardown(work: Path) -> dict[str, int]:
    """Always last: end processes left by this run's scenarios, remove stressor temp dirs."""
    import psutil

    with pipeline.step(work, "teardown"):
        procs = leftover_processes(work)
        for p in procs:
            log.warning("teardown: ending leftover process %d (%s)", p.pid, " ".join(p.cmdline()[:4]))
            with contextlib.suppress(psutil.Error):
                p.send_signal(signal.SIGTERM)
        _, alive = psutil.wait_procs(procs, timeout=5)
        for p in alive:
            with contextlib.suppress(psutil.Error):
                p.kill()
        psutil.wait_procs(alive, timeout=5)
        removed = 0
        for d in (work / "stress").glob("*/perf-disk-stress-*") if (work / "stress").exists() else ():
            shutil.rmtree(d, ignore_errors=True)
            removed += 1
    return {"processes_ended": len(procs), "dirs_removed": removed}


def measure(work: Path, *, sender: Any = None, channel: str = "") -> None:
    """Every scenario in turn -> collect_stress, and teardown always (the CLI path)."""
    try:
        for name in tasks(pipeline.load_spec(work)):
            run_scenario(work, name)
        collect(work)
    finally:
        teardown(work)


def report_extras(work: Path, spec: pipeline.RunSpec) -> dict[str, Any]:
    """A degradation table (one row per scenario) for the report."""
    path = work / "suites" / f"{SUITE}.json"
    if not path.exists():
        return {}
    suite = from_json(SuiteResult, path.read_text(), source=str(path))
    cols = ("stressor_achieved_pct", "unstressed_latency_p95_ms", "stressed_latency_p95_ms", "p95_increase_pct",
            "throughput_reduction_pct", "error_rate_increase_pct", "max_response_ms", "crashed_pct", "hung_pct")
    rows = []
    for b in suite.benchmarks:
        vals = {m.name.rsplit(".", 1)[-1]: m for m in b.metrics}
        if not any(c in vals for c in cols):
            continue
        cells = [b.name]
        for c in cols:
            m = vals.get(c)
            cells.append("-" if m is None else f"{m.value:.1f}" + (" (invalid)" if m.invalid_reason else ""))
        rows.append(cells)
    if not rows:
        return {}
    return {"sections": [{"title": "Degradation under stress (stressed vs unstressed, same task)", "id": "stress",
                          "headers": ["scenario", *cols], "table": rows, "open": True}]}
