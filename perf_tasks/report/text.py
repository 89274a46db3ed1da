"""Plain-text summary table for terminals and logs. Pure."""
from __future__ import annotations

from perf_tasks.alerts.slack import format_value
from perf_tasks.results import Comparison, Evaluation


def overall_verdict(evaluation: Evaluation) -> str:
    """FAIL (a critical violation), INVALID (no critical one, but a target could not be judged),
    WARNING (only warnings), or PASS. An invalid target never reads as a pass."""
    if evaluation.critical:
        return "FAIL"
    if evaluation.invalid:
        return "INVALID"
    return "WARNING" if evaluation.violations else "PASS"


def verdict_line(evaluation: Evaluation) -> str:
    """``verdict: <overall> (counts)``: one line for a terminal or a log."""
    n = len(evaluation.verdicts)
    counts = [f"{n} target{'' if n == 1 else 's'}"]
    warnings = len(evaluation.violations) - len(evaluation.critical)
    for n, what in ((len(evaluation.critical), "critical"), (warnings, "warning"),
                    (len(evaluation.invalid), "INVALID: could not be judged")):
        if n:
            counts.append(f"{n} {what}")
    return f"verdict: {overall_verdict(evaluation)} ({', '.join(counts)})"


def verdict_lines(evaluation: Evaluation) -> list[str]:
    """One line per target verdict, then the alert-rule violations, then :func:`verdict_line`."""
    lines = []
    for v in evaluation.verdicts:
        line = (f"{v.status.upper():8} {v.metric} = {format_value(v.value, v.unit)} "
                f"(target {v.op} {format_value(v.threshold, v.unit)}"
                + (f", n={v.samples:,}" if v.samples is not None else "") + ")")
        lines.append(line + (f": {v.reason}" if v.reason else ""))
    lines += [f"{v.severity.upper():8} {v.metric} = {format_value(v.value, v.unit)} "
              f"(threshold {v.op} {format_value(v.threshold, v.unit)}; {v.source})"
              for v in evaluation.violations if not v.source.startswith("target")]
    lines.append(verdict_line(evaluation))
    return lines


def summary_table(evaluation: Evaluation, comparison: Comparison | None = None) -> str:
    rows = [("metric", "target", "measured", "n", "margin", "verdict")]
    for v in evaluation.verdicts:
        rows.append((v.metric, f"{v.op} {format_value(v.threshold, v.unit)}", format_value(v.value, v.unit),
                     f"{v.samples:,}" if v.samples is not None else "-", _margin(v.margin), v.status.upper()))
    widths = [max(len(r[i]) for r in rows) for i in range(6)]
    lines = ["  ".join(c.ljust(w) if i in (0, 5) else c.rjust(w) for i, (c, w) in enumerate(zip(r, widths)))
             for r in rows]
    lines.insert(1, "  ".join("-" * w for w in widths))
    if evaluation.invalid:
        lines.append("")
        lines.append("invalid (the measurement cannot carry a verdict):")
        lines += [f"  {v.metric}: {v.reason}" for v in evaluation.invalid]
    other = [v for v in evaluation.violations if not v.source.startswith("target")]
    if other:
        lines.append("")
        lines.append("alerts:")
        lines += [f"  {v.severity.upper():8} {v.metric} = {format_value(v.value, v.unit)} "
                  f"(threshold {v.op} {format_value(v.threshold, v.unit)}; {v.source})" for v in other]
    if comparison is not None:
        lines.append("")
        if comparison.baseline_run_id is None:
            lines.append(f"baseline: none ({comparison.note})")
        else:
            lines.append(f"baseline {comparison.baseline_run_id}: {len(comparison.regressions)} regressions, "
                         f"{len(comparison.improvements)} improvements (threshold {comparison.threshold_pct:g} %)"
                         + (f"; {comparison.note}" if comparison.note else ""))
            lines += [f"  REGRESSION {c.metric}: {format_value(c.baseline, c.unit)} -> "
                      f"{format_value(c.current, c.unit)} ({c.change_pct:+.1f} %)" for c in comparison.regressions]
    return "\n".join(lines)


def markdown_table(evaluation: Evaluation, fingerprint: dict, run_id: str) -> str:
    """Targets as a Markdown table, with the machine that measured them."""
    lines = [f"Run `{run_id}` on {fingerprint.get('cpu_model')} ({fingerprint.get('cpu_count_logical')} logical CPUs, "
             f"{fingerprint.get('memory_total_bytes', 0) / 2**30:.0f} GiB), Python {fingerprint.get('python')}, "
             f"torch {fingerprint.get('packages', {}).get('torch', '-')}, commit "
             f"`{(fingerprint.get('git_sha') or '-')[:12]}`.", "",
             "| metric | target | measured | samples | margin | verdict |", "|---|---|---|---|---|---|"]
    for v in evaluation.verdicts:
        lines.append(f"| `{v.metric}` | {v.op} {format_value(v.threshold, v.unit)} | {format_value(v.value, v.unit)} | "
                     f"{f'{v.samples:,}' if v.samples is not None else '-'} | {_margin(v.margin)} | {v.status.upper()} |")
    return "\n".join(lines)


def _margin(margin: float) -> str:
    """``12.3x``; ``inf`` when the measured value is 0 against a maximum (ASCII: terminals, CI logs)."""
    import math

    return f"{margin:,.1f}x" if math.isfinite(margin) else "inf"
