from __future__ import annotations

import numpy as np
import pytest
from scipy import stats as sps

from perf_tasks.stats import bootstrap_median_ci, median_abs_deviation, summarize

DATA = [12.0, 15.0, 11.0, 19.0, 14.0, 13.0, 50.0, 12.5, 13.5, 14.5]


def test_summary_matches_numpy_and_scipy_on_known_data():
    s = summarize(DATA, np.random.default_rng(1))
    arr = np.array(DATA)
    assert s.n == 10 and s.min == 11.0 and s.max == 50.0
    assert s.median == pytest.approx(np.median(arr)) == pytest.approx(13.75)
    assert s.mean == pytest.approx(arr.mean())
    assert s.p95 == pytest.approx(np.percentile(arr, 95))
    assert s.p99 == pytest.approx(np.percentile(arr, 99))
    assert s.stdev == pytest.approx(arr.std(ddof=1))
    assert s.mad == pytest.approx(sps.median_abs_deviation(arr))


def test_percentiles_follow_the_linear_method():
    # 1..100: the 95th percentile by linear interpolation is 95.05
    s = summarize(list(range(1, 101)), np.random.default_rng(0))
    assert s.p95 == pytest.approx(95.05)
    assert s.p99 == pytest.approx(99.01)


def test_bootstrap_ci_agrees_with_scipy_bootstrap():
    rng = np.random.default_rng(42)
    sample = rng.lognormal(0.0, 0.2, size=200)
    low, high = bootstrap_median_ci(sample, np.random.default_rng(7), resamples=5000)
    ref = sps.bootstrap((sample,), np.median, confidence_level=0.95, n_resamples=5000, method="percentile",
                        random_state=np.random.default_rng(7)).confidence_interval
    assert low < np.median(sample) < high
    assert low == pytest.approx(ref.low, rel=0.02)
    assert high == pytest.approx(ref.high, rel=0.02)


def test_bootstrap_is_deterministic_for_a_seed():
    a = bootstrap_median_ci(DATA, np.random.default_rng(3))
    b = bootstrap_median_ci(DATA, np.random.default_rng(3))
    assert a == b


def test_single_value_collapses_the_interval():
    s = summarize([2.5], np.random.default_rng(0))
    assert (s.ci_low, s.ci_high, s.stdev, s.mad) == (2.5, 2.5, 0.0, 0.0)


@pytest.mark.parametrize("bad", [[], [1.0, float("nan")], [float("inf")]])
def test_refuses_empty_or_non_finite_samples(bad):
    with pytest.raises(ValueError):
        summarize(bad, np.random.default_rng(0))


def test_mad_is_robust_to_one_outlier():
    assert median_abs_deviation([1, 1, 2, 2, 4, 6, 9]) == 1.0
    assert median_abs_deviation([1, 1, 2, 2, 4, 6, 9000]) == 1.0
