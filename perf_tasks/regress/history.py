"""A metric's history of runs, and the changes found in it (with the runs and commits to blame).

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
from perf_tasks.regress.detect import Alert, OnlineConfig, OtavaConfig, online_alerts, otava_change_points
from perf_tasks.regress.keys import entry_matches
from perf_tasks.regress.levels import Change, LevelConfig, analyse, replay

#: history: the default, what the DAG alerts on (perf_tasks.regress.levels.replay: the whole-history
#: pass re-run at every run, each finding made at the run that first found it); whole: that pass once,
#: over the history as it stands; online: the previous detector (robust band + Mann-Whitney U, one
#: run at a time); otava: Apache Otava's E-divisive means over the whole history (tuned).
Method = Literal["history", "whole", "online", "otava"]
METHODS: tuple[Method, ...] = ("history", "whole", "online", "otava")
Kind = Literal["regression", "improvement", "transient", "noise"]
_OTAVA = OtavaConfig(log=True, clip_sigma=3.0, min_magnitude=0.02, max_pvalue=1e-5)


@dataclass(frozen=True)
class History:
    metric: str
    labels: tuple[str, ...]  # run ids or timestamps, oldest first
    values: tuple[float, ...]
    commits: tuple[str | None, ...]


@dataclass(frozen=True)
class ChangeReport:
    """A finding with the runs it names. Kinds: ``regression`` / ``improvement`` (a level change,
    by the metric's direction), ``transient`` (runs ``run`` .. ``end_run`` went off and came
    back; reported once, never a level change), ``noise`` (the spread changed: ``before`` and
    ``after`` are the robust sigma of the values in %, ``change_pct`` its change).

    Levels: ``before``/``after`` are medians in the metric's unit with 95 % intervals
    (``*_low``/``*_high``), from runs ``first_run_before`` .. ``last_good_run``
    (``runs_before`` kept) and ``run`` .. ``end_run`` (``runs_after`` kept); ``runs_excluded``
    runs in between were excursions left out. The suspects are the commits after
    ``last_good_commit`` up to ``commit``."""

    metric: str
    kind: Kind
    index: int  # first run of the new level (or of the excursion, or of the new noise)
    run: str  # its label (run id or timestamp)
    commit: str | None  # the code under test at that run: the first bad commit
    detected_at_run: str
    before: float
    after: float
    change_pct: float
    pvalue: float | None
    method: str
    last_good_run: str | None = None  # the last run of the old level
    last_good_commit: str | None = None
    before_low: float | None = None
    before_high: float | None = None
    after_low: float | None = None
    after_high: float | None = None
    first_run_before: str | None = None
    end_run: str | None = None
    runs_before: int = 0
    runs_after: int = 0
    runs_excluded: int = 0
    z: float | None = None

    @property
    def commit_range(self) -> str | None:
        """``last_good..first_bad`` (git's range syntax), or the one commit known."""
        if self.commit and self.last_good_commit and self.last_good_commit != self.commit:
            return f"{self.last_good_commit}..{self.commit}"
        return self.commit


_TIME_COLUMNS = ("timestamp", "time", "date", "run_id", "run")
_COMMIT_COLUMNS = ("commit", "git_sha", "sha")


def read_history_csv(path: str | Path, *, metric: str | None = None) -> list[History]:
    """``timestamp,value[,commit]`` or ``timestamp[,commit],<metric>,<metric>...``; rows oldest
    first. Empty cells are skipped for that metric; anything else non-numeric is an error."""
    path = Path(path)
    try:
        with path.open(newline="", encoding="utf-8") as fh:
            rows = list(csv.DictReader(fh))
    except FileNotFoundError:
        raise ConfigError(f"{path}: history file not found") from None
    except (OSError, UnicodeDecodeError, csv.Error) as exc:
        raise ConfigError(f"{path}: cannot read the history file: {exc}") from None
    if not rows:
        raise ConfigError(f"{path}: no rows")
    columns = list(rows[0].keys())
    time_col = next((c for c in columns if c and c.strip().lower() in _TIME_COLUMNS), None)
    if time_col is None:
        raise ConfigError(f"{path}: needs a timestamp column (one of {_TIME_COLUMNS}); found {columns}")
    commit_col = next((c for c in columns if c and c.strip().lower() in _COMMIT_COLUMNS), None)
    ragged = next((i for i, row in enumerate(rows, start=2) if None in row), None)  # cells beyond the header
    if ragged is not None:
        raise ConfigError(f"{path}: line {ragged} has more cells than the header ({len(columns)} columns)")
    metric_cols = [c for c in columns if c not in (time_col, commit_col)]
    if not metric_cols:
        raise ConfigError(f"{path}: no metric column besides {time_col!r}" + (f" and {commit_col!r}" if commit_col else ""))
    if metric is not None and metric not in metric_cols:
        if metric_cols != ["value"]:
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


def _level_kind(change_pct: float, direction: Literal["lower", "higher"]) -> Kind:
    worse = change_pct > 0 if direction == "lower" else change_pct < 0
    return "regression" if worse else "improvement"


def _from_change(h: History, c: Change, direction: Literal["lower", "higher"], method: str) -> ChangeReport:
    kind: Kind = _level_kind(c.change_pct, direction) if c.kind == "level" else c.kind
    good = c.last_before if c.last_before >= 0 else None
    return ChangeReport(
        metric=h.metric, kind=kind, index=c.index, run=h.labels[c.index], commit=h.commits[c.index],
        detected_at_run=h.labels[c.at], before=c.before, after=c.after, change_pct=c.change_pct, pvalue=c.pvalue,
        method=method, last_good_run=h.labels[good] if good is not None else None,
        last_good_commit=h.commits[good] if good is not None else None,
        before_low=c.before_ci[0] if c.before_ci else None, before_high=c.before_ci[1] if c.before_ci else None,
        after_low=c.after_ci[0] if c.after_ci else None, after_high=c.after_ci[1] if c.after_ci else None,
        first_run_before=h.labels[c.start_before], end_run=h.labels[c.end], runs_before=c.runs_before,
        runs_after=c.runs_after, runs_excluded=c.excluded, z=c.z)


def _from_alert(h: History, a: Alert, direction: Literal["lower", "higher"]) -> ChangeReport:
    good = a.index - 1 if a.index > 0 else None
    return ChangeReport(
        metric=h.metric, kind=_level_kind(a.change_pct, direction), index=a.index, run=h.labels[a.index],
        commit=h.commits[a.index], detected_at_run=h.labels[a.at], before=a.before, after=a.after,
        change_pct=a.change_pct, pvalue=a.pvalue, method=a.method,
        last_good_run=h.labels[good] if good is not None else None,
        last_good_commit=h.commits[good] if good is not None else None)


def detect_changes(history: History, *, direction: Literal["lower", "higher"] = "lower",
                   method: Method = "history", level: LevelConfig = LevelConfig(),
                   online: OnlineConfig = OnlineConfig(), whole: OtavaConfig = _OTAVA,
                   replay_runs: int | None = None) -> list[ChangeReport]:
    """Changes in a history, level changes classed as a regression or an improvement by the
    metric's direction (for latency, up is a regression; for throughput, down is).

    ``history`` replays the last ``replay_runs`` runs (default: all) one at a time and returns
    each finding made in them, at the run that first made it (findings standing before the
    replayed runs are not returned). ``whole`` returns what one pass finds now (``detected_at_run``
    is the last run)."""
    if method not in METHODS:
        raise ValueError(f"unknown method {method!r}; expected one of {METHODS}")
    n = len(history.values)
    if n < 3:
        return []
    if method in ("history", "whole"):
        if method == "whole":
            changes = analyse(history.values, level)
        else:
            changes = replay(history.values, level, start=None if replay_runs is None else max(0, n - replay_runs))
        return [_from_change(history, c, direction, method) for c in changes]
    alerts = online_alerts(history.values, online) if method == "online" else otava_change_points(history.values, whole)
    return [_from_alert(history, a, direction) for a in alerts]
