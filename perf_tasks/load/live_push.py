"""Live metrics of any load the engine sends, pushed to the Pushgateway while it runs (spec §6.1):
the load kind wires its own LiveMonitor (with mid-run alerts); stress and scalability runs send
load from deep inside their scenarios, so their kind steps open a :func:`pushing` context (which
run, where to push) and the scenarios run their plans through :func:`run_plan_live`. Without a
gateway, or outside such a context, :func:`run_plan_live` is :func:`perf_tasks.load.runner.run_plan`.

Series: ``perf_live_*{dag, scenario, run_id}`` (rate, error rate, p95 of the rolling window),
deleted when the plan ends, so a Grafana panel shows only what is running now.
"""
from __future__ import annotations

import contextlib
import contextvars
import dataclasses
import logging
import re
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class LiveTarget:
    gateway: str
    dag: str
    run_id: str
    window_s: float = 10.0
    every_s: float = 2.0


_current: contextvars.ContextVar[LiveTarget | None] = contextvars.ContextVar("perf_live_target", default=None)


@contextlib.contextmanager
def pushing(gateway: str, *, dag: str, run_id: str, window_s: float = 10.0, every_s: float = 2.0) -> Iterator[None]:
    """Within this block, :func:`run_plan_live` pushes live windows to ``gateway`` ("" = off)."""
    token = _current.set(LiveTarget(gateway, dag, run_id, window_s, every_s) if gateway else None)
    try:
        yield
    finally:
        _current.reset(token)


def current() -> LiveTarget | None:
    return _current.get()


def _series_name(scenario: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.@-]", "_", scenario)[:100] or "load"


def run_plan_live(plan: Any, *, scenario: str | None = None) -> Any:
    """Run ``plan`` (a LoadPlan) with the load engine; inside :func:`pushing`, its rolling window
    goes to the Pushgateway every ``every_s`` seconds (never alerting, never aborting), and the
    series is deleted at the end. A gateway that fails only logs (the measurement stands)."""
    from perf_tasks.load.runner import run_plan

    target = _current.get()
    if target is None or getattr(plan, "live", None) is not None:
        return run_plan(plan)
    from perf_tasks.load.live import LiveMonitor, LiveSettings
    from perf_tasks.monitor.prom import delete_live, push_live

    name = _series_name(scenario or plan.scenario)
    with tempfile.TemporaryDirectory(prefix="perf-live-") as d:
        shard, abort = Path(d) / "shard-0.json", Path(d) / "abort"
        live_plan = dataclasses.replace(plan, live=LiveSettings(str(shard), str(abort), target.window_s,
                                                                target.every_s))

        def on_window(w: Any) -> None:
            error = push_live(target.gateway, dag=target.dag, scenario=name, run_id=target.run_id,
                              window_s=target.window_s, observations=w.observations, failures=w.failures,
                              p95_ms=w.p95_ms)
            if error:
                log.debug("live push of %s: %s", name, error)

        monitor = LiveMonitor(name, [shard], abort, p95_target_ms=float("inf"), max_error_rate_pct=100.0,
                              window_s=target.window_s, hold_s=1e9, every_s=target.every_s, abort=False,
                              on_alert=lambda _alert: None, on_window=on_window)
        try:
            with monitor:
                return run_plan(live_plan)
        finally:
            delete_live(target.gateway, dag=target.dag, scenario=name)
