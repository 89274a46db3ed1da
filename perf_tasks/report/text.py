"""Plain text for terminals and logs: the targets table and the verdict block. Pure."""
from __future__ import annotations

from perf_tasks.fmt import format_margin, format_value
from perf_tasks.results import Comparison, Evaluation
from perf_tasks.verdict import RunJudgement, judge_run, measured_text


def summary_table(evaluation: Evaluation, comparison: Comparison | None = None) -> str:
    rows = [("metric", "target", "measured", "n", "margin", "verdict")]
    for v in evaluation.verdicts:
        shown = measured_text(v)
        rows.append((v.metric, f"{v.op} {format_value(v.threshold, v.unit)}", shown,
                     f"{v.samples:,}" if v.samples is not None else "-",
                     "no data" if shown == "no data" else format_margin(v.margin), v.status.upper()))
    widths = [max(len(r[i]) for r in rows) for i in range(6)]
    lines = ["  ".join(c.ljust(w) if i in (0, 5) else c.rjust(w) for i, (c, w) in enumerate(zip(r, widths)))
             for r in rows]
    lines.insert(1, "  ".join("-" * w for w in widths))
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
                         + (f"; {comparison.note}" if comparison.note else "") + " (each one below, among the findings)")
    return "\n".join(lines)


def verdict_block(judgement: RunJudgement) -> str:
    """The run's findings, worst first (one line each, with why a regression does not alert), the
    targets not judged, then the verdict line last, where a terminal's reader looks."""
    lines = []
    if judgement.headline:
        lines.append(f"findings ({len(judgement.headline)}, worst first):")
        previous = ""
        for i, f in enumerate(judgement.headline, 1):  # a note the finding above gave already: said once
            same = f.note and f.note == previous
            lines.append(f"  {i}. {f.label} {f.metric}: {f.detail}" + (" (not alerted: as above)" if same and
                         f.note.startswith("not alerted") else " (as above)" if same else f" ({f.note})" if f.note
                         else ""))
            previous = f.note
    elif judgement.evaluated:
        lines.append("findings: none" + (": every target met, no regression" if not judgement.invalid
                                         else f": every judged target met ({judgement.invalid} not judged)"))
    if judgement.not_judged:
        lines.append("not judged (INVALID: the measurement cannot carry a verdict; never a pass):")
        lines += [f"  {f.metric}: {f.note}" for f in judgement.not_judged]
    lines.append(judgement.line + ("; the run FAILS (alerts.yaml run_state.fail_on: "
                                   f"{judgement.fail_on})" if judgement.fails_run else ""))
    return "\n".join(lines)


def markdown_table(evaluation: Evaluation, fingerprint: dict, run_id: str) -> str:
    """Targets as a Markdown table, with the machine that measured them."""
    lines = [f"Run `{run_id}` on {fingerprint.get('cpu_model')} ({fingerprint.get('cpu_count_logical')} logical CPUs, "
             f"{fingerprint.get('memory_total_bytes', 0) / 2**30:.0f} GiB), Python {fingerprint.get('python')}, "
             f"torch {fingerprint.get('packages', {}).get('torch', '-')}, commit "
             f"`{(fingerprint.get('git_sha') or '-')[:12]}`.", "",
             "| metric | target | measured | samples | margin | verdict |", "|---|---|---|---|---|---|"]
    for v in evaluation.verdicts:
        lines.append(f"| `{v.metric}` | {v.op} {format_value(v.threshold, v.unit)} | {measured_text(v)} | "
                     f"{f'{v.samples:,}' if v.samples is not None else '-'} | "
                     f"{'no data' if measured_text(v) == 'no data' else format_margin(v.margin)} | {v.status.upper()} |")
    return "\n".join(lines)
