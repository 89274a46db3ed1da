"""The pass (:func:`analyse`) and its replay (:func:`replay`) over a metric's history
(:mod:`perf_tasks.regress.levels`): excursions, then levels on the runs kept, then noise; the
replay keeps, at each run, the findings not made at an earlier run.
"""
from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from scipy.special import ndtr, stdtrit

from perf_tasks.regress.detect import log_values
from perf_tasks.regress.levels.excursions import excursions
from perf_tasks.regress.levels.model import SIGMA_FLOOR, Change, LevelConfig, noise_sigma
from perf_tasks.regress.levels.noise import noise_segments, spread
from perf_tasks.regress.levels.segmentation import LOCAL_RUNS, pair, segment


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
    keep, found_excursions = excursions(y, sigma, cfg)
    pos = np.flatnonzero(keep)  # run index of each kept run
    x = y[pos]
    out: list[Change] = []
    min_transient = np.log1p(cfg.transient_min_pct / 100.0)
    min_log = np.log1p(cfg.min_change_pct / 100.0)
    for e in found_excursions:
        if e.returned and abs(e.median - e.level) >= min_transient:
            before, after = float(np.exp(e.level)), float(np.exp(e.median))
            out.append(Change("transient", e.start, e.end, at, before, after, (after / before - 1) * 100.0,
                              before_ci=None, after_ci=None, z=None, pvalue=None, start_before=e.start,
                              runs_before=0, runs_after=e.end - e.start + 1, last_before=e.start - 1))
    cuts = segment(x, sigma, cfg) if len(x) >= 2 * cfg.persist else []
    bounds = [0, *cuts, len(x)]
    for k in range(1, len(bounds) - 1):
        lo, tau, hi = bounds[k - 1], bounds[k], bounds[k + 1]
        old = float(np.median(x[max(lo, tau - LOCAL_RUNS):tau]))
        new = float(np.median(x[tau:min(hi, tau + LOCAL_RUNS)]))
        # held: the new level starts at its first run nearer the new median than the old one, and
        # has lasted `persist` runs from there (a run before a moderate excursion is not part of it)
        while tau < hi and abs(x[tau] - old) < abs(x[tau] - new):
            tau += 1
        if hi - tau < cfg.persist or (lo == 0 and tau < 2 * cfg.persist):  # (and not on a handful of first runs)
            continue
        z, sd = pair(x[lo:tau], x[tau:hi], sigma)  # the evidence: both whole segments
        b0, a1 = max(lo, tau - LOCAL_RUNS), min(hi, tau + LOCAL_RUNS)
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
    noise_cuts = noise_segments(y, sigma, cfg)
    nb = [0, *(t for t, _z in noise_cuts), len(d)]
    for k, (tau, z) in enumerate(noise_cuts, start=1):
        s_before, s_after = spread(d[nb[k - 1]:tau]), spread(d[tau:nb[k + 1]])
        out.append(Change("noise", tau + 1, nb[k + 1], at, 100 * s_before, 100 * s_after,
                          (s_after / max(s_before, SIGMA_FLOOR) - 1) * 100.0, before_ci=None, after_ci=None,
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
