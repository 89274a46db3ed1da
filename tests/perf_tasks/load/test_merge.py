from __future__ import annotations

import asyncio
import dataclasses
import time

import numpy as np
import pytest

from perf_tasks.load.engine import Engine
from perf_tasks.load.histo import SERIES_SIGNIFICANT_FIGURES, LatencyHistogram
from perf_tasks.load.journey import JourneySpec, StepSpec
from devtools.loopback import LoopbackServer
from perf_tasks.load.plan import LoadPlan, split_plan
from perf_tasks.load.result import EndpointResult, LoadResult, TimeSeries, merge_results
from perf_tasks.load.runner import run_plan, run_sharded


@pytest.fixture(scope="module")
def server():
    s = LoopbackServer().start()
    yield s
    s.stop()


def _plan(url: str) -> LoadPlan:
    journey = JourneySpec(steps=[StepSpec(name="a", path="/sleep/20"), StepSpec(name="b", path="/sleep/20")])
    return LoadPlan(scenario="fixed", target_url=url, journey_name="j", journey=journey, duration_s=1.5, users=40,
                    rate_per_s=120.0, arrival="poisson", seed=11, sample_interval_s=0.5)


def _agree(merged: LoadResult, single: LoadResult) -> None:
    assert merged.intended_requests == single.intended_requests == len(_plan("http://127.0.0.1:1").schedule())
    assert merged.requests == single.requests and merged.errors == single.errors == 0
    assert [e.requests for e in merged.endpoints] == [e.requests for e in single.endpoints]
    assert merged.timeseries.sent == single.timeseries.sent  # the same arrivals, second by second
    assert merged.intended_rate_per_s == pytest.approx(single.intended_rate_per_s)
    assert merged.latency.count == single.latency.count
    for f in ("p50_ms", "p90_ms"):  # a 20 ms server: the runs differ only by timing noise
        assert getattr(merged.latency, f) == pytest.approx(getattr(single.latency, f), rel=0.15, abs=3.0)


def test_k_shards_in_one_loop_agree_with_one_process(server):
    plan = _plan(server.url)
    single = run_plan(plan)

    async def both() -> list[LoadResult]:
        return list(await asyncio.gather(*(Engine(p).run() for p in split_plan(plan, 2))))

    shards = asyncio.run(both())
    assert sum(s.intended_requests for s in shards) == single.intended_requests
    merged = merge_results(shards)
    _agree(merged, single)
    assert merged.shards == 2 and merged.users == 40 and any("merged from 2 shards" in n for n in merged.notes)


def test_shards_run_in_their_own_processes_and_merge(server):
    merged = run_sharded(_plan(server.url), 2)
    _agree(merged, run_plan(_plan(server.url)))
    assert merged.engine_resources.samples >= 2  # both processes sampled themselves


def _synthetic(values_ms: list[float], scenario: str = "s", errors: int = 0, start_unix: float = 1.8e9) -> LoadResult:
    h = LatencyHistogram()
    h.record_many((np.array(values_ms) * 1000).astype(np.int64))
    b = LatencyHistogram(SERIES_SIGNIFICANT_FIGURES)
    b.record_many((np.array(values_ms) * 1000).astype(np.int64))
    p = b.values_at_percentiles((50, 95, 99))
    n = len(values_ms)
    series = TimeSeries(1.0, (0.0,), (n,), (n,), (errors,), (p[0] / 1e3,), (p[1] / 1e3,), (p[2] / 1e3,),
                        (b.encode(),))
    return LoadResult(
        scenario=scenario, model="open", source="perf_tasks.load", target="http://127.0.0.1:1",
        started_at="2026-01-01T00:00:00.000Z", duration_s=1.0, elapsed_s=1.0, users=10, intended_requests=n,
        intended_rate_per_s=float(n), achieved_rate_per_s=float(n), throughput_per_s=float(n - errors), requests=n,
        errors=errors, error_rate_pct=100.0 * errors / n, errors_by_class={"5xx": errors} if errors else {},
        errors_by_code={"500": errors} if errors else {}, error_samples={}, late_sends=0, late_threshold_ms=10.0,
        lateness=None, lateness_histogram="", dropped=0, out_of_range=0, latency=h.summary(), histogram=h.encode(),
        endpoints=(EndpointResult("a", "GET", n, errors, h.summary(), h.encode()),), timeseries=series,
        start_unix=start_unix, end_unix=start_unix + 1.0)


def test_merge_is_exact_for_histograms_counts_and_series():
    rng = np.random.default_rng(5)
    parts = [rng.lognormal(2.0, 1.0, 2000).tolist() for _ in range(3)]
    merged = merge_results([_synthetic(p, errors=i) for i, p in enumerate(parts)])
    whole = _synthetic([v for p in parts for v in p], errors=3)
    assert merged.latency == whole.latency and merged.endpoints[0].latency == whole.latency
    assert merged.requests == 6000 and merged.errors == 3 and merged.errors_by_class == {"5xx": 3}
    assert merged.errors_by_code == {"500": 3} and merged.error_rate_pct == pytest.approx(0.05)
    assert merged.timeseries.sent == (6000,) and merged.timeseries.p99_ms == whole.timeseries.p99_ms
    assert merged.intended_rate_per_s == 6000.0
    exact = np.sort([v for p in parts for v in p])
    assert merged.latency.p99_ms == pytest.approx(exact[int(0.99 * 6000 + 0.5) - 1], rel=0.001)


def test_merge_refuses_what_cannot_be_merged_naming_the_values():
    a = _synthetic([1.0, 2.0])
    with pytest.raises(ValueError, match=r"different scenario: \['other', 's'\]"):
        merge_results([a, _synthetic([1.0], scenario="other")])
    locust_like = dataclasses.replace(a, histogram="")
    with pytest.raises(ValueError, match="no latency histogram"):
        merge_results([a, locust_like])
    assert merge_results([a]) is a
    with pytest.raises(ValueError, match="at least one"):
        merge_results([])


def test_merge_refuses_to_add_rates_of_shards_that_did_not_overlap():
    """Shards run one after another (an executor that runs mapped tasks in turn): the counts and
    histograms still merge, but the result is invalid and its rates are over the whole span."""
    parts = [_synthetic([5.0] * 1000, start_unix=1.8e9 + 1.5 * i) for i in range(3)]
    merged = merge_results(parts)
    assert "did not run at the same time" in merged.invalid_reason and "shard_mode" in merged.invalid_reason
    assert merged.requests == 3000
    span = 1.5 * 2 + 1.0
    assert merged.intended_rate_per_s == pytest.approx(3000 / span)
    assert merged.achieved_rate_per_s == pytest.approx(3000 / span)
    assert len(merged.shard_windows) == 3


def test_merge_adds_rates_of_shards_that_ran_together():
    parts = [_synthetic([5.0] * 1000, start_unix=1.8e9 + 0.02 * i) for i in range(3)]
    merged = merge_results(parts)
    assert merged.invalid_reason == "" and merged.intended_rate_per_s == pytest.approx(3000.0)
    assert any("ran together" in n for n in merged.notes)


def test_shard_tasks_meet_at_one_common_start(tmp_path):
    """Tasks mode: each shard task writes its arrival and waits for the others; all get one start."""
    import threading

    from perf_tasks.kinds.load import common_start

    starts: dict[int, float] = {}

    def shard(i: int) -> None:
        time.sleep(0.1 * i)
        starts[i] = common_start(tmp_path, i, 3, timeout_s=10.0, lead_s=0.5)

    threads = [threading.Thread(target=shard, args=(i,)) for i in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(set(starts.values())) == 1 and starts[0] > time.time() - 1.0


def test_a_shard_task_that_waits_too_long_goes_alone(tmp_path):
    from perf_tasks.kinds.load import common_start

    t0 = time.time()
    start = common_start(tmp_path, 0, 2, timeout_s=0.3, lead_s=0.1)
    assert 0.3 <= start - t0 < 2.0
