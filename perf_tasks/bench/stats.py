"""Summary statistics of benchmark samples: pure functions of arrays (no I/O, no clock).

Randomness (the bootstrap) comes in as a seeded ``numpy.random.Generator``.
"""
from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from perf_tasks.results import Stats

#: Percentiles use numpy's default "linear" method (type 7, as R and pandas do).
_PERCENTILE_METHOD = "linear"


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
    ci_low, ci_high = bootstrap_median_ci(arr, rng, confidence=confidence)
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
    )
