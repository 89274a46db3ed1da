"""Step 3 of a pass: changes of noise (:mod:`perf_tasks.regress.levels`).

Binary segmentation (as in :mod:`.segmentation`) of per-run scores whose mean moves when the
noise changes: the absolute difference of consecutive runs (a change of variance becomes a change
of mean of |differences|, as in Inclan & Tiao 1994, "Use of cumulative sums of squares for
retrospective detection of changes of variance", JASA 89:913-923, here on absolute values for
robustness) and the shares of runs far above / below a running median (a second mode appearing or
going away). The z is corrected for the scores' lag-1 correlation (the variance of a sum of
correlated terms is larger by 1 + 2 rho).

Scored without the level segments, so a plateau or a step they missed does not look like wider
noise: the spread from differences of consecutive kept runs (a level change adds one large
difference, not a stretch of large residuals), the modality from residuals around a running
median of 11 runs (it follows plateaus, not an isolated run on a second mode).
"""
from __future__ import annotations

import numpy as np

from perf_tasks.regress.levels.model import SIGMA_FLOOR, LevelConfig
from perf_tasks.regress.levels.segmentation import NOISE_VAR_SHRINK, as_normal, z_inside_outside

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
        z = z_inside_outside(c1[n] - c1[tau], c2[n] - c2[tau], (n - tau).astype(float), c1[n], c2[n], n,
                             NOISE_VAR_SHRINK)
        # neighbouring scores share runs, so they are correlated (lag 1: about 0.2 for normal
        # noise, 0.35 for Student-t(3)): the variance of a sum is larger by 1 + 2 rho
        v = u - u.mean()
        rho = float(np.dot(v[:-1], v[1:]) / max(float(np.dot(v, v)), 1e-300))
        z = z / np.sqrt(1.0 + 2.0 * max(rho, 0.0))
        k = int(np.argmax(np.abs(z)))
        if best is None or abs(z[k]) > abs(best[1]):
            best = (int(tau[k]), as_normal(float(z[k]), n - 2))
    return best


_TRIMMED_ABS_NORMAL = 0.6574  # mean of |Z| below its 90th percentile, Z standard normal


def spread(d: np.ndarray) -> float:
    """Noise sigma from differences of consecutive runs: the mean absolute difference without
    its largest tenth (a spike's two differences do not count), scaled to sigma for normal noise.
    Unlike the MAD it sees a second mode."""
    a = np.sort(np.abs(d))[: max(1, int(0.9 * len(d)))]
    return float(np.mean(a) / (_TRIMMED_ABS_NORMAL * _SQRT2))


def noise_segments(x: np.ndarray, sigma: float, cfg: LevelConfig) -> list[tuple[int, float]]:
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
        ratio = spread(d[tau:hi]) / max(spread(d[lo:tau]), SIGMA_FLOOR)
        if max(ratio, 1.0 / ratio) < cfg.noise_ratio:
            continue
        out.append((tau, found[1]))
        stack += [(lo, tau), (tau, hi)]
    return sorted(out)
