"""Load generation: an asyncio engine (its own HTTP/1.1 client; aiohttp for https) with open
(coordinated-omission free) and closed models.

Public API (imported lazily: importing this package loads neither aiohttp nor numpy):

- run: :func:`run_scenario`, :func:`run_plan`, :func:`run_plan_async`, :func:`run_sharded`
- plans and shards: :class:`LoadPlan`, :func:`split_plan`, :func:`plan_for_scenario`
- scenarios: :class:`LoadScenario`, :func:`load_scenarios`, :func:`scale_for_profile`
- journeys: :func:`load_journeys`
- results: :class:`LoadResult`, :func:`merge_results`, :func:`result_to_json`, :func:`result_from_json`
- verdicts: :func:`evaluate`, :func:`format_summary`, :func:`result_metrics`
- safety: :func:`check_target`, :data:`DEFAULT_ALLOWLIST`
- Locust: :func:`run_locustfile`, :func:`result_from_locust_csv`
"""
from __future__ import annotations

import importlib
from typing import Any

_EXPORTS = {
    "run_scenario": "runner", "run_plan": "runner", "run_plan_async": "runner", "run_sharded": "runner",
    "run_plans_in_processes": "runner",
    "LoadPlan": "plan", "split_plan": "plan",
    "LoadScenario": "scenario", "load_scenarios": "scenario", "scale_for_profile": "scenario",
    "plan_for_scenario": "scenario", "get_scenario": "scenario",
    "load_journeys": "journey", "resolve_journey": "journey",
    "LoadResult": "result", "merge_results": "result", "result_to_json": "result", "result_from_json": "result",
    "evaluate": "summary", "format_summary": "summary", "result_metrics": "summary",
    "check_target": "safety", "DEFAULT_ALLOWLIST": "safety", "TargetNotAllowedError": "safety",
    "run_locustfile": "locust_adapter", "result_from_locust_csv": "locust_adapter",
}
__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'perf_tasks.load' has no attribute {name!r}")
    return getattr(importlib.import_module(f"perf_tasks.load.{module}"), name)
