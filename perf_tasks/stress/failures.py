"""The failure-injection, recovery and trading-specific scenarios (spec §3.1), by name.

``FAILURES[name](ctx) -> BenchmarkResult`` (see :mod:`perf_tasks.stress.base`). Each is bounded,
loopback only, and stops every process and drops every database it started, in ``finally``.
Modules are imported when a scenario runs, so listing the names costs nothing.

Every failure scenario starts (and kills, and restarts) the run's system's service (``ctx.system``,
systems.yaml; never the bundled demo in its place: a run without a system, or a url-only one, gets
*not applicable*) on loopback with a store of its own: it never drives ``ctx.service_url``, because it must be free to SIGKILL the service and to
read its database. See docs/failures.md.
"""
from __future__ import annotations

import importlib
from collections.abc import Callable
from typing import NamedTuple

from perf_tasks.results import BenchmarkResult
from perf_tasks.stress.base import StressContext, require_system
from perf_tasks.system import NotApplicableError


class _Entry(NamedTuple):
    where: str  # "module:function" under perf_tasks.stress, or a full dotted module path
    what: str  # one line: what the scenario does (``stress --list``)
    needs: str  # what it needs beyond this package and the bundled service
    starts: bool = True  # starts (and kills) the system's service: not applicable on a url-only system
    workers: bool = False  # needs a multi-worker service: the command must take {workers}


_PG = "PostgreSQL on loopback ($PERF_STRESS_PG_URL) and psycopg"
_OWN = "nothing else (starts its own service on loopback, SQLite)"

#: The failure scenarios, and the one place their descriptions live (each callable's docstring is
#: made from its entry: ``what``, then ``Needs: needs``, as the resource stressors' docstrings read).
_REGISTRY: dict[str, _Entry] = {
    "recovery_sqlite": _Entry("recovery:recovery_sqlite",
                              "SIGKILL the service mid-load, restart it on its SQLite file; no order lost", _OWN),
    "recovery_postgres": _Entry("recovery:recovery_postgres",
                                "SIGKILL the service mid-load, restart it on its PostgreSQL database; no order lost",
                                _PG),
    "db_outage": _Entry("dbfault:db_outage",
                        "PostgreSQL down (resets, refused connections) via the fault proxy, then back", _PG),
    "db_blackhole": _Entry("dbfault:db_blackhole",
                           "PostgreSQL silent (connections stay open) via the fault proxy, then back", _PG),
    "worker_kill": _Entry("workerkill:worker_kill",
                          "SIGKILL one uvicorn worker mid-load; time until its replacement serves",
                          "nothing else (starts its own multi-worker service)", workers=True),
    "feed_outage": _Entry("feed:feed_outage",
                          "the market-data feed stalls, resumes, skips seqs, sends a bad batch", _OWN),
    "market_crash": _Entry("crash:market_crash",
                           "-20/-30/-50 % shocks at 5/10/20x volume: ticks -> features -> risk -> orders",
                           "the system's crash workload (systems.yaml workloads.crash), in process", starts=False),
    "order_flood": _Entry("crash:order_flood",
                          "clients post orders back to back (some over the size limit); the no-loss rule", _OWN),
    "order_rejections": _Entry("rejections:order_rejections",
                               "orders the engine must refuse among valid ones: 422, code, stored as rejected",
                               _OWN),
    "soak": _Entry("soak:soak", "a steady order flow while RSS is sampled; a leak is a slope above the bound",
                   "time: 5 min at standard, 8 h at full (smoke is too short: its slope is invalid)"),
    # built with the scalability instances
    "failover": _Entry("perf_tasks.scale.failover:run_failover",
                       "two instances behind HAProxy, one SIGKILLed mid-load; errors, detection, healing",
                       "HAProxy (haproxy on PATH or in /usr/sbin)", starts=False),
}


def _lazy(entry: _Entry) -> Callable[[StressContext], BenchmarkResult]:
    module, fn = entry.where.split(":")

    path = module if "." in module else f"perf_tasks.stress.{module}"  # a full dotted path, or a stress module

    def run(ctx: StressContext) -> BenchmarkResult:
        if entry.starts:  # before any store is made: nothing is started for a system it cannot serve
            system = require_system(ctx, ctx.name)
            svc = system.require_service(ctx.name)
            if entry.workers and not any("{workers}" in part for part in svc.command):
                raise NotApplicableError(f"{ctx.name} is not applicable to system {system.name!r}: "
                                         f"{system.source}.service.command takes no {{workers}} "
                                         "(it must start several workers to kill one)")
        return getattr(importlib.import_module(path), fn)(ctx)

    run.__name__ = fn
    run.__qualname__ = fn
    run.__doc__ = f"{entry.what}\n\nNeeds: {entry.needs}\n\nRuns {path}.{fn}."
    return run


FAILURES: dict[str, Callable[[StressContext], BenchmarkResult]] = {name: _lazy(e) for name, e in _REGISTRY.items()}
