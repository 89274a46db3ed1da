"""Benchmark worker: ``python -m perf_tasks.bench.worker REQUEST.json RESULT.json``.

One fresh process measures one benchmark once (pyperf's worker model): import the factory, set up
(untimed), warm up, then time observations, each of ``calls_per_observation`` calls (1: a single
call), until the bounds in the request say stop. The parent (:mod:`perf_tasks.bench.runner`) runs
several such processes one after another and pools their observations, so a run's spread includes
what differs between processes (memory layout, hash seed, allocator and cache state), and samples
this process's resources from outside: nothing here takes the GIL from the workload but the
workload itself.

Protocol: the request is JSON (keys below); the result is JSON written to RESULT.json at exit
(``protocol`` 1). Just before the first timed call the worker writes ``timing`` and a newline to
its stdout, so the parent can start sampling then; the workload's own prints go to stderr.

Kept to the standard library and the workload's imports: what this process imports is what the
benchmark runs next to.
"""
from __future__ import annotations

import importlib
import json
import os
import sys
import time
import traceback
from typing import Any

PROTOCOL = 1


def _resolve(spec: str) -> Any:
    module_name, _, attr = spec.partition(":")
    return getattr(importlib.import_module(module_name), attr)


def _batch(op: Any, calls: int) -> Any:
    """One observation of ``calls`` calls (sub-microsecond operations)."""
    batch = range(calls)

    def run() -> None:
        for _ in batch:
            op()
    return run


def _info_of(op: Any) -> dict[str, Any]:
    """The workload's ``info`` dict as JSON scalars (other values as their ``str``); {} when it has
    none or reading it fails (a property that raises is not a measurement error)."""
    try:
        info = getattr(op, "info", None)
    except Exception:  # noqa: BLE001
        return {}
    if not isinstance(info, dict):
        return {}
    return {str(k): v if isinstance(v, (str, int, float, bool)) or v is None else str(v) for k, v in info.items()}


def measure(req: dict[str, Any], announce: Any = None, clock: Any = time.perf_counter) -> dict[str, Any]:
    """Set up, warm up and time one benchmark as ``req`` says; never raises for a workload error
    (it is recorded), only for a malformed request."""
    cpo = int(req["calls_per_observation"])
    warmups = int(req["warmups"])
    min_obs, max_obs = int(req["min_observations"]), int(req["max_observations"])
    max_s, hard_s = float(req["max_s"]), float(req["hard_s"])
    out: dict[str, Any] = {"protocol": PROTOCOL, "pid": os.getpid(), "observation_s": [], "calls": 0, "errors": 0,
                           "error": None, "traceback": None, "config_error": None, "items_per_call": 1,
                           "info": {}, "setup_s": 0.0}
    t_setup = clock()
    try:
        factory = _resolve(req["callable"])
        op = factory(**req["params"])
    except TypeError as exc:
        out["config_error"] = f"{req['callable']} refused params {req['params']!r}: {exc}"
        return out
    except Exception as exc:  # noqa: BLE001 - a setup that raises is a finding, reported by the parent
        out["error"] = f"setup failed: {type(exc).__name__}: {exc}"
        out["traceback"] = traceback.format_exc()
        return out
    if not callable(op):
        out["config_error"] = f"{req['callable']} must return a callable (the operation to time), got {type(op).__name__}"
        return out
    out["setup_s"] = clock() - t_setup
    out["items_per_call"] = int(getattr(op, "items_per_call", 1))
    obs: list[float] = []
    append = obs.append
    calls = 0
    try:
        for _ in range(warmups):
            calls += 1
            op()
        if announce is not None:
            announce()
        timed = op if cpo == 1 else _batch(op, cpo)  # single calls stay free of any wrapper
        t_begin = clock()
        n = 0
        while True:
            t0 = clock()
            timed()
            t1 = clock()
            append(t1 - t0)
            n += 1
            elapsed = t1 - t_begin
            if n >= max_obs or elapsed >= hard_s or (n >= min_obs and elapsed >= max_s):
                break
    except Exception as exc:  # noqa: BLE001 - a broken workload is a finding, recorded
        out["errors"] = 1
        out["error"] = f"{type(exc).__name__}: {exc}"
        out["traceback"] = traceback.format_exc()
    finally:
        close = getattr(op, "close", None)
        if callable(close):
            try:
                close()
            except Exception as exc:  # noqa: BLE001
                out["error"] = out["error"] or f"close() failed: {type(exc).__name__}: {exc}"
    # read after the timed calls and close(): counters a workload fills while it runs (or when it
    # closes) are what it reports, not the zeros it started with
    out["info"] = _info_of(op)
    out["calls"] = calls + len(obs) * cpo + out["errors"]
    out["observation_s"] = obs
    return out


def main(argv: list[str]) -> int:
    if len(argv) != 2:
        print("usage: python -m perf_tasks.bench.worker REQUEST.json RESULT.json", file=sys.stderr)
        return 2
    req = json.loads(open(argv[0]).read())
    # The protocol owns stdout; the workload's prints (Python or C level) go to stderr.
    proto = os.fdopen(os.dup(1), "w")
    os.dup2(2, 1)
    sys.stdout = sys.stderr

    def announce() -> None:
        proto.write("timing\n")
        proto.flush()

    result = measure(req, announce)
    tmp = argv[1] + ".tmp"
    with open(tmp, "w") as fh:
        json.dump(result, fh)
    os.replace(tmp, argv[1])
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
