"""Per-run comparison on raw samples: significance (Mann-Whitney U) and magnitude (ratio of
medians with a bootstrap interval). Pure: randomness comes in as a Generator."""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from scipy.stats import mannwhitneyu


@dataclass(frozen=True)
class SampleComparison:
    pvalue: float  # two-sided Mann-Whitney U
    ratio: float  # median(current) / median(baseline)
    ci_low: float  # percentile-bootstrap interval of the ratio
    ci_high: float


def compare_samples(baseline: Sequence[float], current: Sequence[float], rng: np.random.Generator, *,
                    confidence: float = 0.95, resamples: int = 2000) -> SampleComparison:
    b = np.asarray(baseline, dtype=float)
    c = np.asarray(current, dtype=float)
    if b.size < 2 or c.size < 2:
        raise ValueError(f"need at least 2 samples on each side, got {b.size} and {c.size}")
    p = float(mannwhitneyu(c, b, alternative="two-sided").pvalue)
    ratio = float(np.median(c) / np.median(b))
    bi = rng.integers(0, b.size, size=(resamples, b.size))
    ci = rng.integers(0, c.size, size=(resamples, c.size))
    ratios = np.median(c[ci], axis=1) / np.median(b[bi], axis=1)
    alpha = (1 - confidence) / 2
    low, high = np.quantile(ratios, [alpha, 1 - alpha])
    return SampleComparison(p, ratio, float(low), float(high))
