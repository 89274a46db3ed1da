"""Judge a run's metrics against their targets and the alert rules. Pure: no I/O."""
from __future__ import annotations

from collections.abc import Iterable

from perf_tasks.config import AlertRule
from perf_tasks.results import Evaluation, Metric, RunResults, Verdict, Violation


def _metric_suffix(name: str) -> str:
    return name.rsplit(".", 1)[-1]


def check_rule(rule: AlertRule, metric: Metric) -> Violation | None:
    """Spec rules are "greater than" thresholds: critical wins over warning."""
    for severity, threshold in (("critical", rule.critical), ("warning", rule.warning)):
        if metric.value > threshold:
            return Violation(metric=metric.name, value=metric.value, unit=metric.unit, threshold=threshold,
                             op="<=", severity=severity, source=f"rule {rule.name}")  # type: ignore[arg-type]
    return None


def evaluate(results: RunResults, rules: Iterable[AlertRule]) -> Evaluation:
    """Targets first; then every rule over every metric that matches its glob, except metrics
    judged by their own target (a benchmark's spec target is more specific than a generic rule)."""
    rules = list(rules)
    verdicts: list[Verdict] = []
    violations: list[Violation] = []
    failed: list[str] = []
    for suite in results.suites:
        for bench in suite.benchmarks:
            if bench.error is not None:
                failed.append(bench.key)
                violations.append(Violation(metric=f"{bench.key}.error", value=float(bench.errors), unit="errors",
                                            threshold=0.0, op="<=", severity="critical",
                                            source=f"benchmark raised {bench.error}"))
    for metric in results.metrics():
        if metric.target is not None:
            t = metric.target
            passed = t.met_by(metric.value)
            verdicts.append(Verdict(metric=metric.name, value=metric.value, unit=metric.unit, threshold=t.threshold,
                                    op=t.op, margin=t.margin(metric.value), passed=passed, severity=t.severity,
                                    source=t.source))
            if not passed:
                violations.append(Violation(metric=metric.name, value=metric.value, unit=metric.unit,
                                            threshold=t.threshold, op=t.op, severity=t.severity,
                                            source=f"target ({t.source})"))
            continue
        for rule in rules:
            if rule.matches(metric.name):
                v = check_rule(rule, metric)
                if v is not None:
                    violations.append(v)
                    break
    order = {"critical": 0, "warning": 1}
    violations.sort(key=lambda v: (order[v.severity], v.metric))
    return Evaluation(run_id=results.run_id, verdicts=tuple(verdicts), violations=tuple(violations),
                      failed_benchmarks=tuple(failed))
