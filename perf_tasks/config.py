"""Typed config loading: YAML files in ``config/`` validated once, at load.

Every error names the file, the key path and the bad value, e.g.
``config/benchmarks.yaml: suites.risk.benchmarks.mc_var.targets.latency_p95_ms.max: Input should
be greater than 0 (got -5)``.
"""
from __future__ import annotations

import fnmatch
import math
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from perf_tasks.errors import ConfigError

#: The metrics a benchmark produces (per item), with unit and direction. Targets name these.
BENCHMARK_METRICS: dict[str, tuple[str, Literal["lower", "higher"]]] = {
    "latency_p50_ms": ("ms", "lower"),
    "latency_mean_ms": ("ms", "lower"),
    "latency_p95_ms": ("ms", "lower"),
    "latency_p99_ms": ("ms", "lower"),
    "latency_max_ms": ("ms", "lower"),
    "throughput_per_s": ("1/s", "higher"),
    "error_rate_pct": ("%", "lower"),
    "rss_max_bytes": ("bytes", "lower"),
    "process_cpu_pct_mean": ("%", "lower"),
    "system_memory_pct_max": ("%", "lower"),
}

PROFILE_NAMES = ("smoke", "standard", "full")
_NAME = r"^[a-z][a-z0-9_]*$"
_CALLABLE = re.compile(r"^[A-Za-z_][\w.]*:[A-Za-z_]\w*$")


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, strict=False)


class TargetConfig(_Strict):
    max: float | None = Field(default=None, gt=0)
    min: float | None = Field(default=None, gt=0)
    severity: Literal["warning", "critical"] = "critical"

    @model_validator(mode="after")
    def _one_bound(self) -> TargetConfig:
        if (self.max is None) == (self.min is None):
            raise ValueError("give exactly one of 'max' or 'min'")
        for v in (self.max, self.min):
            if v is not None and not math.isfinite(v):
                raise ValueError(f"bound must be finite, got {v}")
        return self


class BenchmarkConfig(_Strict):
    callable: str
    description: str = ""
    params: dict[str, Any] = Field(default_factory=dict)
    profile_params: dict[Literal["smoke", "standard", "full"], dict[str, Any]] = Field(default_factory=dict)
    item_unit: str = "call"
    loops: int | None = Field(default=None, ge=1)  # force the inner loop count (1 = per-call timing)
    targets: dict[str, TargetConfig]

    @field_validator("callable")
    @classmethod
    def _callable_form(cls, v: str) -> str:
        if not _CALLABLE.match(v):
            raise ValueError(f"expected 'package.module:function', got {v!r}")
        return v

    @field_validator("targets")
    @classmethod
    def _known_metrics(cls, v: dict[str, TargetConfig]) -> dict[str, TargetConfig]:
        if not v:
            raise ValueError("a benchmark needs at least one target (spec §1.3 gives one for each)")
        for name in v:
            if name not in BENCHMARK_METRICS:
                raise ValueError(f"unknown metric {name!r}; known: {', '.join(BENCHMARK_METRICS)}")
        return v

    def params_for(self, profile: str) -> dict[str, Any]:
        return {**self.params, **self.profile_params.get(profile, {})}  # type: ignore[call-overload]


class SuiteConfig(_Strict):
    description: str = ""
    default: bool = True  # run when no suites are named (false: only on request, e.g. needs a server)
    benchmarks: dict[str, BenchmarkConfig]

    @field_validator("benchmarks")
    @classmethod
    def _names(cls, v: dict[str, BenchmarkConfig]) -> dict[str, BenchmarkConfig]:
        if not v:
            raise ValueError("a suite needs at least one benchmark")
        for name in v:
            if not re.match(_NAME, name):
                raise ValueError(f"benchmark name {name!r} must match {_NAME}")
        return v


class BenchmarksFile(_Strict):
    schema_version: Literal[1]
    suites: dict[str, SuiteConfig]

    @field_validator("suites")
    @classmethod
    def _names(cls, v: dict[str, SuiteConfig]) -> dict[str, SuiteConfig]:
        if not v:
            raise ValueError("no suites defined")
        for name in v:
            if not re.match(_NAME, name):
                raise ValueError(f"suite name {name!r} must match {_NAME}")
        return v


class ProfileConfig(_Strict):
    description: str = ""
    warmups: int = Field(ge=0)
    min_rounds: int = Field(ge=2)
    max_rounds: int = Field(ge=2)
    min_round_s: float = Field(gt=0)  # calibrate inner loops until one round takes at least this
    max_benchmark_s: float = Field(gt=0)  # stop adding rounds past this (after min_rounds)
    sample_interval_s: float = Field(gt=0)

    @model_validator(mode="after")
    def _rounds(self) -> ProfileConfig:
        if self.max_rounds < self.min_rounds:
            raise ValueError(f"max_rounds ({self.max_rounds}) < min_rounds ({self.min_rounds})")
        return self


class ProfilesFile(_Strict):
    schema_version: Literal[1]
    profiles: dict[Literal["smoke", "standard", "full"], ProfileConfig]


class AlertRule(_Strict):
    name: str
    metric: str  # glob over fully qualified metric names, e.g. "*.latency_p95_ms"
    warning: float = Field(ge=0)
    critical: float = Field(ge=0)
    description: str = ""

    @model_validator(mode="after")
    def _order(self) -> AlertRule:
        if self.warning > self.critical:
            raise ValueError(f"warning ({self.warning}) must not exceed critical ({self.critical})")
        return self

    def matches(self, metric: str) -> bool:
        return fnmatch.fnmatchcase(metric, self.metric)


class HistoryConfig(_Strict):
    """The online change detector over each metric's history (perf_tasks.regress.detect)."""

    window: int = Field(default=30, ge=5)
    min_baseline: int = Field(default=10, ge=3)
    persist: int = Field(default=3, ge=1)  # a change must hold this many runs before it alerts
    z: float = Field(default=2.5, gt=0)
    min_change_pct: float = Field(default=2.0, ge=0)
    alpha: float = Field(default=0.01, gt=0, lt=1)


class RegressionConfig(_Strict):
    threshold_pct: float = Field(default=10.0, gt=0)
    alpha: float = Field(default=0.01, gt=0, lt=1)  # Mann-Whitney U on raw samples, per run
    metrics: list[str] = Field(default_factory=lambda: ["*.latency_p50_ms", "*.throughput_per_s"])
    overrides: dict[str, float] = Field(default_factory=dict)  # metric glob -> threshold_pct
    # per-run regressions alert against a promoted baseline only ("any": also vs the previous run,
    # which on a noisy host alerts on most runs: within-run samples miss between-run variance)
    alert_on: Literal["promoted", "any"] = "promoted"
    history: HistoryConfig = HistoryConfig()

    def threshold_for(self, metric: str) -> float:
        for pattern, pct in self.overrides.items():
            if fnmatch.fnmatchcase(metric, pattern):
                return pct
        return self.threshold_pct


class SlackConfig(_Strict):
    conn_id: str = "slack_default"
    attempts: int = Field(default=3, ge=1, le=10)
    backoff_s: float = Field(default=1.0, ge=0)


class AlertsFile(_Strict):
    schema_version: Literal[1]
    rules: list[AlertRule]
    regression: RegressionConfig = RegressionConfig()
    slack: SlackConfig = SlackConfig()


@dataclass(frozen=True)
class PerfConfig:
    """All config, validated. ``sources`` maps each part to the file it came from."""

    benchmarks: BenchmarksFile
    profiles: ProfilesFile
    alerts: AlertsFile
    config_dir: Path

    def source(self, part: str) -> str:
        return str(self.config_dir / f"{part}.yaml")

    def profile(self, name: str) -> ProfileConfig:
        if name not in self.profiles.profiles:
            raise ConfigError(f"profile {name!r} is not defined in {self.source('profiles')}; "
                              f"known: {', '.join(self.profiles.profiles)}")
        return self.profiles.profiles[name]  # type: ignore[index]

    def suite_names(self) -> list[str]:
        return list(self.benchmarks.suites)


def _format_loc(loc: tuple[Any, ...]) -> str:
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        elif part in ("function-after", "function-before") or str(part).startswith("function-"):
            continue
        else:
            out += ("." if out else "") + str(part)
    return out or "<top level>"


def format_validation_error(exc: ValidationError, source: str) -> str:
    lines = []
    for err in exc.errors():
        loc = _format_loc(tuple(err["loc"]))
        msg = err["msg"].removeprefix("Value error, ")
        got = err.get("input")
        shown = "" if isinstance(got, dict) and err["type"] not in ("extra_forbidden",) else f" (got {got!r})"
        lines.append(f"{source}: {loc}: {msg}{shown}")
    return "\n".join(lines)


def load_yaml_mapping(path: Path, what: str = "config file") -> Any:
    """A YAML file whose top level is a mapping; every failure is a ConfigError naming the file."""
    try:
        text = path.read_text()
    except FileNotFoundError:
        raise ConfigError(f"{path}: {what} not found") from None
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read {what}: {exc}") from exc
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path}: not valid YAML: {exc}") from exc
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: expected a mapping at the top level, got {type(data).__name__}")
    return data


def _parse(model: type[BaseModel], path: Path) -> Any:
    data = load_yaml_mapping(path)
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        raise ConfigError(format_validation_error(exc, str(path))) from None


def load_config(config_dir: str | Path) -> PerfConfig:
    """Load and validate ``benchmarks.yaml``, ``profiles.yaml`` and ``alerts.yaml`` from a folder."""
    d = Path(config_dir)
    if not d.is_dir():
        raise ConfigError(f"config folder {d} does not exist")
    return PerfConfig(
        benchmarks=_parse(BenchmarksFile, d / "benchmarks.yaml"),
        profiles=_parse(ProfilesFile, d / "profiles.yaml"),
        alerts=_parse(AlertsFile, d / "alerts.yaml"),
        config_dir=d,
    )


def select_suites(cfg: PerfConfig, requested: list[str] | None, *, source: str = "param 'suites'") -> list[str]:
    """The suites to run: the default ones when ``requested`` is empty; unknown names are an error."""
    known = cfg.suite_names()
    if not requested:
        return [s for s in known if cfg.benchmarks.suites[s].default]
    if not isinstance(requested, list) or not all(isinstance(s, str) for s in requested):
        raise ConfigError(f"{source}: expected a list of suite names, got {requested!r}")
    unknown = [s for s in requested if s not in known]
    if unknown:
        raise ConfigError(f"{source}: unknown suite(s) {unknown}; {cfg.source('benchmarks')} defines "
                          f"{known}")
    return list(dict.fromkeys(requested))


def apply_target_overrides(cfg: PerfConfig, overrides: dict[str, Any] | None,
                           *, source: str = "param 'target_overrides'") -> PerfConfig:
    """Replace targets from a mapping ``"suite.benchmark.metric" -> bound``.

    A bare number is a ``max`` for lower-is-better metrics and a ``min`` for higher-is-better
    ones; ``{"max": x}`` / ``{"min": x}`` say it explicitly.
    """
    if not overrides:
        return cfg
    if not isinstance(overrides, dict):
        raise ConfigError(f"{source}: expected a mapping of 'suite.benchmark.metric' to a number, "
                          f"got {overrides!r}")
    suites = {name: suite.model_copy(deep=True) for name, suite in cfg.benchmarks.suites.items()}
    for key, value in overrides.items():
        parts = str(key).split(".")
        if len(parts) != 3:
            raise ConfigError(f"{source}: key {key!r} must look like 'suite.benchmark.metric'")
        suite, bench, metric = parts
        if suite not in suites or bench not in suites[suite].benchmarks:
            raise ConfigError(f"{source}: {key!r} names no benchmark in {cfg.source('benchmarks')}")
        if metric not in BENCHMARK_METRICS:
            raise ConfigError(f"{source}: {key!r}: unknown metric {metric!r}; known: "
                              f"{', '.join(BENCHMARK_METRICS)}")
        if isinstance(value, bool) or not isinstance(value, (int, float, dict)):
            raise ConfigError(f"{source}: {key!r}: expected a positive number, got {value!r}")
        if isinstance(value, (int, float)):
            direction = BENCHMARK_METRICS[metric][1]
            value = {"max": value} if direction == "lower" else {"min": value}
        try:
            target = TargetConfig.model_validate(value)
        except ValidationError as exc:
            raise ConfigError(format_validation_error(exc, f"{source}: {key}")) from None
        bench_cfg = suites[suite].benchmarks[bench]
        new_bench = bench_cfg.model_copy(update={"targets": {**bench_cfg.targets, metric: target}})
        suites[suite] = suites[suite].model_copy(
            update={"benchmarks": {**suites[suite].benchmarks, bench: new_bench}})
    new_file = cfg.benchmarks.model_copy(update={"suites": suites})
    return PerfConfig(benchmarks=new_file, profiles=cfg.profiles, alerts=cfg.alerts, config_dir=cfg.config_dir)
