"""The load result's checks, its JSON format (version 1 still reads) and the merge's edge cases:
different bucket widths, shards without per-bucket histograms or without their run window."""
from __future__ import annotations

import dataclasses
import json

import pytest

from perf_tasks.load.result import (
    LOAD_SCHEMA_VERSION,
    EndpointResult,
    TimeSeries,
    merge_results,
    result_from_json,
    result_to_json,
    shard_overlap,
)
from perf_tasks.results import to_dict
from tests.perf_tasks.report.sample import load_result


def test_an_endpoint_with_more_errors_than_requests_is_refused_naming_it():
    with pytest.raises(ValueError, match=r"endpoint GET /x: errors=3 must be within \[0, requests=2\]"):
        EndpointResult("GET /x", "GET", 2, 3, None, "")
    with pytest.raises(ValueError, match="errors=-1"):
        EndpointResult("GET /x", "GET", 2, -1, None, "")


def test_a_time_series_needs_equal_columns_and_a_positive_bucket():
    with pytest.raises(ValueError, match="TimeSeries.completed has 1 values, t_s has 2"):
        TimeSeries(1.0, (0.0, 1.0), (1, 1), (1,), (0, 0), (1.0, 1.0), (1.0, 1.0), (1.0, 1.0), ("", ""))
    with pytest.raises(ValueError, match="TimeSeries.bucket_s must be > 0, got 0"):
        TimeSeries(0)


def test_a_load_result_refuses_counts_that_do_not_add_up():
    r = load_result(seconds=4)
    assert r.successes == r.requests - r.errors
    with pytest.raises(ValueError, match="LoadResult counts must be >= 0"):
        dataclasses.replace(r, dropped=-1)
    with pytest.raises(ValueError, match=rf"LoadResult errors={r.requests + 1} > requests={r.requests}"):
        dataclasses.replace(r, errors=r.requests + 1, errors_by_class={"5xx": r.requests + 1})
    with pytest.raises(ValueError, match=r"errors_by_class \{'5xx': 0\} does not add up to errors="):
        dataclasses.replace(r, errors_by_class={"5xx": 0})


def test_json_round_trip_is_exact():
    r = load_result(seconds=4)
    assert result_from_json(result_to_json(r)) == r


def test_json_that_is_not_a_load_result_is_refused_naming_the_source():
    with pytest.raises(ValueError, match="shard-1.json: not valid JSON"):
        result_from_json("{", source="shard-1.json")
    doc = to_dict(load_result(seconds=2))
    for version in (0, 3, None):
        bad = {**doc, "schema_version": version}
        with pytest.raises(ValueError, match=rf"shard-1.json: load result schema_version {version!r} is not "
                                             r"supported \(this code reads \[1, 2\]\)"):
            result_from_json(json.dumps(bad), source="shard-1.json")
    # the value and the choices are named (the field is not: see perf_tasks.results._convert)
    expected = r"shard-1.json: not a valid LoadResult: model: 'half-open' is not one of 'open' or 'closed'"
    with pytest.raises(ValueError, match=expected):
        result_from_json(json.dumps({**doc, "model": "half-open"}), source="shard-1.json")


def test_a_version_1_result_reads_with_its_latency_as_the_all_requests_view():
    r = load_result(seconds=3)
    v1 = to_dict(r)
    v1["schema_version"] = 1
    for key in ("latency_all", "histogram_all"):
        v1.pop(key)
        for e in v1["endpoints"]:
            e.pop(key)
    back = result_from_json(json.dumps(v1), source="old.json")
    assert back.schema_version == LOAD_SCHEMA_VERSION
    assert back.latency_all == r.latency and back.histogram_all == r.histogram
    assert [e.latency_all for e in back.endpoints] == [e.latency for e in r.endpoints]
    assert back.notes[-1] == "read from format 1: latency includes failed requests"


def test_merge_refuses_series_of_different_bucket_widths():
    a = load_result(seconds=3)
    ts = a.timeseries
    b = dataclasses.replace(a, timeseries=dataclasses.replace(ts, bucket_s=0.5))
    with pytest.raises(ValueError, match=r"cannot merge time series with different bucket_s: \[0\.5, 1\.0\]"):
        merge_results([a, b])


def test_a_shard_without_per_bucket_histograms_merges_its_percentiles_as_the_max_and_says_so():
    a = load_result(seconds=4)
    ts = a.timeseries
    slow = dataclasses.replace(ts, histograms=("",) * len(ts.t_s), p95_ms=tuple(v + 1000.0 for v in ts.p95_ms))
    b = dataclasses.replace(a, timeseries=slow, error_samples={"5xx": "502 Bad Gateway", "timeout": "read timeout"})
    merged = merge_results([a, b])
    assert merged.timeseries.p95_ms == slow.p95_ms
    assert merged.timeseries.histograms == ("",) * len(ts.t_s)
    assert merged.timeseries.sent == tuple(2 * s for s in ts.sent)
    assert any("a shard had no per-bucket histograms" in n for n in merged.notes)
    # the first shard's sample of an error class is kept; classes only the second saw are added
    assert merged.error_samples == {"5xx": "500 Internal Server Error", "timeout": "read timeout"}


def test_rates_of_shards_that_did_not_record_their_window_are_not_added():
    a = load_result(seconds=4)
    old = dataclasses.replace(a, start_unix=0.0, end_unix=0.0)
    merged = merge_results([a, old])
    assert "a shard did not record when it ran" in merged.invalid_reason
    assert shard_overlap([(0.0, 0.0), (1.8e9, 1.8e9 + 4)], 4.0) == (
        0.0, "a shard did not record when it ran (older result format): rates cannot be added")
    assert shard_overlap([(1.8e9, 1.8e9 + 4)], 4.0) == (4.0, "")  # one shard: nothing to add
