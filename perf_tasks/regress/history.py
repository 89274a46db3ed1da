"""A metric's history of runs, and the changes found in it (with the run and commit to blame).

Sources: a CSV file (the ``regress`` CLI) or the artifact store's run index, whose entries carry
each finished run's metric values, git SHA and comparison key (only runs of one key make a history).
"""
from __future__ import annotations

import csv
import math
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from perf_tasks.errors import ConfigError
from perf_tasks.regress.detect import (Alert, OnlineConfig, OtavaConfig, online_alerts, otava_change_points)
from perf_tasks.regress.keys import entry_matches

Method = Literal["online", "whole"]


@dataclass(frozen=True)
class History:
    metric: str
    labels: tuple[str, ...]  # run ids or timestamps, oldest first
    values: tuple[float, ...]
    commits: tuple[str | None, ...]


@dataclass(frozen=True)
class ChangeReport:
    metric: str
    kind: Literal["regression", "improvement"]
    index: int  # first run of the new level
    run: str  # its label (run id or timestamp)
    commit: str | None  # suspected commit: the code under test at that run
    detected_at_run: str
    before: float
    after: float
    change_pct: float
    pvalue: float | None
    method: str


_TIME_COLUMNS = ("timestamp", "time", "date", "run_id", "run")
_COMMIT_COLUMNS = ("commit", "git_sha", "sha")


def read_history_csv(path: str | Path, *, metric: str | None = None) -> list[History]:
    """``timestamp,value[,commit]`` or ``timestamp[,commit],<metric>,<metric>...``; rows oldest
    first. Empty cells are skipped for that metric; anything else non-numeric is an error."""
    path = Path(path)
    try:
        with path.open(newline="") as fh:
            rows = list(csv.DictReader(fh))
    except FileNotFoundError:
        raise ConfigError(f"{path}: history file not found") from None
    if not rows:
        raise ConfigError(f"{path}: no rows")
    columns = list(rows[0].keys())
    time_col = next((c for c in columns if c.strip().lower() in _TIME_COLUMNS), None)
    if time_col is None:
        raise ConfigError(f"{path}: needs a timestamp column (one of {_TIME_COLUMNS}); found {columns}")
    commit_col = next((c for c in columns if c.strip().lower() in _COMMIT_COLUMNS), None)
    metric_cols = [c for c in columns if c not in (time_col, commit_col)]
    if metric is not None and metric not in metric_cols:
        if metric_cols == ["value"]:
            metric_cols = ["value"]
        else:
            raise ConfigError(f"{path}: no column {metric!r}; metric columns are {metric_cols}")
    elif metric is not None:
        metric_cols = [metric]
    out = []
    for col in metric_cols:
        labels, values, commits = [], [], []
        for lineno, row in enumerate(rows, start=2):
            cell = (row.get(col) or "").strip()
            if not cell:
                continue
            try:
                value = float(cell)
            except ValueError:
                raise ConfigError(f"{path}: line {lineno}, column {col!r}: {cell!r} is not a number") from None
            if not math.isfinite(value) or value <= 0:
                raise ConfigError(f"{path}: line {lineno}, column {col!r}: {cell!r} must be a positive number")
            labels.append(row[time_col])
            values.append(value)
            commits.append((row.get(commit_col) or None) if commit_col else None)
        name = metric if (metric is not None and col == "value") else col
        out.append(History(name, tuple(labels), tuple(values), tuple(commits)))
    return out


def history_from_index(entries: Sequence[dict[str, Any]], metric: str, *, key: dict[str, str],
                       bench_key: dict[str, str] | None = None) -> History:
    """From run index entries (newest first, as :func:`perf_tasks.store.run_index` returns): the
    successful runs with run key ``key`` and, for a benchmark's metric, benchmark key
    ``bench_key`` (:mod:`perf_tasks.regress.keys`). Entries without a key never match."""
    bench = metric.rpartition(".")[0] if bench_key is not None else None
    rows = [e for e in reversed(entries) if e.get("status") == "success" and metric in (e.get("metrics") or {})
            and entry_matches(e, key, bench, bench_key)]
    return History(metric, tuple(e["run_id"] for e in rows), tuple(float(e["metrics"][metric]) for e in rows),
                   tuple(e.get("git_sha") for e in rows))


def detect_changes(history: History, *, direction: Literal["lower", "higher"] = "lower",
                   method: Method = "online", online: OnlineConfig = OnlineConfig(),
                   whole: OtavaConfig = OtavaConfig(log=True, clip_sigma=3.0, min_magnitude=0.02,
                                                   max_pvalue=1e-5)) -> list[ChangeReport]:
    """Changes in a history, each classed as a regression or an improvement by the metric's
    direction (for latency, up is a regression; for throughput, down is)."""
    if len(history.values) < 3:
        return []
    alerts: list[Alert] = (online_alerts(history.values, online) if method == "online"
                           else otava_change_points(history.values, whole))
    out = []
    for a in alerts:
        worse = a.change_pct > 0 if direction == "lower" else a.change_pct < 0
        out.append(ChangeReport(
            metric=history.metric, kind="regression" if worse else "improvement", index=a.index,
            run=history.labels[a.index], commit=history.commits[a.index], detected_at_run=history.labels[a.at],
            before=a.before, after=a.after, change_pct=a.change_pct, pvalue=a.pvalue, method=a.method))
    return out
