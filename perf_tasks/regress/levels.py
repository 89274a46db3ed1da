"""Whole-history change detection, re-run at every run: what the pipeline alerts on.

Pure functions of arrays: no I/O, no logging, no clock. Values are positive measurements
(latencies, throughputs); the work is done on their logarithm, so a step is a ratio and
log-normal noise is symmetric. The robust noise sigma comes from first differences (a level
change or a few outliers barely move it).

One pass (:func:`analyse`) over a history does three things:

1. **Excursions.** Scanning oldest first against a running level (median of the last 9 kept
   runs), a run more than ``outlier_sigma`` sigmas off opens a block; the block takes in the next
   runs (and kept runs just before it) that are nearer the block than the level, up to
   ``max_transient + 1`` runs. A block of at most ``max_transient`` runs that came back is a
   *transient*: left out of the levels (it never moves a baseline) and reported once, at the run
   it came back, when it is at least ``transient_min_pct``. A block still open at the end is left
   out while it is large (2 x ``outlier_sigma``: a spike or a big step, not known yet). A block
   that lasts ``max_transient + 1`` runs (and is one level) is a new level.
2. **Levels.** Binary segmentation of the kept runs. Each segment is scanned for the best cut
   into pieces of at least ``persist`` runs: one split, or an interval against the rest (circular
   binary segmentation: a plateau that came back). The statistic is the difference of means of
   the pieces, each winsorised at 2.5 sigmas around its own median, over its standard error from
   the pooled spread (or a piece's own, when larger: a noisier stretch must not look
   significant), taken as Student's t with the pooled degrees of freedom. A cut is kept when its
   |z| reaches ``z`` and the medians of the (at most 30) runs on each side differ by
   ``min_change_pct``; then the pieces are searched again, and adjacent segments that no longer
   differ are merged. A change is reported once its new level has *held*: ``persist`` runs from
   its first run nearer the new median than the old one. So a spike of up to ``max_transient``
   runs is never a level change, a large step is found at its ``persist``-th run, and a small
   sustained shift once enough runs pile up (the scan is a CUSUM over every run since the last
   change).
3. **Noise.** Binary segmentation of per-run scores over all runs: the absolute difference of
   consecutive runs (spread) and the share of runs more than 1.5 sigmas above / below a running
   median of 11 runs (a second mode appearing or going away), with at least ``noise_min_runs``
   runs per side, |z| of at least ``noise_z`` (corrected for the scores' lag-1 correlation) and
   a spread ratio of at least ``noise_ratio`` either way: reported as a change of noise.

:func:`replay` runs the pass on the history as it stood at each run and keeps, at each run,
the findings not made at an earlier run (levels: same direction within ``match_runs`` runs, or an
earlier one that moved; transients: the same first run; noise: within ``noise_min_runs`` runs).
That is what the DAG alerts on and what ``benchmarks/regression_harness.py`` measures.
Costs about 1 ms per pass over 120 runs of plain noise and 2 ms over 200 (more with changes to
segment; 2-vCPU VM): the pipeline's replay of 30 runs over a 200-run history is 0.1-0.2 s per
metric.
"""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from statistics import median
from typing import Literal

import numpy as np
from scipy.special import ndtr, ndtri, stdtr, stdtrit

from perf_tasks.regress.detect import log_values

_MAD_TO_SIGMA = 1.4826
_SIGMA_FLOOR = 1e-4  # log units (0.01 %): a constant series still has a finite z
_LEVEL_WINDOW = 9  # runs in the running level that excursions are judged against
_WINSOR = 2.5  # winsorise at this many robust sigmas around a piece's median before the scan

Kind = Literal["level", "transient", "noise"]


@dataclass(frozen=True)
class LevelConfig:
    persist: int = 4  # a new level must hold this many runs (one more than the longest transient)
    max_transient: int = 3  # an excursion of at most this many runs that comes back is a transient
    outlier_sigma: float = 4.0  # a run this many robust sigmas off the running level opens an excursion
    z: float = 4.5  # |z| of the best split needed to cut a segment (tuned with the harness)
    min_change_pct: float = 3.0  # and the medians must differ by at least this much
    transient_min_pct: float = 20.0  # excursions smaller than this are dropped silently (still left out)
    noise_z: float = 4.0  # |z| of the best split of the noise scores needed for a change of noise
    noise_ratio: float = 1.4  # and the spread must change by at least this factor (either way)
    noise_min_runs: int = 12  # runs on each side of a change of spread
    match_runs: int = 5  # a level change within this many runs of one already reported is the same
    min_runs: int = 8  # no finding before the history has this many runs

    def __post_init__(self) -> None:
        if self.max_transient < 0 or self.persist <= self.max_transient:
            raise ValueError(f"persist ({self.persist}) must exceed max_transient ({self.max_transient}): "
                             "otherwise a reverting spike could be reported as a level change")
        if self.z <= 0 or self.noise_z <= 0 or self.outlier_sigma <= 0 or self.noise_ratio <= 1:
            raise ValueError(f"bad level detector config: {self}")
        if self.min_runs < 2 * self.persist - 1 or self.noise_min_runs < 2:
            raise ValueError(f"min_runs ({self.min_runs}) must be at least 2 * persist - 1 ({2 * self.persist - 1})")


@dataclass(frozen=True)
class Change:
    """A finding in a history, indices into it (oldest first).

    ``level``: ``index`` is the first run of the new level, ``last_before`` the last of the old;
    ``before``/``after`` are the medians (in the values' unit) of the runs next to the change, at
    most 30 on each side, with ``*_ci`` their 95 % intervals: runs ``start_before .. last_before``
    (``runs_before`` of them kept) and ``index .. end`` (``runs_after``); ``excluded`` runs in
    that span were excursions left out. ``z`` compares the two whole segments. ``transient``: runs
    ``index .. end`` went off ``before`` to ``after`` and came back at ``end + 1``. ``noise``:
    ``before``/``after`` are the spreads (robust sigma of the log values, in %) and ``change_pct``
    their change. ``at`` is the run at which it was found."""

    kind: Kind
    index: int
    end: int
    at: int
    before: float
    after: float
    change_pct: float
    before_ci: tuple[float, float] | None
    after_ci: tuple[float, float] | None
    z: float | None
    pvalue: float | None  # nominal two-sided p of the split's z (not adjusted for the search)
    start_before: int
    runs_before: int
    runs_after: int
    excluded: int = 0  # runs left out (transients, pending) between start_before and end
    last_before: int = -1  # the last run of the old level (-1: none)

    @property
    def direction(self) -> Literal["up", "down"]:
        return "up" if self.change_pct > 0 else "down"


def noise_sigma(y: np.ndarray) -> float:
    """Robust noise scale of log values from first differences (unmoved by level changes and by a
    few outliers): 1.4826 * MAD(diff) / sqrt(2)."""
    if len(y) < 3:
        return _SIGMA_FLOOR
    d = np.diff(y)
    return max(float(_MAD_TO_SIGMA * np.median(np.abs(d - np.median(d))) / np.sqrt(2.0)), _SIGMA_FLOOR)


# --- 1. excursions ----------------------------------------------------------------------------

@dataclass(frozen=True)
class _Excursion:
    start: int
    end: int  # inclusive
    level: float  # running level (log) it left
    median: float  # its own median (log)
    returned: bool


def _excursions(values: np.ndarray, sigma: float, cfg: LevelConfig) -> tuple[np.ndarray, list[_Excursion]]:
    """Which runs count for the levels, and the excursions (closed and pending) left out."""
    y = [float(v) for v in values]  # plain floats: this loop is the hot spot of a replay
    n = len(y)
    keep = np.ones(n, dtype=bool)
    found: list[_Excursion] = []
    window: list[float] = []
    start_level = median(y[:_LEVEL_WINDOW])
    limit = cfg.outlier_sigma * sigma
    i = since = 0  # since: first run after the last new level (a block never reaches back past it)
    while i < n:
        level = median(window[-_LEVEL_WINDOW:]) if len(window) >= 3 else start_level
        if abs(y[i] - level) <= limit:
            window.append(y[i])
            i += 1
            continue
        j = i  # grow the block while the next run is nearer the block than the level
        while j + 1 < n and j - i < cfg.max_transient and abs(y[j + 1] - median(y[i:j + 1])) < abs(y[j + 1] - level):
            j += 1
        # and back over kept runs that are nearer the block too: a step only a little larger than
        # the limit often starts with a run inside it, which belongs to the new level
        k = i
        while (k - 1 >= since and j - k < cfg.max_transient and keep[k - 1]
               and abs(y[k - 1] - median(y[k:j + 1])) < abs(y[k - 1] - level)):
            k -= 1
        # a new level must be one level: a first run far from the rest (an outlier, then a spike)
        # is not part of it
        while j - k >= cfg.max_transient and k < i and abs(y[k] - median(y[k:j + 1])) > limit:
            k += 1
        if j - k >= cfg.max_transient and abs(y[k] - median(y[k:j + 1])) > limit:
            keep[i] = False  # k == i: an excursion of one run, then another excursion
            found.append(_Excursion(i, i, level, y[i], returned=True))
            i += 1
            continue
        if j - k + 1 <= cfg.max_transient:
            med = median(y[k:j + 1])
            # still open at the end: a large one waits (a spike or a big step, not known yet); a
            # moderate one stays in, and the held rule in analyse() keeps it from being a level
            # before it has lasted `persist` runs
            if j + 1 < n or abs(med - level) >= 2 * limit:
                keep[k:j + 1] = False
                found.append(_Excursion(k, j, level, med, returned=j + 1 < n))
        else:  # it lasted: a new level, and the running level starts again from it
            window = y[k:j + 1]
            since = j + 1
        i = j + 1
    return keep, found


# --- 2. levels --------------------------------------------------------------------------------

_OWN_VAR_SHRINK = 1.0  # a side's own variance counts once it is this many times the pooled one (levels)
_NOISE_VAR_SHRINK = 2.0  # the same for the noise scores
_LOCAL_RUNS = 30  # a step's size and the levels reported come from at most this many runs on each side
_MAX_PLATEAU = 40  # longest interval the circular scan tries (longer ones are two splits: keeps it O(n))


def _z(s_in: np.ndarray, q_in: np.ndarray, n_in: np.ndarray, s_tot: float, q_tot: float, n: int,
       shrink: float = _OWN_VAR_SHRINK) -> np.ndarray:
    """Standardised difference of the mean inside and outside (sums, sums of squares, counts):
    pooled within-group variance, or a group's own variance where it is much larger (a noisier
    regime must not make a few runs look significant)."""
    s_out, q_out, n_out = s_tot - s_in, q_tot - q_in, n - n_in
    ss_in = np.maximum(q_in - s_in ** 2 / n_in, 0.0)
    ss_out = np.maximum(q_out - s_out ** 2 / n_out, 0.0)
    pooled = np.maximum((ss_in + ss_out) / max(n - 2, 1), _SIGMA_FLOOR ** 2)
    var_in = np.maximum(pooled, ss_in / np.maximum(n_in - 1, 1) / shrink)
    var_out = np.maximum(pooled, ss_out / np.maximum(n_out - 1, 1) / shrink)
    return (s_in / n_in - s_out / n_out) / np.sqrt(var_in / n_in + var_out / n_out)


def _scan(x: np.ndarray, m: int) -> tuple[tuple[int, ...], float]:
    """The best cut of ``x`` into pieces of at least ``m`` runs: one split (left vs right) or, as in
    circular binary segmentation, an interval vs the rest (a plateau that came back). Returns the
    cut positions and their z (the new level minus the old one, over its standard error)."""
    n = len(x)
    c1 = np.concatenate([[0.0], np.cumsum(x)])
    c2 = np.concatenate([[0.0], np.cumsum(x * x)])
    best: tuple[tuple[int, ...], float] = ((), 0.0)
    tau = np.arange(m, n - m + 1)
    if len(tau):  # right side [tau, n) against the left
        z = _z(c1[n] - c1[tau], c2[n] - c2[tau], (n - tau).astype(float), c1[n], c2[n], n)
        k = int(np.argmax(np.abs(z)))
        best = ((int(tau[k]),), float(z[k]))
    a = np.arange(m, n - 2 * m + 1)
    if len(a):  # interval [a, b) against the rest, every piece at least m runs, at most _MAX_PLATEAU long
        width = np.arange(m, min(_MAX_PLATEAU, n - 2 * m) + 1)
        aa, ww = np.meshgrid(a, width, indexing="ij")
        bb = aa + ww
        ok = bb <= n - m
        aa, bb = aa[ok], bb[ok]
        z = _z(c1[bb] - c1[aa], c2[bb] - c2[aa], (bb - aa).astype(float), c1[n], c2[n], n)
        k = int(np.argmax(np.abs(z)))
        if abs(z[k]) > abs(best[1]):
            best = ((int(aa[k]), int(bb[k])), float(z[k]))
    return best


def _winsorise(x: np.ndarray, cuts: Sequence[int], sigma: float) -> np.ndarray:
    """Clip each piece to its own median +- _WINSOR sigmas (outliers lose their leverage; a step
    between pieces does not)."""
    bounds = [0, *cuts, len(x)]
    out = []
    for lo, hi in zip(bounds[:-1], bounds[1:]):
        if hi > lo:
            mid = float(np.median(x[lo:hi]))
            out.append(np.clip(x[lo:hi], mid - _WINSOR * sigma, mid + _WINSOR * sigma))
    return np.concatenate(out)


def _best_cut(x: np.ndarray, sigma: float, m: int) -> tuple[tuple[int, ...], float]:
    """Two passes: winsorise around the segment's median and scan; winsorise each piece of that
    cut around its own median and scan again (so a large step is not clipped away). The z is
    converted for the pooled spread's degrees of freedom."""
    if len(x) < 2 * m:
        return (), 0.0
    cuts, _z1 = _scan(_winsorise(x, (), sigma), m)
    cuts, z = _scan(_winsorise(x, cuts, sigma), m)
    return cuts, _as_normal(z, len(x) - 2)


def _as_normal(t: float, df: int) -> float:
    """The normal z with the same tail probability as Student's t with ``df`` degrees of freedom:
    with a pooled spread from few runs, a large t is weaker evidence (early history)."""
    if df >= 200:
        return t
    tail = float(stdtr(max(df, 1), -abs(t)))  # P(T < -|t|)
    return float(np.copysign(-ndtri(tail), t)) if tail > 0 else t


def _pair(left: np.ndarray, right: np.ndarray, sigma: float) -> tuple[float, float]:
    """z of two adjacent segments (each winsorised around its own median) and their pooled spread."""
    w = _winsorise(np.concatenate([left, right]), (len(left),), sigma)
    n, n_r = len(w), len(right)
    z = _z(np.array([w[len(left):].sum()]), np.array([(w[len(left):] ** 2).sum()]), np.array([float(n_r)]),
           float(w.sum()), float((w * w).sum()), n)
    ss = np.sum((w[:len(left)] - w[:len(left)].mean()) ** 2) + np.sum((w[len(left):] - w[len(left):].mean()) ** 2)
    return _as_normal(float(z[0]), n - 2), max(float(np.sqrt(ss / max(n - 2, 1))), _SIGMA_FLOOR)


def _step(x: np.ndarray, lo: int, tau: int, hi: int) -> float:
    """Size of the step at ``tau`` (log): medians of at most _LOCAL_RUNS runs on each side, so a
    slow drift over a long segment does not add up to a step."""
    return float(np.median(x[tau:min(hi, tau + _LOCAL_RUNS)]) - np.median(x[max(lo, tau - _LOCAL_RUNS):tau]))


def _segment(x: np.ndarray, sigma: float, cfg: LevelConfig) -> list[int]:
    """Change points (positions in x, each the first of its segment), ascending."""
    min_log = np.log1p(cfg.min_change_pct / 100.0)
    cuts: list[int] = []
    stack = [(0, len(x))]
    while stack:
        lo, hi = stack.pop()
        found, z = _best_cut(x[lo:hi], sigma, cfg.persist)
        if not found or abs(z) < cfg.z:
            continue
        if len(found) == 1:
            size = _step(x, lo, lo + found[0], hi)
        else:
            a, b = lo + found[0], lo + found[1]
            outside = np.concatenate([x[max(lo, a - _LOCAL_RUNS):a], x[b:min(hi, b + _LOCAL_RUNS)]])
            size = float(np.median(x[a:b]) - np.median(outside))
        pieces = [lo, *(lo + f for f in found), hi]
        if abs(size) >= min_log:
            cuts += pieces[1:-1]
        # else: significant but small where it is (the middle of a slow climb): not a change, but
        # each piece may still hold one, so search them too
        stack += list(zip(pieces[:-1], pieces[1:]))
    cuts.sort()
    # merge: drop the weakest change point whose neighbouring segments no longer differ
    while cuts:
        bounds = [0, *cuts, len(x)]
        weakest, weakest_z = None, np.inf
        for k in range(1, len(bounds) - 1):
            left, right = x[bounds[k - 1]:bounds[k]], x[bounds[k]:bounds[k + 1]]
            small = abs(_step(x, bounds[k - 1], bounds[k], bounds[k + 1])) < min_log
            score = -1.0 if small else abs(_pair(left, right, sigma)[0])
            if score < cfg.z and score < weakest_z:
                weakest, weakest_z = k - 1, score
        if weakest is None:
            break
        del cuts[weakest]
    return cuts


# --- 3. noise ---------------------------------------------------------------------------------
# Scored without the level segments, so a plateau or a step they missed does not look like wider
# noise: the spread from differences of consecutive kept runs (a level change adds one large
# difference, not a stretch of large residuals), the modality from residuals around a running
# median of 11 runs (it follows plateaus, not an isolated run on a second mode).

_SQRT2 = float(np.sqrt(2.0))
_MODE_HALF = 5  # running median of 2 * 5 + 1 runs


def _noise_scores(x: np.ndarray, sigma: float) -> list[np.ndarray]:
    """Scores (one per difference, i.e. per kept run from the second on) whose mean moves when
    the noise changes: the absolute difference (winsorised at 4 sigmas: the spread) and the
    shares of runs more than 1.5 sigmas above / below the running median (a second mode that
    appears or goes away: the spread alone barely sees a bimodal metric becoming stable)."""
    a = np.abs(np.diff(x)) / _SQRT2
    padded = np.pad(x, _MODE_HALF, mode="edge")
    med = np.median(np.lib.stride_tricks.sliding_window_view(padded, 2 * _MODE_HALF + 1), axis=1)
    r = (x - med)[1:]
    return [np.minimum(a, 4.0 * sigma), (r > 1.5 * sigma).astype(float), (r < -1.5 * sigma).astype(float)]


def _noise_split(scores: list[np.ndarray], m: int) -> tuple[int, float] | None:
    """The strongest single split of the noise scores with at least m values per side."""
    n = len(scores[0])
    if n < 2 * m:
        return None
    tau = np.arange(m, n - m + 1)
    best: tuple[int, float] | None = None
    for u in scores:
        c1 = np.concatenate([[0.0], np.cumsum(u)])
        c2 = np.concatenate([[0.0], np.cumsum(u * u)])
        z = _z(c1[n] - c1[tau], c2[n] - c2[tau], (n - tau).astype(float), c1[n], c2[n], n, _NOISE_VAR_SHRINK)
        # neighbouring scores share runs, so they are correlated (lag 1: about 0.2 for normal
        # noise, 0.35 for Student-t(3)): the variance of a sum is larger by 1 + 2 rho
        v = u - u.mean()
        rho = float(np.dot(v[:-1], v[1:]) / max(float(np.dot(v, v)), 1e-300))
        z = z / np.sqrt(1.0 + 2.0 * max(rho, 0.0))
        k = int(np.argmax(np.abs(z)))
        if best is None or abs(z[k]) > abs(best[1]):
            best = (int(tau[k]), _as_normal(float(z[k]), n - 2))
    return best


_TRIMMED_ABS_NORMAL = 0.6574  # mean of |Z| below its 90th percentile, Z standard normal


def _spread(d: np.ndarray) -> float:
    """Noise sigma from differences of consecutive runs: the mean absolute difference without
    its largest tenth (a spike's two differences do not count), scaled to sigma for normal noise.
    Unlike the MAD it sees a second mode."""
    a = np.sort(np.abs(d))[: max(1, int(0.9 * len(d)))]
    return float(np.mean(a) / (_TRIMMED_ABS_NORMAL * _SQRT2))


def _noise_segments(x: np.ndarray, sigma: float, cfg: LevelConfig) -> list[tuple[int, float]]:
    """Changes of noise (position in the differences of x, z), ascending: binary segmentation of
    the noise scores, a cut kept when the spread (or, for a change of modality, the spread around
    the running median) on its two sides differs by ``noise_ratio`` either way."""
    scores = _noise_scores(x, sigma)
    d = np.diff(x)
    out: list[tuple[int, float]] = []
    stack = [(0, len(d))]
    while stack:
        lo, hi = stack.pop()
        found = _noise_split([u[lo:hi] for u in scores], cfg.noise_min_runs)
        if found is None or abs(found[1]) < cfg.noise_z:
            continue
        tau = lo + found[0]
        ratio = _spread(d[tau:hi]) / max(_spread(d[lo:tau]), _SIGMA_FLOOR)
        if max(ratio, 1.0 / ratio) < cfg.noise_ratio:
            continue
        out.append((tau, found[1]))
        stack += [(lo, tau), (tau, hi)]
    return sorted(out)


# --- the pass and the replay ------------------------------------------------------------------

def _pvalue(z: float) -> float:
    return float(2.0 * ndtr(-abs(z)))


def _level_ci(seg: np.ndarray, sd: float) -> tuple[float, float]:
    """95 % interval of a segment's median (log): normal-theory standard error of the median with
    the pooled spread, t quantile for its size."""
    n = len(seg)
    half = float(stdtrit(max(n - 1, 1), 0.975)) * 1.2533 * sd / np.sqrt(n)
    mid = float(np.median(seg))
    return float(np.exp(mid - half)), float(np.exp(mid + half))


def analyse(values: Sequence[float] | np.ndarray, cfg: LevelConfig = LevelConfig(), *,
            logged: bool = False) -> list[Change]:
    """One pass over the whole history as it stands (the last run is ``len - 1``): level changes,
    transients that came back, and changes of noise, ordered by index. ``at`` is the last run."""
    y = np.asarray(values, dtype=float) if logged else log_values(values)
    n = len(y)
    if n < cfg.min_runs:
        return []
    at = n - 1
    sigma = noise_sigma(y)
    keep, excursions = _excursions(y, sigma, cfg)
    pos = np.flatnonzero(keep)  # run index of each kept run
    x = y[pos]
    out: list[Change] = []
    min_transient = np.log1p(cfg.transient_min_pct / 100.0)
    min_log = np.log1p(cfg.min_change_pct / 100.0)
    for e in excursions:
        if e.returned and abs(e.median - e.level) >= min_transient:
            before, after = float(np.exp(e.level)), float(np.exp(e.median))
            out.append(Change("transient", e.start, e.end, at, before, after, (after / before - 1) * 100.0,
                              before_ci=None, after_ci=None, z=None, pvalue=None, start_before=e.start,
                              runs_before=0, runs_after=e.end - e.start + 1, last_before=e.start - 1))
    cuts = _segment(x, sigma, cfg) if len(x) >= 2 * cfg.persist else []
    bounds = [0, *cuts, len(x)]
    for k in range(1, len(bounds) - 1):
        lo, tau, hi = bounds[k - 1], bounds[k], bounds[k + 1]
        old = float(np.median(x[max(lo, tau - _LOCAL_RUNS):tau]))
        new = float(np.median(x[tau:min(hi, tau + _LOCAL_RUNS)]))
        # held: the new level starts at its first run nearer the new median than the old one, and
        # has lasted `persist` runs from there (a run before a moderate excursion is not part of it)
        while tau < hi and abs(x[tau] - old) < abs(x[tau] - new):
            tau += 1
        if hi - tau < cfg.persist or (lo == 0 and tau < 2 * cfg.persist):  # (and not on a handful of first runs)
            continue
        z, sd = _pair(x[lo:tau], x[tau:hi], sigma)  # the evidence: both whole segments
        b0, a1 = max(lo, tau - _LOCAL_RUNS), min(hi, tau + _LOCAL_RUNS)
        left, right = x[b0:tau], x[tau:a1]  # the levels: the runs next to the change
        if abs(float(np.median(right) - np.median(left))) < min_log:
            continue
        before, after = float(np.exp(np.median(left))), float(np.exp(np.median(right)))
        first, last = int(pos[b0]), int(pos[a1 - 1])
        out.append(Change("level", int(pos[tau]), last, at, before, after, (after / before - 1) * 100.0,
                          before_ci=_level_ci(left, sd), after_ci=_level_ci(right, sd), z=z, pvalue=_pvalue(z),
                          start_before=first, runs_before=len(left), runs_after=len(right),
                          excluded=(last - first + 1) - (a1 - b0), last_before=int(pos[tau - 1])))
    # noise: over all runs, excursions included (a second mode far from the first is all
    # excursions to the level scan); d[i] belongs to run i + 1
    d = np.diff(y)
    noise_cuts = _noise_segments(y, sigma, cfg)
    nb = [0, *(t for t, _z in noise_cuts), len(d)]
    for k, (tau, z) in enumerate(noise_cuts, start=1):
        s_before, s_after = _spread(d[nb[k - 1]:tau]), _spread(d[tau:nb[k + 1]])
        out.append(Change("noise", tau + 1, nb[k + 1], at, 100 * s_before, 100 * s_after,
                          (s_after / max(s_before, _SIGMA_FLOOR) - 1) * 100.0, before_ci=None, after_ci=None,
                          z=z, pvalue=_pvalue(z), start_before=nb[k - 1], runs_before=tau - nb[k - 1] + 1,
                          runs_after=nb[k + 1] - tau, last_before=tau))
    out.sort(key=lambda c: (c.index, c.kind))
    return out


def _same(a: Change, b: Change, cfg: LevelConfig) -> bool:
    if a.kind != b.kind:
        return False
    if a.kind == "transient":
        return a.index == b.index
    if a.kind == "noise":  # located less precisely than a level
        return abs(a.index - b.index) <= cfg.noise_min_runs
    return a.direction == b.direction and abs(a.index - b.index) <= cfg.match_runs


def _moved(c: Change, seen: Sequence[Change], now: Sequence[Change], cfg: LevelConfig) -> bool:
    """Is level change ``c`` one reported before whose first run has moved as runs came in (the
    earlier one is no longer found where it was, and ``c`` is near it, same direction)?"""
    return c.kind == "level" and any(
        s.kind == "level" and s.direction == c.direction and abs(s.index - c.index) <= 3 * cfg.match_runs
        and not any(_same(o, s, cfg) for o in now) for s in seen)


def replay(values: Sequence[float], cfg: LevelConfig = LevelConfig(), *, start: int | None = None) -> list[Change]:
    """Run :func:`analyse` on the history as it stood at each run from ``start`` (default: from
    the first run anything can be found) to the last, and return the findings in the order they
    were first made, each with ``at`` = the run that found it. A finding is new when no finding
    made before is the same one (levels: same direction within ``match_runs`` runs, or one that
    moved; transients: same first run; noise: within ``noise_min_runs`` runs). Findings
    already there at ``start - 1`` count as made before (so a replay of the last runs only, as the
    pipeline does, does not re-report old changes). Deterministic."""
    y = log_values(values)
    n = len(y)
    first = cfg.min_runs - 1 if start is None else max(start, cfg.min_runs - 1)
    seen: list[Change] = analyse(y[:first], cfg, logged=True) if first > cfg.min_runs - 1 else []
    found: list[Change] = []
    for t in range(first, n):
        now = analyse(y[:t + 1], cfg, logged=True)
        for c in now:
            if not any(_same(c, s, cfg) for s in seen) and not _moved(c, seen, now, cfg):
                seen.append(c)
                found.append(c)
    return found
