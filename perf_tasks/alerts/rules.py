"""Judge a run's metrics against their targets and the alert rules. Pure: no I/O.

This is the one verdict engine: the CLI and the DAGs, benchmarks and load alike, judge with
:func:`evaluate`. A target's verdict is pass, warning or critical (missed, by the target's
severity; "warning" also when only the target's stricter ``warning`` bound is missed), or
*invalid* when the measurement cannot carry the verdict: a percentile from fewer observations
than :func:`required_samples` asks for (or any metric from none) is invalid, never a pass, never
a violation.
"""
from __future__ import annotations

import math
import re
from collections.abc import Iterable

from perf_tasks.stats import required_samples
from perf_tasks.config import AlertRule
from perf_tasks.results import Evaluation, Metric, RunResults, Verdict, Violation


def judge(metric: Metric, *, other_cpu_pct: float | None = None, busy_limit_pct: float | None = None) -> Verdict:
    """The verdict on one metric that has a target.

    invalid: the metric carries an ``invalid_reason`` (e.g. the load generator was saturated), or
    fewer observations than :func:`required_samples` (0 observations is invalid for any metric);
    a metric with a ``no_data_reason`` (e.g. no successful request) fails at the target's
    severity, never passes; else the target's severity when the main bound is missed; else "warning" when the
    target's stricter ``warning`` bound is missed (the verdict then carries that bound); else pass.
    A miss (warning or critical) while other processes used more than ``busy_limit_pct`` of the
    host's CPUs (``other_cpu_pct``) is invalid too: a busy host, not the system, may have caused it.
    """
    t = metric.target
    assert t is not None
    need = required_samples(metric.name)
    met = t.met_by(metric.value)
    threshold, severity = t.threshold, t.severity
    if metric.invalid_reason:
        status, reason = "invalid", metric.invalid_reason
    elif metric.no_data_reason:
        status, reason = t.severity, f"no data: {metric.no_data_reason}"
    elif metric.samples is not None and metric.samples < need:
        what = "this percentile needs" if need > 1 else "a verdict needs"
        status, reason = "invalid", (f"{metric.samples} observations; {what} >= {need} to judge "
                                     f"(it would have {'met' if met else 'missed'} the target)")
    elif not met:
        status, reason = t.severity, f"{metric.value:.6g} {metric.unit} is not {t.op} {t.threshold:g}"
    elif not t.warning_met_by(metric.value):
        assert t.warning is not None
        threshold, severity = float(t.warning), "warning"
        status, reason = "warning", (f"{metric.value:.6g} {metric.unit} meets {t.op} {t.threshold:g} "
                                     f"({t.severity}) but not the warning bound {t.op} {t.warning:g}")
    else:
        status, reason = "pass", ""
    # what the value says, trusted or not (an invalid verdict carries it: a would-be miss is a finding)
    measured = metric.samples != 0 and math.isfinite(metric.value) and not metric.no_data_reason
    hypothetical = ("" if not measured else t.severity if not met
                    else "warning" if not t.warning_met_by(metric.value) else "pass")
    if status in ("warning", "critical") and metric.invalid_if_missed:
        status, reason = "invalid", f"{metric.invalid_if_missed}; would have been {status}: {reason}"
    elif (status in ("warning", "critical") and other_cpu_pct is not None and busy_limit_pct is not None
            and other_cpu_pct > busy_limit_pct):
        status, reason = "invalid", (f"host busy: other processes used {other_cpu_pct:.0f} % of its CPUs while this "
                                     f"ran (limit {busy_limit_pct:g} %); would have been {status}: {reason}")
    return Verdict(metric=metric.name, value=metric.value, unit=metric.unit, threshold=threshold, op=t.op,
                   margin=t.margin(metric.value, threshold), passed=status == "pass", severity=severity,
                   source=t.source, status=status, reason=reason, samples=metric.samples,  # type: ignore[arg-type]
                   would_have=hypothetical if status == "invalid" else "")


def check_rule(rule: AlertRule, metric: Metric) -> Violation | None:
    """Spec rules are "greater than" thresholds (``when: below``: "less than"): critical wins over
    warning."""
    below = rule.when == "below"
    for severity, threshold in (("critical", rule.critical), ("warning", rule.warning)):
        if (metric.value < threshold) if below else (metric.value > threshold):
            return Violation(metric=metric.name, value=metric.value, unit=metric.unit, threshold=threshold,
                             op=">=" if below else "<=", severity=severity,  # type: ignore[arg-type]
                             source=f"rule {rule.name}")
    return None


def _first_rule(rules: list[AlertRule], name: str, *, targeted: bool) -> AlertRule | None:
    """The first rule (file order) whose glob matches; for a metric with its own target, the first
    of the rules marked ``with_targets``."""
    return next((r for r in rules if (r.with_targets or not targeted) and r.matches(name)), None)


def evaluate(results: RunResults, rules: Iterable[AlertRule], *,
             busy_host_other_cpu_pct: float | None = None) -> Evaluation:
    """Targets first; then, per metric, the first rule (file order) whose glob matches it, except
    for metrics judged by their own target (a benchmark's spec target is more specific than a
    generic rule), which only rules marked ``with_targets`` (business alerts) judge as well, and
    only when the target passed (a missed target already alerts on the metric; an invalid one
    carries no verdict).
    With ``busy_host_other_cpu_pct``, a benchmark's missed targets are invalid when its
    ``other_cpu_pct_mean`` exceeds it (see :func:`judge`)."""
    rules = list(rules)
    other_cpu = {m.name.rsplit(".", 1)[0]: m.value for m in results.metrics()
                 if m.name.endswith(".other_cpu_pct_mean")}
    verdicts: list[Verdict] = []
    violations: list[Violation] = []
    failed: list[str] = []
    not_applicable: dict[str, str] = {}
    for suite in results.suites:
        for bench in suite.benchmarks:
            if bench.not_applicable:
                not_applicable[bench.key] = bench.not_applicable
            elif bench.error is not None:
                failed.append(bench.key)
                violations.append(Violation(metric=f"{bench.key}.error", value=float(bench.errors), unit="errors",
                                            threshold=0.0, op="<=", severity="critical",
                                            source=f"benchmark raised {bench.error}"))
    for metric in results.metrics():
        if metric.target is not None:
            verdict = judge(metric, other_cpu_pct=other_cpu.get(metric.name.rsplit(".", 1)[0]),
                            busy_limit_pct=busy_host_other_cpu_pct)
            verdicts.append(verdict)
            if verdict.status in ("warning", "critical"):
                violations.append(Violation(metric=metric.name, value=metric.value, unit=metric.unit,
                                            threshold=verdict.threshold, op=verdict.op, severity=verdict.severity,
                                            source=f"target ({verdict.source})"))
            if verdict.status != "pass":
                # invalid: a measurement that cannot carry a verdict carries no business alert either;
                # missed: the target's alert already names this metric (one alert per metric)
                continue
        rule = _first_rule(rules, metric.name, targeted=metric.target is not None)
        if rule is not None:
            v = check_rule(rule, metric)
            if v is not None:
                violations.append(v)
    order = {"critical": 0, "warning": 1}
    violations.sort(key=lambda v: (order[v.severity], v.metric))
    return Evaluation(run_id=results.run_id, verdicts=tuple(verdicts), violations=tuple(violations),
                      failed_benchmarks=tuple(failed), not_applicable=not_applicable)
