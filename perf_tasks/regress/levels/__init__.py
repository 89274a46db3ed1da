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

The package, one module per step (the methods each implements are cited there):
:mod:`.model` (config, findings, the robust noise scale), :mod:`.excursions` (step 1),
:mod:`.segmentation` (step 2: binary and circular binary segmentation, a CUSUM-type scan),
:mod:`.noise` (step 3), :mod:`.analysis` (the pass and the replay).
"""
from __future__ import annotations

from perf_tasks.regress.levels.analysis import analyse, replay
from perf_tasks.regress.levels.model import Change, Kind, LevelConfig, noise_sigma

__all__ = ["Change", "Kind", "LevelConfig", "analyse", "noise_sigma", "replay"]
