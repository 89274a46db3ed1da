"""Summary statistics of samples (benchmarks, load, alert rules): pure functions of arrays (no I/O, no clock).

Randomness (the bootstrap) comes in as a seeded ``numpy.random.Generator``.
"""
from __future__ import annotations

import math
import re
from collections.abc import Sequence

import numpy as np

from perf_tasks.results import Stats

#: Percentiles use numpy's default "linear" method (type 7, as R and pandas do).
_PERCENTILE_METHOD = "linear"

#: A percentile needs this many observations beyond it (a p95 >= 200, a p99 >= 1,000, a p50 >= 20).
TAIL_OBSERVATIONS = 10
_PERCENTILE_NAME = re.compile(r"(?:^|_)p(\d+(?:\.\d+)?)(?:_|$)")


def required_samples(metric_name: str) -> int:
    """Observations a percentile-named metric needs to judge a target (1 for other metrics)."""
    m = _PERCENTILE_NAME.search(metric_name.rsplit(".", 1)[-1])
    if not m:
        return 1
    q = float(m.group(1)) / 100.0
    if not 0.0 < q < 1.0:
        return 1
    return math.ceil(round(TAIL_OBSERVATIONS / (1.0 - q), 6))


def bootstrap_median_ci(
    values: Sequence[float],
    rng: np.random.Generator,
    *,
    confidence: float = 0.95,
    resamples: int = 2000,
) -> tuple[float, float]:
    """Percentile-bootstrap confidence interval of the median.

    Returns (low, high). With a single value the interval collapses to that value.
    """
    arr = np.asarray(values, dtype=float)
    if arr.size == 0:
        raise ValueError("bootstrap_median_ci needs at least one value")
    if not 0.0 < confidence < 1.0:
        raise ValueError(f"confidence must be in (0, 1), got {confidence!r}")
    if arr.size == 1:
        return float(arr[0]), float(arr[0])
    idx = rng.integers(0, arr.size, size=(resamples, arr.size))
    medians = np.median(arr[idx], axis=1)
    alpha = (1.0 - confidence) / 2.0
    low, high = np.quantile(medians, [alpha, 1.0 - alpha])
    return float(low), float(high)


def quantile_ci(values: Sequence[float], q: float, *, confidence: float = 0.95) -> tuple[float | None, float | None]:
    """Distribution-free confidence interval of the ``q`` quantile (0 < q < 1) from order statistics.

    The number of observations below the true quantile is Binomial(n, q), so the order statistics at
    that distribution's alpha/2 and 1 - alpha/2 points bracket it with at least ``confidence``. An end
    that falls outside the sample is None (e.g. the upper end of a p99 from 30 observations): the
    sample cannot bound it. Exact, no resampling, O(n log n).
    """
    from scipy.stats import binom  # noqa: PLC0415 - scipy import only where intervals are needed

    arr = np.sort(np.asarray(values, dtype=float))
    n = arr.size
    if n == 0:
        raise ValueError("quantile_ci needs at least one value")
    if not 0.0 < q < 1.0 or not 0.0 < confidence < 1.0:
        raise ValueError(f"q and confidence must be in (0, 1), got q={q!r} confidence={confidence!r}")
    alpha = (1.0 - confidence) / 2.0
    lo = int(binom.ppf(alpha, n, q)) - 1  # 0-based index of the order statistic below
    hi = int(binom.ppf(1.0 - alpha, n, q))  # 0-based index of the order statistic above
    low = float(arr[lo]) if 0 <= lo < n else None
    high = float(arr[hi]) if 0 <= hi < n else None
    return low, high


def median_abs_deviation(values: Sequence[float]) -> float:
    """Unscaled median absolute deviation (scipy.stats.median_abs_deviation with scale=1.0)."""
    arr = np.asarray(values, dtype=float)
    return float(np.median(np.abs(arr - np.median(arr))))


def summarize(values: Sequence[float], rng: np.random.Generator, *, confidence: float = 0.95) -> Stats:
    """Summary of a sample. The unit is whatever the values are in (the caller names it).

    ``stdev`` is the sample standard deviation (ddof=1; 0.0 for a single value).
    """
    arr = np.asarray(values, dtype=float)
    if arr.size == 0:
        raise ValueError("summarize needs at least one value")
    if not np.all(np.isfinite(arr)):
        raise ValueError("summarize got a non-finite value")
    p50, p95, p99 = np.percentile(arr, [50, 95, 99], method=_PERCENTILE_METHOD)
    if arr.size <= 2000:
        ci_low, ci_high = bootstrap_median_ci(arr, rng, confidence=confidence)
    else:  # the bootstrap costs resamples x n: use the exact order-statistic interval on big samples
        lo, hi = quantile_ci(arr, 0.5, confidence=confidence)
        ci_low, ci_high = (lo if lo is not None else float(arr.min())), (hi if hi is not None else float(arr.max()))
    p95_ci = quantile_ci(arr, 0.95, confidence=confidence)
    p99_ci = quantile_ci(arr, 0.99, confidence=confidence)
    return Stats(
        n=int(arr.size),
        min=float(arr.min()),
        median=float(p50),
        mean=float(arr.mean()),
        p95=float(p95),
        p99=float(p99),
        max=float(arr.max()),
        stdev=float(arr.std(ddof=1)) if arr.size > 1 else 0.0,
        mad=median_abs_deviation(arr),
        ci_low=ci_low,
        ci_high=ci_high,
        ci_level=confidence,
        p95_ci_low=p95_ci[0],
        p95_ci_high=p95_ci[1],
        p99_ci_low=p99_ci[0],
        p99_ci_high=p99_ci[1],
    )
