"""Building a failure scenario's result: its parameters by profile, its metrics with targets from
``config/stress.yaml``, one :class:`~perf_tasks.results.BenchmarkResult` in suite ``stress``.

A scenario's config section (``ctx.config``) may hold ``targets`` (metric name -> ``{max: x}`` or
``{min: x}``, optionally ``warning`` and ``severity``) and per-profile parameter overrides under
``profiles: {smoke: {...}, standard: {...}, full: {...}}``; each scenario states its defaults.
"""
from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

from perf_tasks.errors import ConfigError
from perf_tasks.results import BenchmarkResult, Direction, Metric, Target
from perf_tasks.stress.base import SUITE, StressContext
from perf_tasks.validate.results import UNIT_SUFFIXES

SOURCE = "config/stress.yaml"


def params_for(ctx: StressContext, defaults: Mapping[str, Mapping[str, Any]]) -> dict[str, Any]:
    """``defaults[ctx.profile]`` overlaid with ``ctx.config['profiles'][ctx.profile]``; a key the
    scenario does not know, or a value of another type, is a ConfigError naming it."""
    if ctx.profile not in defaults:
        raise ConfigError(f"scenario {ctx.name!r}: unknown profile {ctx.profile!r}; expected one of "
                          f"{sorted(defaults)}")
    out = dict(defaults[ctx.profile])
    given = (ctx.config.get("profiles") or {}).get(ctx.profile) or {}
    if not isinstance(given, Mapping):
        raise ConfigError(f"{SOURCE} {ctx.name}.profiles.{ctx.profile}: expected a mapping, got {given!r}")
    for key, value in given.items():
        if key not in out:
            raise ConfigError(f"{SOURCE} {ctx.name}.profiles.{ctx.profile}.{key}: unknown parameter; "
                              f"known: {sorted(out)}")
        want = type(out[key])
        if want is float and isinstance(value, int) and not isinstance(value, bool):
            value = float(value)
        if not isinstance(value, want) or isinstance(value, bool) != isinstance(out[key], bool):
            raise ConfigError(f"{SOURCE} {ctx.name}.profiles.{ctx.profile}.{key}: expected "
                              f"{want.__name__}, got {value!r}")
        out[key] = value
    return out


def target_for(ctx: StressContext, metric: str) -> Target | None:
    spec = (ctx.config.get("targets") or {}).get(metric)
    if spec is None:
        return None
    where = f"{SOURCE} {ctx.name}.targets.{metric}"
    if not isinstance(spec, Mapping):
        raise ConfigError(f"{where}: expected a mapping like {{max: 0}}, got {spec!r}")
    try:
        return Target(max=spec.get("max"), min=spec.get("min"), severity=spec.get("severity", "critical"),
                      warning=spec.get("warning"), source=where)
    except (TypeError, ValueError) as exc:
        raise ConfigError(f"{where}: {exc}") from None


def pct(part: float, whole: float) -> float | None:
    """``100 * part / whole``; None (no data) when there is no whole."""
    return None if not whole else 100.0 * part / whole


def unit_of(name: str) -> str:
    """The unit a metric name promises by its suffix (``_ms`` -> ``ms``, ``_pct`` -> ``%``...: what
    the results validator checks); ValueError for a name without one."""
    for suffix, unit in UNIT_SUFFIXES:
        if name.endswith(suffix):
            return unit
    raise ValueError(f"metric name {name!r} must end in a unit suffix {[s for s, _ in UNIT_SUFFIXES]}")


class Metrics:
    """Collects a scenario's metrics (``stress.<scenario>.<name>``), each with its configured
    target; the unit comes from the name's suffix. Counts are shares (``_pct``) of what they are
    counted in (lost orders of acknowledged orders), so "none" stays 0."""

    def __init__(self, ctx: StressContext) -> None:
        self.ctx = ctx
        self.items: list[Metric] = []

    def add(self, name: str, value: float | None, direction: Direction = "lower", *,
            samples: int | None = None, invalid_reason: str = "", no_data_reason: str = "") -> None:
        """``value`` None (or not finite) records a metric with no data (a target on it fails)."""
        unit = unit_of(name)
        if value is not None and value < 0:
            raise ValueError(f"metric {name!r} is negative ({value!r}); record a signed value in info")
        if value is None or not math.isfinite(value):
            no_data_reason = no_data_reason or "not measured"
            value = 0.0
        self.items.append(Metric(f"{SUITE}.{self.ctx.name}.{name}", float(value), unit, direction,
                                 target_for(self.ctx, name), samples=samples, invalid_reason=invalid_reason,
                                 no_data_reason=no_data_reason))

    def value(self, name: str) -> float:
        for m in self.items:
            if m.name.endswith(f".{name}"):
                return m.value
        raise KeyError(name)


def scenario_result(ctx: StressContext, metrics: Metrics, *, description: str, params: Mapping[str, Any],
                    calls: int, errors: int, duration_s: float, info: Mapping[str, Any] | None = None,
                    error: str | None = None) -> BenchmarkResult:
    """The scenario as one benchmark of the common result model (no per-call observations: its
    figures are the metrics)."""
    return BenchmarkResult(
        suite=SUITE, name=ctx.name, callable=description, params={"profile": ctx.profile,
                                                                 "intensity": ctx.intensity, **params},
        items_per_call=1, item_unit="request", warmups=0, calls_per_observation=1, observation_s=(),
        latency_s=None, metrics=tuple(metrics.items), resources=None, calls=calls, errors=errors, error=error,
        duration_s=duration_s, info=dict(info or {}), timed_s=duration_s, items=calls)
