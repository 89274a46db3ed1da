"""Evaluation harness for change detection: a seeded synthetic corpus with steps at known runs,
scored for recall, false alarms and detection delay. Pure: randomness comes in as a Generator.

Corpus: log-normal noise (1 %, 2 %, 5 % spread) in four variants (plain, 1 % outliers, bimodal,
slow drift), each with no step or an upward step of 5 %, 10 % or 20 % at a random run.
"""
from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

from perf_tasks.regress.detect import Alert

VARIANTS = ("plain", "outliers", "bimodal", "drift")
MATCH_RUNS = 5  # a detection counts when found within this many runs of the true change


@dataclass(frozen=True)
class Series:
    values: tuple[float, ...]
    change_at: int | None  # first run of the new level; None for no-change series
    step_pct: float
    noise_pct: float
    variant: str


def make_series(rng: np.random.Generator, *, length: int, noise_pct: float, step_pct: float, variant: str,
                level: float = 100.0) -> Series:
    sigma = np.log1p(noise_pct / 100.0)
    logv = rng.normal(0.0, sigma, size=length)
    if variant == "outliers":  # 1 % of runs hit by a slow outlier (1.5x to 3x)
        hit = rng.random(length) < 0.01
        logv[hit] += np.log(rng.uniform(1.5, 3.0, size=hit.sum()))
    elif variant == "bimodal":  # a quarter of runs land on a second mode 3 sigma up
        logv += (rng.random(length) < 0.25) * 3.0 * sigma
    elif variant == "drift":  # +3 % over the whole series
        logv += np.linspace(0.0, np.log(1.03), length)
    elif variant != "plain":
        raise ValueError(f"unknown variant {variant!r}; expected one of {VARIANTS}")
    change_at = None
    if step_pct:
        change_at = int(rng.integers(length // 3, 2 * length // 3))
        logv[change_at:] += np.log1p(step_pct / 100.0)
    return Series(tuple(level * np.exp(logv)), change_at, step_pct, noise_pct, variant)


def make_corpus(rng: np.random.Generator, *, per_cell: int, length: int = 100,
                noises: Sequence[float] = (1.0, 2.0, 5.0), steps: Sequence[float] = (0.0, 5.0, 10.0, 20.0),
                variants: Sequence[str] = VARIANTS) -> list[Series]:
    return [make_series(rng, length=length, noise_pct=n, step_pct=s, variant=v)
            for n in noises for v in variants for s in steps for _ in range(per_cell)]


@dataclass(frozen=True)
class Score:
    detected: bool  # the true change was found within MATCH_RUNS runs
    delay: int | None  # runs from the change to its detection
    false_alarms: int


def score(series: Series, alerts: list[Alert], *, online: bool) -> Score:
    """Online: an alert detects the change if it fires at a run in [c, c + MATCH_RUNS] and
    points at the new level; whole history: a change point within MATCH_RUNS runs of c."""
    c = series.change_at
    matched = None
    false = 0
    for a in alerts:
        hit = (c is not None and matched is None and a.change_pct > 0 and
               (c <= a.at <= c + MATCH_RUNS if online else abs(a.index - c) <= MATCH_RUNS))
        if hit:
            matched = a
        else:
            false += 1
    delay = (matched.at - c) if (matched is not None and online and c is not None) else None
    return Score(detected=matched is not None, delay=delay, false_alarms=false)


Detector = Callable[[Sequence[float]], list[Alert]]


@dataclass(frozen=True)
class CellResult:
    detector: str
    noise_pct: float
    variant: str
    step_pct: float
    series: int
    recall: float | None  # None for no-change cells
    recall_within_3: float | None
    false_alarms_per_100_runs: float
    series_with_false_alarm: float  # fraction
    delay_median: float | None
    delay_p90: float | None


def evaluate(corpus: Sequence[Series], detectors: dict[str, tuple[Detector, bool]]) -> list[CellResult]:
    """Run every detector (name -> (function, online?)) over the corpus, one row per cell."""
    cells: dict[tuple[float, str, float], list[Series]] = {}
    for s in corpus:
        cells.setdefault((s.noise_pct, s.variant, s.step_pct), []).append(s)
    out = []
    for name, (detect, online) in detectors.items():
        for (noise, variant, step), group in cells.items():
            scores = [score(s, detect(s.values), online=online) for s in group]
            runs = sum(len(s.values) for s in group)
            delays = [sc.delay for sc in scores if sc.delay is not None]
            stepped = step > 0
            out.append(CellResult(
                detector=name, noise_pct=noise, variant=variant, step_pct=step, series=len(group),
                recall=(sum(sc.detected for sc in scores) / len(scores)) if stepped else None,
                recall_within_3=(sum(sc.delay is not None and sc.delay <= 3 for sc in scores) / len(scores))
                if stepped and online else None,
                false_alarms_per_100_runs=100.0 * sum(sc.false_alarms for sc in scores) / runs,
                series_with_false_alarm=sum(sc.false_alarms > 0 for sc in scores) / len(scores),
                delay_median=float(np.median(delays)) if delays else None,
                delay_p90=float(np.percentile(delays, 90)) if delays else None,
            ))
    return out
