"""The OHLCV rules as a Great Expectations 1.x suite, and a micro-batch validator on top of it.

Great Expectations is imported inside functions only (about 2.5 s to import), and the context,
suite and validation definition are built once per process and rule set. A GX run costs about
70 ms whatever the batch size, so GX validates micro-batches; the per-record fast path is
:class:`trading_agent.data_pipeline.rules.RecordChecker`, built from the same rules.
"""
from __future__ import annotations

import functools
import itertools
from dataclasses import dataclass
from typing import Any

import pandas as pd

from trading_agent.data_pipeline.rules import OHLCV_RULES, Rule, add_derived_columns

_ids = itertools.count()


def build_expectations(rules: tuple[Rule, ...] = OHLCV_RULES) -> list[Any]:
    """One GX expectation per rule (semantics in :mod:`trading_agent.data_pipeline.rules`),
    tagged ``meta={"rule": name}`` so results map back to rule names."""
    import great_expectations.expectations as gxe

    out: list[Any] = []
    for r in rules:
        meta = {"rule": r.name}
        if r.kind == "not_null":
            out.append(gxe.ExpectColumnValuesToNotBeNull(column=r.column, meta=meta))
        elif r.kind == "a_ge_b":
            out.append(gxe.ExpectColumnPairValuesAToBeGreaterThanB(
                column_A=r.column, column_B=r.other, or_equal=True,
                ignore_row_if="either_value_is_missing", meta=meta))
        elif r.kind == "min":
            out.append(gxe.ExpectColumnValuesToBeBetween(column=r.column, min_value=r.bound,
                                                         strict_min=r.strict, meta=meta))
        else:  # increasing_per_key, on the derived gap column: strictly positive
            out.append(gxe.ExpectColumnValuesToBeBetween(column=r.derived_column, min_value=0,
                                                         strict_min=True, meta=meta))
    return out


@functools.lru_cache(maxsize=8)
def _validation_definition(rules: tuple[Rule, ...]) -> Any:
    """An ephemeral context with progress bars off, a pandas dataframe asset, a whole-dataframe
    batch definition, the suite and its validation definition; built once per rule set."""
    import great_expectations as gx
    from great_expectations.data_context.types.base import ProgressBarsConfig

    n = next(_ids)
    ctx = gx.get_context(mode="ephemeral")
    ctx.variables.progress_bars = ProgressBarsConfig(globally=False)
    batch_def = (ctx.data_sources.add_pandas(f"bars_{n}").add_dataframe_asset(f"bars_{n}")
                 .add_batch_definition_whole_dataframe(f"bars_{n}"))
    suite = ctx.suites.add(gx.ExpectationSuite(name=f"ohlcv_bars_{n}", expectations=build_expectations(rules)))
    return ctx.validation_definitions.add(gx.ValidationDefinition(name=f"ohlcv_bars_{n}", data=batch_def,
                                                                  suite=suite))


@dataclass(frozen=True)
class BatchReport:
    """The outcome of validating one micro-batch; row numbers are positions in the batch."""

    rows: int
    failed: dict[str, tuple[int, ...]]  # rule name -> rows breaking it (rules that passed absent)
    errors: dict[str, str]  # rule name -> GX exception message (the rule could not be evaluated)

    @property
    def bad_rows(self) -> tuple[int, ...]:
        return tuple(sorted({i for rows in self.failed.values() for i in rows}))

    @property
    def passed(self) -> bool:
        return not self.failed and not self.errors


class GXBatchValidator:
    """Validates micro-batches of bars with the GX suite built from ``rules``.

    Carries the per-symbol running maximum timestamp across batches (as the fast path carries it
    across records); ``reset()`` forgets it. Building the first validator in a process imports GX
    and builds the context (seconds); later ones reuse it.
    """

    def __init__(self, rules: tuple[Rule, ...] = OHLCV_RULES) -> None:
        self.rules = rules
        self._vd = _validation_definition(rules)
        self._state: dict[str, dict[Any, Any]] = {}

    def validate(self, bars: pd.DataFrame) -> BatchReport:
        """Run the suite over ``bars`` (canonical columns; missing values allowed)."""
        frame = add_derived_columns(bars.reset_index(drop=True), self.rules, self._state)
        result = self._vd.run(batch_parameters={"dataframe": frame},
                              result_format={"result_format": "COMPLETE"})
        failed: dict[str, tuple[int, ...]] = {}
        errors: dict[str, str] = {}
        for res in result.results:
            rule = (res.expectation_config.meta or {}).get("rule", res.expectation_config.type)
            info = res.exception_info or {}
            if info.get("raised_exception"):
                errors[rule] = str(info.get("exception_message"))
            elif not res.success:
                failed[rule] = tuple(int(i) for i in res.result.get("unexpected_index_list") or ())
        return BatchReport(rows=len(frame), failed=failed, errors=errors)

    def reset(self) -> None:
        self._state.clear()
