"""The knee finder's remaining rules (pure, with probes of known behaviour) and one real sweep
against a loopback server that answers every request with an error."""
from __future__ import annotations

import subprocess
import sys

import pytest

from devtools.loopback import LoopbackServer
from perf_tasks.scale.sweep import Point, PointSettings, SweepTargets, find_knee, simple_journey, sweep


def _point(rate: float, *, ok: bool = True, valid: bool = True) -> Point:
    if not valid:
        return Point(rate, 0.0, rate, 10.0, 10.0, 0.0, 100, False, "load generator saturated: test",
                     generator="saturated", bottleneck="generator")
    return Point(rate, 0.0, rate if ok else rate * 0.8, 10.0, 20.0 if ok else 500.0, 0.0, 100, True, "", ok,
                 "" if ok else "p99 500 ms > 100 ms", "ok", bottleneck="none" if ok else "cpu")


def test_multipliers_must_be_positive():
    with pytest.raises(ValueError, match=r"multipliers must be positive, got \[0, 1\]"):
        find_knee(_point, 10.0, [0, 1])
    with pytest.raises(ValueError, match=r"multipliers must be positive, got \[\]"):
        find_knee(_point, 10.0, [])


def test_a_sweep_of_only_invalid_points_says_every_point_was_invalid():
    k = find_knee(lambda r: _point(r, valid=False), 10.0, (1, 2), retry_invalid=1)
    assert k.status == "no_valid_points" and k.throughput_per_s == 0.0
    assert k.note == "every point was invalid: load generator saturated: test"
    assert len(k.points) == 2 and k.limited_by == "generator"  # the first point and its retry


def test_a_miss_that_a_rerun_does_not_confirm_counts_as_a_pass():
    calls: dict[float, int] = {}

    def flaky(rate: float) -> Point:  # 30/s misses once (a spoiled run), then passes; 40/s always misses
        calls[rate] = calls.get(rate, 0) + 1
        if rate >= 40:
            return _point(rate, ok=False)
        return _point(rate, ok=not (rate == 30 and calls[rate] == 1))

    k = find_knee(flaky, 10.0, (1, 2, 3, 4), refine_pct=50.0, confirm_misses=1)
    assert calls == {10.0: 1, 20.0: 1, 30.0: 2, 40.0: 2}
    assert k.status == "found" and k.rate_per_s == 30.0 and k.bracket == (30.0, 40.0)
    assert [p.meets_targets for p in k.points if p.rate_per_s == 30.0] == [False, True]


def test_an_invalid_point_while_bisecting_stops_the_sweep_at_the_last_passing_rate():
    def probe(rate: float) -> Point:
        if 300 < rate < 400:
            return _point(rate, valid=False)  # the generator gave out between the bracket's ends
        return _point(rate, ok=rate <= 300)

    k = find_knee(probe, 100.0, (1, 2, 3, 4), refine_pct=5.0, max_refine=4, retry_invalid=0)
    assert k.status == "generator_limited" and k.throughput_per_s == 300.0
    assert "the sweep stopped at 350/s" in k.note and "the knee is at least 300/s" in k.note
    assert k.limited_by == "cpu"  # the first failing valid point (400/s) still names what failed


def test_a_real_sweep_of_a_server_that_only_errs_misses_on_the_error_rate():
    server = LoopbackServer().start()
    gone = subprocess.Popen([sys.executable, "-c", "pass"])
    gone.wait(10)
    try:
        settings = PointSettings(target_url=server.url, journey=simple_journey("/status/500"), duration_s=0.5,
                                 users=8, arrival="constant", timeout_s=2.0, service_pids=(gone.pid,),
                                 host_cores=2)
        k = sweep(settings, SweepTargets(p99_ms=1000.0, error_rate_pct=1.0), 20.0, (1, 2), confirm_misses=0)
    finally:
        server.stop()
    assert k.status == "below_base" and "lower the base rate" in k.note
    (p,) = k.points
    assert p.valid and not p.meets_targets and p.requests == 10 and p.error_rate_pct == 100.0
    assert p.missed == "error rate 100.00 % > 1 %" and p.multiplier == 1.0
    assert p.generator in ("ok", "unknown") and "generator_achieved_pct" in p.resources
