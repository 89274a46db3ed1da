"""The failure-injection, recovery and trading-specific scenarios (spec §3.1), by name.

``FAILURES[name](ctx) -> BenchmarkResult`` (see :mod:`perf_tasks.stress.base`). Each is bounded,
loopback only, and stops every process and drops every database it started, in ``finally``.
Modules are imported when a scenario runs, so listing the names costs nothing.

Every failure scenario starts (and kills, and restarts) its own service on loopback with a store of
its own: it never drives ``ctx.service_url``, because it must be free to SIGKILL the service and to
read its database. See docs/failures.md.
"""
from __future__ import annotations

import importlib
from collections.abc import Callable

from perf_tasks.results import BenchmarkResult
from perf_tasks.stress.base import StressContext

# name -> "module:function" under perf_tasks.stress
_WHERE = {
    "recovery_sqlite": "recovery:recovery_sqlite",
    "recovery_postgres": "recovery:recovery_postgres",
    "db_outage": "dbfault:db_outage",
    "db_blackhole": "dbfault:db_blackhole",
    "worker_kill": "workerkill:worker_kill",
    "feed_outage": "feed:feed_outage",
    "market_crash": "crash:market_crash",
    "order_flood": "crash:order_flood",
    "order_rejections": "rejections:order_rejections",
    "soak": "soak:soak",
    # two instances behind HAProxy, one SIGKILLed mid-load (built with the scalability instances)
    "failover": "perf_tasks.scale.failover:run_failover",
}


def _lazy(where: str) -> Callable[[StressContext], BenchmarkResult]:
    module, fn = where.split(":")

    path = module if "." in module else f"perf_tasks.stress.{module}"  # a full dotted path, or a stress module

    def run(ctx: StressContext) -> BenchmarkResult:
        return getattr(importlib.import_module(path), fn)(ctx)

    run.__name__ = fn
    run.__qualname__ = fn
    run.__doc__ = f"{path}.{fn}"
    return run


FAILURES: dict[str, Callable[[StressContext], BenchmarkResult]] = {name: _lazy(w) for name, w in _WHERE.items()}
