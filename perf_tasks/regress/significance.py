"""Is a change between two runs real? Hierarchical bootstrap of a statistic's ratio, process-aware.

A benchmark's observations come from several fresh worker processes, and processes differ (memory
layout, CPU frequency, what else ran): observations of one process are *clustered*. A test on
pooled observations treats them as independent and so ignores between-process variance: two
back-to-back runs on one machine gave 5+ "significant" changes over 10 %. Here the unit of
resampling is first the process, then the observation within it:

1. draw ``k`` processes with replacement from the ``k`` a side has, then, within each drawn
   process, as many observations as it has, with replacement; pool them and take the statistic
   (p50, mean, p95, p99, max). Each side is resampled on its own;
2. the ratio current / baseline of the statistic is the quantity tested; its interval is built on
   log ratios around the observed ratio, from the spread of the resampled ones;
3. with few processes the bootstrap is too narrow (it sees ``(k-1)/k`` of the between-process
   variance and normal-like tails where the truth has Student-t tails), so each side's spread is
   scaled by ``sqrt(k/(k-1))`` and the whole by ``t(df)/z`` at the interval's level, df = k_b + k_c - 2.
   With 2 processes per side that widens the interval about 5-fold: two processes cannot tell a
   shift from a process that happened to be slow; 5 per side widen it 1.5-fold, 20 per side 1.1-fold;
4. significant = the ``1 - alpha`` interval excludes 1, i.e. the two-sided bootstrap p-value
   (twice the share of scaled resampled ratios on the far side of 1) is below ``alpha``.

Samples above ``max_observations`` per side are subsampled (seeded, stratified by process), so a
daily suite compares in seconds. Pure: randomness comes in as a ``numpy.random.Generator``.

Measured (2-vCPU VM, numpy 2.2, 2,000 resamples, at most 2,000 observations per side):
* cost: about 0.08 s per benchmark and side for all five statistics at once; a 28-benchmark suite
  with every metric compared, 5 x 4,000 or 20 x 10,000 observations per side: about 5 s;
* calibration, alpha 0.01, both sides from one distribution with 3 % per-process offsets, 5 v 5
  processes, 300 trials: false positives p50 0.3 %, mean 0.3 %, p95 0 %, p99 0 % (pooled
  Mann-Whitney U: about 40 %); 20 v 20: 0 of 100; a bootstrap of the max: 4-12 %, so the max is
  not tested (perf_tasks.regress.compare);
* power: a 20 % shift with 5 v 5 processes: p50, mean, p95 found 50 of 50, p99 45 of 50; with
  2 v 2 processes, p50 18 of 50.
"""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from scipy.stats import mannwhitneyu, norm, t

#: Statistics of one resample, computed from one sort: name -> quantile (None: the mean).
STATISTICS: dict[str, float | None] = {"p50": 0.5, "mean": None, "p95": 0.95, "p99": 0.99, "max": 1.0}

DEFAULT_RESAMPLES = 2000
DEFAULT_MAX_OBSERVATIONS = 2000


@dataclass(frozen=True)
class ClusteredSample:
    """One side's observations, one array per worker process (each non-empty)."""

    groups: tuple[np.ndarray, ...]

    def __post_init__(self) -> None:
        if not self.groups or any(g.ndim != 1 or g.size == 0 for g in self.groups):
            raise ValueError("a clustered sample needs at least one process, each with at least one observation")

    @classmethod
    def from_observations(cls, values: Sequence[float], process: Sequence[int] = ()) -> ClusteredSample:
        """``process[i]`` is the process of ``values[i]``; without it all are one process."""
        arr = np.asarray(values, dtype=float)
        if len(process) == 0:
            return cls((arr,))
        owner = np.asarray(process)
        if owner.shape != arr.shape:
            raise ValueError(f"{owner.size} process labels for {arr.size} observations")
        order = np.argsort(owner, kind="stable")  # by process label, each process's order kept
        _labels, starts = np.unique(owner[order], return_index=True)
        return cls(tuple(np.split(arr[order], starts[1:])))

    @property
    def processes(self) -> int:
        return len(self.groups)

    @property
    def size(self) -> int:
        return sum(g.size for g in self.groups)

    def pooled(self) -> np.ndarray:
        return np.concatenate(self.groups)


def subsample(sample: ClusteredSample, max_observations: int, rng: np.random.Generator) -> ClusteredSample:
    """At most ``max_observations`` in all, each process keeping its share (at least one)."""
    if sample.size <= max_observations:
        return sample
    frac = max_observations / sample.size
    return ClusteredSample(tuple(rng.choice(g, size=max(1, int(round(g.size * frac))), replace=False)
                                 for g in sample.groups))


def _row_quantile(sorted_rows: np.ndarray, counts: np.ndarray, q: float) -> np.ndarray:
    """Linear-interpolated quantile (numpy's default) of each row's first ``counts`` values."""
    h = (counts - 1) * q
    lo = np.floor(h).astype(int)
    hi = np.minimum(lo + 1, counts - 1)
    rows = np.arange(sorted_rows.shape[0])
    a, b = sorted_rows[rows, lo], sorted_rows[rows, hi]
    return a + (h - lo) * (b - a)


def hierarchical_draws(sample: ClusteredSample, rng: np.random.Generator, *,
                       resamples: int = DEFAULT_RESAMPLES) -> dict[str, np.ndarray]:
    """Each statistic of ``STATISTICS`` over ``resamples`` two-level resamples (processes, then
    observations within each drawn process); values in the sample's unit. Memory: about
    resamples x processes x largest process x 12 bytes (2,000 x 2,000: 48 MB)."""
    k = sample.processes
    sizes = np.array([g.size for g in sample.groups])
    width = int(sizes.max())
    # float32 halves the sort (the cost) and is exact enough for ratios (7 significant digits)
    padded = np.full((k, width), np.nan, dtype=np.float32)
    for i, g in enumerate(sample.groups):
        padded[i, :g.size] = g
    chosen = rng.integers(0, k, size=(resamples, k))
    n_chosen = sizes[chosen]  # (B, k)
    pick = rng.random((resamples, k, width), dtype=np.float32)
    pick *= n_chosen[..., None]
    flat = pick.astype(np.int32)
    np.minimum(flat, n_chosen[..., None] - 1, out=flat)  # float32 rounding may reach n
    flat += (chosen * width).astype(np.int32)[..., None]
    values = padded.ravel()[flat.reshape(resamples, k * width)]  # (B, k * width)
    if sizes.min() != width:  # unequal processes: draws beyond a process's size are padding
        values.reshape(resamples, k, width)[np.arange(width)[None, None, :] >= n_chosen[..., None]] = np.nan
    mean = np.nansum(values, axis=1, dtype=np.float64) / n_chosen.sum(axis=1)
    values.sort(axis=1)  # NaNs sort last
    counts = n_chosen.sum(axis=1)
    return {name: mean if q is None else _row_quantile(values, counts, q).astype(np.float64)
            for name, q in STATISTICS.items()}


@dataclass(frozen=True)
class RatioTest:
    """A ratio current / baseline with its interval at ``level`` (= 1 - alpha)."""

    ratio: float
    low: float
    high: float
    level: float
    pvalue: float  # two-sided bootstrap p-value, floored at 1 / (resamples + 1)
    significant: bool  # the interval excludes 1
    widening: float  # the small-process correction applied to the bootstrap spread


def small_sample_widening(k_base: int, k_current: int, alpha: float) -> float:
    """t(df)/z at the interval's level, df = k_b + k_c - 2 (see the module docstring)."""
    df = k_base + k_current - 2
    return float(t.ppf(1 - alpha / 2, df) / norm.ppf(1 - alpha / 2))


def ratio_test(base_draws: np.ndarray, current_draws: np.ndarray, observed_ratio: float, *, k_base: int,
               k_current: int, alpha: float) -> RatioTest:
    """Interval of ``observed_ratio`` from each side's resampled statistic (same length arrays,
    positive values). Needs at least 2 processes on each side (else between-process variance is
    unknown: raise ValueError)."""
    if k_base < 2 or k_current < 2:
        raise ValueError(f"need >= 2 processes per side for a process-level test, got {k_base} and {k_current}")
    if not (observed_ratio > 0 and np.all(base_draws > 0) and np.all(current_draws > 0)):
        raise ValueError("ratio test needs positive statistics")
    lb, lc = np.log(base_draws), np.log(current_draws)
    dev = (np.sqrt(k_current / (k_current - 1)) * (lc - np.median(lc))
           - np.sqrt(k_base / (k_base - 1)) * (lb - np.median(lb)))
    widen = small_sample_widening(k_base, k_current, alpha)
    log_ratio = np.log(observed_ratio) + widen * dev
    lo, hi = np.quantile(log_ratio, [alpha / 2, 1 - alpha / 2], method="inverted_cdf")
    n = log_ratio.size
    tail = min(np.sum(log_ratio <= 0), np.sum(log_ratio >= 0))  # resampled ratios on the far side of 1
    raw_p = 2 * tail / n
    # p < alpha <=> fewer than alpha/2 of the ratios lie beyond 1 <=> the interval excludes 1 (one rule)
    return RatioTest(ratio=observed_ratio, low=float(np.exp(lo)), high=float(np.exp(hi)), level=1 - alpha,
                     pvalue=float(min(1.0, max(raw_p, 1 / (n + 1)))), significant=bool(raw_p < alpha),
                     widening=widen)


def mannwhitney_pvalue(baseline: np.ndarray, current: np.ndarray) -> float:
    """Two-sided Mann-Whitney U on pooled observations: information only (it ignores processes)."""
    return float(mannwhitneyu(current, baseline, alternative="two-sided").pvalue)
