"""The OHLCV bar rules, declared once: they build both the Great Expectations suite
(:mod:`trading_agent.data_pipeline.gx_suite`) and the per-record fast path here, so the two
cannot drift apart.

Shared semantics (both paths implement exactly these):

- ``not_null``: the value is present (not ``None``, not NaN/NaT).
- ``a_ge_b``: ``column >= other``; a row with either value missing is left to ``not_null``.
- ``min``: ``column >= bound`` (``> bound`` when ``strict``); a missing value is left to
  ``not_null``.
- ``increasing_per_key``: ``column`` is strictly greater than every earlier value of ``column``
  for the same ``key`` (the running maximum, carried across records and micro-batches), so the
  accepted records of a symbol are strictly increasing. Every present value moves the running
  maximum, whether its record is accepted or not. GX checks it on a derived column,
  ``<column>__gap`` = value - earlier running max (missing when there is no earlier value),
  which :func:`add_derived_columns` computes and GX expects to be ``> 0``.
"""
from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
import pandas as pd

RuleKind = Literal["not_null", "a_ge_b", "min", "increasing_per_key"]
_KINDS = ("not_null", "a_ge_b", "min", "increasing_per_key")


@dataclass(frozen=True)
class Rule:
    """One declarative check on a bar; ``name`` identifies it in both paths' reports."""

    name: str
    kind: RuleKind
    column: str
    other: str | None = None  # a_ge_b: the column that must not exceed ``column``
    bound: float | None = None  # min: the smallest allowed value
    strict: bool = False  # min: the bound itself is not allowed
    key: str | None = None  # increasing_per_key: the grouping column (the symbol)

    def __post_init__(self) -> None:
        if self.kind not in _KINDS:
            raise ValueError(f"rule {self.name!r}: unknown kind {self.kind!r}; expected one of {_KINDS}")
        needs = {"a_ge_b": "other", "min": "bound", "increasing_per_key": "key"}.get(self.kind)
        if needs and getattr(self, needs) is None:
            raise ValueError(f"rule {self.name!r}: kind {self.kind!r} needs {needs!r}")

    @property
    def derived_column(self) -> str | None:
        """The helper column GX checks for this rule (``increasing_per_key`` only)."""
        return f"{self.column}__gap" if self.kind == "increasing_per_key" else None


def _not_null(c: str) -> Rule:
    return Rule(f"{c}_not_null", "not_null", c)


#: The OHLCV suite: no nulls, high >= max(open, close), low <= min(open, close), volume >= 0,
#: timestamps strictly increasing per symbol; and low > 0, so every price is positive (log
#: returns need it).
OHLCV_RULES: tuple[Rule, ...] = (
    *(_not_null(c) for c in ("symbol", "timestamp", "open", "high", "low", "close", "volume")),
    Rule("high_ge_open", "a_ge_b", "high", other="open"),
    Rule("high_ge_close", "a_ge_b", "high", other="close"),
    Rule("low_le_open", "a_ge_b", "open", other="low"),
    Rule("low_le_close", "a_ge_b", "close", other="low"),
    Rule("low_positive", "min", "low", bound=0.0, strict=True),
    Rule("volume_non_negative", "min", "volume", bound=0.0),
    Rule("timestamp_increasing", "increasing_per_key", "timestamp", key="symbol"),
)


def _missing(v: Any) -> bool:
    return v is None or (isinstance(v, float) and math.isnan(v))


Check = Callable[[Mapping[str, Any]], bool]  # True = the record passes


def _compile(rule: Rule, state: dict[str, dict[Any, Any]]) -> Check:
    col = rule.column
    if rule.kind == "not_null":
        return lambda r: not _missing(r.get(col))
    if rule.kind == "a_ge_b":
        other = rule.other

        def a_ge_b(r: Mapping[str, Any]) -> bool:
            a, b = r.get(col), r.get(other)
            return _missing(a) or _missing(b) or a >= b
        return a_ge_b
    if rule.kind == "min":
        bound = rule.bound
        if rule.strict:
            def above(r: Mapping[str, Any]) -> bool:
                v = r.get(col)
                return _missing(v) or v > bound
            return above

        def at_least(r: Mapping[str, Any]) -> bool:
            v = r.get(col)
            return _missing(v) or v >= bound
        return at_least
    key = rule.key
    seen = state.setdefault(rule.name, {})

    def increasing(r: Mapping[str, Any]) -> bool:
        v, k = r.get(col), r.get(key)
        if _missing(v) or _missing(k):
            return True
        prev = seen.get(k)
        if prev is None or v > prev:
            seen[k] = v
            return True
        return False
    return increasing


class RecordChecker:
    """The per-record fast path: ``check(record)`` -> names of the rules it breaks (empty = good).

    Stateful for ``increasing_per_key`` rules (the running maximum per key); ``reset()`` forgets
    it. A value of the wrong type (a string price) raises TypeError: the caller counts it as
    malformed.
    """

    def __init__(self, rules: tuple[Rule, ...] = OHLCV_RULES) -> None:
        self.rules = rules
        self._state: dict[str, dict[Any, Any]] = {}
        self._checks = [(r.name, _compile(r, self._state)) for r in rules]

    def check(self, record: Mapping[str, Any]) -> tuple[str, ...]:
        failed = ()
        for name, ok in self._checks:
            if not ok(record):
                failed += (name,)
        return failed

    def reset(self) -> None:
        for seen in self._state.values():
            seen.clear()


def _as_numbers(s: pd.Series) -> tuple[np.ndarray, np.ndarray]:
    """(values, present): datetimes as int64 ns and integers as int64 (exact, as the fast path
    compares Python ints), anything else as float64."""
    present = s.notna().to_numpy()
    if isinstance(s.dtype, pd.DatetimeTZDtype) or pd.api.types.is_datetime64_dtype(s.dtype):
        return s.dt.as_unit("ns").array.asi8, present
    if pd.api.types.is_integer_dtype(s.dtype):
        return s.to_numpy(dtype="int64", na_value=0), present
    values = pd.to_numeric(s, errors="coerce").to_numpy(dtype="float64")
    return values, present & ~np.isnan(values)


def add_derived_columns(df: pd.DataFrame, rules: tuple[Rule, ...] = OHLCV_RULES,
                        state: dict[str, dict[Any, Any]] | None = None) -> pd.DataFrame:
    """``df`` plus the helper columns GX checks (see the module docstring); rows keep their order.

    ``state`` (``{rule name: {key: running max}}``, updated in place) carries the running maximum
    across micro-batches, exactly as :class:`RecordChecker` does across records. The helper
    column is float64 in the unit of ``column`` (ns for timestamps), computed from exact int64
    differences; missing where there is nothing earlier to compare with or the value or key is
    missing.
    """
    out = df.copy(deep=False)
    for rule in rules:
        if rule.kind != "increasing_per_key":
            continue
        seen = state.setdefault(rule.name, {}) if state is not None else {}
        values, present = _as_numbers(df[rule.column])
        present = present & df[rule.key].notna().to_numpy()
        gap = np.full(len(df), np.nan)
        if present.any():
            v = values[present]
            floor = np.iinfo(np.int64).min if v.dtype.kind == "i" else -np.inf  # "nothing earlier"
            codes, uniques = pd.factorize(df[rule.key].to_numpy()[present])
            carried = np.array([seen.get(u, floor) for u in uniques], dtype=v.dtype)[codes]
            running = pd.Series(v).groupby(codes).cummax()
            earlier = running.groupby(codes).shift(fill_value=floor).to_numpy(dtype=v.dtype)
            prev = np.maximum(earlier, carried)
            has_prev = prev != floor
            diff = np.full(len(v), np.nan)
            diff[has_prev] = (v[has_prev] - prev[has_prev]).astype("float64")
            gap[present] = diff
            group_max = pd.Series(v).groupby(codes).max().to_numpy()
            for code, u in enumerate(uniques):
                m = group_max[code].item()
                old = seen.get(u)
                seen[u] = m if old is None or m > old else old
        out[rule.derived_column] = gap
    return out
