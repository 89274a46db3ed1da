"""``python -m perf_tasks regress``: level changes in a metric history (a CSV file), with the runs and commits to blame.

    python -m perf_tasks regress --history FILE.csv [--metric COLUMN] [--direction [COLUMN=]lower|higher ...]
        [--columns timestamp=finished_at,commit=git_sha] [--method history|whole|online|otava]
        [--fail-on never|regression] [--json]

The CSV: a time column (``timestamp``/``time``/``date``/``datetime``, else ``run_id``/``run``;
or ``--columns timestamp=NAME``), optionally a commit column (``commit``/``git_sha``/``sha``; or
``--columns commit=NAME``), and one column per metric. Times are ISO 8601 or numbers (epoch
seconds, run numbers); a row whose time is neither is refused, naming its line. Rows out of time
order are sorted oldest first, with a warning (``run``/``run_id`` labels that are neither times
nor numbers keep the file's order). Every metric column is analysed unless ``--metric`` names
one; columns that are empty, not numeric, id-like (``*_id``, ``build*``, ``*_number``; or
integers that increase at every run under a name that says nothing of a measurement) or not
positive are skipped with a note.

Which way is better comes from each metric's name (``throughput``, ``_per_s``, ``_rps``,
``ops``, ``hit``: higher; ``latency``, ``_ms``, ``_s``, ``_bytes``, ``memory``, ``cpu``, and any
count of errors, failures or misses, ``errors_per_s`` included: lower); a name that says neither
is taken as lower, and the output says so. ``--direction COLUMN=higher`` (repeatable) sets one
column, ``--direction higher`` every column.

Output: a text summary (per metric: runs, direction and where it came from, each change with its
run, before -> after, % change, regression/improvement and the commit range), or with
``--json`` the JSON document (per metric: runs, method, direction, changes; notes on stderr).

Exit codes: 0 done (and, with ``--fail-on regression``, no regression found); 1 ``--fail-on
regression`` and a regression (a level change the worse way) was found; 2 bad usage or input
(the message names the value and where it came from).
"""
from __future__ import annotations

import argparse
import json
import math
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from perf_tasks.errors import UserError

if TYPE_CHECKING:
    from perf_tasks.regress.history import ChangeReport, CsvHistories, History

_DIRECTIONS = ("lower", "higher")
_ROLES = ("timestamp", "commit")  # perf_tasks.regress.history.ROLES (not imported: it pulls numpy in)


def _direction(text: str) -> tuple[str | None, str]:
    """``higher`` (every column) or ``COLUMN=higher``."""
    column, sep, value = text.rpartition("=")
    value = value.strip().lower()
    if value not in _DIRECTIONS:
        raise argparse.ArgumentTypeError(f"{text!r}: expected lower, higher, or COLUMN=lower|higher")
    if sep and not column.strip():
        raise argparse.ArgumentTypeError(f"{text!r}: no column before '='")
    return (column.strip() if sep else None), value


def _columns(text: str) -> list[tuple[str, str]]:
    """``timestamp=finished_at,commit=git_sha``."""
    out = []
    for part in (p.strip() for p in text.split(",")):
        role, sep, column = part.partition("=")
        role, column = role.strip(), column.strip()
        if not sep or not column:
            raise argparse.ArgumentTypeError(f"{part!r}: expected ROLE=COLUMN, e.g. timestamp=finished_at")
        if role not in _ROLES:
            raise argparse.ArgumentTypeError(f"{part!r}: unknown role {role!r}; roles are {', '.join(_ROLES)}")
        out.append((role, column))
    return out


def add_parser(subparsers: Any) -> argparse.ArgumentParser:
    """Add the ``regress`` command to an argparse subparsers object; returns its parser."""
    p = subparsers.add_parser(
        "regress", help="find level changes in a metric history (CSV): a text summary, or --json",
        description=__doc__.split("\n\n")[0],
        epilog="Rows out of time order are sorted oldest first, with a warning; a time that is not ISO 8601 or a "
               "number is refused. Exit codes: 0 done; 1 --fail-on regression and a regression was found; 2 bad "
               "usage or input.")
    p.add_argument("--history", type=Path, required=True, metavar="FILE.csv",
                   help="CSV: a time column, optionally a commit column, one column per metric")
    p.add_argument("--metric", default=None, metavar="COLUMN",
                   help="analyse this column only (it must be one); default: every numeric metric column")
    p.add_argument("--direction", action="append", type=_direction, default=[], metavar="[COLUMN=]lower|higher",
                   help="which way is better, for one column (COLUMN=higher, repeatable) or all (higher); "
                        "default: from each name (throughput, _per_s, _rps, ops, hit: higher; latency, _ms, _s, "
                        "_bytes, memory, errors: lower; a name that says neither: lower, said in the output)")
    p.add_argument("--columns", action="append", type=_columns, default=[], metavar="ROLE=COLUMN[,...]",
                   help="which CSV columns hold the time and the commit, e.g. timestamp=finished_at,commit=git_sha "
                        "(default: timestamp/time/date/datetime, else run_id/run; commit/git_sha/sha)")
    p.add_argument("--method", choices=["history", "whole", "online", "otava"], default="history",
                   help="history: the whole-history pass replayed one run at a time, each change at the run "
                        "that first found it, as the DAG alerts (default); whole: that pass once, over the "
                        "history as it stands; online: the previous detector (robust band + Mann-Whitney U); "
                        "otava: Apache Otava's E-divisive means (tuned)")
    p.add_argument("--fail-on", choices=["never", "regression"], default="never",
                   help="regression: exit 1 when a regression (a level change the worse way) is found "
                        "(default: never, exit 0)")
    p.add_argument("--json", action="store_true",
                   help="print JSON (per metric: runs, method, direction, changes) instead of the text summary; "
                        "notes and warnings go to stderr")
    return p


@dataclass(frozen=True)
class Resolved:
    """A metric's better direction and where it came from: ``option`` (--direction), ``name``
    (a word of its name: ``clue``), ``assumed`` (its name says neither)."""

    direction: str
    source: str
    clue: str | None = None

    def describe(self, metric: str) -> str:
        better = f"{self.direction} is better"
        if self.source == "option":
            return f"{better} (--direction {self.clue})"
        if self.source == "name":
            return f"{better} (from its name: {self.clue!r})"
        other = "higher" if self.direction == "lower" else "lower"
        return (f"{better} (ASSUMED: its name says neither; --direction {metric}={other} if {other} is better)")


def _column_map(args: argparse.Namespace) -> dict[str, str]:
    mapping: dict[str, str] = {}
    for role, column in (pair for group in args.columns for pair in group):
        if mapping.get(role, column) != column:
            raise UserError(f"--columns {role}: given twice ({mapping[role]!r} and {column!r})")
        mapping[role] = column
    if len(set(mapping.values())) < len(mapping):
        raise UserError(f"--columns {','.join(f'{r}={c}' for r, c in mapping.items())}: one column for two roles")
    return mapping


def resolve_directions(args: argparse.Namespace, table: CsvHistories) -> tuple[dict[str, Resolved], list[str]]:
    """Each analysed metric's direction (option > name > assumed lower) and notes on options that
    name a column not analysed. A column the file does not have is a UserError."""
    from perf_tasks.regress.history import infer_direction

    every: str | None = None
    per_column: dict[str, str] = {}
    for column, value in args.direction:
        if column is None:
            if every not in (None, value):
                raise UserError(f"--direction {every} and --direction {value}: one direction for every column")
            every = value
            continue
        if per_column.get(column, value) != value:
            raise UserError(f"--direction {column}=: given as {per_column[column]} and as {value}")
        per_column[column] = value
    analysed = [h.metric for h in table.histories]
    notes = []
    for column in per_column:
        if column not in table.columns:
            raise UserError(f"--direction {column}={per_column[column]}: {table.path} has no column {column!r}; "
                            f"its metric columns are {analysed + [s.column for s in table.skipped]}")
        if column not in analysed:
            notes.append(f"--direction {column}={per_column[column]}: column {column!r} is not analysed")
    out = {}
    for metric in analysed:
        if metric in per_column:
            out[metric] = Resolved(per_column[metric], "option", f"{metric}={per_column[metric]}")
        elif every is not None:
            out[metric] = Resolved(every, "option", every)
        else:
            guess = infer_direction(metric)
            out[metric] = Resolved(guess.direction, "name" if guess.clue else "assumed", guess.clue)
    return out, notes


def _num(v: float) -> str:
    """Four significant digits, never in e-notation: 1,000 / 829.6 / 0.01234."""
    if not math.isfinite(v) or v == 0:
        return f"{v:g}"
    decimals = max(0, 3 - math.floor(math.log10(abs(v))))
    return f"{v:,.{decimals}f}"


def _at(h: History, c: ChangeReport) -> str:
    return f"run {c.index + 1} of {len(h.values)} ({c.run})"


def change_line(h: History, c: ChangeReport) -> str:
    """One finding in words: what, where, before -> after, the commits to blame."""
    commits = f"; commits {c.commit_range}" if c.commit_range else ""
    found = f"; found at {c.detected_at_run}" if c.detected_at_run != c.run else ""
    if c.kind in ("regression", "improvement"):
        return (f"{c.kind.upper() if c.kind == 'regression' else c.kind} at {_at(h, c)}: {_num(c.before)} -> "
                f"{_num(c.after)} ({c.change_pct:+.1f} %){commits}{found}")
    if c.kind == "transient":
        end = f" .. {c.end_run}" if c.end_run and c.end_run != c.run else ""
        return (f"transient at {_at(h, c)}{end}: {_num(c.before)} -> {_num(c.after)} ({c.change_pct:+.1f} %), "
                f"then back (left out of every level){commits}")
    return (f"noise changed at {_at(h, c)}: spread {c.before:.1f} % -> {c.after:.1f} % ({c.change_pct:+.0f} %)"
            f"{commits}{found}")


def _notes(table: CsvHistories, notes: list[str]) -> list[str]:
    return ([f"warning: {w}" for w in table.warnings] + [f"note: column {s.column!r} skipped: {s.reason}"
                                                          for s in table.skipped] + [f"note: {n}" for n in notes])


def text_summary(table: CsvHistories, method: str, found: dict[str, list[ChangeReport]],
                 directions: dict[str, Resolved], notes: list[str], fail_on: str) -> str:
    """The readable summary: the file, notes and warnings, then each metric and its changes."""
    order = (f"oldest first by {table.time_column!r}" if table.ordered_by_time
             else f"in file order ({table.time_column!r} holds labels, not times)")
    commit = f", commits from {table.commit_column!r}" if table.commit_column else ", no commit column"
    lines = [f"{table.path}: {table.rows} rows, {order}{commit}; method {method}"]
    lines += _notes(table, notes)
    regressions = []
    for h in table.histories:
        changes = found[h.metric]
        lines.append("")
        span = f", {h.labels[0]} .. {h.labels[-1]}" if h.labels else ""
        lines.append(f"{h.metric}: {len(h.values)} runs{span}; {directions[h.metric].describe(h.metric)}")
        lines += [f"  {change_line(h, c)}" for c in changes] or ["  no change found"]
        regressions += [f"{h.metric} at {c.run}" for c in changes if c.kind == "regression"]
    lines.append("")
    if regressions:
        verdict = "exit 1 (--fail-on regression)" if fail_on == "regression" else \
            "exit 0 (--fail-on never; --fail-on regression exits 1)"
        lines.append(f"{len(regressions)} regression{'s' if len(regressions) > 1 else ''}: "
                     f"{', '.join(regressions)}; {verdict}")
    else:
        lines.append("no regression")
    return "\n".join(lines)


def json_document(table: CsvHistories, method: str, found: dict[str, list[ChangeReport]],
                  directions: dict[str, Resolved]) -> dict[str, Any]:
    """``{metric: {runs, method, direction, direction_from, direction_reason, changes}}``."""
    from perf_tasks.results import to_dict

    return {h.metric: {"runs": len(h.values), "method": method, "direction": directions[h.metric].direction,
                       "direction_from": directions[h.metric].source,
                       "direction_reason": directions[h.metric].describe(h.metric),
                       "changes": [{**to_dict(c), "commit_range": c.commit_range} for c in found[h.metric]]}
            for h in table.histories}


def run(args: argparse.Namespace) -> int:
    """Run the ``regress`` command; returns the exit code (UserError: main() exits 2)."""
    from perf_tasks import pipeline
    from perf_tasks.config import HistoryConfig
    from perf_tasks.regress.history import detect_changes, load_history_csv

    table = load_history_csv(args.history, metric=args.metric, columns=_column_map(args))
    directions, notes = resolve_directions(args, table)
    level, online = pipeline.history_detector(HistoryConfig())  # the DAG's defaults (alerts.yaml regression.history)
    found = {h.metric: detect_changes(h, direction=directions[h.metric].direction,  # type: ignore[arg-type]
                                      method=args.method, level=level, online=online)
             for h in table.histories}
    if args.json:
        for line in _notes(table, notes):
            print(line, file=sys.stderr)
        print(json.dumps(json_document(table, args.method, found, directions), indent=2))
    else:
        print(text_summary(table, args.method, found, directions, notes, args.fail_on))
    regressed = any(c.kind == "regression" for changes in found.values() for c in changes)
    return 1 if args.fail_on == "regression" and regressed else 0


def main(argv: list[str] | None = None) -> int:
    """Standalone: ``python -m perf_tasks.regress.cli --history FILE.csv ...``."""
    parser = argparse.ArgumentParser(prog="python -m perf_tasks")
    add_parser(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(["regress", *(sys.argv[1:] if argv is None else argv)])
    try:
        return run(args)
    except UserError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    raise SystemExit(main())
