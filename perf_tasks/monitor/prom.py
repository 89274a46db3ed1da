"""Metrics and verdicts to a Prometheus Pushgateway (spec §6.1, §6.3), so Grafana can show them.

Two kinds of push, both best effort (a monitoring outage never fails a run; the failure is
logged and returned):

* :func:`push_run` after a run is sealed: every metric of the run as ``perf_metric`` with labels
  ``dag, profile, suite, benchmark, metric, unit``; every target verdict as ``perf_target_status``
  (1 for the verdict's ``status`` label) with its ``threshold``; and ``perf_run_info`` /
  ``perf_run_finished_timestamp_seconds`` / ``perf_run_critical``. Grouping key ``job=perf_pipeline,
  dag, profile``: a push replaces the previous run's series of that DAG and profile.
* :func:`push_live` every few seconds while a load scenario runs (from
  :class:`perf_tasks.load.live.LiveMonitor`): the rolling window's rate, p95 of all requests,
  error rate and observation count, grouped by ``job=perf_live, dag, scenario``; at the end of
  the scenario the group is deleted (:func:`delete_live`) so a finished run does not look live.

The URL comes from ``$PERF_PUSHGATEWAY_URL`` or alerts.yaml ``monitoring.pushgateway_url``;
empty means off.
"""
from __future__ import annotations

import logging
import os
import time
from typing import Any

from perf_tasks.results import Evaluation, RunResults

log = logging.getLogger(__name__)

RUN_JOB = "perf_pipeline"
LIVE_JOB = "perf_live"
TIMEOUT_S = 5.0


def gateway_url(configured: str = "") -> str:
    return os.environ.get("PERF_PUSHGATEWAY_URL") or configured or ""


def run_registry(results: RunResults, evaluation: Evaluation | None, *, verdict: str = "") -> Any:
    """A CollectorRegistry holding the run's series (see the module doc)."""
    from prometheus_client import CollectorRegistry, Gauge

    reg = CollectorRegistry()
    dag, profile = results.dag_id, results.profile
    metric = Gauge("perf_metric", "A measured metric of the latest run (unit in the label)",
                   ["dag", "profile", "suite", "benchmark", "metric", "unit"], registry=reg)
    for suite in results.suites:
        for bench in suite.benchmarks:
            for m in bench.metrics:
                metric.labels(dag, profile, suite.suite, bench.name, m.name.rsplit(".", 1)[-1], m.unit).set(m.value)
    for m in results.host_metrics:
        metric.labels(dag, profile, "host", "host", m.name.rsplit(".", 1)[-1], m.unit).set(m.value)
    if evaluation is not None:
        status = Gauge("perf_target_status", "1 for the target's verdict (pass, warning, critical, invalid)",
                       ["dag", "profile", "metric", "status"], registry=reg)
        threshold = Gauge("perf_target_threshold", "The target's bound, in the metric's unit",
                          ["dag", "profile", "metric", "op"], registry=reg)
        for v in evaluation.verdicts:
            for s in ("pass", "warning", "critical", "invalid"):
                status.labels(dag, profile, v.metric, s).set(1.0 if v.status == s else 0.0)
            threshold.labels(dag, profile, v.metric, v.op).set(v.threshold)
        Gauge("perf_run_critical", "Critical violations in the latest run", ["dag", "profile"],
              registry=reg).labels(dag, profile).set(len(evaluation.critical))
    Gauge("perf_run_info", "The latest run (value 1)", ["dag", "profile", "run_id", "verdict"],
          registry=reg).labels(dag, profile, results.run_id, verdict or "UNKNOWN").set(1.0)
    Gauge("perf_run_finished_timestamp_seconds", "When the latest run was pushed", ["dag", "profile"],
          registry=reg).labels(dag, profile).set(time.time())
    return reg


def push_run(url: str, results: RunResults, evaluation: Evaluation | None, *, verdict: str = "") -> str:
    """Push the run (replacing the previous one of its DAG and profile). Returns "" or the error."""
    if not url:
        return ""
    from prometheus_client import push_to_gateway

    try:
        push_to_gateway(url, job=RUN_JOB, registry=run_registry(results, evaluation, verdict=verdict),
                        grouping_key={"dag": results.dag_id, "profile": results.profile}, timeout=TIMEOUT_S)
    except Exception as exc:  # noqa: BLE001 - monitoring is best effort: logged, returned, never raised
        log.warning("Pushgateway %s: could not push run %s: %s", url, results.run_id, exc)
        return f"{type(exc).__name__}: {exc}"
    log.info("pushed %s %s metrics to the Pushgateway at %s", results.dag_id, results.profile, url)
    return ""


def push_live(url: str, *, dag: str, scenario: str, run_id: str, window_s: float, observations: int,
              failures: int, p95_ms: float | None, extra: dict[str, float] | None = None) -> str:
    """The rolling window of a running load scenario (every few seconds). Returns "" or the error."""
    if not url:
        return ""
    from prometheus_client import CollectorRegistry, Gauge, push_to_gateway

    reg = CollectorRegistry()
    labels = ["dag", "scenario", "run_id"]
    values = {"perf_live_rate_per_s": observations / window_s if window_s else 0.0,
              "perf_live_error_rate_pct": 100.0 * failures / observations if observations else 0.0,
              "perf_live_observations": float(observations)}
    if p95_ms is not None:
        values["perf_live_p95_ms"] = p95_ms
    for name, value in {**values, **(extra or {})}.items():
        Gauge(name, f"{name} over the last {window_s:g} s of a running load scenario", labels,
              registry=reg).labels(dag, scenario, run_id).set(value)
    try:
        push_to_gateway(url, job=LIVE_JOB, registry=reg, grouping_key={"dag": dag, "scenario": scenario},
                        timeout=TIMEOUT_S)
    except Exception as exc:  # noqa: BLE001 - best effort
        log.warning("Pushgateway %s: live push for %s failed: %s", url, scenario, exc)
        return f"{type(exc).__name__}: {exc}"
    return ""


def delete_live(url: str, *, dag: str, scenario: str) -> None:
    if not url:
        return
    from prometheus_client import delete_from_gateway

    try:
        delete_from_gateway(url, job=LIVE_JOB, grouping_key={"dag": dag, "scenario": scenario}, timeout=TIMEOUT_S)
    except Exception as exc:  # noqa: BLE001 - best effort
        log.warning("Pushgateway %s: could not delete the live group of %s: %s", url, scenario, exc)
