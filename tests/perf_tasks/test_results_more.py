"""The result model's checks (Stats, Target warning bounds, BenchmarkResult) and its JSON codec:
non-finite values, Literal fields, unknown fields, schema versions and the version-2 migration."""
from __future__ import annotations

import dataclasses
import json
import math

import numpy as np
import pytest

from perf_tasks.results import (
    SCHEMA_VERSION,
    BenchmarkResult,
    HistoryChange,
    Metric,
    Stats,
    Target,
    Verdict,
    from_dict,
    from_json,
    to_dict,
    to_json,
)
from tests.perf_tasks.clustered import bench


def _stats(**kw) -> Stats:
    base = dict(n=3, min=1.0, median=2.0, mean=2.0, p95=2.9, p99=2.99, max=3.0, stdev=1.0, mad=1.0, ci_low=1.0,
                ci_high=3.0, ci_level=0.95)
    return Stats(**{**base, **kw})


def _bench() -> BenchmarkResult:
    return bench(np.array([0.010, 0.011, 0.012, 0.013]), np.array([0, 0, 1, 1]))


def test_stats_refuse_an_empty_sample_and_percentiles_out_of_order():
    with pytest.raises(ValueError, match="Stats.n must be >= 1, got 0"):
        _stats(n=0)
    with pytest.raises(ValueError, match="Stats out of order: min=1.0 median=2.0 p95=3.5 p99=2.99 max=3.0"):
        _stats(p95=3.5)


@pytest.mark.parametrize("kwargs, needle", [
    ({"max": 10.0, "warning": math.nan}, "warning bound must be a finite number >= 0, got nan"),
    ({"max": 10.0, "warning": -1.0}, "warning bound must be a finite number >= 0, got -1.0"),
    ({"max": 10.0, "warning": 5.0, "severity": "warning"}, "warning bound 5.0 needs severity 'critical'"),
    ({"max": 10.0, "warning": 12.0}, r"warning bound 12\.0 must be stricter than the main bound \(<= 10\.0\)"),
    ({"min": 100.0, "warning": 50.0}, r"warning bound 50\.0 must be stricter than the main bound \(>= 100\.0\)"),
])
def test_a_warning_bound_must_be_finite_critical_and_stricter(kwargs, needle):
    with pytest.raises(ValueError, match=needle):
        Target(**kwargs)


def test_a_min_target_judges_margin_and_warning_from_below():
    t = Target(min=100.0, warning=150.0)
    assert t.op == ">=" and t.threshold == 100.0
    assert t.met_by(120.0) and not t.met_by(99.0)
    assert t.margin(200.0) == 2.0 and t.margin(50.0) == 0.5 and t.margin(300.0, bound=150.0) == 2.0
    assert t.warning_met_by(150.0) and not t.warning_met_by(120.0)
    assert Target(max=0.0).margin(0.0) == math.inf  # "none allowed" and none seen


def test_benchmark_result_refuses_batches_below_one_and_process_indexes_that_do_not_line_up():
    b = _bench()
    with pytest.raises(ValueError, match="calls_per_observation must be >= 1, got 0"):
        dataclasses.replace(b, calls_per_observation=0)
    with pytest.raises(ValueError, match="observation_process has 3 entries for 4 observations"):
        dataclasses.replace(b, observation_process=(0, 0, 1))


def _change(**kw) -> HistoryChange:
    base = dict(metric="m", kind="regression", run="r5", commit="c5", detected_at_run="r9", before=1.0, after=2.0,
                change_pct=100.0, pvalue=None, new=True)
    return HistoryChange(**{**base, **kw})


def test_commit_range_is_git_range_syntax_or_the_one_commit_known():
    assert _change(last_good_commit="c4").commit_range == "c4..c5"
    assert _change(last_good_commit="c5").commit_range == "c5"  # same commit: no range
    assert _change().commit_range == "c5"
    assert _change(commit=None, last_good_commit="c4").commit_range is None


def test_non_finite_values_travel_as_strings_and_come_back_as_floats():
    m = Metric("risk.mc.margin", math.inf, "x", "higher", Target(min=1.0))
    doc = to_dict(m)
    assert doc["value"] == "inf" and json.loads(json.dumps(doc))["value"] == "inf"
    back = from_json(Metric, to_json(m))
    assert back == m and back.value == math.inf
    assert math.isnan(from_json(Metric, to_json(dataclasses.replace(m, value=math.nan))).value)


def test_a_literal_field_with_a_value_outside_it_is_refused_naming_the_value_and_the_choices():
    v = Verdict("m", 1.0, "ms", 2.0, "<=", 2.0, True, "critical", "target")
    doc = {**to_dict(v), "status": "maybe"}
    with pytest.raises(ValueError, match=r"doc.json: not a valid Verdict: status: 'maybe' is not one of 'pass', "):
        from_json(Verdict, json.dumps(doc), source="doc.json")


def test_from_dict_refuses_a_non_object_and_unknown_fields():
    with pytest.raises(ValueError, match="expected an object for Metric, got list"):
        from_dict(Metric, [1, 2])  # type: ignore[arg-type]
    doc = {**to_dict(Metric("a", 1.0, "ms", "lower")), "colour": "red", "alpha": 1}
    with pytest.raises(ValueError, match=r"unknown field 'colour' \(a newer format\?\); unknown field 'alpha'"):
        from_dict(Metric, doc)


def test_from_json_names_the_source_of_bad_json_and_of_unsupported_versions():
    with pytest.raises(ValueError, match="results.json: not valid JSON"):
        from_json(Metric, "{", source="results.json")
    for version in (0, SCHEMA_VERSION + 1, "3"):
        doc = {**to_dict(Metric("a", 1.0, "ms", "lower")), "schema_version": version}
        with pytest.raises(ValueError, match=rf"results.json: schema_version {version!r} is not supported "
                                             rf"\(this code reads 1 to {SCHEMA_VERSION}\)"):
            from_json(Metric, json.dumps(doc), source="results.json")
    with pytest.raises(ValueError, match="schema_version None is not supported"):
        from_json(Metric, "[1]", source="results.json")


def test_from_json_migrates_an_older_document_and_fills_new_fields_with_defaults():
    from perf_tasks.results import RunResults, SuiteResult

    b = _bench()
    run = RunResults(dag_id="perf_daily", run_id="old", profile="smoke", started_at="t", fingerprint={},
                     suites=(SuiteResult("risk", "smoke", "a", "b", (b,)),))
    doc = to_dict(run)
    old = doc["suites"][0]["benchmarks"][0]
    for key in ("calls_per_observation", "observation_s", "observation_process", "process_means_s", "timed_s",
                "items", "params_digest"):
        old.pop(key)
    old |= {"loops": 4, "round_call_s": [0.0025, 0.005]}
    doc["schema_version"] = 2
    back = from_json(RunResults, json.dumps(doc), source="v2.json")
    assert back.schema_version == SCHEMA_VERSION
    migrated = back.suites[0].benchmarks[0]
    assert migrated.calls_per_observation == 4 and migrated.observation_s == pytest.approx((0.01, 0.02))
    assert migrated.observation_process == () and migrated.params_digest == ""
