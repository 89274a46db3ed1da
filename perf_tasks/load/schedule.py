"""Arrival schedules for the open model: pure functions of a rate profile and a seeded generator.

A rate profile starts at ``start_rate_per_s`` and goes through stages; each stage ramps linearly
from the previous rate to its ``target_rate_per_s`` over ``duration_s`` (k6's ramping arrival
rate). A constant rate is one stage whose start and target are equal.

Arrivals are placed by inverting the cumulative intensity ``L(t) = integral of rate``:

- ``constant``: the k-th arrival is at ``L^-1(k)`` (k = 0, 1, ...): evenly spaced at a fixed rate,
  spaced by the instantaneous rate during ramps;
- ``poisson``: at ``L^-1(E1 + ... + Ek)`` with unit exponential ``E``: an (inhomogeneous) Poisson
  process with the profile as its intensity.

Sharding takes every K-th arrival of the one full schedule (:func:`shard_offsets`), so K shards
together send exactly the arrivals one process would have sent.
"""
from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

import numpy as np

ArrivalProcess = Literal["constant", "poisson"]
ARRIVAL_PROCESSES: tuple[str, ...] = ("constant", "poisson")


@dataclass(frozen=True)
class Stage:
    """Ramp linearly to ``target_rate_per_s`` over ``duration_s`` seconds, from the previous
    stage's target (or from ``from_rate_per_s`` when given: a step change at the stage start)."""

    duration_s: float
    target_rate_per_s: float
    from_rate_per_s: float | None = None

    def __post_init__(self) -> None:
        if not (isinstance(self.duration_s, (int, float)) and math.isfinite(self.duration_s) and self.duration_s > 0):
            raise ValueError(f"stage duration_s must be a positive number of seconds, got {self.duration_s!r}")
        if not (isinstance(self.target_rate_per_s, (int, float)) and math.isfinite(self.target_rate_per_s)
                and self.target_rate_per_s >= 0):
            raise ValueError(f"stage target_rate_per_s must be >= 0 requests/s, got {self.target_rate_per_s!r}")
        if self.from_rate_per_s is not None and not (math.isfinite(self.from_rate_per_s) and self.from_rate_per_s >= 0):
            raise ValueError(f"stage from_rate_per_s must be >= 0 requests/s, got {self.from_rate_per_s!r}")


@dataclass(frozen=True)
class RateProfile:
    """Where the rate starts and the stages it goes through (requests per second)."""

    start_rate_per_s: float
    stages: tuple[Stage, ...]

    def __post_init__(self) -> None:
        if not self.stages:
            raise ValueError("a rate profile needs at least one stage")
        if not (math.isfinite(self.start_rate_per_s) and self.start_rate_per_s >= 0):
            raise ValueError(f"start_rate_per_s must be >= 0, got {self.start_rate_per_s!r}")

    @property
    def duration_s(self) -> float:
        return float(sum(s.duration_s for s in self.stages))

    def expected_count(self) -> float:
        """The integral of the rate over the whole profile: the mean number of arrivals."""
        return float(_cumulative(self)[1][-1])

    def mean_rate_per_s(self) -> float:
        return self.expected_count() / self.duration_s


def constant_rate(rate_per_s: float, duration_s: float) -> RateProfile:
    return RateProfile(float(rate_per_s), (Stage(float(duration_s), float(rate_per_s)),))


def ramped_rate(rate_per_s: float, duration_s: float, ramp: Sequence[Stage] = (),
                start_rate_per_s: float = 0.0) -> RateProfile:
    """Ramp stages first (from ``start_rate_per_s``), then hold ``rate_per_s`` until ``duration_s``."""
    if not ramp:
        return constant_rate(rate_per_s, duration_s)
    ramp_s = sum(s.duration_s for s in ramp)
    if ramp_s > duration_s + 1e-9:
        raise ValueError(f"ramp stages last {ramp_s:g} s, longer than the run's duration_s {duration_s:g}")
    stages = list(ramp)
    if duration_s - ramp_s > 1e-9:  # hold: a step to rate_per_s if the ramp ended elsewhere
        stages.append(Stage(duration_s - ramp_s, float(rate_per_s), from_rate_per_s=float(rate_per_s)))
    return RateProfile(float(start_rate_per_s), tuple(stages))


def _cumulative(profile: RateProfile) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Stage start times and cumulative intensity at each boundary; each stage's start and end rate."""
    durations = np.array([s.duration_s for s in profile.stages], dtype=np.float64)
    ends = np.array([s.target_rate_per_s for s in profile.stages], dtype=np.float64)
    begins = np.array([s.from_rate_per_s if s.from_rate_per_s is not None else
                       (profile.start_rate_per_s if i == 0 else profile.stages[i - 1].target_rate_per_s)
                       for i, s in enumerate(profile.stages)], dtype=np.float64)
    starts = np.concatenate([[0.0], np.cumsum(durations)])
    areas = 0.5 * (begins + ends) * durations
    return starts, np.concatenate([[0.0], np.cumsum(areas)]), begins, ends


def invert_intensity(profile: RateProfile, targets: np.ndarray) -> np.ndarray:
    """Times ``t`` (seconds) with ``L(t) = target``, for sorted targets in ``[0, L(end))``."""
    starts, cum, begins, ends = _cumulative(profile)
    durations = np.diff(starts)
    j = np.searchsorted(cum, targets, side="right") - 1  # the last stage starting at or below the target
    j = np.clip(j, 0, len(durations) - 1)
    x = targets - cum[j]
    r0 = begins[j]
    accel = (ends[j] - r0) / durations[j]
    # tau solves r0 tau + accel tau^2 / 2 = x; this form is stable for accel -> 0 and r0 -> 0
    root = np.sqrt(np.maximum(r0 * r0 + 2.0 * accel * x, 0.0))
    denom = r0 + root
    with np.errstate(divide="ignore", invalid="ignore"):
        tau = np.where(denom > 0, 2.0 * x / np.where(denom > 0, denom, 1.0), 0.0)
    return starts[j] + np.minimum(tau, durations[j])


def arrival_offsets(profile: RateProfile, process: ArrivalProcess, *, rng: np.random.Generator | None = None,
                    max_count: int | None = None) -> np.ndarray:
    """Sorted arrival times in seconds from the start, all ``< profile.duration_s``.

    ``process="poisson"`` needs ``rng`` (a seeded ``numpy.random.Generator``); ``max_count`` cuts
    the schedule (the run's request budget).
    """
    total = profile.expected_count()
    limit = max_count if max_count is not None else math.inf
    if max_count is not None and max_count < 0:
        raise ValueError(f"max_count must be >= 0, got {max_count}")
    if process == "constant":
        n = min(math.ceil(total - 1e-9), limit) if total > 0 else 0
        targets = np.arange(int(n), dtype=np.float64)
    elif process == "poisson":
        if rng is None:
            raise ValueError("a Poisson schedule needs a seeded rng (numpy.random.Generator)")
        chunks: list[np.ndarray] = []
        level, count = 0.0, 0
        while count < limit:
            want = int(min(limit - count, max(16.0, (total - level) * 1.05 + 6 * math.sqrt(max(total - level, 1.0)))))
            steps = np.cumsum(rng.exponential(1.0, size=want)) + level
            inside = steps[steps < total]
            chunks.append(inside)
            count += len(inside)
            if len(inside) < want:
                break
            level = float(steps[-1])
        targets = np.concatenate(chunks) if chunks else np.empty(0)
        if max_count is not None:
            targets = targets[:max_count]
    else:
        raise ValueError(f"unknown arrival process {process!r}; expected one of {ARRIVAL_PROCESSES}")
    if len(targets) == 0:
        return np.empty(0, dtype=np.float64)
    times = invert_intensity(profile, targets)
    # rounding can put the last arrival at the very end; the schedule is the half-open [0, duration)
    return times[times < profile.duration_s]


def shard_offsets(offsets: np.ndarray, index: int, count: int) -> np.ndarray:
    """Arrivals of shard ``index`` of ``count``: every ``count``-th arrival starting at ``index``."""
    if not (isinstance(count, int) and count >= 1 and isinstance(index, int) and 0 <= index < count):
        raise ValueError(f"shard index must be in [0, {count}), got index={index!r} count={count!r}")
    return offsets[index::count]


def to_ns(offsets_s: np.ndarray) -> np.ndarray:
    """Seconds (float) -> integer nanoseconds, for the engine's clock (``time.perf_counter_ns``)."""
    return np.round(offsets_s * 1e9).astype(np.int64)
