"""What every stress, failure and recovery scenario gets and gives (spec §3).

A scenario is a callable ``fn(ctx: StressContext) -> BenchmarkResult``: it runs bounded in time and
request count, against loopback only, cleans up everything it started (``finally``), and returns its
measurements in the one result model (``perf_tasks.results``): one "benchmark" named after the
scenario in suite ``stress``, whose metrics the shared evaluate step judges against
``config/stress.yaml``'s targets. A measurement it cannot trust is returned with the metric's
``invalid_reason`` set (never a pass, never the system's fault); one it could not take has
``no_data_reason``.

Registries: ``perf_tasks.stress.stressors.STRESSORS`` (resource stressors, each measured against an
unstressed run in the same task) and ``perf_tasks.stress.failures.FAILURES`` (failure injection,
recovery, trading-specific scenarios) map a scenario name to its callable; the stress kind
(``perf_tasks.kinds.stress``) maps its DAG task over the selected names.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from perf_tasks.system import NotApplicableError, System

SUITE = "stress"


@dataclass(frozen=True)
class StressContext:
    name: str  # the scenario's name (the key in STRESSORS/FAILURES; the benchmark's name)
    work: Path  # a folder of this scenario's own (logs, the service's database, raw series); created by the kind
    profile: str  # smoke | standard | full: smoke must finish in well under a minute on a 2-core box
    intensity: float = 1.0  # 0 < intensity <= 1: scales load, shock size, stressor strength (trigger param)
    config: dict[str, Any] = field(default_factory=dict)  # the scenario's section of config/stress.yaml
    seed: int = 20261127
    service_url: str = ""  # a running service to drive; empty: the scenario starts (and stops) its own
    log_prefix: str = ""
    allow: tuple[str, ...] = ()  # hosts allowed besides loopback (perf_tasks.load.safety), for service_url
    # the system under test (systems.yaml of the run's config folder; None: the folder defines none).
    # A scenario that must start it calls ``require_system(ctx, what)``; one it cannot serve raises
    # perf_tasks.system.NotApplicableError, and the kind records the scenario as not applicable.
    system: System | None = None


def require_system(ctx: StressContext, what: str) -> System:
    """The run's system, for ``what`` (a scenario) that needs one defined; a run whose config folder
    defines no system cannot run it (not applicable, never the bundled demo in its place)."""
    if ctx.system is None:
        raise NotApplicableError(f"{what} is not applicable: the config folder defines no system under test "
                                 "(systems.yaml; docs/own-system.md)")
    return ctx.system
