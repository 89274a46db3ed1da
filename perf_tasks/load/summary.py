"""A load result in the common result model (metrics with their targets, judged by the one verdict
engine, :func:`perf_tasks.alerts.rules.evaluate`), and a one-screen text summary. Pure.

The CLI (``python -m perf_tasks load``) and the DAG (``perf_tasks.kinds.load.merge_shards``)
both turn a :class:`LoadResult` into metrics with :func:`result_metrics` /
:func:`benchmark_result`, so a result gets the same verdicts on either path: p95 latency *of
successful requests* against ``p95_target_ms`` (critical), together with the error rate against
``max_error_rate_pct`` (critical; ``warn_error_rate_pct`` is the target's warning bound).
``latency_all_*`` (every arrival: failures at their time, dropped arrivals at their wait) is
reported beside it. Percentile targets need enough observations
(:func:`perf_tasks.alerts.rules.required_samples`: a p95 needs >= 200 requests) or they are invalid.

Two conditions override the verdicts of a scenario's targets:

* no successful request at all: the latency target fails as "no data" (a service that answers
  nothing is not fast);
* the load generator was saturated (:class:`~perf_tasks.load.result.GeneratorHealth`) or the
  shards did not run together (``LoadResult.invalid_reason``): every target is *invalid*, with
  the reason: the service did not see the intended load, so it is neither passed nor blamed.
"""
from __future__ import annotations

import json
from collections.abc import Iterable

from perf_tasks.alerts.rules import evaluate
from perf_tasks.config import AlertRule
from perf_tasks.load.histo import LatencySummary
from perf_tasks.load.result import LoadResult
from perf_tasks.load.scenario import LoadScenario
from perf_tasks.results import BenchmarkResult, Evaluation, Metric, RunResults, SuiteResult, Target
from perf_tasks.verdict import verdict_lines

SUITE = "load"


def invalid_reason(result: LoadResult) -> str:
    """Why this result cannot carry any verdict on the service ("" when it can): the shards did
    not run together, or the saturated generator did not deliver the load (drops, or less than 98 %
    of the intended rate), so even a pass would be of a lighter load."""
    reasons = [result.invalid_reason]
    g = result.generator
    if g is not None and g.verdict == "saturated" and (g.dropped or g.achieved_pct < 98.0):
        reasons.append(g.reason)
    return "; ".join(r for r in reasons if r)


def invalid_if_missed(result: LoadResult) -> str:
    """A saturated generator that still sent everything, only late: latency is measured from the
    intended send time, so the lateness is *in* the latency. A pass stands (the service was
    faster than measured); a miss may be the generator's doing and is invalid."""
    g = result.generator
    if g is not None and g.verdict == "saturated" and not invalid_reason(result):
        return g.reason
    return ""


def _no_successes(result: LoadResult) -> str:
    failed = ", ".join(f"{k} {v}" for k, v in sorted(result.errors_by_class.items()))
    return (f"no successful request ({result.requests} answered or failed"
            + (f": {failed}" if failed else "") + (f"; {result.dropped} dropped" if result.dropped else "") + ")")


def result_metrics(result: LoadResult, scenario: LoadScenario | None = None, *,
                   prefix: str = SUITE) -> tuple[Metric, ...]:
    """The result as pipeline metrics ``<prefix>.<scenario>.<metric>``, with the scenario's targets
    and sample counts (latency: successful requests; latency_all: every arrival; error rate:
    completed + dropped). A run with no successful request still carries its p95 target, failing
    as "no data"; a result that cannot carry a verdict marks every target invalid (module doc)."""
    name = f"{prefix}.{result.scenario}"
    source = f"load scenario {scenario.name or result.scenario}" if scenario else ""
    p95_target = Target(max=scenario.p95_target_ms, source=source) if scenario else None
    invalid = invalid_reason(result)
    if_missed = invalid_if_missed(result)
    lat = result.latency
    out = []
    if lat is not None:
        for key, value in (("latency_p50_ms", lat.p50_ms), ("latency_p95_ms", lat.p95_ms),
                           ("latency_p99_ms", lat.p99_ms), ("latency_max_ms", lat.max_ms)):
            target = p95_target if key == "latency_p95_ms" else None
            out.append(Metric(f"{name}.{key}", value, "ms", "lower", target, samples=lat.count,
                              invalid_reason=invalid if target else "", invalid_if_missed=if_missed if target else ""))
    elif p95_target is not None:
        out.append(Metric(f"{name}.latency_p95_ms", 0.0, "ms", "lower", p95_target, samples=0,
                          invalid_reason=invalid,
                          # asked but nothing succeeded: fails; nothing asked at all: invalid (0 samples)
                          no_data_reason=_no_successes(result) if not invalid and result.requests + result.dropped
                          else ""))
    if result.latency_all is not None:
        la = result.latency_all
        for key, value in (("latency_all_p50_ms", la.p50_ms), ("latency_all_p95_ms", la.p95_ms),
                           ("latency_all_p99_ms", la.p99_ms)):
            out.append(Metric(f"{name}.{key}", value, "ms", "lower", samples=la.count))
    err_target = Target(max=scenario.max_error_rate_pct, warning=scenario.warn_error_rate_pct,
                        source=source) if scenario else None
    out.append(Metric(f"{name}.error_rate_pct", result.error_rate_pct, "%", "lower", err_target,
                      samples=result.requests + result.dropped, invalid_reason=invalid if err_target else "",
                      invalid_if_missed=if_missed if err_target else ""))
    out.append(Metric(f"{name}.throughput_per_s", result.throughput_per_s, "1/s", "higher"))
    if result.model == "open" and result.intended_rate_per_s:
        out.append(Metric(f"{name}.achieved_rate_pct", 100.0 * result.achieved_rate_per_s / result.intended_rate_per_s,
                          "%", "higher"))
    if result.engine_resources is not None:
        out.append(Metric(f"{name}.engine_cpu_pct_mean", result.engine_resources.process_cpu_pct_mean, "%", "lower"))
    if result.generator is not None and result.generator.verdict != "unknown":
        out.append(Metric(f"{name}.generator_loop_lag_p99_ms", result.generator.loop_lag_p99_ms, "ms", "lower"))
    return tuple(out)


def benchmark_result(result: LoadResult, scenario: LoadScenario | None, *, suite: str = SUITE) -> BenchmarkResult:
    """One load result as a "benchmark" of the common result model (one per scenario)."""
    return BenchmarkResult(
        suite=suite, name=result.scenario, callable=f"load scenario {result.scenario} ({result.model} model)",
        params={"users": result.users, "intended_rate_per_s": round(result.intended_rate_per_s, 3),
                "duration_s": result.duration_s, "shards": result.shards, "target": result.target},
        items_per_call=1, item_unit="request", warmups=0, calls_per_observation=1, observation_s=(), latency_s=None,
        metrics=result_metrics(result, scenario, prefix=suite), resources=result.target_resources,
        calls=result.requests, errors=result.errors, error=None, duration_s=result.elapsed_s,
        info={"achieved_rate_per_s": round(result.achieved_rate_per_s, 2), "late_sends": result.late_sends,
              "dropped": result.dropped, "out_of_range": result.out_of_range,
              "errors_by_class": json.dumps(result.errors_by_class), "co_corrected": result.co_corrected,
              "generator": result.generator.verdict if result.generator else "unknown",
              "generator_reason": result.generator.reason if result.generator else "",
              "invalid_reason": invalid_reason(result)},
        timed_s=result.elapsed_s, items=result.requests)


def evaluate_result(result: LoadResult, scenario: LoadScenario, rules: Iterable[AlertRule] = (), *,
                    dag_id: str = "perf_load_cli", run_id: str = "cli", profile: str = "") -> Evaluation:
    """Judge one result as the DAG does: its metrics (:func:`benchmark_result`) through
    :func:`perf_tasks.alerts.rules.evaluate` with ``rules`` (config/alerts.yaml's)."""
    bench = benchmark_result(result, scenario)
    suite = SuiteResult(suite=SUITE, profile=profile, started_at=result.started_at, finished_at=result.started_at,
                        benchmarks=(bench,))
    run = RunResults(dag_id=dag_id, run_id=run_id, profile=profile, started_at=result.started_at, fingerprint={},
                     suites=(suite,))
    return evaluate(run, rules)


def _row(name: str, n: int, errors: int, lat: LatencySummary | None) -> str:
    if lat is None:
        return f"  {name:<22} {n:>9} {errors:>7}   (no completed requests)"
    return (f"  {name:<22} {n:>9} {errors:>7} {lat.p50_ms:>9.2f} {lat.p90_ms:>9.2f} {lat.p95_ms:>9.2f} "
            f"{lat.p99_ms:>9.2f} {lat.p999_ms:>9.2f} {lat.max_ms:>9.2f}")


def format_summary(result: LoadResult, evaluation: Evaluation | None = None) -> str:
    """A one-screen text summary of a result (and its verdicts)."""
    r = result
    lines = [f"load {r.scenario}: {r.model} model ({r.source}), {r.users} users, {r.duration_s:g} s -> {r.target}"
             + (f", {r.shards} shards" if r.shards > 1 else "")]
    if r.model == "open":
        lines.append(f"  rate: intended {r.intended_rate_per_s:.1f}/s, achieved {r.achieved_rate_per_s:.1f}/s "
                     f"({100 * r.achieved_rate_per_s / r.intended_rate_per_s if r.intended_rate_per_s else 0:.1f} %), "
                     f"throughput {r.throughput_per_s:.1f} ok/s")
    else:
        lines.append(f"  rate: {r.achieved_rate_per_s:.1f} requests/s, throughput {r.throughput_per_s:.1f} ok/s")
    lines.append(f"  requests {r.requests}, errors {r.errors} ({r.error_rate_pct:.2f} %"
                 + (f" incl. {r.dropped} dropped" if r.dropped else "") + ")"
                 + (f": {', '.join(f'{k} {v}' for k, v in sorted(r.errors_by_class.items()))}" if r.errors else ""))
    if r.late_sends and r.lateness is not None:
        lines.append(f"  late sends {r.late_sends} (> {r.late_threshold_ms:g} ms): p50 {r.lateness.p50_ms:.1f} ms, "
                     f"max {r.lateness.max_ms:.1f} ms")
    lines.append(f"  {'latency (ms)':<22} {'requests':>9} {'errors':>7} {'p50':>9} {'p90':>9} {'p95':>9} {'p99':>9} "
                 f"{'p99.9':>9} {'max':>9}")
    for e in r.endpoints:
        lines.append(_row(e.name, e.requests, e.errors, e.latency))
    lines.append(_row("ALL (successful)", r.requests, r.errors, r.latency))
    if r.latency_all is not None:
        lines.append(_row("ALL (every arrival)", r.requests + r.dropped, r.errors + r.dropped, r.latency_all))
    if r.engine_resources is not None:
        er = r.engine_resources
        lines.append(f"  load generator: CPU {er.process_cpu_pct_mean:.0f} % mean / {er.process_cpu_pct_max:.0f} % max, "
                     f"RSS {er.rss_max_bytes / 2**20:.0f} MiB")
    if r.generator is not None:
        g = r.generator
        lines.append(f"  generator verdict: {g.verdict.upper()} (loop lag p99 {g.loop_lag_p99_ms:.1f} ms, "
                     f"late {g.late_sends_pct:.1f} %, dropped {g.dropped}, achieved {g.achieved_pct:.1f} % of intended"
                     + (f"; {g.processes} processes" if g.processes > 1 else "") + ")")
    if r.invalid_reason:
        lines.append(f"  INVALID: {r.invalid_reason}")
    if r.target_resources is not None:
        tr = r.target_resources
        lines.append(f"  target process: CPU {tr.process_cpu_pct_mean:.0f} % mean / {tr.process_cpu_pct_max:.0f} % max, "
                     f"RSS {tr.rss_max_bytes / 2**20:.0f} MiB")
    for note in r.notes:
        lines.append(f"  note: {note}")
    if evaluation is not None:
        lines += [f"  {line}" for line in verdict_lines(evaluation)]
    return "\n".join(lines)
