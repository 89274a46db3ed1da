"""Entry points: run a plan (a sync wrapper around asyncio, on uvloop when it is installed), or
shards of it in processes (the target checked against the allowlist before any process starts);
each returns a :class:`~perf_tasks.load.result.LoadResult`.
"""
from __future__ import annotations

import asyncio
import dataclasses
import logging
import multiprocessing
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ProcessPoolExecutor

from perf_tasks.errors import PerfError
from perf_tasks.load.engine import Engine
from perf_tasks.load.plan import LoadPlan, split_plan
from perf_tasks.load.result import LoadResult, merge_results
from perf_tasks.load.safety import check_target

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


def run_plan(plan: LoadPlan) -> LoadResult:
    """Run one plan in a fresh event loop (uvloop when available) and return its result."""
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        pass
    else:
        raise PerfError("run_plan() was called from a running event loop; await Engine(plan).run() instead")
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
