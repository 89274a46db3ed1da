"""Evaluation harness for change detection: a seeded synthetic corpus with known events, scored
for recall, false alarms, detection delay and how excursions are reported. Pure: randomness
comes in as a Generator, nothing is timed.

Each series has ``length`` runs of multiplicative noise (``noise_pct`` is its robust sigma: the
MAD-based sigma of the log values) and, for stepped cells, one upward level step at a random run
in the middle third. Steps: none, ``near`` (1.5 noise sigmas: 3 % at 2 % noise, 4.5 % at 3 %),
10 % and 20 %. Variants, each what real benchmark histories show:

* ``gauss``: log-normal noise.
* ``heavy``: Student-t noise with 3 degrees of freedom (about 2 % of runs beyond 4 sigmas).
* ``spikes``: heavy, plus large excursions of 1-3 runs (+40 to +100 %, one in five -30 to -50 %)
  that come back, about one per 40 runs; a stepped series also has one 2-6 runs before its step.
* ``plateaus``: heavy, plus one or two plateaus of 4-8 runs at +-8 to 20 % that come back.
* ``noise``: the noise itself changes once, away from the step: 2.5x wider, 2.5x narrower, a
  bimodal metric (a quarter of runs 3 sigmas up) becoming stable, or the reverse.
* ``bimodal``: a quarter of the runs land on a second mode 3 sigmas up, throughout.
* ``drift``: log-normal noise plus a slow drift of +3 % over the whole series.

Scoring (level findings): a step is found by a finding pointing up with its first run within
``MATCH_RUNS`` of the true one, made at or after the step (delay: runs from the step to the run
that found it; whole-history detectors run once at the end and have no delay). A level finding
within ``MATCH_RUNS`` of a plateau's start or end is allowed (a plateau is a real, temporary
level); every other level finding is a false alarm, and one within 2 runs of a spike (and not
within ``2 * MATCH_RUNS`` of the step: that is the step located off) is also counted as a spike
reported as a level change. Noise findings within ``NOISE_MATCH_RUNS`` of the change of noise
count as found; transient findings overlapping a spike count as that spike reported.
"""
from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

VARIANTS = ("gauss", "heavy", "spikes", "plateaus", "noise", "bimodal", "drift")
STEPS = ("none", "near", "10 %", "20 %")
NEAR_SIGMAS = 1.5
MATCH_RUNS = 5
NOISE_MATCH_RUNS = 10
_T3_MAD_SIGMA = 1.1341  # 1.4826 * MAD of Student-t(3): divide t3 draws by it for a robust sigma of 1


@dataclass(frozen=True)
class Series:
    values: tuple[float, ...]
    change_at: int | None  # first run of the new level; None for no-change series
    step_pct: float
    step: str  # one of STEPS
    noise_pct: float
    variant: str
    spikes: tuple[tuple[int, int], ...] = ()  # reverting excursions (first, last run)
    plateaus: tuple[tuple[int, int], ...] = ()
    noise_at: int | None = None  # first run of the new noise
    noise_kind: str = ""


def _free(rng: np.random.Generator, taken: list[tuple[int, int]], length: int, lo: int, hi: int,
          size: int, gap: int = 3) -> int | None:
    """A start in [lo, hi) for a block of ``size`` runs at least ``gap`` runs from every taken block."""
    for _ in range(50):
        s = int(rng.integers(lo, max(lo + 1, hi)))
        if s + size <= length and all(s + size + gap <= a or s >= b + gap for a, b in taken):
            return s
    return None


def make_series(rng: np.random.Generator, *, length: int, noise_pct: float, step: str, variant: str,
                level: float = 100.0) -> Series:
    if variant not in VARIANTS:
        raise ValueError(f"unknown variant {variant!r}; expected one of {VARIANTS}")
    if step not in STEPS:
        raise ValueError(f"unknown step {step!r}; expected one of {STEPS}")
    sigma = np.log1p(noise_pct / 100.0)
    step_log = {"none": 0.0, "near": NEAR_SIGMAS * sigma, "10 %": np.log(1.10), "20 %": np.log(1.20)}[step]
    heavy = variant in ("heavy", "spikes", "plateaus")
    noise = (rng.standard_t(3, size=length) / _T3_MAD_SIGMA if heavy else rng.normal(size=length)) * sigma
    change_at = int(rng.integers(length // 3, 2 * length // 3)) if step != "none" else None
    taken: list[tuple[int, int]] = [] if change_at is None else [(change_at, change_at)]
    shift = np.zeros(length)
    spikes: list[tuple[int, int]] = []
    plateaus: list[tuple[int, int]] = []
    noise_at, noise_kind = None, ""
    if variant == "bimodal":
        noise += (rng.random(length) < 0.25) * 3.0 * sigma
    elif variant == "drift":
        shift += np.linspace(0.0, np.log(1.03), length)
    elif variant == "spikes":
        wanted = []
        if change_at is not None:  # one excursion just before the step (the case that used to hide it)
            size = int(rng.integers(1, 4))
            gap = int(rng.integers(2, 7))
            if change_at - gap - size >= 1:
                wanted.append(change_at - gap - size)
                spikes.append((change_at - gap - size, change_at - gap - 1))
                taken.append(spikes[-1])
        for _ in range(int(rng.poisson(length / 40))):
            size = int(rng.integers(1, 4))
            s = _free(rng, taken, length, 1, length - size, size)
            if s is not None:
                spikes.append((s, s + size - 1))
                taken.append(spikes[-1])
        for a, b in spikes:
            up = rng.random() < 0.8
            shift[a:b + 1] += np.log(rng.uniform(1.4, 2.0)) if up else np.log(rng.uniform(0.5, 0.7))
    elif variant == "plateaus":
        for _ in range(int(rng.integers(1, 3))):
            size = int(rng.integers(4, 9))
            s = _free(rng, taken, length, 10, length - size - 5, size, gap=MATCH_RUNS + 2)
            if s is not None:
                plateaus.append((s, s + size - 1))
                taken.append(plateaus[-1])
                shift[s:s + size] += np.log(rng.uniform(1.08, 1.20)) * (1 if rng.random() < 0.7 else -1)
    elif variant == "noise":
        noise_kind = str(rng.choice(["wider", "narrower", "bimodal-to-stable", "stable-to-bimodal"]))
        s = _free(rng, taken, length, length // 4, 3 * length // 4, 1, gap=15)
        noise_at = s if s is not None else length // 4
        late = np.arange(length) >= noise_at
        if noise_kind == "wider":
            noise = np.where(late, 2.5 * noise, noise)
        elif noise_kind == "narrower":
            noise = np.where(late, noise, 2.5 * noise)
        else:
            bump = (rng.random(length) < 0.25) * 3.0 * sigma
            noise += np.where(late, 0.0, bump) if noise_kind == "bimodal-to-stable" else np.where(late, bump, 0.0)
    if change_at is not None:
        shift[change_at:] += step_log
    return Series(tuple(level * np.exp(noise + shift)), change_at, float(np.expm1(step_log) * 100), step, noise_pct,
                  variant, tuple(spikes), tuple(plateaus), noise_at, noise_kind)


def make_corpus(rng: np.random.Generator, *, per_cell: int, length: int = 120,
                noises: Sequence[float] = (2.0, 3.0), steps: Sequence[str] = STEPS,
                variants: Sequence[str] = VARIANTS) -> list[Series]:
    return [make_series(rng, length=length, noise_pct=n, step=s, variant=v)
            for n in noises for v in variants for s in steps for _ in range(per_cell)]


@dataclass(frozen=True)
class Score:
    detected: bool  # the true step was found
    delay: int | None  # runs from the step to the run that found it (online detectors)
    false_alarms: int  # level findings that match nothing (spikes reported as levels included)
    spike_levels: int  # level findings at a spike
    spikes_as_transients: int  # spikes reported as transients
    noise_found: bool | None  # None: no change of noise in this series
    plateau_levels: int  # level findings at a plateau's start or end (allowed)
    noise_false: int = 0  # noise findings away from any change of noise


def _kind(f: Any) -> str:
    return getattr(f, "kind", "level")


def score(series: Series, findings: Sequence[Any], *, online: bool) -> Score:
    """Findings: objects with ``index``, ``at``, ``change_pct`` and optionally ``kind``
    (``level``, ``transient`` or ``noise``; default ``level``)."""
    c = series.change_at
    matched = None
    false = spike_levels = plateau_levels = 0
    for f in sorted((f for f in findings if _kind(f) == "level"), key=lambda f: f.at):
        if (c is not None and matched is None and f.change_pct > 0 and abs(f.index - c) <= MATCH_RUNS
                and (not online or f.at >= c)):
            matched = f
        elif any(abs(f.index - a) <= MATCH_RUNS or abs(f.index - (b + 1)) <= MATCH_RUNS for a, b in series.plateaus):
            plateau_levels += 1
        else:
            false += 1
            near_step = c is not None and abs(f.index - c) <= 2 * MATCH_RUNS  # a step located off, not the spike
            spike_levels += not near_step and any(a - 2 <= f.index <= b + 2 for a, b in series.spikes)
    transients = [f for f in findings if _kind(f) == "transient"]
    as_transients = sum(any(f.index <= b and getattr(f, "end", f.index) >= a for f in transients)
                        for a, b in series.spikes)
    noise = [f for f in findings if _kind(f) == "noise"]
    near = [f for f in noise if series.noise_at is not None and abs(f.index - series.noise_at) <= NOISE_MATCH_RUNS]
    noise_found = bool(near) if series.noise_at is not None else None
    delay = (matched.at - c) if (matched is not None and online and c is not None) else None
    return Score(matched is not None, delay, false, spike_levels, as_transients, noise_found, plateau_levels,
                 noise_false=len(noise) - len(near))


Detector = Callable[[Sequence[float]], Sequence[Any]]


@dataclass(frozen=True)
class CellResult:
    detector: str
    noise_pct: float
    variant: str
    step: str
    series: int
    runs: int
    recall: float | None  # None for no-change cells
    recall_within_3: float | None  # online only
    delays: tuple[int, ...] = field(default=())  # of the found steps (online only)
    false_alarms: int = 0
    series_with_false_alarm: int = 0
    series_with_spike_level: int = 0
    spikes: int = 0
    spikes_as_transients: int = 0
    noise_changes: int = 0
    noise_found: int = 0
    plateau_levels: int = 0
    series_with_false_noise: int = 0


def evaluate_cell(name: str, detect: Detector, online: bool, group: Sequence[Series]) -> CellResult:
    s0 = group[0]
    scores = [score(s, detect(s.values), online=online) for s in group]
    stepped = s0.step != "none"
    delays = tuple(sc.delay for sc in scores if sc.delay is not None)
    return CellResult(
        detector=name, noise_pct=s0.noise_pct, variant=s0.variant, step=s0.step, series=len(group),
        runs=sum(len(s.values) for s in group),
        recall=(sum(sc.detected for sc in scores) / len(scores)) if stepped else None,
        recall_within_3=(sum(sc.delay is not None and sc.delay <= 3 for sc in scores) / len(scores))
        if stepped and online else None,
        delays=delays,
        false_alarms=sum(sc.false_alarms for sc in scores),
        series_with_false_alarm=sum(sc.false_alarms > 0 for sc in scores),
        series_with_spike_level=sum(sc.spike_levels > 0 for sc in scores),
        spikes=sum(len(s.spikes) for s in group),
        spikes_as_transients=sum(sc.spikes_as_transients for sc in scores),
        noise_changes=sum(sc.noise_found is not None for sc in scores),
        noise_found=sum(bool(sc.noise_found) for sc in scores),
        plateau_levels=sum(sc.plateau_levels for sc in scores),
        series_with_false_noise=sum(sc.noise_false > 0 for sc in scores),
    )


def cells(corpus: Sequence[Series]) -> dict[tuple[float, str, str], list[Series]]:
    out: dict[tuple[float, str, str], list[Series]] = {}
    for s in corpus:
        out.setdefault((s.noise_pct, s.variant, s.step), []).append(s)
    return out


def evaluate(corpus: Sequence[Series], detectors: dict[str, tuple[Detector, bool]]) -> list[CellResult]:
    """Run every detector (name -> (function, online?)) over the corpus, one row per cell."""
    groups = cells(corpus)
    return [evaluate_cell(name, detect, online, group)
            for name, (detect, online) in detectors.items() for group in groups.values()]
