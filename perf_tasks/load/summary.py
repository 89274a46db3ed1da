"""Judge a load result against its scenario's targets, and build a one-screen text summary (pure)."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from perf_tasks.load.histo import LatencySummary
from perf_tasks.load.result import LoadResult
from perf_tasks.load.scenario import LoadScenario
from perf_tasks.results import Metric, Target


@dataclass(frozen=True)
class TargetCheck:
    metric: str  # latency_p95_ms, error_rate_pct
    value: float
    threshold: float
    op: str  # the condition that must hold: "<="
    passed: bool
    severity: Literal["warning", "critical"]


@dataclass(frozen=True)
class LoadVerdict:
    scenario: str
    checks: tuple[TargetCheck, ...]

    @property
    def passed(self) -> bool:
        """False when a critical target is missed (warnings are reported, never fail the run)."""
        return all(c.passed for c in self.checks if c.severity == "critical")


def evaluate(result: LoadResult, scenario: LoadScenario) -> LoadVerdict:
    """p95 (overall) <= p95_target_ms and error rate <= max_error_rate_pct; a run with no
    completed request fails its p95 target (there is nothing to vouch for)."""
    p95 = result.latency.p95_ms if result.latency else float("inf")
    checks = [TargetCheck("latency_p95_ms", p95, scenario.p95_target_ms, "<=", p95 <= scenario.p95_target_ms,
                          "critical"),
              TargetCheck("error_rate_pct", result.error_rate_pct, scenario.max_error_rate_pct, "<=",
                          result.error_rate_pct <= scenario.max_error_rate_pct, "critical")]
    if scenario.warn_error_rate_pct is not None:
        checks.append(TargetCheck("error_rate_pct", result.error_rate_pct, scenario.warn_error_rate_pct, "<=",
                                  result.error_rate_pct <= scenario.warn_error_rate_pct, "warning"))
    return LoadVerdict(result.scenario, tuple(checks))


def result_metrics(result: LoadResult, scenario: LoadScenario | None = None, *,
                   prefix: str = "load") -> tuple[Metric, ...]:
    """The result as pipeline metrics ``<prefix>.<scenario>.<metric>`` (with the scenario's targets)."""
    name = f"{prefix}.{result.scenario}"
    lat = result.latency
    out = []
    if lat is not None:
        for key, value in (("latency_p50_ms", lat.p50_ms), ("latency_p95_ms", lat.p95_ms),
                           ("latency_p99_ms", lat.p99_ms), ("latency_max_ms", lat.max_ms)):
            target = Target(max=scenario.p95_target_ms, source="load scenario") if (
                scenario and key == "latency_p95_ms") else None
            out.append(Metric(f"{name}.{key}", value, "ms", "lower", target))
    err_target = Target(max=scenario.max_error_rate_pct, source="load scenario") if (
        scenario and scenario.max_error_rate_pct > 0) else None
    out.append(Metric(f"{name}.error_rate_pct", result.error_rate_pct, "%", "lower", err_target))
    out.append(Metric(f"{name}.throughput_per_s", result.throughput_per_s, "1/s", "higher"))
    if result.engine_resources is not None:
        out.append(Metric(f"{name}.engine_cpu_pct_mean", result.engine_resources.process_cpu_pct_mean, "%", "lower"))
    return tuple(out)


def _row(name: str, n: int, errors: int, lat: LatencySummary | None) -> str:
    if lat is None:
        return f"  {name:<22} {n:>9} {errors:>7}   (no completed requests)"
    return (f"  {name:<22} {n:>9} {errors:>7} {lat.p50_ms:>9.2f} {lat.p90_ms:>9.2f} {lat.p95_ms:>9.2f} "
            f"{lat.p99_ms:>9.2f} {lat.p999_ms:>9.2f} {lat.max_ms:>9.2f}")


def format_summary(result: LoadResult, verdict: LoadVerdict | None = None) -> str:
    """A one-screen text summary of a result (and its verdict)."""
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
    lines.append(_row("ALL", r.requests, r.errors, r.latency))
    if r.engine_resources is not None:
        er = r.engine_resources
        lines.append(f"  load generator: CPU {er.process_cpu_pct_mean:.0f} % mean / {er.process_cpu_pct_max:.0f} % max, "
                     f"RSS {er.rss_max_bytes / 2**20:.0f} MiB")
    if r.target_resources is not None:
        tr = r.target_resources
        lines.append(f"  target process: CPU {tr.process_cpu_pct_mean:.0f} % mean / {tr.process_cpu_pct_max:.0f} % max, "
                     f"RSS {tr.rss_max_bytes / 2**20:.0f} MiB")
    for note in r.notes:
        lines.append(f"  note: {note}")
    if verdict is not None:
        for c in verdict.checks:
            mark = "PASS" if c.passed else ("FAIL" if c.severity == "critical" else "WARN")
            lines.append(f"  {mark} {c.metric} {c.value:.2f} (target {c.op} {c.threshold:g}, {c.severity})")
        lines.append(f"  verdict: {'PASS' if verdict.passed else 'FAIL'}")
    return "\n".join(lines)
