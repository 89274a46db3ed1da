from __future__ import annotations

import os
import time

import numpy as np
import pytest

from perf_tasks.bench.runner import params_digest, resolve_callable, run_benchmark
from perf_tasks.config import BenchmarkConfig, ProfileConfig
from perf_tasks.errors import ConfigError

PROFILE = ProfileConfig(warmups=2, processes=2, min_observations=60, max_observations=200, max_benchmark_s=0.2,
                        sample_interval_s=0.01)


# --- factories the worker processes import by name ----------------------------------------------

def _spin(seconds: float) -> None:
    """Busy-wait: a call can only take longer than asked, never shorter (robust on a noisy host)."""
    end = time.perf_counter() + seconds
    while time.perf_counter() < end:
        pass


def counting_factory(n: int = 1):
    def op() -> int:
        return sum(range(100))
    op.items_per_call = n  # type: ignore[attr-defined]
    op.info = {"device": "cpu", "n": n}  # type: ignore[attr-defined]
    return op


def tail_factory(fast_ms: float = 0.2, slow_ms: float = 6.0, every: int = 50):
    """A workload with a known per-call tail: every ``every``-th call is slow (2 % by default),
    so the true per-call p50 is ``fast_ms`` and the true p99 is ``slow_ms``."""
    state = {"i": 0}

    def op() -> None:
        state["i"] += 1
        _spin((slow_ms if state["i"] % every == 0 else fast_ms) / 1e3)
    op.items_per_call = 10  # type: ignore[attr-defined]
    return op


def failing_factory():
    state = {"calls": 0}

    def op() -> None:
        state["calls"] += 1
        if state["calls"] > 3:
            raise RuntimeError("order book corrupted")
    return op


def crashing_factory():
    def op() -> None:
        os._exit(3)  # the process dies without a word: a segfaulting extension, an OOM kill
    return op


def _cfg(callable_: str, targets: dict | None = None, **kw) -> BenchmarkConfig:
    return BenchmarkConfig(callable=callable_, targets=targets if targets is not None else
                           {"latency_p95_ms": {"max": 1000}}, **kw)


def _metric(result, short: str):
    return next(m for m in result.metrics if m.name.endswith(f".{short}"))


def test_each_observation_is_one_call_pooled_over_worker_processes():
    run = run_benchmark("s", "b", _cfg(f"{__name__}:counting_factory", params={"n": 10}), PROFILE, "smoke",
                        rng=np.random.default_rng(0))
    r = run.result
    assert r.error is None and r.items_per_call == 10 and r.calls_per_observation == 1
    assert r.processes == 2 and len(r.process_means_s) == 2
    assert set(r.observation_process) == {0, 1} and len(r.observation_process) == len(r.observation_s)
    assert PROFILE.min_observations <= len(r.observation_s) <= PROFILE.max_observations
    assert r.calls == len(r.observation_s) + PROFILE.warmups * PROFILE.processes
    assert r.latency_s is not None and r.latency_s.n == len(r.observation_s)
    # percentiles are of single calls: not divided by the items a call handles
    assert r.latency_s.median == pytest.approx(float(np.median(r.observation_s)))
    p95 = _metric(r, "latency_p95_ms")
    assert p95.value == pytest.approx(float(np.percentile(r.observation_s, 95)) * 1e3)
    assert p95.samples == len(r.observation_s) and p95.target is not None and p95.target.max == 1000
    # throughput = items completed / wall time of the timed calls
    assert r.items == 10 * len(r.observation_s) and r.timed_s == pytest.approx(sum(r.observation_s))
    assert _metric(r, "throughput_per_s").value == pytest.approx(r.items / r.timed_s)
    assert _metric(r, "latency_mean_per_item_ms").value == pytest.approx(r.timed_s / r.items * 1e3)
    assert r.info == {"device": "cpu", "n": 10}
    assert r.params_digest == params_digest(f"{__name__}:counting_factory", {"n": 10}, 1)
    # the sampler ran in this process, watching the worker: it saw the worker's memory
    assert r.resources is not None and r.resources.samples >= 2 and r.resources.rss_max_bytes > 0


def test_reported_percentiles_match_a_known_per_call_tail():
    """2 % of calls take 6 ms, the rest 0.2 ms: p50 is a fast call, p99 a slow one. (The old runner
    reported means of calibrated rounds: its p99 sat near the 0.32 ms mean.)"""
    profile = ProfileConfig(warmups=1, processes=2, min_observations=1000, max_observations=1000,
                            max_benchmark_s=30, sample_interval_s=0.05)
    run = run_benchmark("s", "tail", _cfg(f"{__name__}:tail_factory"), profile, "smoke",
                        rng=np.random.default_rng(0))
    r = run.result
    assert len(r.observation_s) == 1000
    p50, p99 = _metric(r, "latency_p50_ms"), _metric(r, "latency_p99_ms")
    assert 0.2 <= p50.value < 0.6, p50.value
    assert 6.0 <= p99.value < 12.0, p99.value
    assert p99.samples == 1000
    assert r.latency_s is not None and r.latency_s.p99_ci_low is not None and r.latency_s.p99_ci_low >= 0.2e-3


def test_batched_observations_are_named_batch_latency_never_per_call_percentiles():
    cfg = _cfg(f"{__name__}:counting_factory", targets={"batch_latency_p95_ms": {"max": 1000}},
               calls_per_observation=8)
    r = run_benchmark("s", "b", cfg, PROFILE, "smoke", rng=np.random.default_rng(0)).result
    names = {m.name.rsplit(".", 1)[1] for m in r.metrics}
    assert {"batch_latency_p50_ms", "batch_latency_p95_ms", "latency_mean_per_item_ms"} <= names
    assert not any(n.startswith("latency_p") for n in names)
    assert r.items == 8 * len(r.observation_s)
    assert r.calls == 8 * len(r.observation_s) + PROFILE.warmups * PROFILE.processes


def test_a_per_call_percentile_target_on_a_batched_benchmark_is_refused():
    with pytest.raises(ValueError, match="per-call percentiles cannot be measured"):
        _cfg(f"{__name__}:counting_factory", calls_per_observation=8)


def test_the_old_loops_key_is_refused_with_its_replacement_named():
    with pytest.raises(ValueError, match="calls_per_observation"):
        _cfg(f"{__name__}:counting_factory", loops=1)


def test_a_raising_workload_is_recorded_not_raised():
    r = run_benchmark("s", "b", _cfg(f"{__name__}:failing_factory"), PROFILE, "smoke",
                      rng=np.random.default_rng(0)).result
    assert r.errors == 2 and "order book corrupted" in r.error  # one per worker process
    assert r.latency_s is None
    assert [m.name for m in r.metrics] == ["s.b.error_rate_pct"]


def test_a_crashed_worker_is_recorded_with_its_exit_code():
    r = run_benchmark("s", "b", _cfg(f"{__name__}:crashing_factory"), PROFILE, "smoke",
                      rng=np.random.default_rng(0)).result
    assert r.latency_s is None and r.errors == 2
    assert "exited with code 3" in r.error


def test_profile_params_override_base_params():
    cfg = _cfg(f"{__name__}:counting_factory", params={"n": 3}, profile_params={"smoke": {"n": 7}})
    r = run_benchmark("s", "b", cfg, PROFILE, "smoke", rng=np.random.default_rng(0)).result
    assert r.params == {"n": 7} and r.items_per_call == 7


@pytest.mark.parametrize("spec,needle", [
    ("no_such_module_xyz:f", "cannot import module 'no_such_module_xyz'"),
    ("json:no_such_function", "has no attribute 'no_such_function'"),
])
def test_unresolvable_callable_names_the_spec(spec, needle):
    with pytest.raises(ConfigError, match=needle):
        resolve_callable(spec, source="config/benchmarks.yaml")


def test_factory_refusing_params_is_a_config_error():
    with pytest.raises(ConfigError, match="refused params"):
        run_benchmark("s", "b", _cfg(f"{__name__}:counting_factory", params={"bogus": 1}), PROFILE, "smoke",
                      rng=np.random.default_rng(0))


def test_params_digest_changes_with_params_and_batching():
    a = params_digest("m:f", {"n": 1}, 1)
    assert a == params_digest("m:f", {"n": 1}, 1)
    assert a != params_digest("m:f", {"n": 2}, 1) and a != params_digest("m:f", {"n": 1}, 4)


def test_other_cpu_share_is_the_host_busy_share_minus_the_workers():
    from perf_tasks.bench.runner import other_cpu_pct

    assert other_cpu_pct(75.0, 100.0, cpus=2) == 25.0  # worker: one full core of two; others: a quarter
    assert other_cpu_pct(40.0, 100.0, cpus=2) == 0.0  # sampling skew never goes negative


def logging_factory(log_path: str, tag: str):
    with open(log_path, "a") as fh:  # setup runs once per worker process
        fh.write(tag + "\n")
    return lambda: None


def test_benchmarks_run_in_interleaved_passes_of_one_process_each(tmp_path):
    from perf_tasks.bench.runner import plan_benchmark, run_benchmarks

    log_path = tmp_path / "order.txt"
    plans = [plan_benchmark("s", tag, _cfg(f"{__name__}:logging_factory", params={"log_path": str(log_path), "tag": tag}),
                            PROFILE, "smoke") for tag in ("a", "b")]
    runs = run_benchmarks(plans, PROFILE, rng=np.random.default_rng(0))
    assert log_path.read_text().split() == ["a", "b", "a", "b"]  # a transient slowdown hits one process of each
    assert [r.result.name for r in runs] == ["a", "b"] and all(r.result.processes == 2 for r in runs)


def test_a_benchmark_without_tail_targets_is_bounded_by_time_not_by_min_observations():
    from perf_tasks.bench.runner import plan_benchmark

    timed_only = plan_benchmark("s", "b", _cfg(f"{__name__}:counting_factory", targets={"throughput_per_s": {"min": 1}}),
                                PROFILE, "smoke")
    tail = plan_benchmark("s", "b", _cfg(f"{__name__}:counting_factory"), PROFILE, "smoke")
    assert timed_only.request["min_observations"] == 1
    assert tail.request["min_observations"] == PROFILE.min_observations // PROFILE.processes
