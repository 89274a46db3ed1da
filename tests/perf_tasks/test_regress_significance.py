"""Process-aware significance of a change between two runs (perf_tasks.regress.significance)."""
from __future__ import annotations

import numpy as np
import pytest

from perf_tasks.regress.significance import (ClusteredSample, hierarchical_draws, mannwhitney_pvalue, ratio_test,
                                             small_sample_widening, subsample)
from tests.perf_tasks.clustered import clustered


_Q = {"p50": 0.5, "p95": 0.95, "p99": 0.99}


def _tests(base: tuple[np.ndarray, np.ndarray], cur: tuple[np.ndarray, np.ndarray], rng: np.random.Generator, *,
           alpha: float = 0.01, resamples: int = 2000) -> dict:
    """The process-level ratio test of p50, mean, p95 and p99, each side resampled once."""
    b = ClusteredSample.from_observations(*base)
    c = ClusteredSample.from_observations(*cur)
    db = hierarchical_draws(b, rng, resamples=resamples)
    dc = hierarchical_draws(c, rng, resamples=resamples)
    out = {}
    for stat in ("p50", "mean", "p95", "p99"):
        value = (lambda x: float(np.mean(x))) if stat == "mean" else (lambda x, q=_Q[stat]: float(np.quantile(x, q)))
        out[stat] = ratio_test(db[stat], dc[stat], value(c.pooled()) / value(b.pooled()), k_base=b.processes,
                               k_current=c.processes, alpha=alpha)
    return out


def test_a_tail_only_regression_is_found_where_mann_whitney_sees_nothing():
    """Same median; 2 % of calls three times slower doubles the p99."""
    rng = np.random.default_rng(7)
    base = clustered(rng, processes=5, per_process=400, offset_sd=0.02)
    cur = clustered(rng, processes=5, per_process=400, offset_sd=0.02, slow_share=0.02, slow_factor=3.0)
    tests = _tests(base, cur, rng)
    p99 = tests["p99"]
    assert p99.ratio > 1.8 and p99.significant and p99.low > 1.3
    assert not tests["p50"].significant
    assert mannwhitney_pvalue(base[0], cur[0]) > 0.01


def test_same_clustered_distribution_is_not_significant_in_50_trials():
    """Per-process offsets of 3 %: a pooled test calls many of these significant; the process-level
    test at alpha 0.01 may err at most once in 50 trials, on any of p50, mean, p95, p99."""
    rng = np.random.default_rng(20261130)
    false, pooled_false = 0, 0
    for _ in range(50):
        base = clustered(rng, processes=5, per_process=200)
        cur = clustered(rng, processes=5, per_process=200)
        false += any(t.significant for t in _tests(base, cur, rng, resamples=1000).values())
        pooled_false += mannwhitney_pvalue(base[0], cur[0]) < 0.01
    assert false <= 1
    assert pooled_false >= 10  # why the pooled test cannot be the gate


def test_a_20pct_shift_with_5_processes_per_side_is_found():
    rng = np.random.default_rng(3)
    for _ in range(5):
        base = clustered(rng, processes=5, per_process=200)
        cur = clustered(rng, processes=5, per_process=200, median_s=1.2e-3)
        tests = _tests(base, cur, rng, resamples=1000)
        for stat in ("p50", "mean", "p95"):  # a p99 of 1,000 calls is too noisy to promise it every time
            r = tests[stat]
            assert r.significant and r.low > 1.0 and r.pvalue < 0.01, (stat, r)


def test_two_processes_per_side_cannot_call_a_small_shift():
    """Two processes cannot tell a 10 % shift from one slow process: the interval is wide."""
    rng = np.random.default_rng(4)
    r = _tests(clustered(rng, processes=2, per_process=500),
               clustered(rng, processes=2, per_process=500, median_s=1.1e-3), rng)["p50"]
    assert not r.significant and r.high / r.low > 1.3
    assert small_sample_widening(2, 2, 0.01) > 3 > small_sample_widening(5, 5, 0.01) > small_sample_widening(20, 20, 0.01)


def test_one_process_per_side_is_refused():
    with pytest.raises(ValueError, match=">= 2 processes per side"):
        ratio_test(np.ones(10), np.ones(10), 1.0, k_base=1, k_current=5, alpha=0.01)


def test_observations_group_by_process_and_subsample_keeps_each_share():
    s = ClusteredSample.from_observations([1.0, 2.0, 3.0, 4.0, 5.0, 6.0], [1, 1, 0, 0, 0, 0])
    assert [g.tolist() for g in s.groups] == [[3.0, 4.0, 5.0, 6.0], [1.0, 2.0]]  # by process label
    big = ClusteredSample((np.arange(3000.0), np.arange(1000.0), np.arange(10.0)))
    small = subsample(big, 2000, np.random.default_rng(0))
    sizes = [g.size for g in small.groups]
    assert sum(sizes) <= 2000 and sizes[0] == pytest.approx(3 * sizes[1], abs=3) and sizes[2] == 5
    assert subsample(s, 2000, np.random.default_rng(0)) is s
    with pytest.raises(ValueError, match="process labels"):
        ClusteredSample.from_observations([1.0, 2.0], [0])


def test_draws_are_seeded_and_cover_every_statistic():
    s = ClusteredSample.from_observations(*clustered(np.random.default_rng(1), processes=3, per_process=50))
    a = hierarchical_draws(s, np.random.default_rng(5), resamples=200)
    b = hierarchical_draws(s, np.random.default_rng(5), resamples=200)
    assert set(a) == {"p50", "mean", "p95", "p99", "max"}
    assert all(np.array_equal(a[k], b[k]) for k in a)
    assert np.all(a["p50"] <= a["p95"]) and np.all(a["p99"] <= a["max"])
    assert np.all(a["max"] <= s.pooled().max() * (1 + 1e-6))  # float32 inside


def test_processes_of_unequal_size_resample_without_padding_leaking_in():
    """A process stopped early by its time bound has fewer observations than the others."""
    rng = np.random.default_rng(2)
    s = ClusteredSample((rng.uniform(1.0, 2.0, 300), rng.uniform(1.0, 2.0, 7), rng.uniform(1.0, 2.0, 150)))
    d = hierarchical_draws(s, rng, resamples=500)
    assert all(np.all(np.isfinite(v)) and np.all((v >= 1.0) & (v <= 2.0)) for v in d.values())
