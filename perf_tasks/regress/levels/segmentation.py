"""Step 2 of a pass: the levels, by binary segmentation (:mod:`perf_tasks.regress.levels`).

Methods, as implemented here:

- **Binary segmentation** (Vostrikova 1981, "Detecting disorder in multidimensional random
  processes", Soviet Math. Dokl. 24:55-59; Scott & Knott 1974): find the best single cut of a
  segment, keep it when significant, search both pieces again.
- **Circular binary segmentation** (Olshen, Venkatraman, Lucito & Wigler 2004, "Circular binary
  segmentation for the analysis of array-based DNA copy number data", Biostatistics 5:557-572):
  the scan also tries an interval against the rest of the segment, so a plateau that came back
  (two change points close together) is found in one step. Intervals are capped at 40 runs to
  keep the scan O(n).
- The scan statistic is the standardised difference of means (a two-sample t), i.e. the CUSUM
  statistic of Page (1954, "Continuous inspection schemes", Biometrika 41:100-115) maximised
  over the cut, on pieces winsorised at 2.5 robust sigmas around their own medians, with the
  pooled spread or a piece's own when larger (Welch 1947), referred to Student's t with the pooled
  degrees of freedom (:func:`as_normal`).
- Adjacent segments that no longer differ are merged (the pruning step of CBS).

Otava (Apache, ex Hunter; ``change_point_divisive/``) does the same divisive search with an
E-divisive statistic and a permutation test; this one is parametric on log values, so a pass is
cheap enough to replay at every run (costs: the package docstring).
"""
from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from scipy.special import ndtri, stdtr

from perf_tasks.regress.levels.model import SIGMA_FLOOR, LevelConfig

_WINSOR = 2.5  # winsorise at this many robust sigmas around a piece's median before the scan
_OWN_VAR_SHRINK = 1.0  # a side's own variance counts once it is this many times the pooled one (levels)
NOISE_VAR_SHRINK = 2.0  # the same for the noise scores
LOCAL_RUNS = 30  # a step's size and the levels reported come from at most this many runs on each side
_MAX_PLATEAU = 40  # longest interval the circular scan tries (longer ones are two splits: keeps it O(n))


def z_inside_outside(s_in: np.ndarray, q_in: np.ndarray, n_in: np.ndarray, s_tot: float, q_tot: float, n: int,
       shrink: float = _OWN_VAR_SHRINK) -> np.ndarray:
    """Standardised difference of the mean inside and outside (sums, sums of squares, counts):
    pooled within-group variance, or a group's own variance where it is much larger (a noisier
    regime must not make a few runs look significant)."""
    s_out, q_out, n_out = s_tot - s_in, q_tot - q_in, n - n_in
    ss_in = np.maximum(q_in - s_in ** 2 / n_in, 0.0)
    ss_out = np.maximum(q_out - s_out ** 2 / n_out, 0.0)
    pooled = np.maximum((ss_in + ss_out) / max(n - 2, 1), SIGMA_FLOOR ** 2)
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
        z = z_inside_outside(c1[n] - c1[tau], c2[n] - c2[tau], (n - tau).astype(float), c1[n], c2[n], n)
        k = int(np.argmax(np.abs(z)))
        best = ((int(tau[k]),), float(z[k]))
    a = np.arange(m, n - 2 * m + 1)
    if len(a):  # interval [a, b) against the rest, every piece at least m runs, at most _MAX_PLATEAU long
        width = np.arange(m, min(_MAX_PLATEAU, n - 2 * m) + 1)
        aa, ww = np.meshgrid(a, width, indexing="ij")
        bb = aa + ww
        ok = bb <= n - m
        aa, bb = aa[ok], bb[ok]
        z = z_inside_outside(c1[bb] - c1[aa], c2[bb] - c2[aa], (bb - aa).astype(float), c1[n], c2[n], n)
        k = int(np.argmax(np.abs(z)))
        if abs(z[k]) > abs(best[1]):
            best = ((int(aa[k]), int(bb[k])), float(z[k]))
    return best


def winsorise(x: np.ndarray, cuts: Sequence[int], sigma: float) -> np.ndarray:
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
    cuts, _z1 = _scan(winsorise(x, (), sigma), m)
    cuts, z = _scan(winsorise(x, cuts, sigma), m)
    return cuts, as_normal(z, len(x) - 2)


def as_normal(t: float, df: int) -> float:
    """The normal z with the same tail probability as Student's t with ``df`` degrees of freedom:
    with a pooled spread from few runs, a large t is weaker evidence (early history)."""
    if df >= 200:
        return t
    tail = float(stdtr(max(df, 1), -abs(t)))  # P(T < -|t|)
    return float(np.copysign(-ndtri(tail), t)) if tail > 0 else t


def pair(left: np.ndarray, right: np.ndarray, sigma: float) -> tuple[float, float]:
    """z of two adjacent segments (each winsorised around its own median) and their pooled spread."""
    w = winsorise(np.concatenate([left, right]), (len(left),), sigma)
    n, n_r = len(w), len(right)
    z = z_inside_outside(np.array([w[len(left):].sum()]), np.array([(w[len(left):] ** 2).sum()]),
                         np.array([float(n_r)]), float(w.sum()), float((w * w).sum()), n)
    ss = np.sum((w[:len(left)] - w[:len(left)].mean()) ** 2) + np.sum((w[len(left):] - w[len(left):].mean()) ** 2)
    return as_normal(float(z[0]), n - 2), max(float(np.sqrt(ss / max(n - 2, 1))), SIGMA_FLOOR)


def _step(x: np.ndarray, lo: int, tau: int, hi: int) -> float:
    """Size of the step at ``tau`` (log): medians of at most LOCAL_RUNS runs on each side, so a
    slow drift over a long segment does not add up to a step."""
    return float(np.median(x[tau:min(hi, tau + LOCAL_RUNS)]) - np.median(x[max(lo, tau - LOCAL_RUNS):tau]))


def segment(x: np.ndarray, sigma: float, cfg: LevelConfig) -> list[int]:
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
            outside = np.concatenate([x[max(lo, a - LOCAL_RUNS):a], x[b:min(hi, b + LOCAL_RUNS)]])
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
            score = -1.0 if small else abs(pair(left, right, sigma)[0])
            if score < cfg.z and score < weakest_z:
                weakest, weakest_z = k - 1, score
        if weakest is None:
            break
        del cuts[weakest]
    return cuts

