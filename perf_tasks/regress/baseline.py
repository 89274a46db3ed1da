"""Compare a run to a baseline run with a relative threshold. Pure functions; the baseline is
found in the artifact store by :func:`perf_tasks.pipeline.compare_to_baseline`."""
from __future__ import annotations

import fnmatch

from perf_tasks.monitor.fingerprint import mismatches
from perf_tasks.results import Comparison, MetricChange, RunResults


def compare(current: RunResults, baseline: RunResults, *, threshold_pct: float,
            metric_globs: list[str]) -> Comparison:
    """Per metric, the relative change against the baseline; worse than ``threshold_pct`` in the
    metric's bad direction is a regression, better by as much an improvement. Mismatched
    environments are flagged (named both ways), not hidden."""
    base = {m.name: m for m in baseline.metrics()}
    changes = []
    for m in current.metrics():
        if not any(fnmatch.fnmatchcase(m.name, g) for g in metric_globs):
            continue
        b = base.get(m.name)
        if b is None or b.value == 0:
            continue
        change = (m.value - b.value) / abs(b.value) * 100.0
        worse = change > threshold_pct if m.direction == "lower" else change < -threshold_pct
        better = change < -threshold_pct if m.direction == "lower" else change > threshold_pct
        status = "regression" if worse else "improvement" if better else "unchanged"
        changes.append(MetricChange(metric=m.name, unit=m.unit, direction=m.direction, baseline=b.value,
                                    current=m.value, change_pct=change, status=status))
    diff = tuple(mismatches(current.fingerprint, baseline.fingerprint))
    note = ("environment differs from the baseline's: " + "; ".join(diff)) if diff else ""
    return Comparison(run_id=current.run_id, baseline_run_id=baseline.run_id, threshold_pct=threshold_pct,
                      changes=tuple(changes), note=note, fingerprint_mismatch=diff)
