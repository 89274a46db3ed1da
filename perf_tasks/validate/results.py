"""Validate a run's own results with Great Expectations before anything is judged on them.

:func:`results_frame` flattens a :class:`~perf_tasks.results.RunResults` into one row per metric
(plus the owning benchmark's sample count); :func:`validate_results_frame` derives a few helper
columns from the names and runs one GX suite over the frame; :func:`validate_results` does both.

What the suite expects:

- the columns ``name``, ``value``, ``unit``, ``direction`` exist;
- names are ``<suite>.<benchmark>.<metric>`` or ``host.<metric>`` (lower-case snake parts),
  unique, and the metric ends in a unit suffix, optionally followed by one aggregate
  (``_mean``, ``_max``, ...: the runner writes ``process_cpu_pct_mean``);
- units are known and match the suffix (``_ms`` -> ``ms``, ``_pct`` -> ``%``, ``_bytes`` ->
  ``bytes``, ``_per_s`` -> ``1/s``, ``_s`` -> ``s``);
- values are finite numbers, and non-negative for every known unit (latencies, throughputs,
  rates, sizes and percentages cannot be negative);
- directions are ``lower`` or ``higher``;
- per benchmark, ``latency_p50_ms <= latency_p95_ms <= latency_p99_ms <= latency_max_ms``;
- a benchmark's sample count, where given, is >= 1.

Great Expectations is imported inside functions (about 2.5 s); the context, suite and validation
definition are built once per process. Validating a passing run of ~30 benchmarks (~300 metrics)
takes about 75 ms on a 2-core machine; a failing one about twice that (a second GX run lists the
offending rows).
"""
from __future__ import annotations

import functools
import math
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from perf_tasks.results import RunResults

REQUIRED_COLUMNS: tuple[str, ...] = ("name", "value", "unit", "direction")
#: Name suffix -> unit; the longest suffix is tried first (``_per_s`` before ``_s``).
UNIT_SUFFIXES: tuple[tuple[str, str], ...] = (("_per_s", "1/s"), ("_bytes", "bytes"), ("_pct", "%"),
                                              ("_ms", "ms"), ("_s", "s"))
KNOWN_UNITS: tuple[str, ...] = tuple(unit for _, unit in UNIT_SUFFIXES)
#: What may follow the unit suffix in a metric name (``process_cpu_pct_mean``).
AGGREGATES: tuple[str, ...] = ("mean", "median", "min", "max", "sum", "total", "stdev")
DIRECTIONS: tuple[str, ...] = ("lower", "higher")
_PART = r"[a-z][a-z0-9_]*"
NAME_PATTERN = rf"^(?:host\.{_PART}|{_PART}\.{_PART}\.{_PART})$"
#: Latency percentiles that must not decrease, in order (metric names within a benchmark).
LATENCY_ORDER: tuple[str, ...] = ("latency_p50_ms", "latency_p95_ms", "latency_p99_ms", "latency_max_ms")
_FLOAT_MAX = float(np.finfo(np.float64).max)


@dataclass(frozen=True)
class ResultsValidation:
    """The verdict on one results document; each failure names the metric, the expectation
    broken and the offending value."""

    passed: bool
    failures: tuple[str, ...]
    checked: int  # metric rows validated


@dataclass(frozen=True)
class _Check:
    """One expectation of the suite, declared as data: ``expectation`` names a class in
    ``great_expectations.expectations``, built with ``kwargs`` (and ``when``, a row condition
    ``(column, "==" or "in", value)``)."""

    key: str  # tags the expectation (meta) to map results back
    describe: str  # what was expected, for the failure message
    expectation: str
    kwargs: dict[str, Any]
    shown: tuple[str, ...] = ()  # columns shown with their values in the failure message
    needs: tuple[str, ...] = ()  # required input columns; when one is missing only that is reported
    when: tuple[str, str, Any] | None = None


def _column_checks() -> list[_Check]:
    return [_Check(f"has_{c}", f"required column {c!r} is missing", "ExpectColumnToExist", {"column": c})
            for c in REQUIRED_COLUMNS]


def _ordering_checks() -> list[_Check]:
    return [_Check(f"{upper}_ge_{lower}", f"{upper} must be >= the benchmark's {lower}",
                   "ExpectColumnPairValuesAToBeGreaterThanB",
                   {"column_A": "value", "column_B": f"bench_{lower}", "or_equal": True,
                    "ignore_row_if": "either_value_is_missing"},
                   shown=("value", f"bench_{lower}"), needs=("name", "value"), when=("metric", "==", upper))
            for lower, upper in zip(LATENCY_ORDER, LATENCY_ORDER[1:])]


_SUFFIXES = [s for s, _ in UNIT_SUFFIXES]
_CHECKS: tuple[_Check, ...] = (
    *_column_checks(),
    _Check("name_present", "name must be present", "ExpectColumnValuesToNotBeNull", {"column": "name"},
           ("name",), ("name",)),
    _Check("name_form", "name must look like <suite>.<benchmark>.<metric> or host.<metric>",
           "ExpectColumnValuesToMatchRegex", {"column": "name", "regex": NAME_PATTERN}, ("name",), ("name",)),
    _Check("name_unique", "name must be unique in the run", "ExpectColumnValuesToBeUnique", {"column": "name"},
           ("name",), ("name",)),
    _Check("name_has_unit_suffix", f"name must end in a unit suffix {_SUFFIXES} (or one followed by an aggregate "
           "such as _mean)", "ExpectColumnValuesToNotBeNull", {"column": "expected_unit"}, ("name",), ("name",)),
    _Check("unit_known", f"unit must be one of {list(KNOWN_UNITS)}", "ExpectColumnValuesToBeInSet",
           {"column": "unit", "value_set": list(KNOWN_UNITS)}, ("unit",), ("unit",)),
    _Check("unit_matches_name", "unit must match the name's suffix", "ExpectColumnPairValuesToBeEqual",
           {"column_A": "unit", "column_B": "expected_unit", "ignore_row_if": "either_value_is_missing"},
           ("unit", "expected_unit"), ("name", "unit")),
    _Check("value_present", "value must be a number", "ExpectColumnValuesToNotBeNull", {"column": "value"},
           ("value",), ("value",)),
    _Check("value_finite", "value must be finite", "ExpectColumnValuesToBeBetween",
           {"column": "value", "min_value": -_FLOAT_MAX, "max_value": _FLOAT_MAX}, ("value",), ("value",)),
    _Check("value_non_negative", "value must be >= 0 (a latency, throughput, rate, size or share)",
           "ExpectColumnValuesToBeBetween", {"column": "value", "min_value": 0}, ("value", "unit"),
           ("value", "unit"), when=("unit", "in", KNOWN_UNITS)),
    _Check("direction_known", f"direction must be one of {list(DIRECTIONS)}", "ExpectColumnValuesToBeInSet",
           {"column": "direction", "value_set": list(DIRECTIONS)}, ("direction",), ("direction",)),
    *_ordering_checks(),
    _Check("samples_positive", "the benchmark's sample count must be >= 1", "ExpectColumnValuesToBeBetween",
           {"column": "samples", "min_value": 1}, ("samples",)),
)
_BY_KEY = {c.key: c for c in _CHECKS}


def results_frame(results: RunResults) -> pd.DataFrame:
    """One row per metric (host metrics first): ``name``, ``value``, ``unit``, ``direction``,
    ``samples`` (the benchmark's latency sample count; NaN for host metrics and failed benchmarks)."""
    rows: list[dict[str, Any]] = [
        {"name": m.name, "value": m.value, "unit": m.unit, "direction": m.direction, "samples": math.nan}
        for m in results.host_metrics]
    for suite in results.suites:
        for bench in suite.benchmarks:
            samples = float(bench.latency_s.n) if bench.latency_s is not None else math.nan
            rows.extend({"name": m.name, "value": m.value, "unit": m.unit, "direction": m.direction,
                         "samples": samples} for m in bench.metrics)
    return pd.DataFrame(rows, columns=[*REQUIRED_COLUMNS, "samples"])


def _unit_for(metric: Any) -> str | None:
    """The unit a metric name promises: its suffix's, or the one before a trailing aggregate."""
    if not isinstance(metric, str):
        return None
    for m in (metric, *(metric.removesuffix(f"_{a}") for a in AGGREGATES if metric.endswith(f"_{a}"))):
        unit = next((u for suffix, u in UNIT_SUFFIXES if m.endswith(suffix)), None)
        if unit is not None:
            return unit
    return None


def _with_derived_columns(df: pd.DataFrame) -> pd.DataFrame:
    """The columns the suite checks: ``value`` as a number (non-numbers become NaN), ``metric``
    (last part of the name), ``expected_unit`` and the benchmark's latency percentiles."""
    out = df.reset_index(drop=True).copy()
    names = out["name"] if "name" in out else pd.Series([None] * len(out), dtype="object")
    parts = names.map(lambda n: n.rsplit(".", 1) if isinstance(n, str) and "." in n else [None, None])
    out["bench_key"] = parts.map(lambda p: p[0])
    out["metric"] = parts.map(lambda p: p[1]).astype("object")
    out["expected_unit"] = out["metric"].map(_unit_for).astype("object")
    if "value" in out:
        out["value"] = pd.to_numeric(out["value"], errors="coerce").astype("float64")
    if "samples" not in out:
        out["samples"] = np.nan
    out["samples"] = pd.to_numeric(out["samples"], errors="coerce").astype("float64")
    values = out["value"] if "value" in out else pd.Series(np.nan, index=out.index)
    for metric in LATENCY_ORDER[:-1]:
        rows = out["metric"] == metric
        by_bench = dict(zip(out.loc[rows, "bench_key"], values[rows]))
        out[f"bench_{metric}"] = out["bench_key"].map(by_bench).astype("float64")
    return out


@functools.lru_cache(maxsize=1)
def _validation_definition() -> Any:
    """Ephemeral context (progress bars off), pandas asset, whole-frame batch, the suite."""
    import great_expectations as gx
    import great_expectations.expectations as gxe
    from great_expectations.data_context.types.base import ProgressBarsConfig
    from great_expectations.expectations.row_conditions import Column

    ctx = gx.get_context(mode="ephemeral")
    ctx.variables.progress_bars = ProgressBarsConfig(globally=False)
    batch_def = (ctx.data_sources.add_pandas("perf_results").add_dataframe_asset("metrics")
                 .add_batch_definition_whole_dataframe("whole_run"))
    expectations = []
    for check in _CHECKS:
        kwargs = dict(check.kwargs)
        if check.when is not None:
            column, op, value = check.when
            kwargs["row_condition"] = Column(column) == value if op == "==" else Column(column).is_in(value)
        expectations.append(getattr(gxe, check.expectation)(**kwargs, meta={"check": check.key}))
    suite = ctx.suites.add(gx.ExpectationSuite(name="perf_results", expectations=expectations))
    return ctx.validation_definitions.add(gx.ValidationDefinition(name="perf_results", data=batch_def, suite=suite))


def _show(v: Any) -> str:
    if isinstance(v, (float, np.floating, np.integer)):
        return f"{float(v):g}"  # nan, inf, 1e-09, 7
    return repr(v)


def _failure(check: _Check, original: pd.DataFrame, derived: pd.DataFrame, row: int) -> str:
    name = original.at[row, "name"] if "name" in original else None
    where = name if isinstance(name, str) and name else f"row {row}"
    shown = []
    for col in check.shown:
        frame = original if col in original else derived
        if col in frame:
            shown.append(f"{col.removeprefix('bench_')}={_show(frame.at[row, col])}")
    return f"{where}: {check.describe} (got {', '.join(shown)})"


def validate_results_frame(df: pd.DataFrame) -> ResultsValidation:
    """Run the suite over a metrics frame shaped like :func:`results_frame`'s (``samples``
    optional); failures are sorted and name the metric (or row), the expectation and the value."""
    original = df.reset_index(drop=True)
    derived = _with_derived_columns(original)
    missing = {c for c in REQUIRED_COLUMNS if c not in original}
    columns = sorted(map(str, original.columns))
    vd = _validation_definition()
    # A pass/fail-only run costs about half of one that lists the offending rows: list them
    # only when something failed (the rare case).
    result = vd.run(batch_parameters={"dataframe": derived}, result_format={"result_format": "BOOLEAN_ONLY"})
    if not result.success:
        result = vd.run(batch_parameters={"dataframe": derived}, result_format={"result_format": "COMPLETE"})
    failures: list[str] = []
    for res in result.results:
        check = _BY_KEY[res.expectation_config.meta["check"]]
        if missing & set(check.needs):  # reported once, by the column's own check
            continue
        info = res.exception_info or {}
        if info.get("raised_exception"):
            failures.append(f"table: {check.describe}: could not be evaluated: {info.get('exception_message')}")
        elif not res.success:
            rows = res.result.get("unexpected_index_list")
            if rows is None:  # a table-level expectation (a required column)
                failures.append(f"table: {check.describe} (got columns {columns})")
            else:
                failures.extend(_failure(check, original, derived, int(i)) for i in rows)
    return ResultsValidation(passed=not failures, failures=tuple(sorted(failures)), checked=len(original))


def validate_results(results: RunResults) -> ResultsValidation:
    """Validate every metric of a run (see the module docstring for what is expected)."""
    return validate_results_frame(results_frame(results))
