"""A benchmark's ``info`` is read after the timed calls and after ``close()`` (issue 20, item 6):
counters a workload fills while it runs, or when it closes, are what the result carries."""
from __future__ import annotations

import numpy as np

from perf_tasks.bench.runner import run_benchmark
from perf_tasks.bench.worker import measure
from perf_tasks.config import BenchmarkConfig, ProfileConfig

REQ = {"calls_per_observation": 1, "warmups": 2, "min_observations": 5, "max_observations": 5, "max_s": 1.0,
       "hard_s": 5.0, "params": {}}


class Counting:
    """Counts its calls in ``info`` while it runs, and records ``closed`` only in ``close()``."""

    def __init__(self) -> None:
        self.info = {"calls": 0, "closed": False, "device": "cpu"}

    def __call__(self) -> None:
        self.info["calls"] += 1

    def close(self) -> None:
        self.info["closed"] = True
        self.info["flushed_rows"] = 42


def counting_in_close():
    return Counting()


def info_property_raises():
    class Op:
        def __call__(self) -> None:
            pass

        @property
        def info(self):
            raise RuntimeError("not ready")
    return Op()


def test_info_counters_filled_during_the_run_and_in_close_are_recorded():
    out = measure({**REQ, "callable": f"{__name__}:counting_in_close"})
    assert out["error"] is None
    # 2 warmups + 5 timed calls; before the fix this read calls 0, closed False, no flushed_rows
    assert out["info"] == {"calls": 7, "closed": True, "device": "cpu", "flushed_rows": 42}


def test_an_info_that_cannot_be_read_is_empty_not_an_error():
    out = measure({**REQ, "callable": f"{__name__}:info_property_raises"})
    assert out["error"] is None and out["info"] == {} and len(out["observation_s"]) == 5


def test_the_result_of_a_worker_process_carries_the_info_after_close():
    profile = ProfileConfig(warmups=1, processes=1, min_observations=10, max_observations=10, max_benchmark_s=0.5,
                            sample_interval_s=0.01)
    cfg = BenchmarkConfig(callable=f"{__name__}:counting_in_close", targets={"latency_p95_ms": {"max": 1000}})
    r = run_benchmark("s", "b", cfg, profile, "smoke", rng=np.random.default_rng(0)).result
    assert r.error is None
    assert r.info["closed"] is True and r.info["flushed_rows"] == 42 and r.info["calls"] == 11
