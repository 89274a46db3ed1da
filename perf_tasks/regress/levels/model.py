"""The level detector's configuration, its findings, and the robust noise scale everything is
measured in (:mod:`perf_tasks.regress.levels`).

The noise scale is the median absolute deviation (Hampel 1974, "The influence curve and its role
in robust estimation", JASA 69:383-393) of first differences, scaled to a normal sigma (x 1.4826)
and by 1/sqrt(2) for the difference: a level change adds one large difference, a few outliers a
few, so neither moves it.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np

MAD_TO_SIGMA = 1.4826
SIGMA_FLOOR = 1e-4  # log units (0.01 %): a constant series still has a finite z

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
        return SIGMA_FLOOR
    d = np.diff(y)
    return max(float(MAD_TO_SIGMA * np.median(np.abs(d - np.median(d))) / np.sqrt(2.0)), SIGMA_FLOOR)

