"""A metric's history of runs, and the changes found in it (with the runs and commits to blame).

Sources: a CSV file (the ``regress`` CLI: :func:`load_history_csv`, with each metric's better
direction read from its name by :func:`infer_direction`) or the artifact store's run index, whose
entries carry each finished run's metric values, git SHA and comparison key (only runs of one key
make a history).
"""
from __future__ import annotations

import csv
import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timezone
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


# --- a history from a CSV file (the regress CLI) -----------------------------------------------

Direction = Literal["lower", "higher"]
#: columns found by name when --columns does not say: a time (parsed strictly), a run label
#: (ordered by when every label is a number or a time, else kept in file order), the commit
_TIME_COLUMNS = ("timestamp", "time", "date", "datetime")
_LABEL_COLUMNS = ("run_id", "run")
_COMMIT_COLUMNS = ("commit", "git_sha", "sha")
ROLES = ("timestamp", "commit")  # what --columns ROLE=COLUMN can map

# Direction from a metric's name, by its words (split on anything not a letter or digit), in
# this order: what counts failures is lower whatever it is per (errors_per_s); then rates of work
# and success are higher; then costs (times, sizes, resources) are lower.
_FAILURE_WORDS = frozenset("error errors err fail failed failure failures timeout timeouts miss misses missed drop "
                           "drops dropped loss lost reject rejected rejections retry retries crash crashes oom "
                           "violations".split())
_RATE_UNITS = frozenset("s sec second seconds min minute h hour".split())
_HIGHER_WORDS = frozenset("throughput goodput ops rps qps tps iops bandwidth speedup hit hits success successes "
                          "availability uptime accuracy".split())
_LOWER_WORDS = frozenset("latency duration elapsed time runtime wait delay lag jitter downtime recover recovery "
                         "p50 p75 p90 p95 p99 p999 ms s us ns sec secs seconds bytes kb mb gb kib mib gib memory mem "
                         "rss heap cpu size overhead".split())
_ID_LAST_WORDS = frozenset("id ids number num no seq idx index".split())
_ID_NAMES = frozenset("run job pipeline iteration attempt".split())


@dataclass(frozen=True)
class DirectionGuess:
    """Which way is better for a metric, and the part of its name that says so (``clue`` None:
    the name says neither, ``direction`` is the assumed ``lower``)."""

    direction: Direction
    clue: str | None


def _words(name: str) -> list[str]:
    return [w for w in re.split(r"[^a-z0-9]+", name.lower()) if w]


def infer_direction(name: str) -> DirectionGuess:
    """``throughput_per_s``, ``requests_rps``, ``cache_hit_rate``: higher; ``latency_p95_ms``,
    ``recover_s``, ``rss_max_bytes``, ``error_rate_pct``, ``errors_per_s``: lower; ``value``:
    lower, assumed (``clue`` None)."""
    words = _words(name)
    for w in words:
        if w in _FAILURE_WORDS:
            return DirectionGuess("lower", w)
    for a, b in zip(words, words[1:]):
        if a == "per" and b in _RATE_UNITS:
            return DirectionGuess("higher", f"per_{b}")
    for w in words:
        if w in _HIGHER_WORDS:
            return DirectionGuess("higher", w)
    for w in words:
        if w in _LOWER_WORDS:
            return DirectionGuess("lower", w)
    return DirectionGuess("lower", None)


def id_like_name(name: str) -> bool:
    """``build``, ``build_number``, ``run_id``, ``job``, ``seq``: a name for ids, not measurements."""
    words = _words(name)
    return bool(words) and (words[-1] in _ID_LAST_WORDS or name.lower() in _ID_NAMES
                            or re.fullmatch(r"builds?(num|no|id|number)?", words[0]) is not None)


@dataclass(frozen=True)
class SkippedColumn:
    """A column of the CSV that was not analysed, and why (one sentence)."""

    column: str
    reason: str


@dataclass(frozen=True)
class CsvHistories:
    """What a history CSV held: a :class:`History` per metric column analysed (oldest run first),
    the columns left out with the reason, and ``warnings`` (rows that were out of time order and
    were sorted). ``time_column`` gives the labels; ``ordered_by_time`` False: the labels are not
    times or numbers, and the rows are in file order."""

    path: str
    columns: tuple[str, ...]  # the header, as written
    time_column: str
    commit_column: str | None
    rows: int
    ordered_by_time: bool
    histories: tuple[History, ...]
    skipped: tuple[SkippedColumn, ...] = ()
    warnings: tuple[str, ...] = ()


_TIME_FORM = ("ISO 8601 (2026-01-31T02:00:00Z, 2026-01-31 02:00, 2026-01-31) or a number (epoch seconds, "
              "a run number)")


def _time_key(cell: str) -> tuple[str, float] | None:
    """(kind, sort key) of a time cell: ``number``, ``aware`` or ``naive`` datetime; None: neither."""
    try:
        x = float(cell)
    except ValueError:
        pass
    else:
        return ("number", x) if math.isfinite(x) else None
    try:
        dt = datetime.fromisoformat(cell)
    except ValueError:
        return None
    if dt.tzinfo is None:
        return "naive", dt.replace(tzinfo=timezone.utc).timestamp()
    return "aware", dt.timestamp()


def _order(path: Path, rows: list[dict[str, str]], col: str, *, strict: bool,
           source: str) -> tuple[list[int], bool, str | None]:
    """Row order oldest first (indices into ``rows``), whether it is by time, and a warning when
    the file was out of order. ``strict``: every cell must be a time or a number, one kind."""
    keys: list[float] = []
    first_kind: tuple[str, int, str] | None = None
    for i, row in enumerate(rows):
        line, cell = i + 2, (row.get(col) or "").strip()
        if not cell:
            raise ConfigError(f"{path}: line {line}, column {col!r}{source}: empty; every row needs its time "
                              "(or run label) to be placed in the history")
        parsed = _time_key(cell)
        problem = None
        if parsed is None:
            problem = f"{cell!r} is not a timestamp (expected {_TIME_FORM})"
        elif first_kind is not None and parsed[0] != first_kind[0]:
            what = {"number": "a number", "aware": "a time with a UTC offset", "naive": "a time without a UTC offset"}
            problem = (f"{cell!r} is {what[parsed[0]]} but line {first_kind[1]} ({first_kind[2]!r}) is "
                       f"{what[first_kind[0]]}: one column, one form")
        if problem is not None:
            if strict:
                raise ConfigError(f"{path}: line {line}, column {col!r}{source}: {problem}")
            return list(range(len(rows))), False, None  # run labels: file order
        assert parsed is not None
        if first_kind is None:
            first_kind = (parsed[0], line, cell)
        keys.append(parsed[1])
    order = sorted(range(len(rows)), key=lambda i: keys[i])  # stable: equal times keep file order
    late = next((i for i in range(1, len(keys)) if keys[i] < keys[i - 1]), None)
    if late is None:
        return order, True, None
    moved = sum(1 for pos, i in enumerate(order) if pos != i)
    return order, True, (f"{path}: rows are not in time order (line {late + 2}, {rows[late][col].strip()!r}, comes "
                         f"after line {late + 1}, {rows[late - 1][col].strip()!r}); sorted oldest first by column "
                         f"{col!r} ({moved} of {len(rows)} rows moved)")


def _numbers(path: Path, rows: list[dict[str, str]], order: list[int],
             col: str) -> tuple[list[tuple[int, float]], list[tuple[int, str]]]:
    """(line, value) of the numeric cells of ``col`` in run order, and (line, cell) of the others;
    empty cells are missing runs and are in neither."""
    good, bad = [], []
    for i in order:
        cell = (rows[i].get(col) or "").strip()
        if not cell:
            continue
        try:
            good.append((i + 2, float(cell)))
        except ValueError:
            bad.append((i + 2, cell))
    return good, bad


def _strict_values(path: Path, col: str, good: list[tuple[int, float]], bad: list[tuple[int, str]],
                   rows: list[dict[str, str]]) -> None:
    if bad:
        line, cell = min(bad)
        raise ConfigError(f"{path}: line {line}, column {col!r}: {cell!r} is not a number (leave the cell empty "
                          "for a run without this metric)")
    for line, value in good:
        if not math.isfinite(value) or value <= 0:
            cell = rows[line - 2][col].strip()
            raise ConfigError(f"{path}: line {line}, column {col!r}: {cell!r} must be a positive number (the "
                              "detector compares ratios)")
    if not good:
        raise ConfigError(f"{path}: column {col!r} has no values")


def _why_skip(col: str, good: list[tuple[int, float]], bad: list[tuple[int, str]],
              rows: list[dict[str, str]]) -> str | None:
    """Why a column (not named by --metric) is left out, or None: analyse it."""
    if not good and not bad:
        return "empty"
    if not good:
        line, cell = bad[0]
        return f"not numeric ({cell!r} at line {line})"
    if id_like_name(col):
        return "an id or build number by its name, not a measurement"
    values = [v for _, v in good]
    if (len(values) >= 3 and infer_direction(col).clue is None and all(v.is_integer() for v in values)
            and all(b > a for a, b in zip(values, values[1:]))):
        return "integers that increase at every run (an id or a counter, not a measurement)"
    low = next(((line, v) for line, v in good if not math.isfinite(v) or v <= 0), None)
    if low is not None:
        return (f"{rows[low[0] - 2][col].strip()!r} at line {low[0]}: the detector needs positive numbers "
                "(it compares ratios)")
    return None


def _pick(path: Path, columns: list[str], mapped: str | None, role: str, names: tuple[str, ...]) -> str | None:
    if mapped is not None:
        if mapped not in columns:
            raise ConfigError(f"{path}: --columns {role}={mapped}: no column {mapped!r}; its columns are {columns}")
        return mapped
    return next((c for c in columns if c and c.strip().lower() in names), None)


def load_history_csv(path: str | Path, *, metric: str | None = None,
                     columns: Mapping[str, str] | None = None) -> CsvHistories:
    """Read a history CSV: a time column (``timestamp``/``time``/``date``/``datetime``, else
    ``run_id``/``run``; or ``columns["timestamp"]``), optionally a commit column
    (``commit``/``git_sha``/``sha``; or ``columns["commit"]``), and metric columns.

    Times must be ISO 8601 or numbers, all of one form, else a ConfigError names the line
    (``run``/``run_id`` labels that are neither keep the file's order). Rows out of time order
    are sorted, with a warning. ``metric`` names the one column to analyse (it must be one);
    else every column is, except those that are empty, not numeric, id-like (by name, or
    integers increasing at every run under a name that says nothing of a measurement) or not
    positive, each skipped with the reason. A column that is analysed must hold positive
    numbers; empty cells are runs without it. One metric column alone counts as named."""
    path = Path(path)
    columns = dict(columns or {})
    unknown = sorted(set(columns) - set(ROLES))
    if unknown:
        raise ConfigError(f"--columns {unknown[0]}=...: unknown role {unknown[0]!r}; roles are {list(ROLES)}")
    try:
        with path.open(newline="", encoding="utf-8-sig") as fh:  # -sig: a spreadsheet's byte-order mark
            reader = csv.DictReader(fh)
            rows = list(reader)
            header = list(reader.fieldnames or [])
    except FileNotFoundError:
        raise ConfigError(f"{path}: history file not found") from None
    except (OSError, UnicodeDecodeError, csv.Error) as exc:
        raise ConfigError(f"{path}: cannot read the history file: {exc}") from None
    if not rows:
        raise ConfigError(f"{path}: no rows")
    twice = next((c for i, c in enumerate(header) if c in header[:i]), None)
    if twice is not None:
        raise ConfigError(f"{path}: column {twice!r} appears twice in the header {header}")
    ragged = next((i for i, row in enumerate(rows, start=2) if None in row), None)  # cells beyond the header
    if ragged is not None:
        raise ConfigError(f"{path}: line {ragged} has more cells than the header ({len(header)} columns)")
    time_col = _pick(path, header, columns.get("timestamp"), "timestamp", _TIME_COLUMNS)
    strict = time_col is not None
    if time_col is None:
        time_col = _pick(path, header, None, "timestamp", _LABEL_COLUMNS)
    if time_col is None:
        raise ConfigError(f"{path}: needs a timestamp column (one of {_TIME_COLUMNS + _LABEL_COLUMNS}, or say which "
                          f"with --columns timestamp=NAME); its columns are {header}")
    commit_col = _pick(path, header, columns.get("commit"), "commit", _COMMIT_COLUMNS)
    if commit_col == time_col:
        raise ConfigError(f"{path}: column {time_col!r} cannot be both the timestamp and the commit")
    source = f" (--columns timestamp={time_col})" if "timestamp" in columns else ""
    order, by_time, warning = _order(path, rows, time_col, strict=strict, source=source)
    candidates = [c for c in header if c not in (time_col, commit_col)]
    if metric is not None and metric not in candidates:
        role = {time_col: " (the timestamp column)", commit_col: " (the commit column)"}.get(metric, "")
        raise ConfigError(f"{path}: --metric {metric!r}{role} is not a metric column of this file; its metric "
                          f"columns are {candidates}")
    if not candidates:
        raise ConfigError(f"{path}: no metric column besides {time_col!r}"
                          + (f" and {commit_col!r}" if commit_col else ""))
    named = [metric] if metric is not None else candidates if len(candidates) == 1 else None
    histories, skipped = [], []
    for col in named or candidates:
        good, bad = _numbers(path, rows, order, col)
        if named:
            _strict_values(path, col, good, bad, rows)
        else:
            if not col.strip():
                skipped.append(SkippedColumn(col, "has no name in the header"))
                continue
            if bad and good:  # numbers with a stray value: a mistake in the data, not a text column
                _strict_values(path, col, good, bad, rows)
            why = _why_skip(col, good, bad, rows)
            if why is not None:
                skipped.append(SkippedColumn(col, why))
                continue
        lines = [line for line, _ in good]
        histories.append(History(col, tuple(rows[line - 2][time_col].strip() for line in lines),
                                 tuple(v for _, v in good),
                                 tuple(((rows[line - 2].get(commit_col) or "").strip() or None) if commit_col else None
                                       for line in lines)))
    if not histories:
        raise ConfigError(f"{path}: no metric column to analyse: " + "; ".join(
            f"{s.column!r}: {s.reason}" for s in skipped) + " (name one with --metric to analyse it anyway)")
    return CsvHistories(str(path), tuple(header), time_col, commit_col, len(rows), by_time, tuple(histories),
                        tuple(skipped), (warning,) if warning else ())


def read_history_csv(path: str | Path, *, metric: str | None = None,
                     columns: Mapping[str, str] | None = None) -> list[History]:
    """The histories of :func:`load_history_csv` (without its notes)."""
    return list(load_history_csv(path, metric=metric, columns=columns).histories)


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
