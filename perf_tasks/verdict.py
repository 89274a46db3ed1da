"""The run's one verdict and its findings, decided here and nowhere else. Pure: no I/O.

Every surface that says how a run went takes it from :func:`judge_run`: the terminal (``run``,
``show``, so ``make run``), the report's title and summary, the Slack message, the Airflow run
note and the ``verdict`` task's state, the CLI's exit code, JUnit, the history site and the
Pushgateway. The verdict is one of

- ``CRITICAL``: a critical violation (a target or a rule), a benchmark that raised, or a failed step;
- ``INVALID``: nothing critical, but a target could not be judged (the measurement cannot carry a
  verdict: too few observations, a saturated generator, a busy host), or the run was never evaluated;
- ``WARNING``: only warnings: a warning violation, or a regression or new level change that alerts;
- ``PASS``: every target judged and met, no alerting regression.

``fails_run`` says whether the run ends failed (the DAG's ``verdict`` task, the CLI's exit code
1): a failed step always; a CRITICAL verdict when alerts.yaml ``run_state.fail_on`` is
"critical" (the default), never with "never". INVALID alone never fails a run and never passes.

Findings come worst first: failed steps, critical misses, targets that would have been missed but
could not be judged (INVALID, with the reason and the factor), warnings, regressions (each saying
whether it alerts and, when not, why), new level changes, then invalid targets that would have
met or that measured nothing (the "not judged" caveats).

A scenario that is *not applicable* to the system under test (it must kill a service the system
only gives a url of, its system defines no hook it needs) is a finding of its own: it never passes
and never fails; a run where everything was not applicable is INVALID (nothing was measured).
"""
from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal

from perf_tasks.fmt import NO_DATA, factor, format_value
from perf_tasks.results import GENERATOR_SATURATED, Comparison, Evaluation, MetricChange, Verdict, Violation

VERDICTS = ("PASS", "WARNING", "INVALID", "CRITICAL")  # from best to worst

FindingKind = Literal["failed_step", "critical", "would_miss", "warning", "regression", "level_change",
                      "saturated", "not_applicable", "not_judged"]
_ORDER: tuple[FindingKind, ...] = ("failed_step", "critical", "would_miss", "warning", "regression",
                                   "level_change", "saturated", "not_applicable", "not_judged")


@dataclass(frozen=True)
class Finding:
    """One thing a reader must see. ``label`` is what it is in capitals (CRITICAL, INVALID,
    WARNING, REGRESSION, LEVEL CHANGE, STEP FAILED); ``detail`` the measured value against the
    threshold (plain text); ``note`` why it does not alert, or what it means; ``alerts``: whether
    it is a reason to alert (Slack) at all."""

    kind: FindingKind
    label: str
    metric: str
    detail: str
    note: str = ""
    alerts: bool = True

    @property
    def text(self) -> str:
        """One plain line: ``LABEL metric: detail (note)``."""
        return f"{self.label} {self.metric}: {self.detail}" + (f" ({self.note})" if self.note else "")


@dataclass(frozen=True)
class RunJudgement:
    verdict: str  # one of VERDICTS
    findings: tuple[Finding, ...]
    fails_run: bool
    fail_on: str
    targets: int = 0
    passed: int = 0
    warnings: int = 0
    critical: int = 0
    invalid: int = 0
    regressions: int = 0
    failed_steps: tuple[str, ...] = ()
    evaluated: bool = True
    alert_on: str = "promoted"  # alerts.yaml regression.alert_on, as judged
    alert_min_processes: int = 5
    not_applicable: int = 0  # scenarios that cannot run on the system under test

    @property
    def line(self) -> str:
        """``verdict: CRITICAL (29 targets: 26 pass, 1 critical, 2 INVALID; 1 regression)``."""
        if not self.evaluated:
            why = f"step {', '.join(self.failed_steps)} failed" if self.failed_steps else "nothing was evaluated"
            return f"verdict: {self.verdict} (the run was not evaluated: {why})"
        counts = [f"{n} {what}" for n, what in ((self.passed, "pass"), (self.warnings, "warning"),
                                               (self.critical, "critical"), (self.invalid, "INVALID"))if n]
        tail = []
        if self.regressions:
            tail.append(f"{self.regressions} regression{'s' if self.regressions > 1 else ''}")
        if self.not_applicable:
            tail.append(f"{self.not_applicable} not applicable")
        if self.failed_steps:
            tail.append(f"{len(self.failed_steps)} step(s) failed: {', '.join(self.failed_steps)}")
        n = self.targets
        head = f"{n} target{'' if n == 1 else 's'}" + (f": {', '.join(counts)}" if counts else "")
        return f"verdict: {self.verdict} ({head}" + (f"; {'; '.join(tail)}" if tail else "") + ")"

    @property
    def headline(self) -> list[Finding]:
        """The findings a reader must act on or know (not the would-have-met caveats)."""
        return [f for f in self.findings if f.kind != "not_judged"]

    @property
    def not_judged(self) -> list[Finding]:
        return [f for f in self.findings if f.kind == "not_judged"]

    def summary(self) -> dict[str, Any]:
        """What the manifest keeps (the history site reads the verdict from it, never recomputes it)."""
        return {"verdict": self.verdict, "fails_run": self.fails_run, "fail_on": self.fail_on,
                "alert_on": self.alert_on, "alert_min_processes": self.alert_min_processes,
                "findings": [f.text for f in self.headline[:10]]}


def measured_text(v: Verdict) -> str:
    """The value a verdict judged, or "no data" when nothing was measured."""
    if v.samples == 0 or v.reason.startswith("no data"):
        return NO_DATA
    return format_value(v.value, v.unit)


def _target_detail(value: str, op: str, threshold: float, unit: str, fact: str) -> str:
    return f"{value} against target {op} {format_value(threshold, unit)}" + (f", {fact}" if fact else "")


def _violation(v: Violation, verdict: Verdict | None) -> Finding:
    shown = measured_text(verdict) if verdict is not None else format_value(v.value, v.unit)
    fact = factor(v.value, v.threshold) if shown != NO_DATA else ""
    if v.source.startswith("benchmark raised"):
        return Finding("critical", "CRITICAL", v.metric, v.source)
    if v.source.startswith("target"):
        detail = _target_detail(shown, v.op, v.threshold, v.unit, fact)
        note = verdict.reason if verdict is not None and verdict.reason.startswith("no data") else ""
    else:
        detail = f"{shown}, threshold {v.op} {format_value(v.threshold, v.unit)} ({v.source})"
        note = ""
    return Finding("critical" if v.severity == "critical" else "warning", v.severity.upper(), v.metric, detail, note)


def _invalid(v: Verdict) -> Finding:
    shown = measured_text(v)
    if v.would_have in ("warning", "critical"):
        detail = _target_detail(shown, v.op, v.threshold, v.unit, factor(v.value, v.threshold))
        why = re.sub(r" \(it would have (met|missed) the target\)$", "", v.reason.split("; would have been ", 1)[0])
        return Finding("would_miss", "INVALID", v.metric, detail + f": would have been {v.would_have.upper()}",
                       note=f"not judged: {why}")
    detail = _target_detail(shown, v.op, v.threshold, v.unit, "")
    if v.reason.startswith(GENERATOR_SATURATED):
        return Finding("saturated", "INVALID", v.metric, detail, note=v.reason)
    return Finding("not_judged", "INVALID", v.metric, detail, note=v.reason, alerts=False)


def regression_quiet_reason(c: MetricChange, comparison: Comparison, alert_on: str, min_processes: int) -> str:
    """Why a per-run regression (or improvement) does not alert, in words; "" when it does. The one
    rule (alerts.yaml ``regression.alert_on``): against a promoted baseline always; against the
    previous run only with "any", or "processes" when both sides ran in >= ``min_processes``
    worker processes."""
    if alert_on == "any" or comparison.baseline_kind == "promoted":
        return ""
    if alert_on == "processes":
        n = min(c.processes_baseline or 0, c.processes_current or 0)
        if n >= min_processes:
            return ""
        return (f"not alerted: against the previous run a regression alerts only when both sides ran in >= "
                f"{min_processes} worker processes (here {n}; alerts.yaml regression.alert_on 'processes'); "
                "promote a baseline to alert on every regression")
    return ("not alerted: compared with the previous run, not a promoted baseline (alerts.yaml regression."
            "alert_on 'promoted'); promote a baseline (python -m perf_tasks baseline promote) to alert on it")


def alerting_invalid(evaluation: Evaluation | None) -> list[Verdict]:
    """Invalid targets that alert on their own: the load generator was saturated (the run could
    not apply the load), or the value would have missed the target (never silent)."""
    return [v for v in (evaluation.invalid if evaluation else ())
            if v.reason.startswith(GENERATOR_SATURATED) or v.would_have in ("warning", "critical")]


def baseline_words(comparison: Comparison) -> str:
    """``the promoted baseline (run X)`` / ``the previous run (X)``."""
    if comparison.baseline_kind == "promoted":
        return f"the promoted baseline (run {comparison.baseline_run_id})"
    return f"the previous run ({comparison.baseline_run_id})"


def judge_run(evaluation: Evaluation | None, comparison: Comparison | None = None, *,
              failed_steps: Mapping[str, str] | None = None, fail_on: str = "critical",
              alert_on: str = "promoted", alert_min_processes: int = 5) -> RunJudgement:
    """The verdict, findings and run state of one run (see the module docstring)."""
    failed = dict(failed_steps or {})
    findings: list[Finding] = [Finding("failed_step", "STEP FAILED", name, why) for name, why in failed.items()]
    if evaluation is None:
        verdict = "CRITICAL" if failed else "INVALID"
        return RunJudgement(verdict, tuple(findings), fails_run=bool(failed), fail_on=fail_on,
                            failed_steps=tuple(failed), evaluated=False, alert_on=alert_on,
                            alert_min_processes=alert_min_processes)
    by_metric = {v.metric: v for v in evaluation.verdicts}
    for v in evaluation.violations:
        findings.append(_violation(v, by_metric.get(v.metric) if v.source.startswith("target") else None))
    findings += [_invalid(v) for v in evaluation.invalid]
    findings += [Finding("not_applicable", "NOT APPLICABLE", key, reason, alerts=False)
                 for key, reason in sorted(evaluation.not_applicable.items())]
    regressions = 0
    if comparison is not None:
        for c in comparison.regressions:
            quiet = regression_quiet_reason(c, comparison, alert_on, alert_min_processes)
            regressions += not quiet
            findings.append(Finding("regression", "REGRESSION", c.metric,
                                    f"{format_value(c.baseline, c.unit)} -> {format_value(c.current, c.unit)} "
                                    f"({c.change_pct:+.1f} %) vs {baseline_words(comparison)}",
                                    note=quiet, alerts=not quiet))
        for h in comparison.history_changes:
            if h.new and h.kind in ("regression", "improvement"):
                findings.append(Finding("level_change", "LEVEL CHANGE", h.metric,
                                        f"{h.kind} {h.change_pct:+.1f} % from run {h.run}"
                                        + (f" (commits {h.commit_range})" if h.commit_range else ""),
                                        alerts=h.kind == "regression"))
                regressions += h.kind == "regression"
    findings.sort(key=lambda f: _ORDER.index(f.kind))
    critical = bool(failed) or bool(evaluation.critical)
    warn = any(v.severity == "warning" for v in evaluation.violations) or regressions > 0
    nothing = not evaluation.verdicts and not evaluation.violations and bool(evaluation.not_applicable)
    verdict = ("CRITICAL" if critical else "INVALID" if evaluation.invalid or nothing
               else "WARNING" if warn else "PASS")
    statuses = [v.status for v in evaluation.verdicts]
    return RunJudgement(
        verdict, tuple(findings),
        fails_run=bool(failed) or (fail_on == "critical" and verdict == "CRITICAL"), fail_on=fail_on,
        targets=len(statuses), passed=statuses.count("pass"), warnings=statuses.count("warning"),
        critical=statuses.count("critical"), invalid=statuses.count("invalid"), regressions=regressions,
        failed_steps=tuple(failed), alert_on=alert_on, alert_min_processes=alert_min_processes,
        not_applicable=len(evaluation.not_applicable))


def verdict_of_summary(status: str, summary: Mapping[str, Any] | None) -> str:
    """A sealed run's verdict from its manifest summary: the one :func:`judge_run` wrote there
    (``summary["verdict"]``); runs sealed before it was kept: the same rule from the counts;
    UNKNOWN without a summary (CRITICAL when the run failed)."""
    if not summary:
        return "CRITICAL" if status == "failed" else "UNKNOWN"
    if summary.get("verdict") in VERDICTS:
        return str(summary["verdict"])
    if summary.get("failed_steps") or status == "failed" or (summary.get("critical") or 0) > 0:
        return "CRITICAL"
    if (summary.get("targets_invalid") or 0) > 0:
        return "INVALID"
    return "WARNING" if (summary.get("alerts") or 0) > 0 else "PASS"


def verdict_lines(evaluation: Evaluation) -> list[str]:
    """One line per target verdict, then the alert-rule violations, then the verdict line
    (:func:`judge_run`)."""
    lines = []
    for v in evaluation.verdicts:
        line = (f"{v.status.upper():8} {v.metric} = {measured_text(v)} "
                f"(target {v.op} {format_value(v.threshold, v.unit)}"
                + (f", n={v.samples:,}" if v.samples is not None else "") + ")")
        lines.append(line + (f": {v.reason}" if v.reason else ""))
    lines += [f"{v.severity.upper():8} {v.metric} = {format_value(v.value, v.unit)} "
              f"(threshold {v.op} {format_value(v.threshold, v.unit)}; {v.source})"
              for v in evaluation.violations if not v.source.startswith("target")]
    lines.append(judge_run(evaluation).line)
    return lines
