from __future__ import annotations

import numpy as np
import pytest

from perf_tasks.bench.runner import calibrate_loops, resolve_callable, run_benchmark
from perf_tasks.config import BenchmarkConfig, ProfileConfig
from perf_tasks.errors import ConfigError

PROFILE = ProfileConfig(warmups=2, min_rounds=5, max_rounds=8, min_round_s=0.002, max_benchmark_s=0.5,
                        sample_interval_s=0.01)


class FakeClock:
    """Each call of the timed op advances time by ``step`` seconds."""

    def __init__(self, step: float) -> None:
        self.t = 0.0
        self.step = step

    def __call__(self) -> float:
        return self.t

    def op(self) -> None:
        self.t += self.step


def test_calibration_doubles_loops_until_a_round_is_long_enough():
    clock = FakeClock(step=0.001)
    assert calibrate_loops(clock.op, min_round_s=0.010, clock=clock) == 16
    assert calibrate_loops(clock.op, min_round_s=0.0005, clock=clock) == 1


# factories used by the tests below (the runner imports them by name)
CALLS: list[int] = []


def counting_factory(n: int = 1):
    def op() -> int:
        CALLS.append(n)
        return sum(range(100))
    op.items_per_call = n  # type: ignore[attr-defined]
    return op


def failing_factory():
    state = {"calls": 0}

    def op() -> None:
        state["calls"] += 1
        if state["calls"] > 3:
            raise RuntimeError("order book corrupted")
    return op


def _cfg(callable_: str, **kw) -> BenchmarkConfig:
    return BenchmarkConfig(callable=callable_, targets={"latency_p95_ms": {"max": 1000}}, **kw)


def test_runs_warmups_rounds_and_reports_per_item_metrics():
    CALLS.clear()
    run = run_benchmark("s", "b", _cfg(f"{__name__}:counting_factory", params={"n": 10}), PROFILE, "smoke",
                        rng=np.random.default_rng(0))
    r = run.result
    assert r.error is None and r.items_per_call == 10
    assert PROFILE.min_rounds <= len(r.round_call_s) <= PROFILE.max_rounds
    assert r.loops >= 1 and r.calls == len(CALLS)
    assert r.latency_s is not None and r.latency_s.n == len(r.round_call_s)
    # per-item latency = per-call time / items
    assert r.latency_s.median == pytest.approx(np.median(r.round_call_s) / 10)
    names = {m.name for m in r.metrics}
    assert {"s.b.latency_p95_ms", "s.b.throughput_per_s", "s.b.rss_max_bytes"} <= names
    p95 = next(m for m in r.metrics if m.name == "s.b.latency_p95_ms")
    assert p95.target is not None and p95.target.max == 1000 and p95.direction == "lower"
    assert r.resources is not None and r.resources.samples >= 1 and r.resources.rss_max_bytes > 0


def test_forced_single_loop_times_each_call():
    run = run_benchmark("s", "b", _cfg(f"{__name__}:counting_factory", loops=1), PROFILE, "smoke",
                        rng=np.random.default_rng(0))
    assert run.result.loops == 1


def test_a_raising_workload_is_recorded_not_raised():
    run = run_benchmark("s", "b", _cfg(f"{__name__}:failing_factory", loops=1), PROFILE, "smoke",
                        rng=np.random.default_rng(0))
    r = run.result
    assert r.errors == 1 and "order book corrupted" in r.error
    assert r.latency_s is None
    assert [m.name for m in r.metrics] == ["s.b.error_rate_pct"]


def test_profile_params_override_base_params():
    CALLS.clear()
    cfg = _cfg(f"{__name__}:counting_factory", params={"n": 3}, profile_params={"smoke": {"n": 7}})
    run = run_benchmark("s", "b", cfg, PROFILE, "smoke", rng=np.random.default_rng(0))
    assert run.result.params == {"n": 7} and set(CALLS) == {7}


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
