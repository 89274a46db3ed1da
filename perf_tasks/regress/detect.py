"""Reference change detectors over a metric's history. Pure functions of arrays: no I/O, no clock.

The pipeline alerts with :mod:`perf_tasks.regress.levels` (the whole-history pass re-run at every
run). The detectors here are the references it is measured against by
``benchmarks/regression_harness.py`` (table in ``benchmarks/results/regression_harness.md``):

* :func:`naive_alerts` - the bare rule: a run more than ``threshold_pct`` worse or better than the
  previous run. Blind at low noise (a 10 % step hides behind 2 % noise about half the time on
  any single comparison) and loud at high noise.
* :func:`otava_change_points` - E-divisive means (Apache Otava, the method of MongoDB's CI) over
  the whole history; locates *where* a level changed.
* :func:`online_alerts` - the previous default, one new run at a time: the last ``persist``
  runs all sit beyond a noise-relative band around the median of a trailing baseline window
  (median and MAD on log values), the shift is larger than ``min_change_pct``, and a Mann-Whitney
  U test of recent vs baseline agrees; after an alert the baseline restarts at the change. Its
  failure modes on real-looking histories (measured): a spike that reverts makes it rebuild its
  baseline from mixed data and miss or delay the next real change; shifts of 1-2 sigmas and
  changes of the noise itself go unseen. ``regression.history.method: online`` still selects it.

Values are positive measurements (latencies, throughputs); work is done on their logarithm so
a step is a ratio and log-normal noise is symmetric.
"""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

import numpy as np
from scipy.stats import mannwhitneyu

_MAD_TO_SIGMA = 1.4826


@dataclass(frozen=True)
class Alert:
    """A detected level change. ``index`` is the first run of the new level; ``at`` the run at
    which it was detected (online) or the last run of the series (whole history)."""

    index: int
    at: int
    before: float  # robust level before (median), in the values' unit
    after: float  # robust level after (median)
    change_pct: float  # (after - before) / before * 100
    pvalue: float | None
    method: str

    @property
    def direction(self) -> Literal["up", "down"]:
        return "up" if self.change_pct > 0 else "down"


@dataclass(frozen=True)
class OnlineConfig:
    window: int = 30  # trailing baseline runs at most
    min_baseline: int = 10  # runs needed before anything can alert
    persist: int = 3  # the new level must hold this many runs (the optional k-runs rule)
    z: float = 2.5  # band half-width in robust sigmas of the baseline (tuned with the harness)
    min_change_pct: float = 2.0  # and never smaller than this
    alpha: float = 0.01  # Mann-Whitney U, two-sided
    need: int | None = None  # how many of the last `persist` runs must be beyond the band (default: all)

    def __post_init__(self) -> None:
        if self.persist < 1 or self.min_baseline < 3 or self.window < self.min_baseline:
            raise ValueError(f"bad online detector config: {self}")


def log_values(values: Sequence[float]) -> np.ndarray:
    """Log of a 1-D series of positive finite values; a ValueError names the first bad ones."""
    arr = np.asarray(values, dtype=float)
    if arr.ndim != 1:
        raise ValueError(f"expected a 1-D series, got shape {arr.shape}")
    if not np.all(np.isfinite(arr)) or np.any(arr <= 0):
        bad = arr[~(np.isfinite(arr) & (arr > 0))][:3]
        raise ValueError(f"values must be finite and > 0, got {bad.tolist()}")
    return np.log(arr)


def robust_sigma(x: np.ndarray) -> float:
    return float(_MAD_TO_SIGMA * np.median(np.abs(x - np.median(x))))


def _pct(before: float, after: float) -> float:
    return (after - before) / before * 100.0


def online_check(logv: np.ndarray, t: int, start: int, cfg: OnlineConfig) -> Alert | None:
    """Does run ``t`` complete a level change? Baseline: runs [max(start, t-persist-window+1),
    t-persist]; recent: the last ``persist`` runs up to ``t``."""
    recent_lo = t - cfg.persist + 1
    base_lo = max(start, recent_lo - cfg.window)
    if recent_lo - base_lo < cfg.min_baseline:
        return None
    base = logv[base_lo:recent_lo]
    recent = logv[recent_lo:t + 1]
    center = float(np.median(base))
    band = max(cfg.z * robust_sigma(base), np.log1p(cfg.min_change_pct / 100.0))
    dev = recent - center
    need = cfg.need or cfg.persist
    if not (np.sum(dev > band) >= need or np.sum(dev < -band) >= need):
        return None
    p = float(mannwhitneyu(recent, base, alternative="two-sided").pvalue)
    if p >= cfg.alpha:
        return None
    before, after = float(np.exp(center)), float(np.exp(np.median(recent)))
    return Alert(index=recent_lo, at=t, before=before, after=after, change_pct=_pct(before, after), pvalue=p,
                 method="online")


def online_alerts(values: Sequence[float], cfg: OnlineConfig = OnlineConfig()) -> list[Alert]:
    """Replay the series one run at a time, as the pipeline sees it."""
    logv = log_values(values)
    alerts: list[Alert] = []
    start = 0
    for t in range(len(logv)):
        alert = online_check(logv, t, start, cfg)
        if alert is not None:
            alerts.append(alert)
            start = alert.index  # the new level is the next baseline
    return alerts


def naive_alerts(values: Sequence[float], threshold_pct: float = 10.0) -> list[Alert]:
    """Each run against the previous run: a change beyond the threshold either way alerts."""
    arr = np.asarray(values, dtype=float)
    out = []
    for t in range(1, len(arr)):
        change = _pct(arr[t - 1], arr[t])
        if abs(change) > threshold_pct:
            out.append(Alert(index=t, at=t, before=float(arr[t - 1]), after=float(arr[t]), change_pct=change,
                             pvalue=None, method="naive"))
    return out


@dataclass(frozen=True)
class OtavaConfig:
    window_len: int = 50
    max_pvalue: float = 0.001
    min_magnitude: float = 0.0  # relative, e.g. 0.05 = 5 %
    log: bool = False  # run on 1 + log(value / median): steps become ratios, min_magnitude a fraction
    clip_sigma: float | None = None  # winsorise points beyond this many robust sigmas of a rolling median


def _winsorise(x: np.ndarray, k: float, half: int = 5) -> np.ndarray:
    """Clip each point to within k robust sigmas of the median of its neighbourhood (outliers
    are single points; a level change moves the neighbourhood too, so it survives)."""
    out = x.copy()
    sigma = robust_sigma(np.diff(x)) / np.sqrt(2) or 1e-12
    for i in range(len(x)):
        lo, hi = max(0, i - half), min(len(x), i + half + 1)
        med = float(np.median(x[lo:hi]))
        out[i] = min(max(x[i], med - k * sigma), med + k * sigma)
    return out


def otava_change_points(values: Sequence[float], cfg: OtavaConfig = OtavaConfig()) -> list[Alert]:
    """Whole-history change points with Apache Otava's E-divisive means + t-test merge."""
    from otava.analysis import compute_change_points

    raw = np.asarray(values, dtype=float)
    # Otava's magnitude is relative to the level: centre log values at 1 so it reads as a ratio
    if cfg.log:
        logv = log_values(raw)
        series = 1.0 + logv - float(np.median(logv))
    else:
        series = raw.copy()
    if cfg.clip_sigma is not None:
        series = _winsorise(series, cfg.clip_sigma)
    # Otava indexes Python sequences; a numpy array trips its empty-slice check (0.8.0)
    cps, _weak = compute_change_points([float(v) for v in series], window_len=cfg.window_len,
                                       max_pvalue=cfg.max_pvalue, min_magnitude=cfg.min_magnitude)
    out = []
    bounds = [0] + [int(cp.index) for cp in cps] + [len(raw)]
    for i, cp in enumerate(cps):
        idx = int(cp.index)
        before = float(np.median(raw[bounds[i]:idx]))
        after = float(np.median(raw[idx:bounds[i + 2]]))
        out.append(Alert(index=idx, at=len(raw) - 1, before=before, after=after, change_pct=_pct(before, after),
                         pvalue=float(cp.stats.pvalue), method="otava"))
    return out
