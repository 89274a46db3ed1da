"""Step 1 of a pass: excursions, the runs left out of the levels (:mod:`perf_tasks.regress.levels`).

Scanning oldest first against a running level (the median of the last 9 kept runs), a run more
than ``outlier_sigma`` robust sigmas off opens a block; the block takes in the next runs (and kept
runs just before it) that are nearer the block than the level, up to ``max_transient + 1`` runs.
A block of at most ``max_transient`` runs that came back is a *transient*; one still open at the
end is left out while it is large; one that lasts ``max_transient + 1`` runs is a new level. This
is the "outlier, then level shift" rule of intervention analysis (Fox 1972, "Outliers in time
series", JRSS B 34:350-363: additive outliers vs level shifts), run online with a median level
so that one outlier never moves the reference.
"""
from __future__ import annotations

from dataclasses import dataclass
from statistics import median

import numpy as np

from perf_tasks.regress.levels.model import LevelConfig

_LEVEL_WINDOW = 9  # runs in the running level that excursions are judged against


@dataclass(frozen=True)
class Excursion:
    start: int
    end: int  # inclusive
    level: float  # running level (log) it left
    median: float  # its own median (log)
    returned: bool


def excursions(values: np.ndarray, sigma: float, cfg: LevelConfig) -> tuple[np.ndarray, list[Excursion]]:
    """Which runs count for the levels, and the excursions (closed and pending) left out."""
    y = [float(v) for v in values]  # plain floats: this loop is the hot spot of a replay
    n = len(y)
    keep = np.ones(n, dtype=bool)
    found: list[Excursion] = []
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
            found.append(Excursion(i, i, level, y[i], returned=True))
            i += 1
            continue
        if j - k + 1 <= cfg.max_transient:
            med = median(y[k:j + 1])
            # still open at the end: a large one waits (a spike or a big step, not known yet); a
            # moderate one stays in, and the held rule in analyse() keeps it from being a level
            # before it has lasted `persist` runs
            if j + 1 < n or abs(med - level) >= 2 * limit:
                keep[k:j + 1] = False
                found.append(Excursion(k, j, level, med, returned=j + 1 < n))
        else:  # it lasted: a new level, and the running level starts again from it
            window = y[k:j + 1]
            since = j + 1
        i = j + 1
    return keep, found
