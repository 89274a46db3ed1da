"""Entry points: run a plan or a scenario (sync wrappers around asyncio), shards in processes.

``run_scenario`` is what an operator calls: it loads nothing itself (pass loaded config), checks
the target against the allowlist before any request, runs on uvloop when it is installed, and
returns a :class:`~perf_tasks.load.result.LoadResult`.
"""
from __future__ import annotations

import asyncio
import dataclasses
import logging
import multiprocessing
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ProcessPoolExecutor
from typing import Any

from perf_tasks.errors import PerfError
from perf_tasks.load.engine import Engine
from perf_tasks.load.journey import JourneysFile
from perf_tasks.load.plan import LoadPlan, split_plan
from perf_tasks.load.result import LoadResult, merge_results
from perf_tasks.load.safety import DEFAULT_ALLOWLIST, check_target
from perf_tasks.load.scenario import LoadScenario, plan_for_scenario, scale_for_profile

log = logging.getLogger(__name__)


def _loop_factory(use_uvloop: bool) -> Callable[[], asyncio.AbstractEventLoop] | None:
    if not use_uvloop:
        return None
    try:
        import uvloop
    except ImportError:  # optional: the default loop works, about a third slower
        log.info("uvloop is not installed: using the default asyncio loop")
        return None
    return uvloop.new_event_loop


async def run_plan_async(plan: LoadPlan) -> LoadResult:
    """Run one plan on the running event loop."""
    return await Engine(plan).run()


def run_plan(plan: LoadPlan) -> LoadResult:
    """Run one plan in a fresh event loop (uvloop when available) and return its result."""
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        pass
    else:
        raise PerfError("run_plan() was called from a running event loop; await run_plan_async(plan) instead")
    with asyncio.Runner(loop_factory=_loop_factory(plan.use_uvloop)) as runner:
        return runner.run(Engine(plan).run())


def _run_shard(plan: LoadPlan) -> LoadResult:  # top level: picklable for worker processes
    return run_plan(plan)


def start_lead_s(processes: int) -> float:
    """Seconds from now to a common start: time to spawn and import the engine in every process
    (about 1.5 s each on a 2-core VM, several at once) so none starts late."""
    return 3.0 + 0.5 * processes


def run_plans_in_processes(plans: Sequence[LoadPlan]) -> list[LoadResult]:
    """Run plans at the same time, one process each (spawned: no inherited threads or loops).
    Plans without a start time get a common one (:func:`start_lead_s` from now): every process
    waits for it, so their schedules line up as one process's would."""
    for plan in plans:  # refuse in the parent, before any process starts
        check_target(plan.target_url, plan.allow, source=f"scenario {plan.scenario!r} target")
    if len(plans) > 1 and any(p.start_at_unix is None for p in plans):
        start = time.time() + start_lead_s(len(plans))
        plans = [dataclasses.replace(p, start_at_unix=start) for p in plans]
    ctx = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(max_workers=len(plans), mp_context=ctx) as pool:
        return list(pool.map(_run_shard, plans))


def run_sharded(plan: LoadPlan, shards: int) -> LoadResult:
    """Split ``plan`` into ``shards`` processes, run them together and merge the results exactly."""
    if shards == 1:
        return run_plan(plan)
    return merge_results(run_plans_in_processes(split_plan(plan, shards)))


def run_scenario(scenario: LoadScenario, target_url: str, journeys: JourneysFile, *, profile: str = "full",
                 seed: int = 0, allow: Sequence[str] = DEFAULT_ALLOWLIST, journey: str | None = None,
                 target_pid: int | None = None, shards: int = 1, journeys_source: str = "journeys",
                 **plan_overrides: Any) -> LoadResult:
    """Scale ``scenario`` for ``profile``, build its plan and run it (in ``shards`` processes).

    ``plan_overrides`` replace :class:`LoadPlan` fields (``connections``, ``timeout_s``, ...).
    """
    scaled = scale_for_profile(scenario, profile)
    plan = plan_for_scenario(scaled, target_url, journeys, journeys_source=journeys_source, journey=journey,
                             seed=seed, allow=tuple(allow), target_pid=target_pid, **plan_overrides)
    check_target(plan.target_url, plan.allow, source=f"scenario {plan.scenario!r} target")
    return run_sharded(plan, shards)
