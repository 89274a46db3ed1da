"""The knee finder, the bottleneck verdicts and the capacity model; the whole sweep against real
known-capacity servers (perf_tasks.scale.testserver: concurrency / service time) behind HAProxy."""
from __future__ import annotations

import math

import pytest

from perf_tasks.scale.balancer import haproxy_path
from perf_tasks.scale.bottleneck import bottleneck
from perf_tasks.scale.model import SizeResult, analyse_axis, usl_summary
from perf_tasks.scale.runner import SweepConfig, run_size
from perf_tasks.scale.sweep import Knee, Point, SweepTargets, find_knee, simple_journey
from perf_tasks.scale.usl import usl

needs_haproxy = pytest.mark.skipif(haproxy_path() is None,
                                   reason="HAProxy is not installed (apt-get install -y haproxy)")


def fake_point(rate: float, capacity: float, *, invalid_above: float = math.inf) -> Point:
    """An ideal server: throughput follows the offered rate up to its capacity, p99 explodes beyond."""
    if rate > invalid_above:
        return Point(rate, 0.0, rate, 10.0, 10.0, 0.0, 100, False, "load generator saturated: test",
                     generator="saturated", bottleneck="generator")
    ok = rate <= capacity
    return Point(rate, 0.0, min(rate, capacity), 10.0, 20.0 if ok else 500.0, 0.0, 100, True, "", ok,
                 "" if ok else "p99 500 ms > 100 ms", "ok", {"service_cpu_pct_mean": 50.0},
                 bottleneck="none" if ok else "cpu")


@pytest.mark.parametrize("capacity", [95.0, 333.0, 512.0, 777.0])
def test_find_knee_brackets_a_known_capacity_within_the_refinement(capacity):
    k = find_knee(lambda r: fake_point(r, capacity), 100.0, refine_pct=5.0, max_refine=6)
    if capacity < 100:
        assert k.status == "below_base" and k.throughput_per_s == 0
        return
    assert k.status == "found", k.note
    lo, hi = k.bracket
    assert lo <= capacity < hi and (hi - lo) / lo <= 0.05
    assert capacity * 0.95 <= k.throughput_per_s <= capacity
    assert k.limited_by == "cpu"


def test_a_generator_limited_point_is_excluded_and_stops_the_sweep():
    k = find_knee(lambda r: fake_point(r, 1000.0, invalid_above=350.0), 100.0)
    assert k.status == "generator_limited" and k.throughput_per_s == 300.0
    assert [p.valid for p in k.points] == [True, True, True, False, False]  # the invalid point was retried once
    assert "at least 300" in k.note and k.limited_by == "generator"


def test_every_point_passing_says_the_knee_is_beyond_the_sweep():
    k = find_knee(lambda r: fake_point(r, 1e9), 10.0, multipliers=(1, 2, 3))
    assert k.status == "beyond_sweep" and k.throughput_per_s == 30.0 and "beyond" in k.note


def test_bad_sweep_input_is_named():
    with pytest.raises(ValueError, match="base_rate"):
        find_knee(lambda r: fake_point(r, 1.0), 0.0)
    with pytest.raises(ValueError, match="p99_ms"):
        SweepTargets(p99_ms=-1)


@pytest.mark.parametrize("resources, kwargs, verdict", [
    ({"service_cpu_pct_mean": 190.0, "system_cpu_pct_mean": 99.0}, {"service_cores": 2}, "cpu"),
    ({"service_cpu_pct_mean": 60.0, "system_cpu_pct_mean": 97.0, "generator_cpu_pct_mean": 100.0}, {"service_cores": 2},
     "cpu (host)"),
    ({"service_cpu_pct_mean": 60.0, "system_cpu_pct_mean": 97.0, "generator_cpu_pct_mean": 10.0}, {"service_cores": 2},
     "other work on the host"),
    ({"service_cpu_pct_mean": 20.0, "system_cpu_pct_mean": 30.0}, {}, "service internal"),
    ({"service_cpu_pct_mean": 60.0, "system_cpu_pct_mean": 97.0, "service_cpu_wait_share_pct": 45.0},
     {"service_cores": 2}, "other work on the host"),
    # the host was full but the instances were not waiting for a CPU: the limit is theirs
    ({"service_cpu_pct_mean": 3.0, "system_cpu_pct_mean": 99.0, "service_cpu_wait_share_pct": 2.0},
     {"service_cores": 2}, "service internal"),
    ({"service_cpu_pct_mean": 3.0, "system_cpu_pct_mean": 99.0, "service_cpu_wait_share_pct": 50.0,
      "service_cpu_wait_pct": 3.0}, {"service_cores": 2}, "service internal"),  # wants almost nothing
    ({"service_rss_max_bytes": 95e6}, {"memory_limit_bytes": 100_000_000}, "memory"),
    ({"database_cpu_pct_mean": 99.0}, {}, "database"),
    ({"process_disk_bytes_per_s": 5e8}, {}, "disk"),
    ({"host_net_bytes_per_s": 2e9}, {}, "network"),
    ({"service_cpu_pct_mean": 190.0}, {"generator_saturated": True}, "generator"),
    ({"service_cpu_pct_mean": 190.0}, {"missed": False}, "none"),
])
def test_bottleneck_verdicts(resources, kwargs, verdict):
    v = bottleneck(resources, **{"host_cores": 2, **kwargs})
    assert v.verdict == verdict and v.reason


def _size(n: int, x: float, status: str = "found") -> SizeResult:
    p = Point(x, 1.0, x, 5.0, 10.0, 0.0, 1000, True, meets_targets=True,
              resources={"service_cpu_pct_mean": 90.0 * n})
    k = Knee(status, x if status != "no_valid_points" else 0.0, x, 10.0 * n ** 0.5, (x, x * 1.05), (p,), "t")
    return SizeResult("instances", n, float(n), k)


def test_model_factors_efficiency_cost_and_usl_prediction():
    sizes = [1, 2, 3, 4, 6, 8]
    xs = [float(usl(n, 100.0, 0.03, 0.001)) for n in sizes]
    out = analyse_axis([_size(n, x) for n, x in zip(sizes, xs)], cost_per_core_hour=0.036)
    f = {r["size"]: r for r in out["factors"]}
    assert f[1]["efficiency"] == pytest.approx(1.0) and f[8]["efficiency"] == pytest.approx(xs[-1] / (8 * xs[0]))
    assert f[8]["latency_factor"] == pytest.approx(8 ** 0.5)
    assert f[2]["resource_efficiency"] == pytest.approx(f[2]["efficiency"])
    row1 = out["sizes"][0]
    assert row1["cost_per_transaction"] == pytest.approx(0.036 / (100.0 * 3600))
    assert row1["transactions_per_dollar"] == pytest.approx(100.0 * 3600 / 0.036)
    u = out["usl"]
    assert u["fitted"] and u["sigma"] == pytest.approx(0.03, abs=0.005) and u["kappa"] == pytest.approx(0.001, rel=0.2)
    assert [p["n"] for p in u["predictions"]] == [10.0, 20.0, 50.0]
    p10 = u["predictions"][0]
    assert p10["low"] <= float(usl(10, 100.0, 0.03, 0.001)) <= p10["high"]
    assert u["linear_claim"]["verdict"] == "does not hold"  # efficiency at 10 is ~0.71


def test_two_sizes_cannot_fit_three_sizes_refuse_to_extrapolate_lower_bounds_are_excluded():
    out = analyse_axis([_size(1, 100.0), _size(2, 190.0), _size(3, 250.0, "beyond_sweep")], cost_per_core_hour=0.05)
    assert out["excluded"][0]["size"] == 3 and "beyond_sweep" in out["excluded"][0]["reason"]
    u = out["usl"]
    assert not u["fitted"] and u["predictions"] == [] and "3 parameters" in u["reason"]
    assert u["linear_claim"]["verdict"] == "not judged"
    three = usl_summary([1, 2, 3], [100.0, 190.0, 260.0])
    assert three["fitted"] and three["predictions"] == [] and "only 3 distinct sizes" in three["refused"]


@needs_haproxy
@pytest.mark.parametrize("size", [1, 2])
def test_the_sweep_finds_the_knee_of_known_capacity_servers_within_10_percent(tmp_path, size):
    """N test servers of 4 slots x 20 ms (200 requests/s each) behind HAProxy: the ideal knee is
    N x 200/s; constant arrivals, so below capacity nothing queues and above it the queue grows."""
    cfg = SweepConfig(journey=simple_journey("/work"), journey_name="work", targets=SweepTargets(p99_ms=100.0),
                      base_rate_per_s=90.0, point_duration_s=1.5, refine_pct=8.0, arrival="constant", timeout_s=3.0,
                      sut="testserver", testserver=(4, 20.0), check_inter_ms=1000)
    r = run_size(tmp_path, "instances", size, cfg)
    ideal = 200.0 * size
    assert r.knee.status == "found", r.knee.note
    assert abs(r.knee.throughput_per_s - ideal) / ideal <= 0.10, (r.knee.throughput_per_s, r.knee.note)
    # the test servers use a few % of a core: their knee is their concurrency cap, even on a busy host
    assert r.balancer == "haproxy" and r.knee.limited_by == "service internal", r.knee.limited_reason
    knee_point = next(p for p in r.knee.points if p.rate_per_s == r.knee.rate_per_s)
    assert sum(knee_point.per_instance.values()) >= 0.9 * knee_point.requests
    if size == 2:  # round robin: each instance served about half
        a, b = knee_point.per_instance.values()
        assert abs(a - b) <= 0.1 * (a + b)
